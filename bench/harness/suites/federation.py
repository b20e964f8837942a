"""federation: TPC-H lineitem in a PostgreSQL source, read through Weir.

1. Full scan: every row of lineitem through Weir (a `[[source]]` over the
   private PostgreSQL cluster; binary COPY into Arrow, then Weir's wire
   protocol, every row read by the client) beside ConnectorX reading the same
   table straight into Arrow (rows/s). Target: Weir at least as fast.
2. TPC-H Q1 and Q6 through Weir (pushed down whole: EXPLAIN must show one
   remote statement and no aggregation in Weir) beside the same SQL run on
   PostgreSQL directly. Target: within 1.2x. Weir's answers must be
   PostgreSQL's, cell by cell (common.TOLERANCE)."""

import time

import peers
from common import compare_answers, log, ratio, summarize
from suites.lakehouse import psql
from suites.tpch import queries

SOURCE = "pg"


def connectorx_scan(url, sql):
    import connectorx as cx  # installed by bench/run into its virtualenv

    started = time.monotonic()
    table = cx.read_sql(url, sql, return_type="arrow")
    return table.num_rows, (time.monotonic() - started) * 1000


def run(ctx):
    args = ctx.args
    pg = ctx.postgres()
    pg.load(ctx.lake, ["lineitem"], ctx.python)
    source = "\n".join([
        "[[source]]",
        f'name = "{SOURCE}"',
        'kind = "postgres"',
        f'url = "{pg.url()}"',
    ])
    weir = ctx.start_weir(extra_config=source, database=SOURCE)
    runners = {}
    failures = []
    try:
        runners["weir"] = peers.weir_wire_runner(ctx.build, weir, ctx.procs)
        runners["postgres"] = peers.postgres_wire_runner(ctx.build, pg, ctx.procs)
        ctx.commands["connectorx"] = f"connectorx.read_sql({pg.url()!r}, 'SELECT * FROM tpch.lineitem', return_type='arrow')"
        by_number = dict(queries())
        plans = {number: psql(weir, f"SET search_path = tpch; EXPLAIN {by_number[number]}")
                 for number in (1, 6)}
        scan = {"weir": [], "connectorx": []}
        rows = {}
        for i in range(args.warmup + args.runs):
            for engine in (["weir", "connectorx"] if i % 2 == 0 else ["connectorx", "weir"]):
                if engine == "weir":
                    answer = runners["weir"].run("SELECT * FROM lineitem")
                    if not answer.get("ok"):
                        raise RuntimeError(f"weir scan: {answer.get('error')}")
                    n, ms = answer["rows"], answer["ms"]
                else:
                    n, ms = connectorx_scan(pg.url(), "SELECT * FROM tpch.lineitem")
                rows[engine] = n
                if i >= args.warmup:
                    scan[engine].append(n / (ms / 1000))
                log(f"scan {engine}: {n} rows in {ms:.0f} ms")
        if rows["weir"] != rows["connectorx"]:
            failures.append(f"scan row counts differ: {rows}")
        q = {n: {"weir": [], "postgres": []} for n in (1, 6)}
        for number in (1, 6):
            # The answer first: Weir's must be PostgreSQL's, cell by cell.
            answers = {e: runners[e].run(by_number[number], fmt="text", answer=True)
                       for e in ("weir", "postgres")}
            problems = compare_answers(answers["weir"].get("answer"), answers["postgres"].get("answer"))
            if problems:
                failures.append(f"Q{number}: Weir's answer differs from PostgreSQL's: {problems}")
                log(f"Q{number} weir differs from postgres: {problems}")
            for i in range(args.warmup + args.runs):
                for engine in (["weir", "postgres"] if i % 2 == 0 else ["postgres", "weir"]):
                    answer = runners[engine].run(by_number[number])
                    if not answer.get("ok"):
                        failures.append(f"Q{number} {engine}: {answer.get('error')}")
                        break
                    if i >= args.warmup:
                        q[number][engine].append(answer["ms"])
        result = {"lineitem_rows": rows.get("weir")}
        med = lambda xs: (summarize(xs) or {}).get("median")  # noqa: E731
        result["scan_rows_per_s"] = {e: summarize(v) for e, v in scan.items()}
        result["scan_ratio_weir_vs_connectorx"] = ratio(med(scan["weir"]), med(scan["connectorx"]))
        for number in (1, 6):
            result[f"q{number}_ms"] = {e: summarize(v) for e, v in q[number].items()}
            result[f"q{number}_ratio_weir_vs_postgres"] = ratio(med(q[number]["weir"]), med(q[number]["postgres"]))
            remote = [l for l in plans[number].splitlines() if "RemoteExec" in l]
            result[f"q{number}_remote_sql"] = remote
            if len(remote) != 1 or "AggregateExec" in plans[number]:
                failures.append(f"Q{number} was not pushed down whole:\n{plans[number]}")
        targets = [
            {"target": "full-scan rows/s at least ConnectorX's", "value": result["scan_ratio_weir_vs_connectorx"],
             "met": (result["scan_ratio_weir_vs_connectorx"] or 0) >= 1.0},
        ]
        for number in (1, 6):
            r = result[f"q{number}_ratio_weir_vs_postgres"]
            targets.append({"target": f"Q{number} time within 1.2x of PostgreSQL's", "value": r,
                            "met": r is not None and r <= 1.2})
        result["targets"] = targets
        log(f"scan weir/connectorx = {result['scan_ratio_weir_vs_connectorx']}, "
            f"Q1 weir/postgres = {result['q1_ratio_weir_vs_postgres']}, "
            f"Q6 weir/postgres = {result['q6_ratio_weir_vs_postgres']}")
        result["failures"] = failures
        return result
    finally:
        for r in runners.values():
            r.close()
        weir.stop()
