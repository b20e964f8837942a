//! The extended query protocol: Parse/Bind/Describe/Execute/Close until
//! Sync (after an error the connection skips to Sync). Execute with a row
//! limit sends PortalSuspended; the portal keeps its stream (and any
//! half-sent batch) in the session for the next Execute.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    BindComplete, CloseComplete, ParseComplete, PortalSuspended,
};
use pgwire::messages::response::EmptyQueryResponse;
use pgwire::messages::PgWireBackendMessage;

use super::connection::{completed, relay_events};
use super::frontend::Message;
use super::rows::{complete, fetch, row_description, rows_tag, stream_rows};
use super::scope::{guarded, StatementScope};
use super::Connection;
use crate::error::{Result, WeirError};
use crate::registry::SessionHandle;
use crate::session::{Outcome, Session};
use crate::state::Shutdown;
use crate::statements::transaction::TxnState;
use weir_pgtypes::RowEncoder;

/// One extended-protocol message.
pub(super) async fn on_message(
    conn: &mut Connection,
    session: &mut Session,
    cancel: &SessionHandle,
    shutdown: &Shutdown,
    msg: Message,
) -> Result<()> {
    match msg {
        Message::Parse {
            name,
            sql,
            param_types,
        } => {
            let mut statements = session.parse(&sql)?;
            if statements.len() > 1 {
                return Err(WeirError::Syntax {
                    message: "cannot insert multiple commands into a prepared statement".into(),
                    position: None,
                });
            }
            let scope = StatementScope::new(cancel, session, shutdown, &sql);
            let prepared = guarded(
                conn,
                &scope,
                true,
                session.prepare(&sql, statements.pop(), &param_types),
            )
            .await;
            if prepared.is_err() {
                scope.end(session, &prepared);
            } else {
                drop(scope);
            }
            session.add_statement(name, prepared?)?;
            conn.push(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
        }
        Message::Bind {
            portal,
            statement,
            param_formats,
            params,
            result_formats,
        } => {
            session.bind_portal(portal, &statement, &param_formats, &params, &result_formats)?;
            conn.push(PgWireBackendMessage::BindComplete(BindComplete::new()))
        }
        Message::Describe { kind: b'S', name } => {
            let prepared = session.statement(&name)?;
            conn.push(PgWireBackendMessage::ParameterDescription(
                ParameterDescription::new(prepared.param_types.clone()),
            ))?;
            match &prepared.schema {
                Some(schema) => {
                    let encoder = RowEncoder::new(schema, vec![false; schema.fields().len()]);
                    conn.push(row_description(schema, &encoder))
                }
                None => conn.push(PgWireBackendMessage::NoData(NoData::new())),
            }
        }
        Message::Describe { name, .. } => {
            let portal = session.portal(&name)?;
            match &portal.prepared.schema {
                Some(schema) => {
                    let encoder = RowEncoder::new(schema, portal.binary.clone());
                    conn.push(row_description(schema, &encoder))
                }
                None => conn.push(PgWireBackendMessage::NoData(NoData::new())),
            }
        }
        Message::Execute {
            portal: name,
            max_rows,
        } => {
            let prepared = session.portal(&name)?.prepared.clone();
            let scope = StatementScope::new(cancel, session, shutdown, &prepared.sql);
            let result = execute(conn, session, &name, max_rows as usize, &scope).await;
            scope.end(session, &result);
            if result.is_err() {
                // A failed portal's work stops here (PostgreSQL drops it);
                // the portal stays until closed or the transaction ends.
                if let Ok(portal) = session.portal_mut(&name) {
                    portal.running = None;
                }
            }
            relay_events(conn, session)?;
            result
        }
        Message::Close { kind, name } => {
            if kind == b'S' {
                session.close_statement(&name);
            } else {
                session.close_portal(&name);
            }
            conn.push(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
        }
        _ => Err(WeirError::Internal(
            "not an extended-protocol message".into(),
        )),
    }
}

/// Execute portal `name`: start it if it has not started, then send up to
/// `max_rows` rows (0 = all).
async fn execute(
    conn: &mut Connection,
    session: &mut Session,
    name: &str,
    max_rows: usize,
    scope: &StatementScope<'_>,
) -> Result<()> {
    let portal = session.portal(name)?;
    if session.transaction_state() == TxnState::Failed && portal.running.is_some() {
        return Err(WeirError::InFailedTransaction);
    }
    if portal.finished {
        return conn.push(complete(&rows_tag(portal.last_tag, 0)));
    }
    if portal.running.is_none() {
        let (prepared, params) = (portal.prepared.clone(), portal.params.clone());
        let terminable = !prepared.is_write();
        let outcome = guarded(conn, scope, terminable, session.start(&prepared, &params)).await?;
        // A command may have closed the very portal that ran it (COMMIT,
        // CLOSE ALL, DISCARD ALL): then there is nothing to mark.
        match outcome {
            Outcome::Rows(running) => session.portal_mut(name)?.running = Some(running),
            Outcome::Done(tag) => {
                if let Ok(portal) = session.portal_mut(name) {
                    portal.finished = true;
                }
                return completed(conn, session, &tag);
            }
            Outcome::Empty => {
                if let Ok(portal) = session.portal_mut(name) {
                    portal.finished = true;
                }
                return conn.push(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ));
            }
            Outcome::Fetch { cursor, rows } => {
                let portal = session.portal_mut(name)?;
                portal.finished = true;
                portal.last_tag = "FETCH";
                let formats = portal.binary.clone();
                return fetch(conn, session, &cursor, rows, Some(formats), scope).await;
            }
        }
    }
    let opts = session.text_options();
    let portal = session.portal_mut(name)?;
    let schema = portal
        .prepared
        .schema
        .clone()
        .unwrap_or_else(|| Arc::new(Schema::empty()));
    let encoder = RowEncoder::new(&schema, portal.binary.clone());
    let (rows, suspended) = stream_rows(conn, &opts, portal, &encoder, max_rows, scope).await?;
    if suspended {
        return conn.push(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()));
    }
    let tag = portal.running.take().map(|r| r.tag).unwrap_or("SELECT");
    portal.finished = true;
    portal.last_tag = tag;
    completed(conn, session, &rows_tag(tag, rows))
}
