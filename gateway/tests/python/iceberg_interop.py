"""PyIceberg against Weir's Iceberg catalog: read a table Weir wrote, write
one for Weir to read. Prints JSON on stdout.

    iceberg_interop.py CATALOG_DB WAREHOUSE read NAMESPACE.TABLE
    iceberg_interop.py CATALOG_DB WAREHOUSE write NAMESPACE.TABLE
"""
import datetime
import decimal
import json
import sys

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog


def main():
    db, warehouse, command, name = sys.argv[1:5]
    catalog = SqlCatalog("lake", uri=f"sqlite:///{db}", warehouse=warehouse)
    if command == "read":
        table = catalog.load_table(name)
        data = table.scan().to_arrow()
        rows = sorted(
            [[str(v) if v is not None else None for v in row.values()] for row in data.to_pylist()]
        )
        schema = [[f.name, str(f.field_type), f.required] for f in table.schema().fields]
        print(json.dumps({"schema": schema, "rows": rows, "snapshots": len(table.snapshots())}))
    elif command == "write":
        namespace = name.split(".")[0]
        if (namespace,) not in catalog.list_namespaces():
            catalog.create_namespace(namespace)
        data = pa.table(
            {
                "id": pa.array([1, 2, 3], pa.int64()),
                "city": pa.array(["Lisboa", "Zürich", None], pa.string()),
                "price": pa.array(
                    [decimal.Decimal("1.50"), decimal.Decimal("20.00"), decimal.Decimal("-3.25")],
                    pa.decimal128(9, 2),
                ),
                "seen": pa.array(
                    [datetime.datetime(2026, 1, 1, 12, 0), None, datetime.datetime(2026, 3, 4, 5, 6, 7)],
                    pa.timestamp("us"),
                ),
                "day": pa.array(
                    [datetime.date(2026, 1, 1), datetime.date(2026, 2, 1), datetime.date(2026, 3, 1)],
                    pa.date32(),
                ),
            }
        )
        table = catalog.create_table(name, schema=data.schema)
        table.append(data)
        print(json.dumps({"written": data.num_rows}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
