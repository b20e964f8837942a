"""Python drivers against Weir: psycopg 3, psycopg2 and asyncpg.

Usage: python drivers.py HOST PORT. Prints "PYTHON OK" when every check passes;
any failure raises and exits non-zero.
"""

import asyncio
import datetime
import decimal
import sys

import asyncpg
import psycopg
import psycopg2

HOST, PORT = sys.argv[1], int(sys.argv[2])
DSN = f"host={HOST} port={PORT} user=weir password=weir dbname=lake"


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def psycopg3():
    with psycopg.connect(DSN) as conn:
        # Server-side parameter binding, inferred and typed.
        row = conn.execute(
            "SELECT n_name, n_regionkey FROM lake.tpch.nation WHERE n_nationkey = %s", [5]
        ).fetchone()
        check(row == ("ETHIOPIA", 0), f"parameter binding: {row}")
        # Types.
        row = conn.execute(
            "SELECT o_totalprice, o_orderdate, CAST('2024-01-02 03:04:05' AS TIMESTAMP) AS ts "
            "FROM lake.tpch.orders ORDER BY o_orderkey LIMIT 1"
        ).fetchone()
        check(isinstance(row[0], decimal.Decimal) and row[0].as_tuple().exponent == -2, f"numeric: {row[0]!r}")
        check(isinstance(row[1], datetime.date), f"date: {row[1]!r}")
        check(row[2] == datetime.datetime(2024, 1, 2, 3, 4, 5), f"timestamp: {row[2]!r}")
        # Prepared statements (server-side, reused): one named statement,
        # each execution answering for its own parameter.
        names = dict(conn.execute("SELECT n_nationkey, n_name FROM lake.tpch.nation").fetchall())
        for key in [0, 7, 3, 7, 24, 1, 0, 12]:
            cur = conn.execute("SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = %s", [key], prepare=True)
            got = cur.fetchone()
            check(got == (names[key],), f"prepared, key {key}: {got} (want {names[key]})")
        prepared = conn._prepared._names  # psycopg's cache: query -> server-side name
        check(len(prepared) == 1, f"one server-side statement, reused: {prepared}")
        # Binary results.
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT count(*), sum(l_quantity) FROM lake.tpch.lineitem")
            n, q = cur.fetchone()
            check(n > 0 and isinstance(q, decimal.Decimal), f"binary aggregate: {n} {q!r}")
        # Server-side cursor (DECLARE/FETCH), iterated in chunks.
        with conn.transaction():
            with conn.cursor(name="orders_cur") as cur:
                cur.itersize = 1000
                cur.execute("SELECT o_orderkey FROM lake.tpch.orders WHERE o_orderkey > %s ORDER BY o_orderkey", [0])
                keys = [r[0] for r in cur]
                check(len(keys) == 15000 and keys == sorted(keys), f"server-side cursor rows: {len(keys)}")
        # Errors carry SQLSTATEs and the connection recovers.
        try:
            conn.execute("SELECT * FROM lake.tpch.nope")
            check(False, "must fail")
        except psycopg.errors.UndefinedTable as e:
            check(e.sqlstate == "42P01", e.sqlstate)
        conn.rollback()
        check(conn.execute("SELECT 1").fetchone() == (1,), "usable after error")


def psycopg2_named_cursor():
    conn = psycopg2.connect(DSN)
    try:
        cur = conn.cursor(name="li")
        cur.itersize = 2000
        cur.execute("SELECT l_orderkey, l_extendedprice FROM lake.tpch.lineitem WHERE l_orderkey < %s", (1000,))
        rows = 0
        for orderkey, price in cur:
            check(orderkey < 1000 and isinstance(price, decimal.Decimal), "row types")
            rows += 1
        check(rows > 0, "named cursor returned rows")
        cur.close()
        conn.commit()
        plain = conn.cursor()
        plain.execute("SELECT count(*) FROM lake.tpch.region")
        check(plain.fetchone()[0] == 5, "plain cursor")
    finally:
        conn.close()


async def asyncpg_session():
    conn = await asyncpg.connect(host=HOST, port=PORT, user="weir", password="weir", database="lake")
    try:
        rows = await conn.fetch("SELECT n_nationkey, n_name FROM lake.tpch.nation WHERE n_regionkey = $1 ORDER BY 1", 1)
        check(len(rows) == 5 and rows[0]["n_name"] == "ARGENTINA", f"asyncpg fetch: {rows}")
        val = await conn.fetchval("SELECT sum(o_totalprice) FROM lake.tpch.orders WHERE o_orderdate < $1", datetime.date(1993, 1, 1))
        check(isinstance(val, decimal.Decimal), f"asyncpg numeric: {val!r}")
        async with conn.transaction():
            n = 0
            async for _ in conn.cursor("SELECT o_orderkey FROM lake.tpch.orders", prefetch=500):
                n += 1
            check(n == 15000, f"asyncpg cursor: {n}")
        try:
            await conn.fetch("SELECT 1/0")
            check(False, "must fail")
        except asyncpg.exceptions.DivisionByZeroError:
            pass
    finally:
        await conn.close()


psycopg3()
psycopg2_named_cursor()
asyncio.run(asyncpg_session())
print("PYTHON OK")
