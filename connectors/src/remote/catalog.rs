//! A source as a DataFusion catalog, and its part in federation.
//!
//! Tables are [`FederatedTableProviderAdaptor`]s, so datafusion-federation's
//! optimizer rule finds the largest subplans whose tables all belong to one
//! source and hands each to `RemoteRule`, which wraps the largest parts
//! [`Renderer`] can write as one statement into a `Federated` node, with a
//! `RemotePlanner` that keeps the statement as rendered (it is rendered
//! once) and turns it into a [`RemoteExec`], asking the source to describe
//! it only at the node's first execution.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::{source_as_provider, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableScan,
    TableSource,
};
use datafusion::optimizer::optimizer::Optimizer;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_federation::{
    FederatedPlanNode, FederatedTableProviderAdaptor, FederatedTableSource, FederationPlanner,
    FederationProvider,
};

use super::exec::{Described, RemoteExec};
use super::render::{Failure, Rendered, Renderer, ScanLookup};
use super::source::{Source, TableMeta};

/// A source's catalog: its schemas and tables, from the metadata cache.
#[derive(Debug)]
pub struct RemoteCatalogProvider {
    source: Arc<Source>,
    federation: Arc<RemoteFederation>,
    /// Schemas Weir adds (`pg_catalog` for clients).
    added: std::sync::RwLock<std::collections::BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl RemoteCatalogProvider {
    /// The catalog of `source`.
    pub fn new(source: Arc<Source>) -> Self {
        let federation = Arc::new(RemoteFederation::new(source.clone()));
        Self {
            source,
            federation,
            added: Default::default(),
        }
    }

    /// The source.
    pub fn source(&self) -> &Arc<Source> {
        &self.source
    }
}

impl CatalogProvider for RemoteCatalogProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.source.cached().keys().cloned().collect();
        let added = self.added.read().unwrap_or_else(|p| p.into_inner());
        names.extend(added.keys().cloned());
        names
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let mut added = self.added.write().unwrap_or_else(|p| p.into_inner());
        Ok(added.insert(name.to_owned(), schema))
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self
            .added
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Some(s.clone());
        }
        // Any name: the schema may exist at the source but not in the cache
        // yet (or the source may be down, and the query should say so).
        if !self.source.config().exposes(name, None) {
            return None;
        }
        Some(Arc::new(RemoteSchemaProvider {
            schema: name.to_owned(),
            source: self.source.clone(),
            federation: self.federation.clone(),
        }))
    }
}

/// One schema of a source.
#[derive(Debug)]
struct RemoteSchemaProvider {
    schema: String,
    source: Arc<Source>,
    federation: Arc<RemoteFederation>,
}

#[async_trait]
impl SchemaProvider for RemoteSchemaProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.source
            .cached()
            .get(&self.schema)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(meta) = self.source.table(&self.schema, name).await? else {
            return Ok(None);
        };
        let table = Arc::new(RemoteTable {
            source: self.source.clone(),
            meta,
        });
        let federated = Arc::new(RemoteTableSource {
            table: table.clone(),
            federation: self.federation.clone(),
        });
        Ok(Some(Arc::new(
            FederatedTableProviderAdaptor::new_with_provider(federated, table),
        )))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.source
            .cached()
            .get(&self.schema)
            .is_some_and(|t| t.contains_key(name))
    }
}

/// A remote table.
#[derive(Debug)]
pub struct RemoteTable {
    source: Arc<Source>,
    meta: Arc<TableMeta>,
}

impl RemoteTable {
    /// Its metadata.
    pub fn meta(&self) -> &Arc<TableMeta> {
        &self.meta
    }
}

struct OneTable(Arc<TableMeta>);

impl ScanLookup for OneTable {
    fn table(&self, _scan: &TableScan) -> Option<Arc<TableMeta>> {
        Some(self.0.clone())
    }
}

#[async_trait]
impl TableProvider for RemoteTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.meta.arrow_schema.clone()
    }

    fn table_type(&self) -> TableType {
        if self.meta.is_view {
            TableType::View
        } else {
            TableType::Base
        }
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let lookup = OneTable(self.meta.clone());
        let mut renderer = Renderer::new(self.source.kind().dialect(), self.source.name(), &lookup);
        let name = datafusion::common::TableReference::bare("t");
        Ok(filters
            .iter()
            .map(|f| {
                let f = unnormalize_col((*f).clone());
                if renderer.filter_renders(&self.meta, &name, &f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    /// Used when a scan is planned outside federation: the same SQL.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Only the shape matters: the renderer finds the table by `lookup`.
        let source: Arc<dyn TableSource> = Arc::new(
            datafusion::logical_expr::LogicalTableSource::new(self.meta.arrow_schema.clone()),
        );
        let filters = filters.iter().cloned().map(unnormalize_col).collect();
        let plan =
            LogicalPlanBuilder::scan_with_filters("t", source, projection.cloned(), filters)?
                .limit(0, limit)?
                .build()?;
        let lookup = OneTable(self.meta.clone());
        plan_remote(&self.source, &lookup, &plan, state.config()).await
    }
}

async fn plan_remote(
    source: &Arc<Source>,
    lookup: &dyn ScanLookup,
    plan: &LogicalPlan,
    config: &datafusion::prelude::SessionConfig,
) -> Result<Arc<dyn ExecutionPlan>> {
    let rendered = match Renderer::new(source.kind().dialect(), source.name(), lookup).query(plan) {
        Ok(r) => r,
        Err(Failure::Fatal(e)) => return Err(e),
        Err(Failure::Cannot(why)) => {
            return Err(DataFusionError::Internal(format!(
                "a plan federated to {} cannot be written as SQL: {why}",
                source.name()
            )))
        }
    };
    let described = Described::ask(source, &rendered, config.target_partitions()).await?;
    let schema = Arc::new(plan.schema().as_arrow().clone());
    Ok(Arc::new(RemoteExec::new(
        source.clone(),
        &rendered,
        &described,
        schema,
        config.batch_size(),
    )))
}

/// What the federation rule sees of a remote table.
#[derive(Debug)]
struct RemoteTableSource {
    table: Arc<RemoteTable>,
    federation: Arc<RemoteFederation>,
}

impl TableSource for RemoteTableSource {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        self.table.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.table.supports_filters_pushdown(filters)
    }
}

impl FederatedTableSource for RemoteTableSource {
    fn federation_provider(&self) -> Arc<dyn FederationProvider> {
        self.federation.clone()
    }
}

/// The source's federation provider: one per source, compared by name.
#[derive(Debug)]
pub struct RemoteFederation {
    source: Arc<Source>,
    optimizer: Arc<Optimizer>,
}

impl RemoteFederation {
    fn new(source: Arc<Source>) -> Self {
        let rule = RemoteRule {
            source: source.clone(),
        };
        Self {
            source,
            optimizer: Arc::new(Optimizer::with_rules(vec![Arc::new(rule)])),
        }
    }
}

impl FederationProvider for RemoteFederation {
    fn name(&self) -> &str {
        "weir_remote"
    }

    fn compute_context(&self) -> Option<String> {
        Some(self.source.name().to_owned())
    }

    fn optimizer(&self) -> Option<Arc<Optimizer>> {
        Some(self.optimizer.clone())
    }
}

/// Finds a scan's table among this source's.
struct SourceLookup<'a>(&'a Source);

impl ScanLookup for SourceLookup<'_> {
    fn table(&self, scan: &TableScan) -> Option<Arc<TableMeta>> {
        let provider = source_as_provider(&scan.source).ok()?;
        let adaptor = provider
            .as_any()
            .downcast_ref::<FederatedTableProviderAdaptor>()?;
        let table = adaptor.table_provider.as_ref()?;
        let remote = table.as_any().downcast_ref::<RemoteTable>()?;
        (remote.source.name() == self.0.name()).then(|| remote.meta.clone())
    }
}

/// Wraps the largest parts of a single-source subplan that render as one
/// statement into `Federated` nodes; the rest stays with Weir.
#[derive(Debug)]
struct RemoteRule {
    source: Arc<Source>,
}

impl RemoteRule {
    fn federate(&self, plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        if let LogicalPlan::Extension(Extension { node }) = &plan {
            if node.name() == "Federated" {
                return Ok(Transformed::no(plan));
            }
        }
        let lookup = SourceLookup(&self.source);
        let source = &self.source;
        match Renderer::new(source.kind().dialect(), source.name(), &lookup).query(&plan) {
            Ok(rendered) => {
                // The node keeps what was rendered, and later what the
                // source described, for every execution of the plan.
                let planner = Arc::new(RemotePlanner {
                    source: source.clone(),
                    rendered,
                    described: Default::default(),
                });
                let node = FederatedPlanNode::new(plan, planner);
                Ok(Transformed::yes(LogicalPlan::Extension(Extension {
                    node: Arc::new(node),
                })))
            }
            Err(Failure::Fatal(e)) => Err(e),
            Err(Failure::Cannot(why)) => {
                tracing::debug!(source = %source.name(), %why, "part of the plan stays in Weir");
                plan.map_children(|child| self.federate(child))
            }
        }
    }
}

impl OptimizerRule for RemoteRule {
    fn name(&self) -> &str {
        "weir_federate_remote"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        self.federate(plan)
    }
}

/// Plans one `Federated` node as a [`RemoteExec`]: the statement rendered
/// when the node was made, and what the source described at the first
/// execution (a prepared statement keeps its optimized plan, and with it
/// this planner, so later executions ask the source nothing). Those
/// executions cast each column to its described type in the statement, so
/// a column whose type changed at the source since is converted there, not
/// decoded as its old type; what was described is asked again once the
/// source's metadata expires (`metadata_ttl_secs`).
#[derive(Debug)]
struct RemotePlanner {
    source: Arc<Source>,
    rendered: Rendered,
    described: std::sync::Mutex<Option<(Instant, Arc<Described>)>>,
}

#[async_trait]
impl FederationPlanner for RemotePlanner {
    async fn plan_federation(
        &self,
        node: &FederatedPlanNode,
        state: &SessionState,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let config = state.config();
        let ttl = self.source.config().metadata_ttl();
        let kept = self
            .described
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, d)| d.clone());
        let (described, reused) = match kept {
            Some(d) => (d, true),
            None => {
                let d = Arc::new(
                    Described::ask(&self.source, &self.rendered, config.target_partitions())
                        .await?,
                );
                *self.described.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), d.clone()));
                (d, false)
            }
        };
        let schema = Arc::new(node.plan().schema().as_arrow().clone());
        let exec = RemoteExec::new(
            self.source.clone(),
            &self.rendered,
            &described,
            schema,
            config.batch_size(),
        );
        Ok(Arc::new(match reused {
            true => exec.with_pinned_types(),
            false => exec,
        }))
    }
}

/// datafusion-federation's rule, run only on plans that read a remote
/// table (it refuses some plans Weir runs fine locally, such as IN
/// subqueries in a select list). Added last to the optimizer's rules, so it
/// sees filters, projections and limits already pushed into the scans.
#[derive(Debug, Default)]
pub struct FederateRemote(datafusion_federation::FederationOptimizerRule);

/// Whether `plan` (subqueries included) reads a table of a remote source.
pub fn reads_remote(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(scan) = p {
            if datafusion_federation::get_table_source(&scan.source)
                .ok()
                .flatten()
                .is_some()
            {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

impl OptimizerRule for FederateRemote {
    fn name(&self) -> &str {
        "weir_federation"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if !reads_remote(&plan) {
            return Ok(Transformed::no(plan));
        }
        self.0.rewrite(plan, config)
    }
}
