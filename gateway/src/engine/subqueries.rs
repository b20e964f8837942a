//! A scalar subquery answers one row, or fails with `21000` as in
//! PostgreSQL ("more than one row returned by a subquery used as an
//! expression").
//!
//! DataFusion turns an uncorrelated scalar subquery into a join with its
//! rows, so one that returns several rows answered once per row:
//! `WHERE k = (SELECT k FROM t)` matched every `k`, and
//! `SELECT (SELECT name FROM t)` returned a row per name. [`OneRow`], an
//! analyzer rule, wraps each uncorrelated scalar subquery that may return
//! more than one row (DataFusion's `max_rows` cannot tell) in an aggregate
//! that counts its rows and keeps the first, under a check that fails when
//! there was more than one. An aggregate returns one row, so the join
//! DataFusion builds stays a join with one row. A correlated subquery
//! DataFusion checks itself: it must be aggregated.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::functions_aggregate::expr_fn::{count, first_value};
use datafusion::logical_expr::{
    lit, ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Subquery, Volatility,
};
use datafusion::optimizer::analyzer::AnalyzerRule;

use crate::error::WeirError;

/// The analyzer rule (see the module docs).
#[derive(Debug, Default)]
pub struct OneRow;

impl AnalyzerRule for OneRow {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|e| {
                e.transform_up(|e| match e {
                    Expr::ScalarSubquery(sq)
                        if sq.outer_ref_columns.is_empty()
                            && sq.subquery.max_rows().is_none_or(|n| n > 1) =>
                    {
                        Ok(Transformed::yes(Expr::ScalarSubquery(one_row(sq)?)))
                    }
                    e => Ok(Transformed::no(e)),
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "weir_scalar_subquery_one_row"
    }
}

const ROWS: &str = "__weir_rows";
const VALUE: &str = "__weir_value";

/// `(SELECT c FROM …)` as `(SELECT one_row(count(1), first_value(c)) AS c FROM …)`.
fn one_row(sq: Subquery) -> Result<Subquery> {
    let input = Arc::unwrap_or_clone(sq.subquery);
    let (qualifier, field) = input.schema().qualified_field(0);
    let name = field.name().clone();
    let value = Expr::Column(Column::new(qualifier.cloned(), &name));
    let plan = LogicalPlanBuilder::from(input)
        .aggregate(
            Vec::<Expr>::new(),
            vec![
                count(lit(1)).alias(ROWS),
                first_value(value, vec![]).alias(VALUE),
            ],
        )?
        .project(vec![ScalarUDF::new_from_impl(CheckOneRow::default())
            .call(vec![
                Expr::Column(Column::from_name(ROWS)),
                Expr::Column(Column::from_name(VALUE)),
            ])
            .alias(name)])?
        .build()?;
    Ok(Subquery {
        subquery: Arc::new(plan),
        outer_ref_columns: sq.outer_ref_columns,
        spans: sq.spans,
    })
}

/// `check_one_row(rows, value)`: `value`, or `21000` when `rows` > 1.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckOneRow {
    signature: Signature,
}

impl Default for CheckOneRow {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CheckOneRow {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "__weir_check_one_row"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.get(1).cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [rows, value] = <[ColumnarValue; 2]>::try_from(args.args)
            .map_err(|_| DataFusionError::Internal("check_one_row takes two arguments".into()))?;
        let more_than_one = match &rows {
            ColumnarValue::Scalar(ScalarValue::Int64(n)) => n.is_some_and(|n| n > 1),
            ColumnarValue::Array(a) => a
                .as_primitive_opt::<Int64Type>()
                .is_some_and(|a| a.iter().flatten().any(|n| n > 1)),
            ColumnarValue::Scalar(_) => false,
        };
        if more_than_one {
            return Err(DataFusionError::External(Box::new(
                WeirError::CardinalityViolation,
            )));
        }
        Ok(value)
    }
}
