//! Weir's adjustments to `datafusion-pg-catalog`'s `pg_catalog` schema:
//! `pg_database` lists exactly Weir's catalogs (the library always adds a
//! `postgres` database, which does not exist here), `pg_roles`, `pg_user`
//! and `pg_auth_members` hold Weir's roles (see [`super::roles`]), and
//! Weir's own `weir_audit_log` (see [`super::audit_log`]).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProviderList, SchemaProvider};
use datafusion::datasource::{provider_as_source, TableProvider, ViewTable};
use datafusion::error::Result;
use datafusion::logical_expr::{col, lit, LogicalPlanBuilder};

/// `pg_catalog` with Weir's corrections.
#[derive(Debug)]
pub struct WeirPgCatalog {
    inner: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
    audit_log: Arc<dyn TableProvider>,
}

impl WeirPgCatalog {
    /// Wrap the library's schema.
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        catalogs: Arc<dyn CatalogProviderList>,
        audit_log: Arc<dyn TableProvider>,
    ) -> Self {
        Self {
            inner,
            catalogs,
            audit_log,
        }
    }
}

#[async_trait]
impl SchemaProvider for WeirPgCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.push(super::audit_log::NAME.to_owned());
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name == super::audit_log::NAME {
            return Ok(Some(Arc::clone(&self.audit_log)));
        }
        if let Some(view) = super::roles::RoleView::by_name(name) {
            return Ok(Some(Arc::new(super::roles::RolesTable::new(view))));
        }
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if !name.eq_ignore_ascii_case("pg_database") {
            return Ok(Some(table));
        }
        let names = self.catalogs.catalog_names().into_iter().map(lit).collect();
        let plan = LogicalPlanBuilder::scan("pg_database", provider_as_source(table), None)?
            .filter(col("datname").in_list(names, false))?
            .build()?;
        Ok(Some(Arc::new(ViewTable::new(plan, None))))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == super::audit_log::NAME || self.inner.table_exist(name)
    }
}
