//! PostgreSQL types DataFusion has no SQL type for: `uuid`, `json`, `jsonb`.
//!
//! `x::uuid`, `CAST(x AS json)`, `jsonb '...'` are rewritten (before planning)
//! into calls of functions that validate the text (`22P02` on bad input) and
//! return an Arrow field tagged with its PostgreSQL type: `uuid` as
//! `FixedSizeBinary(16)` with the canonical `arrow.uuid` extension, `json`
//! and `jsonb` as text with [`PG_TYPE_METADATA`]. The wire encoder reads the
//! tags to send OIDs 2950, 114 and 3802.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, Statement, VisitMut, VisitorMut,
};

use crate::error::WeirError;
use weir_pgtypes::PG_TYPE_METADATA;

/// Which PostgreSQL type a function produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgKind {
    /// `uuid`
    Uuid,
    /// `json`
    Json,
    /// `jsonb`
    Jsonb,
}

impl PgKind {
    fn function_name(self) -> &'static str {
        match self {
            Self::Uuid => "__weir_uuid",
            Self::Json => "__weir_json",
            Self::Jsonb => "__weir_jsonb",
        }
    }

    fn of(t: &SqlType) -> Option<Self> {
        match t {
            SqlType::Uuid => Some(Self::Uuid),
            SqlType::JSON => Some(Self::Json),
            SqlType::JSONB => Some(Self::Jsonb),
            _ => None,
        }
    }
}

/// A text → uuid/json/jsonb conversion.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToPgType {
    kind: PgKind,
    signature: Signature,
}

/// The three conversion functions, to register in a session.
pub fn functions() -> Vec<ScalarUDF> {
    [PgKind::Uuid, PgKind::Json, PgKind::Jsonb]
        .into_iter()
        .map(|kind| {
            ScalarUDF::new_from_impl(ToPgType {
                kind,
                signature: Signature::uniform(1, vec![DataType::Utf8], Volatility::Immutable),
            })
        })
        .collect()
}

fn bad(kind: PgKind, text: &str) -> DataFusionError {
    let ty = match kind {
        PgKind::Uuid => "uuid",
        PgKind::Json => "json",
        PgKind::Jsonb => "jsonb",
    };
    DataFusionError::External(Box::new(WeirError::InvalidTextRepresentation(format!(
        "invalid input syntax for type {ty}: \"{text}\""
    ))))
}

impl ScalarUDFImpl for ToPgType {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        self.kind.function_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            PgKind::Uuid => DataType::FixedSizeBinary(16),
            PgKind::Json | PgKind::Jsonb => DataType::Utf8,
        })
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        let (ty, meta) = match self.kind {
            PgKind::Uuid => (
                DataType::FixedSizeBinary(16),
                ("ARROW:extension:name", "arrow.uuid"),
            ),
            PgKind::Json => (DataType::Utf8, (PG_TYPE_METADATA, "json")),
            PgKind::Jsonb => (DataType::Utf8, (PG_TYPE_METADATA, "jsonb")),
        };
        let metadata = HashMap::from([(meta.0.to_owned(), meta.1.to_owned())]);
        Ok(Arc::new(
            Field::new(self.name(), ty, true).with_metadata(metadata),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(input) = arrays.first() else {
            return Err(DataFusionError::Internal("missing argument".into()));
        };
        let input = datafusion::arrow::compute::cast(input, &DataType::Utf8)?;
        let input = input.as_string::<i32>();
        let out: ArrayRef = match self.kind {
            PgKind::Uuid => {
                let mut b = FixedSizeBinaryBuilder::with_capacity(input.len(), 16);
                for v in input.iter() {
                    match v {
                        None => b.append_null(),
                        Some(s) => {
                            let u =
                                uuid::Uuid::try_parse(s.trim()).map_err(|_| bad(self.kind, s))?;
                            b.append_value(u.as_bytes())?;
                        }
                    }
                }
                Arc::new(b.finish())
            }
            PgKind::Json | PgKind::Jsonb => {
                let mut b = StringBuilder::with_capacity(input.len(), input.value_data().len());
                for v in input.iter() {
                    match v {
                        None => b.append_null(),
                        Some(s) => {
                            let value: serde_json::Value =
                                serde_json::from_str(s).map_err(|_| bad(self.kind, s))?;
                            if self.kind == PgKind::Jsonb {
                                let mut out = String::with_capacity(s.len());
                                write_jsonb(&value, &mut out);
                                b.append_value(out);
                            } else {
                                b.append_value(s);
                            }
                        }
                    }
                }
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// jsonb's canonical text: `", "` and `": "` separators, object keys ordered
/// by length then bytes, duplicate keys resolved to the last.
fn write_jsonb(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push_str(": ");
                if let Some(value) = map.get(*k) {
                    write_jsonb(value, out);
                }
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Rewrite casts to uuid/json/jsonb into the conversion functions, and
/// bare `current_role`/`current_schema` into calls.
pub fn rewrite_casts(stmt: &mut Statement) {
    struct Rewriter;
    impl VisitorMut for Rewriter {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let replacement = match expr {
                Expr::Cast {
                    expr: inner,
                    data_type,
                    ..
                } => PgKind::of(data_type).map(|k| (k, inner.as_ref().clone())),
                Expr::TypedString(ts) => {
                    PgKind::of(&ts.data_type).map(|k| (k, Expr::Value(ts.value.clone())))
                }
                // `current_role` and `current_schema` without parentheses
                // are calls in PostgreSQL (reserved words, never a column);
                // the SQL parser knows only current_user and friends so.
                Expr::Identifier(id)
                    if id.quote_style.is_none()
                        && ["current_role", "current_schema"]
                            .iter()
                            .any(|f| id.value.eq_ignore_ascii_case(f)) =>
                {
                    let name = id.value.to_ascii_lowercase();
                    *expr = Expr::Function(Function {
                        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
                        uses_odbc_syntax: false,
                        parameters: FunctionArguments::None,
                        args: FunctionArguments::None,
                        filter: None,
                        null_treatment: None,
                        over: None,
                        within_group: vec![],
                    });
                    None
                }
                // `ARRAY(SELECT …)` (psql's `\du` uses it): the
                // subquery's one column aggregated into an array.
                Expr::Function(f)
                    if matches!(f.args, FunctionArguments::Subquery(_))
                        && f.name.0.len() == 1
                        && f.name.to_string().eq_ignore_ascii_case("array") =>
                {
                    if let FunctionArguments::Subquery(q) = &f.args {
                        if let Some(query) = array_subquery(q) {
                            *expr = Expr::Subquery(Box::new(query));
                        }
                    }
                    None
                }
                _ => None,
            };
            if let Some((kind, arg)) = replacement {
                *expr = call(kind.function_name(), arg);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Rewriter);
}

/// `ARRAY(SELECT e FROM … WHERE …)` as `(SELECT array_agg(e) FROM … WHERE
/// …)`, which DataFusion plans (correlated references included); `None`
/// for a subquery of another shape (grouped, ordered, limited, a set
/// operation, several columns), left for the planner to refuse.
fn array_subquery(
    q: &datafusion::sql::sqlparser::ast::Query,
) -> Option<datafusion::sql::sqlparser::ast::Query> {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr};
    if q.order_by.is_some() || q.limit_clause.is_some() || q.with.is_some() {
        return None;
    }
    let mut query = q.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    if select.projection.len() != 1
        || select.distinct.is_some()
        || select.having.is_some()
        || !matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
    {
        return None;
    }
    let item = match select.projection.pop()? {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    select
        .projection
        .push(SelectItem::UnnamedExpr(call("array_agg", item)));
    Some(query)
}

fn call(name: &str, arg: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonb_text_is_canonical() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"bb":1,"a":[1,{"c":null}],"a2":"x"}"#).unwrap();
        let mut out = String::new();
        write_jsonb(&v, &mut out);
        assert_eq!(out, r#"{"a": [1, {"c": null}], "a2": "x", "bb": 1}"#);
    }
}
