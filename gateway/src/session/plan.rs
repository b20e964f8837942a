//! Planning: the one door from a statement to a DataFusion logical plan.
//!
//! Every statement the gateway plans, queries, DDL and the type probes of
//! `ALTER TABLE` alike, goes through [`Session::plan_statement`]: it is the
//! only caller of `statement_to_plan` in the gateway (clippy's
//! `disallowed-methods` in `clippy.toml` enforces it), so a check that must
//! see every plan (policies, audit) has one place to stand.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;

use super::param_types::{self, Param};
use super::{plan_cache, Body, Session};
use crate::error::{Result, WeirError};
use crate::statements::colnames;
use crate::statements::explain;

impl Session {
    /// Plan one statement, as of the statement's start (what `now()` returns),
    /// its parameters typed as PostgreSQL types them (`declared`: the
    /// client's OIDs, 0 = infer; see [`param_types`]). Then the statement's
    /// gate rewrites it (hidden tables, denied columns, row filters, masks;
    /// see [`weir_policies::Gate::enforce`]) before anything optimizes it.
    pub(super) async fn plan_statement(
        &mut self,
        stmt: DfStatement,
        declared: &[u32],
    ) -> Result<LogicalPlan> {
        let gate = self.gate();
        gate.check_confirmed()?;
        let state = &self.statement_state().state;
        #[allow(clippy::disallowed_methods)] // the one planning door
        let plan = state.statement_to_plan(stmt).await?;
        let plan = param_types::infer(plan, declared)?;
        let catalog = &state.config_options().catalog;
        let plan = gate.enforce(
            plan,
            &catalog.default_catalog,
            &catalog.default_schema,
            &PolicyExprs(state),
        )?;
        if gate.restricted() {
            self.may_read_files(&plan, &gate).await?;
        }
        Ok(plan)
    }

    /// The files of each external table `plan` reads, checked again (see
    /// [`weir_policies::Gate::may_scan`]): a table created inside or
    /// around an external table's folder since its registration is not
    /// read through it by anyone who may not read that table whole.
    async fn may_read_files(
        &mut self,
        plan: &LogicalPlan,
        gate: &weir_policies::Gate,
    ) -> Result<()> {
        use datafusion::common::tree_node::TreeNodeRecursion;
        let (catalog, schema) = {
            let c = &self.statement_state().state.config_options().catalog;
            (c.default_catalog.clone(), c.default_schema.clone())
        };
        let mut external: Vec<(String, String)> = Vec::new();
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                let files = datafusion::datasource::source_as_provider(&scan.source)
                    .ok()
                    .and_then(|p| weir_connectors::lake::external::files_of(p.as_ref()));
                if let Some(files) = files {
                    let r = scan.table_name.clone().resolve(&catalog, &schema);
                    let object = weir_policies::objects::object_name(&[
                        r.catalog.as_ref(),
                        r.schema.as_ref(),
                        r.table.as_ref(),
                    ]);
                    external.push((object, files));
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if external.is_empty() {
            return Ok(());
        }
        let lake = self.engine.lake().clone();
        let tables = self.lake_table_files().await?;
        for (object, files) in external {
            let path = lake.location().inside(&files);
            gate.may_scan(&object, path.as_deref(), &tables)?;
        }
        Ok(())
    }

    /// Plan a query (or EXPLAIN): body, result columns, parameters.
    pub(super) async fn plan_query(
        &mut self,
        mut stmt: Box<Statement>,
        declared: &[u32],
    ) -> Result<(Body, Option<SchemaRef>, Vec<Option<Param>>)> {
        let described = match stmt.as_ref() {
            Statement::ExplainTable { table_name, .. } => self.check_describe(table_name)?,
            _ => None,
        };
        let shown_names = colnames::assign(&mut stmt);
        let text_casts = param_types::text_casts(&stmt);
        param_types::type_concatenated_parameters(&mut stmt);
        crate::engine::casts::rewrite_casts(&mut stmt);
        let explain_verbose = match stmt.as_ref() {
            Statement::Explain { verbose, .. } => Some(*verbose),
            _ => None,
        };
        let mut plan = self
            .plan_statement(DfStatement::Statement(stmt), declared)
            .await?;
        if let (Some(table), LogicalPlan::DescribeTable(describe)) = (described, &plan) {
            plan = self.describe_listed(&table, describe);
        }
        let mut targets: Vec<Option<Param>> = Vec::new();
        for (name, field) in plan.get_parameter_fields()? {
            let idx = name
                .trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .filter(|i| *i >= 1);
            let Some(idx) = idx else {
                return Err(WeirError::Syntax {
                    message: format!("invalid parameter name {name}"),
                    position: None,
                });
            };
            if idx > 65535 {
                return Err(WeirError::Protocol(format!(
                    "parameter ${idx} is out of range"
                )));
            }
            if targets.len() < idx {
                targets.resize(idx, None);
            }
            targets[idx - 1] = field.map(|f| Param {
                oid: param_types::announced_oid(&f, text_casts.get(&idx).copied()),
                target: f.data_type().clone(),
            });
        }
        let mut arrow_schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        if let Some(names) = shown_names.filter(|n| n.len() == arrow_schema.fields().len()) {
            let fields: Vec<_> = arrow_schema
                .fields()
                .iter()
                .zip(names)
                .map(|(f, n)| match n {
                    Some(n) => Arc::new(f.as_ref().clone().with_name(n)),
                    None => f.clone(),
                })
                .collect();
            arrow_schema = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
                fields,
                arrow_schema.metadata().clone(),
            ));
        }
        let schema = if explain_verbose.is_some() || explain::is_explain_output(&arrow_schema) {
            Some(explain::schema())
        } else {
            Some(arrow_schema)
        };
        let constant =
            (explain_verbose.is_none() && targets.is_empty() && plan_cache::is_constant(&plan))
                .then(plan_cache::Cached::default);
        let optimized = (constant.is_none()
            && explain_verbose.is_none()
            && targets.iter().all(Option::is_some)
            && plan_cache::is_reusable(&plan))
        .then(plan_cache::Optimized::default);
        let reads_tables = reads_tables(&plan);
        Ok((
            Body::Plan {
                plan: Box::new(plan),
                explain_verbose,
                constant,
                optimized,
                reads_tables,
            },
            schema,
            targets,
        ))
    }
}

impl Session {
    /// `DESCRIBE t` plans no scan of `t`: a table the user may not see at
    /// all is missing here too. Returns the table's parts, resolved.
    fn check_describe(
        &mut self,
        name: &datafusion::sql::sqlparser::ast::ObjectName,
    ) -> Result<Option<[String; 3]>> {
        let gate = self.gate();
        if !gate.restricted() {
            return Ok(None);
        }
        let reference =
            datafusion::common::TableReference::from(crate::statements::object_name(name).as_str());
        let catalog = &self.statement_state().state.config_options().catalog;
        let resolved = reference.resolve(&catalog.default_catalog, &catalog.default_schema);
        let parts = [
            resolved.catalog.as_ref(),
            resolved.schema.as_ref(),
            resolved.table.as_ref(),
        ];
        gate.describe(parts)?;
        if weir_policies::objects::is_system_schema(parts[1]) {
            return Ok(None);
        }
        Ok(Some(parts.map(str::to_owned)))
    }

    /// `DESCRIBE t` lists the columns the catalogs list to the user: those
    /// they hold some privilege on.
    fn describe_listed(
        &self,
        table: &[String; 3],
        describe: &datafusion::logical_expr::DescribeTable,
    ) -> LogicalPlan {
        let gate = self.gate();
        let table = [table[0].as_str(), table[1].as_str(), table[2].as_str()];
        let fields: Vec<_> = describe
            .schema
            .fields()
            .iter()
            .filter(|f| gate.lists_column(table, f.name()))
            .cloned()
            .collect();
        LogicalPlan::DescribeTable(datafusion::logical_expr::DescribeTable {
            schema: Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
                fields,
                describe.schema.metadata().clone(),
            )),
            output_schema: Arc::clone(&describe.output_schema),
        })
    }
}

/// Row filters and masks are planned with the session's functions.
struct PolicyExprs<'a>(&'a datafusion::execution::session_state::SessionState);

impl weir_policies::rewrite::ExprPlanner for PolicyExprs<'_> {
    fn plan_expr(
        &self,
        sql: &str,
        schema: &datafusion::common::DFSchema,
    ) -> datafusion::error::Result<datafusion::logical_expr::Expr> {
        self.0.create_logical_expr(sql, schema)
    }
}

/// Whether a plan reads tables other than the catalogs' own
/// (`pg_catalog`, `information_schema`), subqueries included.
fn reads_tables(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut reads = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if !scan
                .table_name
                .schema()
                .is_some_and(weir_policies::objects::is_system_schema)
            {
                reads = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    reads
}
