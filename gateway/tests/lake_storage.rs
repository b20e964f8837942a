//! The lakehouse on each kind of storage: a local directory and a real
//! S3-protocol server (moto_server, from the test virtualenv) on loopback,
//! with Weir configured with an endpoint, path-style addressing and keys.
//! The same statements and the same faults run on both: CREATE TABLE AS,
//! INSERT, pruning, time travel, external tables; data files deleted or
//! corrupted behind Weir's back, a CSV with a bad row. Then what only S3
//! has: a bucket that does not exist, missing credentials, an endpoint
//! that goes down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::lake::{S3Server, TestLake};
use common::{count, message, sqlstate, texts, WeirProcess};

/// Weir on `lake`, in a fresh data directory.
fn weir_on(lake: &TestLake, dir: tempfile::TempDir) -> WeirProcess {
    WeirProcess::spawn_in(dir, &lake.config())
}

fn local_lake() -> (TestLake, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (TestLake::local(dir.path()), dir)
}

async fn round_trip(lake: TestLake, dir: tempfile::TempDir) {
    // A raw CSV file already on the lake.
    lake.put("raw/people/part-0.csv", b"id,name\n1,ada\n2,grace\n");
    let weir = weir_on(&lake, dir);
    let c = weir.client().await;
    c.batch_execute(
        "CREATE SCHEMA sales;
         CREATE TABLE sales.orders (id INT, day DATE, amount DOUBLE) PARTITIONED BY (day);
         INSERT INTO sales.orders VALUES (1, DATE '2026-01-01', 10.5), (2, DATE '2026-01-01', 1.0);
         INSERT INTO sales.orders VALUES (3, DATE '2026-01-02', 7.25);
         CREATE TABLE sales.big_orders AS SELECT * FROM sales.orders WHERE amount > 5;",
    )
    .await
    .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM sales.orders").await, 3);
    assert_eq!(count(&c, "SELECT count(*) FROM sales.big_orders").await, 2);
    let plan = texts(
        &c,
        "EXPLAIN SELECT * FROM sales.orders WHERE day = DATE '2026-01-02'",
    )
    .await
    .join("\n");
    assert!(plan.contains("files=1/2"), "{}: {plan}", lake.name());
    let first: i64 = c
        .query_one(
            "SELECT snapshot_id FROM sales.\"orders$snapshots\" ORDER BY committed_at LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM sales.\"orders@{first}\"")
        )
        .await,
        2
    );
    // The table's files are where the lake is, and only there.
    let keys = lake.list("sales/orders/");
    assert!(
        keys.iter().any(|k| k.ends_with(".metadata.json")),
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.ends_with(".parquet")).count(),
        2,
        "{keys:?}"
    );
    if let TestLake::S3(_) = lake {
        assert!(!weir.dir.path().join("data/lake/sales").exists());
    }

    c.batch_execute(&format!(
        "CREATE SCHEMA raw;
         CREATE EXTERNAL TABLE raw.people (id INT, name TEXT) STORED AS CSV
           LOCATION '{}';",
        lake.uri("raw/people/")
    ))
    .await
    .unwrap();
    assert_eq!(
        texts(&c, "SELECT name FROM raw.people ORDER BY id").await,
        vec!["ada", "grace"]
    );
    // Inferred schema from the same file, with a location relative to the lake.
    c.batch_execute("CREATE EXTERNAL TABLE raw.people_guess STORED AS CSV LOCATION 'raw/people/'")
        .await
        .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM raw.people_guess").await, 2);

    // JSON lines with nested values: inferred (structs, lists), and a
    // declared schema over the same file.
    lake.put(
        "raw/events/e.json",
        br#"{"id": 1, "user": {"name": "ada"}, "tags": ["x", "y"], "amount": 12}
{"id": 2, "user": {"name": "grace"}, "tags": [], "amount": "oops"}
"#,
    );
    c.batch_execute(
        "CREATE EXTERNAL TABLE raw.events STORED AS JSON LOCATION 'raw/events/';
         CREATE EXTERNAL TABLE raw.amounts (id INT, amount INT) STORED AS JSON LOCATION 'raw/events/';",
    )
    .await
    .unwrap();
    assert_eq!(
        texts(
            &c,
            "SELECT \"user\"['name'] || ':' || array_length(tags)::text FROM raw.events WHERE id = 1"
        )
        .await,
        vec!["ada:2"]
    );
    let e = c.query("SELECT * FROM raw.amounts", &[]).await.unwrap_err();
    let m = message(&e);
    assert!(
        m.contains("raw.amounts") && m.contains("raw/events/e.json"),
        "{m}"
    );
    assert_eq!(sqlstate(&e), "22P02", "{m}");
    assert!(m.contains("line 2"), "{m}");
    // The lenient policy on JSON: the same file, the bad value as NULL;
    // with the schema inferred, nested values still read.
    c.batch_execute(
        "CREATE EXTERNAL TABLE raw.amounts_lenient (id INT, amount INT) STORED AS JSON
           LOCATION 'raw/events/' OPTIONS ('bad_rows' 'null');
         CREATE EXTERNAL TABLE raw.events_lenient STORED AS JSON
           LOCATION 'raw/events/' OPTIONS ('bad_rows' 'null');",
    )
    .await
    .unwrap();
    let rows = c
        .query(
            "SELECT id, amount FROM raw.amounts_lenient ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i32, Option<i32>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(1, Some(12)), (2, None)], "{}", lake.name());
    assert_eq!(
        texts(
            &c,
            "SELECT \"user\"['name'] || ':' || array_length(tags)::text FROM raw.events_lenient ORDER BY id"
        )
        .await,
        vec!["ada:2".to_owned(), "grace:0".to_owned()]
    );
    // Every kind of misfit, in hive partition folders: a string where a
    // number belongs, a number or an object where text belongs (read as
    // its JSON text), a bad timestamp, a string or an object where a list
    // belongs, a line that is not JSON, one that is not an object, a
    // missing key; blank lines are not rows.
    lake.put(
        "raw/clicks/dt=2026-01-01/a.json",
        br#"{"id": 1, "amount": 12, "name": "ada", "at": "2026-01-01T10:00:00", "tags": ["x", "y"]}
{"id": 2, "amount": "oops", "name": 7, "at": "yesterday", "tags": "x"}

not json at all
"#,
    );
    lake.put(
        "raw/clicks/dt=2026-01-02/b.json",
        r#"{"id": 4, "amount": 3.5, "name": {"first": "o'brien \"q\" é"}, "tags": {"a": 1}}
[1, 2]
{"amount": "5", "id": 6, "extra": true, "tags": null}
"#
        .as_bytes(),
    );
    // A file outside the partition folders is not part of the table (as
    // in Hive and Spark).
    lake.put("raw/clicks/stray.json", br#"{"id": 99}"#);
    c.batch_execute(
        "CREATE EXTERNAL TABLE raw.clicks
           (id BIGINT, amount INT, name TEXT, at TIMESTAMP, tags TEXT[], dt DATE)
           STORED AS JSON PARTITIONED BY (dt) LOCATION 'raw/clicks/'
           OPTIONS ('bad_rows' 'null')",
    )
    .await
    .unwrap();
    let shown = "coalesce(id::text, '-') || '|' || coalesce(amount::text, '-') || '|' \
                 || coalesce(name, '-') || '|' || coalesce(at::text, '-') || '|' \
                 || coalesce(array_to_string(tags, ','), '-') || '|' || dt::text";
    assert_eq!(
        texts(
            &c,
            &format!("SELECT {shown} FROM raw.clicks ORDER BY dt, id NULLS LAST")
        )
        .await,
        vec![
            "1|12|ada|2026-01-01T10:00:00|x,y|2026-01-01",
            "2|-|7|-|-|2026-01-01",
            "-|-|-|-|-|2026-01-01",
            r#"4|-|{"first": "o'brien \"q\" é"}|-|-|2026-01-02"#,
            "6|5|-|-|-|2026-01-02",
            "-|-|-|-|-|2026-01-02",
        ],
        "{}",
        lake.name()
    );
    assert_eq!(count(&c, "SELECT count(*) FROM raw.clicks").await, 6);
    assert_eq!(
        texts(
            &c,
            "SELECT dt::text || ':' || count(*)::text FROM raw.clicks GROUP BY dt ORDER BY dt"
        )
        .await,
        vec!["2026-01-01:3", "2026-01-02:3"]
    );
    // The default policy over the same files fails on the first bad line;
    // a location inside a partition folder has no partition values, so no
    // files.
    c.batch_execute(
        "CREATE EXTERNAL TABLE raw.click_ids (id BIGINT, dt DATE)
           STORED AS JSON PARTITIONED BY (dt) LOCATION 'raw/clicks/';
         CREATE EXTERNAL TABLE raw.day_two (id BIGINT, dt DATE)
           STORED AS JSON PARTITIONED BY (dt) LOCATION 'raw/clicks/dt=2026-01-02/'",
    )
    .await
    .unwrap();
    let e = c
        .query("SELECT * FROM raw.click_ids", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22P02", "{e}");
    assert_eq!(count(&c, "SELECT count(*) FROM raw.day_two").await, 0);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM raw.clicks WHERE dt = DATE '2026-01-02' AND amount IS NULL"
        )
        .await,
        2
    );

    // An Iceberg table's data files are Parquet in hive-style folders:
    // readable as raw files too, partition column included.
    c.batch_execute(
        "CREATE EXTERNAL TABLE raw.order_files STORED AS PARQUET
           LOCATION 'sales/orders/data/' PARTITIONED BY (day)",
    )
    .await
    .unwrap();
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM raw.order_files WHERE day = '2026-01-01'"
        )
        .await,
        2
    );

    // SHOW TABLES lists Iceberg and external tables.
    let shown: Vec<String> = c
        .simple_query("SHOW TABLES")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some(format!("{}.{}", r.get(1)?, r.get(2)?))
            }
            _ => None,
        })
        .collect();
    for t in [
        "sales.orders",
        "sales.big_orders",
        "raw.people",
        "raw.events",
    ] {
        assert!(shown.iter().any(|s| s == t), "{t} in {shown:?}");
    }
    if let TestLake::S3(_) = lake {
        // Another bucket is not the lake.
        let e = c
            .batch_execute(
                "CREATE EXTERNAL TABLE raw.elsewhere (a INT) STORED AS CSV LOCATION 's3://other/x/'",
            )
            .await
            .unwrap_err();
        assert!(message(&e).contains("not on the lake"), "{e}");
    }
    // DROP deletes an Iceberg table's files, never an external table's.
    c.batch_execute("DROP SCHEMA sales CASCADE; DROP SCHEMA raw CASCADE")
        .await
        .unwrap();
    let left = lake.list("sales/orders/");
    assert!(
        !left.iter().any(|k| k.ends_with(".parquet")),
        "{}: {left:?}",
        lake.name()
    );
    assert_eq!(lake.list("raw/people/"), vec!["raw/people/part-0.csv"]);
}

#[tokio::test]
async fn the_lakehouse_works_on_a_local_directory() {
    let (lake, dir) = local_lake();
    round_trip(lake, dir).await;
}

#[tokio::test]
async fn the_lakehouse_works_on_s3() {
    round_trip(TestLake::s3(), tempfile::tempdir().unwrap()).await;
}

/// The data files of `schema.table`, as lake keys.
fn data_files(lake: &TestLake, table: &str) -> Vec<String> {
    lake.list(&format!("{}/data/", table.replace('.', "/")))
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .collect()
}

async fn faults(lake: TestLake, dir: tempfile::TempDir) {
    let weir = weir_on(&lake, dir);
    let c = weir.client().await;
    c.batch_execute(
        "CREATE SCHEMA f;
         CREATE TABLE f.gone (id INT);
         INSERT INTO f.gone VALUES (1);
         CREATE TABLE f.bad (id INT);
         INSERT INTO f.bad VALUES (1);
         CREATE TABLE f.fine AS SELECT 7 AS id;",
    )
    .await
    .unwrap();

    // A data file deleted under a live table: the error names table and file.
    let gone = data_files(&lake, "f.gone");
    assert_eq!(gone.len(), 1, "{gone:?}");
    lake.delete(&gone[0]);
    let e = c.query("SELECT * FROM f.gone", &[]).await.unwrap_err();
    let m = message(&e);
    assert_eq!(sqlstate(&e), "58P01", "{}: {m}", lake.name());
    assert!(m.contains("f.gone") && m.contains(&gone[0]), "{m}");
    assert!(m.contains("missing file"), "{m}");

    // A data file overwritten with bytes that are not Parquet.
    let bad = data_files(&lake, "f.bad");
    lake.put(&bad[0], b"this is not a parquet file, it is a sentence");
    let e = c.query("SELECT * FROM f.bad", &[]).await.unwrap_err();
    let m = message(&e);
    assert_eq!(sqlstate(&e), "XX001", "{}: {m}", lake.name());
    assert!(m.contains("f.bad") && m.contains(&bad[0]), "{m}");

    // A CSV with a bad row: the file and the line are named.
    lake.put("raw/ev/a.csv", b"id,at\n1,2026-01-01\n");
    lake.put("raw/ev/b.csv", b"id,at\n2,2026-01-02\nthree,2026-01-03\n");
    c.batch_execute(
        "CREATE EXTERNAL TABLE f.ev (id INT, at DATE) STORED AS CSV LOCATION 'raw/ev/'",
    )
    .await
    .unwrap();
    let e = c.query("SELECT * FROM f.ev", &[]).await.unwrap_err();
    let m = message(&e);
    assert_eq!(sqlstate(&e), "22P02", "{}: {m}", lake.name());
    assert!(m.contains("f.ev") && m.contains("raw/ev/b.csv"), "{m}");

    // Corrupt Parquet among raw files.
    lake.put(
        "raw/pq/x.parquet",
        b"PAR1 and then nothing that makes sense",
    );
    let e = c
        .batch_execute(
            "CREATE EXTERNAL TABLE f.pq (id INT) STORED AS PARQUET LOCATION 'raw/pq/';
             SELECT * FROM f.pq;",
        )
        .await
        .unwrap_err();
    let m = message(&e);
    assert!(m.contains("raw/pq/x.parquet"), "{}: {m}", lake.name());

    // Nothing else is affected: other tables read, writes still commit.
    assert_eq!(count(&c, "SELECT sum(id)::bigint FROM f.fine").await, 7);
    c.batch_execute("INSERT INTO f.fine VALUES (8)")
        .await
        .unwrap();
    assert_eq!(count(&c, "SELECT sum(id)::bigint FROM f.fine").await, 15);
}

#[tokio::test]
async fn missing_and_corrupt_files_are_named_on_a_local_directory() {
    let (lake, dir) = local_lake();
    faults(lake, dir).await;
}

#[tokio::test]
async fn missing_and_corrupt_files_are_named_on_s3() {
    faults(TestLake::s3(), tempfile::tempdir().unwrap()).await;
}

#[tokio::test]
async fn a_missing_bucket_is_named_and_leaves_no_table() {
    let s3 = S3Server::start();
    let weir = WeirProcess::spawn_in(
        tempfile::tempdir().unwrap(),
        &s3.config("s3://no-such-bucket/lake"),
    );
    let c = weir.client().await;
    c.batch_execute("CREATE SCHEMA s").await.unwrap();
    let e = c
        .batch_execute("CREATE TABLE s.t AS SELECT 1 AS x")
        .await
        .unwrap_err();
    let m = message(&e);
    assert!(m.contains("no-such-bucket"), "{m}");
    assert!(
        !m.contains("testing-secret"),
        "secrets never reach messages: {m}"
    );
    let e = c.query("SELECT * FROM s.t", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
    // The server keeps serving.
    assert_eq!(count(&c, "SELECT 1::bigint").await, 1);
}

#[tokio::test]
async fn missing_credentials_say_where_credentials_come_from() {
    let s3 = S3Server::start();
    assert_eq!(s3.exchange("PUT", "/lake", b"").0, 200);
    let weir = WeirProcess::spawn_in(
        tempfile::tempdir().unwrap(),
        &s3.config_without_keys("s3://lake/warehouse"),
    );
    let c = weir.client().await;
    c.batch_execute("CREATE SCHEMA s").await.unwrap();
    let started = Instant::now();
    let e = c
        .batch_execute("CREATE TABLE s.t AS SELECT 1 AS x")
        .await
        .unwrap_err();
    let m = message(&e);
    assert!(m.contains("no S3 credentials"), "{m}");
    assert!(m.contains("AWS_ACCESS_KEY_ID"), "{m}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "no waiting for a metadata service"
    );
    let e = c.query("SELECT * FROM s.t", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
}

#[tokio::test]
async fn an_endpoint_that_goes_down_fails_statements_not_the_server() {
    let lake = TestLake::s3();
    let weir = weir_on(&lake, tempfile::tempdir().unwrap());
    let c = weir.client().await;
    c.batch_execute(
        "CREATE SCHEMA s;
         CREATE TABLE s.t (id INT);
         INSERT INTO s.t VALUES (1), (2);",
    )
    .await
    .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM s.t").await, 2);
    drop(lake);
    let started = Instant::now();
    let e = c.query("SELECT * FROM s.t", &[]).await.unwrap_err();
    let m = message(&e);
    assert!(m.contains("s.t"), "the table is named: {m}");
    assert!(
        m.contains("s3://lake/warehouse/s/t/"),
        "the file is named: {m}"
    );
    assert_eq!(sqlstate(&e), "58030", "{m}");
    let e = c
        .batch_execute("INSERT INTO s.t VALUES (3)")
        .await
        .unwrap_err();
    let m = message(&e);
    assert!(m.contains("s.t"), "{m}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded retries, not minutes: {:?}",
        started.elapsed()
    );
    // Other sessions, and statements that do not touch the lake, go on.
    let other = weir.client().await;
    assert_eq!(count(&other, "SELECT 41::bigint + 1").await, 42);
}
