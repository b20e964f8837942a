//! Statements the session answers itself, one class per file, before
//! anything reaches the planner; [`classify`] sorts a parsed statement.
//!
//! - [`set`]: `SET`, `SET TIME ZONE`, `SET NAMES`, `RESET`
//! - [`show`]: `SHOW name`, `SHOW ALL`
//! - [`transaction`]: `BEGIN`/`START TRANSACTION`, `COMMIT`/`END`, `ROLLBACK`,
//!   savepoints
//! - [`colnames`]: PostgreSQL's result column names for unnamed expressions
//! - [`cursor`]: `DECLARE`, `FETCH`, `CLOSE` (SQL-level cursors)
//! - [`explain`]: `EXPLAIN [ANALYZE]` output reshaped into PostgreSQL's
//!   single `QUERY PLAN` column
//!
//! - [`partition`]: `PARTITIONED BY` transforms of `CREATE TABLE`
//! - [`access`], [`role`], [`grant`], [`policy`]: roles, users, privileges,
//!   row filters and masks (parsed by
//!   Weir's own grammar before this module's [`classify`])
//!
//! Everything else goes to DataFusion's planner: queries, and the
//! lakehouse's DDL and INSERT, whose plans the session carries out.

pub mod access;
pub mod colnames;
pub mod cursor;
pub mod depth;
pub mod explain;
pub mod grant;
pub mod partition;
pub mod policy;
pub mod role;
pub mod set;
pub mod show;
pub mod transaction;

use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Statement};

use crate::error::{Result, WeirError};

/// What a statement is, for dispatch.
#[derive(Debug, Clone)]
pub enum Command {
    /// `SET name = value` (`None` value = `DEFAULT`, i.e. reset).
    Set {
        /// Parameter name.
        name: String,
        /// New value, or `None` for DEFAULT.
        value: Option<String>,
    },
    /// `RESET name` / `RESET ALL` (`None`).
    Reset(Option<String>),
    /// `SHOW name` / `SHOW ALL` (`None`).
    Show(Option<String>),
    /// Transaction control.
    Transaction(transaction::TxnCommand),
    /// `DISCARD ALL`.
    DiscardAll,
    /// `DEALLOCATE [PREPARE] name | ALL`.
    Deallocate(Option<String>),
    /// `DECLARE name CURSOR FOR query`.
    Declare {
        /// Cursor name.
        name: String,
        /// The query.
        query: Box<Statement>,
        /// `BINARY`: rows in binary format in the simple protocol.
        binary: bool,
        /// `WITH HOLD`: survives the end of the transaction.
        hold: bool,
    },
    /// `FETCH`: up to `rows` rows (`None` = all) from a cursor.
    Fetch {
        /// Cursor name.
        name: String,
        /// Row count, `None` for ALL.
        rows: Option<u64>,
    },
    /// `CLOSE name` / `CLOSE ALL` (`None`).
    CloseCursor(Option<String>),
    /// Accepted for compatibility, changes nothing (tag given).
    NoOp(&'static str),
    /// `ALTER TABLE`: schema evolution of an Iceberg table.
    Alter(Box<datafusion::sql::sqlparser::ast::AlterTable>),
    /// Planned and run by DataFusion.
    Query(Box<Statement>),
}

impl Command {
    /// Whether the command may run in an aborted transaction block.
    pub fn allowed_when_failed(&self) -> bool {
        matches!(self, Command::Transaction(t) if t.ends_failed_block())
    }
}

/// Lower-case an unquoted name, as PostgreSQL folds identifiers.
pub(crate) fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(id) if id.quote_style.is_none() => id.value.to_lowercase(),
            Some(id) => id.value.clone(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Sort a statement into a [`Command`], refusing what Weir does not do.
pub fn classify(stmt: Statement) -> Result<Command> {
    use Statement as S;
    Ok(match stmt {
        S::Set(set) => set::classify(set)?,
        S::Reset(r) => set::classify_reset(r),
        S::ShowVariable { variable } => show::classify(&variable),
        S::StartTransaction { .. }
        | S::Commit { .. }
        | S::Rollback { .. }
        | S::Savepoint { .. }
        | S::ReleaseSavepoint { .. } => Command::Transaction(transaction::classify(&stmt)?),
        S::Discard { .. } => Command::DiscardAll,
        S::Declare { stmts } => cursor::classify_declare(stmts)?,
        S::Fetch {
            name,
            direction,
            into: None,
            ..
        } => cursor::classify_fetch(&name.value, &direction)?,
        S::Close { cursor } => cursor::classify_close(cursor),
        S::Deallocate { name, .. } => {
            let n = name.value.clone();
            Command::Deallocate((!n.eq_ignore_ascii_case("all")).then_some(n))
        }
        S::Query(ref q) if q.body.as_select().is_some_and(|s| s.into.is_some()) => {
            return Err(WeirError::NotSupported(
                "SELECT INTO is not supported; use CREATE TABLE ... AS SELECT".into(),
            ))
        }
        S::Query(_)
        | S::Explain { .. }
        | S::ExplainTable { .. }
        | S::ShowTables { .. }
        | S::ShowColumns { .. }
        | S::ShowSchemas { .. }
        | S::ShowDatabases { .. } => Command::Query(Box::new(stmt)),
        S::Insert(_) | S::CreateSchema { .. } | S::CreateTable(_) => Command::Query(Box::new(stmt)),
        S::Drop {
            object_type: ObjectType::Table | ObjectType::Schema,
            ..
        } => Command::Query(Box::new(stmt)),
        S::Update { .. } => return Err(unsupported_dml("UPDATE")),
        S::Delete(_) => return Err(unsupported_dml("DELETE")),
        S::Merge { .. } => return Err(unsupported_dml("MERGE")),
        S::Copy { .. } => return Err(WeirError::NotSupported("COPY is not supported yet".into())),
        S::AlterTable(alter) => Command::Alter(Box::new(alter)),
        S::CreateView { .. } | S::Drop { .. } | S::CreateIndex(_) | S::Truncate { .. } => {
            return Err(WeirError::NotSupported(format!(
                "{} is not supported",
                statement_keyword(&stmt)
            )))
        }
        other => {
            return Err(WeirError::NotSupported(format!(
                "{} is not supported",
                statement_keyword(&other)
            )))
        }
    })
}

fn unsupported_dml(what: &str) -> WeirError {
    WeirError::NotSupported(format!(
        "{what} is not supported: lake tables are append-only (INSERT, CREATE TABLE AS)"
    ))
}

/// The leading keywords of a statement, for messages.
fn statement_keyword(stmt: &Statement) -> &'static str {
    let text = stmt.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        ["CREATE", "TABLE", ..] => "CREATE TABLE",
        ["CREATE", "VIEW", ..] => "CREATE VIEW",
        ["CREATE", "SCHEMA", ..] => "CREATE SCHEMA",
        ["CREATE", "INDEX", ..] => "CREATE INDEX",
        ["DROP", ..] => "DROP",
        ["ALTER", ..] => "ALTER TABLE",
        ["TRUNCATE", ..] => "TRUNCATE",
        ["CREATE", ..] => "CREATE",
        ["GRANT", ..] => "GRANT",
        ["REVOKE", ..] => "REVOKE",
        ["PREPARE", ..] => "PREPARE",
        ["EXECUTE", ..] => "EXECUTE",
        ["DECLARE", ..] => "DECLARE",
        ["FETCH", ..] => "FETCH",
        ["CLOSE", ..] => "CLOSE",
        ["LISTEN", ..] => "LISTEN",
        ["VACUUM", ..] => "VACUUM",
        ["ANALYZE", ..] => "ANALYZE",
        _ => "this statement",
    }
}
