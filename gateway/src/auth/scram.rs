//! Password logins: SCRAM-SHA-256 against stored verifiers, or a
//! cleartext password when the connection is TLS and the configuration
//! allows it.
//!
//! The server side of SCRAM is Weir's own (pgwire's needs the salted
//! password, which is as good as the password for logging in): it checks
//! the client's proof with StoredKey and signs with ServerKey. Channel
//! binding is not offered (no `SCRAM-SHA-256-PLUS`), so a client's
//! gs2 header must be `n` or `y`.
//!
//! A user that does not exist, may not log in, or has no password runs the
//! whole exchange against a mock verifier whose salt is derived from the
//! name (the same on every attempt, as PostgreSQL does) and fails exactly
//! as a wrong password does.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use pgwire::messages::startup::Authentication;
use rand::RngCore;

use super::users::UserStore;
use super::verifier::{constant_time_eq, hmac_sha256, sha256, Verifier};
use super::{AuthExchange, Authenticator, Principal};
use crate::error::{Result, WeirError};

/// SCRAM-SHA-256 (or cleartext over TLS) against a [`UserStore`].
#[derive(Debug)]
pub struct PasswordAuthenticator {
    users: UserStore,
}

impl PasswordAuthenticator {
    /// Check passwords against `users`.
    pub fn new(users: UserStore) -> Self {
        Self { users }
    }
}

#[async_trait]
impl Authenticator for PasswordAuthenticator {
    async fn authenticate(&self, user: &str, exchange: &mut dyn AuthExchange) -> Result<Principal> {
        let known = self.users.verifier(user);
        let verifier = known.clone().unwrap_or_else(|| self.users.mock(user));
        let cleartext = exchange.is_tls() && self.users.cleartext_over_tls;
        let proven = if cleartext {
            exchange.send(Authentication::CleartextPassword).await?;
            let password = exchange.password().await?;
            verifier.matches(&password)
        } else {
            scram(&verifier, exchange).await?
        };
        if !proven || known.is_none() {
            return Err(WeirError::BadPassword(user.to_owned()));
        }
        if !self.users.may_log_in(user) {
            return Err(WeirError::AuthRejected(format!(
                "role \"{user}\" is not permitted to log in"
            )));
        }
        Ok(Principal {
            method: if cleartext { "password" } else { "scram" },
            ..Principal::user(user)
        })
    }
}

fn malformed(what: &str) -> WeirError {
    WeirError::Protocol(format!("malformed SCRAM message: {what}"))
}

/// One SCRAM-SHA-256 exchange: whether the client proved the password.
async fn scram(verifier: &Verifier, exchange: &mut dyn AuthExchange) -> Result<bool> {
    exchange
        .send(Authentication::SASL(vec!["SCRAM-SHA-256".into()]))
        .await?;
    let (mechanism, first) = exchange.sasl_initial().await?;
    if mechanism != "SCRAM-SHA-256" {
        return Err(WeirError::AuthRejected(format!(
            "SASL authentication mechanism {mechanism} is not supported"
        )));
    }
    let first = std::str::from_utf8(&first).map_err(|_| malformed("not UTF-8"))?;
    // gs2-header: "n,," or "y,," (an authzid may sit between the commas).
    let (flag, rest) = first
        .split_once(',')
        .ok_or_else(|| malformed("no gs2 header"))?;
    if flag.starts_with('p') {
        return Err(WeirError::AuthRejected(
            "channel binding is not supported; connect with channel_binding=disable or prefer"
                .into(),
        ));
    }
    if flag != "n" && flag != "y" {
        return Err(malformed("bad gs2 flag"));
    }
    let (_authzid, bare) = rest
        .split_once(',')
        .ok_or_else(|| malformed("no gs2 header"))?;
    let gs2_header = &first[..first.len() - bare.len()];
    let client_nonce = bare
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| malformed("no client nonce"))?;

    let mut server_nonce = [0u8; 18];
    rand::rng().fill_bytes(&mut server_nonce);
    let nonce = format!("{client_nonce}{}", STANDARD.encode(server_nonce));
    let server_first = format!(
        "r={nonce},s={},i={}",
        STANDARD.encode(&verifier.salt),
        verifier.iterations
    );
    exchange
        .send(Authentication::SASLContinue(Bytes::from(
            server_first.clone(),
        )))
        .await?;

    let last = exchange.sasl_response().await?;
    let last = std::str::from_utf8(&last).map_err(|_| malformed("not UTF-8"))?;
    let (without_proof, proof) = last
        .rsplit_once(",p=")
        .ok_or_else(|| malformed("no proof"))?;
    let mut binding = None;
    let mut final_nonce = None;
    for attr in without_proof.split(',') {
        if let Some(c) = attr.strip_prefix("c=") {
            binding = Some(c);
        } else if let Some(r) = attr.strip_prefix("r=") {
            final_nonce = Some(r);
        }
    }
    if binding != Some(STANDARD.encode(gs2_header).as_str()) {
        return Err(malformed("channel binding does not match the gs2 header"));
    }
    if final_nonce != Some(nonce.as_str()) {
        return Err(malformed("nonce does not match"));
    }
    let proof = STANDARD
        .decode(proof)
        .map_err(|_| malformed("proof is not base64"))?;
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let client_signature = hmac_sha256(&verifier.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return Ok(false);
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(a, b)| a ^ b)
        .collect();
    if !constant_time_eq(&sha256(&client_key), &verifier.stored_key) {
        return Ok(false);
    }
    let server_signature = hmac_sha256(&verifier.server_key, auth_message.as_bytes());
    exchange
        .send(Authentication::SASLFinal(Bytes::from(format!(
            "v={}",
            STANDARD.encode(server_signature)
        ))))
        .await?;
    Ok(true)
}
