//! Configuration in layers: built-in defaults, then `weir.toml`, then
//! environment variables (`WEIR_LISTEN`, `WEIR_DATA_DIR`), then command-line
//! flags. String values in the TOML file may reference environment variables
//! as `${NAME}`, so secrets need not be written in the file.
//!
//! `weir.example.toml` at the top of the repository documents every key; a
//! test checks that it parses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Network and limits.
    pub server: ServerConfig,
    /// Optional TLS.
    pub tls: Option<TlsConfig>,
    /// Users and how they log in.
    pub auth: AuthConfig,
    /// Session defaults.
    pub session: SessionDefaults,
    /// Query engine settings.
    pub query: QueryConfig,
    /// The demo data written on first start.
    pub demo: DemoConfig,
    /// The audit trail.
    pub audit: AuditConfig,
    /// The lakehouse: where files live and where the catalog is kept.
    pub lake: LakeSettings,
    /// Remote databases (`[[source]]` blocks), each a catalog.
    #[serde(rename = "source")]
    pub sources: Vec<weir_connectors::remote::SourceConfig>,
}

/// `[lake]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LakeSettings {
    /// Where the lake's files live: a directory or `s3://bucket/prefix`.
    /// Default: `<data_dir>/lake`.
    pub location: Option<String>,
    /// The Iceberg SQL catalog database: `sqlite:///path/catalog.db` or
    /// `postgres://user:${PASSWORD}@host/db` for a catalog shared by several
    /// Weir servers and other Iceberg engines. Default:
    /// `sqlite://<data_dir>/catalog.db`.
    pub catalog_url: Option<String>,
    /// S3 settings (endpoint, region, credentials) when the lake is on S3.
    pub s3: weir_catalog::S3Options,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Where Weir keeps its state (the lake lives in `<data_dir>/lake`).
    pub data_dir: PathBuf,
    /// Most concurrent client connections; more are refused with 53300.
    pub max_connections: usize,
    /// Largest protocol message accepted after authentication, in bytes.
    pub max_message_bytes: usize,
    /// Seconds a client has to finish startup and authentication.
    pub startup_timeout_secs: u64,
    /// On SIGTERM/Ctrl-C: seconds running statements may go on before they
    /// are canceled (57P01).
    pub shutdown_grace_secs: u64,
}

/// `[tls]`: certificate chain and private key, PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Refuse clients that do not use TLS.
    #[serde(default)]
    pub required: bool,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Configured users. With none, the embedded default user `weir`
    /// (password `weir`) exists, and only while listening on loopback.
    pub users: Vec<UserConfig>,
    /// Ask for a cleartext password instead of SCRAM-SHA-256, on TLS
    /// connections only (for clients without SCRAM support).
    pub cleartext_over_tls: bool,
    /// SCRAM iteration count (at least 4096).
    pub scram_iterations: usize,
    /// How often (milliseconds) the server looks for role and privilege
    /// changes made by other servers on the same catalog database.
    pub policy_poll_ms: u64,
    /// Which login method applies to whom (`[[auth.rules]]`, first match
    /// wins, like `pg_hba.conf` lines); with none, everyone uses `scram`.
    pub rules: Vec<AuthRule>,
    /// JWT logins (`method = "jwt"`).
    pub jwt: Option<JwtConfig>,
    /// LDAP logins (`method = "ldap"`).
    pub ldap: Option<LdapConfig>,
    /// Failed logins allowed per user name, and per client address, within
    /// `lockout_secs` before further attempts are refused.
    pub max_failed_logins: u32,
    /// The window failed logins are counted in, and how long a lockout lasts.
    pub lockout_secs: u64,
}

/// A login method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A password checked with SCRAM-SHA-256 against the stored verifier.
    Scram,
    /// A signed token (JWT) sent as the password.
    Jwt,
    /// A password checked by binding to an LDAP directory.
    Ldap,
    /// Refuse the connection.
    Reject,
}

impl AuthMethod {
    /// The name used in configuration and audit records.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Scram => "scram",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Ldap => "ldap",
            AuthMethod::Reject => "reject",
        }
    }
}

/// One `[[auth.rules]]` line: which method applies to which users from
/// which addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRule {
    /// User name patterns (`*` matches any run of characters); empty or
    /// absent means every user.
    #[serde(default)]
    pub users: Vec<String>,
    /// Client address ranges (`10.0.0.0/8`, `::1/128`, `127.0.0.1`); empty
    /// or absent means every address.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// What applies.
    pub method: AuthMethod,
}

/// `[auth.jwt]`: tokens sent as the password.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// The claim naming the user (`sub`, `preferred_username`, `email`).
    pub user_claim: String,
    /// The claim listing the user's roles (an array of strings, or one
    /// string of names separated by spaces or commas); absent = none.
    pub roles_claim: Option<String>,
    /// Accepted issuers (`iss`); empty = any.
    pub issuers: Vec<String>,
    /// Accepted audiences (`aud`); empty = any.
    pub audiences: Vec<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Accepted algorithms; empty = HS256, RS256 and ES256. Each key is
    /// used only with its own family's algorithms whatever this says.
    pub algorithms: Vec<String>,
    /// Keys given here (`[[auth.jwt.keys]]`).
    pub keys: Vec<JwtKeyConfig>,
    /// A JWKS document on disk, read at start and on every refresh.
    pub jwks_file: Option<PathBuf>,
    /// A JWKS document over HTTP(S), fetched at start, every
    /// `jwks_refresh_secs`, and when a token names an unknown `kid` (at most
    /// once per 30 seconds).
    pub jwks_url: Option<String>,
    /// Seconds between JWKS refreshes.
    pub jwks_refresh_secs: u64,
}

/// One `[[auth.jwt.keys]]` entry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// The `kid` tokens signed with this key carry; absent = any.
    #[serde(default)]
    pub kid: Option<String>,
    /// `HS256`, `RS256`, `ES256` (or another of the key's family).
    pub algorithm: String,
    /// HMAC secret (use `${ENV_VAR}`).
    #[serde(default)]
    pub secret: Option<String>,
    /// Or: a public key, PEM (RSA or EC).
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
}

impl std::fmt::Debug for JwtKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeyConfig")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("pem_file", &self.pem_file)
            .finish()
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            user_claim: "sub".into(),
            roles_claim: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway_secs: 0,
            algorithms: Vec::new(),
            keys: Vec::new(),
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_secs: 300,
        }
    }
}

/// `[auth.ldap]`: passwords checked by an LDAP directory, as PostgreSQL's
/// `ldap` method does: simple bind (`prefix` + user + `suffix`) or
/// search+bind (`base_dn` set).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS before sending any password.
    pub starttls: bool,
    /// CA certificates (PEM) trusted for the directory's TLS certificate;
    /// absent = the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Simple bind: the DN is `prefix` + user + `suffix`.
    pub prefix: String,
    /// Simple bind: see `prefix`.
    pub suffix: String,
    /// Search+bind: where to look for the user's entry.
    pub base_dn: Option<String>,
    /// Search+bind: the attribute holding the login name.
    pub search_attribute: String,
    /// Search+bind: who searches (absent = anonymous).
    pub bind_dn: Option<String>,
    /// Search+bind: its password (use `${ENV_VAR}`).
    pub bind_password: Option<String>,
    /// Where group entries live; absent = roles are not read from LDAP.
    pub group_base_dn: Option<String>,
    /// Group entries the user belongs to: `$dn` and `$user` are replaced
    /// (escaped) by the user's DN and name.
    pub group_filter: String,
    /// The group attribute that names it.
    pub group_attribute: String,
    /// Group name → Weir role; empty = each group is the role of its name.
    pub group_roles: std::collections::BTreeMap<String, String>,
    /// Milliseconds to reach the directory before the login fails (28000).
    pub timeout_ms: u64,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("base_dn", &self.base_dn)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            starttls: false,
            ca_file: None,
            prefix: String::new(),
            suffix: String::new(),
            base_dn: None,
            search_attribute: "uid".into(),
            bind_dn: None,
            bind_password: None,
            group_base_dn: None,
            group_filter: "(member=$dn)".into(),
            group_attribute: "cn".into(),
            group_roles: Default::default(),
            timeout_ms: 5000,
        }
    }
}

/// One `[[auth.users]]` entry: an administrator (a superuser role that may
/// log in), stored in the catalog database at every start. This is how a
/// deployment gets its first admin, who then creates the other roles in SQL.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name.
    pub name: String,
    /// Password; use `${ENV_VAR}` to keep it out of the file.
    #[serde(default)]
    pub password: String,
    /// Or: a file holding the password (a mounted secret); one trailing
    /// newline is dropped.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl UserConfig {
    /// The password, from the file when one is named.
    pub fn password(&self) -> Result<String, ConfigError> {
        match (&self.password_file, self.password.is_empty()) {
            (Some(_), false) => Err(ConfigError::Invalid(format!(
                "[[auth.users]] {:?}: give password or password_file, not both",
                self.name
            ))),
            (Some(path), true) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "[[auth.users]] {:?}: cannot read password_file {}: {e}",
                        self.name,
                        path.display()
                    ))
                })?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                Ok(text.to_owned())
            }
            (None, _) => Ok(self.password.clone()),
        }
    }
}

/// `[session]`: defaults for new sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionDefaults {
    /// Catalog used when the client names no database (or its user name).
    pub default_catalog: String,
    /// Initial `search_path`.
    pub search_path: String,
    /// Initial `TimeZone`.
    pub timezone: String,
    /// Initial `statement_timeout` in milliseconds (0 = none).
    pub statement_timeout_ms: u64,
}

/// `[query]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Parallelism of a query; 0 means the number of cores.
    pub target_partitions: usize,
    /// Rows per Arrow batch.
    pub batch_size: usize,
    /// Memory all statements together may use for sorts, joins and
    /// aggregations before spilling or failing, in MiB; 0 means half of the
    /// machine's (or the cgroup's) memory.
    pub memory_limit_mb: usize,
    /// Memory one statement may use, in MiB; 0 means half of
    /// `memory_limit_mb`.
    pub statement_memory_limit_mb: usize,
    /// Where sorts, aggregations and joins spill; default `<data_dir>/spill`.
    pub spill_dir: Option<PathBuf>,
    /// Worker threads of the query runtime; 0 means one per core (at least two).
    pub threads: usize,
    /// Statements executing at once (reading tables); 0 means four per core.
    pub max_running_statements: usize,
    /// Statements one user may execute at once; 0 means
    /// `max_running_statements`.
    pub max_running_statements_per_user: usize,
    /// Statements that may wait for a slot; more fail at once with 53000.
    pub max_queued_statements: usize,
    /// Seconds a statement waits for a slot before failing with 53000.
    pub queue_timeout_secs: u64,
    /// Tests only, never read from a file or the environment: registers
    /// `weir_test_panic(text)`, which panics where it runs, so the tests
    /// can check a panicking statement fails alone (XX000).
    #[serde(skip)]
    pub test_panic_function: bool,
}

/// `[audit]`: one JSON record per login attempt and statement.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Write records to a file (they are always kept in memory for
    /// `pg_catalog.weir_audit_log`).
    pub enabled: bool,
    /// The JSON-lines file; default `<data_dir>/audit/audit.jsonl`.
    pub path: Option<PathBuf>,
    /// Rotate the file when it would grow past this many MiB.
    pub max_file_mb: u64,
    /// Rotated files kept (`audit.jsonl.1` is the newest).
    pub keep_files: usize,
    /// Records kept in memory for `pg_catalog.weir_audit_log`.
    pub recent_records: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            max_file_mb: 100,
            keep_files: 10,
            recent_records: 10_000,
        }
    }
}

/// `[demo]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// TPC-H scale factor of the demo data written into `lake.tpch` on
    /// first start; 0 disables it.
    pub tpch_scale_factor: f64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5433".into(),
            data_dir: PathBuf::from("./weir-data"),
            max_connections: 256,
            max_message_bytes: 64 << 20,
            startup_timeout_secs: 60,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            cleartext_over_tls: false,
            scram_iterations: 4096,
            policy_poll_ms: 1000,
            rules: Vec::new(),
            jwt: None,
            ldap: None,
            max_failed_logins: 10,
            lockout_secs: 300,
        }
    }
}

impl Default for SessionDefaults {
    fn default() -> Self {
        Self {
            default_catalog: "lake".into(),
            search_path: "\"$user\", public".into(),
            timezone: "UTC".into(),
            statement_timeout_ms: 0,
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            target_partitions: 0,
            batch_size: 8192,
            memory_limit_mb: 0,
            statement_memory_limit_mb: 0,
            spill_dir: None,
            threads: 0,
            max_running_statements: 0,
            max_running_statements_per_user: 0,
            max_queued_statements: 1024,
            queue_timeout_secs: 60,
            test_panic_function: false,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            tpch_scale_factor: 0.1,
        }
    }
}

/// A client address range of `[[auth.rules]]`: `10.0.0.0/8` or one address.
pub fn parse_range(text: &str) -> Result<ipnet::IpNet, ConfigError> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            ConfigError::Invalid(format!(
                "[[auth.rules]] address {text:?} is not an address or a range like 10.0.0.0/8"
            ))
        })
}

/// A configuration problem, reported before Weir starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message (names the key and line).
        message: String,
    },
    /// A `${NAME}` reference to an unset variable.
    #[error("config references environment variable {0} which is not set")]
    MissingEnv(String),
    /// A value that is well-formed but not acceptable.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load `path` (or defaults when `None`) and apply the environment layer.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::from_toml(&text).map_err(|e| match e {
                    ConfigError::Parse { message, .. } => ConfigError::Parse {
                        path: path.to_path_buf(),
                        message,
                    },
                    other => other,
                })?
            }
            None => Self::default(),
        };
        if let Ok(listen) = std::env::var("WEIR_LISTEN") {
            config.server.listen = listen;
        }
        if let Ok(dir) = std::env::var("WEIR_DATA_DIR") {
            config.server.data_dir = dir.into();
        }
        Ok(config)
    }

    /// Parse TOML text, expanding `${NAME}` references from the environment.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_toml_with(text, &|name| std::env::var(name).ok())
    }

    /// Parse TOML text, expanding `${NAME}` references with `env`.
    pub fn from_toml_with(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut value: toml::Value = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        expand_env(&mut value, env)?;
        value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: PathBuf::new(),
                message: e.to_string(),
            })
    }

    /// Check what the types cannot express.
    pub fn validate(&self) -> Result<SocketAddr, ConfigError> {
        let addr: SocketAddr = self.server.listen.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "server.listen {:?} is not an address like 127.0.0.1:5433",
                self.server.listen
            ))
        })?;
        if !addr.ip().is_loopback() && self.auth.users.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "refusing to listen on non-loopback address {addr} with only the built-in demo \
                 user; configure [[auth.users]] with real passwords first"
            )));
        }
        for user in &self.auth.users {
            if user.name.is_empty() || user.password()?.is_empty() {
                return Err(ConfigError::Invalid(
                    "every [[auth.users]] entry needs a non-empty name and password".into(),
                ));
            }
        }
        if self.auth.scram_iterations < 4096 {
            return Err(ConfigError::Invalid(
                "auth.scram_iterations must be at least 4096".into(),
            ));
        }
        for rule in &self.auth.rules {
            for range in &rule.addresses {
                parse_range(range)?;
            }
            let configured = match rule.method {
                AuthMethod::Jwt => self.auth.jwt.is_some(),
                AuthMethod::Ldap => self.auth.ldap.is_some(),
                AuthMethod::Scram | AuthMethod::Reject => true,
            };
            if !configured {
                return Err(ConfigError::Invalid(format!(
                    "an [[auth.rules]] entry uses method \"{0}\" but [auth.{0}] is not configured",
                    rule.method.name()
                )));
            }
        }
        if let Some(ldap) = &self.auth.ldap {
            if !(ldap.url.starts_with("ldap://") || ldap.url.starts_with("ldaps://")) {
                return Err(ConfigError::Invalid(format!(
                    "auth.ldap.url {:?} must start with ldap:// or ldaps://",
                    ldap.url
                )));
            }
            if ldap.base_dn.is_none() && ldap.prefix.is_empty() && ldap.suffix.is_empty() {
                return Err(ConfigError::Invalid(
                    "auth.ldap needs prefix/suffix (simple bind) or base_dn (search+bind)".into(),
                ));
            }
        }
        if self.auth.max_failed_logins == 0 {
            return Err(ConfigError::Invalid(
                "auth.max_failed_logins must be at least 1".into(),
            ));
        }
        if self.server.max_message_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "server.max_message_bytes must be at least 1024".into(),
            ));
        }
        if self.server.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "server.max_connections must be at least 1".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for source in &self.sources {
            if source.name == "lake" || weir_catalog::names::validate(&source.name).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "[[source]] name {:?} must be a lower-case identifier other than \"lake\"",
                    source.name
                )));
            }
            if !names.insert(source.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "two [[source]] blocks are named {:?}",
                    source.name
                )));
            }
            if source.pool_size == 0 || source.parallelism == 0 || source.fetch_size == 0 {
                return Err(ConfigError::Invalid(format!(
                    "source {}: pool_size, parallelism and fetch_size must be at least 1",
                    source.name
                )));
            }
            if source.numeric_scale > 38 {
                return Err(ConfigError::Invalid(format!(
                    "source {}: numeric_scale must be between 0 and 38",
                    source.name
                )));
            }
        }
        if !(0.0..=1000.0).contains(&self.demo.tpch_scale_factor) {
            return Err(ConfigError::Invalid(
                "demo.tpch_scale_factor must be between 0 and 1000".into(),
            ));
        }
        Ok(addr)
    }
}

fn expand_env(
    value: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after.find('}').ok_or_else(|| {
                    ConfigError::Invalid(format!("unterminated ${{...}} in {s:?}"))
                })?;
                let name = &after[..end];
                let val = env(name).ok_or_else(|| ConfigError::MissingEnv(name.to_owned()))?;
                out.push_str(&val);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        toml::Value::Array(items) => {
            for item in items {
                expand_env(item, env)?;
            }
        }
        toml::Value::Table(table) => {
            for (_, item) in table.iter_mut() {
                expand_env(item, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotated_example_parses_and_validates() {
        let text = include_str!("../../weir.example.toml");
        // No set_var: tests run in parallel threads of one process.
        let env = |name: &str| (name == "WEIR_EXAMPLE_ANALYST_PASSWORD").then(|| "s3cret".into());
        let config = Config::from_toml_with(text, &env).unwrap();
        assert_eq!(config.auth.users[0].password, "s3cret");
        config.validate().unwrap();
    }

    #[test]
    fn unknown_keys_and_missing_env_are_errors() {
        assert!(matches!(
            Config::from_toml("[server]\nlisten_addr = \"x\""),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            Config::from_toml("[[auth.users]]\nname = \"a\"\npassword = \"${WEIR_SURELY_UNSET_VAR}\""),
            Err(ConfigError::MissingEnv(v)) if v == "WEIR_SURELY_UNSET_VAR"
        ));
    }

    #[test]
    fn non_loopback_without_users_is_refused() {
        let mut config = Config::default();
        config.server.listen = "0.0.0.0:5433".into();
        assert!(config.validate().is_err());
        config.auth.users.push(UserConfig {
            name: "a".into(),
            password: "b".into(),
            password_file: None,
        });
        assert!(config.validate().is_ok());
    }

    #[test]
    fn an_admin_password_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.secret");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let mut user = UserConfig {
            name: "admin".into(),
            password: String::new(),
            password_file: Some(file.clone()),
        };
        assert_eq!(user.password().unwrap(), "from-a-file");
        assert!(!format!("{user:?}").contains("from-a-file"));
        user.password = "also".into();
        assert!(user.password().is_err(), "both is ambiguous");
        user.password.clear();
        user.password_file = Some(dir.path().join("missing"));
        assert!(user.password().is_err());
    }
}
