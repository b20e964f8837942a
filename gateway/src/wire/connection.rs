//! The query loop of one authenticated connection.
//!
//! Simple protocol: a Query message may hold several statements; they run
//! in order, stopping at the first error, then one ReadyForQuery.
//! Extended protocol: Parse/Bind/Describe/Execute/Close until Sync; after an
//! error everything up to Sync is skipped. Execute with a row limit sends
//! PortalSuspended and keeps the portal's stream (and any half-sent batch)
//! for the next Execute.
//!
//! Rows stream batch by batch: a batch is encoded into the output buffer,
//! which is written to the socket whenever it passes 64 KiB, so a slow
//! client holds back the engine (backpressure) and nothing is materialised.
//! A CancelRequest or `statement_timeout` fires a token that the loop
//! selects on; the statement's stream is dropped, which stops its work.

use std::sync::Arc;

use crate::session::Parsed;
use datafusion::arrow::datatypes::Schema;
use futures::StreamExt;
use pgwire::messages::data::{FieldDescription, NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    BindComplete, CloseComplete, ParseComplete, PortalSuspended,
};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::frontend::Message;
use super::Connection;
use crate::engine::checkpoint::StatementStop;
use crate::error::{Result, WeirError};
use crate::registry::SessionHandle;
use crate::session::{Outcome, Portal, Prepared, Session};
use crate::state::Shutdown;
use crate::statements::transaction::TxnState;
use weir_pgtypes::{canonical_batch, RowEncoder, TextOptions};

/// What one statement runs under: its cancel token (CancelRequest), its
/// deadline (`statement_timeout`), the server's shutdown, its tracing span
/// and its start. The session registry shows the statement as running, and
/// CancelRequests reach it, until the scope is dropped; the drop also logs
/// (at debug) how long it took. The statement's text is not logged: it may
/// hold secrets.
struct StatementScope<'a> {
    token: CancellationToken,
    deadline: Option<Instant>,
    shutdown: &'a Shutdown,
    cancel: &'a SessionHandle,
    /// The session's planning checkpoints see the token and deadline too.
    planning: StatementStop,
    /// The statement's span, a child of the session's; its work runs in it.
    span: tracing::Span,
    started: Instant,
}

impl<'a> StatementScope<'a> {
    fn new(
        cancel: &'a SessionHandle,
        session: &Session,
        shutdown: &'a Shutdown,
        sql: &str,
    ) -> Self {
        let token = cancel.begin(sql);
        let deadline = session
            .params
            .statement_timeout()
            .map(|t| Instant::now() + t);
        let planning = session.stop.clone();
        planning.begin(&token, deadline.map(Instant::into_std));
        Self {
            token,
            deadline,
            shutdown,
            cancel,
            planning,
            span: tracing::debug_span!("statement"),
            started: Instant::now(),
        }
    }
}

impl Drop for StatementScope<'_> {
    fn drop(&mut self) {
        self.cancel.end();
        self.planning.end();
        let elapsed_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(parent: &self.span, elapsed_us, "statement ended");
    }
}

/// Serve one connection until the client leaves.
pub async fn run(
    mut conn: Connection,
    mut session: Session,
    cancel: SessionHandle,
    shutdown: Shutdown,
) {
    let span = tracing::info_span!("session", pid = cancel.pid, user = %session.user(), catalog = %session.catalog);
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
                    simple_query(&mut conn, &mut session, &cancel, &shutdown, &sql).await
                }
                Message::Flush => Ok(()),
                Message::Copy(_) => continue,
                Message::Password(_) => {
                    Err(WeirError::Protocol("unexpected password message".into()))
                }
                extended => {
                    match extended_message(&mut conn, &mut session, &cancel, &shutdown, extended)
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
fn is_fatal(e: &WeirError) -> bool {
    matches!(
        e,
        WeirError::Io(_) | WeirError::MessageTooLarge { .. } | WeirError::Shutdown
    )
}

fn send_error(conn: &mut Connection, session: &mut Session, e: &WeirError) -> Result<()> {
    if e.is_server_fault() {
        tracing::warn!(error = %e, "statement failed");
    } else {
        tracing::debug!(error = %e, "statement failed");
    }
    session.on_error();
    conn.push_error(&e.to_client())
}

fn ready(conn: &mut Connection, session: &Session) -> Result<()> {
    let status = match session.txn {
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
    for (severity, code, msg) in std::mem::take(&mut session.events.notices) {
        conn.push_notice(severity, code, &msg)?;
    }
    Ok(())
}

/// The tag of a statement that returned `rows` rows: PostgreSQL counts
/// them for SELECT (and FETCH, COPY...), not for SHOW or EXPLAIN.
fn rows_tag(tag: &str, rows: usize) -> String {
    match tag {
        "SHOW" | "EXPLAIN" => tag.to_owned(),
        _ => format!("{tag} {rows}"),
    }
}

/// A statement's CommandComplete, after its notices.
fn completed(conn: &mut Connection, session: &mut Session, tag: &str) -> Result<()> {
    relay_notices(conn, session)?;
    conn.push(complete(tag))
}

/// What is left to tell after a statement: notices, then the
/// ParameterStatus of changed settings (PostgreSQL reports those just
/// before ReadyForQuery).
fn relay_events(conn: &mut Connection, session: &mut Session) -> Result<()> {
    relay_notices(conn, session)?;
    for (name, value) in std::mem::take(&mut session.events.reports) {
        conn.push(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            name.to_owned(),
            value,
        )))?;
    }
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(len = sql.len()))]
async fn simple_query(
    conn: &mut Connection,
    session: &mut Session,
    cancel: &SessionHandle,
    shutdown: &Shutdown,
    sql: &str,
) -> Result<()> {
    let result = simple_query_inner(conn, session, cancel, shutdown, sql).await;
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

async fn simple_query_inner(
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
        if session.txn == TxnState::Failed {
            return Err(WeirError::InFailedTransaction);
        }
        return conn.push(PgWireBackendMessage::EmptyQueryResponse(
            EmptyQueryResponse::new(),
        ));
    }
    let single = statements.len() == 1;
    for stmt in statements {
        let scope = StatementScope::new(cancel, session, shutdown, sql);
        let result = async {
            let prepared = match stmt {
                SimpleStatement::Prepared(prepared) => prepared,
                SimpleStatement::Parsed(stmt) => {
                    let prepared = Arc::new(
                        guarded(conn, &scope, true, session.prepare(sql, Some(*stmt), &[])).await?,
                    );
                    if single {
                        session.remember_simple(sql, &prepared);
                    }
                    prepared
                }
            };
            let mut portal = session.bind(prepared, &[], &[], &[])?;
            let (prepared, params) = (portal.prepared.clone(), portal.params.clone());
            let outcome = guarded(
                conn,
                &scope,
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
                    let (rows, _) = stream_rows(
                        conn,
                        &session.text_options(),
                        &mut portal,
                        &encoder,
                        0,
                        &scope,
                    )
                    .await?;
                    let tag = portal.running.as_ref().map(|r| r.tag).unwrap_or("SELECT");
                    completed(conn, session, &rows_tag(tag, rows))
                }
                Outcome::Done(tag) => completed(conn, session, &tag),
                Outcome::Empty => conn.push(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                )),
                Outcome::Fetch { cursor, rows } => {
                    fetch(conn, session, &cursor, rows, None, &scope).await
                }
            }
        }
        .await;
        drop(scope);
        result?;
        relay_events(conn, session)?;
    }
    Ok(())
}

fn complete(tag: &str) -> PgWireBackendMessage {
    PgWireBackendMessage::CommandComplete(CommandComplete::new(tag.to_owned()))
}

fn row_description(schema: &Schema, encoder: &RowEncoder) -> PgWireBackendMessage {
    let fields = schema
        .fields()
        .iter()
        .zip(encoder.types())
        .enumerate()
        .map(|(i, (f, t))| {
            FieldDescription::new(
                f.name().clone(),
                0,
                0,
                t.oid,
                t.len,
                t.typmod,
                i16::from(encoder.is_binary(i)),
            )
        })
        .collect();
    PgWireBackendMessage::RowDescription(RowDescription::new(fields))
}

/// Run `fut` unless the statement is canceled, times out, its client goes
/// away or (when `terminable`) the server's grace period ends first. A
/// panic while planning or running the statement (a bug, ours or a
/// library's) fails the statement with XX000; the session goes on.
async fn guarded<T>(
    client: &mut Connection,
    scope: &StatementScope<'_>,
    terminable: bool,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    use futures::FutureExt;
    use tracing::Instrument;
    let fut = std::panic::AssertUnwindSafe(fut.instrument(scope.span.clone())).catch_unwind();
    let terminate = async {
        match terminable {
            true => scope.shutdown.terminate.cancelled().await,
            false => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = scope.token.cancelled() => Err(WeirError::Canceled),
        _ = sleep_until(scope.deadline) => Err(WeirError::StatementTimeout),
        _ = terminate => Err(WeirError::Shutdown),
        gone = client.client_gone() => Err(gone),
        // Planning stopped at a checkpoint (see `engine::checkpoint`) ends
        // the statement with the same error as the branches above.
        r = fut => match r {
            Ok(Err(_)) if scope.token.is_cancelled() => Ok(Err(WeirError::Canceled)),
            Ok(Err(_)) if scope.deadline.is_some_and(|d| Instant::now() >= d) => {
                Ok(Err(WeirError::StatementTimeout))
            }
            r => r,
        }
        .unwrap_or_else(|panic| {
            let what = crate::engine::runtime::panic_message(panic.as_ref());
            tracing::error!(panic = %what, "statement panicked");
            Err(WeirError::Internal(format!(
                "internal error while running the statement: {what}"
            )))
        }),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Send up to `limit` rows (0 = all) of a running portal. Returns rows sent
/// and whether the portal was suspended by the limit.
async fn stream_rows(
    conn: &mut Connection,
    opts: &TextOptions,
    portal: &mut Portal,
    encoder: &RowEncoder,
    limit: usize,
    scope: &StatementScope<'_>,
) -> Result<(usize, bool)> {
    let Some(running) = portal.running.as_mut() else {
        return Ok((0, false));
    };
    let mut sent = 0usize;
    loop {
        if let Some((batch, offset)) = running.pending.take() {
            let available = batch.num_rows() - offset;
            let take = if limit > 0 {
                available.min(limit - sent)
            } else {
                available
            };
            // Encode in slices so the buffer is flushed at ~64 KiB granularity.
            let mut at = offset;
            while at < offset + take {
                let end = (at + 1024).min(offset + take);
                encoder.encode(&batch, at, end, opts, &mut conn.wbuf)?;
                at = end;
                conn.flush_if_full().await?;
                if scope.token.is_cancelled() {
                    return Err(WeirError::Canceled);
                }
                if scope.shutdown.terminate.is_cancelled() {
                    return Err(WeirError::Shutdown);
                }
            }
            sent += take;
            if offset + take < batch.num_rows() {
                running.pending = Some((batch, offset + take));
            }
            if limit > 0 && sent == limit {
                return Ok((sent, true));
            }
            continue;
        }
        let next = tokio::select! {
            biased;
            _ = scope.token.cancelled() => return Err(WeirError::Canceled),
            _ = sleep_until(scope.deadline) => return Err(WeirError::StatementTimeout),
            _ = scope.shutdown.terminate.cancelled() => return Err(WeirError::Shutdown),
            gone = conn.client_gone() => return Err(gone),
            next = running.stream.next() => next,
        };
        match next {
            None => return Ok((sent, false)),
            Some(Ok(batch)) if batch.num_rows() > 0 => {
                running.pending = Some((canonical_batch(batch)?, 0))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

async fn extended_message(
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
            if !name.is_empty() && session.statements.contains_key(&name) {
                return Err(WeirError::DuplicateStatement(name));
            }
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
            drop(scope);
            session.statements.insert(name, Arc::new(prepared?));
            conn.push(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
        }
        Message::Bind {
            portal,
            statement,
            param_formats,
            params,
            result_formats,
        } => {
            let prepared = session.statements.get(&statement).cloned().ok_or_else(|| {
                WeirError::UnknownStatement(format!(
                    "prepared statement \"{statement}\" does not exist"
                ))
            })?;
            if !portal.is_empty() && session.portals.contains_key(&portal) {
                return Err(WeirError::DuplicatePortal(portal));
            }
            let bound = session.bind(prepared, &param_formats, &params, &result_formats)?;
            session.portals.insert(portal, bound);
            conn.push(PgWireBackendMessage::BindComplete(BindComplete::new()))
        }
        Message::Describe { kind: b'S', name } => {
            let prepared = session.statements.get(&name).ok_or_else(|| {
                WeirError::UnknownStatement(format!("prepared statement \"{name}\" does not exist"))
            })?;
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
            let portal = session.portals.get(&name).ok_or_else(|| {
                WeirError::UnknownPortal(format!("portal \"{name}\" does not exist"))
            })?;
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
            let mut portal = session.portals.remove(&name).ok_or_else(|| {
                WeirError::UnknownPortal(format!("portal \"{name}\" does not exist"))
            })?;
            let scope = StatementScope::new(cancel, session, shutdown, &portal.prepared.sql);
            let result = execute(conn, session, &mut portal, max_rows as usize, &scope).await;
            drop(scope);
            if result.is_err() {
                // A failed portal's work stops here (PostgreSQL drops it).
                portal.running = None;
            }
            relay_events(conn, session)?;
            // The portal stays (suspended or finished) until closed or the transaction ends.
            session.portals.insert(name, portal);
            result
        }
        Message::Close { kind, name } => {
            if kind == b'S' {
                session.statements.remove(&name);
            } else {
                session.portals.remove(&name);
            }
            conn.push(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
        }
        _ => Err(WeirError::Internal(
            "not an extended-protocol message".into(),
        )),
    }
}

async fn execute(
    conn: &mut Connection,
    session: &mut Session,
    portal: &mut Portal,
    max_rows: usize,
    scope: &StatementScope<'_>,
) -> Result<()> {
    if session.txn == TxnState::Failed && portal.running.is_some() {
        return Err(WeirError::InFailedTransaction);
    }
    if portal.finished {
        return conn.push(complete(&rows_tag(portal.last_tag, 0)));
    }
    if portal.running.is_none() {
        let (prepared, params) = (portal.prepared.clone(), portal.params.clone());
        let terminable = !prepared.is_write();
        let started = guarded(conn, scope, terminable, session.start(&prepared, &params));
        match started.await? {
            Outcome::Rows(running) => portal.running = Some(running),
            Outcome::Done(tag) => {
                portal.finished = true;
                return completed(conn, session, &tag);
            }
            Outcome::Empty => {
                portal.finished = true;
                return conn.push(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ));
            }
            Outcome::Fetch { cursor, rows } => {
                portal.finished = true;
                portal.last_tag = "FETCH";
                let formats = portal.binary.clone();
                return fetch(conn, session, &cursor, rows, Some(formats), scope).await;
            }
        }
    }
    let schema = portal
        .prepared
        .schema
        .clone()
        .unwrap_or_else(|| Arc::new(Schema::empty()));
    let encoder = RowEncoder::new(&schema, portal.binary.clone());
    let (rows, suspended) = stream_rows(
        conn,
        &session.text_options(),
        portal,
        &encoder,
        max_rows,
        scope,
    )
    .await?;
    if suspended {
        conn.push(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
    } else {
        let tag = portal.running.take().map(|r| r.tag).unwrap_or("SELECT");
        portal.finished = true;
        portal.last_tag = tag;
        completed(conn, session, &rows_tag(tag, rows))
    }
}

/// `FETCH`: stream up to `rows` rows (all when `None`) of cursor `name`.
/// `formats` are the result formats of the extended-protocol portal running
/// the FETCH; in the simple protocol (`None`) a RowDescription is sent and
/// the cursor's own formats (BINARY or not) apply.
async fn fetch(
    conn: &mut Connection,
    session: &mut Session,
    name: &str,
    rows: Option<u64>,
    formats: Option<Vec<bool>>,
    scope: &StatementScope<'_>,
) -> Result<()> {
    let mut cursor = session
        .portals
        .remove(name)
        .ok_or_else(|| WeirError::UnknownPortal(format!("cursor \"{name}\" does not exist")))?;
    let result = async {
        if !cursor.finished && cursor.running.is_none() {
            let (prepared, params) = (cursor.prepared.clone(), cursor.params.clone());
            let started = guarded(conn, scope, true, session.start(&prepared, &params));
            match started.await? {
                Outcome::Rows(running) => cursor.running = Some(running),
                _ => cursor.finished = true,
            }
        }
        let schema = cursor
            .prepared
            .schema
            .clone()
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let send_description = formats.is_none();
        let encoder = RowEncoder::new(&schema, formats.unwrap_or_else(|| cursor.binary.clone()));
        if send_description {
            conn.push(row_description(&schema, &encoder))?;
        }
        let sent = match rows {
            _ if cursor.finished => 0,
            Some(0) => 0,
            limit => {
                let limit = limit
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                    .unwrap_or(0);
                let (sent, suspended) = stream_rows(
                    conn,
                    &session.text_options(),
                    &mut cursor,
                    &encoder,
                    limit,
                    scope,
                )
                .await?;
                if !suspended {
                    cursor.running = None;
                    cursor.finished = true;
                }
                sent
            }
        };
        conn.push(complete(&format!("FETCH {sent}")))
    }
    .await;
    if result.is_err() {
        cursor.running = None;
    }
    session.portals.insert(name.to_owned(), cursor);
    result
}
