//! The lake connector: DataFusion catalog and schema providers over a
//! [`LakeCatalog`] directory tree.
//!
//! Tables are [`ListingTable`]s over the table directory. Building one infers
//! the schema from the files (Parquet footers, CSV/JSON samples), so built
//! tables are cached and rebuilt when the table directory changes.

pub mod tpch;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat as DfFileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use weir_catalog::{FileFormat, LakeCatalog, TableEntry};

/// DataFusion's view of a lake catalog.
///
/// Besides the schemas found on disk it holds schemas registered in memory
/// (the gateway registers `pg_catalog` in every catalog).
#[derive(Debug)]
pub struct LakeCatalogProvider {
    lake: Arc<LakeCatalog>,
    /// Session used to infer file schemas; it only needs the object stores.
    infer_state: Arc<SessionState>,
    tables: Arc<TableCache>,
    registered: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
}

type TableCache = Mutex<HashMap<(String, String), (Option<SystemTime>, Arc<dyn TableProvider>)>>;

impl LakeCatalogProvider {
    /// A provider over `lake`.
    pub fn new(lake: LakeCatalog) -> Self {
        Self {
            lake: Arc::new(lake),
            infer_state: Arc::new(SessionStateBuilder::new().with_default_features().build()),
            tables: Arc::default(),
            registered: RwLock::default(),
        }
    }

    /// The catalog metadata behind this provider.
    pub fn lake(&self) -> &LakeCatalog {
        &self.lake
    }
}

impl CatalogProvider for LakeCatalogProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self.lake.schema_names().unwrap_or_else(|e| {
            tracing::warn!(catalog = self.lake.name(), error = %e, "cannot list schemas");
            Vec::new()
        });
        if let Ok(registered) = self.registered.read() {
            names.extend(registered.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self.registered.read().ok()?.get(name) {
            return Some(s.clone());
        }
        self.lake.schema_exists(name).then(|| {
            Arc::new(LakeSchemaProvider {
                lake: self.lake.clone(),
                schema: name.to_owned(),
                infer_state: self.infer_state.clone(),
                tables: self.tables.clone(),
            }) as Arc<dyn SchemaProvider>
        })
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

/// One schema (directory) of a lake.
#[derive(Debug)]
pub struct LakeSchemaProvider {
    lake: Arc<LakeCatalog>,
    schema: String,
    infer_state: Arc<SessionState>,
    tables: Arc<TableCache>,
}

#[async_trait]
impl SchemaProvider for LakeSchemaProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.lake.table_names(&self.schema).unwrap_or_else(|e| {
            tracing::warn!(schema = %self.schema, error = %e, "cannot list tables");
            Vec::new()
        })
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(entry) = self
            .lake
            .table(&self.schema, name)
            .map_err(|e| DataFusionError::External(Box::new(e)))?
        else {
            return Ok(None);
        };
        let modified = std::fs::metadata(&entry.location)
            .and_then(|m| m.modified())
            .ok();
        let key = (self.schema.clone(), name.to_owned());
        if let Ok(cache) = self.tables.lock() {
            if let Some((stamp, table)) = cache.get(&key) {
                if *stamp == modified && modified.is_some() {
                    return Ok(Some(table.clone()));
                }
            }
        }
        let table = listing_table(self.infer_state.as_ref(), &entry).await?;
        if let Ok(mut cache) = self.tables.lock() {
            cache.insert(key, (modified, table.clone()));
        }
        Ok(Some(table))
    }

    fn table_exist(&self, name: &str) -> bool {
        matches!(self.lake.table(&self.schema, name), Ok(Some(_)))
    }
}

/// Build a [`ListingTable`] over a table directory, inferring its schema.
pub async fn listing_table(
    state: &dyn Session,
    entry: &TableEntry,
) -> Result<Arc<dyn TableProvider>> {
    let format: Arc<dyn DfFileFormat> = match entry.format {
        FileFormat::Parquet => Arc::new(ParquetFormat::default()),
        FileFormat::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
        FileFormat::Json => Arc::new(JsonFormat::default()),
    };
    let location = entry.location.to_str().ok_or_else(|| {
        DataFusionError::Plan(format!(
            "table {} has a location that is not UTF-8",
            entry.qualified_name()
        ))
    })?;
    let url = ListingTableUrl::parse(format!("{location}/"))?;
    let extension = match entry.format {
        FileFormat::Json => "",
        other => other.extension(),
    };
    let options = ListingOptions::new(format)
        .with_file_extension(extension)
        .with_collect_stat(true);
    let schema = options.infer_schema(state, &url).await.map_err(|e| {
        DataFusionError::Context(
            format!("reading the schema of {}", entry.qualified_name()),
            Box::new(e),
        )
    })?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}
