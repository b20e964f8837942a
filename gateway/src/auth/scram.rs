//! Password logins: SCRAM-SHA-256, or a cleartext password when the
//! connection is TLS and the configuration allows it.
//!
//! An unknown user runs the whole exchange against a decoy secret and fails
//! as a wrong password does, so a client cannot tell the two apart.

use async_trait::async_trait;
use bytes::Bytes;
use pgwire::api::auth::sasl::scram::ScramServerAuth;
use pgwire::api::auth::Password;
use pgwire::messages::startup::Authentication;

use super::users::UserStore;
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
        if exchange.is_tls() && self.users.cleartext_over_tls {
            return self.cleartext(user, exchange).await;
        }
        self.scram(user, exchange).await
    }
}

impl PasswordAuthenticator {
    async fn cleartext(&self, user: &str, exchange: &mut dyn AuthExchange) -> Result<Principal> {
        exchange.send(Authentication::CleartextPassword).await?;
        let password = exchange.password().await?;
        if self.users.check_cleartext(user, &password) {
            Ok(Principal::user(user))
        } else {
            Err(WeirError::BadPassword(user.to_owned()))
        }
    }

    async fn scram(&self, user: &str, exchange: &mut dyn AuthExchange) -> Result<Principal> {
        exchange
            .send(Authentication::SASL(vec!["SCRAM-SHA-256".into()]))
            .await?;
        let (mechanism, first) = exchange.sasl_initial().await?;
        if mechanism != "SCRAM-SHA-256" {
            return Err(WeirError::AuthRejected(format!(
                "SASL authentication mechanism {mechanism} is not supported"
            )));
        }

        let known = self.users.get(user).cloned();
        let secret = known.clone().unwrap_or_else(|| self.users.decoy());
        let mut scram = ScramServerAuth::new();
        scram.set_iterations(self.users.iterations());
        let (server_first, waiting) = scram
            .on_client_first_message(
                &first,
                Password::new(Some(secret.salt.clone()), secret.salted_password.clone()),
            )
            .map_err(|e| {
                WeirError::Protocol(format!("malformed SCRAM client-first-message: {e}"))
            })?;
        exchange
            .send(Authentication::SASLContinue(Bytes::from(server_first)))
            .await?;

        let last = exchange.sasl_response().await?;
        let server_final = waiting
            .on_client_final_message(&last)
            .map_err(|_| WeirError::BadPassword(user.to_owned()))?;
        if known.is_none() {
            return Err(WeirError::BadPassword(user.to_owned()));
        }
        exchange
            .send(Authentication::SASLFinal(Bytes::from(server_final)))
            .await?;
        Ok(Principal::user(user))
    }
}
