//! Who may see what: access decisions over Weir's catalog objects, and the
//! plan rewrite that enforces them below every table reference.
//!
//! # Layout
//! ```text
//! model.conf     the casbin model: RBAC, role hierarchy, deny overrides allow
//! objects        object names (catalog.schema.table.column), `*`, coverage
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
//! (polled, and at once after a change made here). A statement takes the
//! authorizer current when it is planned and keeps it: a change never
//! lands halfway through one.
//!
//! Enforcement sits above the connectors: it rewrites DataFusion's logical
//! plan, whatever source a table comes from. This crate never imports the
//! gateway or the connectors.
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod authorizer;
pub mod barrier;
pub mod error;
pub mod objects;
pub mod rename;
pub mod rewrite;
pub mod storage;

use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use authorizer::{Action, Authorizer, Decision, Subject, PUBLIC};
pub use error::{PolicyError, Result};
use weir_catalog::AccessStore;

/// The rules in force on this server.
#[derive(Debug)]
pub struct Policies {
    store: AccessStore,
    current: RwLock<Arc<Authorizer>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl Policies {
    /// Load the stored rules.
    pub async fn open(store: AccessStore) -> Result<Self> {
        let authorizer = Authorizer::build(store.load().await?).await?;
        Ok(Self {
            store,
            current: RwLock::new(Arc::new(authorizer)),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// Where the rules are stored (to change them).
    pub fn store(&self) -> &AccessStore {
        &self.store
    }

    /// The authorizer in force now.
    pub fn current(&self) -> Arc<Authorizer> {
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
            return Ok(());
        }
        let authorizer = Arc::new(Authorizer::build(self.store.load().await?).await?);
        tracing::debug!(version = authorizer.version(), "access rules reloaded");
        match self.current.write() {
            Ok(mut a) => *a = authorizer,
            Err(poisoned) => *poisoned.into_inner() = authorizer,
        }
        Ok(())
    }

    /// Poll the stored version every `every` until `stop` is dropped or
    /// fires, so changes made by other servers arrive within that time.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
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
