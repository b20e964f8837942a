"""wire: stream a large result to a client, Weir beside PostgreSQL serving the
same rows: `SELECT * FROM tpch.lineitem` read fully, in text (simple
protocol) and binary (extended protocol) format, by the same tokio-postgres
client. Rows/s, MB/s of DataRow messages, and Weir's peak RSS."""

import peers
from common import log, peak_rss_kib, ratio, summarize

SQL = "SELECT * FROM tpch.lineitem"
FORMATS = ["text", "binary"]
SERVERS = ["weir", "postgres"]


def run(ctx):
    args = ctx.args
    pg = ctx.postgres()
    pg.load(ctx.lake, ["lineitem"], ctx.python)
    weir = ctx.start_weir()
    runners = {}
    samples = {(s, f): [] for s in SERVERS for f in FORMATS}
    rows_seen = {}
    failures = []
    try:
        runners["weir"] = peers.weir_wire_runner(ctx.build, weir, ctx.procs)
        runners["postgres"] = peers.postgres_wire_runner(ctx.build, pg, ctx.procs)
        ctx.commands["client"] = " ".join(runners["weir"].argv).replace(peers.WEIR_PASSWORD, "***")
        for fmt in FORMATS:
            for i in range(args.warmup + args.runs):
                order = SERVERS if i % 2 == 0 else SERVERS[::-1]
                for server in order:
                    answer = runners[server].run(SQL, fmt)
                    if not answer.get("ok"):
                        failures.append(f"{server} {fmt}: {answer.get('error')}")
                        log(f"{server} {fmt}: {answer.get('error')}")
                        continue
                    rows_seen[(server, fmt)] = answer["rows"]
                    if i >= args.warmup:
                        samples[(server, fmt)].append(answer)
                        log(f"{server} {fmt}: {answer['rows']} rows in {answer['ms']:.0f} ms")
        weir_peak_kib = peak_rss_kib(weir.pid())
    finally:
        for r in runners.values():
            r.close()
        weir.stop()
    results = []
    for fmt in FORMATS:
        entry = {"format": fmt}
        for server in SERVERS:
            s = samples[(server, fmt)]
            entry[server] = {
                "seconds": summarize([a["ms"] / 1000.0 for a in s]),
                "rows_per_s": summarize([a["rows"] / (a["ms"] / 1000.0) for a in s]),
                "mb_per_s": summarize([a["bytes"] / 1e6 / (a["ms"] / 1000.0) for a in s]),
                "rows": s[0]["rows"] if s else None,
                "bytes": s[0]["bytes"] if s else None,
            }
        w, p = entry["weir"]["rows_per_s"], entry["postgres"]["rows_per_s"]
        entry["weir_vs_postgres_throughput"] = ratio(w and w["median"], p and p["median"])
        if entry["weir"]["rows"] != entry["postgres"]["rows"]:
            failures.append(f"{fmt}: row counts differ: weir {entry['weir']['rows']}, postgres {entry['postgres']['rows']}")
        results.append(entry)
    targets = [
        {
            "target": f"Wire streaming ({e['format']}) at least as fast as PostgreSQL",
            "value": e["weir_vs_postgres_throughput"],
            "limit": 1.0,
            "met": (e["weir_vs_postgres_throughput"] or 0) >= 1.0,
            "higher_is_better": True,
        }
        for e in results
    ]
    peak_mib = weir_peak_kib / 1024 if weir_peak_kib else None
    targets.append({"target": "Weir peak RSS under 300 MB", "value": peak_mib, "limit": 300 * 1e6 / 2**20,
                    "met": peak_mib is not None and peak_mib * 2**20 < 300e6, "unit": "MiB"})
    return {"sql": SQL, "per_format": results, "weir_peak_rss_mib": peak_mib, "targets": targets, "failures": failures}
