//! What a session keeps between executions of a statement.
//!
//! - Constant statements: queries whose result depends on nothing but their
//!   text and the session's settings, such as `SELECT 1` (the validation
//!   query of connection pools), `SELECT version()` or `VALUES (1, 'a')`.
//!   Their first execution runs through DataFusion like any query; the
//!   result is kept with the prepared statement (and, for the simple
//!   protocol, in the session's small cache keyed by SQL text) and replayed.
//!   Only plans made of projections and VALUES over no table, calling only
//!   immutable functions, qualify: `now()`, `random()`, table functions,
//!   subqueries and parameters all disqualify a statement.
//! - Reusable queries: any other query calling only immutable functions
//!   keeps its optimized logical plan; each execution binds its parameters
//!   into it and plans it physically. (Not queries with parameters on a
//!   remote source: bound first, their conditions reach the source.)
//!
//! Both are kept per generation of session settings and recomputed after a
//! `SET` changes them.

use std::sync::Mutex;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};

/// Largest result kept, in rows.
pub const MAX_ROWS: usize = 1000;
/// Simple-protocol statements remembered per session.
pub const MAX_CACHED_STATEMENTS: usize = 64;

/// A value computed under one generation of session settings, shared by
/// every execution of a prepared statement until the settings change.
#[derive(Debug)]
pub struct PerGeneration<T>(Mutex<Option<(u64, T)>>);

impl<T> Default for PerGeneration<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T: Clone> PerGeneration<T> {
    /// The value kept for settings `generation`, if any.
    pub fn get(&self, generation: u64) -> Option<T> {
        let slot = self.0.lock().ok()?;
        match slot.as_ref() {
            Some((g, value)) if *g == generation => Some(value.clone()),
            _ => None,
        }
    }

    /// Keep `value` for settings `generation`.
    pub fn put(&self, generation: u64, value: T) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((generation, value));
        }
    }
}

/// The result of a constant statement.
pub type Cached = PerGeneration<(SchemaRef, Vec<RecordBatch>)>;

/// The optimized plan of a reusable query.
pub type Optimized = PerGeneration<Box<LogicalPlan>>;

/// Whether `plan` (as planned, before optimization) is a constant statement.
pub fn is_constant(plan: &LogicalPlan) -> bool {
    let mut constant = true;
    let _ = plan.apply(|node| {
        let allowed = matches!(
            node,
            LogicalPlan::Projection(_)
                | LogicalPlan::EmptyRelation(_)
                | LogicalPlan::Values(_)
                | LogicalPlan::SubqueryAlias(_)
        );
        if !allowed || !node.expressions().iter().all(constant_expr) {
            constant = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    constant
}

fn constant_expr(expr: &Expr) -> bool {
    let mut constant = true;
    let _ = expr.apply(|e| {
        let ok = match e {
            Expr::ScalarFunction(f) => f.func.signature().volatility == Volatility::Immutable,
            Expr::Literal(..)
            | Expr::Alias(_)
            | Expr::BinaryExpr(_)
            | Expr::Cast(_)
            | Expr::TryCast(_)
            | Expr::Not(_)
            | Expr::Negative(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::Between(_)
            | Expr::Case(_)
            | Expr::Like(_)
            | Expr::SimilarTo(_)
            | Expr::InList(_)
            | Expr::Column(_) => true,
            _ => false,
        };
        if ok {
            Ok(TreeNodeRecursion::Continue)
        } else {
            constant = false;
            Ok(TreeNodeRecursion::Stop)
        }
    });
    constant
}

/// Whether a query's optimized plan may be reused by later executions: it
/// reads tables but calls only immutable functions, so optimizing it folded
/// nothing that changes between executions (`now()` and `random()` do), and
/// it is a query, not a command. A query with parameters that reads a
/// remote source is not: its parameters are bound before it is optimized,
/// so the conditions using them are sent to the source (a placeholder
/// cannot be, and the source would send every row).
pub fn is_reusable(plan: &LogicalPlan) -> bool {
    let has_parameters = plan
        .get_parameter_types()
        .map_or(true, |types| !types.is_empty());
    if has_parameters && weir_connectors::remote::reads_remote(plan) {
        return false;
    }
    let mut reusable = true;
    let _ = plan.apply_with_subqueries(|node| {
        let command = matches!(
            node,
            LogicalPlan::Ddl(_)
                | LogicalPlan::Dml(_)
                | LogicalPlan::Copy(_)
                | LogicalPlan::Statement(_)
                | LogicalPlan::Explain(_)
                | LogicalPlan::Analyze(_)
                | LogicalPlan::DescribeTable(_)
        ) || matches!(node, LogicalPlan::Extension(ext)
                // A row-security barrier is a plain filter and projection
                // to reuse; the plan is made again when the rules change.
                if ext.node.as_any().downcast_ref::<weir_policies::barrier::RowSecurity>().is_none());
        if command || !node.expressions().iter().all(immutable_expr) {
            reusable = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    reusable
}

fn immutable_expr(expr: &Expr) -> bool {
    let mut immutable = true;
    let _ = expr.apply(|e| {
        let ok = match e {
            Expr::ScalarFunction(f) => f.func.signature().volatility == Volatility::Immutable,
            Expr::ScalarVariable(..) => false,
            _ => true,
        };
        if ok {
            Ok(TreeNodeRecursion::Continue)
        } else {
            immutable = false;
            Ok(TreeNodeRecursion::Stop)
        }
    });
    immutable
}
