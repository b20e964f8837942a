//! The lake connector: DataFusion catalog, schema and table providers over
//! the [`Lakehouse`] catalog.
//!
//! - Iceberg tables are read by [`scan::IcebergScanExec`] and written by
//!   [`write`](mod@write); a statement reads the snapshot current when it resolved the
//!   table, or an older one with time travel: `"orders@<snapshot id>"` or
//!   `"orders@2026-11-21 10:00:00"` (UTC unless an offset is given).
//!   `orders$snapshots`, `orders$manifests` (and the other Iceberg metadata
//!   tables) list a table's history.
//! - External tables are DataFusion listing tables over raw files
//!   ([`external`]).
//! - [`ddl`] turns CREATE/DROP statements into catalog changes.

pub mod ddl;
pub mod external;
pub mod file_errors;
pub mod scan;
pub mod text_fields;
pub mod tpch;
pub mod write;

/// The new child of a one-child plan node (`with_new_children`).
pub(crate) fn only_child(
    mut children: Vec<Arc<dyn ExecutionPlan>>,
    node: &str,
) -> Result<Arc<dyn ExecutionPlan>> {
    match children.pop() {
        Some(child) if children.is_empty() => Ok(child),
        _ => Err(DataFusionError::Internal(format!("{node} has one child"))),
    }
}
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use iceberg::inspect::MetadataTableType;
use iceberg::table::Table;
use weir_catalog::{ExternalTable, Lakehouse};

/// DataFusion's view of the lakehouse catalog.
///
/// Besides the catalog's schemas it holds schemas registered in memory (the
/// gateway registers `pg_catalog` in every catalog).
#[derive(Debug)]
pub struct LakeCatalogProvider {
    lake: Arc<Lakehouse>,
    external: Arc<ExternalCache>,
    registered: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
}

type ExternalCache = Mutex<HashMap<(String, String), (ExternalTable, Arc<dyn TableProvider>)>>;

impl LakeCatalogProvider {
    /// A provider over `lake`.
    pub fn new(lake: Arc<Lakehouse>) -> Self {
        Self {
            lake,
            external: Arc::default(),
            registered: RwLock::default(),
        }
    }

    /// The catalog behind this provider.
    pub fn lake(&self) -> &Arc<Lakehouse> {
        &self.lake
    }
}

impl CatalogProvider for LakeCatalogProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self.lake.schema_names();
        if let Ok(registered) = self.registered.read() {
            names.extend(registered.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    /// Any valid name gets a provider: whether the schema exists is asked of
    /// the catalog database when a table is looked up, so schemas created
    /// elsewhere (another Weir, PyIceberg) are usable at once.
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self.registered.read().ok()?.get(name) {
            return Some(s.clone());
        }
        weir_catalog::names::validate(name).ok()?;
        Some(Arc::new(LakeSchemaProvider {
            lake: self.lake.clone(),
            schema: name.to_owned(),
            external: self.external.clone(),
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let mut registered = self
            .registered
            .write()
            .map_err(|_| DataFusionError::Internal("schema registry poisoned".into()))?;
        Ok(registered.insert(name.to_owned(), schema))
    }
}

/// One schema (Iceberg namespace) of the lake.
#[derive(Debug)]
pub struct LakeSchemaProvider {
    lake: Arc<Lakehouse>,
    schema: String,
    external: Arc<ExternalCache>,
}

fn external_err(e: weir_catalog::CatalogError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl SchemaProvider for LakeSchemaProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.lake.table_names(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        use weir_catalog::names::TableName;
        if let TableName::Metadata { base, kind } = TableName::parse(name) {
            if MetadataTableType::try_from(kind).is_err() {
                return Ok(None);
            }
            if self
                .lake
                .metadata_location(&self.schema, base)
                .await
                .map_err(external_err)?
                .is_none()
            {
                return Ok(None);
            }
            let ident = iceberg::TableIdent::new(
                iceberg::NamespaceIdent::new(self.schema.clone()),
                base.to_owned(),
            );
            let catalog = write::table_catalog(self.lake.clone(), ident.clone());
            let inner = write::iceberg_datafusion_table(catalog, &ident, name).await?;
            return Ok(Some(Arc::new(WholeScan(inner))));
        }
        if let TableName::AsOf { base, at } = TableName::parse(name) {
            let Some(table) = self
                .lake
                .load_table(&self.schema, base)
                .await
                .map_err(external_err)?
            else {
                return Ok(None);
            };
            let qualified = format!("{}.{}.{base}", self.lake.name(), self.schema);
            let snapshot = time_travel(&table, &qualified, at)?;
            return Ok(Some(Arc::new(IcebergTable::new(
                self.lake.clone(),
                table,
                qualified,
                Some(snapshot),
            )?)));
        }
        if let Some(table) = self
            .lake
            .load_table(&self.schema, name)
            .await
            .map_err(external_err)?
        {
            let qualified = format!("{}.{}.{name}", self.lake.name(), self.schema);
            return Ok(Some(Arc::new(IcebergTable::new(
                self.lake.clone(),
                table,
                qualified,
                None,
            )?)));
        }
        let Some(def) = self
            .lake
            .external_table(&self.schema, name)
            .await
            .map_err(external_err)?
        else {
            return Ok(None);
        };
        let key = (self.schema.clone(), name.to_owned());
        if let Ok(cache) = self.external.lock() {
            if let Some((cached, provider)) = cache.get(&key) {
                if *cached == def {
                    return Ok(Some(provider.clone()));
                }
            }
        }
        let provider = external::provider(&self.lake, &def)?;
        if let Ok(mut cache) = self.external.lock() {
            cache.insert(key, (def, provider.clone()));
        }
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.lake
            .table_names(&self.schema)
            .iter()
            .any(|t| t == name)
    }
}

/// A provider that ignores projections (iceberg-datafusion 0.10's metadata
/// tables), made to honour them: it is scanned whole and projected here.
#[derive(Debug)]
struct WholeScan(Arc<dyn TableProvider>);

#[async_trait]
impl TableProvider for WholeScan {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        use datafusion::physical_expr::expressions::Column;
        use datafusion::physical_expr::PhysicalExpr;
        let input = self.0.scan(state, None, &[], None).await?;
        let Some(projection) = projection else {
            return Ok(input);
        };
        let schema = self.0.schema();
        let exprs = projection
            .iter()
            .map(|i| {
                let name = schema.field(*i).name().clone();
                let expr: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&name, *i));
                (expr, name)
            })
            .collect::<Vec<_>>();
        Ok(Arc::new(
            datafusion::physical_plan::projection::ProjectionExec::try_new(exprs, input)?,
        ))
    }
}

/// The snapshot `at` names: a snapshot id, or the snapshot current at a
/// timestamp.
fn time_travel(table: &Table, qualified: &str, at: &str) -> Result<i64> {
    let metadata = table.metadata();
    if let Ok(id) = at.parse::<i64>() {
        return metadata
            .snapshot_by_id(id)
            .map(|s| s.snapshot_id())
            .ok_or_else(|| {
                DataFusionError::Plan(format!("table {qualified} has no snapshot {id}"))
            });
    }
    let millis = parse_timestamp_millis(at).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "cannot read {at:?} as a snapshot id or a timestamp (use \"table@<snapshot id>\" or \"table@2026-11-21 10:00:00\")"
        ))
    })?;
    metadata
        .history()
        .iter()
        .filter(|entry| entry.timestamp_ms <= millis)
        .max_by_key(|entry| entry.timestamp_ms)
        .map(|entry| entry.snapshot_id)
        .ok_or_else(|| {
            DataFusionError::Plan(format!("table {qualified} has no snapshot as of {at}"))
        })
}

fn parse_timestamp_millis(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// An Iceberg table, at the snapshot resolved for one statement.
#[derive(Debug)]
pub struct IcebergTable {
    lake: Arc<Lakehouse>,
    table: Table,
    qualified: String,
    snapshot_id: Option<i64>,
    schema: SchemaRef,
}

impl IcebergTable {
    /// A provider reading `table` at `snapshot_id` (else its current snapshot).
    pub fn new(
        lake: Arc<Lakehouse>,
        table: Table,
        qualified: String,
        snapshot_id: Option<i64>,
    ) -> Result<Self> {
        let metadata = table.metadata();
        let iceberg_schema = match snapshot_id.and_then(|id| metadata.snapshot_by_id(id)) {
            Some(snapshot) => snapshot
                .schema(metadata)
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
            None => metadata.current_schema().clone(),
        };
        let schema = Arc::new(
            iceberg::arrow::schema_to_arrow_schema(&iceberg_schema)
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
        );
        Ok(Self {
            lake,
            table,
            qualified,
            snapshot_id,
            schema,
        })
    }

    /// The table to read: the pinned snapshot for time travel, else the
    /// table as it is now. Plans outlive statements (prepared statements
    /// are planned once and run many times), so the current snapshot is
    /// looked up when the scan is built, not when the name was resolved.
    async fn current(&self) -> Result<Table> {
        if self.snapshot_id.is_some() {
            return Ok(self.table.clone());
        }
        let table = self.latest().await?;
        if table.metadata().current_schema_id() != self.table.metadata().current_schema_id() {
            return Err(external_err(weir_catalog::CatalogError::Unsupported(
                format!(
                    "the columns of {} changed since this statement was planned; prepare it again",
                    self.qualified
                ),
            )));
        }
        Ok(table)
    }

    /// The table as the catalog has it now.
    async fn latest(&self) -> Result<Table> {
        let ident = self.table.identifier();
        let schema = ident.namespace().as_ref().join(".");
        let table = self
            .lake
            .load_table(&schema, ident.name())
            .await
            .map_err(external_err)?
            .ok_or_else(|| {
                external_err(weir_catalog::CatalogError::NoSuchTable(
                    self.qualified.clone(),
                ))
            })?;
        Ok(table)
    }
}

#[async_trait]
impl TableProvider for IcebergTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let config = state.config();
        Ok(Arc::new(
            scan::IcebergScanExec::try_new(
                self.current().await?,
                self.qualified.clone(),
                self.snapshot_id,
                self.schema.clone(),
                projection,
                filters,
                config.target_partitions(),
                config.batch_size(),
            )
            .await?,
        ))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Iceberg prunes files with what it understands; rows are filtered
        // again above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.snapshot_id.is_some() {
            return Err(DataFusionError::Plan(format!(
                "cannot write to {} at a past snapshot",
                self.qualified
            )));
        }
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::NotImplemented(format!(
                "{insert_op} into an Iceberg table is not supported; use INSERT INTO"
            )));
        }
        // The rows have the columns the statement was planned against: they
        // are written with that schema (field ids), even if another writer
        // changed the columns since; the commit goes onto the newest
        // snapshot, where readers match columns by field id (a column added
        // meanwhile reads NULL in these rows). A table dropped, or dropped
        // and created again, is not written to.
        let latest = self.latest().await?;
        if latest.metadata().uuid() != self.table.metadata().uuid() {
            return Err(external_err(weir_catalog::CatalogError::Unsupported(
                format!(
                    "{} was dropped and created again since this statement was planned; prepare it again",
                    self.qualified
                ),
            )));
        }
        let table = self.table.clone();
        let input = write::NotNullExec::wrap(input, &self.schema, &self.qualified);
        write::insert_plan(
            write::pinned_catalog(self.lake.clone(), table),
            write::table_catalog(self.lake.clone(), self.table.identifier().clone()),
            self.table.identifier(),
            state,
            input,
            self.lake.commit_gate(
                &self.table.identifier().namespace().as_ref().join("."),
                self.table.identifier().name(),
            ),
        )
        .await
    }
}
