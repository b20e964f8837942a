//! Who is connecting: an [`Authenticator`] runs a login exchange over the
//! connection and returns the [`Principal`] the session then acts as.
//!
//! The wire layer knows only this seam: it hands the authenticator an
//! [`AuthExchange`] (send an authentication request, read the client's
//! answer) and gets a principal or an error. Today's mechanism is SCRAM-SHA-256
//! (or a cleartext password over TLS) against the roles stored in the
//! catalog database ([`scram::PasswordAuthenticator`] over
//! [`users::UserStore`], verifiers in [`verifier`]); JWT and LDAP logins plug
//! in here as further authenticators.
//!
//! The principal lives in the session and in its DataFusion config
//! extensions, so `current_user` and, later, policies read it from one place.

pub mod jwt;
pub mod ldap;
pub mod rules;
pub mod scram;
pub mod throttle;
pub mod users;
pub mod verifier;

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result as DfResult};
use pgwire::messages::startup::Authentication;

use crate::error::Result;

/// Who a session acts as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principal {
    /// The login name (`session_user`, `current_user`).
    pub user: String,
    /// Roles the login itself brought (token claims, directory groups);
    /// stored memberships are the policies' to follow.
    pub roles: Vec<String>,
    /// Further facts about the login, by setting name
    /// (`weir.jwt.region`): what `current_setting` answers.
    pub attributes: BTreeMap<String, String>,
    /// How the login was proven (`scram`, `password`, `jwt`, `ldap`).
    pub method: &'static str,
}

impl Principal {
    /// A principal with a name and nothing else.
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            user: name.into(),
            ..Self::default()
        }
    }
}

impl Principal {
    /// The principal as policies see it.
    pub fn subject(&self) -> weir_policies::Subject {
        weir_policies::Subject {
            user: self.user.clone(),
            roles: self.roles.clone(),
        }
    }
}

impl ConfigExtension for Principal {
    const PREFIX: &'static str = "weir_principal";
}

/// The principal rides in a session's DataFusion config, where planning
/// code (functions, policies) finds it; it cannot be changed with `SET`.
impl ExtensionOptions for Principal {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> DfResult<()> {
        Err(DataFusionError::Configuration(format!(
            "parameter \"{key}\" cannot be changed"
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

/// The connection, as an authenticator sees it: the wire layer frames and
/// decodes the messages, the authenticator decides what they mean.
#[async_trait]
pub trait AuthExchange: Send {
    /// Send an authentication request to the client (flushed).
    async fn send(&mut self, message: Authentication) -> Result<()>;
    /// Read a PasswordMessage: the password (or token) as text.
    async fn password(&mut self) -> Result<String>;
    /// Read a SASLInitialResponse: the mechanism and its first message.
    async fn sasl_initial(&mut self) -> Result<(String, Bytes)>;
    /// Read a SASLResponse.
    async fn sasl_response(&mut self) -> Result<Bytes>;
    /// Whether the connection is encrypted.
    fn is_tls(&self) -> bool;
    /// The client's address, when known.
    fn peer(&self) -> Option<SocketAddr>;
}

/// Decides who a connecting client is.
#[async_trait]
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Authenticate `user` (from the startup packet) over `exchange`. On
    /// success the caller sends AuthenticationOk; on failure the error is
    /// what the client is told (`28P01`, `28000`, `08P01`).
    async fn authenticate(&self, user: &str, exchange: &mut dyn AuthExchange) -> Result<Principal>;
}
