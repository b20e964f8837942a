//! Prepared statements: a statement classified, and planned if it is a
//! query, with its parameter types and result columns; the session's named
//! statements; and the small cache of constant simple-protocol statements.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;

use super::param_types::Param;
use super::{parse, plan_cache, write, Parsed, Session};
use crate::error::{Result, WeirError};
use crate::statements::{classify, show, Command};
use weir_pgtypes::oid;

/// A statement ready to run: classified, and planned if it is a query.
#[derive(Debug)]
pub struct Prepared {
    /// Original SQL text (for logs).
    pub sql: String,
    /// Which statement of `sql` it is, when `sql` holds several (a
    /// simple Query message): what planning it again plans.
    pub(crate) part: Option<usize>,
    pub(super) body: Body,
    /// Parameter type OIDs reported in ParameterDescription.
    pub param_types: Vec<u32>,
    /// What the planner expects each parameter to be.
    pub(super) param_targets: Vec<Option<DataType>>,
    /// Result columns, `None` when the statement returns no rows.
    pub schema: Option<SchemaRef>,
    /// Tables it reads and writes, for the audit trail.
    pub(super) objects: super::notes::Objects,
    /// The access-rule version it was planned under: run under another,
    /// it is planned again first (a REVOKE reaches prepared statements).
    /// `None` for the query inside a cursor, which runs as declared.
    pub(super) policy_version: Option<i64>,
    /// That newer plan, once made.
    pub(super) replanned: std::sync::Mutex<Option<Arc<Prepared>>>,
}

/// What a prepared statement does when it runs.
#[derive(Debug)]
pub(super) enum Body {
    Empty,
    Command(Command),
    Declare {
        name: String,
        inner: Arc<Prepared>,
        binary: bool,
        hold: bool,
    },
    /// Roles and privileges: applied, answered with a tag (or rows).
    Access(Box<crate::statements::access::AccessStatement>),
    /// A lakehouse change (DDL, INSERT): carried out, answered with a tag.
    Write {
        plan: Box<LogicalPlan>,
        partitions: Vec<weir_connectors::lake::ddl::PartitionField>,
    },
    Plan {
        plan: Box<LogicalPlan>,
        explain_verbose: Option<bool>,
        /// `Some` for a constant statement: its result, once computed.
        constant: Option<plan_cache::Cached>,
        /// `Some` for a query whose optimized plan can be reused.
        optimized: Option<plan_cache::Optimized>,
        /// It reads tables (other than the catalogs' own): it waits for an
        /// execution slot (see [`crate::engine::admission`]).
        reads_tables: bool,
    },
}

impl Prepared {
    /// Whether it changes the lakehouse (it is not cut short at shutdown).
    pub fn is_write(&self) -> bool {
        matches!(self.body, Body::Write { .. })
    }
}

impl Session {
    /// Classify and (for queries) plan a statement; `None` = empty query.
    /// `declared` are the client's parameter type OIDs (0 = infer).
    pub async fn prepare(
        &mut self,
        sql: &str,
        parsed: Option<Parsed>,
        declared: &[u32],
    ) -> Result<Prepared> {
        self.begin_gate();
        self.prepare_under_gate(sql, parsed, declared).await
    }

    /// [`Self::prepare`], decided by the gate of the statement under way.
    async fn prepare_under_gate(
        &mut self,
        sql: &str,
        parsed: Option<Parsed>,
        declared: &[u32],
    ) -> Result<Prepared> {
        let version = self.gate().version();
        let mut prepared =
            crate::engine::runtime::cpu_bound(self.prepare_here(sql, parsed, declared)).await?;
        prepared.policy_version = Some(version);
        Ok(prepared)
    }

    /// `prepared` as the access rules in force now plan it: itself when
    /// they have not changed since, else a new plan of its text (kept for
    /// the next execution). A statement whose result columns would change
    /// fails as PostgreSQL's do (`0A000`).
    pub(super) async fn current_plan(
        &mut self,
        prepared: &Prepared,
    ) -> Result<Option<Arc<Prepared>>> {
        let version = self.gate().version();
        let Some(planned_under) = prepared.policy_version else {
            return Ok(None);
        };
        if planned_under == version
            || !matches!(
                prepared.body,
                Body::Plan { .. } | Body::Write { .. } | Body::Declare { .. }
            )
        {
            return Ok(None);
        }
        let kept = prepared
            .replanned
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .filter(|p| p.policy_version == Some(version));
        if let Some(p) = kept {
            return Ok(Some(p));
        }
        let mut statements = self.parse(&prepared.sql)?;
        if statements.len() != 1 {
            // Part of a multi-statement message (a cursor declared with
            // others): it runs as planned, like a statement under way.
            return Ok(None);
        }
        let fresh = Box::pin(self.prepare_under_gate(
            &prepared.sql,
            statements.pop(),
            &prepared.param_types,
        ))
        .await?;
        // What the client was told (RowDescription): names and types.
        let shape = |p: &Prepared| {
            p.schema.as_ref().map(|s| {
                s.fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().clone()))
                    .collect::<Vec<_>>()
            })
        };
        if shape(&fresh) != shape(prepared) {
            return Err(WeirError::NotSupported(
                "cached plan must not change result type".into(),
            ));
        }
        let fresh = Arc::new(fresh);
        if let Ok(mut slot) = prepared.replanned.lock() {
            *slot = Some(Arc::clone(&fresh));
        }
        Ok(Some(fresh))
    }

    async fn prepare_here(
        &mut self,
        sql: &str,
        parsed: Option<Parsed>,
        declared: &[u32],
    ) -> Result<Prepared> {
        let (stmt, partitions) = match parsed {
            None => {
                return Ok(Prepared {
                    sql: sql.to_owned(),
                    body: Body::Empty,
                    param_types: declared.to_vec(),
                    param_targets: vec![None; declared.len()],
                    schema: None,
                    objects: Default::default(),
                    policy_version: None,
                    replanned: Default::default(),
                    part: None,
                })
            }
            Some(Parsed::Access(stmt)) => {
                let schema = super::access::schema(&stmt);
                return Ok(finish(
                    sql,
                    Body::Access(stmt),
                    schema,
                    Vec::new(),
                    declared,
                ));
            }
            Some(Parsed::Sql { stmt, partitions }) => (stmt, partitions),
        };
        let stmt = match stmt {
            DfStatement::Statement(stmt) => *stmt,
            other => {
                let plan = self.plan_statement(other, declared).await?;
                return Ok(finish(
                    sql,
                    self.write_body(plan, partitions)?,
                    None,
                    Vec::new(),
                    declared,
                ));
            }
        };
        let lists_catalog = parse::lists_catalog(&stmt);
        let cmd = classify(stmt)?;
        self.check_txn(&cmd)?;
        if lists_catalog {
            // Tables and schemas may have been created elsewhere (another
            // server, PyIceberg): listings are re-read before answering.
            self.engine.lake().refresh().await?;
        }
        let (body, schema, targets) = match cmd {
            Command::Query(stmt) => {
                let (body, schema, targets) = self.plan_query(stmt, declared).await?;
                match body {
                    Body::Plan { plan, .. } if write::is_write(&plan) => {
                        (self.write_body(*plan, partitions)?, None, targets)
                    }
                    body => (body, schema, targets),
                }
            }
            Command::Declare {
                name,
                query,
                binary,
                hold,
            } => {
                let (body, schema, targets) = self.plan_query(query, declared).await?;
                let inner = Arc::new(finish(sql, body, schema, targets.clone(), declared));
                (
                    Body::Declare {
                        name,
                        inner,
                        binary,
                        hold,
                    },
                    None,
                    targets,
                )
            }
            Command::Fetch { name, rows } => {
                let schema = self
                    .portal(&name)
                    .ok()
                    .and_then(|p| p.prepared.schema.clone())
                    .ok_or_else(|| {
                        WeirError::UnknownPortal(format!("cursor \"{name}\" does not exist"))
                    })?;
                (
                    Body::Command(Command::Fetch { name, rows }),
                    Some(schema),
                    Vec::new(),
                )
            }
            Command::Show(name) => {
                let schema = show::schema(name.as_deref());
                (Body::Command(Command::Show(name)), Some(schema), Vec::new())
            }
            other => (Body::Command(other), None, Vec::new()),
        };
        Ok(finish(sql, body, schema, targets, declared))
    }

    /// Keep `prepared` as statement `name` (Parse): the unnamed statement
    /// (`""`) is replaced, a named one must be new.
    pub fn add_statement(&mut self, name: String, prepared: Prepared) -> Result<()> {
        if !name.is_empty() && self.statements.contains_key(&name) {
            return Err(WeirError::DuplicateStatement(name));
        }
        self.statements.insert(name, Arc::new(prepared));
        Ok(())
    }

    /// Prepared statement `name`.
    pub fn statement(&self, name: &str) -> Result<Arc<Prepared>> {
        self.statements.get(name).cloned().ok_or_else(|| {
            WeirError::UnknownStatement(format!("prepared statement \"{name}\" does not exist"))
        })
    }

    /// Forget prepared statement `name` (closing one that does not exist is
    /// not an error).
    pub fn close_statement(&mut self, name: &str) {
        self.statements.remove(name);
    }

    /// A constant statement prepared earlier from exactly this SQL text.
    pub fn cached_simple(&self, sql: &str) -> Option<Arc<Prepared>> {
        self.simple_cache.get(sql).cloned()
    }

    /// Remember `prepared` for its SQL text if it is a constant statement.
    pub fn remember_simple(&mut self, sql: &str, prepared: &Arc<Prepared>) {
        if !matches!(
            prepared.body,
            Body::Plan {
                constant: Some(_),
                ..
            }
        ) {
            return;
        }
        if self.simple_cache.len() >= plan_cache::MAX_CACHED_STATEMENTS {
            self.simple_cache.clear();
        }
        self.simple_cache
            .insert(sql.to_owned(), Arc::clone(prepared));
    }
}

/// A [`Prepared`] with parameter types: the client's where declared, else
/// the planner's (see [`super::param_types`]), else text.
pub(super) fn finish(
    sql: &str,
    body: Body,
    schema: Option<SchemaRef>,
    targets: Vec<Option<Param>>,
    declared: &[u32],
) -> Prepared {
    let n = targets.len().max(declared.len());
    let mut param_types = Vec::with_capacity(n);
    let mut param_targets = Vec::with_capacity(n);
    for i in 0..n {
        let planned = targets.get(i).cloned().flatten();
        let declared_oid = declared.get(i).copied().unwrap_or(0);
        param_types.push(match (declared_oid, &planned) {
            (0, Some(p)) => p.oid,
            (0, None) => oid::TEXT,
            (named, _) => named,
        });
        param_targets.push(planned.map(|p| p.target));
    }
    Prepared {
        sql: sql.to_owned(),
        objects: super::notes::Objects::of_body(&body),
        policy_version: None,
        replanned: Default::default(),
        part: None,
        body,
        param_types,
        param_targets,
        schema,
    }
}
