//! `[[source]]` blocks of `weir.toml`: one remote database each.

use std::time::Duration;

use serde::Deserialize;

use super::Dialect;

/// What kind of database a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// PostgreSQL (RDS, Aurora, self-hosted).
    Postgres,
    /// MySQL or MariaDB (RDS, Aurora MySQL).
    Mysql,
    /// Amazon Redshift.
    Redshift,
}

impl SourceKind {
    /// The SQL dialect Weir writes for it.
    pub fn dialect(self) -> Dialect {
        match self {
            Self::Postgres => Dialect::Postgres,
            Self::Mysql => Dialect::MySql,
            Self::Redshift => Dialect::Redshift,
        }
    }

    /// `postgres`, `mysql`, `redshift`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Redshift => "redshift",
        }
    }
}

/// How a connection to the source is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Never.
    Disable,
    /// When the server offers it (the drivers' default).
    #[default]
    Prefer,
    /// Always, without checking the certificate.
    Require,
    /// Always, checking the certificate against the web PKI roots.
    VerifyCa,
    /// As `verify-ca`, and the host name must match.
    VerifyFull,
}

/// Reading big Redshift results through `UNLOAD` to S3 as Parquet.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnloadConfig {
    /// The IAM role Redshift assumes to write to S3.
    pub iam_role: String,
    /// Where the Parquet files go: `s3://bucket/prefix/`; each query
    /// writes below its own folder and removes it when done.
    pub staging_prefix: String,
    /// Results estimated above this many rows are unloaded instead of read
    /// through a cursor.
    #[serde(default = "default_unload_rows")]
    pub min_rows: u64,
    /// How Weir reaches the staging bucket (as `[lake.s3]`).
    #[serde(default)]
    pub s3: weir_catalog::S3Options,
}

impl std::fmt::Debug for UnloadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnloadConfig")
            .field("staging_prefix", &self.staging_prefix)
            .field("min_rows", &self.min_rows)
            .finish_non_exhaustive()
    }
}

fn default_unload_rows() -> u64 {
    10_000_000
}

/// One `[[source]]` block.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The catalog name clients use (`rds` in `rds.public.orders`).
    pub name: String,
    /// `postgres`, `mysql` or `redshift`.
    pub kind: SourceKind,
    /// Connection URL; write the password as `${ENV_VAR}`.
    pub url: String,
    /// Most connections Weir keeps open to the source.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Seconds to wait for a connection before the query fails with 08001.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds a statement may run on the source (0: no limit).
    #[serde(default)]
    pub statement_timeout_secs: u64,
    /// Encryption of connections to the source.
    #[serde(default)]
    pub tls: TlsMode,
    /// Schemas (`sales`) or tables (`sales.orders`) to expose; `*` matches
    /// any run of characters. Empty: everything but system schemas.
    #[serde(default)]
    pub include: Vec<String>,
    /// Schemas or tables to hide, applied after `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Seconds table lists and columns are cached before being read again.
    #[serde(default = "default_metadata_ttl")]
    pub metadata_ttl_secs: u64,
    /// Most parallel reads one scan of a big table is split into.
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    /// A table is split into parallel reads only above this many rows
    /// (the source's estimate).
    #[serde(default = "default_split_rows")]
    pub split_min_rows: u64,
    /// Rows per round trip where results are fetched through a cursor
    /// (Redshift).
    #[serde(default = "default_fetch_size")]
    pub fetch_size: usize,
    /// Digits after the point of `numeric` columns declared without a
    /// precision, which Weir reads as `numeric(38, numeric_scale)`. A value
    /// with more (or with more than 38 − numeric_scale before the point,
    /// or NaN) fails its statement with 22003 naming the column: Weir never
    /// rounds a source's value.
    #[serde(default = "default_numeric_scale")]
    pub numeric_scale: u8,
    /// Redshift only: big results through UNLOAD to S3.
    #[serde(default)]
    pub unload: Option<UnloadConfig>,
}

fn default_pool_size() -> u32 {
    8
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_metadata_ttl() -> u64 {
    300
}
fn default_parallelism() -> usize {
    4
}
fn default_split_rows() -> u64 {
    1_000_000
}
fn default_numeric_scale() -> u8 {
    10
}
fn default_fetch_size() -> usize {
    10_000
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("tls", &self.tls)
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .finish_non_exhaustive()
    }
}

impl SourceConfig {
    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }

    /// The metadata cache lifetime.
    pub fn metadata_ttl(&self) -> Duration {
        Duration::from_secs(self.metadata_ttl_secs)
    }

    /// Whether `schema` (and, when given, `schema.table`) is exposed. A
    /// pattern `s.t` exposes schema `s` and, in it, the tables matching `t`.
    pub fn exposes(&self, schema: &str, table: Option<&str>) -> bool {
        let included = self.include.is_empty()
            || self.include.iter().any(|p| match p.split_once('.') {
                Some((ps, pt)) => glob(ps, schema) && table.is_none_or(|t| glob(pt, t)),
                None => glob(p, schema),
            });
        let excluded = self.exclude.iter().any(|p| match p.split_once('.') {
            // A table pattern hides tables, never a whole schema.
            Some((ps, pt)) => table.is_some_and(|t| glob(ps, schema) && glob(pt, t)),
            None => glob(p, schema),
        });
        included && !excluded
    }
}

/// `url` with its password replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// `*` matches any run of characters; everything else matches itself.
/// (Also the user patterns of the gateway's `[[auth.rules]]`.)
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(include: &[&str], exclude: &[&str]) -> SourceConfig {
        let mut s: SourceConfig = toml::from_str(
            "name = \"rds\"\nkind = \"postgres\"\nurl = \"postgres://a:secret@h/db\"",
        )
        .unwrap();
        s.include = include.iter().map(|s| s.to_string()).collect();
        s.exclude = exclude.iter().map(|s| s.to_string()).collect();
        s
    }

    #[test]
    fn include_and_exclude_lists() {
        let all = source(&[], &["audit", "sales.tmp_*"]);
        assert!(all.exposes("sales", None));
        assert!(all.exposes("sales", Some("orders")));
        assert!(!all.exposes("sales", Some("tmp_load")));
        assert!(!all.exposes("audit", None));
        let some = source(&["sales", "hr.people"], &[]);
        assert!(some.exposes("sales", Some("x")));
        assert!(some.exposes("hr", None));
        assert!(some.exposes("hr", Some("people")));
        assert!(!some.exposes("hr", Some("salaries")));
        assert!(!some.exposes("ops", None));
        assert!(glob("a*b*c", "aXbYc") && !glob("a*b*c", "aXc") && glob("*", ""));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let s = source(&[], &[]);
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
}
