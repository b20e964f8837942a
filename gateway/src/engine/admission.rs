//! Admission: how many statements execute at once, server-wide and per
//! user, and how long the others wait.
//!
//! Statements that read tables take a slot for as long as their rows flow;
//! constant statements, SET/SHOW/transaction commands and catalog lookups
//! (plans reading only `pg_catalog` and `information_schema`) never wait,
//! so a heavy load cannot hold them back. A statement that finds the queue
//! full, or waits longer than the queue timeout, fails with 53000.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::WeirError;

/// The limits, from `[query]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Statements executing at once, server-wide.
    pub max_running: usize,
    /// Statements executing at once for one user.
    pub max_running_per_user: usize,
    /// Statements waiting for a slot, server-wide.
    pub max_queued: usize,
    /// Longest wait for a slot.
    pub queue_timeout: Duration,
}

/// The server's slots.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    total: Arc<Semaphore>,
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
    queued: AtomicUsize,
}

/// A statement's slot; released on drop.
#[derive(Debug)]
pub struct Permit {
    _user: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

impl Admission {
    /// Slots for `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            total: Arc::new(Semaphore::new(limits.max_running.max(1))),
            users: Mutex::new(HashMap::new()),
            queued: AtomicUsize::new(0),
            limits,
        }
    }

    /// Wait for a slot for `user`'s statement.
    pub async fn admit(&self, user: &str) -> Result<Permit, WeirError> {
        let per_user = {
            let mut users = self
                .users
                .lock()
                .map_err(|_| WeirError::Internal("admission state poisoned".into()))?;
            // Forget users with no statement running or waiting (their
            // permits and waiters hold the semaphore too).
            if users.len() > 1024 {
                users.retain(|_, s| Arc::strong_count(s) > 1);
            }
            Arc::clone(users.entry(user.to_owned()).or_insert_with(|| {
                Arc::new(Semaphore::new(self.limits.max_running_per_user.max(1)))
            }))
        };
        // The fast path: a free slot, no queueing.
        if let (Ok(u), Ok(t)) = (
            Arc::clone(&per_user).try_acquire_owned(),
            Arc::clone(&self.total).try_acquire_owned(),
        ) {
            return Ok(Permit {
                _user: u,
                _total: t,
            });
        }
        let queued = self.queued.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&self.queued);
        if queued >= self.limits.max_queued {
            return Err(WeirError::Busy(format!(
                "too many statements waiting to run ({queued} queued behind {} running; \
                 query.max_queued_statements = {})",
                self.running(),
                self.limits.max_queued
            )));
        }
        let wait = async {
            let u = per_user.acquire_owned().await;
            let t = Arc::clone(&self.total).acquire_owned().await;
            match (u, t) {
                (Ok(u), Ok(t)) => Ok(Permit {
                    _user: u,
                    _total: t,
                }),
                _ => Err(WeirError::Internal("admission closed".into())),
            }
        };
        match tokio::time::timeout(self.limits.queue_timeout, wait).await {
            Ok(permit) => permit,
            Err(_) => Err(WeirError::Busy(format!(
                "statement waited {} s for one of the {} execution slots \
                 (query.queue_timeout_secs; {} per user)",
                self.limits.queue_timeout.as_secs(),
                self.limits.max_running,
                self.limits.max_running_per_user
            ))),
        }
    }

    /// Statements executing now.
    pub fn running(&self) -> usize {
        self.limits
            .max_running
            .max(1)
            .saturating_sub(self.total.available_permits())
    }
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
