//! SQL-level cursors: `DECLARE name [BINARY] CURSOR [WITH HOLD] FOR query`,
//! `FETCH [FORWARD] n | NEXT | ALL [FROM|IN] name`, `CLOSE name | ALL`.
//!
//! A cursor is a portal with a name, as in PostgreSQL: the protocol can
//! Describe it (psycopg does), and FETCH continues its stream where the last
//! FETCH stopped. Cursors are forward-only (no SCROLL).

use datafusion::sql::sqlparser::ast::{CloseCursor, Declare, FetchDirection, Statement, Value};

use super::Command;
use crate::error::{Result, WeirError};

pub(super) fn classify_declare(mut stmts: Vec<Declare>) -> Result<Command> {
    if stmts.len() != 1 {
        return Err(WeirError::NotSupported(
            "DECLARE of several cursors at once is not supported".into(),
        ));
    }
    let d = stmts.remove(0);
    let name = d.names.first().map(|n| n.value.clone()).unwrap_or_default();
    if d.scroll == Some(true) {
        return Err(WeirError::NotSupported(
            "SCROLL cursors are not supported; cursors are forward-only".into(),
        ));
    }
    let query = d.for_query.ok_or_else(|| {
        WeirError::NotSupported("DECLARE without a cursor query is not supported".into())
    })?;
    Ok(Command::Declare {
        name,
        query: Box::new(Statement::Query(query)),
        binary: d.binary == Some(true),
        hold: d.hold == Some(true),
    })
}

pub(super) fn classify_fetch(name: &str, direction: &FetchDirection) -> Result<Command> {
    let count = |v: &Value| -> Result<u64> {
        match v {
            Value::Number(n, _) => n.parse::<u64>().map_err(|_| {
                WeirError::NotSupported(format!("FETCH {n}: only forward fetches are supported"))
            }),
            other => Err(WeirError::Syntax {
                message: format!("syntax error at or near \"{other}\""),
                position: None,
            }),
        }
    };
    let rows = match direction {
        FetchDirection::Next => Some(1),
        FetchDirection::All | FetchDirection::ForwardAll => None,
        FetchDirection::Count { limit } => Some(count(limit)?),
        FetchDirection::Forward { limit: Some(limit) } => Some(count(limit)?),
        FetchDirection::Forward { limit: None } => Some(1),
        other => {
            return Err(WeirError::NotSupported(format!(
                "FETCH {other}: cursors are forward-only"
            )))
        }
    };
    Ok(Command::Fetch {
        name: name.to_owned(),
        rows,
    })
}

pub(super) fn classify_close(cursor: CloseCursor) -> Command {
    match cursor {
        CloseCursor::All => Command::CloseCursor(None),
        CloseCursor::Specific { name } => Command::CloseCursor(Some(name.value)),
    }
}
