//! Carrying out lakehouse changes: the DDL and INSERT plans DataFusion's
//! planner produced, applied to the Iceberg catalog rather than to
//! DataFusion's in-memory tables.
//!
//! | Statement | Effect | Tag |
//! |---|---|---|
//! | `CREATE SCHEMA [IF NOT EXISTS] s` | Iceberg namespace | `CREATE SCHEMA` |
//! | `DROP SCHEMA [IF EXISTS] s [CASCADE]` | namespace (and with CASCADE its tables) | `DROP SCHEMA` |
//! | `CREATE TABLE t (cols) [PARTITIONED BY (...)]` | empty Iceberg table | `CREATE TABLE` |
//! | `CREATE TABLE t [PARTITIONED BY (...)] AS query` | Iceberg table, published with its data | `SELECT n` |
//! | `INSERT INTO t query` | one append commit | `INSERT 0 n` |
//! | `DROP TABLE [IF EXISTS] t` | catalog entry and the table's files | `DROP TABLE` |
//! | `CREATE EXTERNAL TABLE t [(cols)] STORED AS f LOCATION l [PARTITIONED BY (c)] [OPTIONS (...)]` | registration over raw files | `CREATE EXTERNAL TABLE` |

use std::sync::Arc;

use datafusion::common::{SchemaReference, TableReference};
use datafusion::logical_expr::{
    cast, col, DdlStatement, DmlStatement, LogicalPlan, LogicalPlanBuilder, WriteOp,
};
use datafusion::sql::parser::Statement as DfStatement;
use weir_connectors::lake::ddl::{self, ColumnChange, NewTable, PartitionField, Rows};

use weir_policies::objects::object_name;
use weir_policies::Action;

use super::{Body, Session};
use crate::engine::LAKE;
use crate::error::{Result, WeirError};

impl Session {
    /// Whether the session may do `action` on the object `parts` names: a
    /// table it cannot see at all answers as a missing one.
    fn authorize<S: AsRef<str>>(&self, action: Action, parts: &[S]) -> Result<()> {
        Ok(self.gate().authorize(action, parts)?)
    }

    /// Whether the session may register files at `location` (canonical;
    /// `written` as the statement spelt it) as a table of its own (see
    /// [`weir_policies::storage`]), decided before anything looks at the
    /// path, so a refusal says nothing of what is there.
    async fn may_register(&mut self, written: &str, location: &str) -> Result<()> {
        let gate = self.gate();
        if !gate.restricted() {
            return Ok(());
        }
        let tables = self.lake_table_files().await?;
        let path = self.engine.lake().location().inside(location);
        gate.may_register(written, path.as_deref(), &tables)?;
        Ok(())
    }

    /// Every table of the lake and where its files are, and the reserved
    /// paths inside it.
    pub(super) async fn lake_table_files(
        &mut self,
    ) -> Result<Vec<weir_policies::storage::TableFiles>> {
        let lake = self.engine.lake().clone();
        Ok(lake
            .table_locations()
            .await?
            .into_iter()
            .map(|(schema, table, uri)| weir_policies::storage::TableFiles {
                object: object_name(&[LAKE, &schema, &table]),
                path: lake.location().inside(&uri),
            })
            .chain(
                self.engine
                    .reserved()
                    .iter()
                    .cloned()
                    .map(weir_policies::storage::TableFiles::reserved),
            )
            .collect())
    }

    /// The creator of a new table or schema owns it: every privilege on
    /// it, with the right to grant them (superusers need none). It starts
    /// with that rule only: none left on its name by an earlier object.
    async fn take_ownership<S: AsRef<str>>(&mut self, parts: &[S]) -> Result<()> {
        let policies = Arc::clone(self.engine.policies());
        let object = object_name(parts);
        let owner = self.gate().owner_rule(&object);
        policies.store().adopt(&object, owner.as_ref()).await?;
        policies.refresh().await?;
        Ok(())
    }

    /// Whether the object `parts` names is one the session may not see at
    /// all (no privilege on it or on anything in it): every statement
    /// answers for it exactly as for a missing one.
    fn hidden<S: AsRef<str>>(&self, parts: &[S]) -> bool {
        !self.gate().lists(parts)
    }

    /// Whether lake schema `schema`, and with `table` (its name, `what` the
    /// statement calls it — `table` for DROP, `relation` for ALTER — and
    /// how the statement spelt it) that table of it, exist for this
    /// session. If not: PostgreSQL's error for a statement naming it, or
    /// with `IF EXISTS` its notice and `false`. A hidden schema or table
    /// answers exactly as a missing one.
    async fn exists_for_change(
        &mut self,
        schema: &str,
        table: Option<(&str, &str, &str)>,
        if_exists: bool,
    ) -> Result<bool> {
        let lake = self.engine.lake().clone();
        let (message, error) = if !lake.schema_exists(schema).await? || self.hidden(&[LAKE, schema])
        {
            let error = weir_catalog::CatalogError::NoSuchSchema(schema.to_owned());
            (error.to_string(), WeirError::from(error))
        } else if let Some((name, what, written)) = table {
            if lake.table_exists(schema, name).await? && !self.hidden(&[LAKE, schema, name]) {
                return Ok(true);
            }
            let message = format!("{what} \"{written}\" does not exist");
            (message.clone(), WeirError::UndefinedTable(message))
        } else {
            return Ok(true);
        };
        if !if_exists {
            return Err(error);
        }
        self.events.notices.push((
            "NOTICE",
            crate::error::SqlState::SUCCESSFUL_COMPLETION,
            format!("{message}, skipping"),
        ));
        Ok(false)
    }

    /// A dropped object's rules go with it.
    async fn forget<S: AsRef<str>>(&mut self, parts: &[S]) -> Result<()> {
        let policies = Arc::clone(self.engine.policies());
        policies.store().forget_object(&object_name(parts)).await?;
        policies.refresh().await?;
        Ok(())
    }
}

/// Whether a planned statement changes the lakehouse.
pub(super) fn is_write(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_))
}

impl Session {
    /// The body of a write statement, checked for what Weir can carry out.
    pub(super) fn write_body(
        &self,
        plan: LogicalPlan,
        partitions: Vec<PartitionField>,
    ) -> Result<Body> {
        match &plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(_)) => {}
            LogicalPlan::Ddl(_) if !partitions.is_empty() => {
                return Err(WeirError::NotSupported(
                    "PARTITIONED BY (transforms) belongs to CREATE TABLE".into(),
                ))
            }
            LogicalPlan::Ddl(
                DdlStatement::CreateCatalogSchema(_)
                | DdlStatement::DropCatalogSchema(_)
                | DdlStatement::DropTable(_)
                | DdlStatement::CreateExternalTable(_),
            ) => {}
            LogicalPlan::Dml(DmlStatement {
                op: WriteOp::Insert(_),
                ..
            }) => {}
            LogicalPlan::Ddl(other) => {
                return Err(WeirError::NotSupported(format!(
                    "{} is not supported",
                    other.name()
                )))
            }
            LogicalPlan::Dml(d) => {
                return Err(WeirError::NotSupported(format!(
                    "{} is not supported: lake tables are append-only",
                    d.op
                )))
            }
            _ => return Err(WeirError::Internal("not a write".into())),
        }
        Ok(Body::Write {
            plan: Box::new(plan),
            partitions,
        })
    }

    /// `schema.table` of a table reference, which must be in the lake.
    fn lake_table(&self, name: &TableReference) -> Result<(String, String)> {
        let (catalog, schema) = {
            let options = self.ctx.state_ref();
            let options = options.read();
            let c = &options.config().options().catalog;
            (c.default_catalog.clone(), c.default_schema.clone())
        };
        let resolved = name.clone().resolve(&catalog, &schema);
        if resolved.catalog.as_ref() != LAKE {
            return Err(WeirError::NotSupported(format!(
                "cannot change tables of catalog \"{}\"; only \"{LAKE}\" is writable",
                resolved.catalog
            )));
        }
        Ok((resolved.schema.to_string(), resolved.table.to_string()))
    }

    fn lake_schema(&self, catalog: Option<&str>, schema: &str) -> Result<String> {
        match catalog {
            Some(c) if c != LAKE => Err(WeirError::NotSupported(format!(
                "cannot change schemas of catalog \"{c}\"; only \"{LAKE}\" is writable"
            ))),
            _ => Ok(schema.to_owned()),
        }
    }

    /// `ALTER TABLE ... ADD/DROP/RENAME COLUMN` on an Iceberg table.
    pub(super) async fn run_alter(
        &mut self,
        alter: &datafusion::sql::sqlparser::ast::AlterTable,
    ) -> Result<()> {
        use datafusion::sql::sqlparser::ast::AlterTableOperation as Op;
        let name = crate::statements::object_name(&alter.name);
        let (schema, table) = self.lake_table(&TableReference::from(name.as_str()))?;
        let ident = |i: &datafusion::sql::sqlparser::ast::Ident| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        };
        let mut changes = Vec::new();
        for op in &alter.operations {
            match op {
                Op::AddColumn {
                    if_not_exists,
                    column_def,
                    column_position: None,
                    ..
                } => {
                    if !column_def.options.is_empty() {
                        return Err(WeirError::NotSupported(
                            "ADD COLUMN with constraints or defaults is not supported: added columns are nullable".into(),
                        ));
                    }
                    // The planner's own mapping of SQL types to Arrow types.
                    let probe = format!("SELECT CAST(NULL AS {})", column_def.data_type);
                    let mut probe = crate::statements::depth::parse(&probe)?;
                    let Some(probe) = probe.pop() else {
                        return Err(WeirError::Internal("empty type probe".into()));
                    };
                    let plan = self
                        .plan_statement(DfStatement::Statement(Box::new(probe)), &[])
                        .await?;
                    let data_type = plan.schema().field(0).data_type().clone();
                    changes.push(ColumnChange::Add {
                        name: ident(&column_def.name),
                        data_type,
                        if_not_exists: *if_not_exists,
                    });
                }
                Op::DropColumn {
                    column_names,
                    if_exists,
                    ..
                } => {
                    for c in column_names {
                        changes.push(ColumnChange::Drop {
                            name: ident(c),
                            if_exists: *if_exists,
                        });
                    }
                }
                Op::RenameColumn {
                    old_column_name,
                    new_column_name,
                } => changes.push(ColumnChange::Rename {
                    from: ident(old_column_name),
                    to: ident(new_column_name),
                }),
                other => {
                    return Err(WeirError::NotSupported(format!(
                        "ALTER TABLE {other} is not supported (ADD COLUMN, DROP COLUMN and RENAME COLUMN are)"
                    )))
                }
            }
        }
        let lake = self.engine.lake().clone();
        let named = (table.as_str(), "relation", name.as_str());
        if !self
            .exists_for_change(&schema, Some(named), alter.if_exists)
            .await?
        {
            return Ok(());
        }
        self.authorize(Action::Alter, &[LAKE, &schema, &table])?;
        ddl::alter_table(&lake, &schema, &table, &changes).await?;
        self.rules_follow_columns(&[LAKE, &schema, &table], &changes)
            .await?;
        self.apply_params();
        Ok(())
    }

    /// After `changes` to a table's columns: a renamed column keeps its
    /// rules (moved to the new name; row filters and masks that name it
    /// rewritten), a dropped column's rules go with it (see
    /// [`weir_policies::rename`]).
    async fn rules_follow_columns(
        &mut self,
        table: &[&str; 3],
        changes: &[ColumnChange],
    ) -> Result<()> {
        let policies = Arc::clone(self.engine.policies());
        let column = |name: &str| object_name(&[table[0], table[1], table[2], name]);
        let table_object = object_name(table);
        for change in changes {
            match change {
                ColumnChange::Rename { from, to } => {
                    let rewrite =
                        |e: &str| weir_policies::rename::rename_in_expression(e, from, to);
                    policies
                        .store()
                        .rename_column(&table_object, (&column(from), &column(to)), &rewrite)
                        .await?;
                }
                ColumnChange::Drop { name, .. } => {
                    policies.store().forget_object(&column(name)).await?;
                }
                ColumnChange::Add { .. } => {}
            }
        }
        policies.refresh().await?;
        Ok(())
    }

    /// Carry out a write; returns its command tag.
    pub(super) async fn run_write(
        &mut self,
        plan: LogicalPlan,
        partitions: &[PartitionField],
    ) -> Result<String> {
        let lake = self.engine.lake().clone();
        let tag = match plan {
            LogicalPlan::Ddl(DdlStatement::CreateCatalogSchema(c)) => {
                let (catalog, schema) = match c.schema_name.split_once('.') {
                    Some((c, s)) => (Some(c), s),
                    None => (None, c.schema_name.as_str()),
                };
                let schema = self.lake_schema(catalog, schema)?;
                self.authorize(Action::Create, &[LAKE])?;
                let existed = lake.schema_exists(&schema).await?;
                lake.create_schema(&schema, c.if_not_exists).await?;
                if !existed {
                    self.take_ownership(&[LAKE, &schema]).await?;
                }
                "CREATE SCHEMA".to_owned()
            }
            LogicalPlan::Ddl(DdlStatement::DropCatalogSchema(d)) => {
                let schema = match &d.name {
                    SchemaReference::Bare { schema } => self.lake_schema(None, schema)?,
                    SchemaReference::Full { schema, catalog } => {
                        self.lake_schema(Some(catalog), schema)?
                    }
                };
                if !self.exists_for_change(&schema, None, d.if_exists).await? {
                    return Ok("DROP SCHEMA".to_owned());
                }
                self.authorize(Action::Drop, &[LAKE, &schema])?;
                lake.drop_schema(&schema, false, d.cascade).await?;
                self.forget(&[LAKE, &schema]).await?;
                "DROP SCHEMA".to_owned()
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(d)) => {
                let (schema, table) = self.lake_table(&d.name)?;
                let written = d.name.table().to_owned();
                let named = (table.as_str(), "table", written.as_str());
                if !self
                    .exists_for_change(&schema, Some(named), d.if_exists)
                    .await?
                {
                    return Ok("DROP TABLE".to_owned());
                }
                self.authorize(Action::Drop, &[LAKE, &schema, &table])?;
                lake.drop_table(&schema, &table, false).await?;
                self.forget(&[LAKE, &schema, &table]).await?;
                "DROP TABLE".to_owned()
            }
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(c)) => {
                if c.or_replace {
                    return Err(WeirError::NotSupported(
                        "CREATE OR REPLACE TABLE is not supported; DROP TABLE first".into(),
                    ));
                }
                if c.temporary {
                    return Err(WeirError::NotSupported(
                        "temporary tables are not supported".into(),
                    ));
                }
                let (schema, name) = self.lake_table(&c.name)?;
                self.authorize(Action::Create, &[LAKE, &schema])?;
                let query = !matches!(c.input.as_ref(), LogicalPlan::EmptyRelation(_));
                let columns = ddl::storage_schema(c.input.schema().as_arrow(), query)?;
                let table = NewTable {
                    schema,
                    name,
                    columns: columns.clone(),
                    partitions: partitions.to_vec(),
                };
                let written = if query {
                    // Cast the query's columns to the table's storage types.
                    let exprs = columns
                        .fields()
                        .iter()
                        .zip(c.input.schema().columns())
                        .map(|(field, column)| {
                            cast(col(column), field.data_type().clone()).alias(field.name())
                        })
                        .collect::<Vec<_>>();
                    let input = LogicalPlanBuilder::from(c.input.as_ref().clone())
                        .project(exprs)?
                        .build()?;
                    let snapshot = self.statement_state();
                    let state = snapshot.state.clone();
                    let task = Arc::clone(&snapshot.task);
                    let task = self.engine.statement_task(&task);
                    let physical = state.create_physical_plan(&input).await?;
                    // The rows are computed and written on the query runtime;
                    // canceling the statement aborts it there (nothing is
                    // committed unless the whole table was written).
                    let (physical, token) = crate::engine::guard::protect(physical)?;
                    let _cancel = token.drop_guard();
                    let (lake, table, if_not_exists) =
                        (lake.clone(), table.clone(), c.if_not_exists);
                    self.engine
                        .runtime()
                        .run(async move {
                            ddl::create_table(
                                &lake,
                                &table,
                                if_not_exists,
                                Some(Rows {
                                    state: &state,
                                    plan: physical,
                                    task,
                                }),
                            )
                            .await
                        })
                        .await?
                } else {
                    ddl::create_table(&lake, &table, c.if_not_exists, None).await?
                };
                if written.is_some() {
                    self.take_ownership(&[LAKE, &table.schema, &table.name])
                        .await?;
                }
                match (query, written) {
                    (_, None) => {
                        self.events.notices.push((
                            "NOTICE",
                            crate::error::SqlState::DUPLICATE_TABLE,
                            format!("relation \"{}\" already exists, skipping", table.name),
                        ));
                        "CREATE TABLE AS".to_owned()
                    }
                    (true, Some(n)) => format!("SELECT {n}"),
                    (false, Some(_)) => "CREATE TABLE".to_owned(),
                }
            }
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(c)) => {
                let (schema, name) = self.lake_table(&c.name)?;
                self.authorize(Action::Create, &[LAKE, &schema])?;
                let owned = [LAKE.to_owned(), schema.clone(), name.clone()];
                let mut def = ddl::external_table(&c, schema.clone(), name.clone(), &lake)?;
                def.location = lake.location().canonical(&def.location)?;
                self.may_register(&c.location, &def.location).await?;
                let existed = lake.table_exists(&schema, &name).await?;
                let state = self.statement_state().state.clone();
                ddl::create_external_table(&lake, &state, def, c.if_not_exists).await?;
                if !existed {
                    self.take_ownership(&owned).await?;
                }
                "CREATE EXTERNAL TABLE".to_owned()
            }
            LogicalPlan::Dml(dml) => {
                use futures::TryStreamExt;
                let (schema, table) = self.lake_table(&dml.table_name)?;
                self.authorize(Action::Insert, &[LAKE, &schema, &table])?;
                let plan = LogicalPlan::Dml(dml);
                let stream = self.execute_plan(plan, None).await?;
                let batches: Vec<_> = stream.try_collect().await?;
                // Rows only: the session's settings and plans stay valid.
                return Ok(format!("INSERT 0 {}", ddl::count(&batches)));
            }
            _ => return Err(WeirError::Internal("not a write".into())),
        };
        // Schemas may have appeared or gone: re-resolve the search path.
        self.apply_params();
        Ok(tag)
    }
}
