"""concurrency: pgbench with custom scripts against Weir and PostgreSQL, in
the simple and the prepared protocol, at several client counts: `SELECT 1`
and a point query on a small table (tpch.nation; a primary key on
PostgreSQL, one Parquet file on Weir). tps and latency percentiles from
pgbench's per-transaction log."""

import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import peers
from common import BenchError, log, ratio, summarize

SCRIPTS = pathlib.Path(__file__).resolve().parents[2] / "concurrency"
SERVERS = ["weir", "postgres"]
PROTOCOLS = ["simple", "prepared"]


def pgbench_bin():
    found = shutil.which("pgbench")
    if found:
        return found
    candidate = peers.postgres_bin() / "pgbench"
    if candidate.exists():
        return str(candidate)
    raise BenchError("pgbench not found: install postgresql-client")


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


def pgbench(binary, target, script, protocol, clients, seconds):
    """One pgbench run; returns tps and latency percentiles (ms)."""
    with tempfile.TemporaryDirectory(prefix="weir-pgbench-") as logdir:
        argv = [binary, "-n", "-f", str(script), "-M", protocol, "-c", str(clients),
                "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(seconds),
                "-l", f"--log-prefix={logdir}/tx",
                "-h", "127.0.0.1", "-p", str(target.port), "-U", target.user, target.database]
        env = dict(os.environ, **target.libpq_env())
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds * 4 + 120)
        m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", out.stdout, re.M)
        if out.returncode != 0 or not m:
            err = (out.stderr.strip().splitlines() or ["no output"])[-1]
            return {"ok": False, "error": err, "argv": argv}
        latencies = []
        for name in os.listdir(logdir):
            with open(os.path.join(logdir, name)) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[2].isdigit():
                        latencies.append(int(parts[2]) / 1000.0)
        latencies.sort()
        failed = re.search(r"^number of failed transactions: (\d+)", out.stdout, re.M)
        return {
            "ok": True,
            "tps": float(m.group(1)),
            "transactions": len(latencies),
            "failed": int(failed.group(1)) if failed else 0,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
            "argv": argv,
        }


def summarize_runs(runs):
    """Median (and spread) of tps and latency percentiles over pgbench runs."""
    out = {"tps": summarize([r["tps"] for r in runs])}
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        out[key] = summarize([r[key] for r in runs if r[key] is not None])
    return out


def run(ctx):
    args = ctx.args
    binary = pgbench_bin()
    pg = ctx.postgres()
    pg.load(ctx.lake, ["nation"], ctx.python)
    weir = ctx.start_weir()
    targets = {"weir": weir, "postgres": pg}
    runs = min(args.runs, 3)
    results = []
    failures = []
    try:
        # One short warm-up per server (connections, caches, Parquet metadata).
        for name in SERVERS:
            pgbench(binary, targets[name], SCRIPTS / "point.sql", "prepared", 4, 1)
        for script in ["select1", "point"]:
            for protocol in PROTOCOLS:
                for clients in args.clients:
                    samples = {s: [] for s in SERVERS}
                    for i in range(runs):
                        order = SERVERS if i % 2 == 0 else SERVERS[::-1]
                        for name in order:
                            r = pgbench(binary, targets[name], SCRIPTS / f"{script}.sql", protocol, clients, args.duration)
                            if not r["ok"]:
                                failures.append(f"{script} {protocol} c={clients} on {name}: {r['error']}")
                                log(failures[-1])
                                continue
                            if r["failed"]:
                                failures.append(f"{script} {protocol} c={clients} on {name}: {r['failed']} failed transactions")
                            samples[name].append(r)
                    ctx.commands["pgbench_example"] = " ".join(
                        a if not a.startswith("--log-prefix") else "--log-prefix=DIR/tx" for a in r["argv"])
                    entry = {"script": script, "protocol": protocol, "clients": clients}
                    for name in SERVERS:
                        entry[name] = summarize_runs(samples[name])
                    w, p = entry["weir"]["tps"], entry["postgres"]["tps"]
                    entry["weir_vs_postgres_tps"] = ratio(w and w["median"], p and p["median"])
                    log(f"{script} {protocol} c={clients}: weir {w and w['median']:.0f} tps, "
                        f"postgres {p and p['median']:.0f} tps" if w and p else f"{script} {protocol} c={clients}: incomplete")
                    results.append(entry)
    finally:
        weir.stop()
    targets_out = []
    for e in results:
        if e["script"] == "select1" and e["clients"] == 16:
            targets_out.append({
                "target": f"SELECT 1 tps at 16 clients ({e['protocol']}) at least PostgreSQL's",
                "value": e["weir_vs_postgres_tps"],
                "limit": 1.0,
                "met": (e["weir_vs_postgres_tps"] or 0) >= 1.0,
                "higher_is_better": True,
            })
    return {"runs_per_figure": runs, "seconds_per_run": args.duration, "per_config": results,
            "targets": targets_out, "failures": failures}
