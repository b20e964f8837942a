//! `EXPLAIN` as PostgreSQL clients expect it: one text column named
//! `QUERY PLAN`, one row per line. DataFusion answers with
//! `(plan_type, plan)` rows; plain EXPLAIN shows the physical plan,
//! `EXPLAIN ANALYZE` the plan with metrics, `EXPLAIN VERBOSE` every stage.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Result, WeirError};

/// The `QUERY PLAN` schema.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "QUERY PLAN",
        DataType::Utf8,
        false,
    )]))
}

/// Whether DataFusion's output schema is an EXPLAIN's.
pub fn is_explain_output(schema: &Schema) -> bool {
    schema.fields().len() == 2
        && schema.field(0).name() == "plan_type"
        && schema.field(1).name() == "plan"
}

/// Reshape DataFusion EXPLAIN batches.
pub fn reshape(batches: &[RecordBatch], verbose: bool) -> Result<RecordBatch> {
    let mut lines = Vec::new();
    for batch in batches {
        let (Some(types), Some(plans)) = (
            batch.column(0).as_string_opt::<i32>(),
            batch.column(1).as_string_opt::<i32>(),
        ) else {
            return Err(WeirError::Internal(
                "unexpected EXPLAIN output types".into(),
            ));
        };
        for (t, p) in types.iter().zip(plans.iter()) {
            let (t, p) = (t.unwrap_or(""), p.unwrap_or(""));
            let wanted = verbose || t == "physical_plan" || t == "Plan with Metrics";
            if !wanted {
                continue;
            }
            if verbose {
                lines.push(format!("{t}:"));
            }
            lines.extend(p.lines().map(|l| {
                if verbose {
                    format!("  {l}")
                } else {
                    l.to_owned()
                }
            }));
        }
    }
    let lines = hide_row_security(lines);
    RecordBatch::try_new(schema(), vec![Arc::new(StringArray::from(lines))])
        .map_err(|e| WeirError::Internal(e.to_string()))
}

/// What lies under a row-security barrier (the filter, and the scan the
/// filter was pushed into) is not shown: a policy's predicate names the
/// values it hides (`dept <> 'hr'`). The barrier's line stays.
fn hide_row_security(lines: Vec<String>) -> Vec<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = Vec::with_capacity(lines.len());
    let mut hiding: Option<usize> = None;
    for line in lines {
        if let Some(depth) = hiding {
            if indent(&line) > depth && !line.trim().is_empty() {
                continue;
            }
            hiding = None;
        }
        let t = line.trim_start();
        if t.starts_with("RowSecurityExec") || t.starts_with("RowSecurity: table=") {
            let depth = indent(&line);
            out.push(line);
            out.push(format!(
                "{}(row security applied; the plan below is not shown)",
                " ".repeat(depth + 2)
            ));
            hiding = Some(depth);
            continue;
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::hide_row_security;

    #[test]
    fn what_is_under_a_barrier_is_not_shown() {
        let plan = [
            "ProjectionExec: expr=[a]",
            "  RowSecurityExec",
            "    FilterExec: dept != hush",
            "      DataSourceExec: predicate=dept != hush",
            "  OtherExec",
        ]
        .map(String::from)
        .to_vec();
        let shown = hide_row_security(plan).join("\n");
        assert!(!shown.contains("hush"), "{shown}");
        assert!(
            shown.contains("RowSecurityExec") && shown.contains("OtherExec"),
            "{shown}"
        );
    }
}
