#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real drivers other than tokio-postgres: pgjdbc (the Debian package's
//! driver, run as a single-file Java program), and psycopg 3, psycopg2 and
//! asyncpg from the virtualenv `scripts/test` creates (`WEIR_TEST_PYTHON`).

mod common;

use std::process::Command;

use common::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jdbc_session_with_fetch_size_prepared_statements_and_cancel_works() {
    let s = TestServer::start().await;
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/JdbcSession.java");
    let (host, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("java")
            .args([
                "-cp",
                "/usr/share/java/postgresql.jar",
                program,
                &host,
                &port,
            ])
            .output()
            .expect("java and the JDBC driver are installed (scripts/install-test-deps)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("JDBC OK"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_psycopg_psycopg2_and_asyncpg_work() {
    let s = TestServer::start().await;
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/drivers.py");
    let (host, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args([script, &host, &port])
            .output()
            .expect("python with the drivers of tests/python/requirements.txt (run scripts/test)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("PYTHON OK"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
