//! Commands answered by the session itself: SET/RESET/SHOW, transaction
//! control, DISCARD ALL, DEALLOCATE, FETCH and CLOSE of cursors; and the
//! transaction state checks every statement passes.

use super::execute::{one_batch, Outcome};
use super::Session;
use crate::error::{Result, WeirError};
use crate::statements::transaction::{self, TxnState};
use crate::statements::{show, Command};

impl Session {
    /// Check the transaction state allows `cmd`.
    pub(super) fn check_txn(&self, cmd: &Command) -> Result<()> {
        if self.txn == TxnState::Failed && !cmd.allowed_when_failed() {
            return Err(WeirError::InFailedTransaction);
        }
        Ok(())
    }

    /// Nothing but ROLLBACK runs in an aborted transaction block.
    pub(super) fn check_not_failed(&self) -> Result<()> {
        match self.txn {
            TxnState::Failed => Err(WeirError::InFailedTransaction),
            _ => Ok(()),
        }
    }

    pub(super) fn run_command(&mut self, cmd: &Command) -> Result<Outcome> {
        match cmd {
            Command::Set { name, value } => {
                let report = match value {
                    Some(v) => self.params.set(name, v)?,
                    None => self.params.reset(name)?,
                };
                self.events.reports.extend(report);
                self.apply_params();
                Ok(Outcome::Done("SET".into()))
            }
            Command::Reset(name) => {
                match name {
                    Some(n) => {
                        let report = self.params.reset(n)?;
                        self.events.reports.extend(report);
                    }
                    None => {
                        let changed = self.params.reset_all();
                        self.events.reports.extend(changed);
                    }
                }
                self.apply_params();
                Ok(Outcome::Done("RESET".into()))
            }
            Command::Show(name) => Ok(Outcome::Rows(one_batch(
                show::run(&self.params, name.as_deref())?,
                "SHOW",
            )?)),
            Command::Transaction(t) => {
                let out = transaction::run(t, &mut self.txn, &mut self.savepoints)?;
                if self.txn == TxnState::Idle {
                    // The transaction ended: its cursors and portals close.
                    self.close_transaction_portals();
                }
                if let Some((code, msg)) = out.warning {
                    self.events.notices.push(("WARNING", code, msg.to_owned()));
                }
                Ok(Outcome::Done(out.tag.into()))
            }
            Command::DiscardAll => {
                if self.txn != TxnState::Idle {
                    return Err(WeirError::ActiveTransaction(
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                let changed = self.params.reset_all();
                self.events.reports.extend(changed);
                self.statements.clear();
                self.portals.clear();
                self.apply_params();
                Ok(Outcome::Done("DISCARD ALL".into()))
            }
            Command::Deallocate(name) => {
                match name {
                    Some(n) => {
                        if self.statements.remove(n).is_none() {
                            return Err(WeirError::UnknownStatement(format!(
                                "prepared statement \"{n}\" does not exist"
                            )));
                        }
                    }
                    None => self.statements.clear(),
                }
                Ok(Outcome::Done("DEALLOCATE".into()))
            }
            Command::NoOp(tag) => Ok(Outcome::Done((*tag).into())),
            Command::Fetch { name, rows } => Ok(Outcome::Fetch {
                cursor: name.clone(),
                rows: *rows,
            }),
            Command::CloseCursor(Some(name)) => {
                self.close_cursor(name)?;
                Ok(Outcome::Done("CLOSE CURSOR".into()))
            }
            Command::CloseCursor(None) => {
                self.portals.clear();
                Ok(Outcome::Done("CLOSE CURSOR ALL".into()))
            }
            Command::Declare { .. } => Err(WeirError::Internal(
                "DECLARE reached the command path".into(),
            )),
            Command::Query(_) | Command::Alter(_) => Err(WeirError::Internal(
                "a planned statement reached the command path".into(),
            )),
        }
    }

    /// Record that a statement failed: an open block becomes aborted.
    pub fn on_error(&mut self) {
        if self.txn == TxnState::Block {
            self.txn = TxnState::Failed;
        }
    }

    /// End of an implicit transaction (Sync outside a block): portals close.
    pub fn end_implicit_transaction(&mut self) {
        if self.txn == TxnState::Idle {
            self.close_transaction_portals();
        }
    }

    /// The transaction state, for ReadyForQuery.
    pub fn transaction_state(&self) -> TxnState {
        self.txn
    }
}
