//! One remote source: its connection pool and its cached metadata.
//!
//! Pools connect lazily, so Weir starts (and serves everything else) while a
//! source is down; a query that needs it fails with 08001 naming it within
//! the connect timeout, and the next query tries again.
//!
//! Metadata (schemas, tables, columns, row estimates) is read in one query
//! per source and cached for `metadata_ttl_secs`; an expired cache is
//! refreshed in the background, a table not found in the cache triggers a
//! refresh at once, and [`Source::refresh`] forces one.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Executor, Row};

use super::config::{redact_url, SourceConfig, SourceKind, TlsMode};
use super::types::{map_type, RemoteColumn, TypeInfo};
use crate::{ConnectorError, RemoteCode, SourceFault};

/// A connection pool of either protocol.
#[derive(Debug, Clone)]
pub enum Pool {
    /// PostgreSQL and Redshift.
    Postgres(PgPool),
    /// MySQL and MariaDB.
    MySql(MySqlPool),
}

/// A remote table's metadata.
#[derive(Debug)]
pub struct TableMeta {
    /// Schema (MySQL: database) at the source.
    pub schema: String,
    /// Table or view name at the source.
    pub name: String,
    /// Whether it is a view.
    pub is_view: bool,
    /// Columns in order.
    pub columns: Vec<RemoteColumn>,
    /// The source's row estimate, when it keeps one.
    pub estimated_rows: Option<u64>,
    /// PostgreSQL: the table's size in pages (for ctid-range splits).
    pub pages: Option<u64>,
    /// MySQL: the table's primary key when it is one integer column (for
    /// key-range splits).
    pub integer_key: Option<String>,
    pub(crate) primary: Vec<String>,
    /// The Arrow schema Weir exposes.
    pub arrow_schema: SchemaRef,
}

type Tables = BTreeMap<String, BTreeMap<String, Arc<TableMeta>>>;

struct Cache {
    tables: Arc<Tables>,
    loaded: Option<Instant>,
}

/// A configured source.
pub struct Source {
    config: SourceConfig,
    pool: Pool,
    staging: Option<super::unload::Staging>,
    cache: RwLock<Cache>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Build the source's (lazy) pool; nothing is connected yet.
    pub fn new(config: SourceConfig) -> std::result::Result<Arc<Self>, ConnectorError> {
        let invalid = |why: String| {
            ConnectorError::DataFusion(DataFusionError::Configuration(format!(
                "source {}: {why}",
                config.name
            )))
        };
        let acquire = config.connect_timeout();
        let pool =
            match config.kind {
                SourceKind::Postgres | SourceKind::Redshift => {
                    let mut options: PgConnectOptions = config.url.parse().map_err(|e| {
                        invalid(format!("bad URL {}: {e}", redact_url(&config.url)))
                    })?;
                    options = options.application_name("weir").ssl_mode(match config.tls {
                        TlsMode::Disable => PgSslMode::Disable,
                        TlsMode::Prefer => PgSslMode::Prefer,
                        TlsMode::Require => PgSslMode::Require,
                        TlsMode::VerifyCa => PgSslMode::VerifyCa,
                        TlsMode::VerifyFull => PgSslMode::VerifyFull,
                    });
                    if config.statement_timeout_secs > 0 && config.kind == SourceKind::Postgres {
                        options = options.options([(
                            "statement_timeout",
                            format!("{}s", config.statement_timeout_secs),
                        )]);
                    }
                    let timeout = config.statement_timeout_secs;
                    let redshift = config.kind == SourceKind::Redshift;
                    Pool::Postgres(
                        PgPoolOptions::new()
                            .max_connections(config.pool_size.max(1))
                            .acquire_timeout(acquire)
                            .after_connect(move |conn, _| {
                                Box::pin(async move {
                                    if redshift && timeout > 0 {
                                        conn.execute(
                                            format!("SET statement_timeout TO {}", timeout * 1000)
                                                .as_str(),
                                        )
                                        .await?;
                                    }
                                    Ok(())
                                })
                            })
                            .connect_lazy_with(options),
                    )
                }
                SourceKind::Mysql => {
                    let options: MySqlConnectOptions = config.url.parse().map_err(|e| {
                        invalid(format!("bad URL {}: {e}", redact_url(&config.url)))
                    })?;
                    let options = options
                        .charset("utf8mb4")
                        .timezone(Some("+00:00".to_owned()))
                        .ssl_mode(match config.tls {
                            TlsMode::Disable => MySqlSslMode::Disabled,
                            TlsMode::Prefer => MySqlSslMode::Preferred,
                            TlsMode::Require => MySqlSslMode::Required,
                            TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
                            TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
                        });
                    let timeout = config.statement_timeout_secs;
                    Pool::MySql(
                        MySqlPoolOptions::new()
                            .max_connections(config.pool_size.max(1))
                            .acquire_timeout(acquire)
                            .after_connect(move |conn, _| {
                                Box::pin(async move {
                                    if timeout > 0 {
                                        // MariaDB: max_statement_time (seconds);
                                        // MySQL: max_execution_time (ms).
                                        let mariadb = conn
                                            .fetch_one("SELECT VERSION()")
                                            .await?
                                            .try_get::<String, _>(0)?
                                            .contains("MariaDB");
                                        let set = if mariadb {
                                            format!("SET SESSION max_statement_time = {timeout}")
                                        } else {
                                            format!(
                                                "SET SESSION max_execution_time = {}",
                                                timeout * 1000
                                            )
                                        };
                                        conn.execute(set.as_str()).await?;
                                    }
                                    Ok(())
                                })
                            })
                            .connect_lazy_with(options),
                    )
                }
            };
        let staging = match (&config.unload, config.kind) {
            (Some(u), SourceKind::Redshift) => {
                Some(super::unload::Staging::open(u).map_err(ConnectorError::DataFusion)?)
            }
            (Some(_), _) => {
                return Err(invalid("[source.unload] is for Redshift sources".into()));
            }
            (None, _) => None,
        };
        Ok(Arc::new(Self {
            config,
            pool,
            staging,
            cache: RwLock::new(Cache {
                tables: Arc::new(Tables::new()),
                loaded: None,
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// The source's name (its catalog name).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its configuration.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// Its kind.
    pub fn kind(&self) -> SourceKind {
        self.config.kind
    }

    /// Its pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Close the pool: wait for connections in use to come back, then end
    /// each connection's session at the source (PostgreSQL's Terminate,
    /// MySQL's COM_QUIT). Later acquisitions fail.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }

    /// Redshift: where UNLOAD writes, when configured.
    pub fn staging(&self) -> Option<&super::unload::Staging> {
        self.staging.as_ref()
    }

    /// The cached tables (possibly empty or stale); starts a background
    /// refresh when the cache has expired.
    pub fn cached(self: &Arc<Self>) -> Arc<Tables> {
        let (tables, fresh) = {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            let fresh = cache
                .loaded
                .is_some_and(|at| at.elapsed() < self.config.metadata_ttl());
            (cache.tables.clone(), fresh)
        };
        // One background refresh at a time: while one runs (or waits for a
        // source that is down), further accesses serve the cache.
        let idle = self.refresh_lock.try_lock().is_ok();
        if !fresh && idle {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let me = self.clone();
                handle.spawn(async move {
                    if let Err(e) = me.refresh_if_stale().await {
                        tracing::warn!(source = %me.name(), error = %e, "metadata refresh failed");
                    }
                });
            }
        }
        tables
    }

    /// One table's metadata; a table missing from the cache makes Weir read
    /// the source's metadata again before saying it does not exist (so a
    /// table created at the source is queryable at once).
    pub async fn table(
        self: &Arc<Self>,
        schema: &str,
        table: &str,
    ) -> Result<Option<Arc<TableMeta>>> {
        let found = |tables: &Tables| tables.get(schema).and_then(|s| s.get(table)).cloned();
        let (hit, age) = {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            (found(&cache.tables), cache.loaded.map(|at| at.elapsed()))
        };
        match (hit, age) {
            (Some(t), Some(age)) if age < self.config.metadata_ttl() => Ok(Some(t)),
            (Some(t), _) => {
                // Stale but present: serve it, refresh behind.
                self.cached();
                Ok(Some(t))
            }
            (None, _) => {
                self.refresh().await?;
                let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
                Ok(found(&cache.tables))
            }
        }
    }

    async fn refresh_if_stale(&self) -> Result<()> {
        let _one = self.refresh_lock.lock().await;
        let fresh = {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            cache
                .loaded
                .is_some_and(|at| at.elapsed() < self.config.metadata_ttl())
        };
        if fresh {
            return Ok(());
        }
        self.load().await
    }

    /// Read the source's metadata now.
    pub async fn refresh(&self) -> Result<()> {
        let _one = self.refresh_lock.lock().await;
        self.load().await
    }

    async fn load(&self) -> Result<()> {
        let rows = match &self.pool {
            Pool::Postgres(pool) => self.introspect_pg(pool).await?,
            Pool::MySql(pool) => self.introspect_mysql(pool).await?,
        };
        let mut tables = Tables::new();
        let mut current: Option<TableMeta> = None;
        let push = |t: TableMeta, tables: &mut Tables| {
            tables
                .entry(t.schema.clone())
                .or_default()
                .insert(t.name.clone(), Arc::new(t));
        };
        for row in rows {
            if !self.config.exposes(&row.schema, Some(&row.table)) {
                continue;
            }
            let same = current
                .as_ref()
                .is_some_and(|t| t.schema == row.schema && t.name == row.table);
            if !same {
                if let Some(t) = current.take() {
                    push(finish(t), &mut tables);
                }
                current = Some(TableMeta {
                    schema: row.schema.clone(),
                    name: row.table.clone(),
                    is_view: row.is_view,
                    columns: Vec::new(),
                    estimated_rows: row.estimated_rows,
                    pages: row.pages,
                    integer_key: None,
                    primary: Vec::new(),
                    arrow_schema: Arc::new(Schema::empty()),
                });
            }
            if let Some(t) = current.as_mut() {
                if row.primary {
                    t.primary.push(row.column.clone());
                }
                t.columns.push(RemoteColumn {
                    name: row.column,
                    source_type: row.ty.display.clone(),
                    nullable: row.nullable,
                    mapping: map_type(self.config.kind, &row.ty, self.config.numeric_scale),
                });
            }
        }
        if let Some(t) = current.take() {
            push(finish(t), &mut tables);
        }
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.tables = Arc::new(tables);
        cache.loaded = Some(Instant::now());
        Ok(())
    }

    /// A source error as the client should see it.
    pub fn error(&self, e: sqlx::Error) -> DataFusionError {
        let (fault, message) = classify(&e, self.config.connect_timeout());
        ConnectorError::source(self.name(), fault, message)
    }

    async fn introspect_pg(&self, pool: &PgPool) -> Result<Vec<ColumnRow>> {
        if self.config.kind == SourceKind::Redshift {
            // Redshift's own catalog view first; the PostgreSQL stand-in
            // used in tests has none, and answers from information_schema.
            let redshift = match self.introspect_info_schema(pool, "svv_columns").await {
                Ok(mut rows) => {
                    // Row counts Redshift keeps per table (for UNLOAD).
                    let counts: Vec<(String, String, i64)> = sqlx::query_as(
                        "SELECT \"schema\"::text, \"table\"::text, tbl_rows::int8 FROM svv_table_info",
                    )
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default();
                    for r in rows.iter_mut() {
                        r.estimated_rows = counts
                            .iter()
                            .find(|(s, t, _)| *s == r.schema && *t == r.table)
                            .map(|(_, _, n)| (*n).max(0) as u64);
                    }
                    Ok(rows)
                }
                Err(e) => Err(e),
            };
            return match redshift {
                Err(e) if is_undefined_table(&e) => self
                    .introspect_info_schema(pool, "information_schema.columns")
                    .await
                    .map_err(|e| self.error(e)),
                other => other.map_err(|e| self.error(e)),
            };
        }
        const SQL: &str = "SELECT n.nspname::text, c.relname::text, c.relkind IN ('v', 'm'), \
             a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
             COALESCE(bt.typname, t.typname)::text, COALESCE(bt.typtype, t.typtype)::text, \
             CASE WHEN COALESCE(bt.typname, t.typname) = 'numeric' AND a.atttypmod > 0 \
                  THEN ((a.atttypmod - 4) >> 16) & 65535 END, \
             CASE WHEN COALESCE(bt.typname, t.typname) = 'numeric' AND a.atttypmod > 0 \
                  THEN (a.atttypmod - 4) & 65535 END, \
             CASE WHEN c.reltuples >= 0 THEN c.reltuples::int8 END, \
             CASE WHEN c.relkind IN ('r', 'm') THEN c.relpages::int8 END \
           FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
           JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
           LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
           WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
             AND has_schema_privilege(n.oid, 'USAGE') \
             AND NOT c.relispartition \
           ORDER BY 1, 2, a.attnum";
        let rows = sqlx::query(SQL)
            .fetch_all(pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|r| {
                Ok(ColumnRow {
                    schema: r.try_get(0)?,
                    table: r.try_get(1)?,
                    is_view: r.try_get(2)?,
                    column: r.try_get(3)?,
                    nullable: r.try_get(5)?,
                    ty: TypeInfo {
                        display: r.try_get(4)?,
                        name: r.try_get(6)?,
                        pg_typtype: r.try_get::<String, _>(7)?.chars().next(),
                        precision: r.try_get::<Option<i32>, _>(8)?.map(|p| p as u32),
                        scale: r.try_get::<Option<i32>, _>(9)?.map(|s| s as u32),
                    },
                    estimated_rows: r.try_get::<Option<i64>, _>(10)?.map(|n| n as u64),
                    pages: r.try_get::<Option<i64>, _>(11)?.map(|n| n.max(0) as u64),
                    primary: false,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.error(e))
    }

    async fn introspect_info_schema(
        &self,
        pool: &PgPool,
        view: &str,
    ) -> std::result::Result<Vec<ColumnRow>, sqlx::Error> {
        let sql = format!(
            "SELECT c.table_schema::text, c.table_name::text, \
                    COALESCE(t.table_type, 'BASE TABLE')::text = 'VIEW', c.column_name::text, \
                    c.data_type::text, c.is_nullable::text = 'YES', \
                    c.numeric_precision::int4, c.numeric_scale::int4, \
                    c.character_maximum_length::int4 \
             FROM {view} c \
             LEFT JOIN information_schema.tables t \
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema', 'pg_internal') \
             ORDER BY 1, 2, c.ordinal_position"
        );
        let rows = sqlx::query(&sql).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(4)?;
                let precision: Option<i32> = r.try_get(6)?;
                let scale: Option<i32> = r.try_get(7)?;
                let numeric = name == "numeric" || name == "decimal";
                let display = match (numeric, precision, scale) {
                    (true, Some(p), Some(s)) => format!("{name}({p},{s})"),
                    _ => name.clone(),
                };
                Ok(ColumnRow {
                    schema: r.try_get(0)?,
                    table: r.try_get(1)?,
                    is_view: r.try_get(2)?,
                    column: r.try_get(3)?,
                    nullable: r.try_get(5)?,
                    ty: TypeInfo {
                        name,
                        display,
                        precision: precision.filter(|_| numeric).map(|p| p as u32),
                        scale: scale.filter(|_| numeric).map(|s| s as u32),
                        pg_typtype: None,
                    },
                    estimated_rows: None,
                    pages: None,
                    primary: false,
                })
            })
            .collect()
    }

    async fn introspect_mysql(&self, pool: &MySqlPool) -> Result<Vec<ColumnRow>> {
        const SQL: &str = "SELECT CAST(c.TABLE_SCHEMA AS CHAR), CAST(c.TABLE_NAME AS CHAR), \
                t.TABLE_TYPE = 'VIEW', CAST(c.COLUMN_NAME AS CHAR), \
                CAST(c.DATA_TYPE AS CHAR), CAST(c.COLUMN_TYPE AS CHAR), c.IS_NULLABLE = 'YES', \
                CAST(c.NUMERIC_PRECISION AS SIGNED), CAST(c.NUMERIC_SCALE AS SIGNED), \
                CAST(t.TABLE_ROWS AS SIGNED), c.COLUMN_KEY = 'PRI' \
             FROM information_schema.COLUMNS c \
             JOIN information_schema.TABLES t \
               ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
             WHERE c.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION";
        let rows = sqlx::query(SQL)
            .fetch_all(pool)
            .await
            .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(4)?;
                let display: String = r.try_get(5)?;
                let precision: Option<i64> = r.try_get(7)?;
                // BIT(n) reports its width as NUMERIC_PRECISION too.
                Ok(ColumnRow {
                    schema: r.try_get(0)?,
                    table: r.try_get(1)?,
                    is_view: r.try_get::<Option<bool>, _>(2)?.unwrap_or(false),
                    column: r.try_get(3)?,
                    nullable: r.try_get::<Option<bool>, _>(6)?.unwrap_or(true)
                        || matches!(name.as_str(), "date" | "datetime" | "timestamp"),
                    ty: TypeInfo {
                        precision: precision.map(|p| p as u32),
                        scale: r.try_get::<Option<i64>, _>(8)?.map(|s| s as u32),
                        name: name.to_ascii_lowercase(),
                        display,
                        pg_typtype: None,
                    },
                    estimated_rows: r.try_get::<Option<i64>, _>(9)?.map(|n| n.max(0) as u64),
                    pages: None,
                    primary: r.try_get::<Option<bool>, _>(10)?.unwrap_or(false),
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.error(e))
    }
}

struct ColumnRow {
    schema: String,
    table: String,
    is_view: bool,
    column: String,
    nullable: bool,
    ty: TypeInfo,
    estimated_rows: Option<u64>,
    pages: Option<u64>,
    /// Part of the primary key.
    primary: bool,
}

fn finish(mut t: TableMeta) -> TableMeta {
    if let [key] = t.primary.as_slice() {
        let integer = t
            .columns
            .iter()
            .any(|c| &c.name == key && matches!(&c.mapping, Ok(m) if m.data_type.is_integer()));
        if integer {
            t.integer_key = Some(key.clone());
        }
    }
    t.arrow_schema = Arc::new(Schema::new(
        t.columns
            .iter()
            .map(RemoteColumn::field)
            .collect::<Vec<_>>(),
    ));
    t
}

fn is_undefined_table(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01"))
}

/// What kind of failure a driver error is, and its message.
fn classify(e: &sqlx::Error, connect_timeout: Duration) -> (SourceFault, String) {
    match e {
        sqlx::Error::PoolTimedOut => (
            SourceFault::Unreachable,
            format!(
                "cannot connect: no connection within the connect timeout ({} s)",
                connect_timeout.as_secs()
            ),
        ),
        sqlx::Error::Io(io) => (SourceFault::Lost, format!("connection lost: {io}")),
        sqlx::Error::Tls(t) => (SourceFault::Unreachable, format!("TLS: {t}")),
        sqlx::Error::Protocol(p) => (SourceFault::Protocol, format!("protocol: {p}")),
        sqlx::Error::PoolClosed => (SourceFault::Closed, "the pool is closed".into()),
        sqlx::Error::Database(d) => {
            let sqlstate = d.code().map(|c| c.into_owned()).unwrap_or_default();
            let fault = match d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                Some(my) => mysql_fault(sqlstate, my.number()),
                None if sqlstate == "57014" => SourceFault::Cancelled,
                None => SourceFault::Remote(RemoteCode::Postgres(sqlstate)),
            };
            (fault, d.message().to_owned())
        }
        other => (SourceFault::Other, other.to_string()),
    }
}

/// MySQL's and MariaDB's errors that mean the statement was stopped:
/// `ER_QUERY_INTERRUPTED`, MariaDB's `ER_STATEMENT_TIMEOUT`
/// (`max_statement_time`), MySQL's `ER_QUERY_TIMEOUT`
/// (`max_execution_time`).
const MYSQL_STOPPED: [u16; 3] = [1317, 1969, 3024];

fn mysql_fault(sqlstate: String, number: u16) -> SourceFault {
    if MYSQL_STOPPED.contains(&number) {
        SourceFault::Cancelled
    } else {
        SourceFault::Remote(RemoteCode::Mysql { sqlstate, number })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_statements_are_cancelled_and_other_codes_stay_the_sources() {
        assert_eq!(mysql_fault("70100".into(), 1317), SourceFault::Cancelled);
        assert_eq!(mysql_fault("HY000".into(), 1969), SourceFault::Cancelled);
        assert_eq!(mysql_fault("HY000".into(), 3024), SourceFault::Cancelled);
        assert_eq!(
            mysql_fault("42S02".into(), 1146),
            SourceFault::Remote(RemoteCode::Mysql {
                sqlstate: "42S02".into(),
                number: 1146
            })
        );
    }
}
