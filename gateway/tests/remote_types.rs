//! The type round-trip tier: for every type of `docs/remote-types.md`,
//! edge values (min, max, zero, negative zero, NaN, infinities, empty,
//! NULL, full precision, non-ASCII) created in the machine's real
//! PostgreSQL and MariaDB, read through Weir in text and in binary, and
//! compared with what the source itself sends.
//!
//! For PostgreSQL the expectation is the source's own answer: Weir's text
//! and binary values and its column type must equal what PostgreSQL sends
//! for the same rows of `expr`, the column cast to the type Weir exposes
//! (`v` itself for most types; `v::text` for types read as text). For
//! MariaDB, whose types are not PostgreSQL's, each value's PostgreSQL text
//! is written down, and PostgreSQL supplies the binary form of that text.
//! Values a mapping cannot hold must fail with 22003 naming the column.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::error::Error;

use common::{message, sqlstate, TestServer};
use sqlx::{Connection, Executor};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use weir_connectors::remote::SourceConfig;

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const MYSQL: &str = "mysql://root@127.0.0.1:3306";

/// A value exactly as it came over the wire, in binary.
#[derive(Debug, PartialEq)]
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// One column type and its edge values (SQL literals, in row order).
struct Case {
    ty: &'static str,
    values: &'static [&'static str],
    /// What PostgreSQL must send for the same rows, as Weir exposes the
    /// type (`v` when that is the type itself).
    expr: &'static str,
}

const fn case(ty: &'static str, values: &'static [&'static str]) -> Case {
    Case {
        ty,
        values,
        expr: "v",
    }
}

const fn as_text(ty: &'static str, values: &'static [&'static str]) -> Case {
    Case {
        ty,
        values,
        expr: "v::text",
    }
}

/// Every PostgreSQL row of docs/remote-types.md.
const POSTGRES: &[Case] = &[
    case("smallint", &["-32768", "32767", "0"]),
    case("integer", &["-2147483648", "2147483647", "0"]),
    case(
        "bigint",
        &["-9223372036854775808", "9223372036854775807", "0"],
    ),
    Case {
        ty: "oid",
        values: &["0", "4294967295"],
        expr: "v::int8",
    },
    case(
        "real",
        &[
            "'NaN'",
            "'Infinity'",
            "'-Infinity'",
            "'-0'",
            "0",
            "'1.17549435e-38'",
            "'3.4028235e+38'",
            "'1e-45'",
            "0.1",
        ],
    ),
    case(
        "double precision",
        &[
            "'NaN'",
            "'Infinity'",
            "'-Infinity'",
            "'-0'",
            "0",
            "'2.2250738585072014e-308'",
            "'1.7976931348623157e+308'",
            "'5e-324'",
            "0.1",
        ],
    ),
    case(
        "numeric(12,2)",
        &["9999999999.99", "-9999999999.99", "0", "-0.01", "1.5"],
    ),
    case(
        "numeric(38,0)",
        &[
            "99999999999999999999999999999999999999",
            "-99999999999999999999999999999999999999",
            "0",
        ],
    ),
    case(
        "numeric(38,38)",
        &[
            "0.99999999999999999999999999999999999999",
            "-0.00000000000000000000000000000000000001",
        ],
    ),
    case(
        "numeric(76,20)",
        &[
            "99999999999999999999999999999999999999999999999999999999.99999999999999999999",
            "-0.00000000000000000001",
            "0",
        ],
    ),
    // Unconstrained: exact at numeric(38,10), the source's default scale.
    Case {
        ty: "numeric",
        values: &[
            "1.5",
            "-0.0000000001",
            "1234567890123456789012345678.0123456789",
            "0",
            "100000000",
        ],
        expr: "v::numeric(38,10)",
    },
    case("boolean", &["true", "false"]),
    case(
        "text",
        &[
            "''",
            "'é日本 🦀'",
            "E'tab\\there\\nnewline'",
            "'\"quoted\" \\\\ back'",
            "repeat('x', 20000)",
        ],
    ),
    // Read as Arrow strings, which clients see as text.
    as_text("varchar(5)", &["'abcde'", "''", "'ééééé'"]),
    as_text("name", &["'a name'"]),
    // char(n): read as text, without PostgreSQL's padding (documented).
    as_text("char(5)", &["'ab'", "''", "'abcde'"]),
    case(
        "bytea",
        &["'\\x'", "'\\x00ff10'", "decode(repeat('ab', 5000), 'hex')"],
    ),
    case(
        "date",
        &[
            "'4713-01-01 BC'",
            "'5874897-12-31'",
            "'infinity'",
            "'-infinity'",
            "'2000-01-01'",
            "'1970-01-01'",
            "'0001-01-01'",
            "'0001-12-31 BC'",
        ],
    ),
    case(
        "time",
        &[
            "'00:00:00'",
            "'23:59:59.999999'",
            "'24:00:00'",
            "'12:00:00.5'",
        ],
    ),
    case(
        "timestamp",
        &[
            "'4713-01-01 00:00:00 BC'",
            "'294246-12-31 23:59:59.999999'",
            "'infinity'",
            "'-infinity'",
            "'2000-01-01 00:00:00.000001'",
            "'1969-12-31 23:59:59.999999'",
        ],
    ),
    case(
        "timestamptz",
        &[
            "'4713-01-01 00:00:00+00 BC'",
            "'294246-12-31 23:59:59.999999+00'",
            "'infinity'",
            "'-infinity'",
            "'2024-02-29 12:34:56.789+05:30'",
        ],
    ),
    case(
        "interval",
        &[
            "'178000000 years'",
            "'-178000000 years'",
            "'1 day -00:00:01'",
            "'1 mon 2 days 03:04:05.678901'",
            "'0'",
            "'-2147483648 days'",
            "'2562047:47:16.854775'",
            "'-2562047:47:16.854775'",
        ],
    ),
    case(
        "json",
        &[
            "'{\"a\": [1, 2.50, \"x\"],  \"b\" : null}'",
            "'null'",
            "'\"é\"'",
        ],
    ),
    case("jsonb", &["'{\"b\": 1, \"a\": \"é\"}'", "'[]'", "'1e400'"]),
    as_text(
        "uuid",
        &[
            "'00000000-0000-0000-0000-000000000000'",
            "'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'",
        ],
    ),
    as_text("inet", &["'192.168.0.1/24'", "'::1'"]),
    as_text("cidr", &["'10.0.0.0/8'"]),
    as_text("macaddr", &["'08:00:2b:01:02:03'"]),
    as_text("money", &["'-92233720368547758.08'", "'12.34'"]),
    as_text("xml", &["'<a>é</a>'"]),
    as_text("timetz", &["'24:00:00-15:59'", "'00:00:00+15:59'"]),
    as_text("bit(3)", &["B'101'"]),
    as_text("varbit", &["B''", "B'1'"]),
    as_text("int4range", &["'[1,5)'", "'empty'"]),
    as_text("tstzrange", &["'[2024-01-01,infinity)'"]),
    as_text("tsvector", &["'a fat cat'"]),
    as_text("mood", &["'happy'", "'sad'"]),
    case("posint", &["1", "2147483647"]),
    case("integer[]", &["'{1,NULL,-2147483648}'", "'{}'"]),
    case("bigint[]", &["'{9223372036854775807}'"]),
    case("smallint[]", &["'{-32768,32767}'"]),
    case("real[]", &["'{NaN,Infinity,-0}'"]),
    case("double precision[]", &["'{NaN,-Infinity,1e-300}'"]),
    case("boolean[]", &["'{t,f,NULL}'"]),
    case(
        "text[]",
        &["'{\"a b\",\"NULL\",\"\",NULL,\"é\\\\\\\"\"}'", "'{}'"],
    ),
    Case {
        ty: "varchar[]",
        values: &["'{x,y}'"],
        expr: "v::text[]",
    },
    case("date[]", &["'{2024-01-01,infinity}'"]),
    case("timestamp[]", &["'{2024-01-01 00:00:01,-infinity}'"]),
    case("timestamptz[]", &["'{2024-01-01 00:00:01+00}'"]),
    Case {
        ty: "numeric[]",
        values: &["'{1.5,-2,0}'"],
        expr: "v::numeric(38,10)[]",
    },
];

/// Values PostgreSQL holds that Weir's types cannot: each must fail its
/// statement with 22003 naming the column, never read as something else.
const POSTGRES_TOO_BIG: &[(&str, &str)] = &[
    ("numeric", "0.000000000000000000001"),
    ("numeric", "'NaN'"),
    ("numeric", "'Infinity'"),
    ("numeric", "1e30"),
    ("numeric(12,2)", "'NaN'"),
    ("numeric(60,2)", "'NaN'"),
    // PostgreSQL's last 29 years of timestamps: Arrow counts from 1970.
    ("timestamp", "'294276-12-31 23:59:59.999999'"),
    ("timestamptz", "'294247-01-11 00:00:00+00'"),
    // Arrow keeps an interval's time in nanoseconds.
    ("interval", "'2562047788:00:54.775807'"),
    ("interval", "'-2562048:00:00'"),
];

/// What one connection sends for `sql`: column type, text values (simple
/// protocol) and binary values (extended protocol).
#[derive(Debug, PartialEq)]
struct Answer {
    ty: u32,
    text: Vec<Option<String>>,
    binary: Vec<Raw>,
}

async fn answer(c: &Client, sql: &str) -> Result<Answer, tokio_postgres::Error> {
    let text = c
        .simple_query(sql)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
            _ => None,
        })
        .collect();
    let rows = c.query(sql, &[]).await?;
    let ty = c.prepare(sql).await?.columns()[0].type_().oid();
    let binary = rows.iter().map(|r| r.get::<_, Raw>(0)).collect();
    Ok(Answer { ty, text, binary })
}

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
        .batch_execute("SET TIME ZONE 'UTC'; SET extra_float_digits = 1")
        .await
        .unwrap();
    client
}

fn source(name: &str, kind: &str, url: &str, extra: &str) -> SourceConfig {
    toml::from_str(&format!(
        "name = \"{name}\"\nkind = \"{kind}\"\nurl = \"{url}\"\n{extra}"
    ))
    .unwrap()
}

#[tokio::test]
async fn postgres_values_read_through_weir_as_postgres_sends_them() {
    let (db, mut admin) = common::create_pg_database("weir_types").await;
    let mut pg = sqlx::PgConnection::connect(&format!("{PG}/{db}"))
        .await
        .unwrap();
    pg.execute(
        "CREATE TYPE mood AS ENUM ('sad', 'happy'); \
         CREATE DOMAIN posint AS integer CHECK (VALUE > 0);",
    )
    .await
    .unwrap();
    for (i, case) in POSTGRES.iter().enumerate() {
        let rows = numbered_rows(case.values);
        pg.execute(
            format!(
                "CREATE TABLE t{i} (id int, v {}); INSERT INTO t{i} VALUES {}",
                case.ty, rows
            )
            .as_str(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.ty));
    }
    for (i, (ty, value)) in POSTGRES_TOO_BIG.iter().enumerate() {
        pg.execute(
            format!("CREATE TABLE big{i} (id int, v {ty}); INSERT INTO big{i} VALUES (1, {value})")
                .as_str(),
        )
        .await
        .unwrap_or_else(|e| panic!("{ty} {value}: {e}"));
    }
    let url = format!("{PG}/{db}");
    let server =
        TestServer::start_with(|c| c.sources = vec![source("rds", "postgres", &url, "")]).await;
    let weir = connect(&server.url("lake")).await;
    let direct = connect(&format!(
        "host=127.0.0.1 port=5432 user=postgres dbname={db}"
    ))
    .await;

    let mut wrong = Vec::new();
    for (i, case) in POSTGRES.iter().enumerate() {
        let expected = answer(
            &direct,
            &format!("SELECT {} FROM t{i} ORDER BY id", case.expr),
        )
        .await
        .unwrap();
        let got = answer(&weir, &format!("SELECT v FROM rds.public.t{i} ORDER BY id")).await;
        match got {
            Ok(got) if got == expected => {}
            Ok(got) => wrong.push(format!(
                "{}:\n  PostgreSQL sends {expected:?}\n  Weir sends       {got:?}",
                case.ty
            )),
            Err(e) => wrong.push(format!("{}: {} {}", case.ty, sqlstate(&e), message(&e))),
        }
    }
    for (i, (ty, value)) in POSTGRES_TOO_BIG.iter().enumerate() {
        for (sql, column) in [
            (format!("SELECT v FROM rds.public.big{i}"), "column \"v\""),
            // Computed at the source, still read by Weir.
            (
                format!("SELECT max(v) FROM rds.public.big{i}"),
                "column \"max\"",
            ),
        ] {
            match weir.simple_query(&sql).await {
                Err(e) if sqlstate(&e) == "22003" && message(&e).contains(column) => {}
                Err(e) => wrong.push(format!(
                    "{ty} {value}: {} {} (wanted 22003 naming {column})",
                    sqlstate(&e),
                    message(&e)
                )),
                Ok(rows) => wrong.push(format!("{ty} {value} read as {rows:?}")),
            }
        }
    }
    // A wider scale for unconstrained numerics, set on the source.
    let wide = TestServer::start_with(|c| {
        c.sources = vec![source("rds", "postgres", &url, "numeric_scale = 21")]
    })
    .await;
    let wide = connect(&wide.url("lake")).await;
    let n = POSTGRES_TOO_BIG
        .iter()
        .position(|(_, v)| v.starts_with("0.0"));
    let got = answer(
        &wide,
        &format!("SELECT v FROM rds.public.big{}", n.unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(
        got.text,
        [Some("0.000000000000000000001".to_owned())],
        "numeric_scale = 21"
    );

    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    drop(pg);
    admin
        .execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
}

/// A MariaDB column type, its edge values, how MariaDB prints them (an
/// expression of `v`) and how PostgreSQL reads that print (an expression
/// of the text `v`) as the type Weir exposes.
struct MyCase {
    ty: &'static str,
    values: &'static [&'static str],
    prints: &'static str,
    reads: &'static str,
}

const fn my(ty: &'static str, values: &'static [&'static str], reads: &'static str) -> MyCase {
    MyCase {
        ty,
        values,
        prints: "CAST(v AS CHAR)",
        reads,
    }
}

/// Every MySQL row of docs/remote-types.md.
const MYSQL_CASES: &[MyCase] = &[
    my("tinyint", &["-128", "127", "0"], "v::int2"),
    my("tinyint unsigned", &["255"], "v::int2"),
    my("smallint", &["-32768", "32767"], "v::int2"),
    my("smallint unsigned", &["65535"], "v::int4"),
    my("mediumint", &["-8388608", "8388607"], "v::int4"),
    my("mediumint unsigned", &["16777215"], "v::int4"),
    my("int", &["-2147483648", "2147483647"], "v::int4"),
    my("int unsigned", &["4294967295"], "v::int8"),
    my(
        "bigint",
        &["-9223372036854775808", "9223372036854775807"],
        "v::int8",
    ),
    my(
        "bigint unsigned",
        &["18446744073709551615", "0"],
        "v::numeric(20,0)",
    ),
    my("year", &["1901", "2155", "0"], "v::int2"),
    my(
        "decimal(10,2)",
        &["99999999.99", "-0.01", "0"],
        "v::numeric(10,2)",
    ),
    my(
        "decimal(65,30)",
        &[
            "99999999999999999999999999999999999.999999999999999999999999999999",
            "-0.000000000000000000000000000001",
        ],
        "v::numeric(65,30)",
    ),
    my(
        "float",
        &["3.40282e38", "-1.17549e-38", "0", "0.1", "-0"],
        "v::real",
    ),
    my(
        "double",
        &[
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "5e-324",
            "0.1",
            "-0",
        ],
        "v::float8",
    ),
    MyCase {
        ty: "bit(1)",
        values: &["b'1'", "b'0'"],
        prints: "CAST(v AS UNSIGNED)",
        reads: "v::int::bool",
    },
    MyCase {
        ty: "bit(8)",
        values: &["b'11111111'", "b'0'"],
        prints: "CAST(v AS UNSIGNED)",
        reads: "v::int8",
    },
    my("char(5)", &["'ab'", "''", "'abcde'"], "v"),
    my("varchar(20)", &["'é日本 🦀'", "''", "'a\\\\b''c'"], "v"),
    my("longtext", &["REPEAT('x', 20000)"], "v"),
    my("enum('a','b')", &["'b'"], "v"),
    my("set('a','b')", &["'a,b'", "''"], "v"),
    // MariaDB's JSON is LONGTEXT with a CHECK: read as text (documented).
    my("json", &["'{\"a\": [1, 2.50, \"é\"]}'", "'null'"], "v"),
    MyCase {
        ty: "varbinary(10)",
        values: &["x'00ff10'", "''"],
        prints: "HEX(v)",
        reads: "decode(v, 'hex')",
    },
    MyCase {
        ty: "blob",
        values: &["x'0102'", "REPEAT('ab', 5000)"],
        prints: "HEX(v)",
        reads: "decode(v, 'hex')",
    },
    // Zero dates have no PostgreSQL value: NULL (documented).
    MyCase {
        ty: "date",
        values: &["'1000-01-01'", "'9999-12-31'", "'0000-00-00'"],
        prints: "IF(v = '0000-00-00', NULL, CAST(v AS CHAR))",
        reads: "v::date",
    },
    MyCase {
        ty: "datetime(6)",
        values: &[
            "'1000-01-01 00:00:00'",
            "'9999-12-31 23:59:59.999999'",
            "'0000-00-00 00:00:00'",
        ],
        prints: "IF(v = '0000-00-00 00:00:00', NULL, CAST(v AS CHAR))",
        reads: "v::timestamp",
    },
    my(
        "timestamp(6)",
        &["'1970-01-01 00:00:01'", "'2038-01-19 03:14:07.999999'"],
        "(v || '+00')::timestamptz",
    ),
    my(
        "time(6)",
        &[
            "'-838:59:59'",
            "'838:59:59'",
            "'00:00:00.000001'",
            "'-00:00:01'",
        ],
        "v::interval",
    ),
];

/// `(0, v0), (1, v1), …, (n, NULL)`: the values in order, then a NULL.
fn numbered_rows(values: &[&str]) -> String {
    let mut rows: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(n, v)| format!("({n}, {v})"))
        .collect();
    rows.push(format!("({}, NULL)", values.len()));
    rows.join(", ")
}

/// A PostgreSQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[tokio::test]
async fn mariadb_values_read_through_weir_as_postgresql_reads_their_text() {
    use sqlx::Row;
    let (db, mut admin) = common::create_pg_database("weir_mytypes").await;
    let mut root = sqlx::MySqlConnection::connect(MYSQL)
        .await
        .expect("MariaDB on 127.0.0.1:3306 (see README: Testing)");
    common::drop_left_behind_mysql_databases(&mut root).await;
    root.execute(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4").as_str())
        .await
        .unwrap();
    let mut my = sqlx::MySqlConnection::connect(&format!("{MYSQL}/{db}"))
        .await
        .unwrap();
    my.execute("SET SESSION sql_mode = '', time_zone = '+00:00'")
        .await
        .unwrap();
    for (i, case) in MYSQL_CASES.iter().enumerate() {
        let rows = numbered_rows(case.values);
        my.execute(format!("CREATE TABLE t{i} (id int, v {})", case.ty).as_str())
            .await
            .unwrap();
        my.execute(format!("INSERT INTO t{i} VALUES {}", rows).as_str())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.ty));
    }
    my.execute(
        "CREATE TABLE big0 (id int, v bit(64)); \
         INSERT INTO big0 VALUES (1, b'1111111111111111111111111111111111111111111111111111111111111111')",
    )
    .await
    .unwrap();

    let url = format!("{MYSQL}/{db}");
    let server =
        TestServer::start_with(|c| c.sources = vec![source("shop", "mysql", &url, "")]).await;
    let weir = connect(&server.url("lake")).await;
    let direct = connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres").await;

    let mut wrong = Vec::new();
    for (i, case) in MYSQL_CASES.iter().enumerate() {
        // What MariaDB prints, as PostgreSQL reads it.
        let printed: Vec<Option<String>> = sqlx::query(&format!(
            "SELECT CAST({} AS CHAR) FROM t{i} ORDER BY id",
            case.prints
        ))
        .fetch_all(&mut my)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<Option<String>, _>(0))
        .collect();
        let values: Vec<String> = printed
            .iter()
            .enumerate()
            .map(|(n, p)| match p {
                Some(p) => format!("({n}, {})", literal(p)),
                None => format!("({n}, NULL)"),
            })
            .collect();
        let expected = answer(
            &direct,
            &format!(
                "SELECT {} FROM (VALUES {}) AS t(id, v) ORDER BY id",
                case.reads,
                values.join(", ")
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {printed:?}: {e}", case.ty));
        let got = answer(&weir, &format!("SELECT v FROM shop.{db}.t{i} ORDER BY id")).await;
        match got {
            Ok(got) if got == expected => {}
            Ok(got) => wrong.push(format!(
                "{} (MariaDB prints {printed:?}):\n  PostgreSQL sends {expected:?}\n  Weir sends       {got:?}",
                case.ty
            )),
            Err(e) => wrong.push(format!("{}: {} {}", case.ty, sqlstate(&e), message(&e))),
        }
    }
    match weir
        .simple_query(&format!("SELECT v FROM shop.{db}.big0"))
        .await
    {
        Err(e) if sqlstate(&e) == "22003" && message(&e).contains("column \"v\"") => {}
        Err(e) => wrong.push(format!("bit(64): {} {}", sqlstate(&e), message(&e))),
        Ok(rows) => wrong.push(format!("bit(64) all ones read as {rows:?}")),
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let _ = root.execute(format!("DROP DATABASE {db}").as_str()).await;
    admin
        .execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_redshift_cursor_fetches_until_the_result_ends() {
    let (db, mut admin) = common::create_pg_database("weir_cursor").await;
    let mut pg = sqlx::PgConnection::connect(&format!("{PG}/{db}"))
        .await
        .unwrap();
    pg.execute("CREATE TABLE n AS SELECT g AS id, g * 1.5 AS half FROM generate_series(1, 10) g")
        .await
        .unwrap();
    let url = format!("{PG}/{db}");
    let server = TestServer::start_with(|c| {
        c.sources = vec![source("warehouse", "redshift", &url, "fetch_size = 3")]
    })
    .await;
    let weir = connect(&server.url("lake")).await;
    let ids: Vec<i32> = weir
        .query("SELECT id FROM warehouse.public.n ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Ten rows at three a FETCH: four round trips, the last one short.
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    // ORDER BY a name means the output column, as in PostgreSQL: here
    // the text, so '10' sorts before '2'.
    let sql = "SELECT CAST(id AS text) FROM warehouse.public.n ORDER BY id";
    let direct = connect(&format!(
        "host=127.0.0.1 port=5432 user=postgres dbname={db}"
    ))
    .await;
    assert_eq!(
        answer(&weir, sql).await.unwrap().text,
        answer(&direct, &sql.replace("warehouse.public.", ""))
            .await
            .unwrap()
            .text
    );
    drop(pg);
    admin
        .execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
}
