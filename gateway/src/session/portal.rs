//! Portals: a prepared statement with its parameters bound and, once it
//! runs, its result in progress. Protocol-level portals (Bind) and cursors
//! (DECLARE) are both kept here, by name.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::scalar::ScalarValue;

use super::{Prepared, Session};
use crate::error::{Result, WeirError};
use weir_pgtypes as types;

/// A bound statement.
#[derive(Debug)]
pub struct Portal {
    /// The statement.
    pub prepared: Arc<Prepared>,
    /// Bound parameter values.
    pub params: Vec<ScalarValue>,
    /// Result formats per column (`true` = binary).
    pub binary: Vec<bool>,
    /// Set once started: the running result.
    pub running: Option<Running>,
    /// The portal ran to completion.
    pub finished: bool,
    /// Tag word of the completed result, for re-executes.
    pub last_tag: &'static str,
    /// A `WITH HOLD` cursor: survives the end of its transaction.
    pub holdable: bool,
}

impl Portal {
    /// A portal of `prepared` that has not run yet.
    pub(super) fn new(
        prepared: Arc<Prepared>,
        params: Vec<ScalarValue>,
        binary: Vec<bool>,
        holdable: bool,
    ) -> Self {
        Self {
            prepared,
            params,
            binary,
            running: None,
            finished: false,
            last_tag: "SELECT",
            holdable,
        }
    }
}

/// A portal's result in progress.
pub struct Running {
    /// Result rows.
    pub stream: SendableRecordBatchStream,
    /// A batch partly sent by a suspended Execute, and the next row.
    pub pending: Option<(RecordBatch, usize)>,
    /// Command tag word (`SELECT`, `SHOW`, `EXPLAIN`).
    pub tag: &'static str,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("tag", &self.tag).finish()
    }
}

impl Session {
    /// Bind parameter values (wire bytes) to a prepared statement: a portal
    /// the caller keeps (the simple protocol's).
    pub fn bind(
        &self,
        prepared: Arc<Prepared>,
        formats: &[i16],
        values: &[Option<bytes::Bytes>],
        result_formats: &[i16],
    ) -> Result<Portal> {
        if values.len() != prepared.param_types.len() {
            return Err(WeirError::Protocol(format!(
                "bind message supplies {} parameters, but prepared statement requires {}",
                values.len(),
                prepared.param_types.len()
            )));
        }
        if formats.len() > 1 && formats.len() != values.len() {
            return Err(WeirError::Protocol(format!(
                "bind message has {} parameter formats but {} parameters",
                formats.len(),
                values.len()
            )));
        }
        let mut params = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let binary = match formats {
                [] => false,
                [one] => *one == 1,
                many => many[i] == 1,
            };
            params.push(types::decode_param(
                v.as_deref(),
                binary,
                prepared.param_types[i],
                prepared.param_targets[i].as_ref(),
            )?);
        }
        let ncols = prepared
            .schema
            .as_ref()
            .map(|s| s.fields().len())
            .unwrap_or(0);
        let binary = match result_formats {
            [] => vec![false; ncols],
            [one] => vec![*one == 1; ncols],
            many if many.len() == ncols => many.iter().map(|f| *f == 1).collect(),
            many => {
                return Err(WeirError::Protocol(format!(
                    "bind message has {} result formats but query has {ncols} columns",
                    many.len()
                )))
            }
        };
        Ok(Portal::new(prepared, params, binary, false))
    }

    /// Bind statement `statement` as portal `portal` (Bind): the unnamed
    /// portal (`""`) is replaced, a named one must be new.
    pub fn bind_portal(
        &mut self,
        portal: String,
        statement: &str,
        formats: &[i16],
        values: &[Option<bytes::Bytes>],
        result_formats: &[i16],
    ) -> Result<()> {
        let prepared = self.statement(statement)?;
        if !portal.is_empty() && self.portals.contains_key(&portal) {
            return Err(WeirError::DuplicatePortal(portal));
        }
        let bound = self.bind(prepared, formats, values, result_formats)?;
        self.portals.insert(portal, bound);
        Ok(())
    }

    /// Keep `cursor` as portal `name` (DECLARE); the name must be new.
    pub(super) fn declare(&mut self, name: &str, cursor: Portal) -> Result<()> {
        if self.portals.contains_key(name) {
            return Err(WeirError::DuplicatePortal(name.to_owned()));
        }
        self.portals.insert(name.to_owned(), cursor);
        Ok(())
    }

    /// Portal (or cursor) `name`.
    pub fn portal(&self, name: &str) -> Result<&Portal> {
        self.portals.get(name).ok_or_else(|| unknown_portal(name))
    }

    /// Portal (or cursor) `name`, to run it or read its rows.
    pub fn portal_mut(&mut self, name: &str) -> Result<&mut Portal> {
        self.portals
            .get_mut(name)
            .ok_or_else(|| unknown_portal(name))
    }

    /// Cursor `name`, to FETCH from it.
    pub fn cursor_mut(&mut self, name: &str) -> Result<&mut Portal> {
        self.portals
            .get_mut(name)
            .ok_or_else(|| WeirError::UnknownPortal(format!("cursor \"{name}\" does not exist")))
    }

    /// Close portal `name`, which stops its work (closing one that does not
    /// exist is not an error).
    pub fn close_portal(&mut self, name: &str) {
        self.portals.remove(name);
    }

    /// Close cursor `name` (`CLOSE name`): it must exist.
    pub(super) fn close_cursor(&mut self, name: &str) -> Result<()> {
        match self.portals.remove(name) {
            Some(_) => Ok(()),
            None => Err(WeirError::UnknownPortal(format!(
                "cursor \"{name}\" does not exist"
            ))),
        }
    }

    /// The end of a transaction: its portals close, `WITH HOLD` cursors stay.
    pub(super) fn close_transaction_portals(&mut self) {
        self.portals.retain(|_, p| p.holdable);
    }
}

fn unknown_portal(name: &str) -> WeirError {
    WeirError::UnknownPortal(format!("portal \"{name}\" does not exist"))
}
