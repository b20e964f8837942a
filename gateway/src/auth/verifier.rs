//! SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677), stored as PostgreSQL
//! stores them: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (base64 parts). The server checks a client's proof and proves itself
//! with these two keys alone; neither the password nor anything that
//! replays a login can be recovered from them. A verifier copied from
//! PostgreSQL's `pg_authid.rolpassword` works here, and PostgreSQL accepts
//! Weir's.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore;
use ring::{digest, hmac, pbkdf2};

const PREFIX: &str = "SCRAM-SHA-256$";

/// A stored SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// The salt.
    pub salt: Vec<u8>,
    /// H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(..)")
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.stored_key),
            STANDARD.encode(&self.server_key)
        )
    }
}

/// PBKDF2-HMAC-SHA-256 of `password` (SCRAM's `Hi`).
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

/// HMAC-SHA-256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
        .as_ref()
        .to_vec()
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    pub fn new(password: &str, iterations: u32) -> Self {
        let mut salt = vec![0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        Self::with_salt(password, salt, iterations)
    }

    /// The verifier of `password` with `salt`.
    pub fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = salted_password(password, &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Self {
            iterations,
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
            salt,
        }
    }

    /// Parse PostgreSQL's text form; `None` if `text` is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let v = Self {
            iterations: iterations.parse().ok().filter(|i| *i > 0)?,
            salt: STANDARD.decode(salt).ok()?,
            stored_key: STANDARD.decode(stored).ok()?,
            server_key: STANDARD.decode(server).ok()?,
        };
        (v.stored_key.len() == 32 && v.server_key.len() == 32 && !v.salt.is_empty()).then_some(v)
    }

    /// What `PASSWORD '…'` stores: a verifier given as such (PostgreSQL's
    /// pre-hashed form) is kept, anything else is hashed.
    pub fn from_password_text(text: &str, iterations: u32) -> Self {
        Self::parse(text).unwrap_or_else(|| Self::new(text, iterations))
    }

    /// Whether `password` is the one this verifier was made from
    /// (constant time in the comparison).
    pub fn matches(&self, password: &str) -> bool {
        let salted = salted_password(password, &self.salt, self.iterations);
        let stored = sha256(&hmac_sha256(&salted, b"Client Key"));
        constant_time_eq(&stored, &self.stored_key)
    }
}

/// Byte equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_round_trip_and_check_passwords() {
        let v = Verifier::new("s3cret", 4096);
        let text = v.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!text.contains("s3cret"));
        let back = Verifier::parse(&text).unwrap();
        assert_eq!(back, v);
        assert!(back.matches("s3cret"));
        assert!(!back.matches("s3cret "));
        assert_eq!(
            Verifier::from_password_text(&text, 4096),
            v,
            "kept as given"
        );
        assert!(Verifier::parse("SCRAM-SHA-256$0:AAAA$AAAA:AAAA").is_none());
        assert!(Verifier::parse("md5abc").is_none());
        assert_eq!(format!("{v:?}"), "Verifier(..)");
    }

    #[test]
    fn a_postgresql_verifier_is_accepted() {
        // Made by PostgreSQL 15: SET password_encryption = 'scram-sha-256';
        // CREATE ROLE x PASSWORD 'pw'; SELECT rolpassword FROM pg_authid ...
        // The same derivation, with a fixed salt, must give the same keys.
        let salt = STANDARD.decode("c2FsdHNhbHRzYWx0c2FsdA==").unwrap();
        let ours = Verifier::with_salt("pw", salt.clone(), 4096);
        let text = ours.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$"));
        assert!(Verifier::parse(&text).unwrap().matches("pw"));
    }
}
