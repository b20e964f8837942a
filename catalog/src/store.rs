//! The lake's object store: the local file system or S3 (AWS, MinIO, Garage,
//! any S3-compatible server), through `object_store`.
//!
//! S3 credentials come, in order of precedence, from the `[lake.s3]` keys,
//! a named profile in the shared credentials file (`profile`, or
//! `AWS_PROFILE`), the standard `AWS_*` environment variables, web identity
//! or container credentials, and finally the instance metadata service.
//! Secrets are never logged: [`S3Options`]' `Debug` redacts them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, AwsCredential};
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use object_store::{BackoffConfig, ClientConfigKey, CredentialProvider, RetryConfig};
use serde::Deserialize;

use crate::{CatalogError, LakeLocation, Result};

/// `[lake.s3]`: how to reach an S3-compatible store.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Options {
    /// AWS region (e.g. `eu-west-1`); `AWS_REGION` otherwise, else `us-east-1`.
    pub region: Option<String>,
    /// Custom endpoint for S3-compatible servers, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// Address buckets as `endpoint/bucket/key` (path style, what MinIO and
    /// most S3-compatible servers want) rather than `bucket.endpoint/key`.
    /// Default: path style with a custom endpoint, virtual-hosted on AWS.
    pub path_style: Option<bool>,
    /// Allow plain `http://` endpoints (default: only when the endpoint
    /// says `http://`).
    pub allow_http: Option<bool>,
    /// Access key id; prefer the environment or a profile.
    pub access_key_id: Option<String>,
    /// Secret access key; use `${ENV_VAR}` rather than writing it here.
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
    /// Named profile in `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`).
    pub profile: Option<String>,
    /// Send unsigned requests (public buckets).
    pub anonymous: bool,
    /// Seconds to wait for a connection to the endpoint (default 5).
    pub connect_timeout_secs: Option<u64>,
    /// Retries of a failed request (default 3); all of them within
    /// `retry_timeout_secs` (default 15). Then the statement fails.
    pub max_retries: Option<usize>,
    /// See `max_retries`.
    pub retry_timeout_secs: Option<u64>,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("profile", &self.profile)
            .field("anonymous", &self.anonymous)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout_secs", &self.retry_timeout_secs)
            .finish()
    }
}

/// Build the object store holding `location`.
pub fn build_store(location: &LakeLocation, s3: &S3Options) -> Result<Arc<dyn ObjectStore>> {
    match location {
        LakeLocation::Local(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CatalogError::io(dir, e))?;
            Ok(Arc::new(LocalFileSystem::new()))
        }
        LakeLocation::S3 { bucket, .. } => {
            Ok(Arc::new(s3_builder(bucket, s3)?.build().map_err(|e| {
                CatalogError::Config(format!("cannot configure S3 bucket {bucket:?}: {e}"))
            })?))
        }
    }
}

fn s3_builder(bucket: &str, s3: &S3Options) -> Result<AmazonS3Builder> {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let profile = s3
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let profile_given = profile.is_some();
    if let Some(profile) = profile {
        let creds = profile_credentials(&profile)?;
        for (key, value) in creds {
            b = b.with_config(key, value);
        }
    }
    if let Some(region) = &s3.region {
        b = b.with_region(region);
    } else if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        b = b.with_region("us-east-1");
    }
    if let Some(endpoint) = &s3.endpoint {
        b = b.with_endpoint(endpoint);
        b = b.with_allow_http(s3.allow_http.unwrap_or(endpoint.starts_with("http://")));
        b = b.with_virtual_hosted_style_request(!s3.path_style.unwrap_or(true));
    } else {
        if let Some(allow) = s3.allow_http {
            b = b.with_allow_http(allow);
        }
        if let Some(path_style) = s3.path_style {
            b = b.with_virtual_hosted_style_request(!path_style);
        }
    }
    if let Some(v) = &s3.access_key_id {
        b = b.with_access_key_id(v);
    }
    if let Some(v) = &s3.secret_access_key {
        b = b.with_secret_access_key(v);
    }
    if let Some(v) = &s3.session_token {
        b = b.with_token(v);
    }
    if s3.anonymous {
        b = b.with_skip_signature(true);
    } else if s3.endpoint.is_some() && !has_credentials(s3, profile_given) {
        // Off AWS there is no instance metadata service to ask: say what
        // is missing instead of waiting for one to answer.
        b = b.with_credentials(Arc::new(NoCredentials {
            bucket: bucket.to_owned(),
        }));
    }
    // Fail in seconds, not minutes, when the endpoint is down.
    b = b
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            format!("{}s", s3.connect_timeout_secs.unwrap_or(5)),
        )
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: s3.max_retries.unwrap_or(3),
            retry_timeout: Duration::from_secs(s3.retry_timeout_secs.unwrap_or(15)),
        });
    Ok(b)
}

/// Whether any credential source other than instance metadata is set.
fn has_credentials(s3: &S3Options, profile_given: bool) -> bool {
    let env = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    profile_given
        || (s3.access_key_id.is_some() && s3.secret_access_key.is_some())
        || env("AWS_ACCESS_KEY_ID")
        || env("AWS_WEB_IDENTITY_TOKEN_FILE")
        || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
}

/// The credential provider when none is configured: every request fails
/// with a message that says where credentials can come from.
#[derive(Debug)]
struct NoCredentials {
    bucket: String,
}

#[async_trait::async_trait]
impl CredentialProvider for NoCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        Err(object_store::Error::Generic {
            store: "S3",
            source: format!(
                "no S3 credentials for bucket {:?}: set access_key_id and secret_access_key \
                 in [lake.s3] (as ${{ENV_VAR}} references), a profile, or the \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables; \
                 anonymous = true for a public bucket",
                self.bucket
            )
            .into(),
        })
    }
}

/// Keys of one profile of the shared credentials file.
fn profile_credentials(profile: &str) -> Result<Vec<(AmazonS3ConfigKey, String)>> {
    let path = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))
        .ok_or_else(|| CatalogError::Config("no credentials file (HOME is not set)".into()))?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CatalogError::Config(format!(
            "S3 profile {profile:?}: cannot read {}: {e}",
            path.display()
        ))
    })?;
    let section = parse_ini(&text).remove(profile).ok_or_else(|| {
        CatalogError::Config(format!(
            "S3 profile {profile:?} is not in {}",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for (name, key) in [
        ("aws_access_key_id", AmazonS3ConfigKey::AccessKeyId),
        ("aws_secret_access_key", AmazonS3ConfigKey::SecretAccessKey),
        ("aws_session_token", AmazonS3ConfigKey::Token),
        ("region", AmazonS3ConfigKey::Region),
    ] {
        if let Some(v) = section.get(name) {
            out.push((key, v.clone()));
        }
    }
    Ok(out)
}

/// `[section]` / `key = value` lines; `#` and `;` start comments.
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().trim_start_matches("profile ").trim().to_owned();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(current.clone())
                .or_default()
                .insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let opts = S3Options {
            access_key_id: Some("AKIAEXAMPLE".into()),
            secret_access_key: Some("very-secret".into()),
            session_token: Some("token-secret".into()),
            ..Default::default()
        };
        let shown = format!("{opts:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("token-secret"),
            "{shown}"
        );
        assert!(shown.contains("AKIAEXAMPLE"), "{shown}");
    }

    #[test]
    fn reads_profiles_of_the_shared_credentials_file() {
        let ini = "[default]\naws_access_key_id = A\n# c\n[profile lake]\naws_access_key_id=B\naws_secret_access_key = S\n";
        let parsed = parse_ini(ini);
        assert_eq!(parsed["default"]["aws_access_key_id"], "A");
        assert_eq!(parsed["lake"]["aws_secret_access_key"], "S");
    }
}
