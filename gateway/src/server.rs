//! The listener: prepares the data directory (and the demo data on first
//! start), accepts connections up to `max_connections`, and runs each on
//! its own task. A connection's failure never touches another's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::audit::{Audit, AuditSettings};
use crate::auth::rules::Login;
use crate::auth::scram::PasswordAuthenticator;
use crate::auth::users::UserStore;
use crate::config::{Config, ConfigError, TlsConfig};
use crate::engine::Engine;
use crate::error::SqlState;
use crate::state::{ServerState, Shutdown};
use crate::wire::{connection, startup};

/// Why Weir could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory is unusable.
    #[error("data directory {path}: {message}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
        /// A hint for the common case.
        hint: &'static str,
    },
    /// TLS files are unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The engine could not be built.
    #[error("query engine: {0}")]
    Engine(String),
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<ServerState>,
    slots: Arc<Semaphore>,
    max_connections: usize,
}

impl Server {
    /// Validate config, prepare the data directory and demo data, bind.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        let addr = config.validate()?;
        let lake = lake_config(config)?;
        let demo_dir = match &lake.location {
            weir_catalog::LakeLocation::Local(dir) => Some(dir.join("tpch")),
            weir_catalog::LakeLocation::S3 { .. } => None,
        };
        prepare_data_dir(
            &config.server.data_dir,
            demo_dir.as_deref(),
            config.demo.tpch_scale_factor,
        )
        .await?;
        let mut query = config.query.clone();
        query
            .spill_dir
            .get_or_insert_with(|| absolute(&config.server.data_dir).join("spill"));
        let engine = Engine::open_with_sources(&query, &lake, &config.sources)
            .await
            .map_err(|e| StartError::Engine(e.to_string()))?;
        engine
            .ensure_public_schema()
            .await
            .map_err(|e| StartError::Engine(e.to_string()))?;
        if let Some(dir) = &demo_dir {
            let n = engine
                .register_directory_tables("tpch", dir)
                .await
                .map_err(|e| StartError::Engine(e.to_string()))?;
            if n > 0 {
                tracing::info!(tables = n, "registered the demo tables in lake.tpch");
            }
        }
        if !engine.has_catalog(&config.session.default_catalog) {
            return Err(ConfigError::Invalid(format!(
                "session.default_catalog {:?} is not a catalog (known: {})",
                config.session.default_catalog,
                engine.catalog_names().join(", ")
            ))
            .into());
        }
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                addr,
                hint: if source.kind() == std::io::ErrorKind::AddrInUse {
                    " (another server is using this port; pick another with --listen)"
                } else {
                    ""
                },
                source,
            })?;
        crate::auth::users::bootstrap(engine.policies(), &config.auth)
            .await
            .map_err(|e| StartError::Engine(format!("storing the configured users: {e}")))?;
        // Changes made by other servers on the same catalog database arrive
        // within this time (changes made here apply at once).
        let _watch = engine
            .policies()
            .watch(Duration::from_millis(config.auth.policy_poll_ms.max(50)));
        engine.reserve(&reserved_paths(config, &query));
        let users = UserStore::new(Arc::clone(engine.policies()), &config.auth);
        let audit = open_audit(config)?;
        engine.set_audit(Arc::clone(&audit));
        let login = Login::new(
            &config.auth,
            PasswordAuthenticator::new(users),
            Arc::clone(&audit),
        )
        .await
        .map_err(ConfigError::Invalid)?;
        let shared = Arc::new(ServerState {
            engine: Arc::new(engine),
            authenticator: Arc::new(login),
            audit,
            sessions: Arc::default(),
            tls_required: config.tls.as_ref().is_some_and(|t| t.required),
            tls,
            max_message_bytes: config.server.max_message_bytes,
            default_catalog: config.session.default_catalog.clone(),
            session: config.session.clone(),
            scram_iterations: u32::try_from(config.auth.scram_iterations).unwrap_or(u32::MAX),
            startup_timeout: Duration::from_secs(config.server.startup_timeout_secs.max(1)),
            shutdown: Shutdown::default(),
            shutdown_grace: Duration::from_secs(config.server.shutdown_grace_secs),
        });
        Ok(Self {
            listener,
            shared,
            slots: Arc::new(Semaphore::new(config.server.max_connections)),
            max_connections: config.server.max_connections,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept connections until `shutdown` completes, then shut down
    /// gracefully: stop accepting, end idle sessions (57P01), give running
    /// statements `server.shutdown_grace_secs` to finish, then cancel the
    /// reads among them (57P01) and wait for writes to commit or fail.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "refusing connection: max_connections reached");
                tokio::spawn(refuse_too_many(socket));
                continue;
            };
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let started = tokio::time::timeout(
                    shared.startup_timeout,
                    startup::handshake(socket, &shared),
                )
                .await;
                match started {
                    Ok(Ok(Some(s))) => {
                        tracing::debug!(%peer, user = %s.session.user(), "session started");
                        let stop = shared.shutdown.clone();
                        connection::run(s.conn, s.session, s.cancel, stop).await;
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::info!(%peer, error = %e, "connection refused"),
                    Err(_) => tracing::info!(%peer, "startup timed out"),
                }
            });
        }
        self.drain().await;
    }

    /// The graceful part of [`Server::run`].
    async fn drain(self) {
        drop(self.listener);
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        let busy = self.max_connections - self.slots.available_permits();
        let grace = self.shared.shutdown_grace;
        tracing::info!(
            sessions = busy,
            grace_secs = grace.as_secs(),
            "shutting down: not accepting connections; running statements may finish"
        );
        self.shared.shutdown.stopping.cancel();
        let everyone_gone = || self.slots.acquire_many(all);
        if tokio::time::timeout(grace, everyone_gone()).await.is_ok() {
            tracing::info!("all sessions ended");
            self.shared.engine.close_sources().await;
            return;
        }
        tracing::warn!("grace period over: canceling running statements (writes may commit)");
        self.shared.shutdown.terminate.cancel();
        // Reads stop at once; a write ends with its commit, or fails whole.
        let commits = Duration::from_secs(60);
        if tokio::time::timeout(commits, everyone_gone())
            .await
            .is_err()
        {
            tracing::warn!("sessions still running after {commits:?}; exiting anyway");
        } else {
            tracing::info!("all sessions ended");
        }
        self.shared.engine.close_sources().await;
    }
}

/// Tell a client over the connection limit why, as PostgreSQL does (53300),
/// and close.
async fn refuse_too_many(mut socket: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let fields: [(u8, &str); 4] = [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', SqlState::TOO_MANY_CONNECTIONS.code()),
        (b'M', "sorry, too many clients already"),
    ];
    let mut body = Vec::new();
    for (code, text) in fields {
        body.push(code);
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(&body);
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.write_all(&msg)).await;
    let _ = socket.shutdown().await;
}

/// The lakehouse settings, with defaults under the data directory.
fn lake_config(config: &Config) -> Result<weir_catalog::LakeConfig, StartError> {
    let data_dir = absolute(&config.server.data_dir);
    let location = match &config.lake.location {
        Some(l) => weir_catalog::LakeLocation::parse(l),
        None => weir_catalog::LakeLocation::parse(&data_dir.join("lake").to_string_lossy()),
    }
    .map_err(|e| ConfigError::Invalid(format!("lake.location: {e}")))?;
    let catalog_url = match &config.lake.catalog_url {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("catalog.db").display()
        ),
    };
    Ok(weir_catalog::LakeConfig {
        name: crate::engine::LAKE.to_owned(),
        location,
        s3: config.lake.s3.clone(),
        catalog_url,
    })
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// What Weir keeps for itself and no table may be registered over, should
/// the lake's folder hold it: the catalog database (SQLite), spill files,
/// the audit trail's folder, TLS and token keys, password and CA files.
fn reserved_paths(config: &Config, query: &crate::config::QueryConfig) -> Vec<PathBuf> {
    let data = absolute(&config.server.data_dir);
    let mut paths = vec![data.join("catalog.db")];
    if let Some(rest) = config
        .lake
        .catalog_url
        .as_deref()
        .and_then(|u| u.strip_prefix("sqlite://"))
    {
        let file = rest.split('?').next().unwrap_or(rest);
        paths.push(absolute(Path::new(file)));
    }
    paths.extend(query.spill_dir.iter().map(|p| absolute(p)));
    let audit = audit_path(config);
    paths.push(
        audit
            .parent()
            .map_or_else(|| audit.clone(), Path::to_path_buf),
    );
    if let Some(tls) = &config.tls {
        paths.push(absolute(&tls.cert));
        paths.push(absolute(&tls.key));
    }
    if let Some(jwt) = &config.auth.jwt {
        paths.extend(
            jwt.keys
                .iter()
                .filter_map(|k| k.pem_file.as_deref())
                .map(absolute),
        );
    }
    paths.extend(
        config
            .auth
            .users
            .iter()
            .filter_map(|u| u.password_file.as_deref())
            .map(absolute),
    );
    if let Some(ca) = config.auth.ldap.as_ref().and_then(|l| l.ca_file.as_deref()) {
        paths.push(absolute(ca));
    }
    paths
}

/// Where the audit trail is written (when it is on).
fn audit_path(config: &Config) -> PathBuf {
    let default = || {
        absolute(&config.server.data_dir)
            .join("audit")
            .join("audit.jsonl")
    };
    absolute(&config.audit.path.clone().unwrap_or_else(default))
}

/// The audit trail `[audit]` asks for.
fn open_audit(config: &Config) -> Result<Arc<Audit>, StartError> {
    let a = &config.audit;
    let path = a.enabled.then(|| audit_path(config));
    Audit::open(AuditSettings {
        path: path.clone(),
        max_file_bytes: a.max_file_mb.max(1) << 20,
        keep_files: a.keep_files,
        recent: a.recent_records,
    })
    .map_err(|e| {
        StartError::Engine(format!(
            "cannot open the audit file {}: {e}",
            path.unwrap_or_default().display()
        ))
    })
}

/// Create the data directory; write the demo data on first start (into
/// `demo_dir`, on a local lake).
async fn prepare_data_dir(
    dir: &Path,
    demo_dir: Option<&Path>,
    scale_factor: f64,
) -> Result<(), StartError> {
    let err = |message: String| StartError::DataDir {
        path: dir.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create it: {e}")))?;
    let probe = dir.join(".weir-write-probe");
    std::fs::write(&probe, b"").map_err(|e| err(format!("cannot write to it: {e}")))?;
    let _ = std::fs::remove_file(&probe);

    let marker = dir.join(".demo-tpch-written");
    if let (Some(schema_dir), true) = (demo_dir, scale_factor > 0.0 && !marker.exists()) {
        let schema_dir = schema_dir.to_path_buf();
        tracing::info!(scale_factor, dir = %schema_dir.display(), "first start: writing the TPC-H demo data");
        let parts = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let generated = tokio::task::spawn_blocking(move || {
            weir_connectors::lake::tpch::generate(&schema_dir, scale_factor, parts)
        })
        .await
        .map_err(|e| err(format!("demo data generation failed: {e}")))?
        .map_err(|e| err(format!("demo data generation failed: {e}")))?;
        tracing::info!(
            tables = generated.written.len(),
            rows = generated.rows,
            "demo data written"
        );
        std::fs::write(&marker, format!("tpch scale factor {scale_factor}\n"))
            .map_err(|e| err(format!("cannot write to it: {e}")))?;
    }
    Ok(())
}

fn tls_acceptor(config: &TlsConfig) -> Result<TlsAcceptor, StartError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .map_err(|e| {
            StartError::Tls(format!(
                "cannot read certificate {}: {e}",
                config.cert.display()
            ))
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| StartError::Tls(format!("bad certificate {}: {e}", config.cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "no certificate in {}",
            config.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| {
        StartError::Tls(format!(
            "cannot read private key {}: {e}",
            config.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(format!("certificate and key do not work together: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}
