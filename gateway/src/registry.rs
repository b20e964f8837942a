//! The live sessions of this server: each connection registers its
//! backend key (pid, secret), its principal, and the statement it is
//! running with that statement's cancel token and start time.
//!
//! A CancelRequest arriving on another connection with a matching key fires
//! the running statement's token, and the statement stops by dropping its
//! stream. [`SessionRegistry::list`] is what session views
//! (`pg_stat_activity`) and an admin listener read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rand::RngCore;
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;

/// The statement a session is running.
#[derive(Debug, Clone)]
struct Running {
    token: CancellationToken,
    sql: String,
    since: SystemTime,
}

/// One live session, as the registry holds it.
#[derive(Debug)]
struct Entry {
    secret: i32,
    principal: Principal,
    started: SystemTime,
    running: Mutex<Option<Running>>,
}

/// What [`SessionRegistry::list`] tells of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Backend pid.
    pub pid: i32,
    /// Who it acts as.
    pub user: String,
    /// When it started.
    pub started: SystemTime,
    /// The running statement's text and start, if one runs.
    pub statement: Option<(String, SystemTime)>,
}

/// All live sessions.
#[derive(Debug, Default)]
pub struct SessionRegistry {
    next_pid: AtomicI32,
    entries: Mutex<HashMap<i32, Arc<Entry>>>,
}

impl SessionRegistry {
    /// Register a new session acting as `principal`.
    pub fn register(self: &Arc<Self>, principal: &Principal) -> SessionHandle {
        let pid = self
            .next_pid
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(10_000)
            & 0x7fff_ffff;
        let secret = rand::rng().next_u32() as i32;
        let entry = Arc::new(Entry {
            secret,
            principal: principal.clone(),
            started: SystemTime::now(),
            running: Mutex::new(None),
        });
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(pid, entry.clone());
        }
        SessionHandle {
            pid,
            secret,
            entry,
            registry: self.clone(),
            audit: None,
            client: None,
        }
    }

    /// Cancel what `pid` runs, if `secret` matches. Returns whether it matched.
    pub fn cancel(&self, pid: i32, secret: &[u8]) -> bool {
        let Some(entry) = self
            .entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(&pid).cloned())
        else {
            return false;
        };
        let matches = secret.len() == 4 && {
            let got = i32::from_be_bytes([secret[0], secret[1], secret[2], secret[3]]);
            (got ^ entry.secret) == 0
        };
        if matches {
            if let Ok(running) = entry.running.lock() {
                if let Some(r) = running.as_ref() {
                    r.token.cancel();
                }
            }
        }
        matches
    }

    /// The live sessions, by pid.
    pub fn list(&self) -> Vec<SessionInfo> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        let mut out: Vec<SessionInfo> = entries
            .iter()
            .map(|(pid, e)| SessionInfo {
                pid: *pid,
                user: e.principal.user.clone(),
                started: e.started,
                statement: e
                    .running
                    .lock()
                    .ok()
                    .and_then(|r| r.as_ref().map(|r| (r.sql.clone(), r.since))),
            })
            .collect();
        out.sort_by_key(|s| s.pid);
        out
    }
}

/// A session's registration; dropping it unregisters.
#[derive(Debug)]
pub struct SessionHandle {
    /// Backend "process id" sent in BackendKeyData.
    pub pid: i32,
    /// Secret sent in BackendKeyData.
    pub secret: i32,
    entry: Arc<Entry>,
    registry: Arc<SessionRegistry>,
    /// Where the session's statements are recorded.
    pub audit: Option<Arc<crate::audit::Audit>>,
    /// The client's address, for those records.
    pub client: Option<std::net::SocketAddr>,
}

impl SessionHandle {
    /// Record the session's statements in `audit`, as coming from `client`.
    pub fn audited(
        mut self,
        audit: Arc<crate::audit::Audit>,
        client: Option<std::net::SocketAddr>,
    ) -> Self {
        self.audit = Some(audit);
        self.client = client;
        self
    }

    /// A fresh token for the statement `sql` about to run.
    pub fn begin(&self, sql: &str) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut running) = self.entry.running.lock() {
            *running = Some(Running {
                token: token.clone(),
                sql: sql.to_owned(),
                since: SystemTime::now(),
            });
        }
        token
    }

    /// The statement finished; later cancels do nothing.
    pub fn end(&self) {
        if let Ok(mut running) = self.entry.running.lock() {
            *running = None;
        }
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        if let Ok(mut entries) = self.registry.entries.lock() {
            entries.remove(&self.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: i32) -> [u8; 4] {
        secret.to_be_bytes()
    }

    #[test]
    fn a_cancel_needs_the_pid_and_its_whole_secret() {
        let registry = Arc::new(SessionRegistry::default());
        let a = registry.register(&Principal::user("u"));
        let b = registry.register(&Principal::user("u"));
        assert_ne!(a.pid, b.pid, "every connection has its own pid");
        assert!(
            a.pid > 0 && b.pid > 0,
            "pids are positive: {} {}",
            a.pid,
            b.pid
        );
        let running = a.begin("SELECT 1");
        let other = b.begin("SELECT 1");
        // Each wrong byte, a short key, another connection's secret, an
        // unknown pid: nothing is cancelled.
        for i in 0..4 {
            let mut wrong = key(a.secret);
            wrong[i] ^= 0x01;
            assert!(!registry.cancel(a.pid, &wrong), "byte {i} flipped");
        }
        assert!(!registry.cancel(a.pid, &key(a.secret)[..3]));
        assert!(!registry.cancel(a.pid, &[]));
        if a.secret != b.secret {
            assert!(!registry.cancel(a.pid, &key(b.secret)));
        }
        assert!(!registry.cancel(a.pid ^ 0x4000_0000, &key(a.secret)));
        assert!(!running.is_cancelled() && !other.is_cancelled());
        // The right key cancels that connection's statement, and only it.
        assert!(registry.cancel(a.pid, &key(a.secret)));
        assert!(running.is_cancelled());
        assert!(!other.is_cancelled());
    }

    #[test]
    fn a_cancel_reaches_only_the_statement_running_now() {
        let registry = Arc::new(SessionRegistry::default());
        let conn = registry.register(&Principal::user("u"));
        let (pid, secret) = (conn.pid, key(conn.secret));
        // Between statements a cancel matches but stops nothing, and the
        // next statement starts afresh.
        let first = conn.begin("SELECT 1");
        conn.end();
        assert!(registry.cancel(pid, &secret));
        assert!(
            !first.is_cancelled(),
            "a finished statement is not cancelled"
        );
        let second = conn.begin("SELECT 1");
        assert!(!second.is_cancelled());
        assert!(registry.cancel(pid, &secret));
        assert!(second.is_cancelled());
        // A closed connection's key no longer matches.
        drop(conn);
        assert!(!registry.cancel(pid, &secret));
        assert!(registry
            .entries
            .lock()
            .map(|e| e.is_empty())
            .unwrap_or(false));
    }

    #[test]
    fn the_list_shows_who_runs_what() {
        let registry = Arc::new(SessionRegistry::default());
        let a = registry.register(&Principal::user("alice"));
        let b = registry.register(&Principal::user("bob"));
        let _token = b.begin("SELECT pg_sleep(1)");
        let list = registry.list();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].pid, list[0].user.as_str()), (a.pid, "alice"));
        assert_eq!(list[0].statement, None);
        assert_eq!(list[1].user, "bob");
        assert_eq!(
            list[1].statement.as_ref().map(|(sql, _)| sql.as_str()),
            Some("SELECT pg_sleep(1)")
        );
        b.end();
        drop(a);
        let list = registry.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].statement, None);
    }

    #[test]
    fn pids_stay_non_negative_when_the_counter_wraps() {
        let registry = Arc::new(SessionRegistry::default());
        registry
            .next_pid
            .store(i32::MAX - 10_001, Ordering::Relaxed);
        let pids: Vec<i32> = (0..4)
            .map(|_| registry.register(&Principal::user("u")).pid)
            .collect();
        assert_eq!(pids, [i32::MAX - 1, i32::MAX, 0, 1]);
    }

    #[test]
    fn secrets_differ_between_connections() {
        let registry = Arc::new(SessionRegistry::default());
        let handles: Vec<_> = (0..64)
            .map(|_| registry.register(&Principal::user("u")))
            .collect();
        let secrets: std::collections::HashSet<i32> = handles.iter().map(|h| h.secret).collect();
        // 64 random 32-bit secrets collide with odds below one in a million.
        assert!(
            secrets.len() >= 63,
            "{} distinct secrets of 64",
            secrets.len()
        );
        let pids: std::collections::HashSet<i32> = handles.iter().map(|h| h.pid).collect();
        assert_eq!(pids.len(), 64);
    }
}
