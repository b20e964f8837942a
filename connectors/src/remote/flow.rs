//! Rows from a remote read reach the operators above it as they arrive.
//!
//! DataFusion 53's `RepartitionExec` gathers its output into full batches
//! (8,192 rows) before passing any on, and the physical optimizer puts a
//! round-robin one over every single-stream input to spread the work above
//! it over the cores. Over a remote read that is a stall, not a speed-up:
//! a source that sends slowly (a view computing each row, a busy server)
//! delivers nothing for as long as 8,192 rows take, and a `LIMIT` Weir
//! satisfies from the first rows never gets them, so neither the client's
//! statement nor the one at the source ends. This rule takes those
//! round-robin repartitions out again; a remote read split into ranges
//! (`parallelism`) keeps its own partitions.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

use super::RemoteExec;

/// Removes round-robin repartitions directly over a remote read; runs
/// after DataFusion's `EnforceDistribution`.
#[derive(Debug, Default)]
pub struct RemoteRowsFlow;

impl PhysicalOptimizerRule for RemoteRowsFlow {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(repartition) = node.as_any().downcast_ref::<RepartitionExec>() else {
                return Ok(Transformed::no(node));
            };
            let round_robin =
                matches!(repartition.partitioning(), Partitioning::RoundRobinBatch(_));
            if round_robin && !repartition.preserve_order() && reads_remote(repartition.input()) {
                Ok(Transformed::yes(Arc::clone(repartition.input())))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "remote_rows_flow"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A remote read, possibly inside DataFusion's cooperative-yield wrapper.
fn reads_remote(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let any = plan.as_any();
    any.is::<RemoteExec>()
        || (any.is::<CooperativeExec>() && plan.children().first().is_some_and(|c| reads_remote(c)))
}
