//! The audit trail: one JSON record per login attempt and per statement,
//! appended to a JSON-lines file with size-based rotation, and the most
//! recent ones kept in memory for admins to query as
//! `pg_catalog.weir_audit_log`.
//!
//! Records that must survive a crash right after the reply (denials,
//! failed logins and statements, DDL, GRANT/REVOKE, policies and masks)
//! are written through to the file before the client is answered; `kill -9`
//! cannot lose them (the kernel holds what `write` returned from). The
//! others wait in a buffer that is flushed within a second.
//!
//! Password literals in statements are redacted before a record is made:
//! the trail never holds a secret.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// When it ended, RFC 3339 UTC with microseconds.
    pub time: String,
    /// `login` or `statement`.
    pub kind: &'static str,
    /// The session's process id (BackendKeyData), for statements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<i32>,
    /// The user named at startup (logins) or acting (statements).
    pub user: String,
    /// Roles the login brought (token claims, directory groups).
    pub roles: Vec<String>,
    /// `scram`, `password`, `jwt`, `ldap`; for a failed login, the method tried.
    pub method: String,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The client's `application_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// The statement, password literals redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The command tag (`SELECT`, `CREATE TABLE`, `GRANT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Tables read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    /// Tables (or roles, for role statements) written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<String>,
    /// Row filters and masks applied, and denials.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The statements sent to remote sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote: Vec<weir_connectors::remote::SentStatement>,
    /// Rows returned or written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Milliseconds from start to end.
    pub duration_ms: f64,
    /// `ok`, `error` (statements), `failed` (logins).
    pub outcome: &'static str,
    /// The SQLSTATE of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// The error message of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Record {
    fn new(kind: &'static str, user: &str) -> Self {
        Self {
            time: String::new(),
            kind,
            session: None,
            user: user.to_owned(),
            roles: Vec::new(),
            method: String::new(),
            client: None,
            application_name: None,
            statement: None,
            command: None,
            read: Vec::new(),
            written: Vec::new(),
            policies: Vec::new(),
            remote: Vec::new(),
            rows: None,
            duration_ms: 0.0,
            outcome: "ok",
            sqlstate: None,
            message: None,
        }
    }

    /// A login attempt by `user` with `method` from `peer`.
    pub fn login(user: &str, method: &str, peer: Option<SocketAddr>) -> Self {
        Self {
            method: method.to_owned(),
            client: peer.map(|p| p.ip().to_string()),
            ..Self::new("login", user)
        }
    }

    /// A statement run by `user`.
    pub fn statement(user: &str, statement: &str) -> Self {
        Self {
            statement: Some(redact(statement)),
            ..Self::new("statement", user)
        }
    }
}

/// `[audit]` settings.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The JSON-lines file; `None` keeps records in memory only.
    pub path: Option<PathBuf>,
    /// Rotate when the file grows past this many bytes.
    pub max_file_bytes: u64,
    /// Rotated files kept (`audit.jsonl.1` is the newest).
    pub keep_files: usize,
    /// Records kept in memory for `pg_catalog.weir_audit_log`.
    pub recent: usize,
}

struct Sink {
    path: PathBuf,
    file: BufWriter<File>,
    size: u64,
    dirty: bool,
}

/// Where records go.
pub struct Audit {
    settings: AuditSettings,
    sink: Mutex<Option<Sink>>,
    recent: Mutex<VecDeque<Arc<Record>>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("path", &self.settings.path)
            .finish_non_exhaustive()
    }
}

fn open(path: &Path) -> std::io::Result<(BufWriter<File>, u64)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Statements name tables and users: owner only.
        options.mode(0o600);
    }
    let file = options.open(path)?;
    let size = file.metadata()?.len();
    Ok((BufWriter::with_capacity(64 << 10, file), size))
}

impl Audit {
    /// Open (or create) the audit file.
    pub fn open(settings: AuditSettings) -> std::io::Result<Arc<Self>> {
        let sink = match &settings.path {
            Some(path) => {
                let (file, size) = open(path)?;
                Some(Sink {
                    path: path.clone(),
                    file,
                    size,
                    dirty: false,
                })
            }
            None => None,
        };
        let audit = Arc::new(Self {
            settings,
            sink: Mutex::new(sink),
            recent: Mutex::default(),
        });
        // Records that may wait are flushed within a second; the task ends
        // with the last handle.
        let weak = Arc::downgrade(&audit);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let Some(audit) = weak.upgrade() else { break };
                audit.flush();
            }
        });
        Ok(audit)
    }

    fn sink(&self) -> std::sync::MutexGuard<'_, Option<Sink>> {
        match self.sink.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Write what waits in the buffer.
    pub fn flush(&self) {
        let mut guard = self.sink();
        if let Some(sink) = guard.as_mut().filter(|s| s.dirty) {
            if let Err(e) = sink.file.flush() {
                tracing::error!("cannot write the audit file {}: {e}", sink.path.display());
            }
            sink.dirty = false;
        }
    }

    /// Append `record`; with `urgent`, it reaches the file before this
    /// returns (the caller answers the client after).
    pub fn log(&self, mut record: Record, urgent: bool) {
        record.time = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let line = match serde_json::to_string(&record) {
            Ok(mut line) => {
                line.push('\n');
                line
            }
            Err(e) => {
                tracing::error!("cannot encode an audit record: {e}");
                return;
            }
        };
        {
            let mut recent = match self.recent.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if recent.len() >= self.settings.recent.max(1) {
                recent.pop_front();
            }
            recent.push_back(Arc::new(record));
        }
        let mut guard = self.sink();
        let Some(sink) = guard.as_mut() else { return };
        if sink.size > 0 && sink.size + line.len() as u64 > self.settings.max_file_bytes {
            if let Err(e) = self.rotate(sink) {
                tracing::error!("cannot rotate the audit file {}: {e}", sink.path.display());
            }
        }
        let written = sink.file.write_all(line.as_bytes()).and_then(|()| {
            if urgent {
                sink.file.flush()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                sink.size += line.len() as u64;
                sink.dirty = !urgent;
            }
            Err(e) => tracing::error!("cannot write the audit file {}: {e}", sink.path.display()),
        }
    }

    /// `audit.jsonl` → `audit.jsonl.1` → … → `.keep_files` (dropped).
    fn rotate(&self, sink: &mut Sink) -> std::io::Result<()> {
        sink.file.flush()?;
        let name = |i: usize| {
            let mut p = sink.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        let keep = self.settings.keep_files;
        if keep == 0 {
            std::fs::remove_file(&sink.path)?;
        } else {
            let _ = std::fs::remove_file(name(keep));
            for i in (1..keep).rev() {
                let from = name(i);
                if from.exists() {
                    std::fs::rename(&from, name(i + 1))?;
                }
            }
            std::fs::rename(&sink.path, name(1))?;
        }
        let (file, size) = open(&sink.path)?;
        sink.file = file;
        sink.size = size;
        Ok(())
    }

    /// The records in memory, oldest first.
    pub fn recent(&self) -> Vec<Arc<Record>> {
        match self.recent.lock() {
            Ok(g) => g.iter().cloned().collect(),
            Err(p) => p.into_inner().iter().cloned().collect(),
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The statement with the string literal after every `PASSWORD` keyword
/// replaced by `'***'` (CREATE/ALTER ROLE … PASSWORD '…').
pub fn redact(sql: &str) -> String {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        // Not tokenizable: keep nothing that might be a secret.
        return if sql.to_ascii_lowercase().contains("password") {
            "<statement not shown: it mentions a password and does not parse>".into()
        } else {
            sql.to_owned()
        };
    };
    let mut out = String::with_capacity(sql.len());
    let mut after_password = false;
    for token in tokens {
        let is_literal = matches!(
            token,
            Token::SingleQuotedString(_)
                | Token::EscapedStringLiteral(_)
                | Token::DollarQuotedString(_)
                | Token::NationalStringLiteral(_)
                | Token::UnicodeStringLiteral(_)
        );
        if after_password && is_literal {
            out.push_str("'***'");
            after_password = false;
            continue;
        }
        if let Token::Word(w) = &token {
            after_password = w.value.eq_ignore_ascii_case("password");
        } else if !matches!(token, Token::Whitespace(_)) {
            after_password = false;
        }
        out.push_str(&token.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_literals_are_redacted() {
        assert_eq!(
            redact("CREATE USER ann WITH PASSWORD 'hunter2' LOGIN"),
            "CREATE USER ann WITH PASSWORD '***' LOGIN"
        );
        assert_eq!(
            redact("alter role \"Bob\" password E'x\\'y'"),
            "alter role \"Bob\" password '***'"
        );
        assert_eq!(
            redact("SELECT 'password', 'kept' FROM t"),
            "SELECT 'password', 'kept' FROM t"
        );
        assert!(!redact("ALTER ROLE a PASSWORD 'unterminated").contains("unterminated"));
    }

    #[tokio::test]
    async fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::open(AuditSettings {
            path: Some(path.clone()),
            max_file_bytes: 600,
            keep_files: 2,
            recent: 3,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..20 {
            audit.log(Record::statement("u", &format!("SELECT {i}")), true);
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let current = read(&path);
        assert!(current.contains("SELECT 19"), "{current}");
        assert!(current.len() <= 600);
        assert!(!read(&dir.path().join("audit.jsonl.1")).is_empty());
        assert!(!read(&dir.path().join("audit.jsonl.2")).is_empty());
        assert!(!dir.path().join("audit.jsonl.3").exists());
        let recent = audit.recent();
        assert_eq!(recent.len(), 3);
        assert_eq!(recent[2].statement.as_deref(), Some("SELECT 19"));
        for line in current.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            assert_eq!(v["kind"], "statement");
        }
    }
}
