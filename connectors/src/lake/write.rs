//! Writing Iceberg tables: INSERT, CREATE TABLE and CREATE TABLE AS.
//!
//! The write pipeline itself (partition projection, parallel Parquet
//! writers, one fast-append commit) is iceberg-datafusion's; Weir hands it
//! a catalog view that decides where the commit goes:
//! - INSERT commits to the real catalog. iceberg-rust's transaction retries
//!   a conflicting commit (another writer got there first) by reloading the
//!   table and rebuilding the snapshot and manifest list on the new base;
//!   Weir's tables allow many retries with short waits. The catalog swaps
//!   the metadata pointer only if it is still the one the commit started
//!   from, so a statement's rows land in one commit or not at all.
//! - CREATE TABLE AS writes into a *staged* table that no catalog lists:
//!   its metadata files are written, but the table becomes visible only when
//!   the final metadata is registered, in one insert into the catalog. A
//!   statement that fails or is killed before that leaves no table (and
//!   orphan files under the table location, never referenced).
//!
//! Files are never deleted after a failed commit whose outcome is unknown
//! (the catalog database failed mid-update): the commit may have landed.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, Session};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::ExecutionPlan;
use iceberg::spec::TableMetadataBuilder;
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, MetadataLocation, Namespace, NamespaceIdent, TableCommit,
    TableCreation, TableIdent,
};
use iceberg_datafusion::IcebergCatalogProvider;

/// Table properties of tables Weir creates: how hard a commit retries
/// before giving up on a conflict.
pub fn default_properties() -> HashMap<String, String> {
    HashMap::from([
        // iceberg-rust's backoff has no jitter: writers that collide once
        // wait alike and collide again, so waits stay short and retries
        // many (8 sessions inserting at once: measured 0.6 s per commit
        // with waits up to 500 ms, about 40 ms with 25 ms).
        ("commit.retry.num-retries".to_owned(), "400".to_owned()),
        ("commit.retry.min-wait-ms".to_owned(), "2".to_owned()),
        ("commit.retry.max-wait-ms".to_owned(), "25".to_owned()),
        (
            "commit.retry.total-timeout-ms".to_owned(),
            "120000".to_owned(),
        ),
    ])
}

/// The physical plan appending `input` to the table `ident` of `catalog`:
/// write data files in parallel, then commit them in one snapshot. The plan
/// returns one row, the number of rows written.
///
/// The files are written by a plan built on `writer`'s view of the table
/// (the one the statement was planned against, so a schema change by
/// someone else meanwhile cannot mismatch the rows and the writer), and
/// committed through `committer`, which always reads the table afresh.
pub async fn insert_plan(
    writer: Arc<dyn Catalog>,
    committer: Arc<dyn Catalog>,
    ident: &TableIdent,
    state: &dyn Session,
    input: Arc<dyn ExecutionPlan>,
    gate: Arc<tokio::sync::Mutex<()>>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    let table = writer
        .load_table(ident)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let target = iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let input = NullableAs::wrap(input, &target)?;
    let plan = iceberg_datafusion_table(writer, ident, ident.name())
        .await?
        .insert_into(state, input, InsertOp::Append)
        .await?;
    // iceberg-datafusion's plan is commit(coalesce(write files)); Weir
    // keeps the writing and commits itself, behind the table's gate.
    if plan.name() != "IcebergCommitExec" || plan.children().len() != 1 {
        return Ok(plan);
    }
    let files = plan.children()[0].clone();
    Ok(Arc::new(CommitExec::new(files, table, committer, gate)))
}

/// Rows whose columns may not be NULL (a NOT NULL source column, a literal)
/// going into nullable table columns: the same batches, declared with the
/// table's nullability, which iceberg-datafusion's partitioning step
/// compares exactly. (NOT NULL table columns are checked by [`NotNullExec`].)
#[derive(Debug)]
struct NullableAs {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<datafusion::physical_plan::PlanProperties>,
}

impl NullableAs {
    fn wrap(
        input: Arc<dyn ExecutionPlan>,
        table: &datafusion::arrow::datatypes::Schema,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        use datafusion::arrow::datatypes::Schema;
        let schema = input.schema();
        if schema.fields().len() != table.fields().len() {
            return Ok(input);
        }
        let mut changed = false;
        let fields: Vec<_> = schema
            .fields()
            .iter()
            .zip(table.fields())
            .map(|(f, t)| {
                changed |= f.is_nullable() != t.is_nullable() && t.is_nullable();
                f.as_ref()
                    .clone()
                    .with_nullable(f.is_nullable() || t.is_nullable())
            })
            .collect();
        if !changed {
            return Ok(input);
        }
        let relaxed = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let properties = Arc::new(input.properties().as_ref().clone().with_eq_properties(
            datafusion::physical_expr::EquivalenceProperties::new(relaxed),
        ));
        Ok(Arc::new(Self { input, properties }))
    }
}

impl datafusion::physical_plan::DisplayAs for NullableAs {
    fn fmt_as(
        &self,
        _t: datafusion::physical_plan::DisplayFormatType,
        f: &mut std::fmt::Formatter,
    ) -> std::fmt::Result {
        f.write_str("NullableAs")
    }
}

impl ExecutionPlan for NullableAs {
    fn name(&self) -> &str {
        "NullableAs"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn properties(&self) -> &Arc<datafusion::physical_plan::PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        // The new child's partitioning (the optimizer may have put a
        // repartition under this node), this node's schema.
        let input = super::only_child(children, "NullableAs")?;
        let properties = Arc::new(
            input
                .properties()
                .as_ref()
                .clone()
                .with_eq_properties(self.properties.eq_properties.clone()),
        );
        Ok(Arc::new(Self { input, properties }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<datafusion::execution::TaskContext>,
    ) -> DFResult<datafusion::execution::SendableRecordBatchStream> {
        use futures::StreamExt;
        let schema = self.properties.eq_properties.schema().clone();
        let target = schema.clone();
        let stream = self
            .input
            .execute(partition, context)?
            .map(move |batch| Ok(batch?.with_schema(target.clone())?));
        Ok(Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream),
        ))
    }
}

/// Commits the data files its input wrote as one fast-append snapshot.
#[derive(Debug)]
pub struct CommitExec {
    input: Arc<dyn ExecutionPlan>,
    table: Table,
    catalog: Arc<dyn Catalog>,
    gate: Arc<tokio::sync::Mutex<()>>,
    properties: Arc<datafusion::physical_plan::PlanProperties>,
}

impl CommitExec {
    fn new(
        input: Arc<dyn ExecutionPlan>,
        table: Table,
        catalog: Arc<dyn Catalog>,
        gate: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::physical_expr::EquivalenceProperties;
        use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
        let schema = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )]));
        let properties = Arc::new(datafusion::physical_plan::PlanProperties::new(
            EquivalenceProperties::new(schema),
            datafusion::physical_plan::Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            table,
            catalog,
            gate,
            properties,
        }
    }
}

impl datafusion::physical_plan::DisplayAs for CommitExec {
    fn fmt_as(
        &self,
        _t: datafusion::physical_plan::DisplayFormatType,
        f: &mut std::fmt::Formatter,
    ) -> std::fmt::Result {
        write!(f, "IcebergCommit: table={}", self.table.identifier())
    }
}

impl ExecutionPlan for CommitExec {
    fn name(&self) -> &str {
        "IcebergCommit"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn properties(&self) -> &Arc<datafusion::physical_plan::PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// All written files arrive in one stream, to be committed together.
    fn required_input_distribution(&self) -> Vec<datafusion::physical_plan::Distribution> {
        vec![datafusion::physical_plan::Distribution::SinglePartition]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::new(
            super::only_child(children, "IcebergCommit")?,
            self.table.clone(),
            self.catalog.clone(),
            self.gate.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<datafusion::execution::TaskContext>,
    ) -> DFResult<datafusion::execution::SendableRecordBatchStream> {
        use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
        use futures::{StreamExt, TryStreamExt};
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "IcebergCommit has one partition, not {partition}"
            )));
        }
        let input = self.input.clone();
        let table = self.table.clone();
        let catalog = self.catalog.clone();
        let gate = self.gate.clone();
        let schema = self.properties.eq_properties.schema().clone();
        let out_schema = schema.clone();
        let ext = |e: iceberg::Error| DataFusionError::External(Box::new(e));
        let stream = futures::stream::once(async move {
            let metadata = table.metadata();
            let spec_id = metadata.default_partition_spec_id();
            let partition_type = metadata.default_partition_type().clone();
            let current_schema = metadata.current_schema().clone();
            let batches: Vec<RecordBatch> = input
                .execute(0, context)?
                .try_collect()
                .await
                .map_err(|e| {
                    let what = format!("writing {}", qualified(table.identifier()));
                    crate::ConnectorError::context(what, e)
                })?;
            let mut files = Vec::new();
            for batch in &batches {
                let Some(column) = batch
                    .column_by_name("data_files")
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                else {
                    return Err(DataFusionError::Internal(
                        "writer returned no data_files".into(),
                    ));
                };
                for json in column.iter().flatten() {
                    files.push(
                        iceberg::spec::deserialize_data_file_from_json(
                            json,
                            spec_id,
                            &partition_type,
                            &current_schema,
                        )
                        .map_err(ext)?,
                    );
                }
            }
            let rows: u64 = files.iter().map(|f| f.record_count()).sum();
            if !files.is_empty() {
                // One commit at a time per table in this process; the
                // transaction still retries on conflicts with writers elsewhere.
                let _turn = gate.lock().await;
                commit(catalog.as_ref(), table.identifier(), files).await?;
            }
            let count: ArrayRef = Arc::new(UInt64Array::from(vec![rows]));
            Ok(RecordBatch::try_new(schema, vec![count])?)
        })
        .boxed();
        Ok(Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(out_schema, stream),
        ))
    }
}

/// The snapshot summary property that identifies a commit, so that after
/// a failure the catalog can be asked whether it landed.
const COMMIT_ID: &str = "weir.commit-id";

/// Append `files` to `ident` in one snapshot. iceberg-rust retries
/// conflicts; a conflict left after the last retry is 40001. Whatever else
/// the catalog answers, success included, the table is read again and the
/// snapshot looked up by its commit id: found, the statement succeeds; not
/// found, it fails (58000); the catalog cannot be asked, 40003. Files are
/// never deleted here, whatever the outcome.
async fn commit(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    files: Vec<iceberg::spec::DataFile>,
) -> DFResult<()> {
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    let ext = |e: iceberg::Error| DataFusionError::External(Box::new(e));
    let count = files.len();
    let id = uuid::Uuid::new_v4().to_string();
    let base = catalog.load_table(ident).await.map_err(ext)?;
    let tx = Transaction::new(&base);
    let outcome = tx
        .fast_append()
        .set_snapshot_properties(HashMap::from([(COMMIT_ID.to_owned(), id.clone())]))
        .add_data_files(files)
        .apply(tx)
        .map_err(ext)?
        .commit(catalog)
        .await;
    let qualified = qualified(ident);
    let reported = match outcome {
        // iceberg-catalog-sql reports success once its UPDATE of the
        // metadata pointer matched, even when the COMMIT of that update
        // then fails (it ignores the COMMIT's result): a success is
        // believed only once the catalog, asked again, holds the snapshot.
        Ok(_) => None,
        // Still conflicting after every retry the table allows: 40001.
        Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => {
            return Err(DataFusionError::External(Box::new(
                weir_catalog::CatalogError::iceberg(qualified, e),
            )));
        }
        Err(e) => Some(e),
    };
    match catalog.load_table(ident).await {
        Ok(now) if landed(&now, &id) => {
            if let Some(error) = reported {
                tracing::warn!(table = %qualified, error = %error, "commit reported an error but landed");
            }
            Ok(())
        }
        // The catalog database failed, and the table is as it was: 58000.
        Ok(_) => Err(DataFusionError::External(Box::new(
            weir_catalog::CatalogError::Database(format!(
                "committing to {qualified} failed, and nothing was committed: {}",
                match reported {
                    Some(error) => error.to_string(),
                    None => "the catalog database did not keep the update of the \
                             metadata pointer it reported done"
                        .to_owned(),
                }
            )),
        ))),
        Err(check) => Err(DataFusionError::External(Box::new(
            weir_catalog::CatalogError::CommitUnknown {
                table: qualified,
                files: count,
                message: match reported {
                    Some(error) => {
                        format!("{error}; asking the catalog again failed too: {check}")
                    }
                    None => format!("the catalog could not be asked whether it landed: {check}"),
                },
            },
        ))),
    }
}

/// `schema.table`.
fn qualified(ident: &TableIdent) -> String {
    format!("{}.{}", ident.namespace().join("."), ident.name())
}

/// Whether a snapshot of `table` carries commit id `id`.
fn landed(table: &Table, id: &str) -> bool {
    table.metadata().snapshots().any(|s| {
        s.summary()
            .additional_properties
            .get(COMMIT_ID)
            .map(String::as_str)
            == Some(id)
    })
}

/// One table of the lakehouse, as the Iceberg catalog iceberg-datafusion's
/// providers are built on: it lists only that table (so building a writer
/// or a metadata table does not load every table of the catalog), loads go
/// through the lakehouse's metadata-pointer cache (one indexed query, no
/// metadata file read while the table is unchanged), and everything else,
/// commits included, goes to the SQL catalog.
pub fn table_catalog(lake: Arc<weir_catalog::Lakehouse>, ident: TableIdent) -> Arc<dyn Catalog> {
    Arc::new(TableCatalog {
        lake,
        ident,
        pinned: None,
    })
}

/// [`table_catalog`], except that loading the table returns `table` as it
/// is, not the newest metadata.
pub fn pinned_catalog(lake: Arc<weir_catalog::Lakehouse>, table: Table) -> Arc<dyn Catalog> {
    Arc::new(TableCatalog {
        lake,
        ident: table.identifier().clone(),
        pinned: Some(table),
    })
}

struct TableCatalog {
    lake: Arc<weir_catalog::Lakehouse>,
    ident: TableIdent,
    pinned: Option<Table>,
}

impl std::fmt::Debug for TableCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TableCatalog({})", self.ident)
    }
}

#[async_trait]
impl Catalog for TableCatalog {
    async fn list_namespaces(
        &self,
        _: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        Ok(vec![self.ident.namespace().clone()])
    }
    async fn create_namespace(
        &self,
        ns: &NamespaceIdent,
        p: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        self.lake.iceberg().create_namespace(ns, p).await
    }
    async fn get_namespace(&self, ns: &NamespaceIdent) -> iceberg::Result<Namespace> {
        self.lake.iceberg().get_namespace(ns).await
    }
    async fn namespace_exists(&self, ns: &NamespaceIdent) -> iceberg::Result<bool> {
        self.lake.iceberg().namespace_exists(ns).await
    }
    async fn update_namespace(
        &self,
        ns: &NamespaceIdent,
        p: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        self.lake.iceberg().update_namespace(ns, p).await
    }
    async fn drop_namespace(&self, ns: &NamespaceIdent) -> iceberg::Result<()> {
        self.lake.iceberg().drop_namespace(ns).await
    }
    async fn list_tables(&self, _: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        Ok(vec![self.ident.clone()])
    }
    async fn create_table(&self, ns: &NamespaceIdent, c: TableCreation) -> iceberg::Result<Table> {
        self.lake.iceberg().create_table(ns, c).await
    }
    async fn load_table(&self, t: &TableIdent) -> iceberg::Result<Table> {
        if let Some(table) = self.pinned.as_ref().filter(|p| p.identifier() == t) {
            return Ok(table.clone());
        }
        let schema = t.namespace().as_ref().join(".");
        match self.lake.load_table(&schema, t.name()).await {
            Ok(Some(table)) => Ok(table),
            Ok(None) => Err(Error::new(
                ErrorKind::TableNotFound,
                format!("relation \"{schema}.{}\" does not exist", t.name()),
            )),
            Err(e) => Err(Error::new(ErrorKind::Unexpected, e.to_string())),
        }
    }
    async fn drop_table(&self, t: &TableIdent) -> iceberg::Result<()> {
        self.lake.iceberg().drop_table(t).await
    }
    async fn purge_table(&self, t: &TableIdent) -> iceberg::Result<()> {
        self.lake.iceberg().purge_table(t).await
    }
    async fn table_exists(&self, t: &TableIdent) -> iceberg::Result<bool> {
        self.lake.iceberg().table_exists(t).await
    }
    async fn rename_table(&self, a: &TableIdent, b: &TableIdent) -> iceberg::Result<()> {
        self.lake.iceberg().rename_table(a, b).await
    }
    async fn register_table(&self, t: &TableIdent, m: String) -> iceberg::Result<Table> {
        self.lake.iceberg().register_table(t, m).await
    }
    async fn update_table(&self, c: TableCommit) -> iceberg::Result<Table> {
        self.lake.iceberg().update_table(c).await
    }
}

/// iceberg-datafusion's provider for `name` (the table `ident`, or one of
/// its metadata tables, `table$snapshots`) on `catalog`, a catalog that
/// lists only that table ([`table_catalog`], or a staged table's).
pub async fn iceberg_datafusion_table(
    catalog: Arc<dyn Catalog>,
    ident: &TableIdent,
    name: &str,
) -> DFResult<Arc<dyn TableProvider>> {
    let provider = IcebergCatalogProvider::try_new(catalog)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let namespace = ident.namespace().as_ref().join(".");
    provider
        .schema(&namespace)
        .ok_or_else(|| DataFusionError::Plan(format!("schema \"{namespace}\" does not exist")))?
        .table(name)
        .await?
        .ok_or_else(|| {
            DataFusionError::Plan(format!("relation \"{namespace}.{name}\" does not exist"))
        })
}

/// A table created but not yet visible in any catalog.
pub struct StagedTable {
    catalog: Arc<StagingCatalog>,
}

impl std::fmt::Debug for StagedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StagedTable")
    }
}

impl StagedTable {
    /// Write the first metadata file of a new table.
    pub async fn create(
        file_io: iceberg::io::FileIO,
        namespace: &str,
        creation: TableCreation,
    ) -> iceberg::Result<Self> {
        let location = creation
            .location
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::DataInvalid, "a staged table needs a location"))?;
        let ident = TableIdent::new(
            NamespaceIdent::new(namespace.to_owned()),
            creation.name.clone(),
        );
        let metadata = TableMetadataBuilder::from_table_creation(creation)?
            .build()?
            .metadata;
        let metadata_location = MetadataLocation::new_with_metadata(location, &metadata);
        metadata.write_to(&file_io, &metadata_location).await?;
        let table = Table::builder()
            .file_io(file_io)
            .identifier(ident)
            .metadata_location(metadata_location.to_string())
            .metadata(metadata)
            .runtime(iceberg::Runtime::try_current()?)
            .build()?;
        Ok(Self {
            catalog: Arc::new(StagingCatalog {
                table: Mutex::new(table),
            }),
        })
    }

    /// The catalog view that commits into this staged table.
    pub fn catalog(&self) -> Arc<dyn Catalog> {
        self.catalog.clone()
    }

    /// The staged table's latest metadata file.
    pub fn metadata_location(&self) -> iceberg::Result<String> {
        let table = self
            .catalog
            .table
            .lock()
            .map_err(|_| Error::new(ErrorKind::Unexpected, "staged table lock poisoned"))?;
        Ok(table.metadata_location_result()?.to_owned())
    }
}

/// Commits go to the staged table only.
struct StagingCatalog {
    table: Mutex<Table>,
}

impl std::fmt::Debug for StagingCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StagingCatalog")
    }
}

impl StagingCatalog {
    fn current(&self) -> iceberg::Result<Table> {
        self.table
            .lock()
            .map(|t| t.clone())
            .map_err(|_| Error::new(ErrorKind::Unexpected, "staged table lock poisoned"))
    }
}

fn unsupported<T>(what: &str) -> iceberg::Result<T> {
    Err(Error::new(
        ErrorKind::FeatureUnsupported,
        format!("{what} is not available on a table being created"),
    ))
}

#[async_trait]
impl Catalog for StagingCatalog {
    async fn list_namespaces(
        &self,
        _: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        Ok(vec![self.current()?.identifier().namespace().clone()])
    }
    async fn create_namespace(
        &self,
        _: &NamespaceIdent,
        _: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        unsupported("CREATE SCHEMA")
    }
    async fn get_namespace(&self, ns: &NamespaceIdent) -> iceberg::Result<Namespace> {
        Ok(Namespace::new(ns.clone()))
    }
    async fn namespace_exists(&self, ns: &NamespaceIdent) -> iceberg::Result<bool> {
        Ok(self.current()?.identifier().namespace() == ns)
    }
    async fn update_namespace(
        &self,
        _: &NamespaceIdent,
        _: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        unsupported("ALTER SCHEMA")
    }
    async fn drop_namespace(&self, _: &NamespaceIdent) -> iceberg::Result<()> {
        unsupported("DROP SCHEMA")
    }
    async fn list_tables(&self, _: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        Ok(vec![self.current()?.identifier().clone()])
    }
    async fn create_table(&self, _: &NamespaceIdent, _: TableCreation) -> iceberg::Result<Table> {
        unsupported("CREATE TABLE")
    }
    async fn load_table(&self, _: &TableIdent) -> iceberg::Result<Table> {
        self.current()
    }
    async fn drop_table(&self, _: &TableIdent) -> iceberg::Result<()> {
        unsupported("DROP TABLE")
    }
    async fn purge_table(&self, _: &TableIdent) -> iceberg::Result<()> {
        unsupported("DROP TABLE")
    }
    async fn table_exists(&self, t: &TableIdent) -> iceberg::Result<bool> {
        Ok(self.current()?.identifier() == t)
    }
    async fn rename_table(&self, _: &TableIdent, _: &TableIdent) -> iceberg::Result<()> {
        unsupported("ALTER TABLE RENAME")
    }
    async fn register_table(&self, _: &TableIdent, _: String) -> iceberg::Result<Table> {
        unsupported("registering")
    }
    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        let current = self.current()?;
        let staged = commit.apply(current)?;
        let location = MetadataLocation::from_str(staged.metadata_location_result()?)?;
        staged
            .metadata()
            .write_to(staged.file_io(), &location)
            .await?;
        let mut table = self
            .table
            .lock()
            .map_err(|_| Error::new(ErrorKind::Unexpected, "staged table lock poisoned"))?;
        *table = staged.clone();
        Ok(staged)
    }
}

/// Checks NOT NULL columns of the rows an INSERT writes, failing the
/// statement (before anything is committed) on the first NULL.
#[derive(Debug)]
pub struct NotNullExec {
    input: Arc<dyn ExecutionPlan>,
    /// `(column index, name)` of the required columns.
    required: Vec<(usize, String)>,
    table: String,
}

impl NotNullExec {
    /// Wrap `input` when the target table has NOT NULL columns.
    pub fn wrap(
        input: Arc<dyn ExecutionPlan>,
        schema: &datafusion::arrow::datatypes::Schema,
        table: &str,
    ) -> Arc<dyn ExecutionPlan> {
        let required: Vec<(usize, String)> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_nullable())
            .map(|(i, f)| (i, f.name().clone()))
            .collect();
        if required.is_empty() {
            return input;
        }
        Arc::new(Self {
            input,
            required,
            table: table.to_owned(),
        })
    }
}

impl datafusion::physical_plan::DisplayAs for NotNullExec {
    fn fmt_as(
        &self,
        _t: datafusion::physical_plan::DisplayFormatType,
        f: &mut std::fmt::Formatter,
    ) -> std::fmt::Result {
        let names: Vec<&str> = self.required.iter().map(|(_, n)| n.as_str()).collect();
        write!(f, "NotNullExec: {}", names.join(", "))
    }
}

impl ExecutionPlan for NotNullExec {
    fn name(&self) -> &str {
        "NotNullExec"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn properties(&self) -> &Arc<datafusion::physical_plan::PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self {
            input: super::only_child(children, "NotNullExec")?,
            required: self.required.clone(),
            table: self.table.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<datafusion::execution::TaskContext>,
    ) -> DFResult<datafusion::execution::SendableRecordBatchStream> {
        use futures::StreamExt;
        let schema = self.input.schema();
        let required = self.required.clone();
        let table = self.table.clone();
        let stream = self.input.execute(partition, context)?.map(move |batch| {
            let batch = batch?;
            for (i, name) in &required {
                if batch.num_columns() > *i && batch.column(*i).logical_null_count() > 0 {
                    return Err(DataFusionError::External(Box::new(
                        weir_catalog::CatalogError::NotNull {
                            column: name.clone(),
                            table: table.clone(),
                        },
                    )));
                }
            }
            Ok(batch)
        });
        Ok(Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream),
        ))
    }
}
