"""governance: what policies cost. One Weir server with 20 roles, over
1,000 privilege rules, a row filter (tpch.nation, tpch.orders) and a column
mask (tpch.part.p_comment) loaded; the same statements run as a user
the rules apply to and as the superuser (whom no rule, filter or mask
touches: the cost of no policies at all), interleaved run by run.

pgbench `SELECT 1` and the point query (tpch.nation, which carries the row
filter) at 16 clients, prepared protocol; and the 22 TPC-H queries over the
wire. The filters keep every row and the mask is on a column no query reads,
so both users' answers must match; a difference fails the run. Target:
within 5% on each figure."""

import os
import shlex
import subprocess

import peers
from common import BenchError, log, ratio, summarize
from suites import concurrency, tpch

GOV_USER = "gov_analyst"
GOV_PASSWORD = "gov-analyst-password"
TPCH_COLUMNS = {
    "nation": ["n_nationkey", "n_name", "n_regionkey", "n_comment"],
    "region": ["r_regionkey", "r_name", "r_comment"],
    "part": ["p_partkey", "p_name", "p_mfgr", "p_brand", "p_type", "p_size", "p_container",
             "p_retailprice", "p_comment"],
    "supplier": ["s_suppkey", "s_name", "s_address", "s_nationkey", "s_phone", "s_acctbal",
                 "s_comment"],
    "partsupp": ["ps_partkey", "ps_suppkey", "ps_availqty", "ps_supplycost", "ps_comment"],
    "customer": ["c_custkey", "c_name", "c_address", "c_nationkey", "c_phone", "c_acctbal",
                 "c_mktsegment", "c_comment"],
    "orders": ["o_orderkey", "o_custkey", "o_orderstatus", "o_totalprice", "o_orderdate",
               "o_orderpriority", "o_clerk", "o_shippriority", "o_comment"],
    "lineitem": ["l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity",
                 "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_linestatus",
                 "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct", "l_shipmode",
                 "l_comment"],
}


def setup_sql():
    """20 roles in a hierarchy, 1,000+ column and table rules spread over
    them, the analyst's grants, a row filter and a mask."""
    roles = [f"gov_r{i:02d}" for i in range(1, 21)]
    out = [f"CREATE ROLE {r};" for r in roles]
    # r01 <- r02 <- ... <- r05 (the analyst holds r05, inherits the rest).
    out += [f"GRANT {roles[i]} TO {roles[i + 1]};" for i in range(4)]
    out.append(f"CREATE USER {GOV_USER} WITH PASSWORD '{GOV_PASSWORD}';")
    out.append(f"GRANT {roles[4]} TO {GOV_USER};")
    rules = 0
    columns = [(t, c) for t, cols in TPCH_COLUMNS.items() for c in cols]
    for role in roles:
        for table, column in columns:
            if rules >= 1000:
                break
            out.append(f"GRANT SELECT ({column}) ON lake.tpch.{table} TO {role};")
            rules += 1
    if rules < 1000:
        raise BenchError(f"only {rules} rules generated")
    out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA lake.tpch TO {roles[0]};")
    out.append(f"CREATE POLICY gov_nation ON lake.tpch.nation TO {roles[0]} USING (n_regionkey >= 0);")
    out.append(f"CREATE POLICY gov_orders ON lake.tpch.orders TO {roles[0]} USING (o_orderkey > 0);")
    out.append(f"ALTER TABLE lake.tpch.part ALTER COLUMN p_comment SET MASK ('***') FOR {roles[0]};")
    return "\n".join(out), rules


def teardown_sql():
    """Undo setup_sql (the bench data directory outlives a run); each
    statement may fail when there is nothing to undo."""
    roles = [f"gov_r{i:02d}" for i in range(1, 21)]
    out = ["DROP POLICY IF EXISTS gov_nation ON lake.tpch.nation;",
           "DROP POLICY IF EXISTS gov_orders ON lake.tpch.orders;",
           f"ALTER TABLE lake.tpch.part ALTER COLUMN p_comment DROP MASK FOR {roles[0]};",
           # An earlier version of this suite masked customer.c_comment.
           f"ALTER TABLE lake.tpch.customer ALTER COLUMN c_comment DROP MASK FOR {roles[0]};",
           f"REVOKE SELECT ON ALL TABLES IN SCHEMA lake.tpch FROM {roles[0]};"]
    for role in roles:
        for table, cols in TPCH_COLUMNS.items():
            out += [f"REVOKE SELECT ({c}) ON lake.tpch.{table} FROM {role};" for c in cols]
    out.append(f"DROP USER IF EXISTS {GOV_USER};")
    out += [f"DROP ROLE IF EXISTS {r};" for r in reversed(roles)]
    return "\n".join(out)


def psql(weir, sql, check=True):
    argv = ["psql", "-X", "-q", "-v", f"ON_ERROR_STOP={1 if check else 0}", "-h", "127.0.0.1",
            "-p", str(weir.port), "-U", weir.user, "-d", weir.database]
    out = subprocess.run(argv, input=sql, capture_output=True, text=True,
                         env=dict(os.environ, **weir.libpq_env()), timeout=600)
    if not check:
        errors = [l for l in out.stderr.splitlines() if "ERROR" in l]
        if errors:
            log(f"teardown: {len(errors)} statements had nothing to undo; first: {errors[0][:200]}")
    if check and out.returncode != 0:
        raise BenchError(f"setting up the rules failed: {out.stderr.strip()[-500:]}")
    return shlex.join(argv)


class AsUser:
    """The same server, logged in as another user."""

    def __init__(self, weir, user, password):
        self.port, self.database, self.user = weir.port, weir.database, user
        self._password = password

    def url(self):
        return f"postgresql://{self.user}:{self._password}@127.0.0.1:{self.port}/{self.database}"

    def libpq_env(self):
        return {"PGPASSWORD": self._password}


def run(ctx):
    args = ctx.args
    binary = concurrency.pgbench_bin()
    weir = ctx.start_weir()
    users = {"no_policies": weir}
    results, failures, targets = [], [], []
    runners = {}
    try:
        psql(weir, teardown_sql(), check=False)
        sql, rules = setup_sql()
        ctx.commands["setup"] = psql(weir, sql) + " < (generated rules)"
        users["governed"] = AsUser(weir, GOV_USER, GOV_PASSWORD)
        log(f"governance: {rules} column rules, 20 roles, 2 row filters, 1 mask loaded")
        runs = max(1, min(args.runs, 5))
        clients = 16 if not args.quick else 4
        for name in users:
            concurrency.pgbench(binary, users[name], concurrency.SCRIPTS / "point.sql", "prepared", 4, 1)
        for script in ["select1", "point"]:
            # For the point query, a third series: the superuser with the
            # row filter's predicate written into the query. Governed /
            # that is what enforcement itself costs; that / no policies is
            # what evaluating the filter costs.
            series = dict(users)
            if script == "point":
                series["filter_written_in"] = weir
            scripts = {name: concurrency.SCRIPTS / f"{script}.sql" for name in series}
            if script == "point":
                scripts["filter_written_in"] = concurrency.SCRIPTS / "point-filtered.sql"
            samples = {u: [] for u in series}
            for i in range(runs):
                order = list(series) if i % 2 == 0 else list(series)[::-1]
                for name in order:
                    r = concurrency.pgbench(binary, series[name], scripts[name],
                                            "prepared", clients, args.duration)
                    if not r["ok"] or r["failed"]:
                        failures.append(f"{script} as {name}: {r.get('error') or r['failed']}")
                        log(failures[-1])
                        continue
                    samples[name].append(r["tps"])
            entry = {"figure": f"pgbench {script} c={clients} tps"}
            for name in series:
                entry[name] = summarize(samples[name])
            g, n = entry["governed"], entry["no_policies"]
            entry["governed_vs_no_policies"] = ratio(g and g["median"], n and n["median"])
            if script == "point":
                f = entry["filter_written_in"]
                entry["governed_vs_filter_written_in"] = ratio(g and g["median"], f and f["median"])
                entry["filter_written_in_vs_no_policies"] = ratio(f and f["median"], n and n["median"])
                log(f"point: filter written in {f and f['median']:.0f} tps" if f else "point: incomplete")
            log(f"{script}: governed {g and g['median']:.0f} tps, no policies {n and n['median']:.0f} tps"
                if g and n else f"{script}: incomplete")
            results.append(entry)
            targets.append({
                "target": f"{script} tps at {clients} clients with policies within 5% of none",
                "value": entry["governed_vs_no_policies"],
                "limit": 0.95,
                "met": (entry["governed_vs_no_policies"] or 0) >= 0.95,
                "higher_is_better": True,
            })
            if script == "point":
                value = entry["governed_vs_filter_written_in"]
                targets.append({
                    "target": f"point tps at {clients} clients, governed within 5% of the same "
                              "query with the row filter written in (enforcement alone)",
                    "value": value,
                    "limit": 0.95,
                    "met": (value or 0) >= 0.95,
                    "higher_is_better": True,
                })

        for name in users:
            runners[name] = peers.weir_wire_runner(ctx.build, users[name], ctx.procs)
        times = {u: {} for u in users}
        for number, q in tpch.queries():
            for i in range(args.warmup + args.runs):
                order = list(users) if i % 2 == 0 else list(users)[::-1]
                for name in order:
                    answer = runners[name].run(q)
                    if not answer.get("ok"):
                        failures.append(f"Q{number} as {name}: {answer.get('error')}")
                        log(failures[-1])
                        break
                    if i >= args.warmup:
                        times[name].setdefault(number, []).append(answer["ms"])
            answers = {name: runners[name].run(q, fmt="text", answer=True).get("answer") for name in users}
            if answers["governed"] != answers["no_policies"]:
                failures.append(f"Q{number}: the governed user's answer differs")
                log(failures[-1])
        totals = {}
        for name in users:
            medians = [(summarize(times[name].get(n)) or {}).get("median") for n, _ in tpch.queries()]
            totals[name] = sum(medians) if all(m is not None for m in medians) else None
        total_ratio = ratio(totals["no_policies"], totals["governed"])
        log(f"TPC-H total: governed {totals['governed']} ms, no policies {totals['no_policies']} ms")
        results.append({"figure": "TPC-H total ms (sum of medians)", **totals,
                        "governed_vs_no_policies": total_ratio})
        targets.append({
            "target": "TPC-H total with policies within 5% of none (speed ratio)",
            "value": total_ratio,
            "limit": 0.95,
            "met": (total_ratio or 0) >= 0.95,
            "higher_is_better": True,
        })
    finally:
        for r in runners.values():
            r.close()
        try:
            psql(weir, teardown_sql(), check=False)
        finally:
            weir.stop()
    return {"rules": 1000, "roles": 20, "per_figure": results, "targets": targets, "failures": failures}
