//! The lake on S3: a real S3-protocol server (moto_server, from the test
//! virtualenv) on loopback, and Weir configured with an endpoint, path-style
//! addressing and credentials. The same statements as on a local lake:
//! CREATE TABLE AS, INSERT, pruning, time travel, external tables; and what
//! happens with a bucket that does not exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{message, WeirProcess};

/// moto_server on a free loopback port; killed on drop.
struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start() -> Self {
        let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let bin = std::path::Path::new(&python).with_file_name("moto_server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/test, which installs moto into the test virtualenv",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, port }
    }

    /// An unsigned request (moto accepts any credentials); returns the status.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> u16 {
        self.exchange(method, path, body).0
    }

    /// An unsigned request; returns the status and the raw response body.
    fn exchange(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut response = String::new();
        let _ = s.read_to_string(&mut response);
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn config(&self, location: &str) -> String {
        format!(
            "[lake]\nlocation = \"{location}\"\n[lake.s3]\nendpoint = \"http://127.0.0.1:{}\"\npath_style = true\nregion = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing-secret\"\n",
            self.port
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn count(c: &tokio_postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn the_lakehouse_works_on_s3() {
    let s3 = S3Server::start();
    assert_eq!(s3.request("PUT", "/lake", b""), 200);
    // A raw CSV file already on the lake.
    assert_eq!(
        s3.request(
            "PUT",
            "/lake/warehouse/raw/people/part-0.csv",
            b"id,name\n1,ada\n2,grace\n"
        ),
        200
    );
    let weir = WeirProcess::spawn_in(
        tempfile::tempdir().unwrap(),
        &s3.config("s3://lake/warehouse"),
    );
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
    let plan: String = c
        .query(
            "EXPLAIN SELECT * FROM sales.orders WHERE day = DATE '2026-01-02'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("files=1/2"), "{plan}");
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
    // The table's files are on S3, not on the local disk.
    let (status, listing) = s3.exchange(
        "GET",
        "/lake?list-type=2&prefix=warehouse/sales/orders/",
        b"",
    );
    assert_eq!(status, 200, "{listing}");
    assert!(listing.contains(".metadata.json"), "{listing}");
    assert!(listing.contains(".parquet"), "{listing}");
    assert!(!weir.dir.path().join("data/lake/sales").exists());

    c.batch_execute(
        "CREATE SCHEMA raw;
         CREATE EXTERNAL TABLE raw.people (id INT, name TEXT) STORED AS CSV
           LOCATION 's3://lake/warehouse/raw/people/';",
    )
    .await
    .unwrap();
    let names: Vec<String> = c
        .query("SELECT name FROM raw.people ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, vec!["ada", "grace"]);
    // Inferred schema from the same file.
    c.batch_execute("CREATE EXTERNAL TABLE raw.people_guess STORED AS CSV LOCATION 'raw/people/'")
        .await
        .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM raw.people_guess").await, 2);

    // Another bucket is not the lake.
    let e = c
        .batch_execute(
            "CREATE EXTERNAL TABLE raw.elsewhere (a INT) STORED AS CSV LOCATION 's3://other/x/'",
        )
        .await
        .unwrap_err();
    assert!(message(&e).contains("not on the lake"), "{e}");
    c.batch_execute("DROP SCHEMA sales CASCADE").await.unwrap();
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
    assert_eq!(common::sqlstate(&e), "42P01", "{e}");
    // The server keeps serving.
    assert_eq!(count(&c, "SELECT 1::bigint").await, 1);
}
