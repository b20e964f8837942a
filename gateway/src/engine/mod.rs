//! The query engine: DataFusion over Weir's catalogs.
//!
//! [`Engine`] is built once per server. It owns the catalog list (one
//! DataFusion catalog per Weir catalog, each with `pg_catalog` registered
//! for client introspection) and a template session state; every client
//! session gets its own [`SessionContext`] cloned from that template, with
//! its default catalog, default schema and session functions
//! (`current_database()`, `current_schema()`, `current_user`, `version()`).
//!
//! ```text
//! SQL ─▶ statements::classify ─▶ SessionContext::statement_to_plan ─▶ LogicalPlan
//!        (SET/SHOW/BEGIN...           (async: resolves table references,
//!         handled by the session)      loads their metadata, then plans)
//!                                   ─▶ execute_stream ─▶ RecordBatch stream ─▶ wire
//! ```

pub mod admission;
pub mod audit_log;
pub mod casts;
pub mod checkpoint;
pub mod compat;
mod functions;
pub mod guard;
pub mod memory;
mod pg_catalog;
pub mod roles;
pub mod runtime;
pub mod subqueries;
pub mod visible;

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemoryCatalogProviderList};
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::analyzer::Analyzer;
use datafusion::optimizer::Optimizer;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_federation::FederatedPlanner;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use futures::StreamExt;
use weir_catalog::{ExternalTable, FileFormat, LakeConfig, Lakehouse};
use weir_connectors::lake::LakeCatalogProvider;
use weir_connectors::remote::{FederateRemote, RemoteCatalogProvider, Source, SourceConfig};

use crate::config::QueryConfig;
use crate::error::{Result, WeirError};

/// Shared, per-server query machinery.
pub struct Engine {
    lake: Arc<Lakehouse>,
    catalogs: Arc<dyn CatalogProviderList>,
    sources: Vec<Arc<Source>>,
    template: SessionState,
    compat: compat::Compat,
    /// Where statements execute.
    runtime: runtime::QueryRuntime,
    /// Execution slots.
    admission: admission::Admission,
    /// The server's memory pool, and one statement's share of it.
    memory: Arc<dyn MemoryPool>,
    statement_memory: usize,
    /// The access rules in force.
    policies: Arc<weir_policies::Policies>,
    /// The audit trail, for `pg_catalog.weir_audit_log`.
    audit: audit_log::AuditSlot,
    /// See [`Engine::reserve`].
    reserved: std::sync::OnceLock<Vec<Vec<String>>>,
    /// What each session's view of the catalogs is made of.
    visible: visible::Shared,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("catalogs", &self.catalogs.catalog_names())
            .finish()
    }
}

/// A stream that fails with `err`.
fn failed(schema: SchemaRef, err: DataFusionError) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::once(async move { Err(err) }),
    ))
}

/// The physical planner: DataFusion's, with remote subplans
/// (federation) and row-security barriers (nothing physically).
#[derive(Debug)]
struct WeirQueryPlanner;

#[async_trait::async_trait]
impl datafusion::execution::context::QueryPlanner for WeirQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &SessionState,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![
            Arc::new(FederatedPlanner::new()),
            Arc::new(weir_policies::barrier::RowSecurityPlanner),
        ]);
        let plan = planner
            .create_physical_plan(logical_plan, session_state)
            .await?;
        if !names_a_column_twice(&plan) {
            return Ok(plan);
        }
        // DataFusion 53 hands a run-time (dynamic) filter of a join or a
        // TopK down to a node's input by column *name* (`FilterRemapper::
        // try_remap`: `index_of(name)`), so where two columns share a name
        // (`e.salary`, `f.salary` of a self-join) a filter on the second
        // reaches the first's scan, and rows go missing without an error.
        // Such plans are made without dynamic filters.
        let mut state = session_state.clone();
        let optimizer = &mut state.config_mut().options_mut().optimizer;
        optimizer.enable_dynamic_filter_pushdown = false;
        optimizer.enable_join_dynamic_filter_pushdown = false;
        optimizer.enable_topk_dynamic_filter_pushdown = false;
        optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        planner.create_physical_plan(logical_plan, &state).await
    }
}

/// Whether any node of `plan` outputs two columns of the same name.
fn names_a_column_twice(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let schema = plan.schema();
    let mut names = std::collections::HashSet::with_capacity(schema.fields().len());
    if !schema.fields().iter().all(|f| names.insert(f.name())) {
        return true;
    }
    plan.children().into_iter().any(names_a_column_twice)
}

/// Name of the lake catalog.
pub const LAKE: &str = "lake";

impl Engine {
    /// Open the lakehouse described by `lake` and build the engine over it.
    pub async fn open(config: &QueryConfig, lake: &LakeConfig) -> Result<Self> {
        Self::open_with_sources(config, lake, &[]).await
    }

    /// As [`Engine::open`], with remote sources as further catalogs. Their
    /// metadata is read now, each within its connect timeout; a source that
    /// is down is logged and tried again when a query needs it.
    pub async fn open_with_sources(
        config: &QueryConfig,
        lake: &LakeConfig,
        sources: &[SourceConfig],
    ) -> Result<Self> {
        let lake = Arc::new(Lakehouse::open(lake).await?);
        let mut opened = Vec::new();
        for s in sources {
            opened.push(Source::new(s.clone()).map_err(|e| WeirError::Internal(e.to_string()))?);
        }
        let loads = opened.iter().map(|s| async move {
            let deadline = s.config().connect_timeout() + std::time::Duration::from_secs(5);
            match tokio::time::timeout(deadline, s.refresh()).await {
                Ok(Ok(())) => tracing::info!(source = %s.name(), "read the source's tables"),
                Ok(Err(e)) => tracing::warn!(source = %s.name(), error = %e, "source not available yet"),
                Err(_) => tracing::warn!(source = %s.name(), "source metadata took too long; reading it in the background"),
            }
        });
        futures::future::join_all(loads).await;
        let policies = weir_policies::Policies::open(lake.access())
            .await
            .map_err(|e| WeirError::Internal(format!("cannot read the access rules: {e}")))?;
        Self::new(config, lake, opened, Arc::new(policies))
    }

    /// Build the engine over an open lakehouse, the given sources and the
    /// access rules of the lakehouse's catalog database.
    pub fn new(
        config: &QueryConfig,
        lake: Arc<Lakehouse>,
        sources: Vec<Arc<Source>>,
        policies: Arc<weir_policies::Policies>,
    ) -> Result<Self> {
        let catalogs: Arc<dyn CatalogProviderList> = Arc::new(MemoryCatalogProviderList::new());
        catalogs.register_catalog(
            LAKE.to_owned(),
            Arc::new(LakeCatalogProvider::new(lake.clone())),
        );
        for source in &sources {
            catalogs.register_catalog(
                source.name().to_owned(),
                Arc::new(RemoteCatalogProvider::new(Arc::clone(source))),
            );
        }

        let mut session_config = SessionConfig::new()
            // Served by each session's catalog view (`visible`), so that it lists
            // only what the user may see.
            .with_information_schema(false)
            .with_default_catalog_and_schema(LAKE, "public")
            .with_create_default_catalog_and_schema(false)
            .with_batch_size(config.batch_size.max(1));
        if config.target_partitions > 0 {
            session_config = session_config.with_target_partitions(config.target_partitions);
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let total_memory = match config.memory_limit_mb {
            0 => memory::machine_memory()
                .map(|b| usize::try_from(b / 2).unwrap_or(usize::MAX))
                .unwrap_or(4 << 30),
            mb => mb << 20,
        };
        let statement_memory = match config.statement_memory_limit_mb {
            0 => total_memory / 2,
            mb => (mb << 20).min(total_memory),
        };
        // Each sorting partition holds this much back for merging its spill
        // files (DataFusion's default, 10 MiB); under a small statement limit
        // those reservations alone would leave nothing to sort in (a
        // sort-merge join sorts both sides, each in every partition).
        let partitions = session_config.target_partitions().max(1);
        let merge_reserve = (statement_memory / (16 * partitions)).min(10 << 20);
        session_config
            .options_mut()
            .execution
            .sort_spill_reservation_bytes = merge_reserve;
        let pool: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(total_memory));
        let mut runtime = RuntimeEnvBuilder::new().with_memory_pool(Arc::clone(&pool));
        if let Some(dir) = &config.spill_dir {
            let dir = memory::prepare_spill_dir(dir).map_err(|e| {
                WeirError::Internal(format!("spill directory {}: {e}", dir.display()))
            })?;
            runtime = runtime.with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir])),
            );
        }
        let runtime = runtime.build_arc()?;
        let threads = match config.threads {
            0 => runtime::QueryRuntime::default_threads(cores),
            n => n,
        };
        let query_runtime = runtime::QueryRuntime::new(threads)
            .map_err(|e| WeirError::Internal(format!("cannot start the query runtime: {e}")))?;
        let max_running = match config.max_running_statements {
            0 => (cores * 4).max(4),
            n => n,
        };
        let admission = admission::Admission::new(admission::Limits {
            max_running,
            max_running_per_user: match config.max_running_statements_per_user {
                0 => max_running,
                n => n.min(max_running),
            },
            max_queued: config.max_queued_statements,
            queue_timeout: std::time::Duration::from_secs(config.queue_timeout_secs.max(1)),
        });
        tracing::info!(
            memory_mib = total_memory >> 20,
            statement_memory_mib = statement_memory >> 20,
            threads,
            max_running,
            "query limits"
        );
        let store_url = url::Url::parse(&lake.location().store_uri())
            .map_err(|e| WeirError::Internal(format!("lake store URL: {e}")))?;
        runtime.register_object_store(&store_url, lake.store().clone());
        // DataFusion's optimizer rules, then federation: remote subplans are
        // cut out after filters, projections and limits were pushed down.
        // A checkpoint between every two rules of each planning phase stops
        // a canceled or timed-out statement's planning (see `checkpoint`).
        let mut rules = Optimizer::new().rules;
        // Leakproof predicates cross row-filter barriers right after
        // filters were pushed down (see `weir_policies::barrier`).
        if let Some(at) = rules.iter().position(|r| r.name() == "push_down_filter") {
            rules.insert(at + 1, Arc::new(weir_policies::barrier::SafePredicates));
        }
        rules.push(Arc::new(FederateRemote::default()));
        let rules = checkpoint::between(rules, Arc::new(checkpoint::Checkpoint));
        // A scalar subquery of several rows fails as in PostgreSQL (see
        // `subqueries`), checked before types are coerced.
        let mut analyzer = Analyzer::new().rules;
        analyzer.insert(0, Arc::new(subqueries::OneRow));
        let analyzer = checkpoint::between(analyzer, Arc::new(checkpoint::Checkpoint));
        // Round-robin repartitions over remote reads are taken out again
        // right after DataFusion places them (see `RemoteRowsFlow`).
        let mut physical = PhysicalOptimizer::new().rules;
        if let Some(at) = physical
            .iter()
            .position(|r| r.name() == "EnforceDistribution")
        {
            physical.insert(at + 1, Arc::new(weir_connectors::remote::RemoteRowsFlow));
        }
        let physical = checkpoint::between(physical, Arc::new(checkpoint::Checkpoint));
        let template = SessionStateBuilder::new()
            .with_config(session_config)
            .with_runtime_env(runtime)
            .with_catalog_list(catalogs.clone())
            .with_default_features()
            .with_analyzer_rules(analyzer)
            .with_optimizer_rules(rules)
            .with_physical_optimizer_rules(physical)
            .with_query_planner(Arc::new(WeirQueryPlanner))
            .build();

        // pg_catalog in every catalog, so `pg_catalog.pg_class` resolves
        // whichever database the client connected to.
        let ctx = SessionContext::new_with_state(template);
        let audit = audit_log::AuditSlot::default();
        let audit_log: Arc<dyn datafusion::catalog::TableProvider> =
            Arc::new(audit_log::AuditLogTable::new(Arc::clone(&audit)));
        for name in catalogs.catalog_names() {
            datafusion_pg_catalog::setup_pg_catalog(&ctx, &name, EmptyContextProvider)
                .map_err(|e| WeirError::DataFusion(*e))?;
            if let Some(catalog) = catalogs.catalog(&name) {
                if let Some(schema) = catalog.schema("pg_catalog") {
                    let fixed = pg_catalog::WeirPgCatalog::new(
                        schema,
                        catalogs.clone(),
                        Arc::clone(&audit_log),
                    );
                    catalog.register_schema("pg_catalog", Arc::new(fixed))?;
                }
            }
        }
        functions::register_static(&ctx);
        if config.test_panic_function {
            ctx.register_udf(functions::test_panic());
        }
        Ok(Self {
            lake,
            catalogs: catalogs.clone(),
            sources,
            template: ctx.state(),
            compat: compat::Compat::new(),
            runtime: query_runtime,
            admission,
            memory: pool,
            statement_memory,
            visible: visible::Shared {
                inner: catalogs.clone(),
                static_tables: Arc::new(
                    datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables::try_new()?,
                ),
                audit_log,
            },
            policies,
            audit,
            reserved: std::sync::OnceLock::new(),
        })
    }

    /// Where `pg_catalog.weir_audit_log` reads from (set once, at start).
    pub fn set_audit(&self, audit: Arc<crate::audit::Audit>) {
        let _ = self.audit.set(audit);
    }

    /// Paths Weir keeps for itself (keys, the catalog database, spill and
    /// audit folders): those inside the lake's folder are reserved, no
    /// table of a user who is not a superuser may be registered over them.
    pub fn reserve(&self, paths: &[std::path::PathBuf]) {
        let location = self.lake.location();
        let inside: Vec<Vec<String>> = paths
            .iter()
            .filter_map(|p| {
                let uri = format!("file://{}", p.display());
                location.inside(&location.canonical(&uri).unwrap_or(uri))
            })
            .collect();
        let _ = self.reserved.set(inside);
    }

    /// The reserved paths inside the lake, as segments below its root.
    pub fn reserved(&self) -> &[Vec<String>] {
        self.reserved.get().map(Vec::as_slice).unwrap_or_default()
    }

    /// The access rules in force.
    pub fn policies(&self) -> &Arc<weir_policies::Policies> {
        &self.policies
    }

    /// The runtime statements execute on.
    pub fn runtime(&self) -> &runtime::QueryRuntime {
        &self.runtime
    }

    /// Execution slots.
    pub fn admission(&self) -> &admission::Admission {
        &self.admission
    }

    /// A statement's task context: the session's `task`, drawing memory
    /// through a pool of the statement's own (see
    /// [`memory::StatementPool`]). A statement that is still letting go of
    /// its memory (canceled, failed) does not count against the next one.
    pub fn statement_task(&self, task: &TaskContext) -> Arc<TaskContext> {
        let mut env = task.runtime_env().as_ref().clone();
        env.memory_pool = Arc::new(memory::StatementPool::new(
            Arc::clone(&self.memory),
            self.statement_memory,
        ));
        Arc::new(TaskContext::new(
            task.task_id(),
            task.session_id(),
            task.session_config().clone(),
            task.scalar_functions().clone(),
            task.aggregate_functions().clone(),
            task.window_functions().clone(),
            Arc::new(env),
        ))
    }

    /// Start `plan` on the query runtime with a memory pool of its own,
    /// holding `slot` while it runs.
    pub fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: &TaskContext,
        slot: Option<admission::Permit>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(self
            .runtime
            .execute(plan, self.statement_task(task), slot)?)
    }

    /// Plan an optimized query physically on `state` and start it (see
    /// [`Engine::execute`]). DataFusion's hash join cannot spill: a plan
    /// with hash joins that runs out of memory before its first batch is
    /// planned again with sort-merge joins (whose sorts and buffers spill to
    /// disk) and run once more, the first attempt's memory given back.
    pub async fn start(
        self: &Arc<Self>,
        plan: LogicalPlan,
        state: &SessionState,
        task: &Arc<TaskContext>,
        slot: Option<admission::Permit>,
    ) -> Result<SendableRecordBatchStream> {
        let plan = weir_policies::barrier::without_root_barrier(plan);
        let physical = state
            .query_planner()
            .create_physical_plan(&plan, state)
            .await?;
        if !memory::has_hash_join(&physical) {
            return self.execute(physical, task, slot);
        }
        let schema = physical.schema();
        let first = self.execute(physical, task, None)?;
        let mut state = state.clone();
        state.config_mut().options_mut().optimizer.prefer_hash_join = false;
        let engine = Arc::clone(self);
        let task = Arc::clone(task);
        let retry = async move {
            let physical: Arc<dyn ExecutionPlan> = state
                .query_planner()
                .create_physical_plan(&plan, &state)
                .await?;
            engine
                .runtime
                .execute(physical, engine.statement_task(&task), None)
        };
        let out_schema = Arc::clone(&schema);
        let stream = futures::stream::once(async move {
            let mut first = first;
            match first.next().await {
                Some(Err(e)) if memory::is_out_of_memory(&e) => {
                    drop(first);
                    tracing::info!(error = %e, "a hash join ran out of memory; planning sort-merge joins");
                    match runtime::cpu_bound(retry).await {
                        Ok(stream) => stream,
                        Err(e) => failed(schema, e),
                    }
                }
                head => Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::iter(head).chain(first),
                )) as SendableRecordBatchStream,
            }
        })
        .flatten()
        // The execution slot is held for as long as either attempt runs.
        .map(move |batch| {
            let _held = slot.as_ref();
            batch
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)))
    }

    /// Close every source's connections (at shutdown, once sessions ended).
    pub async fn close_sources(&self) {
        futures::future::join_all(self.sources.iter().map(|s| async move {
            if tokio::time::timeout(std::time::Duration::from_secs(5), s.close())
                .await
                .is_err()
            {
                tracing::warn!(source = %s.name(), "source connections still in use after 5 s");
            }
        }))
        .await;
    }

    /// The lakehouse catalog.
    pub fn lake(&self) -> &Arc<Lakehouse> {
        &self.lake
    }

    /// Create schema `public` when missing, so unqualified names have a home.
    pub async fn ensure_public_schema(&self) -> Result<()> {
        self.lake.create_schema("public", true).await?;
        Ok(())
    }

    /// Register every table directory under `dir` (`dir/<table>/<files>`)
    /// as an external table of `schema`, unless a table of that name exists:
    /// how the demo data (and the benchmark data) become queryable.
    pub async fn register_directory_tables(&self, schema: &str, dir: &Path) -> Result<usize> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(WeirError::Internal(format!(
                    "cannot read {}: {e}",
                    dir.display()
                )))
            }
        };
        self.lake.create_schema(schema, true).await?;
        let state = self.template.clone();
        let mut registered = 0;
        let mut tables: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        tables.sort();
        for table_dir in tables {
            let Some(name) = table_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !table_dir.is_dir() || weir_catalog::names::validate(name).is_err() {
                continue;
            }
            let format = std::fs::read_dir(&table_dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|f| {
                    let path = f.path();
                    let ext = path.extension()?.to_str()?.to_owned();
                    FileFormat::from_name(&ext)
                })
                .next();
            let Some(format) = format else { continue };
            if self.lake.table_exists(schema, name).await? {
                continue;
            }
            let def = ExternalTable {
                schema: schema.to_owned(),
                name: name.to_owned(),
                location: format!("file://{}/", table_dir.display()),
                format,
                columns: Vec::new(),
                partition_columns: Vec::new(),
                options: Default::default(),
            };
            weir_connectors::lake::ddl::create_external_table(&self.lake, &state, def, true)
                .await?;
            registered += 1;
        }
        // Others may have registered some meanwhile: list what is there.
        self.lake.refresh().await?;
        Ok(registered)
    }

    /// Whether `name` is a catalog (a database, to clients).
    pub fn has_catalog(&self, name: &str) -> bool {
        self.catalogs.catalog(name).is_some()
    }

    /// Catalog names.
    pub fn catalog_names(&self) -> Vec<String> {
        self.catalogs.catalog_names()
    }

    /// The catalog provider of `name`.
    pub fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        self.catalogs.catalog(name)
    }

    /// The PostgreSQL-compatibility rewrites (see [`compat`]).
    pub fn compat(&self) -> &compat::Compat {
        &self.compat
    }

    /// A session context on `catalog` over every catalog, with no
    /// privilege filtering: for in-process tools (benchmarks) that are not
    /// clients. Client sessions use [`Self::session_context`].
    pub fn unfiltered_context(&self, catalog: &str) -> SessionContext {
        let mut state = self.template.clone();
        state.config_mut().options_mut().catalog.default_catalog = catalog.to_owned();
        SessionContext::new_with_state(state)
    }

    /// A new session context on `catalog`, over the catalogs as the
    /// session's statements see them (their gates, in `gate`; see
    /// [`visible`]).
    pub fn session_context(&self, catalog: &str, gate: weir_policies::GateSlot) -> SessionContext {
        let catalogs = visible::VisibleCatalogs::new(self.visible.clone(), gate);
        let mut state = SessionStateBuilder::new_from_existing(self.template.clone())
            .with_catalog_list(catalogs)
            .build();
        state.config_mut().options_mut().catalog.default_catalog = catalog.to_owned();
        // What the session's statements send to sources, for their audit
        // records (see `session::notes`).
        state
            .config_mut()
            .set_extension(Arc::new(weir_connectors::remote::SentLog::default()));
        SessionContext::new_with_state(state)
    }

    /// Point a session at a default schema, chosen from its `search_path`:
    /// the first listed schema that exists in the catalog (else the first
    /// listed one), and refresh its session functions.
    pub fn apply_session(
        &self,
        ctx: &SessionContext,
        catalog: &str,
        search_path: &[String],
        timezone: &str,
    ) {
        let existing: Vec<String> = match self.catalogs.catalog(catalog) {
            Some(c) => {
                let names = c.schema_names();
                search_path
                    .iter()
                    .filter(|s| names.contains(s))
                    .cloned()
                    .collect()
            }
            None => Vec::new(),
        };
        let default_schema = existing
            .first()
            .or(search_path.first())
            .cloned()
            .unwrap_or_else(|| "public".into());
        {
            let state = ctx.state_ref();
            let mut state = state.write();
            let options = state.config_mut().options_mut();
            options.catalog.default_schema = default_schema.clone();
            options.execution.time_zone = Some(timezone.to_owned());
        }
        functions::register_session(ctx, catalog, &default_schema, &existing);
    }
}
