"""isolation: `SELECT 1` and point-query latency from 8 pgbench clients while
0, 1 and 2 heavy statements run, on Weir and on PostgreSQL with the same
heavy statements (a nested-loop join of lineitem with itself, and a big
sort of lineitem). PostgreSQL runs each backend in a process of its own,
so its `SELECT 1` stays fast under load: that is the bar. Heavy statements
end by their own statement_timeout and are canceled after each run."""

import os
import subprocess
import time

import peers
from common import log, ratio
from suites.concurrency import SCRIPTS, pgbench, pgbench_bin, summarize_runs

SERVERS = ["weir", "postgres"]
CLIENTS = 8
HEAVY = [
    "SELECT count(*) FROM tpch.lineitem a, tpch.lineitem b WHERE a.l_comment <> b.l_comment",
    "SELECT l_comment, l_orderkey FROM tpch.lineitem ORDER BY l_comment DESC, l_extendedprice OFFSET 1000000000",
]


def psql_bin():
    return str(peers.postgres_bin() / "psql")


def start_heavy(target, sql, seconds):
    """psql running `sql` until it ends or `seconds` pass (statement_timeout)."""
    argv = [psql_bin(), "-X", "-q", "-h", "127.0.0.1", "-p", str(target.port), "-U", target.user,
            "-d", target.database, "-c", f"SET statement_timeout = {int(seconds * 1000)}", "-c", sql]
    env = dict(os.environ, **target.libpq_env())
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_heavy(target, procs, is_postgres):
    for p in procs:
        p.kill()
        p.wait()
    if is_postgres:
        # A killed client's PostgreSQL backend runs on until it next writes.
        subprocess.run(
            [psql_bin(), "-X", "-q", "-h", "127.0.0.1", "-p", str(target.port), "-U", target.user,
             "-d", target.database, "-c",
             "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
             "WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%l_comment%'"],
            env=dict(os.environ, **target.libpq_env()), capture_output=True)
    time.sleep(1)


def run(ctx):
    args = ctx.args
    binary = pgbench_bin()
    pg = ctx.postgres()
    pg.load(ctx.lake, ["nation", "lineitem"], ctx.python)
    weir = ctx.start_weir()
    targets = {"weir": weir, "postgres": pg}
    runs = min(args.runs, 3)
    results = []
    failures = []
    try:
        for name in SERVERS:
            pgbench(binary, targets[name], SCRIPTS / "point.sql", "prepared", 4, 1)
        for heavy in [0, 1, 2]:
            for script in ["select1", "point"]:
                samples = {s: [] for s in SERVERS}
                for i in range(runs):
                    order = SERVERS if i % 2 == 0 else SERVERS[::-1]
                    for name in order:
                        target = targets[name]
                        procs = [start_heavy(target, HEAVY[k], args.duration + 5) for k in range(heavy)]
                        time.sleep(1.0 if heavy else 0)
                        r = pgbench(binary, target, SCRIPTS / f"{script}.sql", "simple", CLIENTS, args.duration)
                        stop_heavy(target, procs, name == "postgres")
                        if not r["ok"]:
                            failures.append(f"{script} heavy={heavy} on {name}: {r['error']}")
                            log(failures[-1])
                            continue
                        samples[name].append(r)
                entry = {"script": script, "heavy": heavy, "clients": CLIENTS}
                for name in SERVERS:
                    entry[name] = summarize_runs(samples[name])
                w, p = entry["weir"]["p99_ms"], entry["postgres"]["p99_ms"]
                entry["weir_vs_postgres_p99"] = ratio(w and w["median"], p and p["median"])
                log(f"isolation {script} heavy={heavy}: p99 weir {w and w['median']} ms, "
                    f"postgres {p and p['median']} ms")
                results.append(entry)
    finally:
        weir.stop()
    ctx.commands["heavy"] = " ; ".join(HEAVY)
    targets_out = []
    for e in results:
        if e["script"] == "select1" and e["heavy"] == 2:
            targets_out.append({
                "target": "SELECT 1 p99 under 2 heavy statements within 2x of PostgreSQL's",
                "value": e["weir_vs_postgres_p99"],
                "limit": 2.0,
                "met": e["weir_vs_postgres_p99"] is not None and e["weir_vs_postgres_p99"] <= 2.0,
                "higher_is_better": False,
            })
    return {"runs_per_figure": runs, "seconds_per_run": args.duration, "per_config": results,
            "targets": targets_out, "failures": failures}
