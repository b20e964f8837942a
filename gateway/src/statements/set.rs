//! `SET`, `SET TIME ZONE`, `SET NAMES`, `RESET`.
//!
//! `SET LOCAL` is applied for the rest of the session (Weir's transactions
//! are read-only and hold no other state to scope it to).

use datafusion::sql::sqlparser::ast::{Expr, Reset, ResetStatement, Set, UnaryOperator, Value};

use super::{object_name, Command};
use crate::error::{Result, WeirError};

pub(super) fn classify(set: Set) -> Result<Command> {
    Ok(match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = object_name(&variable);
            let value = values_to_string(&values)?;
            Command::Set { name, value }
        }
        Set::SetTimeZone { value, .. } => Command::Set {
            name: "TimeZone".into(),
            value: values_to_string(std::slice::from_ref(&value))?,
        },
        Set::SetNames { charset_name, .. } => Command::Set {
            name: "client_encoding".into(),
            value: Some(charset_name.value),
        },
        Set::SetTransaction { .. } | Set::SetSessionParam(_) => Command::NoOp("SET"),
        other => return Err(WeirError::NotSupported(format!("{other} is not supported"))),
    })
}

pub(super) fn classify_reset(r: ResetStatement) -> Command {
    match r.reset {
        Reset::ALL => Command::Reset(None),
        Reset::ConfigurationParameter(name) => Command::Reset(Some(object_name(&name))),
    }
}

/// `a, 'b', 3` → `a, b, 3`; `DEFAULT` → `None`.
fn values_to_string(values: &[Expr]) -> Result<Option<String>> {
    let mut parts = Vec::with_capacity(values.len());
    for v in values {
        let s = match v {
            Expr::Identifier(id)
                if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default") =>
            {
                return Ok(None)
            }
            Expr::Identifier(id) if id.quote_style.is_none() => id.value.to_lowercase(),
            Expr::Identifier(id) => format!("\"{}\"", id.value),
            Expr::Value(v) => value_text(&v.value)?,
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => format!(
                "-{}",
                values_to_string(std::slice::from_ref(expr))?.unwrap_or_default()
            ),
            Expr::UnaryOp {
                op: UnaryOperator::Plus,
                expr,
            } => values_to_string(std::slice::from_ref(expr))?.unwrap_or_default(),
            Expr::CompoundIdentifier(ids) => ids
                .iter()
                .map(|i| i.value.clone())
                .collect::<Vec<_>>()
                .join("."),
            other => {
                return Err(WeirError::InvalidParameterValue(format!(
                    "SET requires a literal or name, got {other}"
                )))
            }
        };
        parts.push(s);
    }
    Ok(Some(parts.join(", ")))
}

fn value_text(v: &Value) -> Result<String> {
    Ok(match v {
        Value::SingleQuotedString(s)
        | Value::DoubleQuotedString(s)
        | Value::EscapedStringLiteral(s) => s.clone(),
        Value::Number(n, _) => n.to_string(),
        Value::Boolean(b) => {
            if *b {
                "on".into()
            } else {
                "off".into()
            }
        }
        Value::Null => String::new(),
        other => other.to_string(),
    })
}
