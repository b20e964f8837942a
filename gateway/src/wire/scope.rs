//! What one statement runs under, and the guard around its work.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Connection;
use crate::audit::Record;
use crate::engine::checkpoint::StatementStop;
use crate::error::{Result, WeirError};
use crate::registry::SessionHandle;
use crate::session::Session;
use crate::state::Shutdown;

/// What one statement runs under: its cancel token (CancelRequest), its
/// deadline (`statement_timeout`), the server's shutdown, its tracing span
/// and its start. The session registry shows the statement as running, and
/// CancelRequests reach it, until the scope is dropped; the drop also logs
/// (at debug) how long it took. The statement's text is not logged: it may
/// hold secrets.
pub(super) struct StatementScope<'a> {
    pub(super) token: CancellationToken,
    pub(super) deadline: Option<Instant>,
    pub(super) shutdown: &'a Shutdown,
    cancel: &'a SessionHandle,
    /// The session's planning checkpoints see the token and deadline too.
    planning: StatementStop,
    /// The statement's span, a child of the session's; its work runs in it.
    span: tracing::Span,
    started: Instant,
    /// The statement's text, for its audit record.
    sql: String,
}

impl<'a> StatementScope<'a> {
    pub(super) fn new(
        cancel: &'a SessionHandle,
        session: &Session,
        shutdown: &'a Shutdown,
        sql: &str,
    ) -> Self {
        let token = cancel.begin(sql);
        let deadline = session.statement_timeout().map(|t| Instant::now() + t);
        let planning = session.planning_stop().clone();
        planning.begin(&token, deadline.map(Instant::into_std));
        Self {
            token,
            deadline,
            shutdown,
            cancel,
            planning,
            span: tracing::debug_span!("statement"),
            started: Instant::now(),
            sql: sql.to_owned(),
        }
    }

    /// End the statement: its audit record is written (before the reply
    /// is flushed, so a denial or a DDL is on disk before the client
    /// hears of it), then the scope drops.
    pub(super) fn end<T>(self, session: &mut Session, result: &Result<T>) {
        let notes = session.take_notes();
        let Some(audit) = self.cancel.audit.as_ref() else {
            return;
        };
        let principal = session.principal();
        let mut record = Record::statement(&principal.user, &self.sql);
        record.session = Some(self.cancel.pid);
        record.roles = principal.roles.clone();
        record.method = principal.method.to_owned();
        record.client = self.cancel.client.map(|c| c.ip().to_string());
        record.application_name = session
            .parameter("application_name")
            .filter(|a| !a.is_empty());
        record.rows = notes.rows();
        record.command = notes.command_name();
        record.read = notes.objects.read;
        record.written = notes.objects.written;
        record.policies = notes.objects.policies;
        record.remote = notes.remote;
        record.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        // CREATE TABLE AS answers PostgreSQL's `SELECT n`: it is DDL by
        // what it wrote.
        let creates = record.command.as_deref() == Some("SELECT") && !record.written.is_empty();
        let urgent = match result {
            Ok(_) => creates || !record.command.as_deref().is_some_and(routine),
            Err(e) => {
                let client = e.to_client();
                record.outcome = "error";
                record.sqlstate = Some(client.code.to_string());
                record.message = Some(client.message);
                true
            }
        };
        audit.log(record, urgent);
    }
}

/// Commands whose records may wait for the next flush (within a second);
/// everything else (DDL, GRANT, policies, masks, failures) is written
/// before the reply.
fn routine(command: &str) -> bool {
    let first = command.split(' ').next().unwrap_or_default();
    matches!(
        first,
        "SELECT"
            | "INSERT"
            | "UPDATE"
            | "DELETE"
            | "MERGE"
            | "FETCH"
            | "MOVE"
            | "COPY"
            | "SHOW"
            | "SET"
            | "RESET"
            | "BEGIN"
            | "START"
            | "COMMIT"
            | "ROLLBACK"
            | "SAVEPOINT"
            | "RELEASE"
            | "DECLARE"
            | "CLOSE"
            | "DISCARD"
            | "DEALLOCATE"
            | "PREPARE"
            | "EXECUTE"
            | "EXPLAIN"
            | "LISTEN"
            | "UNLISTEN"
    )
}

impl Drop for StatementScope<'_> {
    fn drop(&mut self) {
        self.cancel.end();
        self.planning.end();
        let elapsed_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(parent: &self.span, elapsed_us, "statement ended");
    }
}

/// Run `fut` unless the statement is canceled, times out, its client goes
/// away or (when `terminable`) the server's grace period ends first. A
/// panic while planning or running the statement (a bug, ours or a
/// library's) fails the statement with XX000; the session goes on.
pub(super) async fn guarded<T>(
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

pub(super) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
