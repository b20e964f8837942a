"""Reports: bench/results/<suite>-<date>.md for people, .json beside it for tools."""

import json


def fmt_num(x, digits=0):
    if x is None:
        return "–"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def fmt_stat(s, digits=0):
    """median (min–max)"""
    if not s:
        return "–"
    if s["n"] == 1:
        return fmt_num(s["median"], digits)
    return f"{fmt_num(s['median'], digits)} ({fmt_num(s['min'], digits)}–{fmt_num(s['max'], digits)})"


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}x"


def write(out_dir, suite, started, doc):
    stem = f"{suite}-{started.strftime('%Y-%m-%d')}"
    md_path = out_dir / f"{stem}.md"
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    md_path.write_text(markdown(suite, doc))
    return md_path, json_path


def markdown(suite, doc):
    m, v, s = doc["machine"], doc["versions"], doc["settings"]
    lines = [
        f"# Weir benchmark: {suite}",
        "",
        f"Run {doc['date']} by `{doc['invocation']}` ({doc['result'].get('seconds')} s). "
        "Figures are medians of the measured runs with (min–max); ratios are computed from medians "
        "taken in the same run, peers alternating with Weir.",
        "",
        f"- Machine: {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('cpu')}, Linux {m.get('kernel')}; "
        f"load average at start {m.get('load_average_at_start')}",
        f"- Versions: {v.get('weir')} (commit {v.get('weir_commit')}, `{v.get('weir_profile')}` profile), "
        f"{v.get('rustc')}, DuckDB {v.get('duckdb')}, PostgreSQL {v.get('postgres', '–')}, {v.get('pgbench')}",
        f"- Settings: TPC-H SF {s['sf']:g}, {s['warmup']} warm-up + {s['runs']} measured runs"
        + (" (quick mode: the figures only show the harness works)" if s["quick"] else ""),
        "",
    ]
    lines += SECTIONS[suite](doc["result"])
    lines += ["", "## Targets", "", "| Target | Measured | Met |", "|---|---|---|"]
    for t in doc["result"].get("targets", []):
        unit = t.get("unit")
        value = "–" if t["value"] is None else (f"{t['value']:.0f} {unit}" if unit else f"{t['value']:.2f}x")
        lines.append(f"| {t['target']} | {value} | {'yes' if t['met'] else 'no'} |")
    failures = doc["result"].get("failures", [])
    if failures:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in failures]
    lines += ["", "## Commands", "", "```"]
    lines += [f"{k}: {c}" for k, c in doc["commands"].items()]
    lines += ["```", ""]
    return "\n".join(lines)


def lakehouse_section(r):
    c = r["ctas_rows_per_s"]
    sel = r["selective"]
    lines = [
        f"## CREATE TABLE AS of lineitem ({fmt_num(r['rows'])} rows), rows/s",
        "",
        "| Writer | Rows/s |",
        "|---|---:|",
        f"| Weir: CREATE TABLE AS into an Iceberg table | {fmt_stat(c['weir_iceberg'])} |",
        f"| DuckDB: COPY ... TO one Parquet file | {fmt_stat(c['duckdb_parquet'])} |",
        f"| **Weir / DuckDB** | **{fmt_ratio(c['weir_vs_duckdb'])}** |",
        "",
        "## Selective query on lineitem, one month of l_shipdate",
        "",
        f"`{sel['sql']}`",
        "",
        "| Table | ms | Files read / total | Bytes read / total |",
        "|---|---:|---:|---:|",
    ]
    for kind, label in [("iceberg_partitioned", "Iceberg, PARTITIONED BY (month(l_shipdate))"),
                        ("parquet_unpartitioned", "Parquet files, unpartitioned (external table)")]:
        s = sel[kind]
        scan = s.get("scan") or {}
        lines.append(f"| {label} | {fmt_stat(s['ms'])} | {scan.get('files', '–')} / {scan.get('total_files', '–')} "
                     f"| {scan.get('bytes', '–')} / {scan.get('total_bytes', '–')} |")
    lines += ["", f"Partitioned / unpartitioned time: {fmt_ratio(sel['partitioned_vs_unpartitioned_time'])}",
              "",
              "Bytes: for Iceberg, the sizes of the files planned (from manifests, before reading); "
              "for Parquet, the bytes DataFusion read (EXPLAIN ANALYZE bytes_scanned)."]
    return lines


def tpch_section(r):
    lines = [
        "## TPC-H: per-query times (ms)",
        "",
        "Weir: the server, read over the wire by tokio-postgres (extended protocol, binary results, every row). "
        "DataFusion: the same engine configuration in-process, no wire. DuckDB: views over the same Parquet files.",
        "",
        "| Query | Weir | DataFusion in-process | DuckDB | Weir / DataFusion | Weir / DuckDB | Rows |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for q in r["per_query"]:
        rows = {x for x in q["rows"].values() if x is not None}
        row_text = ", ".join(str(x) for x in sorted(rows)) if rows else "–"
        err = " (error: " + "; ".join(f"{k}: {v[:80]}" for k, v in q["errors"].items()) + ")" if q.get("errors") else ""
        lines.append(
            f"| Q{q['query']}{err} | {fmt_stat(q['weir'])} | {fmt_stat(q['datafusion'])} | {fmt_stat(q['duckdb'])} "
            f"| {fmt_ratio(q['weir_vs_datafusion'])} | {fmt_ratio(q['weir_vs_duckdb'])} | {row_text} |"
        )
    t = r["common_total_ms"]
    lines.append(
        f"| **Total** ({len(r['common_queries'])} queries) | **{fmt_num(t['weir'])}** | **{fmt_num(t['datafusion'])}** "
        f"| **{fmt_num(t['duckdb'])}** | **{fmt_ratio(r['weir_vs_datafusion_total'])}** "
        f"| **{fmt_ratio(r['weir_vs_duckdb_total'])}** | |"
    )
    return lines


def wire_section(r):
    lines = [
        f"## Streaming `{r['sql']}` to one client",
        "",
        "The same tokio-postgres client reads every row from each server: text = simple protocol, "
        "binary = extended protocol with binary results. MB are DataRow message bytes (10^6).",
        "",
        "| Format | Server | Rows | MB | Seconds | Rows/s | MB/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for e in r["per_format"]:
        for server in ("weir", "postgres"):
            x = e[server]
            mb = None if x["bytes"] is None else x["bytes"] / 1e6
            lines.append(
                f"| {e['format']} | {server} | {fmt_num(x['rows'])} | {fmt_num(mb)} | {fmt_stat(x['seconds'], 2)} "
                f"| {fmt_stat(x['rows_per_s'])} | {fmt_stat(x['mb_per_s'], 1)} |"
            )
        lines.append(f"| {e['format']} | **Weir / PostgreSQL** | | | | **{fmt_ratio(e['weir_vs_postgres_throughput'])}** | |")
    lines += ["", f"Weir's peak RSS over the suite (VmHWM): {fmt_num(r['weir_peak_rss_mib'])} MiB."]
    return lines


def concurrency_section(r):
    lines = [
        f"## pgbench ({r['runs_per_figure']} runs of {r['seconds_per_run']} s per figure)",
        "",
        "| Script | Protocol | Clients | Weir tps | PostgreSQL tps | Weir / PostgreSQL | Weir p50 / p95 / p99 ms | PostgreSQL p50 / p95 / p99 ms |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]

    def lat(x):
        vals = [x[k]["median"] if x[k] else None for k in ("p50_ms", "p95_ms", "p99_ms")]
        return " / ".join(fmt_num(v, 2) for v in vals)

    for e in r["per_config"]:
        lines.append(
            f"| {e['script']} | {e['protocol']} | {e['clients']} | {fmt_stat(e['weir']['tps'])} "
            f"| {fmt_stat(e['postgres']['tps'])} | {fmt_ratio(e['weir_vs_postgres_tps'])} "
            f"| {lat(e['weir'])} | {lat(e['postgres'])} |"
        )
    return lines


def federation_section(r):
    lines = [
        f"## Full scan of lineitem in a PostgreSQL source ({fmt_num(r.get('lineitem_rows'))} rows), rows/s",
        "",
        "| Reader | Rows/s |",
        "|---|---:|",
        f"| Weir: `SELECT * FROM pg.tpch.lineitem` over the wire, every row read | {fmt_stat(r['scan_rows_per_s']['weir'])} |",
        f"| ConnectorX: the table into Arrow | {fmt_stat(r['scan_rows_per_s']['connectorx'])} |",
        f"| **Weir / ConnectorX** | **{fmt_ratio(r['scan_ratio_weir_vs_connectorx'])}** |",
        "",
        "## TPC-H Q1 and Q6, ms",
        "",
        "| Query | Weir (pushed down) | PostgreSQL directly | Weir / PostgreSQL |",
        "|---|---:|---:|---:|",
    ]
    for n in (1, 6):
        t = r[f"q{n}_ms"]
        lines.append(f"| Q{n} | {fmt_stat(t['weir'])} | {fmt_stat(t['postgres'])} | {fmt_ratio(r[f'q{n}_ratio_weir_vs_postgres'])} |")
    for n in (1, 6):
        lines += ["", f"Q{n} as sent to PostgreSQL (from EXPLAIN):", "", "```"] + r[f"q{n}_remote_sql"] + ["```"]
    return lines


def isolation_section(r):
    lines = [
        f"## Latency under heavy statements ({r['runs_per_figure']} runs of {r['seconds_per_run']} s, 8 clients, simple protocol)",
        "",
        "| Script | Heavy statements | Weir p50 / p99 ms | PostgreSQL p50 / p99 ms | Weir tps | PostgreSQL tps | p99 Weir / PostgreSQL |",
        "|---|---:|---|---|---:|---:|---:|",
    ]

    def lat(x):
        return " / ".join(fmt_num(x[k]["median"] if x[k] else None, 2) for k in ("p50_ms", "p99_ms"))

    for e in r["per_config"]:
        lines.append(
            f"| {e['script']} | {e['heavy']} | {lat(e['weir'])} | {lat(e['postgres'])} "
            f"| {fmt_stat(e['weir']['tps'])} | {fmt_stat(e['postgres']['tps'])} | {fmt_ratio(e['weir_vs_postgres_p99'])} |"
        )
    return lines


def governance_section(r):
    lines = [
        f"## With and without policies ({r['rules']} rules, {r['roles']} roles, row filters, a mask)",
        "",
        "Governed: a user the rules, filters and mask apply to. No policies: the superuser, whom "
        "none touches, on the same server. Interleaved run by run.",
        "",
        "| Figure | Governed | No policies | Governed / none (speed) |",
        "|---|---:|---:|---:|",
    ]
    for e in r["per_figure"]:
        g, n = e.get("governed"), e.get("no_policies")
        cell = (lambda x: fmt_stat(x) if isinstance(x, dict) else fmt_num(x))
        lines.append(f"| {e['figure']} | {cell(g)} | {cell(n)} | {fmt_ratio(e['governed_vs_no_policies'])} |")
    point = [e for e in r["per_figure"] if "filter_written_in" in e]
    for e in point:
        lines += [
            "",
            "What the point query's figure is made of: the superuser running the same query with the "
            "row filter's predicate written in (`AND n_regionkey >= 0`), in the same run.",
            "",
            "| Figure | Filter written in, tps | Governed / filter written in (enforcement) "
            "| Filter written in / none (the predicate) |",
            "|---|---:|---:|---:|",
            f"| {e['figure']} | {fmt_stat(e['filter_written_in'])} "
            f"| {fmt_ratio(e['governed_vs_filter_written_in'])} "
            f"| {fmt_ratio(e['filter_written_in_vs_no_policies'])} |",
        ]
    return lines


SECTIONS = {"tpch": tpch_section, "wire": wire_section, "concurrency": concurrency_section,
            "lakehouse": lakehouse_section, "federation": federation_section,
            "isolation": isolation_section, "governance": governance_section}
