#![allow(clippy::unwrap_used, clippy::expect_used)]
//! psql against a real Weir server: the meta-commands analysts use, tab
//! completion and Ctrl-C (psql driven interactively in tmux), and TLS.
//! psql and tmux are installed by `scripts/install-test-deps`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::TestServer;

/// Run psql with `args`, returning (success, stdout, stderr).
async fn psql(s: &TestServer, conn: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.arg("-X").arg("-v").arg("ON_ERROR_STOP=1").arg(format!(
        "{conn} host={} port={} user=weir",
        s.addr.ip(),
        s.addr.port()
    ));
    cmd.args(args)
        .env("PGPASSWORD", "weir")
        .env("PGCONNECT_TIMEOUT", "10");
    let out = tokio::task::spawn_blocking(move || {
        cmd.output()
            .expect("psql is installed (scripts/install-test-deps)")
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn meta_commands_list_what_exists_in_weirs_catalogs() {
    let s = TestServer::start().await;
    let (ok, out, err) = psql(&s, "dbname=lake", &["-c", "\\l"]).await;
    assert!(ok, "{err}");
    assert!(out.contains(" lake "), "{out}");
    assert!(
        !out.lines().any(|l| l.starts_with(" postgres ")),
        "only Weir's catalogs are databases: {out}"
    );
    assert!(out.contains("(1 row)"), "{out}");

    let (ok, out, err) = psql(&s, "dbname=lake", &["-c", "\\dn"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("tpch"), "{out}");

    let (ok, out, err) = psql(&s, "dbname=lake", &["-c", "\\dt tpch.*"]).await;
    assert!(ok, "{err}");
    for table in [
        "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier",
    ] {
        assert!(out.contains(table), "{table} missing from {out}");
    }
    assert!(out.contains("(8 rows)"), "{out}");

    let (ok, out, err) = psql(
        &s,
        "dbname=lake options='-c search_path=tpch'",
        &["-c", "\\dt"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("lineitem"), "{out}");

    let (ok, out, err) = psql(&s, "dbname=lake", &["-c", "\\d lake.tpch.orders"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Table \"tpch.orders\""), "{out}");
    for (column, ty) in [
        ("o_orderkey", "bigint"),
        ("o_orderdate", "date"),
        ("o_totalprice", "numeric"),
        ("o_comment", "text"),
    ] {
        assert!(
            out.lines().any(|l| l.contains(column) && l.contains(ty)),
            "{column} {ty} missing from {out}"
        );
    }
}

#[tokio::test]
async fn expanded_output_and_timing_work() {
    let s = TestServer::start().await;
    let (ok, out, err) = psql(
        &s,
        "dbname=lake",
        &[
            "-c",
            "\\x on",
            "-c",
            "\\timing on",
            "-c",
            "SELECT r_regionkey, r_name FROM tpch.region ORDER BY r_regionkey LIMIT 2",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("-[ RECORD 1 ]"), "{out}");
    assert!(out.contains("r_name      | AFRICA"), "{out}");
    assert!(out.contains("Time: "), "{out}");
}

#[tokio::test]
async fn errors_reach_psql_with_position_and_sqlstate() {
    let s = TestServer::start().await;
    let (ok, _, err) = psql(
        &s,
        "dbname=lake",
        &[
            "-v",
            "VERBOSITY=verbose",
            "-c",
            "SELECT o_orderkey FRM tpch.orders",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("42601"), "{err}");
    assert!(
        err.contains("LINE 1"),
        "a position makes psql point at the token: {err}"
    );
}

/// psql in a tmux pane, for what only an interactive session does.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(s: &TestServer) -> Self {
        let name = format!("weir-test-{}-{}", std::process::id(), s.addr.port());
        let cmd = format!(
            "env PGPASSWORD=weir psql -X -h {} -p {} -U weir -d lake",
            s.addr.ip(),
            s.addr.port()
        );
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "200",
                "-y",
                "50",
                &cmd,
            ])
            .status()
            .expect("tmux is installed (scripts/install-test-deps)")
            .success();
        assert!(ok, "tmux session starts");
        Self { name }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    /// Type `text` at the prompt and wait until psql shows it. Keys that
    /// arrive while psql sets up its terminal right after the first prompt
    /// can be discarded (readline flushes pending input), so typing is
    /// retried on a cleared line. (tmux reads a trailing `;` as its own
    /// command separator: `\;` types one.)
    async fn type_text(&self, text: &str) {
        let typed = text.replace("\\;", ";");
        for _ in 0..3 {
            self.keys(&["C-u", text]);
            if self.shows(&typed, Duration::from_secs(2)).await {
                return;
            }
        }
        panic!("psql never showed {text:?}; screen:\n{}", self.screen());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether the screen shows `text` within `within`.
    async fn shows(&self, text: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.screen().contains(text) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Wait until the screen shows `text`.
    async fn wait_for(&self, text: &str) -> String {
        assert!(
            self.shows(text, Duration::from_secs(20)).await,
            "timed out waiting for {text:?}; screen:\n{}",
            self.screen()
        );
        self.screen()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[tokio::test]
async fn tab_completion_offers_schemas_tables_and_columns() {
    let s = TestServer::start().await;
    let t = Tmux::start(&s);
    t.wait_for("lake=>").await;
    assert!(
        !t.screen().contains("WARNING"),
        "no version warning: {}",
        t.screen()
    );
    t.type_text("SELECT * FROM tp").await;
    t.keys(&["Tab"]);
    t.wait_for("SELECT * FROM tpch.").await;
    t.keys(&["ord", "Tab"]);
    t.wait_for("SELECT * FROM tpch.orders").await;
    t.keys(&["C-u", "INSERT INTO tpch.orders (o_ord", "Tab"]);
    t.wait_for("INSERT INTO tpch.orders (o_order").await;
}

#[tokio::test]
async fn ctrl_c_in_psql_cancels_the_running_query() {
    let s = TestServer::start().await;
    let t = Tmux::start(&s);
    t.wait_for("lake=>").await;
    t.type_text("SELECT count(*) FROM generate_series(1, 5000000000) WHERE value % 7 = 3\\;")
        .await;
    t.keys(&["Enter"]);
    // Ctrl-C until psql reports the cancel (a press that reaches the server
    // before the statement has started cancels nothing), then the stop must
    // follow the last press within a second.
    let mut presses = 0;
    let pressed = loop {
        let pressed = Instant::now();
        t.keys(&["C-c"]);
        presses += 1;
        if t.shows(
            "canceling statement due to user request",
            Duration::from_secs(2),
        )
        .await
        {
            break pressed;
        }
        assert!(
            presses < 3,
            "three Ctrl-Cs did not cancel; screen:\n{}",
            t.screen()
        );
    };
    assert!(
        pressed.elapsed() < Duration::from_secs(1),
        "cancel took {:?}",
        pressed.elapsed()
    );
    t.type_text("SELECT 40 + 2 AS answer\\;").await;
    t.keys(&["Enter"]);
    t.wait_for("42").await;
}

fn tls_config(config: &mut weir_gateway::config::Config, required: bool) {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    config.tls = Some(weir_gateway::config::TlsConfig {
        cert: fixtures.join("test-cert.pem"),
        key: fixtures.join("test-key.pem"),
        required,
    });
}

#[tokio::test]
async fn psql_connects_over_tls_and_plaintext_is_refused_when_tls_is_required() {
    let s = TestServer::start_with(|c| tls_config(c, true)).await;
    let (ok, out, err) = psql(
        &s,
        "dbname=lake sslmode=require",
        &["-c", "\\conninfo", "-c", "SELECT count(*) FROM tpch.region"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("SSL connection"), "{out}");
    assert!(out.contains(" 5\n"), "{out}");
    let (ok, _, err) = psql(&s, "dbname=lake sslmode=disable", &["-c", "SELECT 1"]).await;
    assert!(!ok);
    assert!(err.contains("requires TLS"), "{err}");
}
