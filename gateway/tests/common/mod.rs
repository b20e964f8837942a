//! Test harness: a real Weir server on 127.0.0.1:0 over a lake with TPC-H
//! data (scale factor 0.01, generated once per test binary), and real
//! clients connecting to it over TCP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod lake;
pub mod raw;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use tokio_postgres::{Client, NoTls};
use weir_gateway::config::Config;
use weir_gateway::server::Server;

/// The shared data directory, with demo data already written.
pub fn data_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        remove_stale_data_dirs();
        let dir = std::env::temp_dir().join(format!("weir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let schema = dir.join("lake").join("tpch");
        weir_connectors::lake::tpch::generate(&schema, 0.01, 2).expect("generate TPC-H");
        std::fs::write(dir.join(".demo-tpch-written"), b"test").expect("marker");
        dir
    })
    .clone()
}

/// Test binaries cannot clean up a static at exit; instead each removes the
/// data directories of earlier test processes that are gone.
fn remove_stale_data_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("weir-test-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Panics raised by the server's code (anywhere outside the tests' own
/// files) since the test binary started: (location, message).
static SERVER_PANICS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Record every panic outside `tests/` (the server runs in the test's
/// process), then go on as before: Weir catches a statement's panic and
/// answers XX000, so a panic can look like an ordinary error or a closed
/// socket from outside. Tests of bad input assert there was none.
fn watch_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if !location.contains("tests/") {
                let what = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                SERVER_PANICS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{location}: {what}"));
            }
            previous(info);
        }));
    });
}

/// Fails the test if the server code panicked (in any test of this binary).
pub fn assert_no_server_panic() {
    let panics = SERVER_PANICS.lock().unwrap_or_else(|p| p.into_inner());
    assert!(panics.is_empty(), "the server panicked: {panics:?}");
}

/// A running server; it stops when the test's runtime ends.
pub struct TestServer {
    pub addr: SocketAddr,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        watch_panics();
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".into();
        config.server.data_dir = data_dir();
        config.query.target_partitions = 2;
        adjust(&mut config);
        let server = Server::start(&config).await.expect("server starts");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.run(std::future::pending()));
        Self { addr }
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=weir password=weir dbname={db}",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// A tokio-postgres client on database `lake`.
    pub async fn client(&self) -> Client {
        self.client_on("lake").await
    }

    pub async fn client_on(&self, db: &str) -> Client {
        let (client, conn) = tokio_postgres::connect(&self.url(db), NoTls)
            .await
            .expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }
}

/// The SQLSTATE of a tokio-postgres error.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_owned())
        .unwrap_or_else(|| format!("not a server error: {e}"))
}

/// The message of a tokio-postgres error.
pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string())
}

/// The real `weir` binary running on 127.0.0.1:0 in a temporary data
/// directory, without demo data; killed on drop.
pub struct WeirProcess {
    pub child: std::process::Child,
    /// `host:port` from the startup line.
    pub addr: String,
    /// The startup line.
    pub line: String,
    pub dir: tempfile::TempDir,
}

impl WeirProcess {
    pub fn spawn() -> Self {
        Self::spawn_in(tempfile::tempdir().unwrap(), "")
    }

    /// Start on `dir` (reusing its data directory if one is there), with
    /// `extra` appended to the configuration file.
    pub fn spawn_in(dir: tempfile::TempDir, extra: &str) -> Self {
        Self::spawn_configured(dir, &format!("[demo]\ntpch_scale_factor = 0\n{extra}"))
    }

    /// Start on `dir` with exactly `config` as its configuration file.
    pub fn spawn_configured(dir: tempfile::TempDir, config_text: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let config = dir.path().join("weir.toml");
        std::fs::write(&config, config_text).unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_weir"));
        // The server sees only its configuration file: none of the test
        // machine's Weir or AWS settings (credentials would change how S3
        // is reached).
        for (name, _) in std::env::vars_os() {
            let name_str = name.to_string_lossy();
            if name_str.starts_with("WEIR_") || name_str.starts_with("AWS_") {
                command.env_remove(&name);
            }
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .expect("listening line")
            .to_owned();
        Self {
            child,
            addr,
            line,
            dir,
        }
    }
}

impl WeirProcess {
    /// `kill -9`, then hand back the directory for a restart.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// A tokio-postgres client on database `lake`.
    pub async fn client(&self) -> Client {
        let (host, port) = self.addr.rsplit_once(':').unwrap();
        let url = format!("host={host} port={port} user=weir password=weir dbname=lake");
        let (client, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }
}

impl Drop for WeirProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one `bigint` a query returns.
pub async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// The first (text) column of every row a query returns.
pub async fn texts(c: &Client, sql: &str) -> Vec<String> {
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A new PostgreSQL database on the stand-in server (127.0.0.1:5432),
/// named `<prefix>_<pid>_<nanos>`, and a connection to its `postgres`
/// database (to drop it with at the end).
pub async fn create_pg_database(prefix: &str) -> (String, sqlx::PgConnection) {
    use sqlx::{Connection, Executor};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("{prefix}_{}_{nanos}", std::process::id());
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (see README: Testing)");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    (name, admin)
}
