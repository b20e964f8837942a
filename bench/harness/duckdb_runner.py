"""DuckDB as a query runner for the harness, over the same Parquet files Weir
reads: one view per TPC-H table. Speaks the runners' JSON-lines protocol
(see bench/src/main.rs). With --export it writes one table as CSV for
loading into PostgreSQL and prints the table's column definitions."""

import argparse
import json
import pathlib
import sys
import time

import duckdb

TYPES = {"BIGINT": "bigint", "INTEGER": "integer", "DATE": "date", "VARCHAR": "text", "DOUBLE": "double precision"}


def connect(lake, threads):
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    schema = pathlib.Path(lake) / "tpch"
    for table_dir in sorted(schema.iterdir()):
        if table_dir.is_dir() and not table_dir.name.startswith("."):
            files = str(table_dir / "*.parquet").replace("'", "''")
            con.execute(f'CREATE VIEW "{table_dir.name}" AS SELECT * FROM read_parquet(\'{files}\')')
    return con


def pg_type(duck_type):
    if duck_type.startswith("DECIMAL"):
        return "numeric" + duck_type[len("DECIMAL"):]
    return TYPES.get(duck_type, "text")


def export(con, table, path):
    columns = con.execute(f'DESCRIBE SELECT * FROM "{table}"').fetchall()
    target = str(path).replace("'", "''")
    con.execute(f"COPY (SELECT * FROM \"{table}\") TO '{target}' (FORMAT csv, DELIMITER '|', HEADER false)")
    print(", ".join(f"{name} {pg_type(kind)}" for name, kind, *_ in columns))


def serve(con):
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            sql = request["sql"]
            started = time.perf_counter()
            cursor = con.cursor()
            rows = cursor.execute(sql).fetchall()
            ms = (time.perf_counter() - started) * 1000.0
            cursor.close()
            answer = {"ok": True, "rows": len(rows), "bytes": 0, "ms": ms}
            if request.get("answer"):
                answer["answer"] = [[None if v is None else str(v) for v in row] for row in rows]
        except Exception as e:  # any query error goes back to the harness
            answer = {"ok": False, "error": str(e)}
        print(json.dumps(answer), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--export", nargs=2, metavar=("TABLE", "CSV"))
    args = parser.parse_args()
    con = connect(args.lake, args.threads)
    if args.export:
        export(con, args.export[0], args.export[1])
    else:
        serve(con)


if __name__ == "__main__":
    main()
