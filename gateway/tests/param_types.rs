#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Parameter types against PostgreSQL: every statement of [`CORPUS`] goes
//! through Parse/Describe on Weir and on the PostgreSQL of this machine,
//! over tables PostgreSQL holds with the types Weir announces for the same
//! lake columns, and the two ParameterDescriptions and RowDescriptions must
//! agree. Where they may not, `docs/parameter-types.md` says so, statement
//! by statement, with the reason; this test reads that table, so a listed
//! difference that has gone away fails too.

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use tokio_postgres::{Client, NoTls};

/// The lake tables the corpus reads, as Weir announces their columns.
const TABLES: &[&str] = &[
    "tpch.nation",
    "tpch.region",
    "tpch.orders",
    "tpch.customer",
    "tpch.lineitem",
    "ptypes.t",
];

/// One Iceberg table with the types TPC-H lacks.
const PTYPES: &str = "CREATE TABLE lake.ptypes.t (i4 int, i8 bigint, n numeric(12,3), \
    f4 real, f8 double precision, s text, d date, ts timestamp, tz timestamptz, b boolean, \
    by bytea)";

/// The statements, by the shape their parameters take.
const CORPUS: &[&str] = &[
    // Explicit casts.
    "SELECT $1::bigint + 1",
    "SELECT $1::int4",
    "SELECT CAST($1 AS bigint)",
    "SELECT 1 WHERE $1::bigint > 0",
    "SELECT $1::numeric(10,2)",
    "SELECT $1::varchar(3)",
    "SELECT CAST($1 AS smallint)",
    "SELECT $1::timestamptz",
    "SELECT $1::date",
    "SELECT $1::text = n_name FROM tpch.nation",
    "SELECT $1::double precision * 2",
    "SELECT $1::boolean AND true",
    // Compared with a column.
    "SELECT n_name FROM tpch.nation WHERE n_nationkey = $1",
    "SELECT n_name FROM tpch.nation WHERE $1 = n_nationkey",
    "SELECT count(*) FROM tpch.orders WHERE o_totalprice > $1",
    "SELECT count(*) FROM tpch.orders WHERE o_orderdate >= $1 AND o_orderdate < $2",
    "SELECT count(*) FROM tpch.orders WHERE o_orderstatus = $1",
    "SELECT sum(l_extendedprice * l_discount) FROM tpch.lineitem \
     WHERE l_shipdate >= $1 AND l_discount BETWEEN $2 AND $3 AND l_quantity < $4",
    "SELECT n_name FROM tpch.nation WHERE n_nationkey IN ($1, $2, $3)",
    "SELECT n_name FROM tpch.nation WHERE n_nationkey NOT IN ($1, $2)",
    "SELECT n_name FROM tpch.nation WHERE n_name LIKE $1",
    "SELECT n_name FROM tpch.nation WHERE n_name ILIKE $1 OR n_comment NOT LIKE $2",
    "SELECT n_name FROM tpch.nation WHERE n_nationkey BETWEEN $1 AND $2",
    "SELECT i4 FROM ptypes.t WHERE b = $1",
    "SELECT i4 FROM ptypes.t WHERE ts > $1",
    "SELECT i4 FROM ptypes.t WHERE tz >= $1",
    "SELECT i4 FROM ptypes.t WHERE f8 < $1",
    "SELECT i4 FROM ptypes.t WHERE f4 < $1",
    "SELECT i4 FROM ptypes.t WHERE i4 = $1 OR i8 = $1",
    "SELECT i4 FROM ptypes.t WHERE s = $1 AND i4 > $2",
    "SELECT i4 FROM ptypes.t WHERE n = $1 * 2",
    "SELECT i4 FROM ptypes.t WHERE i8 IS DISTINCT FROM $1",
    "SELECT i4 FROM ptypes.t WHERE by = $1",
    "SELECT i4 FROM ptypes.t WHERE d = $1 AND n <= $2",
    // Arithmetic.
    "SELECT $1 + 1",
    "SELECT $1 * 2.5",
    "SELECT $1 + i8 FROM ptypes.t",
    "SELECT i4 + $1 * 2 FROM ptypes.t",
    "SELECT $1 / 2",
    "SELECT $1 % 2",
    "SELECT l_extendedprice * (1 - $1) FROM tpch.lineitem",
    "SELECT ts - $1 FROM ptypes.t",
    "SELECT ts + $1 FROM ptypes.t",
    "SELECT 1 WHERE $1 = 5000000000",
    "SELECT 1 WHERE $1 > 1.5",
    // Parameters on both sides.
    "SELECT $1 = $2",
    "SELECT $1 < $2::int",
    "SELECT $1 || $2",
    "SELECT n_name || $1 FROM tpch.nation",
    "SELECT 2 IN ($1, 5000000000)",
    "SELECT $1 IS DISTINCT FROM 2",
    // Booleans.
    "SELECT NOT $1",
    "SELECT 1 WHERE $1",
    "SELECT $1 AND true",
    "SELECT $1 IS TRUE",
    // Function arguments.
    "SELECT length($1)",
    "SELECT upper($1), lower($2)",
    "SELECT left($1, $2)",
    "SELECT substr($1, $2)",
    "SELECT lpad($1, $2, $3)",
    "SELECT abs($1)",
    "SELECT round($1, 2)",
    "SELECT coalesce(n_regionkey, $1) FROM tpch.nation",
    "SELECT coalesce($1, $2)",
    "SELECT greatest($1, 2)",
    "SELECT nullif($1, i8) FROM ptypes.t",
    "SELECT replace(n_name, $1, $2) FROM tpch.nation",
    "SELECT split_part($1, ',', $2)",
    "SELECT chr($1)",
    "SELECT strpos(n_name, $1) FROM tpch.nation",
    // CASE.
    "SELECT CASE WHEN n_nationkey = 1 THEN $1 ELSE n_name END FROM tpch.nation",
    "SELECT CASE WHEN $1 THEN 1 ELSE 0 END",
    "SELECT CASE n_regionkey WHEN $1 THEN 'a' ELSE 'b' END FROM tpch.nation",
    // LIMIT and OFFSET.
    "SELECT n_name FROM tpch.nation ORDER BY n_nationkey LIMIT $1",
    "SELECT n_name FROM tpch.nation ORDER BY n_nationkey LIMIT $1 OFFSET $2",
    // Subqueries and CTEs.
    "SELECT n_name FROM tpch.nation WHERE n_regionkey IN \
     (SELECT r_regionkey FROM tpch.region WHERE r_name = $1)",
    "SELECT n_name FROM tpch.nation WHERE EXISTS \
     (SELECT 1 FROM tpch.region WHERE r_regionkey = n_regionkey AND r_name = $1)",
    "SELECT (SELECT max(o_totalprice) FROM tpch.orders WHERE o_custkey = $1)",
    "WITH c AS (SELECT o_custkey, o_totalprice FROM tpch.orders WHERE o_totalprice > $1) \
     SELECT count(*) FROM c WHERE o_custkey < $2",
    "SELECT * FROM (SELECT n_nationkey, n_name FROM tpch.nation WHERE n_regionkey = $1) s \
     WHERE s.n_nationkey > $2",
    "SELECT n_regionkey, count(*) FROM tpch.nation GROUP BY n_regionkey HAVING count(*) > $1",
    "SELECT $1 IN (SELECT n_nationkey FROM tpch.nation)",
    "SELECT o_orderkey FROM tpch.orders o JOIN tpch.customer c \
     ON c.c_custkey = o.o_custkey AND c.c_acctbal > $1",
    "SELECT count(*) FROM tpch.orders WHERE o_custkey IN \
     (SELECT c_custkey FROM tpch.customer WHERE c_nationkey = $1 AND c_acctbal > $2)",
    "SELECT count(*) FROM tpch.lineitem WHERE l_quantity > $1 + 1 AND l_shipdate < $2::date",
    // UNION, VALUES, bare parameters.
    "SELECT n_nationkey FROM tpch.nation UNION SELECT $1",
    "VALUES ($1, $2::int)",
    "SELECT $1",
    // Window functions.
    "SELECT lag(n_name, $1) OVER (ORDER BY n_nationkey) FROM tpch.nation",
    "SELECT ntile($1) OVER (ORDER BY n_nationkey) FROM tpch.nation",
    // INSERT.
    "INSERT INTO ptypes.t (i4, n, d) VALUES ($1, $2, $3)",
    "INSERT INTO ptypes.t (i8, s, tz, b) VALUES ($1, $2, $3, $4)",
    "INSERT INTO ptypes.t (i4, s) SELECT $1, $2",
];

/// What Parse/Describe tells of a statement, in one line:
/// `($1 type, …) -> name type, …`, or the error.
async fn describe(client: &Client, sql: &str) -> String {
    match client.prepare(sql).await {
        Ok(st) => {
            let params: Vec<&str> = st.params().iter().map(|t| t.name()).collect();
            let columns: Vec<String> = st
                .columns()
                .iter()
                .map(|c| format!("{} {}", c.name(), c.type_().name()))
                .collect();
            format!("({}) -> {}", params.join(", "), columns.join(", "))
        }
        Err(e) => format!("error {}", common::sqlstate(&e)),
    }
}

/// The PostgreSQL type, with its modifier, of a column Weir describes.
fn pg_column_type(c: &tokio_postgres::Column) -> String {
    let name = c.type_().name().to_owned();
    let typmod = c.type_modifier();
    match name.as_str() {
        "numeric" if typmod >= 4 => {
            let t = typmod - 4;
            format!("numeric({},{})", t >> 16, t & 0xffff)
        }
        "varchar" | "bpchar" if typmod >= 4 => format!("{name}({})", typmod - 4),
        _ => name,
    }
}

/// The listed differences of `docs/parameter-types.md`: statement →
/// (PostgreSQL's description, Weir's).
fn listed() -> BTreeMap<String, (String, String)> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/parameter-types.md"
    ))
    .expect("docs/parameter-types.md");
    let cell = |s: &str| s.trim().trim_matches('`').replace("\\|", "|");
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            assert!(cells.len() >= 4, "a row of four cells: {l}");
            (cell(cells[0]), (cell(cells[1]), cell(cells[2])))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_and_result_types_match_postgresql() {
    assert!(CORPUS.len() >= 60);
    let s = TestServer::start().await;
    let weir = s.client().await;
    weir.batch_execute(&format!("CREATE SCHEMA lake.ptypes; {PTYPES}"))
        .await
        .unwrap();

    let (db, mut admin) = common::create_pg_database("weir_ptypes").await;
    let (pg, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port=5432 user=postgres dbname={db}"),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // The same tables in PostgreSQL, with the types Weir announces.
    for table in TABLES {
        let st = weir
            .prepare(&format!("SELECT * FROM {table}"))
            .await
            .unwrap();
        let columns: Vec<String> = st
            .columns()
            .iter()
            .map(|c| format!("\"{}\" {}", c.name(), pg_column_type(c)))
            .collect();
        let (schema, _) = table.split_once('.').unwrap();
        pg.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE {table} ({})",
            columns.join(", ")
        ))
        .await
        .unwrap();
    }

    let listed = listed();
    let mut failures = Vec::new();
    for sql in CORPUS {
        let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let want = describe(&pg, &sql).await;
        assert!(
            !want.starts_with("error"),
            "PostgreSQL refuses a corpus statement: {sql}: {want}"
        );
        let got = describe(&weir, &sql).await;
        match listed.get(&sql) {
            None if got != want => {
                failures.push(format!("{sql}\n  PostgreSQL: {want}\n  Weir:       {got}"))
            }
            Some((pg_listed, weir_listed)) if (pg_listed, weir_listed) != (&want, &got) => failures
                .push(format!(
                    "{sql}\n  PostgreSQL: {want}\n  Weir:       {got}\n  \
                     docs/parameter-types.md lists: {pg_listed} / {weir_listed}"
                )),
            _ => {}
        }
    }
    let unknown: Vec<&String> = listed
        .keys()
        .filter(|k| {
            !CORPUS
                .iter()
                .any(|c| &c.split_whitespace().collect::<Vec<_>>().join(" ") == *k)
        })
        .collect();

    drop(pg);
    use sqlx::Executor;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
    assert!(
        unknown.is_empty(),
        "docs/parameter-types.md lists statements the corpus does not have: {unknown:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} statements differ from PostgreSQL as docs/parameter-types.md does not say:\n{}",
        failures.len(),
        CORPUS.len(),
        failures.join("\n")
    );
}
