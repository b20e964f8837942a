//! `SHOW name` and `SHOW ALL`.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::Ident;

use super::Command;
use crate::error::{Result, WeirError};
use crate::session::params::Params;

pub(super) fn classify(variable: &[Ident]) -> Command {
    let words: Vec<String> = variable.iter().map(|i| i.value.to_lowercase()).collect();
    let name = match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["all"] => return Command::Show(None),
        ["time", "zone"] => "TimeZone".to_owned(),
        ["transaction", "isolation", "level"] => "transaction_isolation".to_owned(),
        _ => words.join(" "),
    };
    Command::Show(Some(name))
}

/// Result columns of `SHOW name` / `SHOW ALL`.
pub fn schema(name: Option<&str>) -> SchemaRef {
    match name {
        Some(n) => Arc::new(Schema::new(vec![Field::new(
            n.to_lowercase(),
            DataType::Utf8,
            false,
        )])),
        None => Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("setting", DataType::Utf8, false),
            Field::new("description", DataType::Utf8, false),
        ])),
    }
}

/// Run `SHOW`.
pub fn run(params: &Params, name: Option<&str>) -> Result<RecordBatch> {
    let batch = match name {
        Some(n) => {
            let value = params.get(n)?;
            RecordBatch::try_new(
                schema(Some(n)),
                vec![Arc::new(StringArray::from(vec![value]))],
            )
        }
        None => {
            let rows = params.all();
            RecordBatch::try_new(
                schema(None),
                vec![
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.1.as_str()),
                    )),
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                ],
            )
        }
    };
    batch.map_err(|e| WeirError::Internal(e.to_string()))
}
