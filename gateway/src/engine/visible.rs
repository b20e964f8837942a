//! The catalogs as one user sees them: every session plans over a
//! [`VisibleCatalogs`] that lists and resolves only the catalogs, schemas
//! and tables the user holds some privilege on (or in), so
//! `information_schema`, `pg_catalog` (`pg_class`, `pg_namespace`,
//! `pg_attribute`, …), psql's `\dt`/`\d`/`\l` and tab completion, and
//! `SHOW TABLES` agree with what the user may read, and a hidden table
//! answers exactly as a missing one does.
//!
//! Listings read a second view of the same objects ([`VisibleCatalogs`]'s
//! listing view): there a table shows only the columns the user holds
//! some privilege on, as PostgreSQL's `information_schema.columns` does,
//! so `pg_attribute`, psql's `\d` and tab completion name no column the
//! user may not use. Planning keeps every column, so a statement naming a
//! denied column fails with `42501`, not as a missing column.
//!
//! Decisions are those of the gate of the statement under way
//! ([`Gate::lists`], read from the session's [`GateSlot`] at each lookup),
//! so a statement lists by one rule version and a GRANT shows up in the
//! next statement's listings. Superusers see everything. Writes (registering, dropping) pass through untouched: the
//! statements that do them are authorised before they get here.
//!
//! [`Gate::lists`]: weir_policies::Gate::lists

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, SchemaProvider, Session, TableProvider,
};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use weir_policies::objects::is_system_schema;
use weir_policies::GateSlot;

use super::pg_catalog::WeirPgCatalog;

/// What the per-user views share with the engine.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The engine's catalogs.
    pub inner: Arc<dyn CatalogProviderList>,
    /// `pg_catalog`'s tables that are the same for everyone.
    pub static_tables: Arc<PgCatalogStaticTables>,
    /// `pg_catalog.weir_audit_log`.
    pub audit_log: Arc<dyn TableProvider>,
}

/// The catalog list one session plans over.
#[derive(Debug)]
pub struct VisibleCatalogs {
    shared: Shared,
    /// The session's gate: the statement under way decides.
    gate: GateSlot,
    /// This session's `pg_catalog` per catalog: OIDs stay the same for the
    /// session's life (psql reads an OID, then asks about it).
    pg_catalogs: Mutex<HashMap<String, Arc<dyn SchemaProvider>>>,
    this: std::sync::Weak<VisibleCatalogs>,
    /// The view listings read: `None` in that view itself, whose tables
    /// show only the columns the user holds a privilege on.
    listing: Option<Arc<VisibleCatalogs>>,
}

impl VisibleCatalogs {
    /// The catalogs as the statements of the session whose gate is in
    /// `gate` see them.
    pub fn new(shared: Shared, gate: GateSlot) -> Arc<Self> {
        let listing = Self::view(shared.clone(), gate.clone(), None);
        Self::view(shared, gate, Some(listing))
    }

    fn view(shared: Shared, gate: GateSlot, listing: Option<Arc<Self>>) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            shared,
            gate,
            pg_catalogs: Mutex::default(),
            this: this.clone(),
            listing,
        })
    }

    /// The view `information_schema` and `pg_catalog` list from.
    fn listing(&self) -> Option<Arc<Self>> {
        match &self.listing {
            Some(listing) => Some(Arc::clone(listing)),
            None => self.this.upgrade(),
        }
    }

    fn lists(&self, parts: &[&str]) -> bool {
        self.gate.get().lists(parts)
    }

    /// `table` as listings show it to the user: only the columns they hold
    /// some privilege on (none hidden from a superuser).
    fn listed_columns(
        &self,
        parts: [&str; 3],
        table: Arc<dyn TableProvider>,
    ) -> Arc<dyn TableProvider> {
        let gate = self.gate.get();
        if !gate.restricted() {
            return table;
        }
        let schema = table.schema();
        let shown: Vec<usize> = (0..schema.fields().len())
            .filter(|i| gate.lists_column(parts, schema.field(*i).name()))
            .collect();
        if shown.len() == schema.fields().len() {
            return table;
        }
        Arc::new(ListedColumns::new(table, shown))
    }

    fn pg_catalog(&self, catalog: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(listing) = &self.listing {
            return listing.pg_catalog(catalog);
        }
        let mut cache = match self.pg_catalogs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(schema) = cache.get(catalog) {
            return Some(Arc::clone(schema));
        }
        let me: Arc<dyn CatalogProviderList> = self.this.upgrade()?;
        let provider = PgCatalogSchemaProvider::try_new(
            Arc::clone(&me),
            Arc::clone(&self.shared.static_tables),
            datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
        )
        .ok()?;
        let schema: Arc<dyn SchemaProvider> = Arc::new(WeirPgCatalog::new(
            Arc::new(provider),
            me,
            Arc::clone(&self.shared.audit_log),
        ));
        cache.insert(catalog.to_owned(), Arc::clone(&schema));
        Some(schema)
    }
}

impl CatalogProviderList for VisibleCatalogs {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.shared.inner.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .inner
            .catalog_names()
            .into_iter()
            .filter(|c| self.lists(&[c]))
            .collect();
        names.sort();
        names
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        // A catalog resolves even when nothing in it is visible: its
        // pg_catalog and information_schema still answer (empty).
        let inner = self.shared.inner.catalog(name)?;
        Some(Arc::new(VisibleCatalog {
            name: name.to_owned(),
            inner,
            list: self.this.upgrade()?,
        }))
    }
}

/// One catalog, as the user sees it.
#[derive(Debug)]
struct VisibleCatalog {
    name: String,
    inner: Arc<dyn CatalogProvider>,
    list: Arc<VisibleCatalogs>,
}

impl CatalogProvider for VisibleCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        self.inner
            .schema_names()
            .into_iter()
            .filter(|s| is_system_schema(s) || self.list.lists(&[&self.name, s]))
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == "pg_catalog" {
            return self.list.pg_catalog(&self.name);
        }
        if name == "information_schema" {
            // Served here rather than by DataFusion's session (the engine
            // turns its own off), so that it reads the listing view.
            let listing: Arc<dyn CatalogProviderList> = self.list.listing()?;
            return Some(Arc::new(InformationSchemaProvider::new(listing)));
        }
        let inner = self.inner.schema(name)?;
        if !self.list.lists(&[&self.name, name]) {
            return None;
        }
        Some(Arc::new(VisibleSchema {
            catalog: self.name.clone(),
            schema: name.to_owned(),
            inner,
            list: Arc::clone(&self.list),
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
}

/// One schema, as the user sees it.
#[derive(Debug)]
struct VisibleSchema {
    catalog: String,
    schema: String,
    inner: Arc<dyn SchemaProvider>,
    list: Arc<VisibleCatalogs>,
}

impl VisibleSchema {
    /// `t@…` (time travel) and `t$snapshots` (metadata) are listed with `t`.
    fn lists(&self, table: &str) -> bool {
        let base = weir_catalog::names::TableName::parse(table).base();
        self.list.lists(&[&self.catalog, &self.schema, base])
    }
}

#[async_trait]
impl SchemaProvider for VisibleSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn owner_name(&self) -> Option<&str> {
        self.inner.owner_name()
    }

    fn table_names(&self) -> Vec<String> {
        self.inner
            .table_names()
            .into_iter()
            .filter(|t| self.lists(t))
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !self.lists(name) {
            return Ok(None);
        }
        let table = self.inner.table(name).await?;
        Ok(match (table, &self.list.listing) {
            (Some(table), None) => Some(
                self.list
                    .listed_columns([&self.catalog, &self.schema, name], table),
            ),
            (table, _) => table,
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        self.lists(name) && self.inner.table_exist(name)
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }
}

/// A table as a listing shows it: some of its columns. Listings read only
/// its schema; a scan reads the inner table's columns at those places.
#[derive(Debug)]
struct ListedColumns {
    inner: Arc<dyn TableProvider>,
    /// The inner table's positions of the columns shown.
    shown: Vec<usize>,
    schema: SchemaRef,
}

impl ListedColumns {
    fn new(inner: Arc<dyn TableProvider>, shown: Vec<usize>) -> Self {
        let full = inner.schema();
        let fields: Vec<_> = shown
            .iter()
            .map(|i| Arc::clone(&full.fields()[*i]))
            .collect();
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
            fields,
            full.metadata().clone(),
        ));
        Self {
            inner,
            shown,
            schema,
        }
    }
}

#[async_trait]
impl TableProvider for ListedColumns {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let inner: Vec<usize> = match projection {
            Some(p) => p
                .iter()
                .filter_map(|i| self.shown.get(*i).copied())
                .collect(),
            None => self.shown.clone(),
        };
        self.inner.scan(state, Some(&inner), filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}
