//! Planning that stops when its statement is canceled or times out.
//!
//! Planning is synchronous: while a session plans, its task cannot notice
//! a CancelRequest or its `statement_timeout`. A deep statement plans for
//! seconds (DataFusion names every subexpression while optimizing), so a
//! checkpoint runs between every two analyzer, optimizer and physical
//! optimizer rules: it fails the planning once the statement's token fired
//! or its deadline passed. The token reaches the rules through the
//! session's configuration ([`StatementStop`], one per session, set for
//! each statement by the connection).

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::tree_node::Transformed;
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::analyzer::AnalyzerRule;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use tokio_util::sync::CancellationToken;

use super::runtime;

/// What stops the statement a session is planning: its cancel token and
/// its deadline. Shared by the session's planning states (clones share it).
#[derive(Debug, Clone, Default)]
pub struct StatementStop(Arc<Mutex<Option<Running>>>);

/// The running statement's token and deadline.
type Running = (CancellationToken, Option<Instant>);

impl StatementStop {
    /// The statement about to run stops when `token` fires or at `deadline`.
    pub fn begin(&self, token: &CancellationToken, deadline: Option<Instant>) {
        if let Ok(mut current) = self.0.lock() {
            *current = Some((token.clone(), deadline));
        }
    }

    /// The statement ended.
    pub fn end(&self) {
        if let Ok(mut current) = self.0.lock() {
            *current = None;
        }
    }

    fn check(&self) -> DfResult<()> {
        let Ok(current) = self.0.lock() else {
            return Ok(());
        };
        match current.as_ref() {
            Some((token, _)) if token.is_cancelled() => Err(runtime::canceled()),
            Some((_, Some(deadline))) if Instant::now() >= *deadline => Err(
                DataFusionError::Execution("canceling statement due to statement timeout".into()),
            ),
            _ => Ok(()),
        }
    }
}

impl ConfigExtension for StatementStop {
    const PREFIX: &'static str = "weir_statement_stop";
}

impl ExtensionOptions for StatementStop {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> DfResult<()> {
        Err(DataFusionError::Configuration(format!(
            "unrecognized configuration parameter \"{key}\""
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

fn check(options: &ConfigOptions) -> DfResult<()> {
    match options.extensions.get::<StatementStop>() {
        Some(stop) => stop.check(),
        None => Ok(()),
    }
}

/// The checkpoint, as a rule of each planning phase.
#[derive(Debug, Default)]
pub struct Checkpoint;

const NAME: &str = "weir_checkpoint";

impl AnalyzerRule for Checkpoint {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> DfResult<LogicalPlan> {
        check(config)?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        NAME
    }
}

impl OptimizerRule for Checkpoint {
    fn name(&self) -> &str {
        NAME
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> DfResult<Transformed<LogicalPlan>> {
        check(config.options().as_ref())?;
        Ok(Transformed::no(plan))
    }
}

impl PhysicalOptimizerRule for Checkpoint {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        check(config)?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `rules` with a checkpoint before each of them.
pub fn between<R: ?Sized>(rules: Vec<Arc<R>>, checkpoint: Arc<R>) -> Vec<Arc<R>> {
    rules
        .into_iter()
        .flat_map(|rule| [Arc::clone(&checkpoint), rule])
        .collect()
}
