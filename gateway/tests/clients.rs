#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real drivers other than tokio-postgres: pgjdbc (the Debian package's
//! driver, run as a single-file Java program), psycopg 3, psycopg2 and
//! asyncpg from the virtualenv `scripts/test` creates (`WEIR_TEST_PYTHON`),
//! and node-postgres from the npm folder it fills (`WEIR_NODE_MODULES`).
//!
//! The `*_parameter_shape*` tests bind the parameter shapes of
//! `docs/parameter-types.md` (casts, comparisons, IN, BETWEEN, LIMIT and
//! OFFSET, functions, subqueries, INSERT) with each driver's own typed
//! values and check every answer against PostgreSQL's.

mod common;

use std::process::Command;

use common::TestServer;

/// Run a client program against `s` (host and port appended to `args`,
/// `env` set) and require it to exit 0 printing `ok_marker`.
async fn run_client(
    s: &TestServer,
    program: String,
    args: Vec<String>,
    env: &[(&str, String)],
    ok_marker: &'static str,
    install_hint: &'static str,
) {
    let (host, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .args([host, port])
            .envs(env)
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

/// A single-file Java program of `tests/jdbc/` with pgjdbc.
async fn java(s: &TestServer, file: &str, ok_marker: &'static str) {
    let program = format!("{}/tests/jdbc/{file}", env!("CARGO_MANIFEST_DIR"));
    let args = vec![
        "-cp".into(),
        "/usr/share/java/postgresql.jar".into(),
        program,
    ];
    let hint = "java and the JDBC driver are installed (scripts/install-test-deps)";
    run_client(s, "java".into(), args, &[], ok_marker, hint).await;
}

/// A script of `tests/python/` with the drivers of its requirements.txt.
async fn python(s: &TestServer, file: &str, ok_marker: &'static str) {
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/tests/python/{file}", env!("CARGO_MANIFEST_DIR"));
    let hint = "python with the drivers of tests/python/requirements.txt (run scripts/test)";
    run_client(s, python, vec![script], &[], ok_marker, hint).await;
}

/// A script of `tests/node/` with node-postgres.
async fn node(s: &TestServer, file: &str, ok_marker: &'static str) {
    let modules = std::env::var("WEIR_NODE_MODULES").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/weir-node/node_modules")
    });
    let script = format!("{}/tests/node/{file}", env!("CARGO_MANIFEST_DIR"));
    let env = [("NODE_PATH", modules)];
    let hint = "node, with pg installed by scripts/test";
    run_client(s, "node".into(), vec![script], &env, ok_marker, hint).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jdbc_session_with_fetch_size_prepared_statements_and_cancel_works() {
    java(&TestServer::start().await, "JdbcSession.java", "JDBC OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_psycopg_psycopg2_and_asyncpg_work() {
    python(&TestServer::start().await, "drivers.py", "PYTHON OK").await;
}

/// A server with the empty table the shape programs write:
/// `shapes.t (id int, amount numeric(12,2), at timestamp, note text)`.
async fn shapes_server() -> TestServer {
    let s = TestServer::start().await;
    s.client()
        .await
        .batch_execute(
            "CREATE SCHEMA lake.shapes; \
             CREATE TABLE lake.shapes.t (id int, amount numeric(12,2), at timestamp, note text)",
        )
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_and_psycopg_bind_every_parameter_shape() {
    python(&shapes_server().await, "param_shapes.py", "SHAPES OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_binds_every_parameter_shape_past_prepare_threshold() {
    java(&shapes_server().await, "ParamShapes.java", "SHAPES OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_pg_binds_every_parameter_shape() {
    node(&shapes_server().await, "param_shapes.js", "SHAPES OK").await;
}
