//! Result column names as PostgreSQL chooses them (its `FigureColname`):
//! `SELECT count(*)` is `count`, `SELECT 1` is `?column?`, `SELECT 'x'::int`
//! is `int4`, `SELECT a::text` is `a`. DataFusion would name these
//! `count(*)`, `Int64(1)`, ... Clients and BI tools key on the names.
//!
//! Each unnamed top-level select item gets an alias. PostgreSQL allows
//! duplicate result names (`SELECT 1, 2`) but DataFusion does not, so the
//! planner sees unique aliases and the client-visible names are returned
//! separately.

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, Ident, Query, SelectItem, SetExpr, Statement, Value,
};

/// Alias the unnamed items of the outermost SELECT. Returns the names the
/// client must see, one per item, when any alias was added.
pub fn assign(stmt: &mut Statement) -> Option<Vec<Option<String>>> {
    let Statement::Query(query) = stmt else {
        return None;
    };
    let select = leftmost_select(query)?;
    if select.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    }) {
        return None;
    }
    let mut shown = Vec::with_capacity(select.projection.len());
    let mut used: Vec<String> = select
        .projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(id.value.to_lowercase()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(ids)) => {
                ids.last().map(|i| i.value.to_lowercase())
            }
            _ => None,
        })
        .collect();
    let mut changed = false;
    for (i, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::UnnamedExpr(expr) = item else {
            shown.push(None);
            continue;
        };
        let (name, strength) = figure(expr);
        // Bare column references keep DataFusion's name (the column's).
        // A cast column is aliased too: DataFusion names it like the
        // column, so `SELECT CAST(id AS text) FROM t ORDER BY id` would
        // add `t.id` for the sort under the same name and fail; aliased,
        // ORDER BY `id` means the output column, as in PostgreSQL.
        if strength == Strength::Column
            && matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        {
            shown.push(None);
            continue;
        }
        let internal = if used.contains(&name) {
            format!("{name}__weir{i}")
        } else {
            name.clone()
        };
        used.push(internal.clone());
        *item = SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: Ident::with_quote('"', internal),
        };
        shown.push(Some(name));
        changed = true;
    }
    changed.then_some(shown)
}

fn leftmost_select(query: &mut Query) -> Option<&mut datafusion::sql::sqlparser::ast::Select> {
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::Select(s) => return Some(s),
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(q) => body = q.body.as_mut(),
            _ => return None,
        }
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Strength {
    /// `?column?`
    Default,
    /// A name from a function, type or keyword.
    Figured,
    /// A column reference (DataFusion already names it the same way), a
    /// function call or a scalar subquery: PostgreSQL's strongest names,
    /// which a cast or a CASE keeps.
    Column,
}

fn figure(expr: &Expr) -> (String, Strength) {
    match expr {
        Expr::Identifier(id) => (id.value.to_lowercase(), Strength::Column),
        Expr::CompoundIdentifier(ids) => (
            ids.last()
                .map(|i| i.value.to_lowercase())
                .unwrap_or_default(),
            Strength::Column,
        ),
        Expr::Function(f) => (
            f.name
                .0
                .last()
                .map(|p| {
                    p.as_ident()
                        .map(|i| i.value.to_lowercase())
                        .unwrap_or_else(|| p.to_string())
                })
                .unwrap_or_default(),
            Strength::Column,
        ),
        // A scalar subquery is named as its one column is.
        Expr::Subquery(q) => {
            let mut body = q.body.as_ref();
            let select = loop {
                match body {
                    SetExpr::Select(s) => break Some(s),
                    SetExpr::SetOperation { left, .. } => body = left.as_ref(),
                    SetExpr::Query(q) => body = q.body.as_ref(),
                    _ => break None,
                }
            };
            let name = match select.and_then(|s| s.projection.first()) {
                Some(SelectItem::ExprWithAlias { alias, .. }) => alias.value.clone(),
                Some(SelectItem::UnnamedExpr(e)) => figure(e).0,
                _ => "?column?".into(),
            };
            (name, Strength::Column)
        }
        Expr::Cast {
            expr,
            data_type,
            kind,
            ..
        } => {
            let (name, strength) = figure(expr);
            if strength == Strength::Column
                && !matches!(kind, CastKind::TryCast | CastKind::SafeCast)
            {
                (name, strength)
            } else {
                (type_name(data_type), Strength::Figured)
            }
        }
        Expr::Nested(e) => figure(e),
        Expr::Value(v) => match &v.value {
            Value::Boolean(_) => ("bool".into(), Strength::Figured),
            _ => ("?column?".into(), Strength::Default),
        },
        Expr::TypedString(ts) => (type_name(&ts.data_type), Strength::Figured),
        // Named as its ELSE branch is when that is a column or a call.
        Expr::Case { else_result, .. } => match else_result.as_deref().map(figure) {
            Some((name, Strength::Column)) => (name, Strength::Column),
            _ => ("case".into(), Strength::Figured),
        },
        Expr::Array(_) => ("array".into(), Strength::Figured),
        Expr::Exists { .. } => ("exists".into(), Strength::Figured),
        Expr::Interval(_) => ("interval".into(), Strength::Figured),
        Expr::Position { .. } => ("position".into(), Strength::Figured),
        // `substr(…)` is a call of substr; `substring(… FROM …)` of substring.
        Expr::Substring { shorthand, .. } => (
            if *shorthand { "substr" } else { "substring" }.into(),
            Strength::Column,
        ),
        Expr::Trim { .. } => ("btrim".into(), Strength::Figured),
        Expr::Extract { .. } => ("extract".into(), Strength::Figured),
        Expr::Ceil { .. } => ("ceil".into(), Strength::Figured),
        Expr::Floor { .. } => ("floor".into(), Strength::Figured),
        Expr::Overlay { .. } => ("overlay".into(), Strength::Figured),
        _ => ("?column?".into(), Strength::Default),
    }
}

/// PostgreSQL's internal type names, as `FigureColname` reports casts.
fn type_name(t: &DataType) -> String {
    use DataType as T;
    match t {
        T::Int(_) | T::Integer(_) | T::Int4(_) => "int4",
        T::BigInt(_) | T::Int8(_) => "int8",
        T::SmallInt(_) | T::Int2(_) => "int2",
        T::Real | T::Float4 => "float4",
        T::Double(_) | T::DoublePrecision | T::Float8 => "float8",
        T::Float(_) => "float8",
        T::Numeric(_) | T::Decimal(_) | T::Dec(_) => "numeric",
        T::Boolean | T::Bool => "bool",
        T::Text => "text",
        T::Varchar(_) | T::CharacterVarying(_) => "varchar",
        T::Char(_) | T::Character(_) => "bpchar",
        T::Date => "date",
        T::Time(_, _) => "time",
        T::Timestamp(_, tz) => {
            if matches!(
                tz,
                datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone
                    | datafusion::sql::sqlparser::ast::TimezoneInfo::Tz
            ) {
                "timestamptz"
            } else {
                "timestamp"
            }
        }
        T::Interval { .. } => "interval",
        T::Bytea => "bytea",
        T::Uuid => "uuid",
        T::JSON => "json",
        T::JSONB => "jsonb",
        other => return other.to_string().to_lowercase(),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn names(sql: &str) -> Option<Vec<Option<String>>> {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assign(&mut stmt)
    }

    #[test]
    fn figures_names_like_postgresql() {
        let n = names(
            "SELECT count(*), 1, 2, 'x'::int, a::text, true, CASE WHEN a THEN 1 END, b, \
             CASE WHEN a THEN 1 ELSE c END, true::int, count(*)::int, (SELECT max(x) FROM u), \
             substr(b, 2), substring(b FROM 2) FROM t",
        )
        .unwrap();
        let shown: Vec<_> = n
            .into_iter()
            .map(|n| n.unwrap_or_else(|| "-".into()))
            .collect();
        assert_eq!(
            shown,
            [
                "count",
                "?column?",
                "?column?",
                "int4",
                "a",
                "bool",
                "case",
                "-",
                "c",
                "int4",
                "count",
                "max",
                "substr",
                "substring"
            ]
        );
        assert!(names("SELECT a, b FROM t").is_none());
        assert!(names("SELECT * FROM t").is_none());
    }
}
