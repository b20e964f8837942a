//! Token logins: the client sends a signed JWT as its password (how
//! Supabase and Neon accept tokens over the Postgres protocol).
//!
//! Keys come from the configuration (an HMAC secret or a PEM public key)
//! and from a JWKS document (a file or a URL), refreshed on a schedule and,
//! when a token names a `kid` no key has, at most once per
//! [`UNKNOWN_KID_REFETCH`]. Each key verifies only its own family's
//! algorithms, so an RSA public key can never serve as an HMAC secret, and
//! `alg: none` is no algorithm at all. `exp` is required; `nbf`, `iss` and
//! `aud` are checked; the leeway is the configured one (jsonwebtoken's own
//! default of 60 s is not used).
//!
//! The user is the configured claim; it must be the user named at startup.
//! Roles come from another claim, and every claim becomes a session
//! attribute that row filters and masks read as
//! `current_setting('weir.jwt.<claim>')`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pgwire::messages::startup::Authentication;
use serde_json::Value;

use super::{AuthExchange, Authenticator, Principal};
use crate::config::JwtConfig;
use crate::error::{Result, WeirError};

/// The least time between two JWKS fetches caused by unknown `kid`s.
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The prefix of the session attributes that hold a token's claims.
pub const CLAIM_PREFIX: &str = "weir.jwt.";

/// A verification key and the algorithms it may verify.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// Where keys came from that can change.
#[derive(Debug, Clone)]
enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// The keys in force: the configured ones and the last JWKS read.
struct KeySet {
    fixed: Vec<Key>,
    fetched: RwLock<Arc<Vec<Key>>>,
    sources: Vec<JwksSource>,
    /// When the last fetch for an unknown `kid` started.
    last_unknown_fetch: Mutex<Option<Instant>>,
    /// Serialises fetches.
    fetching: tokio::sync::Mutex<()>,
    http: reqwest::Client,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("fixed", &self.fixed.len())
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

fn algorithm(name: &str) -> std::result::Result<Algorithm, String> {
    name.parse::<Algorithm>()
        .map_err(|_| format!("unknown JWT algorithm {name:?}"))
}

/// The algorithms of the key's family (that Weir accepts at all).
fn family_algorithms(key: &DecodingKey) -> Vec<Algorithm> {
    key.family()
        .algorithms()
        .iter()
        .copied()
        .filter(|a| !matches!(a, Algorithm::EdDSA))
        .collect()
}

impl KeySet {
    fn new(config: &JwtConfig) -> std::result::Result<Self, String> {
        let mut fixed = Vec::new();
        for k in &config.keys {
            let alg = algorithm(&k.algorithm)?;
            let key = match (&k.secret, &k.pem_file) {
                (Some(secret), None) => DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|e| format!("[[auth.jwt.keys]] secret: {e}"))?,
                (None, Some(path)) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("cannot read JWT key file {}: {e}", path.display()))?;
                    let parsed = match alg.family() {
                        jsonwebtoken::AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                        jsonwebtoken::AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
                        _ => {
                            return Err(format!(
                                "JWT key file {}: {} needs a secret, not a PEM key",
                                path.display(),
                                k.algorithm
                            ))
                        }
                    };
                    parsed.map_err(|e| {
                        format!(
                            "JWT key file {} is not a {} public key: {e}",
                            path.display(),
                            k.algorithm
                        )
                    })?
                }
                _ => {
                    return Err(
                        "each [[auth.jwt.keys]] entry needs exactly one of secret and pem_file"
                            .into(),
                    )
                }
            };
            if key.family() != alg.family() {
                return Err(format!(
                    "[[auth.jwt.keys]]: a {:?} key cannot verify {}",
                    key.family(),
                    k.algorithm
                ));
            }
            fixed.push(Key {
                kid: k.kid.clone(),
                algorithms: family_algorithms(&key),
                key,
            });
        }
        let mut sources = Vec::new();
        if let Some(path) = &config.jwks_file {
            sources.push(JwksSource::File(path.clone()));
        }
        if let Some(url) = &config.jwks_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("auth.jwt.jwks_url {url:?} is not an http(s) URL"));
            }
            sources.push(JwksSource::Url(url.clone()));
        }
        if fixed.is_empty() && sources.is_empty() {
            return Err("[auth.jwt] needs keys, jwks_file or jwks_url".into());
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the JWKS HTTP client: {e}"))?;
        Ok(Self {
            fixed,
            fetched: RwLock::new(Arc::new(Vec::new())),
            sources,
            last_unknown_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            http,
        })
    }

    fn fetched(&self) -> Arc<Vec<Key>> {
        match self.fetched.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Read every JWKS source; on success the keys replace the previous
    /// ones, on failure the previous ones stay.
    async fn refresh(&self) -> std::result::Result<(), String> {
        if self.sources.is_empty() {
            return Ok(());
        }
        let _one = self.fetching.lock().await;
        let mut keys = Vec::new();
        for source in &self.sources {
            let text = match source {
                JwksSource::File(path) => tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| format!("cannot read JWKS file {}: {e}", path.display()))?,
                JwksSource::Url(url) => {
                    let response = self
                        .http
                        .get(url)
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .map_err(|e| format!("cannot fetch JWKS from {url}: {e}"))?;
                    response
                        .text()
                        .await
                        .map_err(|e| format!("cannot fetch JWKS from {url}: {e}"))?
                }
            };
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| format!("JWKS from {source:?} is not a JWK set: {e}"))?;
            for jwk in &set.keys {
                if matches!(
                    jwk.common.public_key_use,
                    Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
                ) {
                    continue;
                }
                let Ok(key) = DecodingKey::from_jwk(jwk) else {
                    tracing::warn!(kid = ?jwk.common.key_id, "skipping a JWK Weir cannot use");
                    continue;
                };
                let mut algorithms = family_algorithms(&key);
                if let Some(alg) = jwk.common.key_algorithm {
                    // A key that names its algorithm verifies only that one.
                    let named = algorithm(&alg.to_string()).ok();
                    algorithms.retain(|a| Some(*a) == named);
                }
                keys.push(Key {
                    kid: jwk.common.key_id.clone(),
                    key,
                    algorithms,
                });
            }
        }
        let mut slot = match self.fetched.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *slot = Arc::new(keys);
        Ok(())
    }

    /// Keys that may verify a token with this `kid` and algorithm.
    fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<Key> {
        let fetched = self.fetched();
        self.fixed
            .iter()
            .chain(fetched.iter())
            .filter(|k| k.algorithms.contains(&alg))
            .filter(|k| match kid {
                // A token naming a key is checked with that key only.
                Some(want) => k.kid.as_deref() == Some(want),
                // One that names none tries every key of its algorithm.
                None => true,
            })
            .cloned()
            .collect()
    }

    /// Whether some key has this `kid`.
    fn knows(&self, kid: &str) -> bool {
        self.fixed
            .iter()
            .chain(self.fetched().iter())
            .any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Refetch for an unknown `kid`, unless that was done lately.
    async fn refetch_for_unknown(&self) {
        if self.sources.is_empty() {
            return;
        }
        {
            let mut last = match self.last_unknown_fetch.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if last.is_some_and(|t| t.elapsed() < UNKNOWN_KID_REFETCH) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = self.refresh().await {
            tracing::warn!("JWKS refresh for an unknown key id failed: {e}");
        }
    }
}

/// Verifies tokens and turns their claims into a [`Principal`].
#[derive(Debug)]
pub struct JwtAuthenticator {
    keys: Arc<KeySet>,
    algorithms: Vec<Algorithm>,
    user_claim: String,
    roles_claim: Option<String>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    /// Stops the refresh task when the authenticator is dropped.
    _refresher: Option<tokio_util::sync::DropGuard>,
}

impl JwtAuthenticator {
    /// Load the configured keys and the JWKS (a JWKS URL that is down at
    /// start is logged and retried; tokens from its keys fail until then).
    pub async fn new(config: &JwtConfig) -> std::result::Result<Self, String> {
        let keys = Arc::new(KeySet::new(config)?);
        let mut algorithms = Vec::new();
        for name in &config.algorithms {
            algorithms.push(algorithm(name)?);
        }
        if algorithms.is_empty() {
            algorithms = vec![Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];
        }
        if config.user_claim.is_empty() {
            return Err("auth.jwt.user_claim must name a claim".into());
        }
        if let Err(e) = keys.refresh().await {
            if config.jwks_file.is_some() && config.jwks_url.is_none() {
                return Err(e);
            }
            tracing::warn!("JWKS not loaded at start (retrying on schedule): {e}");
        }
        let refresher = if keys.sources.is_empty() {
            None
        } else {
            let token = tokio_util::sync::CancellationToken::new();
            let stop = token.clone();
            let every = Duration::from_secs(config.jwks_refresh_secs.max(1));
            let keys = Arc::clone(&keys);
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(every) => {
                            if let Err(e) = keys.refresh().await {
                                tracing::warn!("JWKS refresh failed (keeping the cached keys): {e}");
                            }
                        }
                    }
                }
            });
            Some(token.drop_guard())
        };
        Ok(Self {
            keys,
            algorithms,
            user_claim: config.user_claim.clone(),
            roles_claim: config.roles_claim.clone(),
            issuers: config.issuers.clone(),
            audiences: config.audiences.clone(),
            leeway: config.leeway_secs,
            _refresher: refresher,
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.leeway;
        v.validate_exp = true;
        v.validate_nbf = true;
        let mut required = vec!["exp"];
        if self.issuers.is_empty() {
            v.iss = None;
        } else {
            v.iss = Some(self.issuers.iter().cloned().collect::<HashSet<_>>());
            required.push("iss");
        }
        if self.audiences.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&self.audiences);
            required.push("aud");
        }
        v.set_required_spec_claims(&required);
        v
    }

    /// Check `token` and read who it names. The error says why a token
    /// was refused (the token is the client's own; nothing else leaks).
    pub async fn verify(&self, token: &str) -> std::result::Result<Principal, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            format!("the token is malformed or uses an unsupported algorithm ({e})")
        })?;
        let alg = header.alg;
        if !self.algorithms.contains(&alg) {
            return Err(format!("algorithm {alg:?} is not accepted"));
        }
        if let Some(kid) = header.kid.as_deref() {
            if !self.keys.knows(kid) {
                self.keys.refetch_for_unknown().await;
                if !self.keys.knows(kid) {
                    return Err(format!("no key has id \"{kid}\""));
                }
            }
        }
        let candidates = self.keys.candidates(header.kid.as_deref(), alg);
        if candidates.is_empty() {
            return Err(format!("no key verifies {alg:?} tokens"));
        }
        let validation = self.validation(alg);
        let mut last = String::from("the signature does not verify");
        for key in &candidates {
            match jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return self.principal(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    let reason = match e.kind() {
                        K::InvalidSignature | K::InvalidAlgorithm | K::InvalidKeyFormat => {
                            last = "the signature does not verify".into();
                            continue;
                        }
                        K::ExpiredSignature => "the token has expired".to_owned(),
                        K::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
                        K::InvalidIssuer => "the token's issuer is not accepted".to_owned(),
                        K::InvalidAudience => "the token's audience is not accepted".to_owned(),
                        K::MissingRequiredClaim(c) => format!("the token has no \"{c}\" claim"),
                        K::InvalidClaimFormat(c) => {
                            format!("the token's \"{c}\" claim is malformed")
                        }
                        _ => format!("the token is malformed ({e})"),
                    };
                    return Err(reason);
                }
            }
        }
        Err(last)
    }

    fn principal(&self, claims: BTreeMap<String, Value>) -> std::result::Result<Principal, String> {
        let user = match claims.get(&self.user_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(format!(
                    "the token has no string \"{}\" claim naming the user",
                    self.user_claim
                ))
            }
        };
        let mut roles = Vec::new();
        if let Some(claim) = &self.roles_claim {
            match claims.get(claim) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => roles.extend(
                    s.split([' ', ','])
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned),
                ),
                Some(Value::Array(items)) => {
                    for item in items {
                        match item {
                            Value::String(s) if !s.is_empty() => roles.push(s.clone()),
                            _ => return Err(format!("the \"{claim}\" claim holds a non-string")),
                        }
                    }
                }
                Some(_) => return Err(format!("the \"{claim}\" claim is not a list of roles")),
            }
        }
        let attributes = claims
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (format!("{CLAIM_PREFIX}{k}"), text)
            })
            .collect();
        Ok(Principal {
            user,
            roles,
            attributes,
            method: "jwt",
        })
    }
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, user: &str, exchange: &mut dyn AuthExchange) -> Result<Principal> {
        exchange.send(Authentication::CleartextPassword).await?;
        let token = exchange.password().await?;
        let failed = |reason: String| WeirError::LoginFailed {
            method: "JWT",
            user: user.to_owned(),
            reason,
        };
        let principal = self.verify(token.trim()).await.map_err(failed)?;
        if principal.user != user {
            return Err(failed(format!(
                "the token is for user \"{}\"",
                principal.user
            )));
        }
        Ok(principal)
    }
}
