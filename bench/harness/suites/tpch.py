"""tpch: the 22 TPC-H queries over the lake's Parquet files.

Weir over the wire (tokio-postgres, extended protocol, binary results, every
row read) beside DataFusion in-process with Weir's own engine configuration
(the gateway's overhead) and DuckDB on the same files (where we stand).
Every answer of Weir and of DataFusion is compared with DuckDB's cell by
cell (common.TOLERANCE); a difference fails the run.
Engines alternate query by query, and the order rotates each run."""

import os
import pathlib

import peers
from common import TOLERANCE, compare_answers, log, ratio, summarize

QUERIES = pathlib.Path(__file__).resolve().parents[2] / "tpch" / "queries"
ENGINES = ["weir", "datafusion", "duckdb"]
# Row counts of the answers at scale factor 1 (TPC-H's qualification answers).
SF1_ROWS = {1: 4, 2: 100, 3: 10, 4: 5, 5: 5, 6: 1, 7: 4, 8: 2, 9: 175, 10: 20, 11: 1048,
            12: 2, 13: 42, 14: 1, 15: 1, 16: 18314, 17: 1, 18: 57, 19: 1, 20: 186, 21: 100, 22: 7}


def queries():
    out = []
    for path in sorted(QUERIES.glob("q*.sql")):
        number = int(path.stem[1:])
        lines = [l for l in path.read_text().splitlines() if not l.strip().startswith("--")]
        out.append((number, "\n".join(lines).strip().rstrip(";")))
    return out


def run(ctx):
    args = ctx.args
    weir = ctx.start_weir()
    threads = os.cpu_count() or 1
    runners = {}
    try:
        runners["weir"] = peers.weir_wire_runner(ctx.build, weir, ctx.procs)
        runners["datafusion"] = peers.inproc_runner(ctx.build, ctx.lake, ctx.procs)
        runners["duckdb"] = peers.duckdb_runner(ctx.python, ctx.lake, ctx.procs, threads)
        ctx.commands["weir_client"] = " ".join(runners["weir"].argv).replace(peers.WEIR_PASSWORD, "***")
        ctx.commands["datafusion_inproc"] = " ".join(runners["datafusion"].argv)
        ctx.commands["duckdb"] = " ".join(runners["duckdb"].argv)
        times = {e: {} for e in ENGINES}
        rows = {e: {} for e in ENGINES}
        errors = {e: {} for e in ENGINES}
        wrong = {e: {} for e in ENGINES}
        for number, sql in queries():
            for i in range(args.warmup + args.runs):
                order = ENGINES[i % 3:] + ENGINES[:i % 3]
                for engine in order:
                    if number in errors[engine]:
                        continue
                    answer = runners[engine].run(sql)
                    if not answer.get("ok"):
                        errors[engine][number] = answer.get("error")
                        log(f"Q{number} {engine}: {answer.get('error')}")
                        continue
                    rows[engine][number] = answer["rows"]
                    if i >= args.warmup:
                        times[engine].setdefault(number, []).append(answer["ms"])
            # The answers themselves, once, outside the timings: Weir's and
            # DataFusion's against DuckDB's, cell by cell.
            answers = {}
            for engine in ENGINES:
                if number not in errors[engine]:
                    answer = runners[engine].run(sql, fmt="text", answer=True)
                    answers[engine] = answer.get("answer") if answer.get("ok") else None
            for engine in ("weir", "datafusion"):
                if engine in answers and "duckdb" in answers:
                    problems = compare_answers(answers[engine], answers["duckdb"])
                    if problems:
                        wrong[engine][number] = problems
                        log(f"Q{number} {engine} differs from duckdb: {problems}")
            medians = {e: (summarize(times[e].get(number)) or {}).get("median") for e in ENGINES}
            log(f"Q{number:02d} " + "  ".join(
                f"{e} {medians[e]:.0f} ms" if medians[e] is not None else f"{e} failed" for e in ENGINES))
    finally:
        for r in runners.values():
            r.close()
        weir.stop()
    return summarize_suite(ctx, times, rows, errors, wrong)


def summarize_suite(ctx, times, rows, errors, wrong):
    per_query = []
    failures = []
    totals = {e: 0.0 for e in ENGINES}
    complete = {e: True for e in ENGINES}
    for number, _ in queries():
        entry = {"query": number}
        for e in ENGINES:
            entry[e] = summarize(times[e].get(number))
            if entry[e] is None:
                complete[e] = False
            else:
                totals[e] += entry[e]["median"]
        med = {e: (entry[e] or {}).get("median") for e in ENGINES}
        entry["weir_vs_datafusion"] = ratio(med["weir"], med["datafusion"])
        entry["weir_vs_duckdb"] = ratio(med["weir"], med["duckdb"])
        entry["rows"] = {e: rows[e].get(number) for e in ENGINES}
        counts = {v for v in entry["rows"].values() if v is not None}
        expected = SF1_ROWS.get(number) if ctx.args.sf == 1 else None
        if len(counts) > 1 or (expected is not None and counts and counts != {expected}):
            failures.append(f"Q{number}: row counts differ {entry['rows']}" +
                            (f", expected {expected}" if expected is not None else ""))
        for e in ENGINES:
            if number in wrong[e]:
                entry.setdefault("answer_differs", {})[e] = wrong[e][number]
                failures.append(f"Q{number}: {e}'s answer differs from DuckDB's: {wrong[e][number]}")
            if number in errors[e]:
                entry.setdefault("errors", {})[e] = errors[e][number]
                if e in ("weir", "datafusion"):
                    failures.append(f"Q{number} on {e}: {errors[e][number]}")
        per_query.append(entry)
    total = {e: (totals[e] if complete[e] else None) for e in ENGINES}
    # Totals over the queries every engine answered, so ratios compare like with like.
    common = [q for q in per_query if all(q[e] for e in ENGINES)]
    common_total = {e: sum(q[e]["median"] for q in common) for e in ENGINES}
    targets = [
        {
            "target": "Weir over the wire within 1.1x of DataFusion in-process (TPC-H total)",
            "value": ratio(common_total["weir"], common_total["datafusion"]),
            "limit": 1.1,
            "met": (ratio(common_total["weir"], common_total["datafusion"]) or 99) <= 1.1,
        },
        {
            "target": "Headed for: TPC-H total at or below DuckDB's",
            "value": ratio(common_total["weir"], common_total["duckdb"]),
            "limit": 1.0,
            "met": (ratio(common_total["weir"], common_total["duckdb"]) or 99) <= 1.0,
        },
    ]
    return {
        "answers_checked": f"cell by cell against DuckDB, numbers within {TOLERANCE:g} (relative)",
        "per_query": per_query,
        "total_ms": total,
        "common_queries": [q["query"] for q in common],
        "common_total_ms": common_total,
        "weir_vs_datafusion_total": ratio(common_total["weir"], common_total["datafusion"]),
        "weir_vs_duckdb_total": ratio(common_total["weir"], common_total["duckdb"]),
        "targets": targets,
        "failures": failures,
    }
