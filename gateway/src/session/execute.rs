//! Starting a bound statement: commands answer at once, writes are carried
//! out, queries start streaming (constant ones replayed, reusable ones
//! planned only physically).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::scalar::ScalarValue;

use super::{plan_cache, Body, Portal, Prepared, Running, Session};
use crate::engine::admission::Permit;
use crate::error::{Result, WeirError};
use crate::statements::explain;
use crate::statements::transaction::TxnState;
use crate::statements::Command;

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

impl Session {
    /// Start a bound statement (an Execute, a FETCH from a cursor not
    /// yet running): it is decided by the rules in force now.
    pub async fn start(&mut self, prepared: &Prepared, params: &[ScalarValue]) -> Result<Outcome> {
        self.begin_gate();
        match self.current_plan(prepared).await? {
            Some(fresh) => self.start_under_gate(&fresh, params).await,
            None => self.start_under_gate(prepared, params).await,
        }
    }

    async fn start_under_gate(
        &mut self,
        prepared: &Prepared,
        params: &[ScalarValue],
    ) -> Result<Outcome> {
        self.note_start(prepared);
        match &prepared.body {
            Body::Empty => Ok(Outcome::Empty),
            Body::Command(Command::Alter(alter)) => {
                self.check_not_failed()?;
                self.run_alter(alter).await?;
                Ok(Outcome::Done("ALTER TABLE".into()))
            }
            Body::Command(cmd) => {
                self.check_txn(cmd)?;
                self.run_command(cmd)
            }
            Body::Access(stmt) => {
                self.check_not_failed()?;
                self.run_access(stmt).await
            }
            Body::Write { plan, partitions } => {
                self.check_not_failed()?;
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
                self.check_not_failed()?;
                if self.txn == TxnState::Idle && !hold {
                    return Err(WeirError::NoActiveTransaction(
                        "DECLARE CURSOR can only be used in transaction blocks",
                    ));
                }
                let ncols = inner.schema.as_ref().map(|s| s.fields().len()).unwrap_or(0);
                let cursor =
                    Portal::new(inner.clone(), params.to_vec(), vec![*binary; ncols], *hold);
                self.declare(name, cursor)?;
                Ok(Outcome::Done("DECLARE CURSOR".into()))
            }
            Body::Plan {
                plan,
                explain_verbose,
                constant,
                optimized,
                reads_tables,
            } => {
                self.check_not_failed()?;
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
    pub(super) async fn execute_plan(
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

/// A result of one batch, already computed.
pub(super) fn one_batch(batch: RecordBatch, tag: &'static str) -> Result<Running> {
    let schema = batch.schema();
    let stream = MemoryStream::try_new(vec![batch], schema, None)?;
    Ok(Running {
        stream: Box::pin(stream),
        pending: None,
        tag,
    })
}
