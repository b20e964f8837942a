//! The security barrier above a row filter (PostgreSQL's
//! `security_barrier`): a user's predicate that could fail or leak is never
//! evaluated on a row the filter hides, so `WHERE 1/(salary - 5000) > 0`
//! cannot reveal that a hidden row has salary 5000.
//!
//! ```text
//!   Filter(1/(salary-5000) > 0 AND dept = 'eng')      Filter(1/(salary-5000) > 0)
//!     RowSecurity(employees)                   ─▶       RowSecurity(employees)
//!       Projection(masks)                                 Filter(dept = 'eng')
//!         Filter(row filter)                                Projection(masks)
//!           TableScan                                         Filter(row filter) …
//! ```
//!
//! [`RowSecurity`] is a logical node DataFusion's optimizer pushes no
//! predicate through (every column is in its
//! `prevent_predicate_push_down_columns`), while columns are still pruned
//! through it. [`SafePredicates`], an optimizer rule placed right after
//! `PushDownFilter`, moves the *leakproof* conjuncts of a filter above it
//! (comparisons of columns and constants, `IS NULL`, `IN` lists, `LIKE`,
//! casts that cannot fail, a few string functions) below it, where the
//! next pass pushes them on into the scan or the remote statement; the
//! rest stays above. Physically the node is nothing but a stop for filter
//! pushdown that lets only the run-time filters of joins and top-k through
//! ([`RowSecurityExec`]).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::Statistics;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, Extension, Filter, LogicalPlan, Operator,
    UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::push_down_filter::PushDownFilter;
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::filter_pushdown::{
    ChildFilterDescription, FilterDescription, FilterPushdownPhase,
};
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};

/// The barrier above a table's row filter.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RowSecurity {
    input: Arc<LogicalPlan>,
    schema: DFSchemaRef,
    /// The table, for EXPLAIN.
    table: String,
}

/// Only the table: DataFusion formats every extension node it plans
/// (`Extension planner for {node:?}`), and the input's plan is long.
impl fmt::Debug for RowSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowSecurity")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl PartialOrd for RowSecurity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.table.partial_cmp(&other.table)
    }
}

impl RowSecurity {
    /// The table the barrier protects.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A barrier over `input` (the filtered, masked table `table`).
    pub fn plan(input: LogicalPlan, table: String) -> LogicalPlan {
        let schema = Arc::clone(input.schema());
        LogicalPlan::Extension(Extension {
            node: Arc::new(Self {
                input: Arc::new(input),
                schema,
                table,
            }),
        })
    }
}

impl UserDefinedLogicalNodeCore for RowSecurity {
    fn name(&self) -> &str {
        "RowSecurity"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn prevent_predicate_push_down_columns(&self) -> HashSet<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RowSecurity: table={}", self.table)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs.pop().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("RowSecurity has one input".into())
        })?;
        Ok(Self {
            schema: Arc::clone(input.schema()),
            input: Arc::new(input),
            table: self.table.clone(),
        })
    }

    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }
}

/// Moves leakproof predicates below [`RowSecurity`] barriers.
#[derive(Debug, Default)]
pub struct SafePredicates;

impl OptimizerRule for SafePredicates {
    fn name(&self) -> &str {
        "weir_safe_predicates"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        let LogicalPlan::Extension(ext) = filter.input.as_ref() else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let Some(barrier) = ext.node.as_any().downcast_ref::<RowSecurity>() else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let (safe, leaky): (Vec<Expr>, Vec<Expr>) =
            split_conjunction_owned(filter.predicate.clone())
                .into_iter()
                .partition(|e| leakproof(e, barrier.schema.as_ref()));
        let Some(safe) = conjunction(safe) else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        // Pushed on down at once (into the row filter, the scan or the
        // remote statement), as `PushDownFilter` would in the optimizer's
        // next pass: that pass is then not needed.
        let inner = LogicalPlan::Filter(Filter::try_new(safe, Arc::clone(&barrier.input))?);
        let push = PushDownFilter::new();
        let inner = inner
            .transform_down(|node| push.rewrite(node, config))?
            .data;
        let moved = RowSecurity::plan(inner, barrier.table.clone());
        Ok(Transformed::yes(match conjunction(leaky) {
            Some(leaky) => LogicalPlan::Filter(Filter::try_new(leaky, Arc::new(moved))?),
            None => moved,
        }))
    }
}

/// Whether evaluating `expr` on any row can neither fail nor reveal more
/// than its value: then it may run before a row filter.
pub fn leakproof(expr: &Expr, schema: &DFSchema) -> bool {
    let leakproof = |e: &Expr| leakproof(e, schema);
    match expr {
        Expr::Column(_) | Expr::Literal(..) | Expr::Placeholder(_) => true,
        Expr::Alias(a) => leakproof(&a.expr),
        Expr::Not(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsUnknown(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e)
        | Expr::IsNotUnknown(e) => leakproof(e),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::IsDistinctFrom
                    | Operator::IsNotDistinctFrom
                    | Operator::And
                    | Operator::Or
                    | Operator::StringConcat
            ) && leakproof(left)
                && leakproof(right)
        }
        Expr::Between(b) => leakproof(&b.expr) && leakproof(&b.low) && leakproof(&b.high),
        Expr::InList(list) => leakproof(&list.expr) && list.list.iter().all(&leakproof),
        Expr::Like(like) => {
            !like.case_insensitive
                && like.escape_char.is_none()
                && leakproof(&like.expr)
                && matches!(like.pattern.as_ref(), Expr::Literal(..))
        }
        Expr::TryCast(c) => leakproof(&c.expr),
        Expr::Cast(c) => {
            leakproof(&c.expr)
                && c.expr
                    .get_type(schema)
                    .is_ok_and(|from| cannot_fail(&from, &c.data_type))
        }
        Expr::Case(case) => {
            case.expr.as_deref().is_none_or(&leakproof)
                && case
                    .when_then_expr
                    .iter()
                    .all(|(w, t)| leakproof(w) && leakproof(t))
                && case.else_expr.as_deref().is_none_or(&leakproof)
        }
        Expr::ScalarFunction(ScalarFunction { func, args }) => {
            matches!(
                func.name(),
                "lower"
                    | "upper"
                    | "btrim"
                    | "ltrim"
                    | "rtrim"
                    | "character_length"
                    | "length"
                    | "octet_length"
                    | "coalesce"
                    | "nullif"
                    | "starts_with"
            ) && args.iter().all(&leakproof)
        }
        _ => false,
    }
}

/// Casts that succeed on every value: to text, and numeric widenings.
fn cannot_fail(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || matches!(to, Utf8 | LargeUtf8 | Utf8View) {
        return true;
    }
    let rank = |t: &DataType| match t {
        Int8 => Some((true, 1)),
        Int16 => Some((true, 2)),
        Int32 => Some((true, 4)),
        Int64 => Some((true, 8)),
        UInt8 => Some((false, 1)),
        UInt16 => Some((false, 2)),
        UInt32 => Some((false, 4)),
        UInt64 => Some((false, 8)),
        _ => None,
    };
    match (rank(from), rank(to), to) {
        (Some((fs, fw)), Some((ts, tw)), _) => (fs == ts && tw > fw) || (!fs && ts && tw > fw),
        (Some(_), None, Float64) => true,
        (None, None, Float64) => from == &Float32,
        _ => false,
    }
}

/// [`RowSecurity`] in a physical plan: its input, unchanged, except that
/// no filter above crosses it (DataFusion's physical filter pushdown would
/// otherwise merge a user's predicate into the row filter's `FilterExec`).
#[derive(Debug)]
pub struct RowSecurityExec {
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for RowSecurityExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("RowSecurityExec")
    }
}

impl ExecutionPlan for RowSecurityExec {
    fn name(&self) -> &str {
        "RowSecurityExec"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self { input })),
            _ => Err(datafusion::error::DataFusionError::Internal(
                "RowSecurityExec has one child".into(),
            )),
        }
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    /// Unknown: the input's figures (row counts, min/max bounds, sizes)
    /// are the whole table's, hidden rows included, and would show above
    /// the barrier (`EXPLAIN VERBOSE`'s plan with statistics, the join
    /// sides the planner picks by them).
    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Statistics> {
        Ok(Statistics::new_unknown(&self.schema()))
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    /// Every parent filter stays above this node (the point of it), but
    /// the dynamic filters a hash join or a TopK derives at run time (from
    /// the visible rows it has seen) go on below, as filters of this
    /// node's own: they compare key columns with values and cannot fail,
    /// so running them on hidden rows reveals nothing, and they let the
    /// scan skip what no join or top-k needs.
    fn gather_filters_for_pushdown(
        &self,
        phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        let mut child = ChildFilterDescription::all_unsupported(&parent_filters);
        if phase == FilterPushdownPhase::Post {
            child = child.with_self_filters(
                parent_filters
                    .iter()
                    .filter(|f| f.as_any().is::<DynamicFilterPhysicalExpr>())
                    .cloned()
                    .collect(),
            );
        }
        Ok(FilterDescription::new().with_child(child))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// `plan` to execute without the barriers at its root: a barrier with
/// nothing above it guards nothing (no parent's predicate or projection
/// could run on a row its filter hides), and planning it physically is
/// work on every execution. Only for plans about to run: EXPLAIN's plans
/// keep their barriers (they say where the plan is not shown).
pub fn without_root_barrier(plan: LogicalPlan) -> LogicalPlan {
    match plan {
        LogicalPlan::Extension(ext) if ext.node.as_any().is::<RowSecurity>() => {
            match ext.node.inputs().first() {
                Some(input) => without_root_barrier((*input).clone()),
                None => LogicalPlan::Extension(ext),
            }
        }
        other => other,
    }
}

/// Plans [`RowSecurity`] as a [`RowSecurityExec`] over its input.
#[derive(Debug, Default)]
pub struct RowSecurityPlanner;

#[async_trait]
impl ExtensionPlanner for RowSecurityPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &SessionState,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if node.as_any().downcast_ref::<RowSecurity>().is_none() {
            return Ok(None);
        }
        Ok(physical_inputs.first().map(|input| {
            Arc::new(RowSecurityExec {
                input: Arc::clone(input),
            }) as Arc<dyn ExecutionPlan>
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn comparisons_are_leakproof_and_arithmetic_is_not() {
        use datafusion::arrow::datatypes::{Field, Schema};
        use datafusion::logical_expr::cast;
        let schema = DFSchema::try_from(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Int32, true),
            Field::new("salary", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]))
        .unwrap();
        let safe = |e: Expr| leakproof(&e, &schema);
        assert!(safe(col("a").eq(lit(5))));
        assert!(safe(col("a").gt(lit(5)).and(col("b").is_null())));
        assert!(safe(col("a").in_list(vec![lit(1), lit(2)], false)));
        assert!(safe(col("name").like(lit("A%"))));
        assert!(
            safe(cast(col("a"), DataType::Int64).eq(lit(5i64))),
            "a widening"
        );
        assert!(safe(cast(col("a"), DataType::Utf8).eq(lit("5"))));
        assert!(!safe((lit(1) / (col("salary") - lit(5000))).gt(lit(0))));
        assert!(!safe((col("a") + lit(1)).eq(lit(2))), "overflow raises");
        assert!(
            !safe(cast(col("name"), DataType::Int64).eq(lit(5))),
            "text may not parse"
        );
        assert!(
            !safe(cast(col("salary"), DataType::Int32).eq(lit(5))),
            "a narrowing"
        );
    }

    #[test]
    fn only_a_barrier_at_the_root_is_left_out_of_execution() {
        use datafusion::logical_expr::LogicalPlanBuilder;
        let values = LogicalPlanBuilder::values(vec![vec![lit(1)], vec![lit(2)]])
            .unwrap()
            .build()
            .unwrap();
        let hidden = LogicalPlanBuilder::from(values)
            .filter(col("column1").eq(lit(1)))
            .unwrap()
            .build()
            .unwrap();
        let barrier = RowSecurity::plan(hidden.clone(), "lake.s.t".into());
        assert_eq!(without_root_barrier(barrier.clone()), hidden);
        let above = LogicalPlanBuilder::from(barrier)
            .filter((lit(1) / col("column1")).gt(lit(0)))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            without_root_barrier(above.clone()),
            above,
            "a filter above it: kept"
        );
    }
}
