//! Enforcement: one rewrite of the logical plan, right after SQL planning
//! and before any optimisation, below every table reference.
//!
//! ```text
//!   Projection(name)                 Projection(name)
//!     Filter(...)            ─▶        Filter(...)
//!       TableScan(customer)              Projection(c_custkey, c_name, NULL AS c_phone, …)
//!                                          TableScan(customer)
//! ```
//!
//! For each `TableScan` (in subqueries, CTEs, joins, unions, DML inputs
//! and EXPLAIN alike):
//! - a table the user holds no privilege on at all fails as a missing one
//!   ([`PolicyError::Hidden`], `42P01`), so its existence does not leak;
//! - a visible table the user may read no column of fails with
//!   [`PolicyError::TableDenied`];
//! - columns the user may not read are replaced, right above the scan, by
//!   a NULL of their type, and *tainted*: any expression above that names
//!   one, or a tainted column reaching the result, fails with
//!   [`PolicyError::ColumnDenied`] (PostgreSQL's column privileges: a
//!   statement that mentions the column fails, `SELECT *` included). The
//!   NULL is defence in depth: even a path the taint walk missed carries
//!   no value.
//!
//! The walk follows columns by position through aliases and set
//! operations and by qualified name through everything else; subqueries
//! are walked with their outer references checked against the enclosing
//! node's inputs.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, ScalarValue};
use datafusion::logical_expr::expr_rewriter::normalize_col;
use datafusion::logical_expr::utils::{conjunction, disjunction};
use datafusion::logical_expr::{cast, lit, Expr, Filter, LogicalPlan, Projection, TableScan};
use weir_catalog::access::{Rule, RuleKind};

use crate::authorizer::{Action, Authorizer, Subject};
use crate::barrier::RowSecurity;
use crate::objects::object_name;
use crate::{PolicyError, Result};

/// Turns the SQL text of a row filter or mask into an expression over a
/// table's columns (the session's functions, `current_user` included).
pub trait ExprPlanner {
    /// Plan `sql` against `schema`.
    fn plan_expr(&self, sql: &str, schema: &DFSchema) -> datafusion::error::Result<Expr>;
}

/// Enforce `subject`'s privileges, row filters and masks on `plan`. Table
/// names resolve against the session's default catalog and schema, as the
/// planner resolved them.
pub(crate) fn enforce(
    plan: LogicalPlan,
    auth: &Authorizer,
    subject: &Subject,
    default_catalog: &str,
    default_schema: &str,
    planner: &dyn ExprPlanner,
) -> Result<LogicalPlan> {
    if auth.is_superuser(subject) {
        return Ok(plan);
    }
    let mut walk = Walk {
        auth,
        subject,
        roles: auth.effective_roles(subject),
        catalog: default_catalog,
        schema: default_schema,
        planner,
        outer: Vec::new(),
    };
    let (plan, taint) = walk.visit(plan)?;
    if let Some(denied) = taint.into_iter().next() {
        return Err(denied.error());
    }
    Ok(plan.data)
}

/// A column the user may not read, as it travels up the plan.
#[derive(Debug, Clone)]
struct Denied {
    /// Position in the node's output.
    index: usize,
    table: String,
    column: String,
}

impl Denied {
    fn error(&self) -> PolicyError {
        PolicyError::ColumnDenied {
            table: self.table.clone(),
            column: self.column.clone(),
        }
    }
}

type Taint = Vec<Denied>;

struct Walk<'a> {
    auth: &'a Authorizer,
    subject: &'a Subject,
    /// The subject's roles, nearest first (which mask wins).
    roles: Vec<String>,
    catalog: &'a str,
    schema: &'a str,
    planner: &'a dyn ExprPlanner,
    /// Outer references met in the subqueries being walked, innermost last.
    outer: Vec<Vec<Column>>,
}

impl<'a> Walk<'a> {
    fn visit(&mut self, plan: LogicalPlan) -> Result<(Transformed<LogicalPlan>, Taint)> {
        if let LogicalPlan::TableScan(scan) = plan {
            return self.guard(scan);
        }
        let mut child_taints: Vec<(DFSchemaRef, Taint)> = Vec::new();
        let mut node = plan
            .map_children(|child| {
                let (child, taint) = self
                    .visit(child)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                child_taints.push((Arc::clone(child.data.schema()), taint));
                Ok(child)
            })
            .map_err(unwrap_policy)?;
        if node.transformed {
            node = node.transform_data(|p| p.recompute_schema().map(Transformed::yes))?;
        }
        // Columns of this node's inputs that carry no value the user may see.
        let tainted: Vec<(Column, &Denied)> = child_taints
            .iter()
            .flat_map(|(schema, taint)| {
                taint
                    .iter()
                    .map(move |d| (Column::from(schema.qualified_field(d.index)), d))
            })
            .collect();

        // Subqueries in this node's expressions: walked with a frame that
        // collects their references to this node's inputs.
        self.outer.push(Vec::new());
        let walked = node.transform_data(|p| {
            p.map_subqueries(|sub| {
                let (sub, taint) = self
                    .visit(sub)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                if let Some(denied) = taint.first() {
                    return Err(datafusion::error::DataFusionError::External(Box::new(
                        denied.error(),
                    )));
                }
                Ok(sub)
            })
        });
        let outer_refs = self.outer.pop().unwrap_or_default();
        let node = walked.map_err(unwrap_policy)?;
        for column in &outer_refs {
            if let Some((_, d)) = tainted.iter().find(|(c, _)| c == column) {
                return Err(d.error());
            }
        }

        let plan = &node.data;
        let mut refused = None;
        plan.apply_expressions(|expr| {
            Ok(match self.check(expr, &tainted) {
                Ok(()) => TreeNodeRecursion::Continue,
                Err(e) => {
                    refused = Some(e);
                    TreeNodeRecursion::Stop
                }
            })
        })?;
        if let Some(e) = refused {
            return Err(e);
        }
        let taint = output_taint(plan, &child_taints, &tainted);
        Ok((node, taint))
    }

    /// Fail if `expr` names a tainted column; note its outer references.
    fn check(&mut self, expr: &Expr, tainted: &[(Column, &Denied)]) -> Result<()> {
        if !tainted.is_empty() {
            for column in expr.column_refs() {
                if let Some((_, d)) = tainted.iter().find(|(c, _)| c == column) {
                    return Err(d.error());
                }
            }
        }
        let mut outer = Vec::new();
        expr.apply(|e| {
            if let Expr::OuterReferenceColumn(_, column) = e {
                outer.push(column.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if let Some(frame) = self.outer.last_mut() {
            frame.extend(outer);
        }
        Ok(())
    }

    /// One table reference: hide it, refuse it, or null its denied columns.
    fn guard(&mut self, scan: TableScan) -> Result<(Transformed<LogicalPlan>, Taint)> {
        let resolved = scan.table_name.clone().resolve(self.catalog, self.schema);
        if crate::objects::is_system_schema(&resolved.schema) {
            return Ok((Transformed::no(LogicalPlan::TableScan(scan)), Vec::new()));
        }
        // `orders@<snapshot>` (time travel) is orders as of then: orders'
        // rules apply. `orders$snapshots` and the other metadata tables
        // describe orders' files (column bounds included).
        let name = resolved.table.as_ref();
        let table_name = weir_catalog::names::TableName::parse(name);
        let base = table_name.base();
        let metadata = matches!(table_name, weir_catalog::names::TableName::Metadata { .. });
        let table_parts = [resolved.catalog.as_ref(), resolved.schema.as_ref(), base];
        let object = object_name(&table_parts);
        let shown = format!("{}.{}.{}", table_parts[0], table_parts[1], name);
        if metadata {
            return self.guard_metadata(scan, &object, &shown, name);
        }
        let schema = Arc::clone(&scan.projected_schema);
        let column_objects: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| {
                object_name(&[
                    table_parts[0],
                    table_parts[1],
                    table_parts[2],
                    f.name().as_str(),
                ])
            })
            .collect();
        let allowed: Vec<bool> = column_objects
            .iter()
            .map(|o| self.auth.decide(self.subject, o, Action::Select).allowed())
            .collect();
        let table_select = self
            .auth
            .decide(self.subject, &object, Action::Select)
            .allowed();
        if !table_select && !allowed.iter().any(|a| *a) {
            if self.auth.sees(self.subject, &object, &column_objects) {
                return Err(PolicyError::TableDenied(resolved.table.to_string()));
            }
            return Err(PolicyError::Hidden(shown));
        }
        // A mask or deny on a column the table no longer has (a rename
        // whose rule change did not land): closed, never unmasked.
        let source = scan.source.schema();
        if let Some(rule) = self
            .auth
            .orphaned_column_rule(&self.roles, &object, |c| source.field_with_name(c).is_ok())
        {
            return Err(PolicyError::Broken {
                what: format!("the rules on {}", rule.object),
                message: format!(
                    "table {} has no such column (renamed or dropped without its rules); \
                     ask its owner to move or drop them",
                    resolved.table
                ),
            });
        }
        // A table's owner is not subject to its row policies (PostgreSQL's
        // rule without FORCE ROW LEVEL SECURITY); masks still apply.
        let filters: Vec<&Rule> = if self.auth.owns(self.subject, &object) {
            Vec::new()
        } else {
            self.auth.rules_on(&object, RuleKind::RowFilter).collect()
        };
        let masks: Vec<Option<&Rule>> = column_objects
            .iter()
            .zip(&allowed)
            .map(|(o, ok)| if *ok { self.mask(o) } else { None })
            .collect();
        if allowed.iter().all(|a| *a) && filters.is_empty() && masks.iter().all(Option::is_none) {
            return Ok((Transformed::no(LogicalPlan::TableScan(scan)), Vec::new()));
        }
        let mut input = LogicalPlan::TableScan(scan);
        if !filters.is_empty() {
            let predicate = self.row_filter(&filters, &input, &shown)?;
            input = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?);
        }
        let mut taint = Vec::new();
        if !allowed.iter().all(|a| *a) || masks.iter().any(Option::is_some) {
            let mut exprs = Vec::with_capacity(allowed.len());
            for (index, (((qualifier, field), ok), mask)) in
                schema.iter().zip(&allowed).zip(&masks).enumerate()
            {
                let column = Column::new(qualifier.cloned(), field.name());
                if let Some(mask) = mask {
                    let masked = self
                        .plan_rule(mask, &input, &shown)
                        .map(|e| cast(e, field.data_type().clone()))?;
                    exprs.push(masked.alias_qualified(qualifier.cloned(), field.name()));
                } else if *ok {
                    exprs.push(Expr::Column(column));
                } else {
                    let null = ScalarValue::try_from(field.data_type())?;
                    exprs.push(
                        Expr::Literal(null, None).alias_qualified(qualifier.cloned(), field.name()),
                    );
                    taint.push(Denied {
                        index,
                        table: resolved.table.to_string(),
                        column: field.name().clone(),
                    });
                }
            }
            input = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input))?);
        }
        if !filters.is_empty() {
            input = RowSecurity::plan(input, shown);
        }
        Ok((Transformed::yes(input), taint))
    }

    /// A metadata table (`t$snapshots`, `t$files`…) shows what `t` holds,
    /// column bounds included: it is readable by whoever may read all of
    /// `t` as it is (a table-wide grant, and no deny, filter or mask of
    /// theirs on it).
    fn guard_metadata(
        &self,
        scan: TableScan,
        object: &str,
        shown: &str,
        name: &str,
    ) -> Result<(Transformed<LogicalPlan>, Taint)> {
        if !self
            .auth
            .decide(self.subject, object, Action::Select)
            .allowed()
        {
            if self.auth.sees(self.subject, object, &[]) {
                return Err(PolicyError::TableDenied(name.to_owned()));
            }
            return Err(PolicyError::Hidden(shown.to_owned()));
        }
        if !self.auth.reads_whole(self.subject, object) {
            return Err(PolicyError::TableDenied(name.to_owned()));
        }
        Ok((Transformed::no(LogicalPlan::TableScan(scan)), Vec::new()))
    }

    /// The mask on `column` of the nearest of the subject's roles.
    fn mask(&self, column: &str) -> Option<&'a Rule> {
        let auth = self.auth;
        self.roles.iter().find_map(|role| {
            auth.rules_on(column, RuleKind::Mask)
                .find(|r| r.subject == *role)
        })
    }

    /// PostgreSQL's combination: the permissive policies that apply OR-ed,
    /// AND the restrictive ones; with no permissive policy, no row.
    fn row_filter(&self, filters: &[&Rule], input: &LogicalPlan, table: &str) -> Result<Expr> {
        let mut permissive = Vec::new();
        let mut restrictive = Vec::new();
        for rule in filters.iter().filter(|r| self.roles.contains(&r.subject)) {
            let expr = self.plan_rule(rule, input, table)?;
            if rule.action == "restrictive" {
                restrictive.push(expr);
            } else {
                permissive.push(expr);
            }
        }
        Ok(match disjunction(permissive) {
            None => lit(false),
            Some(p) => conjunction(std::iter::once(p).chain(restrictive)).unwrap_or(lit(false)),
        })
    }

    /// A stored expression planned over `input`'s columns; one that no
    /// longer plans (a column dropped since) fails the statement: a filter
    /// or mask is never skipped.
    fn plan_rule(&self, rule: &Rule, input: &LogicalPlan, table: &str) -> Result<Expr> {
        let what = match rule.kind {
            RuleKind::Mask => format!("the mask on {}", rule.object),
            _ => format!("row policy \"{}\" on {table}", rule.name),
        };
        let expr = self
            .planner
            .plan_expr(&rule.expression, input.schema())
            .and_then(|e| normalize_col(e, input))
            .map_err(|e| PolicyError::Broken {
                what: what.clone(),
                message: e.to_string(),
            })?;
        Ok(expr)
    }
}

/// Which of `plan`'s output columns carry a denied column unchanged.
fn output_taint(
    plan: &LogicalPlan,
    child_taints: &[(DFSchemaRef, Taint)],
    tainted: &[(Column, &Denied)],
) -> Taint {
    if tainted.is_empty() {
        return Vec::new();
    }
    match plan {
        // Positional: the alias renames, a set operation lines columns up.
        LogicalPlan::SubqueryAlias(_) | LogicalPlan::Union(_) => {
            let mut seen = HashSet::new();
            child_taints
                .iter()
                .flat_map(|(_, t)| t.iter())
                .filter(|d| seen.insert(d.index))
                .cloned()
                .collect()
        }
        _ => plan
            .schema()
            .columns()
            .into_iter()
            .enumerate()
            .filter_map(|(index, column)| {
                tainted
                    .iter()
                    .find(|(c, _)| *c == column)
                    .map(|(_, d)| Denied {
                        index,
                        table: d.table.clone(),
                        column: d.column.clone(),
                    })
            })
            .collect(),
    }
}

/// Policy errors cross DataFusion's tree-walk closures wrapped: unwrap.
fn unwrap_policy(e: datafusion::error::DataFusionError) -> PolicyError {
    match e {
        datafusion::error::DataFusionError::External(inner) => {
            match inner.downcast::<PolicyError>() {
                Ok(p) => *p,
                Err(other) => {
                    PolicyError::DataFusion(datafusion::error::DataFusionError::External(other))
                }
            }
        }
        other => PolicyError::DataFusion(other),
    }
}
