//! Who may see what: access decisions over Weir's catalog objects, and the
//! plan rewrite that enforces them below every table reference.
//!
//! # Layout
//! ```text
//! model.conf     the casbin model: RBAC, role hierarchy, deny overrides allow
//! objects        object names (catalog.schema.table.column), `*`, coverage
//! gate           Gate: one statement's access decisions, the only door
//!                code outside this crate asks through
//! authorizer     stored rules → casbin enforcer → cached Decisions for a Subject
//! rewrite        the plan rewrite: hidden tables, denied columns, row
//!                filters, masks
//! barrier        RowSecurity: leaky predicates stay above row filters
//! storage        which lake folders a user may register as a table
//! rename         rules follow a column through RENAME COLUMN
//! error          PolicyError (the gateway maps it to SQLSTATEs)
//! ```
//!
//! The rules live in the catalog database (`weir_catalog::access`), so
//! several servers on one catalog share them: [`Policies`] keeps the
//! current [`Authorizer`] and replaces it when the stored version moves
//! (polled, and at once after a change made here). A statement takes a
//! [`Gate`] over the authorizer current when it begins and asks it every
//! question: a change never lands halfway through one.
//!
//! Enforcement sits above the connectors: it rewrites DataFusion's logical
//! plan, whatever source a table comes from. This crate never imports the
//! gateway or the connectors.
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod authorizer;
pub mod barrier;
pub mod error;
pub mod gate;
pub mod objects;
pub mod rename;
pub mod rewrite;
pub mod storage;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use authorizer::{Action, Authorizer, Decision, Subject, PUBLIC};
pub use error::{PolicyError, Result};
pub use gate::{Gate, GateSlot, Logins};
use weir_catalog::AccessStore;

/// How many poll intervals may pass without the stored version confirmed
/// before statements of non-superusers fail closed.
pub const STALE_AFTER_POLLS: u32 = 10;

/// The rules in force on this server.
#[derive(Debug)]
pub struct Policies {
    store: AccessStore,
    current: RwLock<Arc<Authorizer>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// When this server last read the stored version (ms since `started`).
    confirmed_ms: AtomicU64,
    /// How long the rules in force may go unconfirmed (ms; `u64::MAX`:
    /// forever, when nothing polls).
    stale_after_ms: AtomicU64,
    started: Instant,
}

impl Policies {
    /// Load the stored rules.
    pub async fn open(store: AccessStore) -> Result<Self> {
        let authorizer = Authorizer::build(store.load().await?).await?;
        Ok(Self {
            store,
            current: RwLock::new(Arc::new(authorizer)),
            reloading: tokio::sync::Mutex::new(()),
            confirmed_ms: AtomicU64::new(0),
            stale_after_ms: AtomicU64::new(u64::MAX),
            started: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Fail closed: `Some(seconds)` if this server has not confirmed the
    /// stored rule version for [`STALE_AFTER_POLLS`] poll intervals (the
    /// catalog database cannot be reached, so a REVOKE made elsewhere may
    /// be missing): a [`Gate`] taken then refuses non-superusers.
    fn unconfirmed(&self) -> Option<u64> {
        let limit = self.stale_after_ms.load(Ordering::Relaxed);
        let since = self
            .now_ms()
            .saturating_sub(self.confirmed_ms.load(Ordering::Relaxed));
        (since > limit).then_some(since / 1000)
    }

    /// The gate for one statement of `subject`: the rules in force now,
    /// and whether they are confirmed.
    pub fn gate(&self, subject: Subject) -> Gate {
        Gate::new(self.current(), subject, self.unconfirmed())
    }

    /// What logins read: verifiers and the LOGIN attribute, as now.
    pub fn logins(&self) -> Logins {
        Logins {
            auth: self.current(),
        }
    }

    /// Where the rules are stored (to change them).
    pub fn store(&self) -> &AccessStore {
        &self.store
    }

    /// The authorizer in force now.
    pub(crate) fn current(&self) -> Arc<Authorizer> {
        match self.current.read() {
            Ok(a) => Arc::clone(&a),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reload if the stored version moved (after a change here, or polled).
    pub async fn refresh(&self) -> Result<()> {
        let _one = self.reloading.lock().await;
        let stored = self.store.version().await?;
        if stored == self.current().version() {
            self.confirmed_ms.store(self.now_ms(), Ordering::Relaxed);
            return Ok(());
        }
        let authorizer = Arc::new(Authorizer::build(self.store.load().await?).await?);
        self.confirmed_ms.store(self.now_ms(), Ordering::Relaxed);
        tracing::debug!(version = authorizer.version(), "access rules reloaded");
        match self.current.write() {
            Ok(mut a) => *a = authorizer,
            Err(poisoned) => *poisoned.into_inner() = authorizer,
        }
        Ok(())
    }

    /// Poll the stored version every `every` while the policies live, so
    /// changes made by other servers arrive within that time; from then on
    /// the rules go stale (see [`Self::gate`]) after
    /// [`STALE_AFTER_POLLS`] intervals without an answer.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let limit = every.saturating_mul(STALE_AFTER_POLLS).as_millis();
        self.confirmed_ms.store(self.now_ms(), Ordering::Relaxed);
        self.stale_after_ms
            .store(u64::try_from(limit).unwrap_or(u64::MAX), Ordering::Relaxed);
        let policies = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(p) = policies.upgrade() else { return };
                if let Err(e) = p.refresh().await {
                    tracing::warn!(error = %e, "could not read the access rules; keeping the ones in force");
                }
            }
        })
    }
}
