"""Parameter shapes bound by asyncpg and by psycopg 3 (server-side prepared,
binary): each driver sends its values typed as Weir describes them (asyncpg)
or as it chooses (psycopg), and must get the answer PostgreSQL would give.

Usage: python param_shapes.py HOST PORT. The table shapes.t (id int,
amount numeric(12,2), at timestamp, note text) must exist and be empty.
Prints "SHAPES OK" when every check passes; any failure raises.
"""

import asyncio
import datetime
import decimal
import re
import sys

import asyncpg
import psycopg

HOST, PORT = sys.argv[1], int(sys.argv[2])
D = decimal.Decimal
TS = datetime.datetime(2024, 2, 29, 13, 14, 15, 123456)

# (SQL with $n parameters, values, the rows it returns or a query with the
# values written in whose rows it must return).
SHAPES = [
    ("SELECT $1::bigint + 1", [41], [(42,)]),
    ("SELECT $1::int4", [7], [(7,)]),
    ("SELECT CAST($1 AS bigint)", [2**40], [(2**40,)]),
    ("SELECT 1 WHERE $1::bigint > 0", [5], [(1,)]),
    ("SELECT 1 WHERE $1::bigint > 0", [-5], []),
    ("SELECT $1 + 1", [41], [(42,)]),
    ("SELECT $1::numeric(10,2) * 2", [D("1.25")], [(D("2.50"),)]),
    ("SELECT n_name FROM tpch.nation WHERE n_nationkey = $1", [5], [("ETHIOPIA",)]),
    ("SELECT n_name FROM tpch.nation WHERE $1 = n_nationkey", [7], [("GERMANY",)]),
    (
        "SELECT n_name FROM tpch.nation WHERE n_nationkey IN ($1, $2) ORDER BY 1",
        [5, 7],
        [("ETHIOPIA",), ("GERMANY",)],
    ),
    (
        "SELECT count(*) FROM tpch.orders WHERE o_totalprice > $1",
        [D("100000.50")],
        "SELECT count(*) FROM tpch.orders WHERE o_totalprice > 100000.50",
    ),
    (
        "SELECT count(*) FROM tpch.orders WHERE o_orderdate >= $1 AND o_orderdate < $2",
        [datetime.date(1995, 1, 1), datetime.date(1995, 4, 1)],
        "SELECT count(*) FROM tpch.orders "
        "WHERE o_orderdate >= DATE '1995-01-01' AND o_orderdate < DATE '1995-04-01'",
    ),
    (
        "SELECT sum(l_extendedprice * l_discount) FROM tpch.lineitem WHERE l_shipdate >= $1 "
        "AND l_discount BETWEEN $2 AND $3 AND l_quantity < $4",
        [datetime.date(1994, 1, 1), D("0.05"), D("0.07"), 24],
        "SELECT sum(l_extendedprice * l_discount) FROM tpch.lineitem "
        "WHERE l_shipdate >= DATE '1994-01-01' AND l_discount BETWEEN 0.05 AND 0.07 "
        "AND l_quantity < 24",
    ),
    (
        "SELECT n_name FROM tpch.nation ORDER BY n_nationkey LIMIT $1 OFFSET $2",
        [2, 3],
        [("CANADA",), ("EGYPT",)],
    ),
    ("SELECT n_name FROM tpch.nation WHERE n_name LIKE $1 ORDER BY 1", ["UNITED%"],
     [("UNITED KINGDOM",), ("UNITED STATES",)]),
    ("SELECT left($1, $2)", ["hello", 2], [("he",)]),
    ("SELECT coalesce(NULL::int, $1)", [3], [(3,)]),
    (
        "SELECT count(*) FROM tpch.orders WHERE o_custkey IN "
        "(SELECT c_custkey FROM tpch.customer WHERE c_nationkey = $1 AND c_acctbal > $2)",
        [3, D("5000")],
        "SELECT count(*) FROM tpch.orders WHERE o_custkey IN "
        "(SELECT c_custkey FROM tpch.customer WHERE c_nationkey = 3 AND c_acctbal > 5000)",
    ),
    (
        "INSERT INTO shapes.t (id, amount, at, note) VALUES ($1, $2, $3, $4)",
        [1, D("12.34"), TS, "first"],
        None,
    ),
    (
        "SELECT id, amount, at, note FROM shapes.t WHERE at = $1 AND amount = $2",
        [TS, D("12.34")],
        [(1, D("12.34"), TS, "first")],
    ),
    ("SELECT note FROM shapes.t WHERE id = $1 AND at < $2", [1, TS + datetime.timedelta(seconds=1)],
     [("first",)]),
]


def check(ok, what):
    if not ok:
        raise AssertionError(what)


async def with_asyncpg():
    conn = await asyncpg.connect(host=HOST, port=PORT, user="weir", password="weir", database="lake")
    try:
        for sql, values, want in SHAPES:
            if want is None:
                await conn.execute(sql, *values)
                continue
            if isinstance(want, str):
                want = [tuple(r) for r in await conn.fetch(want)]
            got = [tuple(r) for r in await conn.fetch(sql, *values)]
            check(got == want, f"asyncpg: {sql} {values}: {got} (want {want})")
        check(await conn.fetchval("SELECT $1::bigint + 1", 41) == 42, "the issue's call")
    finally:
        await conn.close()


def with_psycopg():
    dsn = f"host={HOST} port={PORT} user=weir password=weir dbname=lake"
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql, values, want in SHAPES:
            if sql.startswith("INSERT"):
                # Row 1 is asyncpg's; psycopg adds row 2 and reads it back.
                values = [2] + values[1:]
            elif "FROM shapes.t" in sql:
                continue
            text = re.sub(r"\$\d+", "%s", sql)
            if want is None:
                conn.execute(text, values, prepare=True, binary=True)
                continue
            if isinstance(want, str):
                want = conn.execute(want).fetchall()
            # Twice: prepared on the server, then run from its prepared form.
            for _ in range(2):
                got = [tuple(r) for r in conn.execute(text, values, prepare=True, binary=True).fetchall()]
                check(got == want, f"psycopg: {sql} {values}: {got} (want {want})")
        rows = conn.execute(
            "SELECT id, amount, at, note FROM shapes.t WHERE id = %s", [2], prepare=True, binary=True
        ).fetchall()
        check(rows == [(2, D("12.34"), TS, "first")], f"psycopg INSERT read back: {rows}")


asyncio.run(with_asyncpg())
with_psycopg()
print("SHAPES OK")
