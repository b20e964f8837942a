//! CancelRequest handling. Each connection registers a (pid, secret) pair
//! and a slot holding the token of the statement it is running; a
//! CancelRequest arriving on another connection with a matching pair fires
//! that token, and the running statement stops by dropping its stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use rand::RngCore;
use tokio_util::sync::CancellationToken;

/// The token of the statement a connection is running, if any.
type Slot = Arc<Mutex<Option<CancellationToken>>>;

/// All live connections' cancel keys.
#[derive(Debug, Default)]
pub struct CancelRegistry {
    next_pid: AtomicI32,
    entries: Mutex<HashMap<i32, (i32, Slot)>>,
}

impl CancelRegistry {
    /// Register a new connection.
    pub fn register(self: &Arc<Self>) -> CancelHandle {
        let pid = self
            .next_pid
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(10_000)
            & 0x7fff_ffff;
        let secret = rand::rng().next_u32() as i32;
        let slot = Arc::new(Mutex::new(None));
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(pid, (secret, slot.clone()));
        }
        CancelHandle {
            pid,
            secret,
            slot,
            registry: self.clone(),
        }
    }

    /// Cancel what `pid` runs, if `secret` matches. Returns whether it matched.
    pub fn cancel(&self, pid: i32, secret: &[u8]) -> bool {
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        let Some((expected, slot)) = entries.get(&pid) else {
            return false;
        };
        let matches = secret.len() == 4 && {
            let got = i32::from_be_bytes([secret[0], secret[1], secret[2], secret[3]]);
            (got ^ *expected) == 0
        };
        if matches {
            if let Ok(slot) = slot.lock() {
                if let Some(token) = slot.as_ref() {
                    token.cancel();
                }
            }
        }
        matches
    }
}

/// A connection's registration; dropping it unregisters.
#[derive(Debug)]
pub struct CancelHandle {
    /// Backend "process id" sent in BackendKeyData.
    pub pid: i32,
    /// Secret sent in BackendKeyData.
    pub secret: i32,
    slot: Slot,
    registry: Arc<CancelRegistry>,
}

impl CancelHandle {
    /// A fresh token for the statement about to run.
    pub fn begin(&self) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(token.clone());
        }
        token
    }

    /// The statement finished; later cancels do nothing.
    pub fn end(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }
}

impl Drop for CancelHandle {
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
        let registry = Arc::new(CancelRegistry::default());
        let a = registry.register();
        let b = registry.register();
        assert_ne!(a.pid, b.pid, "every connection has its own pid");
        assert!(
            a.pid > 0 && b.pid > 0,
            "pids are positive: {} {}",
            a.pid,
            b.pid
        );
        let running = a.begin();
        let other = b.begin();
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
        let registry = Arc::new(CancelRegistry::default());
        let conn = registry.register();
        let (pid, secret) = (conn.pid, key(conn.secret));
        // Between statements a cancel matches but stops nothing, and the
        // next statement starts afresh.
        let first = conn.begin();
        conn.end();
        assert!(registry.cancel(pid, &secret));
        assert!(
            !first.is_cancelled(),
            "a finished statement is not cancelled"
        );
        let second = conn.begin();
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
    fn pids_stay_non_negative_when_the_counter_wraps() {
        let registry = Arc::new(CancelRegistry::default());
        registry
            .next_pid
            .store(i32::MAX - 10_001, Ordering::Relaxed);
        let pids: Vec<i32> = (0..4).map(|_| registry.register().pid).collect();
        assert_eq!(pids, [i32::MAX - 1, i32::MAX, 0, 1]);
    }

    #[test]
    fn secrets_differ_between_connections() {
        let registry = Arc::new(CancelRegistry::default());
        let handles: Vec<_> = (0..64).map(|_| registry.register()).collect();
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
