//! Who may log in with a password, and the secrets needed to check them.
//!
//! Passwords are kept only as SCRAM-SHA-256 salted passwords (plus, for the
//! cleartext-over-TLS option, compared through the same derivation), never in
//! the clear and never logged. The exchanges that use them are in
//! [`super::scram`].

use std::collections::HashMap;

use pgwire::api::auth::sasl::scram::gen_salted_password;
use rand::RngCore;

use crate::config::AuthConfig;

/// The embedded default's demo user.
pub const DEMO_USER: &str = "weir";
const DEMO_PASSWORD: &str = "weir";

/// A user's verifier material.
#[derive(Clone)]
pub struct UserSecret {
    /// Random per-user salt.
    pub salt: Vec<u8>,
    /// PBKDF2-HMAC-SHA-256(password, salt, iterations).
    pub salted_password: Vec<u8>,
}

impl std::fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserSecret(..)")
    }
}

/// The users Weir knows.
#[derive(Debug, Clone)]
pub struct UserStore {
    users: HashMap<String, UserSecret>,
    iterations: usize,
    /// Whether cleartext passwords may be asked for over TLS.
    pub cleartext_over_tls: bool,
}

impl UserStore {
    /// Build from config; with no configured users, the demo user exists.
    /// (Whether that is allowed on the listen address is checked by config.)
    pub fn from_config(config: &AuthConfig) -> Self {
        let iterations = config.scram_iterations;
        let mut users = HashMap::new();
        if config.users.is_empty() {
            users.insert(DEMO_USER.to_owned(), secret(DEMO_PASSWORD, iterations));
        }
        for user in &config.users {
            users.insert(user.name.clone(), secret(&user.password, iterations));
        }
        Self {
            users,
            iterations,
            cleartext_over_tls: config.cleartext_over_tls,
        }
    }

    /// SCRAM iteration count.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// The secret of `user`, if the user exists.
    pub fn get(&self, user: &str) -> Option<&UserSecret> {
        self.users.get(user)
    }

    /// A secret for a user that does not exist: the exchange runs to its end
    /// and fails, so a client cannot tell unknown users from bad passwords.
    pub fn decoy(&self) -> UserSecret {
        secret(&random_token(), self.iterations)
    }

    /// Check a cleartext password in constant time over the derived key.
    pub fn check_cleartext(&self, user: &str, password: &str) -> bool {
        match self.users.get(user) {
            Some(s) => {
                let derived = gen_salted_password(password, &s.salt, self.iterations);
                constant_time_eq(&derived, &s.salted_password)
            }
            None => false,
        }
    }
}

fn secret(password: &str, iterations: usize) -> UserSecret {
    let mut salt = vec![0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salted_password = gen_salted_password(password, &salt, iterations);
    UserSecret {
        salt,
        salted_password,
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_user_exists_only_without_configured_users() {
        let store = UserStore::from_config(&AuthConfig::default());
        assert!(store.check_cleartext("weir", "weir"));
        assert!(!store.check_cleartext("weir", "wrong"));
        let mut config = AuthConfig::default();
        config.users.push(crate::config::UserConfig {
            name: "alice".into(),
            password: "pw".into(),
        });
        let store = UserStore::from_config(&config);
        assert!(store.get("weir").is_none());
        assert!(store.check_cleartext("alice", "pw"));
    }

    #[test]
    fn secrets_do_not_print() {
        let store = UserStore::from_config(&AuthConfig::default());
        let shown = format!("{store:?}");
        assert!(!shown.contains("salted_password"), "{shown}");
    }
}
