#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real drivers other than tokio-postgres: pgjdbc (the Debian package's
//! driver, run as a single-file Java program), and psycopg 3, psycopg2 and
//! asyncpg from the virtualenv `scripts/test` creates (`WEIR_TEST_PYTHON`).

mod common;

use std::process::Command;

use common::TestServer;

/// Run a client program against `s` (host and port appended to `args`) and
/// require it to exit 0 printing `ok_marker`.
async fn run_client(
    s: &TestServer,
    program: String,
    args: Vec<String>,
    ok_marker: &'static str,
    install_hint: &'static str,
) {
    let (host, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .args([host, port])
            .output()
            .expect(install_hint)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(ok_marker),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jdbc_session_with_fetch_size_prepared_statements_and_cancel_works() {
    let s = TestServer::start().await;
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/JdbcSession.java");
    let args = vec![
        "-cp".into(),
        "/usr/share/java/postgresql.jar".into(),
        program.into(),
    ];
    run_client(
        &s,
        "java".into(),
        args,
        "JDBC OK",
        "java and the JDBC driver are installed (scripts/install-test-deps)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_psycopg_psycopg2_and_asyncpg_work() {
    let s = TestServer::start().await;
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/drivers.py");
    run_client(
        &s,
        python,
        vec![script.into()],
        "PYTHON OK",
        "python with the drivers of tests/python/requirements.txt (run scripts/test)",
    )
    .await;
}
