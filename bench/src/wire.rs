//! The wire runner: a tokio-postgres client that reads every row.
//!
//! `binary` requests use the extended protocol with binary results (what
//! JDBC and most drivers do); `text` requests use the simple protocol (what
//! psql does). Each field's bytes are taken as received, without decoding,
//! so the figures are the server's and the network's, not a decoder's.

use std::error::Error;

use futures::{pin_mut, TryStreamExt};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::protocol::{self, Format, Outcome, Request};

/// A field's raw bytes in whatever format the server sent.
struct Raw(usize);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(raw.len()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Bytes of a DataRow message: type byte, length, field count, then a
/// length word and the payload per field.
fn data_row_bytes(fields: usize, payload: usize) -> u64 {
    (1 + 4 + 2 + 4 * fields + payload) as u64
}

pub async fn serve(url: &str, init: &[String]) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", redact(url)))?;
    let driver = tokio::spawn(connection);
    for statement in init {
        client
            .batch_execute(statement)
            .await
            .map_err(|e| format!("{statement}: {}", describe(&e)))?;
    }
    let result = protocol::serve(|request: Request| {
        let client = &client;
        async move {
            match (request.format, request.answer) {
                (_, true) => answer(client, &request.sql).await,
                (Format::Binary, false) => binary(client, &request.sql).await,
                (Format::Text, false) => text(client, &request.sql).await,
            }
            .map_err(|e| describe(&e))
        }
    })
    .await;
    drop(client);
    let _ = driver.await;
    result
}

async fn binary(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Outcome, tokio_postgres::Error> {
    let rows = client.query_raw(sql, Vec::<i64>::new()).await?;
    pin_mut!(rows);
    let mut outcome = Outcome::default();
    while let Some(row) = rows.try_next().await? {
        let mut payload = 0;
        for i in 0..row.len() {
            if let Some(Raw(n)) = row.try_get::<_, Option<Raw>>(i)? {
                payload += n;
            }
        }
        outcome.rows += 1;
        outcome.bytes += data_row_bytes(row.len(), payload);
    }
    Ok(outcome)
}

async fn text(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Outcome, tokio_postgres::Error> {
    let messages = client.simple_query_raw(sql).await?;
    pin_mut!(messages);
    let mut outcome = Outcome::default();
    while let Some(message) = messages.try_next().await? {
        if let SimpleQueryMessage::Row(row) = message {
            let mut payload = 0;
            for i in 0..row.len() {
                if let Some(value) = row.try_get(i)? {
                    payload += value.len();
                }
            }
            outcome.rows += 1;
            outcome.bytes += data_row_bytes(row.len(), payload);
        }
    }
    Ok(outcome)
}

/// Every cell as the server writes it in text (simple protocol).
async fn answer(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Outcome, tokio_postgres::Error> {
    let mut rows = Vec::new();
    for message in client.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(row) = message {
            rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect::<Vec<_>>(),
            );
        }
    }
    Ok(Outcome {
        rows: rows.len() as u64,
        bytes: 0,
        answer: Some(rows),
    })
}

/// A server error with its SQLSTATE, or the client error.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// The connection string without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://weir:secret@127.0.0.1:5433/lake"),
            "postgresql://weir:***@127.0.0.1:5433/lake"
        );
        assert_eq!(redact("host=127.0.0.1"), "host=127.0.0.1");
    }

    #[test]
    fn data_row_size_counts_headers() {
        // Two fields, "1" and NULL: 7 header bytes + 2 length words + 1 byte.
        assert_eq!(data_row_bytes(2, 1), 16);
    }
}
