//! The simple query protocol: a Query message may hold several statements;
//! they run in order, stopping at the first error, then one ReadyForQuery.

use std::sync::Arc;

use pgwire::messages::response::EmptyQueryResponse;
use pgwire::messages::PgWireBackendMessage;

use super::connection::{completed, is_fatal, ready, relay_events, send_error};
use super::rows::{fetch, row_description, rows_tag, stream_rows};
use super::scope::{guarded, StatementScope};
use super::Connection;
use crate::error::{Result, WeirError};
use crate::registry::SessionHandle;
use crate::session::{Outcome, Parsed, Prepared, Session};
use crate::state::Shutdown;
use crate::statements::transaction::TxnState;
use weir_pgtypes::RowEncoder;

/// One Query message: its statements, errors reported, then ReadyForQuery.
#[tracing::instrument(level = "debug", skip_all, fields(len = sql.len()))]
pub(super) async fn simple_query(
    conn: &mut Connection,
    session: &mut Session,
    cancel: &SessionHandle,
    shutdown: &Shutdown,
    sql: &str,
) -> Result<()> {
    let result = run_statements(conn, session, cancel, shutdown, sql).await;
    if let Err(e) = &result {
        if is_fatal(e) {
            return result;
        }
        send_error(conn, session, e)?;
    }
    relay_events(conn, session)?;
    ready(conn, session)
}

/// One statement of a simple Query message.
enum SimpleStatement {
    Parsed(Box<Parsed>),
    Prepared(Arc<Prepared>),
}

async fn run_statements(
    conn: &mut Connection,
    session: &mut Session,
    cancel: &SessionHandle,
    shutdown: &Shutdown,
    sql: &str,
) -> Result<()> {
    // A constant statement seen before (`SELECT 1` from a pool) skips
    // parsing and planning.
    let statements: Vec<SimpleStatement> = match session.cached_simple(sql) {
        Some(prepared) => vec![SimpleStatement::Prepared(prepared)],
        None => session
            .parse(sql)?
            .into_iter()
            .map(|s| SimpleStatement::Parsed(Box::new(s)))
            .collect(),
    };
    if statements.is_empty() {
        if session.transaction_state() == TxnState::Failed {
            return Err(WeirError::InFailedTransaction);
        }
        return conn.push(PgWireBackendMessage::EmptyQueryResponse(
            EmptyQueryResponse::new(),
        ));
    }
    let single = statements.len() == 1;
    for (part, stmt) in statements.into_iter().enumerate() {
        let scope = StatementScope::new(cancel, session, shutdown, sql);
        let part = (!single).then_some(part);
        let result = run_statement(conn, session, sql, (part, stmt), &scope).await;
        scope.end(session, &result);
        result?;
        relay_events(conn, session)?;
    }
    Ok(())
}

async fn run_statement(
    conn: &mut Connection,
    session: &mut Session,
    sql: &str,
    (part, stmt): (Option<usize>, SimpleStatement),
    scope: &StatementScope<'_>,
) -> Result<()> {
    let prepared = match stmt {
        SimpleStatement::Prepared(prepared) => prepared,
        SimpleStatement::Parsed(stmt) => {
            let mut prepared =
                guarded(conn, scope, true, session.prepare(sql, Some(*stmt), &[])).await?;
            prepared.part = part;
            let prepared = Arc::new(prepared);
            if part.is_none() {
                session.remember_simple(sql, &prepared);
            }
            prepared
        }
    };
    // The simple protocol's portal lives for this statement only.
    let mut portal = session.bind(prepared, &[], &[], &[])?;
    let (prepared, params) = (portal.prepared.clone(), portal.params.clone());
    let outcome = guarded(
        conn,
        scope,
        !prepared.is_write(),
        session.start(&prepared, &params),
    )
    .await?;
    match outcome {
        Outcome::Rows(running) => {
            let schema = portal
                .prepared
                .schema
                .clone()
                .unwrap_or_else(|| running.stream.schema());
            let encoder = RowEncoder::new(&schema, portal.binary.clone());
            conn.push(row_description(&schema, &encoder))?;
            portal.running = Some(running);
            let opts = session.text_options();
            let (rows, _) = stream_rows(conn, &opts, &mut portal, &encoder, 0, scope).await?;
            let tag = portal.running.as_ref().map(|r| r.tag).unwrap_or("SELECT");
            completed(conn, session, &rows_tag(tag, rows))
        }
        Outcome::Done(tag) => completed(conn, session, &tag),
        Outcome::Empty => conn.push(PgWireBackendMessage::EmptyQueryResponse(
            EmptyQueryResponse::new(),
        )),
        Outcome::Fetch { cursor, rows } => fetch(conn, session, &cursor, rows, None, scope).await,
    }
}
