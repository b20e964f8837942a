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

/// Run a client program against `s` (host and port appended to `args`) and
/// require it to exit 0 printing `ok_marker`.
async fn run_client(
    s: &TestServer,
    program: String,
    args: Vec<String>,
    ok_marker: &'static str,
    install_hint: &'static str,
) {
    run_client_with(s, program, args, &[], ok_marker, install_hint).await;
}

/// [`run_client`] with environment variables set for the program.
async fn run_client_with(
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
    let s = shapes_server().await;
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/param_shapes.py");
    run_client(
        &s,
        python,
        vec![script.into()],
        "SHAPES OK",
        "python with the drivers of tests/python/requirements.txt (run scripts/test)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_binds_every_parameter_shape_past_prepare_threshold() {
    let s = shapes_server().await;
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/ParamShapes.java");
    let args = vec![
        "-cp".into(),
        "/usr/share/java/postgresql.jar".into(),
        program.into(),
    ];
    run_client(
        &s,
        "java".into(),
        args,
        "SHAPES OK",
        "java and the JDBC driver are installed (scripts/install-test-deps)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_pg_binds_every_parameter_shape() {
    let s = shapes_server().await;
    let modules = std::env::var("WEIR_NODE_MODULES").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/weir-node/node_modules")
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/param_shapes.js");
    run_client_with(
        &s,
        "node".into(),
        vec![script.into()],
        &[("NODE_PATH", modules)],
        "SHAPES OK",
        "node, with pg installed by scripts/test",
    )
    .await;
}
