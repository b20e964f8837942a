//! Test harness: a real Weir server on 127.0.0.1:0 over a lake with TPC-H
//! data (scale factor 0.01, generated once per test binary), and real
//! clients connecting to it over TCP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bypass;
pub mod lake;
pub mod raw;
pub mod twin;

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
        copy_dir(&tpch_files(), &dir.join("lake").join("tpch"));
        std::fs::write(dir.join(".demo-tpch-written"), b"test").expect("marker");
        dir
    })
    .clone()
}

/// TPC-H at SF 0.01, generated once per build of the test binary and
/// copied by each of its test processes (cargo-nextest runs every test in
/// a process of its own, each with its own data directory and catalog).
fn tpch_files() -> PathBuf {
    let tmp = std::env::temp_dir();
    let built = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let done = tmp.join(format!("weir-test-tpch-{built}"));
    if done.join(".complete").exists() {
        return done;
    }
    // Written aside, then renamed into place: a process that loses the race
    // uses the winner's copy.
    let mine = tmp.join(format!("weir-test-tpch-{built}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&mine);
    weir_connectors::lake::tpch::generate(&mine, 0.01, 2).expect("generate TPC-H");
    std::fs::write(mine.join(".complete"), b"").expect("marker");
    if std::fs::rename(&mine, &done).is_err() {
        let _ = std::fs::remove_dir_all(&mine);
    }
    done
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".complete" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Test binaries cannot clean up a static at exit; instead each removes the
/// data directories of earlier test processes that are gone.
fn remove_stale_data_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Generated files of earlier builds, unused for a day.
        if name.starts_with("weir-test-tpch-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(86_400))
        {
            let _ = std::fs::remove_dir_all(entry.path());
            continue;
        }
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
            let deliberate = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|s| s.starts_with("weir_test_panic"));
            if !location.contains("tests/") && !deliberate {
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

    /// A client logged in to `lake` as `user` with `password`.
    pub async fn connect_as(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        // The password set apart from the connection string: a token or a
        // password may hold any character.
        let mut config = tokio_postgres::Config::new();
        config
            .host(self.addr.ip().to_string())
            .port(self.addr.port())
            .user(user)
            .password(password)
            .dbname("lake");
        let (client, conn) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
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
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'weir%'")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    for old in names.iter().filter(|n| left_behind(n)) {
        let _ = admin
            .execute(format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)").as_str())
            .await;
    }
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    (name, admin)
}

/// Drops the MariaDB databases tests that are gone left behind.
pub async fn drop_left_behind_mysql_databases(root: &mut sqlx::MySqlConnection) {
    use sqlx::Executor;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'weir%'",
    )
    .fetch_all(&mut *root)
    .await
    .unwrap();
    for old in names.iter().filter(|n| left_behind(n)) {
        let _ = root
            .execute(format!("DROP DATABASE IF EXISTS {old}").as_str())
            .await;
    }
}

/// Whether a database named `<prefix>_<pid>_<nanos>` belongs to a test
/// process that is gone: a test that failed before its end dropped it
/// leaves it, and the next test to create one removes it.
fn left_behind(name: &str) -> bool {
    let mut parts = name.rsplit('_');
    let (Some(nanos), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    nanos.parse::<u32>().is_ok()
        && pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !PathBuf::from(format!("/proc/{pid}")).exists()
        })
}

/// What [`CatalogLink`] does to the next commit of a metadata pointer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AtCommit {
    /// Nothing: bytes pass both ways.
    Pass,
    /// The COMMIT reaches the catalog database, its answer never comes
    /// back: the connection is cut (once, then `Pass`).
    Cut,
    /// As `Cut`, and from then on the catalog database cannot be reached
    /// at all, until [`CatalogLink::restore`].
    CutAndGone,
}

/// A TCP link between Weir and the PostgreSQL catalog database on
/// 127.0.0.1:5432 (connect with `sslmode=disable` so it can read the
/// traffic) that breaks a commit of a table's metadata pointer (the
/// `UPDATE iceberg_tables`, then `COMMIT`, of iceberg-catalog-sql) where a
/// real network would: after the COMMIT left, before its answer arrived.
pub struct CatalogLink {
    pub port: u16,
    mode: std::sync::Arc<std::sync::Mutex<AtCommit>>,
    gone: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CatalogLink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = std::sync::Arc::new(std::sync::Mutex::new(AtCommit::Pass));
        let (gone, _) = tokio::sync::watch::channel(false);
        let task = {
            let (mode, gone) = (mode.clone(), gone.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if *gone.borrow() {
                        continue; // dropped: closed at once
                    }
                    tokio::spawn(Self::carry(client, mode.clone(), gone.clone()));
                }
            })
        };
        Self {
            port,
            mode,
            gone,
            task,
        }
    }

    /// What happens to the next commit.
    pub fn at_next_commit(&self, what: AtCommit) {
        *self.mode.lock().unwrap() = what;
    }

    /// From now on the catalog database cannot be reached (connections
    /// open through the link close), until [`CatalogLink::restore`].
    pub fn cut(&self) {
        self.gone.send_replace(true);
    }

    /// The catalog database can be reached again.
    pub fn restore(&self) {
        self.gone.send_replace(false);
    }

    async fn carry(
        client: tokio::net::TcpStream,
        mode: std::sync::Arc<std::sync::Mutex<AtCommit>>,
        gone: tokio::sync::watch::Sender<bool>,
    ) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await else {
            return;
        };
        let (mut client_in, mut client_out) = client.into_split();
        let (mut server_in, mut server_out) = server.into_split();
        let muted = AtomicBool::new(false);
        let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        let to_server = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut updating = false;
            loop {
                let n = client_in.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                let chunk = &buf[..n];
                // The pointer's UPDATE: its text when first prepared on this
                // connection; afterwards (a cached statement) its Bind, which
                // carries the new and the old metadata locations.
                updating |= find(chunk, b"UPDATE iceberg_tables")
                    || chunk
                        .windows(b".metadata.json".len())
                        .filter(|w| *w == b".metadata.json")
                        .count()
                        >= 2;
                // A simple-query COMMIT: 'Q', length 11, "COMMIT\0".
                let commit = updating && find(chunk, b"Q\0\0\0\x0bCOMMIT\0");
                let what = if commit {
                    updating = false;
                    *mode.lock().unwrap()
                } else {
                    AtCommit::Pass
                };
                if what != AtCommit::Pass {
                    muted.store(true, Ordering::SeqCst);
                }
                if server_out.write_all(chunk).await.is_err() {
                    return;
                }
                if what != AtCommit::Pass {
                    // Time for the catalog database to commit, then cut.
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    *mode.lock().unwrap() = AtCommit::Pass;
                    if what == AtCommit::CutAndGone {
                        gone.send_replace(true);
                    }
                    return;
                }
            }
        };
        let to_client = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = server_in.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                if !muted.load(Ordering::SeqCst) && client_out.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        let mut gone_rx = gone.subscribe();
        tokio::select! {
            _ = to_server => {}
            _ = to_client => {}
            _ = gone_rx.wait_for(|g| *g) => {}
        }
    }
}

impl Drop for CatalogLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Run `statement` while sending CancelRequests for its session: the first
/// after `after`, then one every 2 s until the statement ends (a cancel
/// that arrives before the statement is registered is dropped, as in
/// PostgreSQL, and a test must not then wait for the statement to finish).
/// Returns its result, when it ended, and when each cancel was sent.
pub async fn cancelled<T>(
    token: tokio_postgres::CancelToken,
    after: std::time::Duration,
    statement: impl std::future::Future<Output = T>,
) -> (T, std::time::Instant, Vec<std::time::Instant>) {
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let canceller = {
        let sent = sent.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            loop {
                sent.lock().unwrap().push(std::time::Instant::now());
                token.cancel_query(NoTls).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        })
    };
    let result = statement.await;
    let ended = std::time::Instant::now();
    canceller.abort();
    let sent = sent.lock().unwrap().clone();
    (result, ended, sent)
}
