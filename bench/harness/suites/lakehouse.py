"""lakehouse: writing and pruning Iceberg tables.

1. CREATE TABLE AS of TPC-H lineitem into an Iceberg table, through Weir
   over the wire, beside DuckDB writing the same rows from the same Parquet
   files to one Parquet file with COPY ... TO (rows/s).
2. A selective query (one month of l_shipdate) on an Iceberg copy of
   lineitem partitioned by month(l_shipdate), beside the same query on the
   unpartitioned Parquet files (an external table): time, and files and
   bytes read out of the total, from EXPLAIN / EXPLAIN ANALYZE."""

import os
import re
import shutil
import subprocess

import peers
from common import log, ratio, summarize

SCHEMA = "bench_lakehouse"
SELECTIVE = ("SELECT sum(l_extendedprice * l_discount) FROM {table} "
             "WHERE l_shipdate >= DATE '1995-03-01' AND l_shipdate < DATE '1995-04-01'")


def psql(weir, sql):
    env = dict(os.environ, **weir.libpq_env())
    out = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", weir.url(), "-c", sql],
                         env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {sql}: {out.stderr.strip()}")
    return out.stdout


def iceberg_scan_figures(plan):
    m = re.search(r"files=(\d+)/(\d+), bytes=([\d.]+ \w+)/([\d.]+ \w+)", plan)
    if not m:
        return None
    return {"files": int(m.group(1)), "total_files": int(m.group(2)),
            "bytes": m.group(3), "total_bytes": m.group(4)}


def parquet_scan_figures(plan, lake):
    files = len(list((lake / "tpch" / "lineitem").glob("*.parquet")))
    total = sum(p.stat().st_size for p in (lake / "tpch" / "lineitem").glob("*.parquet"))
    # DataFusion prints counters human-readably: 1234, 12.34 K, 1.2 M.
    scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    scanned = sum(float(v) * scale[u] for v, u in re.findall(r"bytes_scanned=([\d.]+)(?: ([KMBT]))?", plan))
    pruned = re.search(r"files_ranges_pruned_statistics=([\d.]+(?: [KMBT])?) total → ([\d.]+(?: [KMBT])?) matched", plan)
    def number(text):
        value, *unit = text.split()
        return int(float(value) * scale[unit[0] if unit else ""])
    # DataFusion splits files into ranges (one per partition): it counts
    # ranges kept by statistics, not files.
    if pruned:
        files_read = f"{number(pruned.group(2))} ranges"
        files_total = f"{number(pruned.group(1))} ranges of {files} files"
    else:
        files_read, files_total = files, files
    return {"files": files_read, "total_files": files_total,
            "bytes": f"{scanned / 2**20:.1f} MiB", "total_bytes": f"{total / 2**20:.1f} MiB"}


def run(ctx):
    args = ctx.args
    weir = ctx.start_weir()
    threads = os.cpu_count() or 1
    runners = {}
    failures = []
    out_dir = ctx.weir_dir / "lakehouse-duckdb-out"
    try:
        runners["weir"] = peers.weir_wire_runner(ctx.build, weir, ctx.procs)
        runners["duckdb"] = peers.duckdb_runner(ctx.python, ctx.lake, ctx.procs, threads)
        psql(weir, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        psql(weir, f"CREATE SCHEMA {SCHEMA}")
        lineitem_rows = int(psql(weir, "SELECT count(*) FROM tpch.lineitem").strip())
        out_dir.mkdir(parents=True, exist_ok=True)
        ctas = {"weir": [], "duckdb": []}
        for i in range(args.warmup + args.runs):
            for engine in (["weir", "duckdb"] if i % 2 == 0 else ["duckdb", "weir"]):
                if engine == "weir":
                    sql = f"CREATE TABLE {SCHEMA}.lineitem_copy AS SELECT * FROM tpch.lineitem"
                else:
                    target = str(out_dir / "lineitem.parquet").replace("'", "''")
                    sql = f"COPY (SELECT * FROM lineitem) TO '{target}' (FORMAT parquet)"
                answer = runners[engine].run(sql)
                if not answer.get("ok"):
                    failures.append(f"CTAS {engine}: {answer.get('error')}")
                    log(f"CTAS {engine}: {answer.get('error')}")
                    continue
                if engine == "weir":
                    copied = int(psql(weir, f"SELECT count(*) FROM {SCHEMA}.lineitem_copy").strip())
                    if copied != lineitem_rows:
                        failures.append(f"CTAS wrote {copied} rows, expected {lineitem_rows}")
                    psql(weir, f"DROP TABLE {SCHEMA}.lineitem_copy")
                if i >= args.warmup:
                    ctas[engine].append(lineitem_rows / (answer["ms"] / 1000.0))
                log(f"CTAS {engine}: {answer['ms']:.0f} ms")

        psql(weir, f"CREATE TABLE {SCHEMA}.lineitem_by_month PARTITIONED BY (month(l_shipdate)) "
                   f"AS SELECT * FROM tpch.lineitem")
        tables = {"iceberg_partitioned": f"{SCHEMA}.lineitem_by_month", "parquet_unpartitioned": "tpch.lineitem"}
        times = {k: [] for k in tables}
        answers = {}
        for i in range(args.warmup + args.runs):
            for kind, table in tables.items():
                answer = runners["weir"].run(SELECTIVE.format(table=table))
                if not answer.get("ok"):
                    failures.append(f"selective {kind}: {answer.get('error')}")
                    continue
                if i >= args.warmup:
                    times[kind].append(answer["ms"])
        for kind, table in tables.items():
            answers[kind] = psql(weir, SELECTIVE.format(table=table)).strip()
        if answers["iceberg_partitioned"] != answers["parquet_unpartitioned"]:
            failures.append(f"selective query answers differ: {answers}")
        plan = psql(weir, "EXPLAIN " + SELECTIVE.format(table=tables["iceberg_partitioned"]))
        iceberg = iceberg_scan_figures(plan)
        plan = psql(weir, "EXPLAIN ANALYZE " + SELECTIVE.format(table=tables["parquet_unpartitioned"]))
        parquet = parquet_scan_figures(plan, ctx.lake)
        psql(weir, f"DROP SCHEMA {SCHEMA} CASCADE")
    finally:
        for r in runners.values():
            r.close()
        weir.stop()
        shutil.rmtree(out_dir, ignore_errors=True)
    w, d = summarize(ctas["weir"]), summarize(ctas["duckdb"])
    ctas_ratio = ratio(w and w["median"], d and d["median"])
    pi, pp = summarize(times["iceberg_partitioned"]), summarize(times["parquet_unpartitioned"])
    targets = [
        {"target": "CREATE TABLE AS rows/s at least DuckDB's COPY TO Parquet", "value": ctas_ratio,
         "limit": 1.0, "met": (ctas_ratio or 0) >= 1.0, "higher_is_better": True},
    ]
    return {
        "rows": lineitem_rows,
        "ctas_rows_per_s": {"weir_iceberg": w, "duckdb_parquet": d, "weir_vs_duckdb": ctas_ratio},
        "selective": {
            "sql": SELECTIVE.format(table="<table>"),
            "iceberg_partitioned": {"ms": pi, "scan": iceberg},
            "parquet_unpartitioned": {"ms": pp, "scan": parquet},
            "partitioned_vs_unpartitioned_time": ratio(pi and pi["median"], pp and pp["median"]),
        },
        "targets": targets,
        "failures": failures,
    }
