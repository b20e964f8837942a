//! The query loop of one authenticated connection: it reads messages and
//! hands each to its protocol (`query` for the simple protocol,
//! `extended` for the extended one), answers Sync with
//! ReadyForQuery, flushes replies once per batch of pipelined messages,
//! and ends the connection on socket failures and shutdown.
//!
//! Every statement runs in a `scope`: a CancelRequest or
//! `statement_timeout` fires a token that the protocol code selects on; the
//! statement's stream is dropped, which stops its work.

use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;
use tracing::Instrument;

use super::frontend::Message;
use super::{extended, query, Connection};
use crate::error::{Result, WeirError};
use crate::registry::SessionHandle;
use crate::session::Session;
use crate::state::Shutdown;
use crate::statements::transaction::TxnState;

/// Serve one connection until the client leaves.
pub async fn run(
    mut conn: Connection,
    mut session: Session,
    cancel: SessionHandle,
    shutdown: Shutdown,
) {
    let span = tracing::info_span!("session", pid = cancel.pid, user = %session.user(), catalog = %session.catalog());
    async move {
        let mut skipping = false;
        loop {
            // Once the server is stopping, no new statement starts.
            let read = tokio::select! {
                biased;
                _ = shutdown.stopping.cancelled() => Err(WeirError::Shutdown),
                read = conn.read_message() => read,
            };
            let msg = match read {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    let mut c = e.to_client();
                    c.fatal = true;
                    tracing::debug!(error = %e, "closing connection");
                    let _ = conn.push_error(&c);
                    conn.shutdown().await;
                    return;
                }
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    // A malformed message: report it; in the extended protocol
                    // skip to Sync, in the simple protocol get ready again.
                    if send_error(&mut conn, &mut session, &e).is_err() {
                        return;
                    }
                    skipping = true;
                    if conn.flush().await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let result = match msg {
                Message::Terminate => break,
                Message::Sync => {
                    skipping = false;
                    session.end_implicit_transaction();
                    ready(&mut conn, &session).and(Ok(()))
                }
                _ if skipping && !matches!(msg, Message::Query(_)) => continue,
                Message::Query(sql) => {
                    skipping = false;
                    query::simple_query(&mut conn, &mut session, &cancel, &shutdown, &sql).await
                }
                Message::Flush => Ok(()),
                Message::Copy(_) => continue,
                Message::Password(_) => {
                    Err(WeirError::Protocol("unexpected password message".into()))
                }
                extended => {
                    match extended::on_message(
                        &mut conn,
                        &mut session,
                        &cancel,
                        &shutdown,
                        extended,
                    )
                    .await
                    {
                        Ok(()) => Ok(()),
                        Err(e) if is_fatal(&e) => Err(e),
                        Err(e) => {
                            skipping = true;
                            send_error(&mut conn, &mut session, &e)
                        }
                    }
                }
            };
            if let Err(e) = result {
                if is_fatal(&e) {
                    tracing::debug!(error = %e, "closing connection");
                    let mut c = e.to_client();
                    c.fatal = true;
                    let _ = conn.push_error(&c);
                    conn.shutdown().await;
                    return;
                }
                if send_error(&mut conn, &mut session, &e).is_err() {
                    return;
                }
            }
            // Reply in one write per batch of pipelined messages (e.g.
            // Bind/Execute/Sync): flush only when the next read would wait,
            // or when a reply has grown past the flush threshold.
            if conn.message_pending() && conn.wbuf.len() < crate::wire::FLUSH_THRESHOLD {
                continue;
            }
            if conn.flush().await.is_err() {
                return;
            }
        }
        conn.shutdown().await;
    }
    .instrument(span)
    .await
}

/// Socket failures and shutdown end the connection; everything else is
/// reported.
pub(super) fn is_fatal(e: &WeirError) -> bool {
    matches!(
        e,
        WeirError::Io(_) | WeirError::MessageTooLarge { .. } | WeirError::Shutdown
    )
}

pub(super) fn send_error(
    conn: &mut Connection,
    session: &mut Session,
    e: &WeirError,
) -> Result<()> {
    if e.is_server_fault() {
        tracing::warn!(error = %e, "statement failed");
    } else {
        tracing::debug!(error = %e, "statement failed");
    }
    session.on_error();
    conn.push_error(&e.to_client())
}

pub(super) fn ready(conn: &mut Connection, session: &Session) -> Result<()> {
    let status = match session.transaction_state() {
        TxnState::Idle => TransactionStatus::Idle,
        TxnState::Block => TransactionStatus::Transaction,
        TxnState::Failed => TransactionStatus::Error,
    };
    conn.push(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
        status,
    )))
}

/// Notices a statement raised go out before its CommandComplete, as
/// PostgreSQL sends them (while the statement runs).
fn relay_notices(conn: &mut Connection, session: &mut Session) -> Result<()> {
    for (severity, code, msg) in session.take_notices() {
        conn.push_notice(severity, code, &msg)?;
    }
    Ok(())
}

/// A statement's CommandComplete, after its notices.
pub(super) fn completed(conn: &mut Connection, session: &mut Session, tag: &str) -> Result<()> {
    session.note_completed(tag);
    relay_notices(conn, session)?;
    conn.push(super::rows::complete(tag))
}

/// What is left to tell after a statement: notices, then the
/// ParameterStatus of changed settings (PostgreSQL reports those just
/// before ReadyForQuery).
pub(super) fn relay_events(conn: &mut Connection, session: &mut Session) -> Result<()> {
    relay_notices(conn, session)?;
    for (name, value) in session.take_reports() {
        conn.push(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            name.to_owned(),
            value,
        )))?;
    }
    Ok(())
}
