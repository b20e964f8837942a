//! One client session: its parameters, transaction state, prepared
//! statements and portals, and the DataFusion context it plans in.
//!
//! The wire layer drives a session through a small API, in protocol terms:
//! [`Session::parse`] (SQL text → statements), [`Session::prepare`]
//! (statement → [`Prepared`]: planned, parameter types inferred, result
//! columns known) and [`Session::add_statement`], [`Session::bind_portal`]
//! (parameters → [`Portal`]), [`Session::start`] (→ [`Outcome`], a stream
//! of Arrow batches or a command tag), [`Session::portal_mut`] and
//! [`Session::cursor_mut`] (to read a running result), and the `close_*`
//! calls. Its fields are its own; it never sees SQLSTATEs or bytes.
//!
//! Files by job: `parse.rs` routes statements by their leading tokens,
//! `prepare.rs` classifies and plans them, `plan.rs` is the one door to
//! DataFusion's planner, `param_types.rs` types the parameters of a plan as
//! PostgreSQL does, `plan_cache.rs` keeps plans and constant results
//! between executions, `portal.rs` binds, `execute.rs` starts statements,
//! `commands.rs` answers SET/SHOW/BEGIN/CLOSE..., `access.rs` carries out
//! role and privilege statements, `write.rs` carries out
//! lakehouse DDL and INSERT, `params.rs` holds the run-time parameters.

mod access;
mod commands;
mod execute;
pub mod notes;
mod param_types;
pub mod params;
mod parse;
mod plan;
mod plan_cache;
mod portal;
mod prepare;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::session_state::SessionState;
use datafusion::execution::TaskContext;
use datafusion::prelude::SessionContext;

use crate::auth::Principal;
use crate::engine::checkpoint::StatementStop;
use crate::engine::Engine;
use crate::error::{Result, SqlState};
use crate::statements::transaction::TxnState;
pub use execute::Outcome;
use params::Params;
pub use parse::Parsed;
pub use portal::{Portal, Running};
use prepare::Body;
pub use prepare::Prepared;
use weir_pgtypes::{self as types, TextOptions};

/// Server-side events the wire must relay after a statement.
#[derive(Debug, Default)]
struct Events {
    /// ParameterStatus to send (name, value).
    reports: Vec<(&'static str, String)>,
    /// NoticeResponse to send (severity, SQLSTATE, message).
    notices: Vec<(&'static str, SqlState, String)>,
}

/// A client session.
pub struct Session {
    engine: Arc<Engine>,
    ctx: SessionContext,
    /// A snapshot of `ctx`'s state for planning and running statements,
    /// taken once and dropped whenever the session's settings change.
    /// (`SessionContext::state()` clones the function registries on every
    /// call, which dominated the cost of short statements.)
    snapshot: Option<Snapshot>,
    /// Bumped whenever the session's settings change; results of constant
    /// statements are kept per generation.
    generation: u64,
    /// Constant simple-protocol statements by SQL text.
    simple_cache: HashMap<String, Arc<Prepared>>,
    /// Who the session acts as.
    principal: Principal,
    /// The catalog the client connected to (its "database").
    catalog: String,
    /// Run-time parameters.
    params: Params,
    /// Transaction state.
    txn: TxnState,
    savepoints: Vec<String>,
    /// Named and unnamed ("") prepared statements.
    statements: HashMap<String, Arc<Prepared>>,
    /// Named and unnamed ("") portals, and cursors.
    portals: HashMap<String, Portal>,
    /// Pending events for the wire.
    events: Events,
    /// Stops the running statement's planning (armed by the connection).
    stop: StatementStop,
    /// SCRAM iterations for passwords set in SQL.
    password_iterations: u32,
    /// What the running statement did, for its audit record.
    notes: notes::StatementNotes,
    /// The gate of the statement under way (see [`weir_policies::gate`]);
    /// the session's catalogs and functions read it from here too.
    gate: weir_policies::GateSlot,
}

/// Planning state and task context of a session, reused across statements.
struct Snapshot {
    state: SessionState,
    task: Arc<TaskContext>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.principal.user)
            .field("catalog", &self.catalog)
            .finish()
    }
}

impl Session {
    /// The SCRAM iteration count for passwords this session sets
    /// (`CREATE/ALTER ROLE … PASSWORD`), `auth.scram_iterations`.
    pub fn with_password_iterations(mut self, iterations: u32) -> Self {
        self.password_iterations = iterations;
        self
    }

    /// A session acting as `principal` on `catalog`.
    pub fn new(engine: Arc<Engine>, principal: Principal, catalog: String, params: Params) -> Self {
        let gate = weir_policies::GateSlot::new(engine.policies().gate(principal.subject()));
        let ctx = engine.session_context(&catalog, gate.clone());
        let stop = StatementStop::default();
        {
            let state = ctx.state_ref();
            let mut state = state.write();
            let extensions = &mut state.config_mut().options_mut().extensions;
            extensions.insert(stop.clone());
            extensions.insert(principal.clone());
            extensions.insert(gate.clone());
        }
        let mut session = Self {
            engine,
            ctx,
            snapshot: None,
            generation: 0,
            simple_cache: HashMap::new(),
            principal,
            catalog,
            params,
            txn: TxnState::Idle,
            savepoints: Vec::new(),
            statements: HashMap::new(),
            portals: HashMap::new(),
            events: Events::default(),
            stop,
            password_iterations: 4096,
            notes: Default::default(),
            gate,
        };
        session.apply_params();
        session
    }

    /// A run-time parameter's current value (`application_name`).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.params.get(name).ok().map(str::to_owned)
    }

    /// The login name the session acts as.
    pub fn user(&self) -> &str {
        &self.principal.user
    }

    /// Who the session acts as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The catalog the client connected to (its "database").
    pub fn catalog(&self) -> &str {
        &self.catalog
    }

    /// `statement_timeout`, when one is set.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.params.statement_timeout()
    }

    /// What stops the running statement's planning: the connection arms it
    /// with the statement's cancel token and deadline.
    pub fn planning_stop(&self) -> &StatementStop {
        &self.stop
    }

    /// How text values are rendered in this session now.
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            tz: types::parse_timezone(self.params.timezone()).unwrap_or_default(),
            extra_float_digits: self.params.extra_float_digits(),
        }
    }

    /// Notices raised since the last call (severity, SQLSTATE, message).
    pub fn take_notices(&mut self) -> Vec<(&'static str, SqlState, String)> {
        std::mem::take(&mut self.events.notices)
    }

    /// Settings changed since the last call, for ParameterStatus.
    pub fn take_reports(&mut self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut self.events.reports)
    }

    /// Split SQL text into statements, each routed to its parser by its
    /// leading tokens (`session/parse.rs`).
    pub fn parse(&self, sql: &str) -> Result<Vec<Parsed>> {
        parse::parse(&self.engine, sql)
    }

    fn apply_params(&mut self) {
        self.snapshot = None;
        self.generation += 1;
        self.simple_cache.clear();
        self.engine.apply_session(
            &self.ctx,
            &self.catalog,
            &self.params.search_path(),
            self.params.timezone(),
        );
    }

    /// The session's planning state, marked with a new statement start time
    /// (what `now()` returns).
    fn statement_state(&mut self) -> &mut Snapshot {
        let snapshot = self.snapshot();
        snapshot.state.mark_start_execution();
        snapshot
    }

    /// The gate of the statement under way: every access decision of the
    /// statement is its.
    pub(super) fn gate(&self) -> weir_policies::Gate {
        self.gate.get()
    }

    /// A statement (Parse, Execute, FETCH) begins: it is decided by the
    /// rules in force now, as they are then, to its end.
    pub(super) fn begin_gate(&mut self) -> weir_policies::Gate {
        let gate = self.engine.policies().gate(self.subject());
        self.gate.set(gate.clone());
        gate
    }

    /// The session's planning state, taken from its context on first use.
    fn snapshot(&mut self) -> &mut Snapshot {
        self.snapshot.get_or_insert_with(|| {
            let state = self.ctx.state();
            let task = Arc::new(TaskContext::from(&state));
            Snapshot { state, task }
        })
    }
}
