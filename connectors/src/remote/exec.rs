//! [`RemoteExec`]: runs one statement on a source and streams Arrow batches.
//!
//! - PostgreSQL: `COPY (<sql>) TO STDOUT (FORMAT binary)`, decoded as the
//!   bytes arrive ([`super::pgbinary`]).
//! - Redshift (no COPY TO STDOUT): a cursor, `FETCH FORWARD <fetch_size>`.
//! - MySQL: the text protocol, one row at a time, parsed per column.
//!
//! Each read runs in its own task and hands batches over a channel of two,
//! so a slow client slows the source (backpressure) and memory stays at a
//! few batches. Dropping the stream (the client cancelled, a timeout, a
//! LIMIT satisfied) stops the task, cancels the statement at the source
//! (`pg_cancel_backend` / `KILL QUERY`) and closes that connection.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, RecordBatch, RecordBatchOptions, StringBuilder,
};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, SchemaRef};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, Literal,
};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use sqlx::{Column as _, Executor, Row};
use tokio::sync::mpsc;

use super::pgbinary::{self, Columns, CopyReader};
use super::render::Rendered;
use super::source::{Pool, Source};
use super::SourceKind;

/// One statement run by a source.
#[derive(Clone)]
pub struct RemoteExec {
    source: Arc<Source>,
    /// The rendered statement, its columns aliased `c0`, `c1`...; one per
    /// partition when a big table is read in ranges.
    base_sql: Vec<String>,
    /// Columns read as text because Weir has no binary decoder for them.
    as_text: Vec<bool>,
    schema: SchemaRef,
    oids: Vec<u32>,
    placeholder: bool,
    batch_size: usize,
    props: Arc<PlanProperties>,
    /// Filters a hash join derives from its build side, added to the
    /// statement when the read starts (by then the build side is known).
    dynamic: Vec<Arc<dyn PhysicalExpr>>,
    /// The statements actually sent, for EXPLAIN ANALYZE.
    sent: Arc<std::sync::Mutex<Vec<String>>>,
    /// The source's row estimate (joins put the smaller side first).
    estimated_rows: Option<u64>,
    /// Redshift: the result is big enough to go through UNLOAD.
    unload: bool,
    /// The column types were described for an earlier execution: each
    /// column is cast to its described type, so a column whose type has
    /// changed at the source since is converted by the source (or fails
    /// there), never decoded as the type it no longer has.
    pinned: bool,
}

impl fmt::Debug for RemoteExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteExec")
            .field("source", &self.source.name())
            .field("sql", &self.base_sql)
            .finish()
    }
}

/// One statement a source was sent (as audit records show it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentStatement {
    /// The source's name (its catalog).
    pub source: String,
    /// The statement, as sent.
    pub sql: String,
}

/// The statements sent to sources on a session's behalf, for its audit
/// record: a session-config extension ([`SessionConfig::with_extension`])
/// that [`RemoteExec`] appends to as each read starts, and the session
/// takes at the end of each statement.
///
/// [`SessionConfig::with_extension`]: datafusion::prelude::SessionConfig::with_extension
#[derive(Debug, Default)]
pub struct SentLog(std::sync::Mutex<Vec<SentStatement>>);

impl SentLog {
    /// Statements kept at most between two takes (a cursor left open
    /// over a partitioned scan sends a few; a runaway loop, not more).
    const LIMIT: usize = 256;

    fn push(&self, source: &str, sql: &str) {
        let mut sent = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if sent.len() < Self::LIMIT {
            sent.push(SentStatement {
                source: source.to_owned(),
                sql: sql.to_owned(),
            });
        }
    }

    /// The statements sent since the last take.
    pub fn take(&self) -> Vec<SentStatement> {
        let mut sent = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        std::mem::take(&mut *sent)
    }
}

/// What planning a rendered statement learnt from its source: the
/// statement per partition and how its columns are read. A prepared
/// statement keeps it, so executing it again asks the source nothing.
#[derive(Debug)]
pub struct Described {
    /// The statement, one per partition when a big table is read in ranges
    /// (the first and last ranges are open, so rows written since still
    /// fall in one).
    base_sql: Vec<String>,
    /// PostgreSQL and Redshift: the type of each column as described.
    oids: Vec<u32>,
    /// Columns read as text because Weir has no binary decoder for them.
    as_text: Vec<bool>,
}

impl Described {
    /// Ask `source` about `rendered`: PostgreSQL and Redshift describe the
    /// statement, to learn the types of its columns; big scans are split
    /// into ranges.
    pub async fn ask(
        source: &Source,
        rendered: &Rendered,
        target_partitions: usize,
    ) -> Result<Self> {
        let sql = rendered.sql.as_str();
        let mut described = Self {
            base_sql: vec![sql.to_owned()],
            oids: Vec::new(),
            as_text: Vec::new(),
        };
        match source.pool() {
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await.map_err(|e| source.error(e))?;
                if source.kind() == SourceKind::Postgres {
                    described.base_sql =
                        ctid_ranges(source, rendered, target_partitions, &mut conn).await?;
                }
                let columns = conn.describe(sql).await.map_err(|e| source.error(e))?;
                for c in columns.columns() {
                    let oid = c.type_info().oid().map(|o| o.0).unwrap_or(0);
                    let decodable = pgbinary::decodable(oid);
                    // Read what Weir has no binary decoder for as text.
                    described.as_text.push(!decodable);
                    described.oids.push(if decodable {
                        oid
                    } else {
                        weir_pgtypes::oid::TEXT
                    });
                }
            }
            Pool::MySql(pool) => {
                described.base_sql = key_ranges(source, rendered, target_partitions, pool).await?;
            }
        }
        Ok(described)
    }
}

impl RemoteExec {
    /// Plan `rendered` on `source`, with what [`Described::ask`] learnt.
    pub fn new(
        source: Arc<Source>,
        rendered: &Rendered,
        described: &Described,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Self {
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(described.base_sql.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        let unload = match (source.staging(), &source.config().unload) {
            (Some(_), Some(u)) => {
                !rendered.placeholder_column
                    && rendered.estimated_rows.is_some_and(|n| n >= u.min_rows)
            }
            _ => false,
        };
        Self {
            source,
            base_sql: described.base_sql.clone(),
            as_text: described.as_text.clone(),
            schema,
            oids: described.oids.clone(),
            placeholder: rendered.placeholder_column,
            batch_size: batch_size.max(1),
            props,
            dynamic: Vec::new(),
            sent: Default::default(),
            estimated_rows: rendered.estimated_rows,
            unload,
            pinned: false,
        }
    }

    /// Mark the plan as reusing what was described for an earlier
    /// execution (see `pinned`). Only described types are pinned: MySQL's
    /// statements are not described, and had their columns wrapped in an
    /// empty select list (`SELECT  FROM (…) AS q`, a syntax error, seen when
    /// a statement is planned twice, see the engine's query planner).
    pub fn with_pinned_types(mut self) -> Self {
        self.pinned = !self.oids.is_empty() && self.oids.len() == self.as_text.len();
        self
    }

    /// The statement partition `partition` runs, with the dynamic filters
    /// as they are now.
    pub fn sql(&self, partition: usize) -> String {
        let base = self
            .base_sql
            .get(partition)
            .or(self.base_sql.first())
            .cloned()
            .unwrap_or_default();
        let dialect = self.source.kind().dialect();
        let conditions: Vec<String> = self
            .dynamic
            .iter()
            .flat_map(|f| dynamic_conditions(f, dialect, &self.schema))
            .collect();
        let mut sql = if conditions.is_empty() {
            base
        } else {
            format!(
                "SELECT * FROM ({base}) AS w WHERE {}",
                conditions.join(" AND ")
            )
        };
        if self.pinned || self.as_text.iter().any(|t| *t) {
            let items: Vec<String> = self
                .as_text
                .iter()
                .zip(&self.oids)
                .enumerate()
                .map(|(i, (text, oid))| match (*text, self.pinned) {
                    (true, _) => format!("CAST(q.c{i} AS text)"),
                    (false, true) => match pinned_type(*oid) {
                        Some(ty) => format!("CAST(q.c{i} AS {ty})"),
                        None => format!("q.c{i}"),
                    },
                    (false, false) => format!("q.c{i}"),
                })
                .collect();
            sql = format!("SELECT {} FROM ({sql}) AS q", items.join(", "));
        }
        sql
    }

    /// The source's name.
    pub fn source_name(&self) -> &str {
        self.source.name()
    }
}

impl DisplayAs for RemoteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let sent = self.sent.lock().map(|s| s.clone()).unwrap_or_default();
        let sql = match sent.as_slice() {
            [] => (0..self.base_sql.len())
                .map(|p| self.sql(p))
                .collect::<Vec<_>>()
                .join(" ; "),
            [one] => one.clone(),
            many => many.join(" ; "),
        };
        write!(
            f,
            "RemoteExec: source={} ({}), ",
            self.source.name(),
            self.source.kind().name(),
        )?;
        if self.base_sql.len() > 1 {
            write!(f, "partitions={}, ", self.base_sql.len())?;
        }
        if self.unload {
            write!(f, "via=UNLOAD to Parquet, ")?;
        }
        write!(f, "sql={sql}")?;
        if !self.dynamic.is_empty() && sent.is_empty() {
            let shown: Vec<String> = self.dynamic.iter().map(|d| d.to_string()).collect();
            write!(f, ", dynamic_filters=[{}]", shown.join(", "))?;
        }
        Ok(())
    }
}

impl ExecutionPlan for RemoteExec {
    fn name(&self) -> &str {
        "RemoteExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "RemoteExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        ctx: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition >= self.base_sql.len() {
            return Err(DataFusionError::Internal(format!(
                "RemoteExec has {} partitions, not {partition}",
                self.base_sql.len()
            )));
        }
        let me = self.clone();
        let log = ctx.session_config().get_extension::<SentLog>();
        // Started at the first poll: a hash join polls its probe side once
        // its build side is in, so the dynamic filters are known by then.
        let start = async move {
            let sql = me.sql(partition);
            if let Ok(mut sent) = me.sent.lock() {
                sent.push(sql.clone());
            }
            if let Some(log) = log {
                log.push(me.source.name(), &sql);
            }
            let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(2);
            let read = Read {
                unload: me.unload,
                source: me.source.clone(),
                sql,
                schema: me.schema.clone(),
                oids: me.oids.clone(),
                placeholder: me.placeholder,
                batch_size: me.batch_size,
            };
            let errors = tx.clone();
            let task = tokio::spawn(async move {
                let source = read.source.clone();
                let result = match (source.kind(), source.pool()) {
                    (SourceKind::Postgres, Pool::Postgres(pool)) => read.postgres(pool, &tx).await,
                    (SourceKind::Redshift, Pool::Postgres(pool)) => read.redshift(pool, &tx).await,
                    (_, Pool::MySql(pool)) => read.mysql(pool, &tx).await,
                    _ => Err(DataFusionError::Internal(
                        "source kind and pool differ".into(),
                    )),
                };
                if let Err(e) = result {
                    let _ = errors.send(Err(e)).await;
                }
            });
            let abort = AbortOnDrop(task);
            futures::stream::unfold((rx, abort), |(mut rx, abort)| async move {
                rx.recv().await.map(|item| (item, (rx, abort)))
            })
        };
        let stream = futures::stream::once(start).flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }

    fn partition_statistics(
        &self,
        _partition: Option<usize>,
    ) -> Result<datafusion::common::Statistics> {
        let mut stats = datafusion::common::Statistics::new_unknown(&self.schema);
        if let Some(n) = self.estimated_rows {
            stats.num_rows = datafusion::common::stats::Precision::Inexact(n as usize);
        }
        Ok(stats)
    }

    fn handle_child_pushdown_result(
        &self,
        phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        // Every filter stays with the parent (PushedDown::No): Weir only
        // narrows what the source sends with the dynamic ones.
        let filters: Vec<Arc<dyn PhysicalExpr>> = child_pushdown_result
            .parent_filters
            .iter()
            .map(|f| f.filter.clone())
            .collect();
        let verdicts = vec![PushedDown::No; filters.len()];
        let dynamic: Vec<_> = filters
            .into_iter()
            .filter(|f| {
                f.as_any()
                    .downcast_ref::<DynamicFilterPhysicalExpr>()
                    .is_some()
            })
            .collect();
        if phase != FilterPushdownPhase::Post || dynamic.is_empty() {
            return Ok(FilterPushdownPropagation {
                filters: verdicts,
                updated_node: None,
            });
        }
        let mut node = self.clone();
        node.dynamic.extend(dynamic);
        node.sent = Default::default();
        Ok(FilterPushdownPropagation {
            filters: verdicts,
            updated_node: Some(Arc::new(node)),
        })
    }
}

/// The parts of a dynamic filter (as it is now) the source can evaluate,
/// over the statement's output columns `w.c0`, `w.c1`...; parts it cannot
/// (hash lookups) are left out: the join still applies the whole filter.
fn dynamic_conditions(
    filter: &Arc<dyn PhysicalExpr>,
    dialect: super::Dialect,
    schema: &datafusion::arrow::datatypes::Schema,
) -> Vec<String> {
    let expr = match filter.as_any().downcast_ref::<DynamicFilterPhysicalExpr>() {
        Some(d) => match d.current() {
            Ok(e) => e,
            Err(_) => return Vec::new(),
        },
        None => filter.clone(),
    };
    if let Some(b) = expr.as_any().downcast_ref::<BinaryExpr>() {
        if *b.op() == Operator::And {
            let mut out = dynamic_conditions(b.left(), dialect, schema);
            out.extend(dynamic_conditions(b.right(), dialect, schema));
            return out;
        }
    }
    physical_sql(&expr, dialect, schema).into_iter().collect()
}

fn physical_sql(
    e: &Arc<dyn PhysicalExpr>,
    dialect: super::Dialect,
    schema: &datafusion::arrow::datatypes::Schema,
) -> Option<String> {
    use super::render::{literal_sql, ordered_sql};
    let any = e.as_any();
    if let Some(d) = any.downcast_ref::<DynamicFilterPhysicalExpr>() {
        return physical_sql(&d.current().ok()?, dialect, schema);
    }
    if let Some(c) = any.downcast_ref::<Column>() {
        schema.fields().get(c.index())?;
        return Some(format!("w.c{}", c.index()));
    }
    if let Some(l) = any.downcast_ref::<Literal>() {
        return literal_sql(dialect, l.value());
    }
    if let Some(cast) = any.downcast_ref::<CastExpr>() {
        // Integer widening (join keys of different widths) compares alike.
        let from = cast.expr().data_type(schema).ok()?;
        if from.is_integer() && cast.cast_type().is_integer() {
            return physical_sql(cast.expr(), dialect, schema);
        }
        return None;
    }
    if let Some(list) = any.downcast_ref::<InListExpr>() {
        let x = physical_sql(list.expr(), dialect, schema)?;
        let items = list
            .list()
            .iter()
            .map(|i| physical_sql(i, dialect, schema))
            .collect::<Option<Vec<_>>>()?;
        if items.is_empty() {
            return None;
        }
        let not = if list.negated() { "NOT " } else { "" };
        return Some(format!("({x} {not}IN ({}))", items.join(", ")));
    }
    if let Some(b) = any.downcast_ref::<BinaryExpr>() {
        let t = b.left().data_type(schema).ok()?;
        let logical_or_comparison = matches!(
            b.op(),
            Operator::And
                | Operator::Or
                | Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
        );
        if !logical_or_comparison {
            return None;
        }
        let sym = super::render::operator_sql(*b.op())?;
        let l = physical_sql(b.left(), dialect, schema)?;
        let r = physical_sql(b.right(), dialect, schema)?;
        let ordering = matches!(
            b.op(),
            Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
        );
        let (l, r) = if ordering {
            let rt = b.right().data_type(schema).ok()?;
            (ordered_sql(dialect, l, &t)?, ordered_sql(dialect, r, &rt)?)
        } else {
            (l, r)
        };
        return Some(format!("({l} {sym} {r})"));
    }
    None
}

/// A big plain scan of a PostgreSQL table (14 or newer, which scans ctid
/// ranges directly) as page ranges read in parallel; otherwise the one
/// statement.
async fn ctid_ranges(
    source: &Source,
    rendered: &Rendered,
    target_partitions: usize,
    conn: &mut sqlx::PgConnection,
) -> Result<Vec<String>> {
    let one = vec![rendered.sql.clone()];
    let config = source.config();
    let parts = config.parallelism.min(target_partitions).max(1);
    let (Some(split), Some(rows)) = (&rendered.splittable, rendered.estimated_rows) else {
        return Ok(one);
    };
    let Some(pages) = split.pages else {
        return Ok(one);
    };
    if parts < 2 || rows < config.split_min_rows || pages < parts as u64 {
        return Ok(one);
    }
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int4")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| source.error(e))?;
    if version < 140_000 {
        return Ok(one);
    }
    let step = pages.div_ceil(parts as u64);
    let alias = &split.alias;
    Ok((0..parts as u64)
        .map(|i| {
            let from = format!("{alias}.ctid >= '({},0)'::tid", i * step);
            // The last range is open: pages added since the estimate.
            let condition = if i + 1 == parts as u64 {
                from
            } else {
                format!("{from} AND {alias}.ctid < '({},0)'::tid", (i + 1) * step)
            };
            split.with_condition(&condition)
        })
        .collect())
}

/// A big plain scan of a MySQL table with a one-column integer primary key
/// as key ranges read in parallel; otherwise the one statement.
async fn key_ranges(
    source: &Source,
    rendered: &Rendered,
    target_partitions: usize,
    pool: &sqlx::MySqlPool,
) -> Result<Vec<String>> {
    let one = vec![rendered.sql.clone()];
    let config = source.config();
    let parts = config.parallelism.min(target_partitions).max(1) as i128;
    let (Some(split), Some(rows)) = (&rendered.splittable, rendered.estimated_rows) else {
        return Ok(one);
    };
    let Some(key) = &split.key_sql else {
        return Ok(one);
    };
    if parts < 2 || rows < config.split_min_rows {
        return Ok(one);
    }
    let bounds: (Option<String>, Option<String>) = sqlx::query_as(&format!(
        "SELECT CAST(MIN({key}) AS CHAR), CAST(MAX({key}) AS CHAR) FROM {}",
        split.table_sql
    ))
    .fetch_one(pool)
    .await
    .map_err(|e| source.error(e))?;
    let (Some(Ok(low)), Some(Ok(high))) = (
        bounds.0.map(|v| v.parse::<i128>()),
        bounds.1.map(|v| v.parse::<i128>()),
    ) else {
        return Ok(one);
    };
    if high - low < parts {
        return Ok(one);
    }
    let step = (high - low + 1) / parts;
    let column = format!("{}.{key}", split.alias);
    Ok((0..parts)
        .map(|i| {
            let from = low + i * step;
            let to = from + step;
            // Open ends: keys written since MIN/MAX were read.
            let condition = match (i, i + 1 == parts) {
                (0, _) => format!("{column} < {to}"),
                (_, true) => format!("{column} >= {from}"),
                _ => format!("{column} >= {from} AND {column} < {to}"),
            };
            split.with_condition(&condition)
        })
        .collect())
}

/// The SQL type a column of type `oid` is cast to when its described type
/// is reused; `None` for a type Weir has no name for.
fn pinned_type(oid: u32) -> Option<String> {
    use weir_pgtypes::oid;
    let name = |o: u32| match o {
        // `character` alone is character(1): it would cut values.
        oid::BPCHAR => Some("bpchar"),
        o => Some(oid::type_name(o)).filter(|n| *n != "unknown"),
    };
    match oid::element_oid(oid) {
        Some(element) => name(element).map(|n| format!("{n}[]")),
        None => name(oid).map(str::to_owned),
    }
}

/// Removes a query's unloaded files when the read ends or is dropped.
struct RemoveOnDrop(Arc<dyn object_store::ObjectStore>, object_store::path::Path);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let (store, folder) = (self.0.clone(), self.1.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { super::unload::remove(&store, &folder).await });
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Cancels the statement at the source if the read is dropped before it
/// finished, and closes the connection it was using.
struct CancelGuard<C: CloseOnDrop> {
    conn: C,
    cancel: Option<Cancel>,
}

/// How to stop a statement at its source: `sql` (`pg_cancel_backend` or
/// `KILL QUERY`) sent on a connection of its own, opened with the pool's
/// options but outside the pool: a pool whose every slot is busy (the
/// read's own among them) must not hold up the cancel that frees one.
struct Cancel {
    pool: Pool,
    sql: String,
    source: String,
    timeout: std::time::Duration,
}

impl Cancel {
    /// `sql` will stop the statement on `source`.
    fn new(source: &Source, sql: String) -> Self {
        Self {
            pool: source.pool().clone(),
            sql,
            source: source.name().to_owned(),
            timeout: source.config().connect_timeout(),
        }
    }

    async fn send(&self) -> std::result::Result<(), sqlx::Error> {
        use sqlx::{ConnectOptions, Connection};
        // (Two arms alike: a function generic over the connection type does
        // not satisfy the Send bound of `spawn`, a known sqlx/rustc limit.)
        match &self.pool {
            Pool::Postgres(p) => {
                let mut conn = p.connect_options().connect().await?;
                conn.execute(self.sql.as_str()).await?;
                conn.close().await
            }
            Pool::MySql(p) => {
                let mut conn = p.connect_options().connect().await?;
                conn.execute(self.sql.as_str()).await?;
                conn.close().await
            }
        }
    }
}

trait CloseOnDrop {
    fn close_on_drop(&mut self);
}

impl<DB: sqlx::Database> CloseOnDrop for sqlx::pool::PoolConnection<DB> {
    fn close_on_drop(&mut self) {
        sqlx::pool::PoolConnection::close_on_drop(self)
    }
}

impl<C: CloseOnDrop> CancelGuard<C> {
    fn done(&mut self) {
        self.cancel = None;
    }
}

impl<C: CloseOnDrop> Drop for CancelGuard<C> {
    fn drop(&mut self) {
        let Some(cancel) = self.cancel.take() else {
            return;
        };
        self.conn.close_on_drop();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let source = &cancel.source;
                match tokio::time::timeout(cancel.timeout, cancel.send()).await {
                    Ok(Ok(())) => tracing::debug!(%source, "cancelled the remote statement"),
                    Ok(Err(e)) => {
                        tracing::warn!(%source, error = %e, "could not cancel the remote statement")
                    }
                    Err(_) => tracing::warn!(
                        %source,
                        "could not cancel the remote statement: no connection within the connect timeout"
                    ),
                }
            });
        }
    }
}

struct Read {
    unload: bool,
    source: Arc<Source>,
    sql: String,
    schema: SchemaRef,
    oids: Vec<u32>,
    placeholder: bool,
    batch_size: usize,
}

type Sender = mpsc::Sender<Result<RecordBatch>>;

impl Read {
    fn columns(&self) -> Columns {
        Columns::new(self.schema.clone(), &self.oids, self.placeholder)
    }

    /// Send a batch; `false` when nobody listens any more.
    async fn send(tx: &Sender, batch: RecordBatch) -> bool {
        tx.send(Ok(batch)).await.is_ok()
    }

    /// A connection whose statement is cancelled if the read is dropped.
    async fn pg_connection(
        &self,
        pool: &sqlx::PgPool,
    ) -> Result<CancelGuard<sqlx::pool::PoolConnection<sqlx::Postgres>>> {
        let src = &self.source;
        let mut conn = pool.acquire().await.map_err(|e| src.error(e))?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| src.error(e))?;
        Ok(CancelGuard {
            conn,
            cancel: Some(Cancel::new(src, format!("SELECT pg_cancel_backend({pid})"))),
        })
    }

    async fn postgres(&self, pool: &sqlx::PgPool, tx: &Sender) -> Result<()> {
        let src = &self.source;
        let mut guard = self.pg_connection(pool).await?;
        let statement = format!("COPY ({}) TO STDOUT (FORMAT binary)", self.sql);
        let mut reader = CopyReader::default();
        let mut columns = self.columns();
        {
            let mut chunks = guard
                .conn
                .copy_out_raw(&statement)
                .await
                .map_err(|e| src.error(e))?;
            loop {
                let chunk = match next_or_flush(&mut chunks).await {
                    Next::Item(chunk) => chunk,
                    Next::End => break,
                    Next::Quiet => {
                        // The source is slow: hand over what is here, so a
                        // LIMIT met by it stops the statement.
                        if columns.rows() > 0 && !Self::send(tx, columns.finish()?).await {
                            return Ok(());
                        }
                        match chunks.next().await {
                            Some(chunk) => chunk,
                            None => break,
                        }
                    }
                };
                reader.extend(chunk.map_err(|e| src.error(e))?);
                loop {
                    reader.rows_into(&mut columns, self.batch_size)?;
                    if columns.rows() < self.batch_size {
                        break;
                    }
                    if !Self::send(tx, columns.finish()?).await {
                        return Ok(());
                    }
                }
            }
        }
        guard.done();
        if !reader.ended() {
            return Err(crate::ConnectorError::source(
                src.name(),
                crate::SourceFault::Lost,
                "the COPY stream ended early",
            ));
        }
        if columns.rows() > 0 {
            Self::send(tx, columns.finish()?).await;
        }
        Ok(())
    }

    /// `UNLOAD` to the staging prefix, then the Parquet files read back
    /// and removed (also when the read is dropped).
    async fn redshift_unload(&self, pool: &sqlx::PgPool, tx: &Sender) -> Result<()> {
        let src = &self.source;
        let (Some(staging), Some(config)) = (src.staging(), &src.config().unload) else {
            return Err(DataFusionError::Internal("UNLOAD without staging".into()));
        };
        let (folder, url) = staging.folder()?;
        let statement = super::unload::unload_statement(&self.sql, &url, &config.iam_role)?;
        let _cleanup = RemoveOnDrop(staging.store.clone(), folder.clone());
        let mut guard = self.pg_connection(pool).await?;
        guard
            .conn
            .execute(statement.as_str())
            .await
            .map_err(|e| src.error(e))?;
        guard.done();
        super::unload::read_back(&staging.store, &folder, &self.schema, tx).await
    }

    async fn redshift(&self, pool: &sqlx::PgPool, tx: &Sender) -> Result<()> {
        if self.unload {
            return self.redshift_unload(pool, tx).await;
        }
        let src = &self.source;
        let err = |e| src.error(e);
        let mut guard = self.pg_connection(pool).await?;
        let conn = &mut *guard.conn;
        conn.execute("BEGIN").await.map_err(err)?;
        conn.execute(format!("DECLARE weir_cursor CURSOR FOR {}", self.sql).as_str())
            .await
            .map_err(err)?;
        let fetch = format!(
            "FETCH FORWARD {} FROM weir_cursor",
            src.config().fetch_size.max(1)
        );
        let mut columns = self.columns();
        loop {
            let rows = sqlx::query(&fetch)
                .persistent(false)
                .fetch_all(&mut *conn)
                .await
                .map_err(err)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let values = (0..row.len())
                    .map(|i| row.try_get_unchecked::<Option<&[u8]>, _>(i))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(err)?;
                columns.push_row(values)?;
                if columns.rows() >= self.batch_size && !Self::send(tx, columns.finish()?).await {
                    return Ok(());
                }
            }
        }
        conn.execute("CLOSE weir_cursor").await.map_err(err)?;
        conn.execute("COMMIT").await.map_err(err)?;
        guard.done();
        if columns.rows() > 0 {
            Self::send(tx, columns.finish()?).await;
        }
        Ok(())
    }

    async fn mysql(&self, pool: &sqlx::MySqlPool, tx: &Sender) -> Result<()> {
        let src = &self.source;
        let err = |e| src.error(e);
        let mut conn = pool.acquire().await.map_err(err)?;
        let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
        let mut guard = CancelGuard {
            conn,
            cancel: Some(Cancel::new(src, format!("KILL QUERY {id}"))),
        };
        let mut columns = TextColumns::new(self.schema.clone(), self.placeholder);
        {
            let mut rows = sqlx::raw_sql(&self.sql).fetch(&mut *guard.conn);
            loop {
                let row = match next_or_flush(&mut rows).await {
                    Next::Item(row) => row,
                    Next::End => break,
                    Next::Quiet => {
                        if columns.rows > 0 && !Self::send(tx, columns.finish()?).await {
                            return Ok(());
                        }
                        match rows.next().await {
                            Some(row) => row,
                            None => break,
                        }
                    }
                };
                let row = row.map_err(err)?;
                let values = (0..row.len())
                    .map(|i| row.try_get_unchecked::<Option<&[u8]>, _>(i))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(err)?;
                columns.push_row(&values)?;
                if columns.rows >= self.batch_size && !Self::send(tx, columns.finish()?).await {
                    return Ok(());
                }
            }
        }
        guard.done();
        if columns.rows > 0 {
            Self::send(tx, columns.finish()?).await;
        }
        Ok(())
    }
}

/// How long a read waits for more from the source before it hands over
/// the rows it has (a partial batch): fast sources still fill whole
/// batches, slow ones deliver their first rows at once.
const QUIET: std::time::Duration = std::time::Duration::from_millis(100);

enum Next<T> {
    Item(T),
    End,
    /// Nothing arrived within [`QUIET`].
    Quiet,
}

/// The stream's next item, unless the source stays quiet for [`QUIET`].
/// (`Stream::next` may be dropped and called again without losing data.)
async fn next_or_flush<S: futures::Stream + Unpin>(stream: &mut S) -> Next<S::Item> {
    match tokio::time::timeout(QUIET, stream.next()).await {
        Ok(Some(item)) => Next::Item(item),
        Ok(None) => Next::End,
        Err(_) => Next::Quiet,
    }
}

/// MySQL text-protocol values → the planned Arrow types.
struct TextColumns {
    schema: SchemaRef,
    builders: Vec<TextBuilder>,
    placeholder: bool,
    rows: usize,
}

enum TextBuilder {
    Text(StringBuilder),
    Bytes(BinaryBuilder),
}

impl TextColumns {
    fn new(schema: SchemaRef, placeholder: bool) -> Self {
        let builders = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                    TextBuilder::Bytes(BinaryBuilder::new())
                }
                _ => TextBuilder::Text(StringBuilder::new()),
            })
            .collect();
        Self {
            schema,
            builders,
            placeholder,
            rows: 0,
        }
    }

    fn push_row(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        let expected = self.builders.len() + usize::from(self.placeholder);
        if values.len() != expected {
            return Err(DataFusionError::Execution(format!(
                "the source sent {} columns, expected {expected}",
                values.len()
            )));
        }
        for (i, (b, v)) in self.builders.iter_mut().zip(values).enumerate() {
            match (b, v) {
                (TextBuilder::Bytes(b), Some(v)) => b.append_value(v),
                (TextBuilder::Bytes(b), None) => b.append_null(),
                (TextBuilder::Text(b), Some(v)) => match std::str::from_utf8(v) {
                    Ok(s) => b.append_value(s),
                    Err(_) => {
                        return Err(DataFusionError::Execution(format!(
                            "column {}: the source sent text that is not UTF-8",
                            self.schema.field(i).name()
                        )))
                    }
                },
                (TextBuilder::Text(b), None) => b.append_null(),
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let mut arrays = Vec::with_capacity(self.builders.len());
        for (i, b) in self.builders.iter_mut().enumerate() {
            let field = self.schema.field(i);
            let array: ArrayRef = match b {
                TextBuilder::Bytes(b) => Arc::new(b.finish()),
                TextBuilder::Text(b) => {
                    let text = b.finish();
                    // MySQL prints well-formed values of the column's
                    // type: one that does not convert does not fit.
                    text_to(&text, field.data_type()).map_err(|e| {
                        DataFusionError::from(crate::ConnectorError::OutOfRange {
                            column: field.name().clone(),
                            message: format!(
                                "a source value does not fit {}: {}",
                                field.data_type(),
                                e.strip_backtrace()
                            ),
                        })
                    })?
                }
            };
            arrays.push(array);
        }
        let rows = std::mem::take(&mut self.rows);
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }
}

/// MySQL's text form of a value as `target`: zero dates are NULL, TIME is
/// an interval, the rest is Arrow's own parsing (errors, not NULLs, on
/// values that do not parse).
fn text_to(text: &datafusion::arrow::array::StringArray, target: &DataType) -> Result<ArrayRef> {
    use datafusion::arrow::array::{Array, IntervalMonthDayNanoBuilder};
    match target {
        DataType::Utf8 => return Ok(Arc::new(text.clone())),
        DataType::Interval(_) => {
            let mut b = IntervalMonthDayNanoBuilder::with_capacity(text.len());
            for v in text.iter() {
                match v {
                    None => b.append_null(),
                    Some(s) => b.append_value(mysql_time(s).ok_or_else(|| {
                        DataFusionError::Execution(format!("bad TIME value {s:?}"))
                    })?),
                }
            }
            let array: ArrayRef = Arc::new(b.finish());
            return Ok(cast_with_options(&array, target, &CastOptions::default())?);
        }
        _ => {}
    }
    let zero_dates = matches!(target, DataType::Date32 | DataType::Timestamp(..));
    let cleaned;
    let input = if zero_dates && text.iter().flatten().any(|s| s.starts_with("0000-00-00")) {
        cleaned = text
            .iter()
            .map(|v| v.filter(|s| !s.starts_with("0000-00-00")))
            .collect::<datafusion::arrow::array::StringArray>();
        &cleaned
    } else {
        text
    };
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    Ok(cast_with_options(input, target, &options)?)
}

/// `-838:59:59.000000` → an interval.
fn mysql_time(s: &str) -> Option<IntervalMonthDayNano> {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut parts = s.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let rest = parts.next()?;
    let (sec, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    let sec: i64 = sec.parse().ok()?;
    let micros: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    let ns = ((h * 3600 + m * 60 + sec) * 1_000_000 + micros) * 1000;
    Some(IntervalMonthDayNano::new(
        0,
        0,
        if negative { -ns } else { ns },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_types_are_sql_names_that_keep_values_whole() {
        use weir_pgtypes::oid;
        for (o, name) in [
            (oid::INT8, Some("bigint")),
            (oid::FLOAT8, Some("double precision")),
            (oid::NUMERIC, Some("numeric")),
            // Not `character`, which is character(1).
            (oid::BPCHAR, Some("bpchar")),
            (oid::TIMESTAMPTZ, Some("timestamp with time zone")),
            (oid::array_oid(oid::INT4), Some("integer[]")),
            (oid::array_oid(oid::BPCHAR), Some("bpchar[]")),
            (oid::UNKNOWN, None),
        ] {
            assert_eq!(pinned_type(o).as_deref(), name, "{o}");
        }
    }

    #[test]
    fn mysql_times_read_as_intervals() {
        assert_eq!(
            mysql_time("-838:59:59.5"),
            Some(IntervalMonthDayNano::new(
                0,
                0,
                -((838 * 3600 + 59 * 60 + 59) * 1_000_000 + 500_000) * 1000
            ))
        );
        assert_eq!(
            mysql_time("10:00:00"),
            Some(IntervalMonthDayNano::new(0, 0, 36_000_000_000_000))
        );
        assert_eq!(mysql_time("bad"), None);
    }

    #[tokio::test]
    async fn unloaded_files_are_removed_when_the_read_is_dropped() {
        use futures::TryStreamExt;
        use object_store::{ObjectStore, ObjectStoreExt};
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let folder = object_store::path::Path::from("weir-unload-1");
        let other = object_store::path::Path::from("kept/part.parquet");
        for path in [folder.clone().join("0000_part_00.parquet"), other.clone()] {
            store.put(&path, vec![1u8, 2, 3].into()).await.unwrap();
        }
        // A read that stops early (cancel, LIMIT, an error) drops its guard.
        drop(RemoveOnDrop(store.clone(), folder.clone()));
        let mut left = 1;
        for _ in 0..100 {
            left = store
                .list(Some(&folder))
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .len();
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(left, 0, "the unloaded files are gone");
        assert!(store.head(&other).await.is_ok(), "nothing else is touched");
    }
}
