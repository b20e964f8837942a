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
