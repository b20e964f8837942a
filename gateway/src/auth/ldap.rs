//! Directory logins, as PostgreSQL's `ldap` method does them: the client
//! sends its password in the clear (use TLS), and Weir binds to the
//! directory as the user.
//!
//! - Simple bind: the DN is `prefix` + user + `suffix`.
//! - Search+bind: bind as `bind_dn` (or anonymously), find the one entry
//!   under `base_dn` whose `search_attribute` is the user, then bind as it.
//!
//! StartTLS (`starttls = true`) or `ldaps://` protect the password on the
//! way to the directory. Group entries found with `group_filter` under
//! `group_base_dn` become the session's roles (through `group_roles`).
//!
//! An empty password is refused before the directory sees it (an LDAP
//! bind with no password is an anonymous bind, which succeeds). A user the
//! search does not find fails exactly as a wrong password does, after a
//! bind attempt of the same cost. A directory that cannot be reached fails
//! with 28000 within `timeout_ms`; other login methods are unaffected.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use pgwire::messages::startup::Authentication;
use tokio_rustls::rustls;

use super::{AuthExchange, Authenticator, Principal};
use crate::config::LdapConfig;
use crate::error::{Result, WeirError};

/// LDAP result code of a failed bind.
const INVALID_CREDENTIALS: u32 = 49;

/// Checks passwords against a directory.
#[derive(Debug)]
pub struct LdapAuthenticator {
    config: LdapConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// Why a directory login did not succeed.
enum Failure {
    /// Wrong password, unknown user: 28P01, the same for both.
    Credentials,
    /// The directory is unreachable or misbehaves: 28000.
    Directory(String),
}

impl From<ldap3::LdapError> for Failure {
    fn from(e: ldap3::LdapError) -> Self {
        match e {
            ldap3::LdapError::LdapResult { result } if result.rc == INVALID_CREDENTIALS => {
                Failure::Credentials
            }
            other => Failure::Directory(other.to_string()),
        }
    }
}

impl LdapAuthenticator {
    /// Check the settings and load the CA file.
    pub fn new(config: &LdapConfig) -> std::result::Result<Self, String> {
        let tls = match &config.ca_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    format!("cannot read auth.ldap.ca_file {}: {e}", path.display())
                })?;
                let mut roots = rustls::RootCertStore::empty();
                let mut reader = std::io::Cursor::new(pem);
                for cert in rustls_pemfile_certs(&mut reader) {
                    roots
                        .add(cert)
                        .map_err(|e| format!("auth.ldap.ca_file {}: {e}", path.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "auth.ldap.ca_file {} holds no certificate",
                        path.display()
                    ));
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("LDAP TLS: {e}"))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(Arc::new(config))
            }
        };
        Ok(Self {
            config: config.clone(),
            tls,
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms.max(1))
    }

    async fn connect(&self) -> std::result::Result<Ldap, Failure> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.config.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(Arc::clone(tls));
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| {
                Failure::Directory(format!("cannot connect to {}: {e}", self.config.url))
            })?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// Bind as the user; their roles from the directory's groups.
    async fn login(&self, user: &str, password: &str) -> std::result::Result<Vec<String>, Failure> {
        let mut ldap = self.connect().await?;
        let result = self.login_on(&mut ldap, user, password).await;
        let _ = ldap.unbind().await;
        result
    }

    async fn login_on(
        &self,
        ldap: &mut Ldap,
        user: &str,
        password: &str,
    ) -> std::result::Result<Vec<String>, Failure> {
        let c = &self.config;
        let dn = match &c.base_dn {
            None => format!("{}{}{}", c.prefix, ldap3::dn_escape(user), c.suffix),
            Some(base) => {
                let (who, secret) = match (&c.bind_dn, &c.bind_password) {
                    (Some(dn), pw) => (dn.as_str(), pw.as_deref().unwrap_or("")),
                    (None, _) => ("", ""),
                };
                ldap.simple_bind(who, secret)
                    .await?
                    .success()
                    .map_err(|e| {
                        Failure::Directory(format!("search bind as {who:?} failed: {e}"))
                    })?;
                let filter = format!("({}={})", c.search_attribute, ldap_escape(user));
                let (entries, _) = ldap
                    .search(base, Scope::Subtree, &filter, vec!["1.1"])
                    .await?
                    .success()?;
                if entries.len() != 1 {
                    // Same work as a real attempt, then the same failure.
                    let decoy = format!("{}={},{base}", c.search_attribute, uuid::Uuid::new_v4());
                    let _ = ldap.simple_bind(&decoy, password).await;
                    return Err(Failure::Credentials);
                }
                construct(entries.into_iter().next())?.dn
            }
        };
        ldap.simple_bind(&dn, password).await?.success()?;
        self.groups(ldap, user, &dn).await
    }

    async fn groups(
        &self,
        ldap: &mut Ldap,
        user: &str,
        dn: &str,
    ) -> std::result::Result<Vec<String>, Failure> {
        let c = &self.config;
        let Some(base) = &c.group_base_dn else {
            return Ok(Vec::new());
        };
        if let Some(bind_dn) = &c.bind_dn {
            ldap.simple_bind(bind_dn, c.bind_password.as_deref().unwrap_or(""))
                .await?
                .success()
                .map_err(|e| Failure::Directory(format!("group search bind failed: {e}")))?;
        }
        let filter = c
            .group_filter
            .replace("$dn", &ldap_escape(dn))
            .replace("$user", &ldap_escape(user));
        let (entries, _) = ldap
            .search(
                base,
                Scope::Subtree,
                &filter,
                vec![c.group_attribute.as_str()],
            )
            .await?
            .success()?;
        let mut roles = Vec::new();
        for entry in entries {
            let entry = construct(Some(entry))?;
            for name in entry.attrs.get(&c.group_attribute).into_iter().flatten() {
                let role = if c.group_roles.is_empty() {
                    Some(name.clone())
                } else {
                    c.group_roles.get(name).cloned()
                };
                if let Some(role) = role.filter(|r| !roles.contains(r)) {
                    roles.push(role);
                }
            }
        }
        Ok(roles)
    }
}

/// A search result entry, parsed (ldap3 panics on malformed BER; a
/// broken directory answer fails the login instead).
fn construct(entry: Option<ldap3::ResultEntry>) -> std::result::Result<SearchEntry, Failure> {
    let entry = entry.ok_or_else(|| Failure::Directory("empty search result".into()))?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SearchEntry::construct(entry)
    }))
    .map_err(|_| Failure::Directory("malformed search result entry".into()))
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(
    reader: &mut dyn std::io::BufRead,
) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    let mut text = Vec::new();
    if reader.read_to_end(&mut text).is_err() {
        return Vec::new();
    }
    rustls_pki_types::CertificateDer::pem_slice_iter(&text)
        .filter_map(std::result::Result::ok)
        .collect()
}

#[async_trait]
impl Authenticator for LdapAuthenticator {
    async fn authenticate(&self, user: &str, exchange: &mut dyn AuthExchange) -> Result<Principal> {
        exchange.send(Authentication::CleartextPassword).await?;
        let password = exchange.password().await?;
        let failed = || WeirError::LoginFailed {
            method: "LDAP",
            user: user.to_owned(),
            reason: String::new(),
        };
        if password.is_empty() {
            return Err(failed());
        }
        let attempt = tokio::time::timeout(self.timeout() * 2, self.login(user, &password)).await;
        match attempt {
            Ok(Ok(roles)) => Ok(Principal {
                roles,
                method: "ldap",
                ..Principal::user(user)
            }),
            Ok(Err(Failure::Credentials)) => Err(failed()),
            Ok(Err(Failure::Directory(why))) => {
                tracing::warn!(user, "LDAP login could not be checked: {why}");
                Err(WeirError::AuthRejected(
                    "could not check the password with the LDAP server (see the server log)".into(),
                ))
            }
            Err(_) => {
                tracing::warn!(user, url = %self.config.url, "LDAP server did not answer in time");
                Err(WeirError::AuthRejected(
                    "the LDAP server did not answer in time".into(),
                ))
            }
        }
    }
}
