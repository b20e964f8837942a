//! Transaction control. Weir's transactions are read-only, so a block only
//! tracks state: after a failed statement the block is aborted (`25P02` for
//! everything but `ROLLBACK`/`COMMIT`, or `ROLLBACK TO SAVEPOINT`), as in
//! PostgreSQL.

use datafusion::sql::sqlparser::ast::Statement;

use crate::error::{Result, SqlState, WeirError};

/// A transaction-control statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnCommand {
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint(String),
    /// `RELEASE [SAVEPOINT] name`.
    Release(String),
    /// `ROLLBACK TO [SAVEPOINT] name`.
    RollbackTo(String),
}

impl TxnCommand {
    /// Whether it may run (and ends or repairs) an aborted block.
    pub fn ends_failed_block(&self) -> bool {
        matches!(self, Self::Commit | Self::Rollback | Self::RollbackTo(_))
    }
}

/// Transaction state of a session, as ReadyForQuery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxnState {
    /// Not in a block (`I`).
    #[default]
    Idle,
    /// In a block (`T`).
    Block,
    /// In an aborted block (`E`).
    Failed,
}

pub(super) fn classify(stmt: &Statement) -> Result<TxnCommand> {
    Ok(match stmt {
        Statement::StartTransaction { .. } => TxnCommand::Begin,
        Statement::Commit { chain: false, .. } => TxnCommand::Commit,
        Statement::Rollback {
            chain: false,
            savepoint: None,
        } => TxnCommand::Rollback,
        Statement::Rollback {
            chain: false,
            savepoint: Some(s),
        } => TxnCommand::RollbackTo(s.value.clone()),
        Statement::Savepoint { name } => TxnCommand::Savepoint(name.value.clone()),
        Statement::ReleaseSavepoint { name } => TxnCommand::Release(name.value.clone()),
        _ => return Err(WeirError::NotSupported("AND CHAIN is not supported".into())),
    })
}

/// What running a transaction command did.
#[derive(Debug)]
pub struct TxnOutcome {
    /// Command tag.
    pub tag: &'static str,
    /// A warning to send as NoticeResponse (SQLSTATE, message).
    pub warning: Option<(SqlState, &'static str)>,
}

/// Apply `cmd` to the state and savepoint stack.
pub fn run(
    cmd: &TxnCommand,
    state: &mut TxnState,
    savepoints: &mut Vec<String>,
) -> Result<TxnOutcome> {
    let ok = |tag| Ok(TxnOutcome { tag, warning: None });
    match cmd {
        TxnCommand::Begin => {
            if *state != TxnState::Idle {
                return Ok(TxnOutcome {
                    tag: "BEGIN",
                    warning: Some((
                        SqlState::ACTIVE_SQL_TRANSACTION,
                        "there is already a transaction in progress",
                    )),
                });
            }
            *state = TxnState::Block;
            ok("BEGIN")
        }
        TxnCommand::Commit | TxnCommand::Rollback => {
            let was = std::mem::take(state);
            savepoints.clear();
            let tag = if *cmd == TxnCommand::Commit && was != TxnState::Failed {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            if was == TxnState::Idle {
                return Ok(TxnOutcome {
                    tag,
                    warning: Some((
                        SqlState::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    )),
                });
            }
            ok(tag)
        }
        TxnCommand::Savepoint(name) => {
            if *state == TxnState::Idle {
                return Err(WeirError::NoActiveTransaction(
                    "SAVEPOINT can only be used in transaction blocks",
                ));
            }
            savepoints.push(name.clone());
            ok("SAVEPOINT")
        }
        TxnCommand::Release(name) | TxnCommand::RollbackTo(name) => {
            if *state == TxnState::Idle {
                return Err(WeirError::NoActiveTransaction(
                    if matches!(cmd, TxnCommand::Release(_)) {
                        "RELEASE SAVEPOINT can only be used in transaction blocks"
                    } else {
                        "ROLLBACK TO SAVEPOINT can only be used in transaction blocks"
                    },
                ));
            }
            let Some(pos) = savepoints.iter().rposition(|s| s == name) else {
                return Err(WeirError::UnknownSavepoint(name.clone()));
            };
            if matches!(cmd, TxnCommand::Release(_)) {
                savepoints.truncate(pos);
                ok("RELEASE")
            } else {
                savepoints.truncate(pos + 1);
                *state = TxnState::Block;
                ok("ROLLBACK")
            }
        }
    }
}
