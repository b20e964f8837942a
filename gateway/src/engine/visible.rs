//! The catalogs as one user sees them: every session plans over a
//! [`VisibleCatalogs`] that lists and resolves only the catalogs, schemas
//! and tables the user holds some privilege on (or in), so
//! `information_schema`, `pg_catalog` (`pg_class`, `pg_namespace`,
//! `pg_attribute`, …), psql's `\dt`/`\d`/`\l` and tab completion, and
//! `SHOW TABLES` agree with what the user may read, and a hidden table
//! answers exactly as a missing one does.
//!
//! Decisions are the policies' current ones ([`Authorizer::lists`]), read
//! at each lookup, so a GRANT shows up in listings at once. Superusers see
//! everything. Writes (registering, dropping) pass through untouched: the
//! statements that do them are authorised before they get here.
//!
//! [`Authorizer::lists`]: weir_policies::authorizer::Authorizer::lists

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::error::Result;
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use weir_policies::objects::object_name;
use weir_policies::{Policies, Subject};

use super::pg_catalog::WeirPgCatalog;

/// Schemas every user sees.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// What the per-user views share with the engine.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The engine's catalogs.
    pub inner: Arc<dyn CatalogProviderList>,
    /// The rules in force.
    pub policies: Arc<Policies>,
    /// `pg_catalog`'s tables that are the same for everyone.
    pub static_tables: Arc<PgCatalogStaticTables>,
    /// `pg_catalog.weir_audit_log`.
    pub audit_log: Arc<dyn TableProvider>,
}

/// The catalog list one session plans over.
#[derive(Debug)]
pub struct VisibleCatalogs {
    shared: Shared,
    subject: Subject,
    /// This session's `pg_catalog` per catalog: OIDs stay the same for the
    /// session's life (psql reads an OID, then asks about it).
    pg_catalogs: Mutex<HashMap<String, Arc<dyn SchemaProvider>>>,
    this: std::sync::Weak<VisibleCatalogs>,
}

impl VisibleCatalogs {
    /// The catalogs as `subject` sees them.
    pub fn new(shared: Shared, subject: Subject) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            shared,
            subject,
            pg_catalogs: Mutex::default(),
            this: this.clone(),
        })
    }

    fn lists(&self, parts: &[&str]) -> bool {
        let auth = self.shared.policies.current();
        auth.is_superuser(&self.subject) || auth.lists(&self.subject, &object_name(parts))
    }

    fn pg_catalog(&self, catalog: &str) -> Option<Arc<dyn SchemaProvider>> {
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
            Arc::clone(&self.shared.policies),
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
            .filter(|s| SYSTEM_SCHEMAS.contains(&s.as_str()) || self.list.lists(&[&self.name, s]))
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == "pg_catalog" {
            return self.list.pg_catalog(&self.name);
        }
        let inner = self.inner.schema(name)?;
        if name == "information_schema" {
            return Some(inner);
        }
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
        let base = match table.split_once('$') {
            Some((base, _)) => base,
            None => table.split_once('@').map_or(table, |(base, _)| base),
        };
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
        self.inner.table(name).await
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
