//! Who may log in with a password: the roles stored in the catalog
//! database (shared by every server on it), read through the policies in
//! force, plus the bootstrap of the roles the configuration defines.
//!
//! Passwords are kept only as SCRAM-SHA-256 verifiers ([`Verifier`]),
//! never in the clear and never logged.

use std::sync::Arc;

use rand::RngCore;
use weir_catalog::access::RoleRow;
use weir_policies::Policies;

use super::verifier::{hmac_sha256, Verifier};
use crate::config::AuthConfig;
use crate::error::Result;

/// The embedded default's demo user.
pub const DEMO_USER: &str = "weir";
const DEMO_PASSWORD: &str = "weir";

/// The users Weir knows.
#[derive(Debug, Clone)]
pub struct UserStore {
    policies: Arc<Policies>,
    iterations: u32,
    /// Whether cleartext passwords may be asked for over TLS.
    pub cleartext_over_tls: bool,
    /// Per-process secret the mock salts of unknown users derive from.
    mock_secret: [u8; 32],
}

impl UserStore {
    /// Passwords as the policies in force store them.
    pub fn new(policies: Arc<Policies>, config: &AuthConfig) -> Self {
        let mut mock_secret = [0u8; 32];
        rand::rng().fill_bytes(&mut mock_secret);
        Self {
            policies,
            iterations: u32::try_from(config.scram_iterations).unwrap_or(u32::MAX),
            cleartext_over_tls: config.cleartext_over_tls,
            mock_secret,
        }
    }

    /// The verifier of `user`, if it is a stored role with a password.
    pub fn verifier(&self, user: &str) -> Option<Verifier> {
        self.policies
            .logins()
            .verifier(user)
            .and_then(Verifier::parse)
    }

    /// Whether `user` has the LOGIN attribute.
    pub fn may_log_in(&self, user: &str) -> bool {
        self.policies.logins().may_log_in(user)
    }

    /// A verifier for a user that cannot log in: its salt depends only on
    /// the name, so repeated attempts look like a real user's.
    pub fn mock(&self, user: &str) -> Verifier {
        let salt = hmac_sha256(&self.mock_secret, user.as_bytes())[..16].to_vec();
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        Verifier {
            iterations: self.iterations,
            salt,
            stored_key: random.to_vec(),
            server_key: random.to_vec(),
        }
    }
}

/// Store the roles the configuration defines: each `[[auth.users]]` entry
/// is a superuser that may log in (with none, the demo user `weir`);
/// config roles no longer listed lose their login. A stored verifier that
/// still matches the configured password is kept, so a restart changes
/// nothing.
pub async fn bootstrap(policies: &Policies, config: &AuthConfig) -> Result<()> {
    let iterations = u32::try_from(config.scram_iterations).unwrap_or(u32::MAX);
    let current = policies.logins();
    let mut wanted: Vec<(String, String)> = Vec::new();
    for user in &config.users {
        let password = user
            .password()
            .map_err(|e| crate::error::WeirError::InvalidParameterValue(e.to_string()))?;
        wanted.push((user.name.clone(), password));
    }
    if wanted.is_empty() {
        wanted.push((DEMO_USER.to_owned(), DEMO_PASSWORD.to_owned()));
    }
    let mut roles: Vec<RoleRow> = wanted
        .iter()
        .map(|(name, password)| {
            let stored = current
                .verifier(name)
                .and_then(Verifier::parse)
                .filter(|v| v.matches(password));
            RoleRow {
                name: name.clone(),
                login: true,
                superuser: true,
                verifier: Some(
                    stored
                        .unwrap_or_else(|| Verifier::new(password, iterations))
                        .to_string(),
                ),
                origin: "config".into(),
            }
        })
        .collect();
    // PostgreSQL's predefined role for reading files on the server: its
    // members may register files as tables (see weir_policies::storage).
    roles.push(RoleRow {
        name: weir_policies::storage::READ_SERVER_FILES.to_owned(),
        login: false,
        superuser: false,
        verifier: None,
        origin: "builtin".into(),
    });
    policies.store().apply_config_roles(&roles).await?;
    policies.refresh().await?;
    Ok(())
}
