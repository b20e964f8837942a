//! Errors in raw files name the file: when a scan of an external table
//! fails on a bad row (a CSV field that does not parse, a malformed JSON
//! line), the table's files are read one by one to find the one that fails,
//! and the error says which. This costs nothing until a query fails.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::Statistics;
use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{StreamExt, TryStreamExt};

/// A listing table whose read errors name the file.
#[derive(Debug)]
pub struct LocatedTable {
    inner: Arc<ListingTable>,
    url: ListingTableUrl,
    options: ListingOptions,
    schema: SchemaRef,
    qualified: String,
}

impl LocatedTable {
    /// Wrap `inner`, built from `url`, `options` and the file `schema`.
    pub fn new(
        inner: Arc<ListingTable>,
        url: ListingTableUrl,
        options: ListingOptions,
        schema: SchemaRef,
        qualified: String,
    ) -> Self {
        Self {
            inner,
            url,
            options,
            schema,
            qualified,
        }
    }

    /// Where its files are.
    pub fn url(&self) -> &ListingTableUrl {
        &self.url
    }
}

#[async_trait]
impl TableProvider for LocatedTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let store = state.runtime_env().object_store(&self.url)?;
        let locate = Arc::new(Locator {
            url: self.url.clone(),
            options: self.options.clone(),
            schema: self.schema.clone(),
            qualified: self.qualified.clone(),
            store,
        });
        // Planning reads Parquet footers (statistics): a corrupt file can
        // fail here already.
        let mut filters = filters.to_vec();
        filters.extend(super::external::in_partition_folders(&self.options));
        let input = match self.inner.scan(state, projection, &filters, limit).await {
            Ok(input) => input,
            Err(e) => return Err(locate.name_file(e, state.task_ctx()).await),
        };
        Ok(Arc::new(LocatedExec { input, locate }))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _op: datafusion::logical_expr::dml::InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(read_only(&self.qualified))
    }
}

/// The error for writes to an external table.
pub fn read_only(qualified: &str) -> DataFusionError {
    DataFusionError::External(Box::new(weir_catalog::CatalogError::Unsupported(format!(
        "{qualified} is an external table over raw files and cannot be written; \
         CREATE TABLE ... AS SELECT makes an Iceberg copy that can"
    ))))
}

#[derive(Debug)]
struct Locator {
    url: ListingTableUrl,
    options: ListingOptions,
    schema: SchemaRef,
    qualified: String,
    store: Arc<dyn object_store::ObjectStore>,
}

impl Locator {
    /// `e`, naming the table and the failing file when it is a data error.
    async fn name_file(&self, e: DataFusionError, context: Arc<TaskContext>) -> DataFusionError {
        if !is_data_error(&e) {
            return e;
        }
        let what = match self.failing_file(context).await {
            Some((f, path)) => match self.json_line(&path).await {
                Some(line) => format!("reading {} from {f}, line {line}", self.qualified),
                None => format!("reading {} from {f}", self.qualified),
            },
            None => format!("reading {}", self.qualified),
        };
        crate::ConnectorError::context(what, e)
    }

    /// The first line of a JSON-lines file that does not decode with the
    /// table's schema (the JSON reader does not say; the CSV reader does).
    /// Compressed files are not searched.
    async fn json_line(&self, path: &object_store::path::Path) -> Option<usize> {
        use datafusion::datasource::file_format::json::JsonFormat;
        use object_store::ObjectStoreExt;
        self.options.format.as_any().downcast_ref::<JsonFormat>()?;
        let bytes = self.store.get(path).await.ok()?.bytes().await.ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut reader = datafusion::arrow::json::ReaderBuilder::new(self.schema.clone())
                .build(std::io::Cursor::new(line.as_bytes()))
                .ok()?;
            if let Some(Err(_)) = reader.next() {
                return Some(i + 1);
            }
        }
        None
    }

    /// The file of the table that fails to read, if one does: its URI and
    /// its path in the store.
    async fn failing_file(
        &self,
        context: Arc<TaskContext>,
    ) -> Option<(String, object_store::path::Path)> {
        let mut config = datafusion::prelude::SessionConfig::new();
        config
            .options_mut()
            .execution
            .listing_table_ignore_subdirectory = false;
        // One state for listing (subfolders included: hive partitions) and
        // for reading each file alone; this runs only after a failure.
        let state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(context.runtime_env())
            .with_default_features()
            .build();
        let mut files: Vec<_> = self
            .url
            .list_prefixed_files(&state, self.store.as_ref(), None, "")
            .await
            .ok()?
            .try_collect()
            .await
            .ok()?;
        files.sort_by(|a, b| a.location.cmp(&b.location));
        let root = self
            .url
            .object_store()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        for file in files {
            // Object-store keys never start with '/'.
            let location = format!("{root}/{}", file.location);
            let Ok(url) = ListingTableUrl::parse(&location) else {
                continue;
            };
            let config = ListingTableConfig::new(url)
                .with_listing_options(self.options.clone().with_table_partition_cols(vec![]))
                .with_schema(self.schema.clone());
            let Ok(table) = ListingTable::try_new(config) else {
                continue;
            };
            let read = match table.scan(&state, None, &[], None).await {
                Ok(plan) => datafusion::physical_plan::collect(plan, context.clone()).await,
                Err(e) => Err(e),
            };
            if read.is_err_and(|e| is_data_error(&e)) {
                return Some((location, file.location));
            }
        }
        None
    }
}

#[derive(Debug)]
struct LocatedExec {
    input: Arc<dyn ExecutionPlan>,
    locate: Arc<Locator>,
}

impl DisplayAs for LocatedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ExternalTable: {}", self.locate.qualified)
    }
}

impl ExecutionPlan for LocatedExec {
    fn name(&self) -> &str {
        "ExternalTable"
    }

    fn as_any(&self) -> &dyn Any {
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
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self {
            input: super::only_child(children, "ExternalTable")?,
            locate: self.locate.clone(),
        }))
    }

    // The node only renames errors: the planner sees through it. Without
    // these, the scan's statistics were hidden from join selection (TPC-H
    // Q21 built hash tables of gigabytes from the wrong sides) and hash
    // joins' dynamic filters stopped above it.

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn partition_statistics(&self, partition: Option<usize>) -> Result<Statistics> {
        self.input.partition_statistics(partition)
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = self.input.schema();
        let stream = self.input.execute(partition, context.clone())?;
        let locate = self.locate.clone();
        let stream = stream.then(move |item| {
            let locate = locate.clone();
            let context = context.clone();
            async move {
                match item {
                    Err(e) => Err(locate.name_file(e, context).await),
                    ok => ok,
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

fn is_data_error(e: &DataFusionError) -> bool {
    use datafusion::arrow::error::ArrowError;
    match e.find_root() {
        DataFusionError::ArrowError(a, _) => matches!(
            a.as_ref(),
            ArrowError::ParseError(_)
                | ArrowError::CsvError(_)
                | ArrowError::JsonError(_)
                | ArrowError::CastError(_)
                | ArrowError::SchemaError(_)
        ),
        DataFusionError::ParquetError(_) => true,
        _ => false,
    }
}
