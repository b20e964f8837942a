//! The lakehouse through the wire: schemas, Iceberg tables (CREATE TABLE,
//! CREATE TABLE AS, INSERT, DROP), partition pruning in EXPLAIN, snapshots
//! and time travel, optimistic concurrent commits, external tables over
//! raw files, and what survives a restart or a `kill -9`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{count, message, sqlstate, texts, TestServer, WeirProcess};
use tokio_postgres::Client;

/// A schema name of this test process (tests share one catalog database).
fn schema(name: &str) -> String {
    format!("{name}_{}", std::process::id())
}

async fn explain(client: &Client, sql: &str) -> String {
    client
        .simple_query(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn schemas_tables_inserts_and_ctas_round_trip() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("ddl");
    c.batch_execute(&format!("CREATE SCHEMA {s}"))
        .await
        .unwrap();
    let e = c
        .batch_execute(&format!("CREATE SCHEMA {s}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P06", "{e}");
    c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
        .await
        .unwrap();

    c.batch_execute(&format!(
        "CREATE TABLE {s}.items (id BIGINT NOT NULL, name TEXT, price DECIMAL(10,2), added DATE)"
    ))
    .await
    .unwrap();
    let n = c
        .execute(
            &format!(
                "INSERT INTO {s}.items VALUES (1, 'bolt', 0.25, DATE '2026-01-01'), (2, 'nut', 0.10, DATE '2026-01-02')"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 2, "INSERT reports its row count");
    let n = c
        .execute(
            &format!("INSERT INTO {s}.items SELECT id + 10, name, price, added FROM {s}.items"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let rows = c
        .query(
            &format!("SELECT id, name, price::text FROM {s}.items ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i64, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "bolt".into(), "0.25".into()),
            (2, "nut".into(), "0.10".into()),
            (11, "bolt".into(), "0.25".into()),
            (12, "nut".into(), "0.10".into()),
        ]
    );
    // NOT NULL holds.
    let e = c
        .batch_execute(&format!(
            "INSERT INTO {s}.items VALUES (NULL, 'x', 1, NULL)"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "23502", "{e}");
    let e = c
        .batch_execute(&format!(
            "INSERT INTO {s}.items SELECT NULL::bigint AS id, 'x', 1, DATE '2026-01-01'"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "23502", "{e}");
    assert!(message(&e).contains("\"id\""), "{e}");

    // CREATE TABLE AS from a join of the demo data; the tag counts rows.
    let rows = c
        .simple_query(&format!(
            "CREATE TABLE {s}.nations AS SELECT n_nationkey AS id, n_name AS nation, r_name AS region
             FROM tpch.nation JOIN tpch.region ON n_regionkey = r_regionkey"
        ))
        .await
        .unwrap();
    let tag = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .unwrap();
    assert_eq!(tag, 25);
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.nations")).await,
        25
    );
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM {s}.nations WHERE region = 'EUROPE'")
        )
        .await,
        5
    );

    // Listed where clients look.
    assert_eq!(
        texts(
            &c,
            &format!("SELECT table_name::text FROM information_schema.tables WHERE table_schema = '{s}' ORDER BY 1")
        )
        .await,
        vec!["items", "nations"]
    );

    // Errors name what is wrong.
    let e = c
        .batch_execute(&format!("CREATE TABLE {s}.items (a INT)"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P07", "{e}");
    assert!(message(&e).contains("items"), "{e}");
    let e = c
        .batch_execute("CREATE TABLE no_such_schema_x.t (a INT)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "3F000", "{e}");
    let e = c
        .batch_execute(&format!("DROP SCHEMA {s}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "2BP01", "{e}");
    assert!(message(&e).contains("items"), "{e}");
    let e = c
        .batch_execute(&format!("DROP TABLE {s}.nope"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
    let e = c
        .batch_execute(&format!("UPDATE {s}.items SET name = 'x'"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "0A000", "{e}");

    c.batch_execute(&format!("DROP TABLE {s}.items"))
        .await
        .unwrap();
    let e = c
        .query(&format!("SELECT * FROM {s}.items"), &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
    c.batch_execute(&format!("DROP TABLE IF EXISTS {s}.items"))
        .await
        .unwrap();
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
    let e = c
        .query(&format!("SELECT * FROM {s}.nations"), &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
}

#[tokio::test]
async fn partitioned_tables_prune_files_and_explain_says_how_many() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("part");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s};
         CREATE TABLE {s}.events (id INT, kind TEXT, ts TIMESTAMP) PARTITIONED BY (day(ts), kind);
         INSERT INTO {s}.events VALUES (1, 'a', TIMESTAMP '2026-01-01 10:00:00'), (2, 'b', TIMESTAMP '2026-01-01 11:00:00');
         INSERT INTO {s}.events VALUES (3, 'a', TIMESTAMP '2026-01-02 10:00:00');
         INSERT INTO {s}.events VALUES (4, 'a', TIMESTAMP '2026-01-03 10:00:00'), (5, 'a', TIMESTAMP '2026-01-03 12:00:00');"
    ))
    .await
    .unwrap();
    let plan = explain(
        &c,
        &format!("SELECT * FROM {s}.events WHERE ts >= TIMESTAMP '2026-01-03 00:00:00'"),
    )
    .await;
    assert!(plan.contains("files=1/4"), "{plan}");
    let plan = explain(&c, &format!("SELECT * FROM {s}.events WHERE kind = 'b'")).await;
    assert!(plan.contains("files=1/4"), "{plan}");
    let plan = explain(&c, &format!("SELECT * FROM {s}.events")).await;
    assert!(plan.contains("files=4/4"), "{plan}");
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM {s}.events WHERE ts >= TIMESTAMP '2026-01-03 00:00:00'")
        )
        .await,
        2
    );

    // Min/max statistics prune unpartitioned tables too.
    c.batch_execute(&format!(
        "CREATE TABLE {s}.plain (id INT);
         INSERT INTO {s}.plain VALUES (1), (2);
         INSERT INTO {s}.plain VALUES (100), (200);"
    ))
    .await
    .unwrap();
    let plan = explain(&c, &format!("SELECT * FROM {s}.plain WHERE id > 50")).await;
    assert!(plan.contains("files=1/2"), "{plan}");
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.plain WHERE id > 50")).await,
        2
    );

    // Rows from NOT NULL sources (demo Parquet, literals) into a
    // partitioned table, by CREATE TABLE AS and by INSERT ... SELECT.
    c.batch_execute(&format!(
        "CREATE TABLE {s}.nations PARTITIONED BY (region) AS
           SELECT n_name AS nation, r_name AS region
           FROM tpch.nation JOIN tpch.region ON n_regionkey = r_regionkey;
         INSERT INTO {s}.nations SELECT 'ATLANTIS', 'OCEAN';
         INSERT INTO {s}.events SELECT 6, 'c', TIMESTAMP '2026-01-04 00:00:00';"
    ))
    .await
    .unwrap();
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.nations")).await,
        26
    );
    let plan = explain(
        &c,
        &format!("SELECT * FROM {s}.nations WHERE region = 'ASIA'"),
    )
    .await;
    assert!(plan.contains("files=1/"), "{plan}");
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.events")).await,
        6
    );

    let e = c
        .batch_execute(&format!(
            "CREATE TABLE {s}.bad (a INT) PARTITIONED BY (day(nope))"
        ))
        .await
        .unwrap_err();
    assert!(message(&e).contains("nope"), "{e}");
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_partition_transform_is_written_and_pruned() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("transforms");
    c.batch_execute(&format!("CREATE SCHEMA {s}"))
        .await
        .unwrap();
    // (transform, its folder name, a filter that keeps one partition of two)
    let cases = [
        ("year(d)", "d_year=", "d >= DATE '2026-01-01'"),
        ("month(d)", "d_month=", "d < DATE '2025-07-01'"),
        ("day(d)", "d_day=", "d = DATE '2025-06-30'"),
        (
            "hour(ts)",
            "ts_hour=",
            "ts >= TIMESTAMP '2025-06-30 11:00:00'",
        ),
        // Iceberg's bucket hash puts 1 in bucket 4 of 8, and 3 in bucket 3.
        ("bucket(8, id)", "id_bucket=", "id = 1"),
        ("truncate(3, name)", "name_trunc=", "name = 'abcdef'"),
        ("id", "id=", "id = 3"),
    ];
    for (i, (transform, folder, filter)) in cases.iter().enumerate() {
        let t = format!("{s}.t{i}");
        // Both rows in one INSERT: one file per partition, so only the
        // partition split them.
        c.batch_execute(&format!(
            "CREATE TABLE {t} (id INT, name TEXT, d DATE, ts TIMESTAMP) PARTITIONED BY ({transform});
             INSERT INTO {t} VALUES
               (1, 'abcdef', DATE '2025-06-30', TIMESTAMP '2025-06-30 10:15:00'),
               (3, 'xyz', DATE '2026-01-02', TIMESTAMP '2025-06-30 11:45:00')"
        ))
        .await
        .unwrap();
        let dir = server_lake_dir().join(&s).join(format!("t{i}"));
        let folders = folders_under(&dir);
        assert!(
            folders.iter().filter(|f| f.starts_with(folder)).count() == 2,
            "{transform}: {folders:?}"
        );
        let sql = format!("SELECT id FROM {t} WHERE {filter}");
        let plan = explain(&c, &sql).await;
        assert!(plan.contains("files=1/2"), "{transform}: {plan}");
        assert_eq!(
            texts(&c, &format!("SELECT id::text FROM ({sql}) q"))
                .await
                .len(),
            1,
            "{sql}"
        );
    }
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

/// The lake directory of `TestServer`s.
fn server_lake_dir() -> std::path::PathBuf {
    common::data_dir().join("lake")
}

/// The names of every directory under `dir`.
fn folders_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                out.push(entry.file_name().to_string_lossy().into_owned());
                stack.push(entry.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn snapshots_are_listed_and_time_travel_reads_them() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("tt");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s}; CREATE TABLE {s}.t (v INT); INSERT INTO {s}.t VALUES (1);"
    ))
    .await
    .unwrap();
    let first: i64 = c
        .query_one(&format!("SELECT snapshot_id FROM {s}.\"t$snapshots\""), &[])
        .await
        .unwrap()
        .get(0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now().naive_utc();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    c.batch_execute(&format!("INSERT INTO {s}.t VALUES (2), (3)"))
        .await
        .unwrap();
    let snapshots = c
        .query(
            &format!(
                "SELECT snapshot_id, operation FROM {s}.\"t$snapshots\" ORDER BY committed_at"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(snapshots.len(), 2);
    assert_eq!(snapshots[0].get::<_, i64>(0), first);
    assert_eq!(snapshots[1].get::<_, String>(1), "append");

    assert_eq!(count(&c, &format!("SELECT count(*) FROM {s}.t")).await, 3);
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.\"t@{first}\"")).await,
        1
    );
    let at = between.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.\"t@{at}\"")).await,
        1
    );
    // With an offset (ISO 8601 too): the same instant written elsewhere.
    let plus_two = (between + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%S%.3f+02:00")
        .to_string();
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.\"t@{plus_two}\"")).await,
        1
    );
    // The same wall-clock time at -05:00 is five hours later: both commits.
    let minus_five = format!("{at}-05:00");
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.\"t@{minus_five}\"")).await,
        3
    );
    // $manifests: the current snapshot's manifests, one per append.
    let manifests = c
        .query(&format!("SELECT * FROM {s}.\"t$manifests\""), &[])
        .await
        .unwrap();
    assert_eq!(manifests.len(), 2);
    let columns: Vec<&str> = manifests[0].columns().iter().map(|c| c.name()).collect();
    for name in ["path", "added_snapshot_id", "added_data_files_count"] {
        assert!(columns.contains(&name), "{columns:?}");
    }
    assert_eq!(
        count(
            &c,
            &format!("SELECT sum(added_data_files_count)::bigint FROM {s}.\"t$manifests\"")
        )
        .await,
        2
    );
    // A write commits on its own: ROLLBACK does not undo it.
    c.batch_execute(&format!("BEGIN; INSERT INTO {s}.t VALUES (4); ROLLBACK"))
        .await
        .unwrap();
    assert_eq!(count(&c, &format!("SELECT count(*) FROM {s}.t")).await, 4);
    let e = c
        .query(&format!("SELECT * FROM {s}.\"t@12345\""), &[])
        .await
        .unwrap_err();
    assert!(message(&e).contains("no snapshot 12345"), "{e}");
    let e = c
        .batch_execute(&format!("INSERT INTO {s}.\"t@{first}\" VALUES (9)"))
        .await
        .unwrap_err();
    assert!(message(&e).contains("past snapshot"), "{e}");
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_inserts_from_eight_sessions_all_land() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("conc");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s}; CREATE TABLE {s}.t (session INT, n INT)"
    ))
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for session in 0..8i32 {
        let client = server.client().await;
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..50i32 {
                let sql = format!("INSERT INTO {s}.t VALUES ({session}, {n})");
                assert_eq!(client.execute(&sql, &[]).await.unwrap(), 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count(&c, &format!("SELECT count(*) FROM {s}.t")).await, 400);
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(DISTINCT (session, n)) FROM {s}.t")
        )
        .await,
        400
    );
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.\"t$snapshots\"")).await,
        400,
        "one snapshot per INSERT"
    );
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_create_table_as_leaves_no_table() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("fail");
    c.batch_execute(&format!("CREATE SCHEMA {s}"))
        .await
        .unwrap();
    // Fails at run time, after rows have been written.
    let e = c
        .batch_execute(&format!(
            "CREATE TABLE {s}.t AS SELECT 10 / (n_nationkey - 20) AS x FROM tpch.nation"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22012", "{e}");
    let e = c
        .query(&format!("SELECT * FROM {s}.t"), &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
    // Cancelled by statement_timeout: no table either.
    c.batch_execute("SET statement_timeout = 300")
        .await
        .unwrap();
    let e = c
        .batch_execute(&format!(
            "CREATE TABLE {s}.slow AS SELECT a.l_orderkey FROM tpch.lineitem a CROSS JOIN tpch.lineitem b"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "57014", "{e}");
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    let e = c
        .query(&format!("SELECT * FROM {s}.slow"), &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
    // The name is free: the real one works.
    c.batch_execute(&format!("CREATE TABLE {s}.t AS SELECT 1 AS x"))
        .await
        .unwrap();
    assert_eq!(count(&c, &format!("SELECT count(*) FROM {s}.t")).await, 1);
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn kill_9_during_create_table_as_leaves_no_table_and_tables_survive_restarts() {
    let weir = WeirProcess::spawn();
    let c = weir.client().await;
    c.batch_execute(
        "CREATE SCHEMA k;
         CREATE TABLE k.kept AS SELECT * FROM (VALUES (1, 'one'), (2, 'two')) AS v(id, name);",
    )
    .await
    .unwrap();
    // A CREATE TABLE AS that writes for a long time.
    let big = tokio::spawn(async move {
        c.batch_execute(
            "CREATE TABLE k.big AS SELECT a.value AS x, b.value AS y FROM range(100000) a CROSS JOIN range(100000) b",
        )
        .await
    });
    // Wait until data files are being written, then kill -9.
    let data = weir.dir.path().join("data/lake/k/big/data");
    for _ in 0..200 {
        if std::fs::read_dir(&data)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(data.exists(), "the CREATE TABLE AS never started writing");
    let dir = weir.kill9();
    assert!(
        big.await.unwrap().is_err(),
        "the client sees its connection die"
    );

    let weir = WeirProcess::spawn_in(dir, "");
    let c = weir.client().await;
    let e = c.query("SELECT * FROM k.big", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{e}");
    let rows = c
        .query("SELECT id, name FROM k.kept ORDER BY id", &[])
        .await
        .unwrap();
    let got: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(1, "one".into()), (2, "two".into())]);
}

/// External tables show the planner their scans' statistics and pass down
/// the filters hash joins make from their build side: the small side of a
/// join is the one built, and the big side's scan is filtered by its keys.
/// (A wrapper that hid both made TPC-H Q21 build gigabytes at SF 1.)
#[tokio::test]
async fn joins_over_external_tables_build_the_small_side_and_filter_the_big_one() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let plan = explain(
        &c,
        "SELECT count(*) FROM tpch.lineitem l JOIN tpch.nation n ON l.l_suppkey = n.n_nationkey",
    )
    .await;
    let at = |table: &str| {
        plan.find(&format!("ExternalTable: lake.tpch.{table}"))
            .unwrap_or_else(|| panic!("{table} in:\n{plan}"))
    };
    assert!(plan.contains("HashJoinExec: mode=CollectLeft"), "{plan}");
    assert!(at("nation") < at("lineitem"), "nation is built:\n{plan}");
    assert!(
        plan.contains("DynamicFilter"),
        "lineitem's scan is filtered:\n{plan}"
    );
    let n = count(
        &c,
        "SELECT count(*) FROM tpch.lineitem l JOIN tpch.nation n ON l.l_suppkey = n.n_nationkey",
    )
    .await;
    let expected = count(
        &c,
        "SELECT count(*) FROM tpch.lineitem WHERE l_suppkey BETWEEN 0 AND 24",
    )
    .await;
    assert!(expected > 0);
    assert_eq!(n, expected);
}

#[tokio::test]
async fn external_tables_read_raw_files_with_their_declared_schemas() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("raw");
    let dir = common::data_dir()
        .join("lake")
        .join(&s)
        .join("files")
        .join("events");
    for (day, body) in [
        ("dt=2026-01-01", "id,name,amount\n1,alpha,10\n2,beta,oops\n"),
        ("dt=2026-01-02", "id,name,amount\n3,gamma,30\n"),
    ] {
        std::fs::create_dir_all(dir.join(day)).unwrap();
        std::fs::write(dir.join(day).join("part.csv"), body).unwrap();
    }
    let location = format!("{s}/files/events/");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s};
         CREATE EXTERNAL TABLE {s}.events (id INT, name TEXT, amount INT, dt DATE)
           STORED AS CSV PARTITIONED BY (dt) LOCATION '{location}';
         CREATE EXTERNAL TABLE {s}.events_text (id TEXT, name TEXT, amount TEXT)
           STORED AS CSV LOCATION '{location}';
         CREATE EXTERNAL TABLE {s}.events_lenient (id INT, name TEXT, amount INT)
           STORED AS CSV LOCATION '{location}' OPTIONS ('bad_rows' 'null');"
    ))
    .await
    .unwrap();
    // Default policy: the bad field fails the query, naming the line.
    let e = c
        .query(&format!("SELECT * FROM {s}.events"), &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22P02", "{e}");
    assert!(
        message(&e).contains("oops") && message(&e).contains("line"),
        "{e}"
    );
    // The same files, another schema: every field as text.
    let rows = c
        .query(
            &format!("SELECT id, amount FROM {s}.events_text ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![
            ("1".into(), "10".into()),
            ("2".into(), "oops".into()),
            ("3".into(), "30".into())
        ]
    );
    // Lenient policy: NULL for the bad field, the rest of the row kept.
    let rows = c
        .query(
            &format!("SELECT id, name, amount FROM {s}.events_lenient ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i32, String, Option<i32>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "alpha".into(), Some(10)),
            (2, "beta".into(), None),
            (3, "gamma".into(), Some(30))
        ]
    );
    // Partition folders prune and become a column.
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM {s}.events WHERE dt = DATE '2026-01-02'")
        )
        .await,
        1
    );
    // Registrations persist: a second server on the same catalog sees them.
    let other = TestServer::start().await;
    let c2 = other.client().await;
    assert_eq!(
        count(&c2, &format!("SELECT count(*) FROM {s}.events_text")).await,
        3
    );
    // Bad registrations are refused up front.
    let e = c
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE {s}.x (a INT) STORED AS CSV LOCATION '{location}' OPTIONS ('bad_rows' 'maybe')"
        ))
        .await
        .unwrap_err();
    assert!(message(&e).contains("bad_rows"), "{e}");
    let e = c
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE {s}.x (a INT) STORED AS CSV LOCATION 's3://elsewhere/x/'"
        ))
        .await
        .unwrap_err();
    assert!(message(&e).contains("not on the lake"), "{e}");
    // Dropping a registration never deletes the files.
    c.batch_execute(&format!("DROP TABLE {s}.events_text"))
        .await
        .unwrap();
    assert!(dir.join("dt=2026-01-02/part.csv").exists());
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
    assert!(dir.join("dt=2026-01-01/part.csv").exists());
}

/// Run the PyIceberg helper against a Weir data directory.
fn pyiceberg(data: &std::path::Path, command: &str, table: &str) -> serde_json::Value {
    let python = std::env::var("WEIR_TEST_PYTHON")
        .expect("WEIR_TEST_PYTHON: run scripts/test, which installs PyIceberg into a virtualenv");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/iceberg_interop.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(data.join("catalog.db"))
        .arg(format!("file://{}", data.join("lake").display()))
        .args([command, table])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyiceberg {command} {table}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn pyiceberg_reads_what_weir_writes_and_weir_reads_what_pyiceberg_writes() {
    let weir = WeirProcess::spawn();
    let data = weir.dir.path().join("data");
    let c = weir.client().await;
    c.batch_execute(
        "CREATE SCHEMA shared;
         CREATE TABLE shared.orders (id BIGINT NOT NULL, customer TEXT, total DECIMAL(12,2), placed DATE, at TIMESTAMP)
           PARTITIONED BY (month(placed));
         INSERT INTO shared.orders VALUES
           (1, 'ana', 12.50, DATE '2026-01-15', TIMESTAMP '2026-01-15 10:00:00'),
           (2, 'bo', 7.00, DATE '2026-02-01', NULL);
         INSERT INTO shared.orders VALUES (3, NULL, 100.25, DATE '2026-02-03', TIMESTAMP '2026-02-03 23:59:59.5');",
    )
    .await
    .unwrap();
    let read = pyiceberg(&data, "read", "shared.orders");
    assert_eq!(
        read["schema"],
        serde_json::json!([
            ["id", "long", true],
            ["customer", "string", false],
            ["total", "decimal(12, 2)", false],
            ["placed", "date", false],
            ["at", "timestamp", false]
        ])
    );
    assert_eq!(
        read["rows"],
        serde_json::json!([
            ["1", "ana", "12.50", "2026-01-15", "2026-01-15 10:00:00"],
            ["2", "bo", "7.00", "2026-02-01", null],
            [
                "3",
                null,
                "100.25",
                "2026-02-03",
                "2026-02-03 23:59:59.500000"
            ]
        ])
    );
    assert_eq!(read["snapshots"], 2);

    let written = pyiceberg(&data, "write", "pyside.cities");
    assert_eq!(written["written"], 3);
    let rows = c
        .query(
            "SELECT id, city, price::text, seen, day::text FROM pyside.cities ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    type Row = (i64, Option<String>, String, Option<String>, String);
    let got: Vec<Row> = rows
        .iter()
        .map(|r| {
            let seen: Option<chrono::NaiveDateTime> = r.get(3);
            let seen = seen.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
            (r.get(0), r.get(1), r.get(2), seen, r.get(4))
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                1,
                Some("Lisboa".into()),
                "1.50".into(),
                Some("2026-01-01 12:00:00".into()),
                "2026-01-01".into()
            ),
            (
                2,
                Some("Zürich".into()),
                "20.00".into(),
                None,
                "2026-02-01".into()
            ),
            (
                3,
                None,
                "-3.25".into(),
                Some("2026-03-04 05:06:07".into()),
                "2026-03-01".into()
            ),
        ]
    );
    // And Weir can append to PyIceberg's table; PyIceberg sees it.
    c.batch_execute("INSERT INTO pyside.cities VALUES (4, 'Oslo', 9.99, NULL, DATE '2026-04-01')")
        .await
        .unwrap();
    let read = pyiceberg(&data, "read", "pyside.cities");
    assert_eq!(read["rows"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn alter_table_evolves_the_schema_and_old_files_stay_readable() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("alter");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s};
         CREATE TABLE {s}.t (id INT, name TEXT, obsolete TEXT);
         INSERT INTO {s}.t VALUES (1, 'one', 'x');
         ALTER TABLE {s}.t ADD COLUMN score DOUBLE;
         INSERT INTO {s}.t VALUES (2, 'two', 'y', 2.5);
         ALTER TABLE {s}.t RENAME COLUMN name TO label;
         ALTER TABLE {s}.t DROP COLUMN obsolete;
         INSERT INTO {s}.t VALUES (3, 'three', 3.5);"
    ))
    .await
    .unwrap();
    let rows = c
        .query(&format!("SELECT * FROM {s}.t ORDER BY id"), &[])
        .await
        .unwrap();
    let columns: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(columns, vec!["id", "label", "score"]);
    let got: Vec<(i32, String, Option<f64>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "one".into(), None),
            (2, "two".into(), Some(2.5)),
            (3, "three".into(), Some(3.5))
        ]
    );
    // The first snapshot still reads with its own schema.
    let first: i64 = c
        .query_one(
            &format!("SELECT snapshot_id FROM {s}.\"t$snapshots\" ORDER BY committed_at LIMIT 1"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let old = c
        .query(&format!("SELECT * FROM {s}.\"t@{first}\""), &[])
        .await
        .unwrap();
    let columns: Vec<&str> = old[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(columns, vec!["id", "name", "obsolete"]);

    for (sql, code) in [
        (format!("ALTER TABLE {s}.t ADD COLUMN label TEXT"), "42701"),
        (format!("ALTER TABLE {s}.t DROP COLUMN nope"), "42703"),
        (
            format!("ALTER TABLE {s}.t RENAME COLUMN nope TO x"),
            "42703",
        ),
        (format!("ALTER TABLE {s}.missing ADD COLUMN x INT"), "42P01"),
        (
            format!("ALTER TABLE {s}.t ALTER COLUMN id TYPE BIGINT"),
            "0A000",
        ),
    ] {
        let e = c.batch_execute(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&e), code, "{sql}: {e}");
    }
    c.batch_execute(&format!(
        "ALTER TABLE {s}.t ADD COLUMN IF NOT EXISTS label TEXT"
    ))
    .await
    .unwrap();
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn prepared_statements_read_the_latest_snapshot() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let other = server.client().await;
    let s = schema("prep");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s}; CREATE TABLE {s}.t (v INT); INSERT INTO {s}.t VALUES (1);"
    ))
    .await
    .unwrap();
    let count = c
        .prepare(&format!("SELECT count(*) FROM {s}.t WHERE v > $1"))
        .await
        .unwrap();
    let n: i64 = c.query_one(&count, &[&0i32]).await.unwrap().get(0);
    assert_eq!(n, 1);
    other
        .batch_execute(&format!("INSERT INTO {s}.t VALUES (2), (3)"))
        .await
        .unwrap();
    for _ in 0..2 {
        let n: i64 = c.query_one(&count, &[&0i32]).await.unwrap().get(0);
        assert_eq!(
            n, 3,
            "a prepared statement sees commits made after it was prepared"
        );
    }
    // Columns changed underneath it: a clear error, not wrong columns.
    other
        .batch_execute(&format!("ALTER TABLE {s}.t ADD COLUMN w INT"))
        .await
        .unwrap();
    let star = c.prepare(&format!("SELECT * FROM {s}.t")).await.unwrap();
    assert_eq!(c.query(&star, &[]).await.unwrap()[0].len(), 2);
    other
        .batch_execute(&format!("ALTER TABLE {s}.t DROP COLUMN w"))
        .await
        .unwrap();
    let e = c.query(&star, &[]).await.unwrap_err();
    assert!(message(&e).contains("prepare it again"), "{e}");
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

/// Exactly one of two results is Ok; the other's SQLSTATE is `code`.
fn one_wins(results: [Result<(), tokio_postgres::Error>; 2], code: &str, names: &str) {
    let errors: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    assert_eq!(errors.len(), 1, "exactly one wins: {errors:?}");
    assert_eq!(sqlstate(&errors[0]), code, "{}", errors[0]);
    assert!(message(&errors[0]).contains(names), "{}", errors[0]);
}

#[tokio::test]
async fn concurrent_schema_changes_from_two_servers_conflict_cleanly() {
    // Two servers on one catalog database: no lock in common, only the
    // catalog's compare-and-swap of the metadata pointer.
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let ca = a.client().await;
    let cb = b.client().await;
    let s = schema("evolve");
    ca.batch_execute(&format!(
        "CREATE SCHEMA {s}; CREATE TABLE {s}.t (id INT, note TEXT);
         INSERT INTO {s}.t VALUES (0, 'zero')"
    ))
    .await
    .unwrap();

    // Both add the same column at once: one wins, the other is told.
    let add = format!("ALTER TABLE {s}.t ADD COLUMN extra INT");
    let (ra, rb) = tokio::join!(ca.batch_execute(&add), cb.batch_execute(&add));
    one_wins([ra, rb], "42701", "extra");
    // One drops a column while the other renames it.
    let drop = format!("ALTER TABLE {s}.t DROP COLUMN note");
    let rename = format!("ALTER TABLE {s}.t RENAME COLUMN note TO remark");
    let (ra, rb) = tokio::join!(ca.batch_execute(&drop), cb.batch_execute(&rename));
    one_wins([ra, rb], "42703", "note");

    // INSERTs through one server while the other changes the schema:
    // every row lands, and reads see the newest schema.
    let inserter = {
        let s = s.clone();
        tokio::spawn(async move {
            for n in 1..=20i32 {
                cb.execute(&format!("INSERT INTO {s}.t (id) VALUES ({n})"), &[])
                    .await
                    .unwrap();
            }
        })
    };
    for i in 0..3 {
        ca.batch_execute(&format!("ALTER TABLE {s}.t ADD COLUMN c{i} INT"))
            .await
            .unwrap();
    }
    inserter.await.unwrap();
    assert_eq!(count(&ca, &format!("SELECT count(*) FROM {s}.t")).await, 21);
    assert_eq!(
        count(&ca, &format!("SELECT count(*) FROM {s}.t WHERE c2 IS NULL")).await,
        21
    );
    ca.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

/// A client of the PostgreSQL server on 127.0.0.1:5432 (the stand-in for a
/// shared catalog database).
async fn postgres(db: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port=5432 user=postgres dbname={db}"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

#[tokio::test]
async fn a_postgres_catalog_is_shared_and_a_failure_mid_commit_keeps_the_files() {
    let (db, _) = common::create_pg_database("weir_catalog").await;
    let admin = postgres("postgres").await;
    let lake = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(lake.path().join("raw")).unwrap();
    std::fs::write(lake.path().join("raw/a.csv"), "a\n1\n").unwrap();
    let configure = |c: &mut weir_gateway::config::Config| {
        c.lake.catalog_url = Some(format!("postgres://postgres@127.0.0.1:5432/{db}"));
        c.lake.location = Some(lake.path().display().to_string());
    };
    let server = TestServer::start_with(configure).await;
    let c = server.client().await;
    c.batch_execute(
        "CREATE SCHEMA pgcat; CREATE TABLE pgcat.t (id INT); INSERT INTO pgcat.t VALUES (1);
         CREATE EXTERNAL TABLE pgcat.raw (a INT) STORED AS CSV LOCATION 'raw/'",
    )
    .await
    .unwrap();
    // The catalog lives in PostgreSQL, and a second server shares it.
    let catalog = postgres(&db).await;
    let rows: i64 = catalog
        .query_one(
            "SELECT count(*) FROM iceberg_tables WHERE table_namespace = 'pgcat'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    let other = TestServer::start_with(configure).await;
    let oc = other.client().await;
    assert_eq!(count(&oc, "SELECT count(*) FROM pgcat.t").await, 1);
    assert_eq!(
        texts(
            &oc,
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'pgcat' ORDER BY 1"
        )
        .await,
        vec!["raw", "t"]
    );

    // The catalog database drops the connection in the middle of the
    // commit's UPDATE of the metadata pointer.
    catalog
        .batch_execute(
            "CREATE FUNCTION weir_drop_connection() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); RETURN NEW; END $$;
             CREATE TRIGGER weir_fail BEFORE UPDATE ON iceberg_tables
               FOR EACH ROW EXECUTE FUNCTION weir_drop_connection();",
        )
        .await
        .unwrap();
    let table_dir = lake.path().join("pgcat/t");
    let before = files_named(&table_dir, "", ".parquet");
    let e = c
        .batch_execute("INSERT INTO pgcat.t VALUES (2)")
        .await
        .unwrap_err();
    let m = message(&e);
    assert!(m.contains("pgcat.t"), "the table is named: {m}");
    assert!(
        m.contains("nothing was committed"),
        "the outcome was checked: {m}"
    );
    assert_eq!(
        files_named(&table_dir, "", ".parquet"),
        before + 1,
        "the files a failed commit wrote are never deleted"
    );
    catalog
        .batch_execute("DROP TRIGGER weir_fail ON iceberg_tables")
        .await
        .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM pgcat.t").await, 1);
    c.batch_execute("INSERT INTO pgcat.t VALUES (3)")
        .await
        .unwrap();
    assert_eq!(count(&oc, "SELECT sum(id)::bigint FROM pgcat.t").await, 4);
    drop((c, oc, catalog));
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn servers_starting_together_on_a_new_postgres_catalog_all_come_up() {
    // How a deployment with several replicas starts: at the same moment,
    // on a catalog database nobody has used yet.
    let (db, admin) = common::create_pg_database("weir_replicas").await;
    let lake = tempfile::tempdir().unwrap();
    let configure = |c: &mut weir_gateway::config::Config| {
        c.lake.catalog_url = Some(format!("postgres://postgres@127.0.0.1:5432/{db}"));
        c.lake.location = Some(lake.path().display().to_string());
    };
    let (a, b, c) = tokio::join!(
        TestServer::start_with(configure),
        TestServer::start_with(configure),
        TestServer::start_with(configure)
    );
    let (ca, cb, cc) = (a.client().await, b.client().await, c.client().await);
    ca.batch_execute("CREATE SCHEMA replicas; CREATE TABLE replicas.t (id INT)")
        .await
        .unwrap();
    cb.batch_execute("INSERT INTO replicas.t VALUES (1)")
        .await
        .unwrap();
    cc.batch_execute("INSERT INTO replicas.t VALUES (2)")
        .await
        .unwrap();
    for client in [&ca, &cb, &cc] {
        assert_eq!(
            count(client, "SELECT sum(id)::bigint FROM replicas.t").await,
            3
        );
    }
    drop((ca, cb, cc, a, b, c));
    let mut admin = admin;
    sqlx::Executor::execute(
        &mut admin,
        format!("DROP DATABASE {db} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();
}

/// The files under `dir` whose names start with `prefix` and end with `ext`.
fn files_named(dir: &std::path::Path, prefix: &str, ext: &str) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.starts_with(prefix) && name.ends_with(ext) {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn commits_from_two_servers_retry_conflicts_and_report_only_what_landed() {
    use common::{AtCommit, CatalogLink};
    let (db, admin) = common::create_pg_database("weir_commits").await;
    let lake = tempfile::tempdir().unwrap();
    // Server `a` reaches the catalog database through a link that can
    // break a commit; `b` directly.
    let link = CatalogLink::start().await;
    let urls = [
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            link.port
        ),
        format!("postgres://postgres@127.0.0.1:5432/{db}"),
    ];
    let mut servers = Vec::new();
    for url in &urls {
        servers.push(
            TestServer::start_with(|c| {
                c.lake.catalog_url = Some(url.clone());
                c.lake.location = Some(lake.path().display().to_string());
            })
            .await,
        );
    }
    let c = servers[0].client().await;
    c.batch_execute("CREATE SCHEMA commits; CREATE TABLE commits.t (server INT, n INT)")
        .await
        .unwrap();
    let table_dir = lake.path().join("commits/t");

    // Two servers, four sessions each, INSERT into one table: each server
    // serialises its own commits, so the two collide at the catalog, and
    // iceberg-rust rebuilds the loser's snapshot on the new base and
    // retries. Every attempt writes a manifest list ("snap-*.avro"), so
    // more lists than snapshots show the retries ran.
    let mut tasks = Vec::new();
    for (server_no, server) in servers.iter().enumerate() {
        for _ in 0..4 {
            let client = server.client().await;
            tasks.push(tokio::spawn(async move {
                for n in 0..15 {
                    let sql = format!("INSERT INTO commits.t VALUES ({server_no}, {n})");
                    assert_eq!(client.execute(&sql, &[]).await.unwrap(), 1);
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let other = servers[1].client().await;
    for client in [&c, &other] {
        assert_eq!(
            texts(
                client,
                "SELECT server || ':' || count(*) || ':' || sum(n) FROM commits.t GROUP BY server ORDER BY server"
            )
            .await,
            ["0:60:420", "1:60:420"]
        );
    }
    let snapshots = count(&c, "SELECT count(*) FROM commits.\"t$snapshots\"").await;
    assert_eq!(snapshots, 120, "one snapshot per INSERT");
    let lists = files_named(&table_dir, "snap-", ".avro") as i64;
    assert!(
        lists > snapshots,
        "the servers' commits never conflicted ({lists} manifest lists, {snapshots} snapshots)"
    );

    let catalog = postgres(&db).await;
    // The catalog database refuses the COMMIT of the pointer's update
    // (a deferred constraint fails): iceberg-catalog-sql reports success
    // all the same; Weir asks again, finds nothing, and says so.
    catalog
        .batch_execute(
            "CREATE FUNCTION weir_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
             CREATE CONSTRAINT TRIGGER weir_refuse AFTER UPDATE ON iceberg_tables
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION weir_refuse();",
        )
        .await
        .unwrap();
    let e = c
        .batch_execute("INSERT INTO commits.t VALUES (9, 1)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "58000", "{}", message(&e));
    assert!(
        message(&e).contains("commits.t") && message(&e).contains("nothing was committed"),
        "{}",
        message(&e)
    );
    catalog
        .batch_execute("DROP TRIGGER weir_refuse ON iceberg_tables")
        .await
        .unwrap();
    assert_eq!(count(&other, "SELECT count(*) FROM commits.t").await, 120);

    // The COMMIT reaches the catalog database, the answer is lost: the
    // statement succeeds, because the commit landed (asked again).
    link.at_next_commit(AtCommit::Cut);
    assert_eq!(
        c.execute("INSERT INTO commits.t VALUES (9, 2)", &[])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        count(&other, "SELECT count(*) FROM commits.t WHERE server = 9").await,
        1
    );

    // The same, and then the catalog database cannot be reached at all:
    // nobody can know whether it landed: 40003, naming the table and
    // where to look. (It did land: the COMMIT went through.)
    link.at_next_commit(AtCommit::CutAndGone);
    let e = c
        .batch_execute("INSERT INTO commits.t VALUES (9, 3)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "40003", "{}", message(&e));
    assert!(
        message(&e).contains("commits.t") && message(&e).contains("t$snapshots"),
        "{}",
        message(&e)
    );
    link.restore();
    assert_eq!(
        texts(
            &other,
            "SELECT n::text FROM commits.t WHERE server = 9 ORDER BY n"
        )
        .await,
        ["2", "3"]
    );
    // Server `a` recovers once its catalog database is back.
    assert_eq!(count(&c, "SELECT count(*) FROM commits.t").await, 122);

    // Every attempt conflicts (the pointer's UPDATE never matches): the
    // retries run out, 40001, nothing committed.
    catalog
        .batch_execute(
            "CREATE FUNCTION weir_skip() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RETURN NULL; END $$;
             CREATE TRIGGER weir_skip BEFORE UPDATE ON iceberg_tables
               FOR EACH ROW EXECUTE FUNCTION weir_skip();",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let e = other
        .batch_execute("INSERT INTO commits.t VALUES (9, 4)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "40001", "{}", message(&e));
    assert!(message(&e).contains("commits.t"), "{}", message(&e));
    eprintln!("retries ran out after {:?}", started.elapsed());
    catalog
        .batch_execute("DROP TRIGGER weir_skip ON iceberg_tables")
        .await
        .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM commits.t").await, 122);

    drop((c, other, catalog, servers, link));
    let mut admin = admin;
    sqlx::Executor::execute(
        &mut admin,
        format!("DROP DATABASE {db} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_running_statement_reads_the_snapshot_it_started_with() {
    use futures::{pin_mut, TryStreamExt};
    let server = TestServer::start().await;
    let c = server.client().await;
    let writer = server.client().await;
    let s = schema("snapiso");
    c.batch_execute(&format!(
        "CREATE SCHEMA {s};
         CREATE TABLE {s}.t AS SELECT value AS v FROM generate_series(1, 300000);"
    ))
    .await
    .unwrap();
    let rows = c
        .query_raw(&format!("SELECT v FROM {s}.t"), Vec::<i64>::new())
        .await
        .unwrap();
    pin_mut!(rows);
    let mut seen = 0u64;
    while seen < 1000 {
        rows.try_next().await.unwrap().expect("a row");
        seen += 1;
    }
    // Committed while the read runs: not part of it.
    writer
        .batch_execute(&format!(
            "INSERT INTO {s}.t SELECT value FROM generate_series(1, 5000)"
        ))
        .await
        .unwrap();
    while rows.try_next().await.unwrap().is_some() {
        seen += 1;
    }
    assert_eq!(seen, 300_000);
    // The next statement sees the commit.
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM {s}.t")).await,
        305_000
    );
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn csv_and_json_options_read_files_as_declared() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let s = schema("opts");
    let root = format!("raw_{s}");
    let dir = server_lake_dir().join(&root);
    for sub in ["csv", "csvgz", "jsongz"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("csv/a.csv"), "1;'x;y';NA\n2;'it\\'s';7\n").unwrap();
    std::fs::write(dir.join("csvgz/a.csv"), "id,name\n1,zipped\n").unwrap();
    std::fs::write(dir.join("jsongz/a.json"), "{\"id\": 5, \"name\": \"j\"}\n").unwrap();
    for file in ["csvgz/a.csv", "jsongz/a.json"] {
        let status = std::process::Command::new("gzip")
            .arg(dir.join(file))
            .status()
            .expect("gzip");
        assert!(status.success());
    }
    c.batch_execute(&format!(
        "CREATE SCHEMA {s};
         CREATE EXTERNAL TABLE {s}.c (id INT, name TEXT, n INT) STORED AS CSV LOCATION '{root}/csv/'
           OPTIONS ('header' 'false', 'delimiter' ';', 'quote' '''', 'escape' '\\', 'null_value' 'NA');
         CREATE EXTERNAL TABLE {s}.cz (id INT, name TEXT) STORED AS CSV LOCATION '{root}/csvgz/'
           OPTIONS ('compression' 'gzip');
         CREATE EXTERNAL TABLE {s}.jz (id INT, name TEXT) STORED AS JSON LOCATION '{root}/jsongz/'
           OPTIONS ('compression' 'gzip');"
    ))
    .await
    .unwrap();
    assert_eq!(
        texts(
            &c,
            &format!("SELECT id || '|' || name || '|' || coalesce(n::text, 'null') FROM {s}.c ORDER BY id")
        )
        .await,
        ["1|x;y|null", "2|it's|7"]
    );
    assert_eq!(
        texts(&c, &format!("SELECT id || '|' || name FROM {s}.cz")).await,
        ["1|zipped"]
    );
    assert_eq!(
        texts(&c, &format!("SELECT id || '|' || name FROM {s}.jz")).await,
        ["5|j"]
    );
    c.batch_execute(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
}

/// A filter that casts a column is not used to prune Iceberg files as if
/// the cast were not there (iceberg-datafusion drops the cast): `CAST(x AS
/// INT) = 3` keeps the file whose only value is 3.4, and `CAST(code AS INT)
/// > 15` over a text column binds (they failed with XX000, pruning by `x =
/// 3` and `code > 15`). The answers are PostgreSQL's.
#[tokio::test]
async fn filters_that_cast_a_column_never_prune_files_wrongly() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.batch_execute(
        "CREATE SCHEMA lake.cw;
         CREATE TABLE lake.cw.m AS SELECT CAST(3.4 AS DOUBLE) AS x, '10' AS code;
         INSERT INTO lake.cw.m VALUES (9.0, '20')",
    )
    .await
    .unwrap();
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM lake.cw.m WHERE CAST(x AS INT) = 3"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM lake.cw.m WHERE CAST(code AS INT) > 15"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM lake.cw.m WHERE x > 3 AND CAST(code AS INT) < 15"
        )
        .await,
        1
    );
    common::assert_no_server_panic();
}
