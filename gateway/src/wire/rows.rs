//! Result rows on the wire: RowDescription, DataRows streamed with
//! backpressure (a batch is encoded into the output buffer, written to the
//! socket whenever it passes 64 KiB, so a slow client holds back the
//! engine), FETCH from cursors, and the CommandComplete tag.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use futures::StreamExt;
use pgwire::messages::data::{FieldDescription, RowDescription};
use pgwire::messages::response::CommandComplete;
use pgwire::messages::PgWireBackendMessage;

use super::scope::{guarded, sleep_until, StatementScope};
use super::Connection;
use crate::error::{Result, WeirError};
use crate::session::{Outcome, Portal, Session};
use weir_pgtypes::{canonical_batch, RowEncoder, TextOptions};

pub(super) fn complete(tag: &str) -> PgWireBackendMessage {
    PgWireBackendMessage::CommandComplete(CommandComplete::new(tag.to_owned()))
}

/// The tag of a statement that returned `rows` rows: PostgreSQL counts
/// them for SELECT (and FETCH, COPY...), not for SHOW or EXPLAIN.
pub(super) fn rows_tag(tag: &str, rows: usize) -> String {
    match tag {
        "SHOW" | "EXPLAIN" => tag.to_owned(),
        _ => format!("{tag} {rows}"),
    }
}

pub(super) fn row_description(schema: &Schema, encoder: &RowEncoder) -> PgWireBackendMessage {
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

/// Send up to `limit` rows (0 = all) of a running portal. Returns rows sent
/// and whether the portal was suspended by the limit.
pub(super) async fn stream_rows(
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

/// `FETCH`: stream up to `rows` rows (all when `None`) of cursor `name`.
/// `formats` are the result formats of the extended-protocol portal running
/// the FETCH; in the simple protocol (`None`) a RowDescription is sent and
/// the cursor's own formats (BINARY or not) apply. A cursor whose read
/// failed keeps no result in progress.
pub(super) async fn fetch(
    conn: &mut Connection,
    session: &mut Session,
    name: &str,
    rows: Option<u64>,
    formats: Option<Vec<bool>>,
    scope: &StatementScope<'_>,
) -> Result<()> {
    let result = fetch_rows(conn, session, name, rows, formats, scope).await;
    if result.is_err() {
        if let Ok(cursor) = session.cursor_mut(name) {
            cursor.running = None;
        }
    }
    result
}

async fn fetch_rows(
    conn: &mut Connection,
    session: &mut Session,
    name: &str,
    rows: Option<u64>,
    formats: Option<Vec<bool>>,
    scope: &StatementScope<'_>,
) -> Result<()> {
    let cursor = session.cursor_mut(name)?;
    if !cursor.finished && cursor.running.is_none() {
        let (prepared, params) = (cursor.prepared.clone(), cursor.params.clone());
        let outcome = guarded(conn, scope, true, session.start(&prepared, &params)).await?;
        let cursor = session.cursor_mut(name)?;
        match outcome {
            Outcome::Rows(running) => cursor.running = Some(running),
            _ => cursor.finished = true,
        }
    }
    let opts = session.text_options();
    let cursor = session.cursor_mut(name)?;
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
            let (sent, suspended) =
                stream_rows(conn, &opts, cursor, &encoder, limit, scope).await?;
            if !suspended {
                cursor.running = None;
                cursor.finished = true;
            }
            sent
        }
    };
    conn.push(complete(&format!("FETCH {sent}")))
}
