//! Operators that work long per poll, made to notice a canceled statement
//! and to give their worker back.
//!
//! Dropping a statement's stream aborts its tasks, but an abort lands only
//! when a task next returns `Pending`. DataFusion's operators return
//! `Pending` through the cooperative budget of their leaves; two do not:
//! - a nested-loop join whose filter rarely matches loops over every
//!   buffered left row for each right batch without producing anything,
//!   which is minutes in one poll on big inputs. Its filter is wrapped in
//!   [`CancelCheck`], which fails the statement as soon as the statement's
//!   token fires (the filter runs once per left row).
//! - nested-loop and cross joins producing rows keep answering `Ready`; a
//!   [`CooperativeExec`] above them spends the task's budget per batch, so
//!   the task yields and other tasks on the worker run.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::utils::JoinFilter;
use datafusion::physical_plan::joins::{
    CrossJoinExec, NestedLoopJoinExec, NestedLoopJoinExecBuilder,
};
use datafusion::physical_plan::ExecutionPlan;
use tokio_util::sync::CancellationToken;

/// Wrap the long-running operators of `plan`; they stop once the returned
/// token (the statement's) fires.
pub fn protect(
    plan: Arc<dyn ExecutionPlan>,
) -> DfResult<(Arc<dyn ExecutionPlan>, CancellationToken)> {
    let token = CancellationToken::new();
    let plan = plan.transform_up(|node| {
        if let Some(join) = node.as_any().downcast_ref::<NestedLoopJoinExec>() {
            let filter = join.filter().map(|f| {
                JoinFilter::new(
                    Arc::new(CancelCheck {
                        inner: Arc::clone(f.expression()),
                        token: token.clone(),
                    }),
                    f.column_indices().to_vec(),
                    Arc::clone(f.schema()),
                )
            });
            let join = NestedLoopJoinExecBuilder::from(join)
                .with_filter(filter)
                .build()?;
            return Ok(Transformed::yes(Arc::new(CooperativeExec::new(Arc::new(
                join,
            )))));
        }
        if node.as_any().is::<CrossJoinExec>() {
            return Ok(Transformed::yes(Arc::new(CooperativeExec::new(node))));
        }
        Ok(Transformed::no(node))
    })?;
    Ok((plan.data, token))
}

/// An expression that fails once its statement is canceled, else is `inner`.
#[derive(Debug)]
pub struct CancelCheck {
    inner: Arc<dyn PhysicalExpr>,
    token: CancellationToken,
}

impl PartialEq for CancelCheck {
    fn eq(&self, other: &Self) -> bool {
        self.inner.as_ref() == other.inner.as_ref()
    }
}

impl Eq for CancelCheck {}

impl Hash for CancelCheck {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

impl fmt::Display for CancelCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl PhysicalExpr for CancelCheck {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn data_type(&self, input_schema: &Schema) -> DfResult<DataType> {
        self.inner.data_type(input_schema)
    }

    fn nullable(&self, input_schema: &Schema) -> DfResult<bool> {
        self.inner.nullable(input_schema)
    }

    fn return_field(&self, input_schema: &Schema) -> DfResult<FieldRef> {
        self.inner.return_field(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> DfResult<ColumnarValue> {
        if self.token.is_cancelled() {
            return Err(super::runtime::canceled());
        }
        self.inner.evaluate(batch)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> DfResult<Arc<dyn PhysicalExpr>> {
        let inner = children
            .into_iter()
            .next()
            .unwrap_or(Arc::clone(&self.inner));
        Ok(Arc::new(Self {
            inner,
            token: self.token.clone(),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt_sql(f)
    }
}
