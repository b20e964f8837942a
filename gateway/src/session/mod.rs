//! One client session: its parameters, transaction state, prepared
//! statements and portals, and the DataFusion context it plans in.
//!
//! The wire layer drives a session through four calls, in protocol terms:
//! [`Session::parse`] (SQL text → statements), [`Session::prepare`]
//! (statement → [`Prepared`]: planned, parameter types inferred, result
//! columns known), [`Session::bind`] (parameters → [`Portal`]) and
//! [`Session::start`] (portal → [`Outcome`], a stream of Arrow batches or a
//! command tag). It never sees SQLSTATEs or bytes.

pub mod params;
mod parse;
mod plan;
mod plan_cache;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DfStatement;

use crate::auth::Principal;
use crate::engine::admission::Permit;
use crate::engine::checkpoint::StatementStop;
use crate::engine::Engine;
use crate::error::{Result, WeirError};
use crate::statements::transaction::{self, TxnState};
use crate::statements::{classify, explain, show, Command};
use params::Params;
pub use parse::Parsed;
use weir_pgtypes::{self as types, oid, TextOptions};

/// A statement ready to run: classified, and planned if it is a query.
#[derive(Debug)]
pub struct Prepared {
    /// Original SQL text (for logs).
    pub sql: String,
    body: Body,
    /// Parameter type OIDs reported in ParameterDescription.
    pub param_types: Vec<u32>,
    /// What the planner expects each parameter to be.
    param_targets: Vec<Option<DataType>>,
    /// Result columns, `None` when the statement returns no rows.
    pub schema: Option<SchemaRef>,
}

#[derive(Debug)]
enum Body {
    Empty,
    Command(Command),
    Declare {
        name: String,
        inner: Arc<Prepared>,
        binary: bool,
        hold: bool,
    },
    /// A lakehouse change (DDL, INSERT): carried out, answered with a tag.
    Write {
        plan: Box<LogicalPlan>,
        partitions: Vec<weir_connectors::lake::ddl::PartitionField>,
    },
    Plan {
        plan: Box<LogicalPlan>,
        explain_verbose: Option<bool>,
        /// `Some` for a constant statement: its result, once computed.
        constant: Option<plan_cache::Cached>,
        /// `Some` for a query whose optimized plan can be reused.
        optimized: Option<plan_cache::Optimized>,
        /// It reads tables (other than the catalogs' own): it waits for an
        /// execution slot (see [`crate::engine::admission`]).
        reads_tables: bool,
    },
}

impl Prepared {
    /// Whether it changes the lakehouse (it is not cut short at shutdown).
    pub fn is_write(&self) -> bool {
        matches!(self.body, Body::Write { .. })
    }
}

/// A bound statement.
#[derive(Debug)]
pub struct Portal {
    /// The statement.
    pub prepared: Arc<Prepared>,
    /// Bound parameter values.
    pub params: Vec<ScalarValue>,
    /// Result formats per column (`true` = binary).
    pub binary: Vec<bool>,
    /// Set once started: the running result.
    pub running: Option<Running>,
    /// The portal ran to completion.
    pub finished: bool,
    /// Tag word of the completed result, for re-executes.
    pub last_tag: &'static str,
    /// A `WITH HOLD` cursor: survives the end of its transaction.
    pub holdable: bool,
}

/// A portal's result in progress.
pub struct Running {
    /// Result rows.
    pub stream: SendableRecordBatchStream,
    /// A batch partly sent by a suspended Execute, and the next row.
    pub pending: Option<(RecordBatch, usize)>,
    /// Command tag word (`SELECT`, `SHOW`, `EXPLAIN`).
    pub tag: &'static str,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("tag", &self.tag).finish()
    }
}

/// What starting a statement produced.
pub enum Outcome {
    /// Rows to stream, then `<tag> <count>`.
    Rows(Running),
    /// A command with its complete tag.
    Done(String),
    /// An empty query.
    Empty,
    /// `FETCH`: the wire layer streams up to `rows` rows (`None` = all) of
    /// the cursor portal `cursor`.
    Fetch {
        /// The cursor's portal name.
        cursor: String,
        /// Row count; `None` = all.
        rows: Option<u64>,
    },
}

/// Server-side events the wire must relay after a statement.
#[derive(Debug, Default)]
pub struct Events {
    /// ParameterStatus to send (name, value).
    pub reports: Vec<(&'static str, String)>,
    /// NoticeResponse to send (severity, SQLSTATE, message).
    pub notices: Vec<(&'static str, crate::error::SqlState, String)>,
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
    pub catalog: String,
    /// Run-time parameters.
    pub params: Params,
    /// Transaction state.
    pub txn: TxnState,
    savepoints: Vec<String>,
    /// Named and unnamed ("") prepared statements.
    pub statements: HashMap<String, Arc<Prepared>>,
    /// Named and unnamed ("") portals.
    pub portals: HashMap<String, Portal>,
    /// Pending events for the wire.
    pub events: Events,
    /// Stops the running statement's planning (set by the connection).
    pub stop: StatementStop,
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
    /// A session acting as `principal` on `catalog`.
    pub fn new(engine: Arc<Engine>, principal: Principal, catalog: String, params: Params) -> Self {
        let ctx = engine.session_context(&catalog);
        let stop = StatementStop::default();
        {
            let state = ctx.state_ref();
            let mut state = state.write();
            let extensions = &mut state.config_mut().options_mut().extensions;
            extensions.insert(stop.clone());
            extensions.insert(principal.clone());
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
        };
        session.apply_params();
        session
    }

    /// The login name the session acts as.
    pub fn user(&self) -> &str {
        &self.principal.user
    }

    /// Who the session acts as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    fn apply_params(&mut self) {
        self.snapshot = None;
        self.generation += 1;
        self.simple_cache.clear();
        self.engine.apply_session(
            &self.ctx,
            &self.catalog,
            &self.params.search_path(),
            &self.principal.user,
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

    /// The session's planning state, taken from its context on first use.
    fn snapshot(&mut self) -> &mut Snapshot {
        self.snapshot.get_or_insert_with(|| {
            let state = self.ctx.state();
            let task = Arc::new(TaskContext::from(&state));
            Snapshot { state, task }
        })
    }

    /// A constant statement prepared earlier from exactly this SQL text.
    pub fn cached_simple(&self, sql: &str) -> Option<Arc<Prepared>> {
        self.simple_cache.get(sql).cloned()
    }

    /// Remember `prepared` for its SQL text if it is a constant statement.
    pub fn remember_simple(&mut self, sql: &str, prepared: &Arc<Prepared>) {
        if !matches!(
            prepared.body,
            Body::Plan {
                constant: Some(_),
                ..
            }
        ) {
            return;
        }
        if self.simple_cache.len() >= plan_cache::MAX_CACHED_STATEMENTS {
            self.simple_cache.clear();
        }
        self.simple_cache
            .insert(sql.to_owned(), Arc::clone(prepared));
    }

    /// How text values are rendered in this session now.
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            tz: types::parse_timezone(self.params.timezone()).unwrap_or_default(),
            extra_float_digits: self.params.extra_float_digits(),
        }
    }

    /// Split SQL text into statements, each routed to its parser by its
    /// leading tokens (`session/parse.rs`).
    pub fn parse(&self, sql: &str) -> Result<Vec<Parsed>> {
        parse::parse(&self.engine, sql)
    }

    /// Check the transaction state allows `cmd`.
    fn check_txn(&self, cmd: &Command) -> Result<()> {
        if self.txn == TxnState::Failed && !cmd.allowed_when_failed() {
            return Err(WeirError::InFailedTransaction);
        }
        Ok(())
    }

    /// Classify and (for queries) plan a statement; `None` = empty query.
    /// `declared` are the client's parameter type OIDs (0 = infer).
    pub async fn prepare(
        &mut self,
        sql: &str,
        parsed: Option<Parsed>,
        declared: &[u32],
    ) -> Result<Prepared> {
        crate::engine::runtime::cpu_bound(self.prepare_here(sql, parsed, declared)).await
    }

    async fn prepare_here(
        &mut self,
        sql: &str,
        parsed: Option<Parsed>,
        declared: &[u32],
    ) -> Result<Prepared> {
        let Some(Parsed { stmt, partitions }) = parsed else {
            return Ok(Prepared {
                sql: sql.to_owned(),
                body: Body::Empty,
                param_types: declared.to_vec(),
                param_targets: vec![None; declared.len()],
                schema: None,
            });
        };
        let stmt = match stmt {
            DfStatement::Statement(stmt) => *stmt,
            other => {
                let plan = self.plan_statement(other).await?;
                return Ok(finish(
                    sql,
                    self.write_body(plan, partitions)?,
                    None,
                    Vec::new(),
                    declared,
                ));
            }
        };
        let lists_catalog = parse::lists_catalog(&stmt);
        let cmd = classify(stmt)?;
        self.check_txn(&cmd)?;
        if lists_catalog {
            // Tables and schemas may have been created elsewhere (another
            // server, PyIceberg): listings are re-read before answering.
            self.engine.lake().refresh().await?;
        }
        let (body, schema, targets) = match cmd {
            Command::Query(stmt) => {
                let (body, schema, targets) = self.plan_query(stmt).await?;
                match body {
                    Body::Plan { plan, .. } if write::is_write(&plan) => {
                        (self.write_body(*plan, partitions)?, None, targets)
                    }
                    body => (body, schema, targets),
                }
            }
            Command::Declare {
                name,
                query,
                binary,
                hold,
            } => {
                let (body, schema, targets) = self.plan_query(query).await?;
                let inner = Arc::new(finish(sql, body, schema, targets.clone(), declared));
                (
                    Body::Declare {
                        name,
                        inner,
                        binary,
                        hold,
                    },
                    None,
                    targets,
                )
            }
            Command::Fetch { name, rows } => {
                let schema = self
                    .portals
                    .get(&name)
                    .and_then(|p| p.prepared.schema.clone())
                    .ok_or_else(|| {
                        WeirError::UnknownPortal(format!("cursor \"{name}\" does not exist"))
                    })?;
                (
                    Body::Command(Command::Fetch { name, rows }),
                    Some(schema),
                    Vec::new(),
                )
            }
            Command::Show(name) => {
                let schema = show::schema(name.as_deref());
                (Body::Command(Command::Show(name)), Some(schema), Vec::new())
            }
            other => (Body::Command(other), None, Vec::new()),
        };
        Ok(finish(sql, body, schema, targets, declared))
    }

    /// Bind parameter values (wire bytes) to a prepared statement.
    pub fn bind(
        &self,
        prepared: Arc<Prepared>,
        formats: &[i16],
        values: &[Option<bytes::Bytes>],
        result_formats: &[i16],
    ) -> Result<Portal> {
        if values.len() != prepared.param_types.len() {
            return Err(WeirError::Protocol(format!(
                "bind message supplies {} parameters, but prepared statement requires {}",
                values.len(),
                prepared.param_types.len()
            )));
        }
        if formats.len() > 1 && formats.len() != values.len() {
            return Err(WeirError::Protocol(format!(
                "bind message has {} parameter formats but {} parameters",
                formats.len(),
                values.len()
            )));
        }
        let mut params = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let binary = match formats {
                [] => false,
                [one] => *one == 1,
                many => many[i] == 1,
            };
            params.push(types::decode_param(
                v.as_deref(),
                binary,
                prepared.param_types[i],
                prepared.param_targets[i].as_ref(),
            )?);
        }
        let ncols = prepared
            .schema
            .as_ref()
            .map(|s| s.fields().len())
            .unwrap_or(0);
        let binary = match result_formats {
            [] => vec![false; ncols],
            [one] => vec![*one == 1; ncols],
            many if many.len() == ncols => many.iter().map(|f| *f == 1).collect(),
            many => {
                return Err(WeirError::Protocol(format!(
                    "bind message has {} result formats but query has {ncols} columns",
                    many.len()
                )))
            }
        };
        Ok(Portal {
            prepared,
            params,
            binary,
            running: None,
            finished: false,
            last_tag: "SELECT",
            holdable: false,
        })
    }

    /// Start a bound statement.
    pub async fn start(&mut self, prepared: &Prepared, params: &[ScalarValue]) -> Result<Outcome> {
        match &prepared.body {
            Body::Empty => Ok(Outcome::Empty),
            Body::Command(Command::Alter(alter)) => {
                if self.txn == TxnState::Failed {
                    return Err(WeirError::InFailedTransaction);
                }
                self.run_alter(alter).await?;
                Ok(Outcome::Done("ALTER TABLE".into()))
            }
            Body::Command(cmd) => {
                self.check_txn(cmd)?;
                self.run_command(cmd)
            }
            Body::Write { plan, partitions } => {
                if self.txn == TxnState::Failed {
                    return Err(WeirError::InFailedTransaction);
                }
                let plan = bind_params(plan.as_ref().clone(), params)?;
                let _slot = self.engine.admission().admit(&self.principal.user).await?;
                let tag =
                    crate::engine::runtime::cpu_bound(self.run_write(plan, partitions)).await?;
                Ok(Outcome::Done(tag))
            }
            Body::Declare {
                name,
                inner,
                binary,
                hold,
            } => {
                if self.txn == TxnState::Failed {
                    return Err(WeirError::InFailedTransaction);
                }
                if self.txn == TxnState::Idle && !hold {
                    return Err(WeirError::NoActiveTransaction(
                        "DECLARE CURSOR can only be used in transaction blocks",
                    ));
                }
                if self.portals.contains_key(name) {
                    return Err(WeirError::DuplicatePortal(name.clone()));
                }
                let ncols = inner.schema.as_ref().map(|s| s.fields().len()).unwrap_or(0);
                let cursor = Portal {
                    prepared: inner.clone(),
                    params: params.to_vec(),
                    binary: vec![*binary; ncols],
                    running: None,
                    finished: false,
                    last_tag: "SELECT",
                    holdable: *hold,
                };
                self.portals.insert(name.clone(), cursor);
                Ok(Outcome::Done("DECLARE CURSOR".into()))
            }
            Body::Plan {
                plan,
                explain_verbose,
                constant,
                optimized,
                reads_tables,
            } => {
                if self.txn == TxnState::Failed {
                    return Err(WeirError::InFailedTransaction);
                }
                if let Some(cache) = constant {
                    return self.start_constant(plan, cache).await;
                }
                let slot = match reads_tables {
                    true => Some(self.engine.admission().admit(&self.principal.user).await?),
                    false => None,
                };
                let stream = match optimized {
                    // A reused plan is only planned physically: cheap.
                    Some(cache) => self.execute_reusable(plan, cache, params, slot).await?,
                    None => {
                        let plan = bind_params(plan.as_ref().clone(), params)?;
                        crate::engine::runtime::cpu_bound(self.execute_plan(plan, slot)).await?
                    }
                };
                let is_explain = explain_verbose.is_some()
                    || explain::is_explain_output(stream.schema().as_ref());
                if is_explain {
                    use futures::TryStreamExt;
                    let batches: Vec<RecordBatch> = stream.try_collect().await?;
                    let batch = explain::reshape(&batches, explain_verbose.unwrap_or(false))?;
                    return Ok(Outcome::Rows(one_batch(batch, "EXPLAIN")?));
                }
                Ok(Outcome::Rows(Running {
                    stream,
                    pending: None,
                    tag: "SELECT",
                }))
            }
        }
    }

    /// Start a constant statement: replay its result, or compute and keep it.
    async fn start_constant(
        &mut self,
        plan: &LogicalPlan,
        cache: &plan_cache::Cached,
    ) -> Result<Outcome> {
        let (schema, batches) = match cache.get(self.generation) {
            Some(hit) => hit,
            None => {
                use futures::TryStreamExt;
                let stream = self.execute_plan(plan.clone(), None).await?;
                let schema = stream.schema();
                let batches: Vec<RecordBatch> = stream.try_collect().await?;
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                if rows <= plan_cache::MAX_ROWS {
                    cache.put(self.generation, (schema.clone(), batches.clone()));
                }
                (schema, batches)
            }
        };
        Ok(Outcome::Rows(Running {
            stream: Box::pin(MemoryStream::try_new(batches, schema, None)?),
            pending: None,
            tag: "SELECT",
        }))
    }

    /// Start a query whose optimized plan is reused: optimize once per
    /// settings generation (with parameters as placeholders), then bind the
    /// parameters into the optimized plan and only plan it physically.
    async fn execute_reusable(
        &mut self,
        plan: &LogicalPlan,
        cache: &plan_cache::Optimized,
        params: &[ScalarValue],
        slot: Option<Permit>,
    ) -> Result<SendableRecordBatchStream> {
        let generation = self.generation;
        let optimized = match cache.get(generation) {
            Some(optimized) => *optimized,
            None => {
                let optimized = self.statement_state().state.optimize(plan)?;
                cache.put(generation, Box::new(optimized.clone()));
                optimized
            }
        };
        self.start_optimized(bind_params(optimized, params)?, slot)
            .await
    }

    /// Optimize, plan physically and start a logical plan. Queries run on
    /// the session's snapshot; anything else (DDL, DML) goes through the
    /// context, which knows how to apply it. `slot` is held while it runs.
    async fn execute_plan(
        &mut self,
        plan: LogicalPlan,
        slot: Option<Permit>,
    ) -> Result<SendableRecordBatchStream> {
        if let LogicalPlan::Dml(_) = plan {
            // INSERT: its rows are computed on the query runtime too.
            let physical = self
                .ctx
                .execute_logical_plan(plan)
                .await?
                .create_physical_plan()
                .await?;
            let task = Arc::clone(&self.snapshot().task);
            return self.engine.execute(physical, &task, slot);
        }
        if matches!(
            plan,
            LogicalPlan::Ddl(_)
                | LogicalPlan::Copy(_)
                | LogicalPlan::Statement(_)
                | LogicalPlan::DescribeTable(_)
        ) {
            let stream = self
                .ctx
                .execute_logical_plan(plan)
                .await?
                .execute_stream()
                .await?;
            return Ok(stream);
        }
        let optimized = self.statement_state().state.optimize(&plan)?;
        self.start_optimized(optimized, slot).await
    }

    /// Plan an optimized logical plan physically and start it.
    async fn start_optimized(
        &mut self,
        plan: LogicalPlan,
        slot: Option<Permit>,
    ) -> Result<SendableRecordBatchStream> {
        let engine = Arc::clone(&self.engine);
        let snapshot = self.snapshot();
        engine
            .start(plan, &snapshot.state, &snapshot.task, slot)
            .await
    }

    fn run_command(&mut self, cmd: &Command) -> Result<Outcome> {
        match cmd {
            Command::Set { name, value } => {
                let report = match value {
                    Some(v) => self.params.set(name, v)?,
                    None => self.params.reset(name)?,
                };
                self.events.reports.extend(report);
                self.apply_params();
                Ok(Outcome::Done("SET".into()))
            }
            Command::Reset(name) => {
                match name {
                    Some(n) => {
                        let report = self.params.reset(n)?;
                        self.events.reports.extend(report);
                    }
                    None => {
                        let changed = self.params.reset_all();
                        self.events.reports.extend(changed);
                    }
                }
                self.apply_params();
                Ok(Outcome::Done("RESET".into()))
            }
            Command::Show(name) => Ok(Outcome::Rows(one_batch(
                show::run(&self.params, name.as_deref())?,
                "SHOW",
            )?)),
            Command::Transaction(t) => {
                let out = transaction::run(t, &mut self.txn, &mut self.savepoints)?;
                if self.txn == TxnState::Idle {
                    // The transaction ended: its cursors and portals close.
                    self.portals.retain(|_, p| p.holdable);
                }
                if let Some((code, msg)) = out.warning {
                    self.events.notices.push(("WARNING", code, msg.to_owned()));
                }
                Ok(Outcome::Done(out.tag.into()))
            }
            Command::DiscardAll => {
                if self.txn != TxnState::Idle {
                    return Err(WeirError::ActiveTransaction(
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                let changed = self.params.reset_all();
                self.events.reports.extend(changed);
                self.statements.clear();
                self.portals.clear();
                self.apply_params();
                Ok(Outcome::Done("DISCARD ALL".into()))
            }
            Command::Deallocate(name) => {
                match name {
                    Some(n) => {
                        if self.statements.remove(n).is_none() {
                            return Err(WeirError::UnknownStatement(format!(
                                "prepared statement \"{n}\" does not exist"
                            )));
                        }
                    }
                    None => self.statements.clear(),
                }
                Ok(Outcome::Done("DEALLOCATE".into()))
            }
            Command::NoOp(tag) => Ok(Outcome::Done((*tag).into())),
            Command::Fetch { name, rows } => Ok(Outcome::Fetch {
                cursor: name.clone(),
                rows: *rows,
            }),
            Command::CloseCursor(Some(name)) => {
                if self.portals.remove(name).is_none() {
                    return Err(WeirError::UnknownPortal(format!(
                        "cursor \"{name}\" does not exist"
                    )));
                }
                Ok(Outcome::Done("CLOSE CURSOR".into()))
            }
            Command::CloseCursor(None) => {
                self.portals.clear();
                Ok(Outcome::Done("CLOSE CURSOR ALL".into()))
            }
            Command::Declare { .. } => Err(WeirError::Internal(
                "DECLARE reached the command path".into(),
            )),
            Command::Query(_) | Command::Alter(_) => Err(WeirError::Internal(
                "a planned statement reached the command path".into(),
            )),
        }
    }

    /// Record that a statement failed: an open block becomes aborted.
    pub fn on_error(&mut self) {
        if self.txn == TxnState::Block {
            self.txn = TxnState::Failed;
        }
    }

    /// End of an implicit transaction (Sync outside a block): portals close.
    pub fn end_implicit_transaction(&mut self) {
        if self.txn == TxnState::Idle {
            self.portals.retain(|_, p| p.holdable);
        }
    }
}

/// Replace a plan's parameter placeholders with bound values.
fn bind_params(plan: LogicalPlan, params: &[ScalarValue]) -> Result<LogicalPlan> {
    if params.is_empty() {
        return Ok(plan);
    }
    Ok(plan.with_param_values(ParamValues::List(
        params.iter().cloned().map(Into::into).collect(),
    ))?)
}

fn one_batch(batch: RecordBatch, tag: &'static str) -> Result<Running> {
    let schema = batch.schema();
    let stream = MemoryStream::try_new(vec![batch], schema, None)?;
    Ok(Running {
        stream: Box::pin(stream),
        pending: None,
        tag,
    })
}

/// A [`Prepared`] with parameter types: the client's where declared, else
/// the planner's, else text.
fn finish(
    sql: &str,
    body: Body,
    schema: Option<SchemaRef>,
    targets: Vec<Option<DataType>>,
    declared: &[u32],
) -> Prepared {
    let n = targets.len().max(declared.len());
    let mut param_types = Vec::with_capacity(n);
    let mut param_targets = Vec::with_capacity(n);
    for i in 0..n {
        let target = targets.get(i).cloned().flatten();
        let declared_oid = declared.get(i).copied().unwrap_or(0);
        let reported = if declared_oid != 0 {
            declared_oid
        } else {
            target
                .as_ref()
                .map(|t| {
                    types::pg_type(&datafusion::arrow::datatypes::Field::new(
                        "",
                        t.clone(),
                        true,
                    ))
                    .oid
                })
                .unwrap_or(oid::TEXT)
        };
        param_types.push(reported);
        param_targets.push(target);
    }
    Prepared {
        sql: sql.to_owned(),
        body,
        param_types,
        param_targets,
        schema,
    }
}
