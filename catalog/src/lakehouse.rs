//! The lakehouse catalog: Iceberg namespaces (Weir schemas) and tables in an
//! Iceberg SQL catalog database, plus Weir's registrations of external
//! tables over raw files, kept in the same database.
//!
//! ```text
//! catalog database (SQLite file, or PostgreSQL for a shared deployment)
//!   iceberg_namespace_properties   ┐ iceberg-rust's SqlCatalog, the same
//!   iceberg_tables                 ┘ tables PyIceberg's SqlCatalog uses
//!   weir_external_tables           Weir's schema-on-read registrations
//! lake (directory or s3://bucket/prefix)
//!   <schema>/<table>/metadata/*.metadata.json, snap-*.avro, *.avro
//!   <schema>/<table>/data/...parquet
//! ```
//!
//! Iceberg tables are loaded by metadata pointer: every statement reads the
//! table's current `metadata_location` (one indexed query) and reuses the
//! parsed metadata while the pointer is unchanged, so a statement always
//! sees the latest commit, whoever made it (another Weir, PyIceberg, Spark).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iceberg::io::{FileIO, FileIOBuilder};
use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalog, SqlCatalogBuilder};
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use crate::access::AccessStore;
use crate::iceberg_io::{LakeStorage, LakeStorageFactory};
use crate::{names, store, CatalogError, FileFormat, LakeLocation, Result, S3Options};

/// How to open the lakehouse.
#[derive(Debug, Clone)]
pub struct LakeConfig {
    /// Weir's name for the catalog (`lake`); also the Iceberg catalog name
    /// in the catalog database, which PyIceberg must be given.
    pub name: String,
    /// Where the files live.
    pub location: LakeLocation,
    /// S3 settings when `location` is on S3.
    pub s3: S3Options,
    /// The catalog database: `sqlite:///path/catalog.db` or `postgres://...`.
    pub catalog_url: String,
}

/// One external table registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalTable {
    /// Schema (namespace).
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Directory (or single file) URI on the lake.
    pub location: String,
    /// Format of the files.
    pub format: FileFormat,
    /// Columns as `(name, Arrow type name, nullable)`; declared or inferred
    /// at registration.
    pub columns: Vec<(String, String, bool)>,
    /// Hive-style partition columns (`dt=2026-01-01/` folders), `(name, type)`.
    pub partition_columns: Vec<(String, String)>,
    /// Format options (`OPTIONS (...)`), lower-case keys.
    pub options: BTreeMap<String, String>,
}

/// Names in one schema.
#[derive(Debug, Clone, Default)]
struct Listing {
    schemas: Vec<String>,
    tables: HashMap<String, Vec<String>>,
}

/// The lakehouse catalog.
pub struct Lakehouse {
    name: String,
    location: LakeLocation,
    store: Arc<dyn ObjectStore>,
    file_io: FileIO,
    iceberg: Arc<SqlCatalog>,
    pool: AnyPool,
    dollar: bool,
    listing: Mutex<Listing>,
    /// [`Self::table_locations`]' last answer, with the fingerprint of the
    /// catalog rows it was read from.
    locations: Mutex<Option<(u64, Vec<TableLocation>)>>,
    tables: Mutex<HashMap<(String, String), Table>>,
    gates: Mutex<HashMap<(String, String), CommitGate>>,
}

impl std::fmt::Debug for Lakehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lakehouse")
            .field("name", &self.name)
            .field("location", &self.location)
            .finish()
    }
}

const EXTERNAL_TABLE: &str = "weir_external_tables";

/// A table and where its files are: `(schema, table, canonical URI)`.
pub type TableLocation = (String, String, String);

/// The advisory lock under which a server creates the catalog's tables in
/// PostgreSQL (`void` is selected from, never returned: sqlx's Any driver
/// cannot decode it).
const SCHEMA_LOCK: &str = "SELECT 1 FROM pg_advisory_lock(hashtext('weir catalog schema'))";
const SCHEMA_UNLOCK: &str = "SELECT 1 FROM pg_advisory_unlock(hashtext('weir catalog schema'))";

/// Serializes commits to one table within this process.
pub type CommitGate = Arc<tokio::sync::Mutex<()>>;

impl Lakehouse {
    /// Open (creating on first use) the catalog database and the lake.
    pub async fn open(config: &LakeConfig) -> Result<Self> {
        names::validate(&config.name)?;
        let store = store::build_store(&config.location, &config.s3)?;
        let storage = LakeStorage::new(config.location.clone(), store.clone());
        let factory = Arc::new(LakeStorageFactory::new(storage));
        let file_io = FileIOBuilder::new(factory.clone()).build();
        let url = config.catalog_url.as_str();
        let dollar = url.starts_with("postgres");
        if !dollar && !url.starts_with("sqlite:") {
            return Err(CatalogError::Config(format!(
                "catalog database URL must start with sqlite: or postgres:// (got {})",
                redact_url(url)
            )));
        }
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| CatalogError::Database(format!("cannot open {}: {e}", redact_url(url))))?;
        if !dollar {
            // Readers and the one writer of a commit must not block each
            // other: WAL (kept in the file, so every connection uses it).
            // Switching needs an exclusive lock busy_timeout does not wait
            // for: other servers opening the same file may hold it.
            let mut attempts = 0;
            loop {
                let mode: String = sqlx::query("PRAGMA journal_mode")
                    .fetch_one(&pool)
                    .await?
                    .try_get(0)?;
                if mode.eq_ignore_ascii_case("wal") {
                    break;
                }
                match sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await
                {
                    Ok(_) => break,
                    Err(_) if attempts < 50 => {
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // Servers starting together on a new PostgreSQL catalog would race
        // to create its tables, and PostgreSQL's `CREATE TABLE IF NOT
        // EXISTS` is not safe under concurrency (a duplicate key on
        // pg_type): one server at a time creates them, under an advisory
        // lock that ends with this session (so a crash cannot keep it).
        let mut schema_lock = None;
        if dollar {
            let mut conn = pool.acquire().await?;
            sqlx::query(SCHEMA_LOCK).execute(&mut *conn).await?;
            schema_lock = Some(conn);
        }
        let iceberg = SqlCatalogBuilder::default()
            .uri(url)
            .warehouse_location(config.location.uri())
            .sql_bind_style(if dollar {
                SqlBindStyle::DollarNumeric
            } else {
                SqlBindStyle::QMark
            })
            .with_storage_factory(factory)
            .load(&config.name, HashMap::new())
            .await
            .map_err(|e| {
                CatalogError::Database(format!(
                    "cannot open the catalog database {}: {e}",
                    redact_url(url)
                ))
            })?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {EXTERNAL_TABLE} (
                catalog_name VARCHAR(255) NOT NULL,
                table_namespace VARCHAR(255) NOT NULL,
                table_name VARCHAR(255) NOT NULL,
                definition TEXT NOT NULL,
                PRIMARY KEY (catalog_name, table_namespace, table_name))"
        ))
        .execute(&pool)
        .await?;
        for statement in AccessStore::schema() {
            sqlx::query(&statement).execute(&pool).await?;
        }
        sqlx::query(AccessStore::seed_version(dollar))
            .execute(&pool)
            .await?;
        if let Some(mut conn) = schema_lock {
            sqlx::query(SCHEMA_UNLOCK).execute(&mut *conn).await?;
        }
        let lake = Self {
            name: config.name.clone(),
            location: config.location.clone(),
            store,
            file_io,
            iceberg: Arc::new(iceberg),
            pool,
            dollar,
            listing: Mutex::default(),
            locations: Mutex::default(),
            tables: Mutex::default(),
            gates: Mutex::default(),
        };
        lake.refresh().await?;
        Ok(lake)
    }

    /// The roles, memberships and rules kept in this catalog database.
    pub fn access(&self) -> AccessStore {
        AccessStore::new(self.pool.clone(), self.dollar)
    }

    /// Weir's name for this catalog.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the files live.
    pub fn location(&self) -> &LakeLocation {
        &self.location
    }

    /// The lake's object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Iceberg file I/O on the lake.
    pub fn file_io(&self) -> &FileIO {
        &self.file_io
    }

    /// The Iceberg catalog (for transactions).
    pub fn iceberg(&self) -> Arc<dyn Catalog> {
        self.iceberg.clone()
    }

    /// Default location of a new table.
    pub fn table_location(&self, schema: &str, table: &str) -> String {
        self.location.join(&format!("{schema}/{table}"))
    }

    fn sql(&self, query: &str) -> String {
        bind_style(query, self.dollar)
    }

    /// The lock commits to one table take in this process: sessions of one
    /// server commit one after the other instead of conflicting and
    /// retrying (writers elsewhere are still handled by optimistic retry).
    pub fn commit_gate(&self, schema: &str, table: &str) -> CommitGate {
        match self.gates.lock() {
            Ok(mut gates) => gates
                .entry((schema.to_owned(), table.to_owned()))
                .or_default()
                .clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Re-read schema and table names (after changes made elsewhere).
    pub async fn refresh(&self) -> Result<()> {
        // Three queries, however many schemas: namespaces, then the names
        // of every Iceberg and every external table of this catalog.
        let mut listing = Listing::default();
        let namespaces = self
            .iceberg
            .list_namespaces(None)
            .await
            .map_err(|e| CatalogError::iceberg("listing schemas", e))?;
        for ns in namespaces {
            if let [schema] = ns.as_ref().as_slice() {
                listing.tables.insert(schema.clone(), Vec::new());
                listing.schemas.push(schema.clone());
            }
        }
        for query in [
            "SELECT table_namespace, table_name FROM iceberg_tables
             WHERE catalog_name = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
            "SELECT table_namespace, table_name FROM weir_external_tables WHERE catalog_name = ?",
        ] {
            let rows = sqlx::query(&self.sql(query))
                .bind(self.name.as_str())
                .fetch_all(&self.pool)
                .await?;
            for row in rows {
                let schema: String = row.try_get(0)?;
                if let Some(tables) = listing.tables.get_mut(&schema) {
                    tables.push(row.try_get(1)?);
                }
            }
        }
        for tables in listing.tables.values_mut() {
            tables.sort();
            tables.dedup();
        }
        listing.schemas.sort();
        if let Ok(mut l) = self.listing.lock() {
            *l = listing;
        }
        Ok(())
    }

    /// Schema names as of the last refresh.
    pub fn schema_names(&self) -> Vec<String> {
        self.listing
            .lock()
            .map(|l| l.schemas.clone())
            .unwrap_or_default()
    }

    /// Table names of `schema` as of the last refresh.
    pub fn table_names(&self, schema: &str) -> Vec<String> {
        self.listing
            .lock()
            .ok()
            .and_then(|l| l.tables.get(schema).cloned())
            .unwrap_or_default()
    }

    /// Whether the schema exists (asks the database).
    pub async fn schema_exists(&self, schema: &str) -> Result<bool> {
        if names::validate(schema).is_err() {
            return Ok(false);
        }
        self.iceberg
            .namespace_exists(&NamespaceIdent::new(schema.to_owned()))
            .await
            .map_err(|e| CatalogError::iceberg(format!("looking up schema {schema}"), e))
    }

    /// `CREATE SCHEMA`.
    pub async fn create_schema(&self, schema: &str, if_not_exists: bool) -> Result<()> {
        names::validate(schema)?;
        if self.schema_exists(schema).await? {
            if if_not_exists {
                return Ok(());
            }
            return Err(CatalogError::SchemaExists(schema.to_owned()));
        }
        let ns = NamespaceIdent::new(schema.to_owned());
        let result = self.iceberg.create_namespace(&ns, HashMap::new()).await;
        match result {
            Ok(_) => {}
            Err(e) if e.kind() == iceberg::ErrorKind::NamespaceAlreadyExists => {
                if !if_not_exists {
                    return Err(CatalogError::SchemaExists(schema.to_owned()));
                }
            }
            // Another session may have created it meanwhile.
            Err(_) if if_not_exists && self.schema_exists(schema).await? => {}
            Err(e) => {
                return Err(CatalogError::iceberg(
                    format!("creating schema {schema}"),
                    e,
                ))
            }
        }
        self.refresh().await
    }

    /// `DROP SCHEMA`; with `cascade`, its tables go too.
    pub async fn drop_schema(&self, schema: &str, if_exists: bool, cascade: bool) -> Result<()> {
        if !self.schema_exists(schema).await? {
            if if_exists {
                return Ok(());
            }
            return Err(CatalogError::NoSuchSchema(schema.to_owned()));
        }
        let ns = NamespaceIdent::new(schema.to_owned());
        let iceberg_tables = self
            .iceberg
            .list_tables(&ns)
            .await
            .map_err(|e| CatalogError::iceberg(format!("listing tables of {schema}"), e))?;
        let external = self.external_tables(schema).await?;
        if !cascade && (!iceberg_tables.is_empty() || !external.is_empty()) {
            let mut names: Vec<String> = iceberg_tables
                .iter()
                .map(|t| t.name().to_owned())
                .chain(external.iter().map(|t| t.name.clone()))
                .collect();
            names.sort();
            return Err(CatalogError::SchemaNotEmpty(
                schema.to_owned(),
                names.join(", "),
            ));
        }
        for name in iceberg_tables
            .iter()
            .map(|t| t.name())
            .chain(external.iter().map(|t| t.name.as_str()))
        {
            self.drop_table_entry(schema, name, true).await?;
        }
        self.iceberg
            .drop_namespace(&ns)
            .await
            .map_err(|e| CatalogError::iceberg(format!("dropping schema {schema}"), e))?;
        self.refresh().await
    }

    /// The current metadata pointer of an Iceberg table, `None` if there is
    /// no such Iceberg table.
    pub async fn metadata_location(&self, schema: &str, table: &str) -> Result<Option<String>> {
        let row = sqlx::query(&self.sql(
            "SELECT metadata_location FROM iceberg_tables
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
        ))
        .bind(self.name.as_str())
        .bind(schema)
        .bind(table)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<String>, _>(0)?,
            None => None,
        })
    }

    /// An Iceberg table at its current snapshot, `None` if there is none.
    pub async fn load_table(&self, schema: &str, table: &str) -> Result<Option<Table>> {
        let Some(location) = self.metadata_location(schema, table).await? else {
            return Ok(None);
        };
        let key = (schema.to_owned(), table.to_owned());
        if let Ok(cache) = self.tables.lock() {
            if let Some(t) = cache.get(&key) {
                if t.metadata_location() == Some(location.as_str()) {
                    return Ok(Some(t.clone()));
                }
            }
        }
        let qualified = format!("{}.{schema}.{table}", self.name);
        let metadata = TableMetadata::read_from(&self.file_io, &location)
            .await
            .map_err(|e| {
                CatalogError::iceberg(format!("reading the metadata of {qualified}"), e)
            })?;
        let loaded = Table::builder()
            .file_io(self.file_io.clone())
            .identifier(TableIdent::new(
                NamespaceIdent::new(schema.to_owned()),
                table.to_owned(),
            ))
            .metadata_location(location)
            .metadata(metadata)
            .runtime(
                iceberg::Runtime::try_current()
                    .map_err(|e| CatalogError::iceberg("no runtime", e))?,
            )
            .build()
            .map_err(|e| CatalogError::iceberg(format!("loading {qualified}"), e))?;
        if let Ok(mut cache) = self.tables.lock() {
            cache.insert(key, loaded.clone());
        }
        Ok(Some(loaded))
    }

    /// Where every table of the lake keeps its files, as of now (listings
    /// re-read): `(schema, table, canonical URI)`, Iceberg tables at their
    /// metadata's location and external tables at their registered one.
    /// Read again only when a table's catalog row changed (two queries).
    pub async fn table_locations(&self) -> Result<Vec<TableLocation>> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for query in [
            "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables
             WHERE catalog_name = ? ORDER BY table_namespace, table_name",
            "SELECT table_namespace, table_name, definition FROM weir_external_tables
             WHERE catalog_name = ? ORDER BY table_namespace, table_name",
        ] {
            let rows = sqlx::query(&self.sql(query))
                .bind(self.name.as_str())
                .fetch_all(&self.pool)
                .await?;
            for row in rows {
                for i in 0..3 {
                    row.try_get::<Option<String>, _>(i)?.hash(&mut hasher);
                }
            }
            0xffu8.hash(&mut hasher);
        }
        let fingerprint = hasher.finish();
        if let Ok(cached) = self.locations.lock() {
            if let Some((seen, locations)) = cached.as_ref() {
                if *seen == fingerprint {
                    return Ok(locations.clone());
                }
            }
        }
        let locations = self.read_table_locations().await?;
        if let Ok(mut cached) = self.locations.lock() {
            *cached = Some((fingerprint, locations.clone()));
        }
        Ok(locations)
    }

    async fn read_table_locations(&self) -> Result<Vec<TableLocation>> {
        self.refresh().await?;
        let mut out = Vec::new();
        for schema in self.schema_names() {
            let external = self.external_tables(&schema).await?;
            for table in self.table_names(&schema) {
                let location = match external.iter().find(|e| e.name == table) {
                    Some(e) => e.location.clone(),
                    None => match self.load_table(&schema, &table).await? {
                        Some(t) => t.metadata().location().to_owned(),
                        None => continue,
                    },
                };
                let canonical = self.location.canonical(&location).unwrap_or(location);
                out.push((schema.clone(), table, canonical));
            }
        }
        Ok(out)
    }

    /// Whether any table (Iceberg or external) has this name.
    pub async fn table_exists(&self, schema: &str, table: &str) -> Result<bool> {
        Ok(self.metadata_location(schema, table).await?.is_some()
            || self.external_table(schema, table).await?.is_some())
    }

    /// `DROP TABLE`: the catalog entry goes; an Iceberg table's files are
    /// deleted too (`purge`), an external table's raw files never are.
    pub async fn drop_table(&self, schema: &str, table: &str, if_exists: bool) -> Result<()> {
        self.drop_table_entry(schema, table, if_exists).await?;
        self.refresh().await
    }

    /// [`Self::drop_table`] without re-reading the listings.
    async fn drop_table_entry(&self, schema: &str, table: &str, if_exists: bool) -> Result<()> {
        let qualified = format!("{schema}.{table}");
        if self.external_table(schema, table).await?.is_some() {
            sqlx::query(&self.sql(&format!(
                "DELETE FROM {EXTERNAL_TABLE}
                 WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
            )))
            .bind(self.name.as_str())
            .bind(schema)
            .bind(table)
            .execute(&self.pool)
            .await?;
            return Ok(());
        }
        let ident = TableIdent::new(NamespaceIdent::new(schema.to_owned()), table.to_owned());
        let loaded = match self.load_table(schema, table).await? {
            Some(t) => t,
            None if if_exists => return Ok(()),
            None => return Err(CatalogError::NoSuchTable(qualified)),
        };
        self.iceberg
            .drop_table(&ident)
            .await
            .map_err(|e| CatalogError::iceberg(format!("dropping {qualified}"), e))?;
        if let Ok(mut cache) = self.tables.lock() {
            cache.remove(&(schema.to_owned(), table.to_owned()));
        }
        // The entry is gone: nobody can reach the files any more.
        if let Err(e) = iceberg::drop_table_data(&loaded).await {
            tracing::warn!(table = %qualified, error = %e, "dropped; some files could not be deleted");
        }
        Ok(())
    }

    /// Make a table whose metadata file is already written visible, in one
    /// insert (how CREATE TABLE and CREATE TABLE AS publish).
    pub async fn register_table(
        &self,
        schema: &str,
        table: &str,
        metadata_location: String,
    ) -> Result<()> {
        let qualified = format!("{schema}.{table}");
        if self.external_table(schema, table).await?.is_some() {
            return Err(CatalogError::TableExists(qualified));
        }
        let ident = TableIdent::new(NamespaceIdent::new(schema.to_owned()), table.to_owned());
        match self.iceberg.register_table(&ident, metadata_location).await {
            Ok(_) => {}
            Err(e) if e.kind() == iceberg::ErrorKind::TableAlreadyExists => {
                return Err(CatalogError::TableExists(qualified))
            }
            Err(e) => return Err(CatalogError::iceberg(format!("creating {qualified}"), e)),
        }
        self.refresh().await
    }

    /// Replace an Iceberg table's schema (ALTER TABLE): `change` derives the
    /// new schema from the current metadata. The new metadata is written,
    /// then the catalog's pointer swapped only if it is still the one read;
    /// on a conflict the change is re-derived from the new metadata.
    pub async fn evolve_schema<F>(&self, schema: &str, table: &str, change: F) -> Result<()>
    where
        F: Fn(&TableMetadata) -> Result<iceberg::spec::Schema>,
    {
        let qualified = format!("{schema}.{table}");
        for _attempt in 0..50 {
            let Some(current) = self.load_table(schema, table).await? else {
                return Err(CatalogError::NoSuchTable(qualified));
            };
            let location = current
                .metadata_location()
                .ok_or_else(|| CatalogError::NoSuchTable(qualified.clone()))?
                .to_owned();
            let new_schema = change(current.metadata())?;
            let built = iceberg::spec::TableMetadataBuilder::new_from_metadata(
                current.metadata().clone(),
                Some(location.clone()),
            )
            .add_current_schema(new_schema)
            .and_then(|b| b.build())
            .map_err(|e| CatalogError::iceberg(format!("changing the schema of {qualified}"), e))?;
            let next = iceberg::MetadataLocation::from_str(&location)
                .map_err(|e| CatalogError::iceberg(format!("altering {qualified}"), e))?
                .with_next_version()
                .with_new_metadata(&built.metadata);
            built
                .metadata
                .write_to(&self.file_io, &next)
                .await
                .map_err(|e| {
                    CatalogError::iceberg(format!("writing the metadata of {qualified}"), e)
                })?;
            let swapped = sqlx::query(&self.sql(
                "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
                 WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
                   AND metadata_location = ?",
            ))
            .bind(next.to_string())
            .bind(location.as_str())
            .bind(self.name.as_str())
            .bind(schema)
            .bind(table)
            .bind(location.as_str())
            .execute(&self.pool)
            .await?;
            if swapped.rows_affected() == 1 {
                return Ok(());
            }
            // Someone committed first: the metadata written is never
            // referenced; derive the change again from the new state.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(CatalogError::CommitConflict {
            table: qualified,
            message: "the table kept changing; gave up after 50 attempts".into(),
        })
    }

    /// External tables of a schema.
    pub async fn external_tables(&self, schema: &str) -> Result<Vec<ExternalTable>> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT definition FROM {EXTERNAL_TABLE}
             WHERE catalog_name = ? AND table_namespace = ? ORDER BY table_name"
        )))
        .bind(self.name.as_str())
        .bind(schema)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_external).collect()
    }

    /// One external table.
    pub async fn external_table(&self, schema: &str, table: &str) -> Result<Option<ExternalTable>> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT definition FROM {EXTERNAL_TABLE}
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
        )))
        .bind(self.name.as_str())
        .bind(schema)
        .bind(table)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode_external).transpose()
    }

    /// Register an external table (`CREATE EXTERNAL TABLE`).
    pub async fn create_external_table(
        &self,
        table: &ExternalTable,
        if_not_exists: bool,
    ) -> Result<()> {
        names::validate(&table.name)?;
        let qualified = format!("{}.{}", table.schema, table.name);
        if !self.schema_exists(&table.schema).await? {
            return Err(CatalogError::NoSuchSchema(table.schema.clone()));
        }
        if self.table_exists(&table.schema, &table.name).await? {
            if if_not_exists {
                return Ok(());
            }
            return Err(CatalogError::TableExists(qualified));
        }
        let definition = serde_json::to_string(table)
            .map_err(|e| CatalogError::Config(format!("cannot encode {qualified}: {e}")))?;
        let inserted = sqlx::query(&self.sql(&format!(
            "INSERT INTO {EXTERNAL_TABLE} (catalog_name, table_namespace, table_name, definition)
             VALUES (?, ?, ?, ?)"
        )))
        .bind(self.name.as_str())
        .bind(table.schema.as_str())
        .bind(table.name.as_str())
        .bind(definition)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                if !if_not_exists {
                    return Err(CatalogError::TableExists(qualified));
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.refresh().await
    }
}

fn decode_external(row: &sqlx::any::AnyRow) -> Result<ExternalTable> {
    let text: String = row.try_get(0)?;
    serde_json::from_str(&text)
        .map_err(|e| CatalogError::Database(format!("unreadable external table definition: {e}")))
}

/// `query` with its `?` placeholders as `$1, $2…` for PostgreSQL.
pub(crate) fn bind_style(query: &str, dollar: bool) -> String {
    if !dollar {
        return query.to_owned();
    }
    let mut out = String::with_capacity(query.len() + 8);
    let mut n = 0;
    for c in query.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A database URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::from_str(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("********"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => url.split('@').next_back().unwrap_or("").to_owned(),
    }
}
