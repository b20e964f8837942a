//! What all connections share: the engine, the authenticator, the live
//! session registry, and the server-wide settings and shutdown signal.
//!
//! It sits below the protocol layer: `server` builds it, `wire` reads it,
//! and it imports neither.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::SessionDefaults;
use crate::engine::Engine;
use crate::registry::SessionRegistry;

/// State shared by all connections.
pub struct ServerState {
    /// The query engine.
    pub engine: Arc<Engine>,
    /// Decides who a connecting client is.
    pub authenticator: Arc<dyn Authenticator>,
    /// The audit trail.
    pub audit: Arc<crate::audit::Audit>,
    /// Live sessions: cancel keys, principals, running statements.
    pub sessions: Arc<SessionRegistry>,
    /// TLS, when configured.
    pub tls: Option<TlsAcceptor>,
    /// Refuse non-TLS clients.
    pub tls_required: bool,
    /// Message size limit after authentication.
    pub max_message_bytes: usize,
    /// Catalog for clients that name none.
    pub default_catalog: String,
    /// Session defaults.
    pub session: SessionDefaults,
    /// SCRAM iterations for passwords set in SQL (`auth.scram_iterations`).
    pub scram_iterations: u32,
    /// Time allowed for startup.
    pub startup_timeout: Duration,
    /// The server's shutdown, as connections see it.
    pub shutdown: Shutdown,
    /// How long running statements may go on after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// The server's shutdown, as a connection sees it.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Fires when the server stops accepting: idle sessions end (57P01).
    pub stopping: CancellationToken,
    /// Fires when the grace period is over: running reads are canceled
    /// (57P01); writes run to their end, so a commit is never cut.
    pub terminate: CancellationToken,
}
