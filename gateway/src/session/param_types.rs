//! Parameter types as PostgreSQL infers them: what ParameterDescription
//! announces and what Bind values are decoded into.
//!
//! PostgreSQL gives an untyped parameter (`$1` with OID 0 in Parse) the type
//! its first use asks for, deciding bottom-up as it resolves each operator
//! and function:
//! - an explicit cast: `$1::int8`, `CAST($1 AS date)`;
//! - the other operand of an operator: `c = $1`, `c IN ($1, $2)`,
//!   `$1 BETWEEN 1 AND 10`, `$1 + 1` (int4, the literal's type), with a few
//!   fixed answers: boolean for AND/OR/NOT/WHERE, text for LIKE patterns,
//!   regular expressions and `||`, interval for `timestamp + $1`, float8
//!   for `interval * $1`;
//! - the argument of a function (`left($1, $2)` is text, int4), the other
//!   branches of CASE, COALESCE, GREATEST, UNION;
//! - the target column of `INSERT … VALUES ($1)`, bigint for
//!   `LIMIT`/`OFFSET`;
//! - `text` where nothing tells (PostgreSQL answers `SELECT $1` the same).
//!
//! A type the client names in Parse wins, as in PostgreSQL (a text type
//! named for a typed place is read as that place's type, as Weir always
//! has: pgjdbc names `varchar` for every `setString`).
//!
//! DataFusion guesses some of these while planning (comparisons, BETWEEN,
//! IN, LIKE), with its own literal types (`1` is Int64). [`infer`] drops
//! those guesses and decides every parameter over the logical plan, before
//! the policies rewrite it, so the plan is type-checked with exactly the
//! types the client was told. The differential test against PostgreSQL
//! (`tests/param_types.rs`) holds this to PostgreSQL's answers;
//! `docs/parameter-types.md` lists where Weir still differs, and why.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, IntervalUnit};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, Result, ScalarValue};
use datafusion::logical_expr::expr::{
    AggregateFunction, Alias, Between, BinaryExpr, Case, Cast, InList, InSubquery, Like,
    Placeholder, ScalarFunction, TryCast, WindowFunction,
};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    Expr, ExprSchemable, Limit, LogicalPlan, LogicalPlanBuilder, Operator, Union, Values,
    WindowFunctionDefinition,
};
use datafusion::sql::sqlparser::ast::{
    self as sql, DataType as SqlType, Statement, Value, ValueWithSpan, Visit, VisitMut, Visitor,
    VisitorMut,
};

use weir_pgtypes::{self as types, oid, PG_TYPE_METADATA};

/// Passes over the plan before giving up on parameters still undecided:
/// each pass decides what the previous one made known (`$1 * 2 = $2`).
const MAX_PASSES: usize = 8;

/// The Arrow type of a `numeric` parameter: what a client's value is read
/// into when nothing narrower is asked for (the same as a parameter the
/// client declares `numeric`). A value with more digits after the point is
/// refused by the decoder, never rounded.
pub(super) const NUMERIC: DataType = DataType::Decimal128(NUMERIC_PRECISION, NUMERIC_SCALE);
const NUMERIC_PRECISION: u8 = 38;
const NUMERIC_SCALE: i8 = 10;

/// One parameter as planned.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    /// What ParameterDescription announces when the client named no type.
    pub(crate) oid: u32,
    /// What its value is decoded into.
    pub(crate) target: DataType,
}

/// Each parameter's field, by placeholder id (`$1`), once decided.
type Decided = HashMap<String, FieldRef>;

/// What one node knows while deciding: the input its expressions are
/// typed against, the fields decided so far, and the input columns that
/// are a parameter passed up unchanged (`INSERT … SELECT $1`,
/// `FROM (SELECT $1 AS x)`): what is asked of such a column is asked of
/// its parameter.
struct Scope<'a> {
    schema: DFSchemaRef,
    decided: &'a mut Decided,
    passed: HashMap<Column, String>,
}

/// Decide every parameter's type in `plan` (see the module docs). A client
/// type in `declared` (by position; 0 = none) wins where it names one Weir
/// reads; text types only when nothing else tells.
pub(super) fn infer(plan: LogicalPlan, declared: &[u32]) -> Result<LogicalPlan> {
    if plan.get_parameter_names()?.is_empty() {
        return Ok(plan);
    }
    let mut decided = Decided::new();
    let mut fallback = Decided::new();
    for (i, &type_oid) in declared.iter().enumerate() {
        let Some(t) = types::arrow_type_of_oid(type_oid) else {
            continue;
        };
        let field = Arc::new(Field::new("", t, true));
        if is_text_oid(type_oid) {
            fallback.insert(format!("${}", i + 1), field);
        } else {
            decided.insert(format!("${}", i + 1), field);
        }
    }
    // LIMIT and OFFSET take bigint whatever the client named: DataFusion
    // reads them only as an Int64 literal once bound.
    for id in limit_placeholders(&plan) {
        decided.insert(id, int8());
    }
    let mut plan = set_placeholders(plan, &decided, true)?;
    for _ in 0..MAX_PASSES {
        let before = decided.len();
        plan = pass(plan, &mut decided)?;
        if decided.len() == before {
            break;
        }
    }
    for id in plan.get_parameter_names()? {
        let named = fallback.remove(&id);
        decided
            .entry(id)
            .or_insert_with(|| named.unwrap_or_else(text));
    }
    set_placeholders(plan, &decided, false)
}

/// The OID ParameterDescription announces for a parameter of `field`, where
/// `cast` is the PostgreSQL type an explicit cast in the SQL text named
/// (`$1::varchar(3)`), which Arrow's Utf8 cannot tell from text.
pub(super) fn announced_oid(field: &Field, cast: Option<u32>) -> u32 {
    let pg = types::pg_type(field).oid;
    match cast {
        Some(named) if pg == oid::TEXT => named,
        _ => pg,
    }
}

/// The text types an explicit cast of a parameter names
/// (`$1::varchar`, `CAST($1 AS uuid)`), by parameter number from 1: types
/// that plan as Arrow Utf8, so the plan cannot tell them from `text`.
pub(super) fn text_casts(stmt: &Statement) -> HashMap<usize, u32> {
    struct Casts(HashMap<usize, u32>);
    impl Visitor for Casts {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &sql::Expr) -> ControlFlow<()> {
            if let sql::Expr::Cast {
                expr, data_type, ..
            } = expr
            {
                if let sql::Expr::Value(ValueWithSpan {
                    value: Value::Placeholder(name),
                    ..
                }) = expr.as_ref()
                {
                    let n = name.trim_start_matches('$').parse::<usize>().ok();
                    if let (Some(n), Some(named)) = (n, text_type_oid(data_type)) {
                        self.0.entry(n).or_insert(named);
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut casts = Casts(HashMap::new());
    let _ = stmt.visit(&mut casts);
    casts.0
}

/// `$1 || $2`: PostgreSQL reads both as text; DataFusion cannot plan a
/// concatenation of two values of unknown type, so both are cast to text
/// in the statement first.
pub(super) fn type_concatenated_parameters(stmt: &mut Statement) {
    struct Concat;
    impl VisitorMut for Concat {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut sql::Expr) -> ControlFlow<()> {
            if let sql::Expr::BinaryOp {
                left,
                op: sql::BinaryOperator::StringConcat,
                right,
            } = expr
            {
                if is_placeholder(left) && is_placeholder(right) {
                    for side in [left, right] {
                        let inner = std::mem::replace(side.as_mut(), sql::Expr::value(Value::Null));
                        **side = sql::Expr::Cast {
                            kind: sql::CastKind::DoubleColon,
                            expr: Box::new(inner),
                            data_type: SqlType::Text,
                            array: false,
                            format: None,
                        };
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Concat);
}

fn is_placeholder(e: &sql::Expr) -> bool {
    matches!(
        e,
        sql::Expr::Value(ValueWithSpan {
            value: Value::Placeholder(_),
            ..
        })
    )
}

fn text_type_oid(t: &SqlType) -> Option<u32> {
    Some(match t {
        SqlType::Varchar(_) | SqlType::CharacterVarying(_) | SqlType::CharVarying(_) => {
            oid::VARCHAR
        }
        SqlType::Char(_) | SqlType::Character(_) => oid::BPCHAR,
        SqlType::Uuid => oid::UUID,
        SqlType::JSON => oid::JSON,
        SqlType::JSONB => oid::JSONB,
        SqlType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("name") => oid::NAME,
        _ => return None,
    })
}

fn is_text_oid(type_oid: u32) -> bool {
    matches!(
        type_oid,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN
    )
}

/// The parameters that are a LIMIT or OFFSET.
fn limit_placeholders(plan: &LogicalPlan) -> Vec<String> {
    let mut ids = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Limit(Limit { skip, fetch, .. }) = node {
            for e in [skip, fetch].into_iter().flatten() {
                if let Expr::Placeholder(p) = e.as_ref() {
                    ids.push(p.id.clone());
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    ids
}

/// Give every placeholder its decided field; with `clear`, forget the
/// fields of the others (DataFusion's guesses).
fn set_placeholders(plan: LogicalPlan, decided: &Decided, clear: bool) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let node = node.map_expressions(|e| {
            e.transform_up(|e| match e {
                Expr::Placeholder(Placeholder { id, field }) => {
                    let new =
                        decided
                            .get(&id)
                            .cloned()
                            .or(if clear { None } else { field.clone() });
                    if new == field {
                        Ok(Transformed::no(Expr::Placeholder(Placeholder {
                            id,
                            field,
                        })))
                    } else {
                        Ok(Transformed::yes(Expr::Placeholder(Placeholder {
                            id,
                            field: new,
                        })))
                    }
                }
                e => Ok(Transformed::no(e)),
            })
        })?;
        if node.transformed || !clear {
            node.map_data(retype)
        } else {
            Ok(node)
        }
    })
    .map(|t| t.data)
}

/// One bottom-up pass: each node, and each expression in it, decides the
/// parameters it can; what is decided is written into the placeholders at
/// once, so the nodes above see it.
fn pass(plan: LogicalPlan, decided: &mut Decided) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let mut scope = Scope {
            schema: input_schema(&node),
            passed: passed_columns(&node, decided),
            decided: &mut *decided,
        };
        scope.in_node(&node);
        node.map_expressions(|e| {
            e.transform_up(|e| {
                scope.in_expr(&e);
                fill(e, scope.decided)
            })
        })?
        .map_data(retype)
    })
    .map(|t| t.data)
}

/// The input columns of `node` that are an undecided parameter passed up
/// unchanged.
fn passed_columns(node: &LogicalPlan, decided: &Decided) -> HashMap<Column, String> {
    let mut passed = HashMap::new();
    for input in node.inputs() {
        for (j, (qualifier, field)) in input.schema().iter().enumerate() {
            if let Some(Expr::Placeholder(p)) = output_placeholder(input, j, decided) {
                passed.insert(Column::new(qualifier.cloned(), field.name()), p.id.clone());
            }
        }
    }
    passed
}

/// A node's schema once its placeholders' types may have changed.
fn retype(node: LogicalPlan) -> Result<LogicalPlan> {
    Ok(match node {
        // Neither keeps a schema of its own that follows its expressions.
        // A column VALUES was planned with a type for (INSERT's target
        // column) keeps it: a parameter read as a wider type is cast to it,
        // as PostgreSQL assigns a value to a column. Untyped columns take
        // their values' types.
        LogicalPlan::Values(Values { values, schema }) => {
            if schema.fields().iter().any(|f| f.data_type().is_null()) {
                LogicalPlanBuilder::values(values)?.build()?
            } else {
                let empty = DFSchema::empty();
                let values = values
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .zip(schema.fields())
                            .map(|(e, f)| match e.get_type(&empty) {
                                Ok(t)
                                    if &t != f.data_type() && matches!(e, Expr::Placeholder(_)) =>
                                {
                                    e.cast_to(f.data_type(), &empty)
                                }
                                _ => Ok(e),
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?;
                LogicalPlan::Values(Values { values, schema })
            }
        }
        LogicalPlan::Union(Union { inputs, .. }) => {
            LogicalPlan::Union(Union::try_new_with_loose_types(inputs)?)
        }
        node => node.recompute_schema()?,
    })
}

/// The schema a node's expressions are typed against.
fn input_schema(node: &LogicalPlan) -> DFSchemaRef {
    match node.inputs().as_slice() {
        [] => Arc::clone(node.schema()),
        [one] => Arc::clone(one.schema()),
        [first, rest @ ..] => {
            let mut merged = first.schema().as_ref().clone();
            for other in rest {
                merged.merge(other.schema());
            }
            Arc::new(merged)
        }
    }
}

impl Scope<'_> {
    /// What a node itself says of the expressions it holds.
    fn in_node(&mut self, node: &LogicalPlan) {
        match node {
            LogicalPlan::Limit(Limit { skip, fetch, .. }) => {
                for e in [skip, fetch].into_iter().flatten() {
                    self.want(e, Some(int8()));
                }
            }
            LogicalPlan::Filter(f) => self.want(&f.predicate, Some(boolean())),
            LogicalPlan::Join(j) => {
                if let Some(f) = &j.filter {
                    self.want(f, Some(boolean()));
                }
            }
            LogicalPlan::Values(v) => {
                for row in &v.values {
                    for (e, field) in row.iter().zip(v.schema.fields()) {
                        if !field.data_type().is_null() {
                            self.want(e, Some(like(field)));
                        }
                    }
                }
            }
            LogicalPlan::Union(u) => {
                for j in 0..u.schema.fields().len() {
                    let known = u.inputs.iter().find_map(|input| {
                        let field = input.schema().fields().get(j)?;
                        (!field.data_type().is_null()
                            && output_placeholder(input, j, self.decided).is_none())
                        .then(|| like(field))
                    });
                    for input in &u.inputs {
                        if let Some(e) = output_placeholder(input, j, self.decided) {
                            self.want(e, known.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The undecided placeholder a plan outputs as column `j`, if any.
fn output_placeholder<'a>(plan: &'a LogicalPlan, j: usize, decided: &Decided) -> Option<&'a Expr> {
    match plan {
        LogicalPlan::Projection(p) => {
            let e = strip_alias(p.expr.get(j)?);
            undecided(e, decided).map(|_| e)
        }
        LogicalPlan::SubqueryAlias(a) => output_placeholder(&a.input, j, decided),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
            output_placeholder(input, j, decided)
        }
        _ => None,
    }
}

impl Scope<'_> {
    /// What an expression says of the parameters directly under it.
    fn in_expr(&mut self, e: &Expr) {
        match e {
            Expr::Cast(Cast { expr, data_type }) | Expr::TryCast(TryCast { expr, data_type }) => {
                self.want(expr, Some(like(&Field::new("", data_type.clone(), true))));
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (l, r) = (self.known(left), self.known(right));
                self.want(left, operand(*op, r.as_deref()));
                self.want(right, operand(*op, l.as_deref()));
            }
            Expr::Not(inner)
            | Expr::IsTrue(inner)
            | Expr::IsFalse(inner)
            | Expr::IsUnknown(inner)
            | Expr::IsNotTrue(inner)
            | Expr::IsNotFalse(inner)
            | Expr::IsNotUnknown(inner) => self.want(inner, Some(boolean())),
            Expr::Like(Like {
                expr,
                pattern,
                escape_char: _,
                ..
            })
            | Expr::SimilarTo(Like {
                expr,
                pattern,
                escape_char: _,
                ..
            }) => {
                self.want(expr, Some(text()));
                self.want(pattern, Some(text()));
            }
            Expr::Between(Between {
                expr, low, high, ..
            }) => {
                let all = [expr.as_ref(), low.as_ref(), high.as_ref()];
                let common = common_type(all.iter().map(|e| self.known(e)));
                for e in all {
                    self.want(e, common.clone());
                }
            }
            Expr::InList(InList { expr, list, .. }) => {
                let all: Vec<&Expr> = std::iter::once(expr.as_ref()).chain(list.iter()).collect();
                let common = common_type(all.iter().map(|e| self.known(e)));
                for e in all {
                    self.want(e, common.clone());
                }
            }
            Expr::InSubquery(InSubquery { expr, subquery, .. }) => {
                let column = subquery.subquery.schema().fields().first().cloned();
                self.want(expr, column.map(|f| like(&f)));
            }
            Expr::Case(Case {
                expr,
                when_then_expr,
                else_expr,
            }) => {
                match expr {
                    // CASE x WHEN v ...: x and every v compare.
                    Some(base) => {
                        let all: Vec<&Expr> = std::iter::once(base.as_ref())
                            .chain(when_then_expr.iter().map(|(w, _)| w.as_ref()))
                            .collect();
                        let common = common_type(all.iter().map(|e| self.known(e)));
                        for e in all {
                            self.want(e, common.clone());
                        }
                    }
                    None => {
                        for (w, _) in when_then_expr {
                            self.want(w, Some(boolean()));
                        }
                    }
                }
                let results: Vec<&Expr> = when_then_expr
                    .iter()
                    .map(|(_, t)| t.as_ref())
                    .chain(else_expr.as_deref())
                    .collect();
                let common = common_type(results.iter().map(|e| self.known(e)));
                for e in results {
                    self.want(e, common.clone());
                }
            }
            Expr::ScalarFunction(ScalarFunction { func, args }) => {
                let names: Vec<&str> = std::iter::once(func.name())
                    .chain(func.aliases().iter().map(String::as_str))
                    .collect();
                let wanted = match pg_arguments(&names, args.len()) {
                    Some(PgArgs::Same) => {
                        let common = common_type(args.iter().map(|a| self.known(a)));
                        vec![common; args.len()]
                    }
                    Some(PgArgs::Fixed(types)) => {
                        types.iter().map(|t| t.clone().map(field)).collect()
                    }
                    None => self.coerced(args, |fields| fields_with_udf(fields, func.as_ref())),
                };
                for (a, w) in args.iter().zip(wanted) {
                    self.want(a, w);
                }
            }
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                if let Some(f) = &params.filter {
                    self.want(f, Some(boolean()));
                }
                let wanted = self.coerced(&params.args, |fields| {
                    fields_with_udf(fields, func.as_ref())
                });
                for (a, w) in params.args.iter().zip(wanted) {
                    self.want(a, w);
                }
            }
            Expr::WindowFunction(w) => {
                let WindowFunction { fun, params } = w.as_ref();
                if let Some(f) = &params.filter {
                    self.want(f, Some(boolean()));
                }
                let args = &params.args;
                let name = fun.name();
                // lag/lead(value, offset, default), ntile(n), nth_value(value, n):
                // offsets and counts are int4 in PostgreSQL.
                let wanted: Vec<Option<FieldRef>> = match name {
                    "lag" | "lead" => vec![
                        None,
                        Some(field(DataType::Int32)),
                        args.first().and_then(|a| self.known(a)),
                    ],
                    "ntile" => vec![Some(field(DataType::Int32))],
                    "nth_value" => vec![None, Some(field(DataType::Int32))],
                    _ => match fun {
                        WindowFunctionDefinition::AggregateUDF(udf) => {
                            self.coerced(args, |fields| fields_with_udf(fields, udf.as_ref()))
                        }
                        WindowFunctionDefinition::WindowUDF(udf) => {
                            self.coerced(args, |fields| fields_with_udf(fields, udf.as_ref()))
                        }
                    },
                };
                for (a, w) in args.iter().zip(wanted) {
                    self.want(a, w);
                }
            }
            _ => {}
        }
    }
}

/// The type an operand of `op` takes when the other operand is of type
/// `other` (PostgreSQL: an unknown operand is assumed to be of the other's
/// type, unless the operator says otherwise).
fn operand(op: Operator, other: Option<&Field>) -> Option<FieldRef> {
    use Operator::*;
    match op {
        And | Or => Some(boolean()),
        RegexMatch | RegexIMatch | RegexNotMatch | RegexNotIMatch | LikeMatch | ILikeMatch
        | NotLikeMatch | NotILikeMatch => Some(text()),
        StringConcat => match other.map(Field::data_type) {
            Some(DataType::List(_) | DataType::LargeList(_)) => other.map(like),
            _ => Some(text()),
        },
        Plus => match other.map(Field::data_type) {
            Some(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) => {
                Some(field(DataType::Interval(IntervalUnit::MonthDayNano)))
            }
            _ => other.map(like),
        },
        Multiply | Divide => match other.map(Field::data_type) {
            Some(DataType::Interval(_)) => Some(field(DataType::Float64)),
            _ => other.map(like),
        },
        _ => other.map(like),
    }
}

/// What PostgreSQL resolves an unknown argument of a common function to:
/// the argument types of its only candidate, or of the candidate of the
/// preferred type (float8 among the numeric ones).
enum PgArgs {
    /// The type of each argument, by position (`None`: no rule).
    Fixed(Vec<Option<DataType>>),
    /// All arguments take the type the known ones share (COALESCE...).
    Same,
}

fn pg_arguments(names: &[&str], n: usize) -> Option<PgArgs> {
    use DataType::{Float64, Int32, Utf8};
    let t = |types: &[DataType]| Some(PgArgs::Fixed(types.iter().cloned().map(Some).collect()));
    let named = |list: &[&str]| names.iter().any(|n| list.contains(n));
    if named(&[
        "coalesce", "nullif", "greatest", "least", "nvl", "ifnull", "mod", "gcd", "lcm",
    ]) {
        return Some(PgArgs::Same);
    }
    if named(&[
        "length",
        "char_length",
        "character_length",
        "octet_length",
        "bit_length",
        "upper",
        "lower",
        "initcap",
        "md5",
        "reverse",
        "ascii",
        "btrim",
        "ltrim",
        "rtrim",
        "trim",
        "replace",
        "translate",
        "starts_with",
        "strpos",
        "position",
        "regexp_replace",
        "regexp_match",
        "regexp_like",
        "regexp_count",
        "to_date",
        "sha224",
        "sha256",
        "sha384",
        "sha512",
        "quote_ident",
        "quote_literal",
    ]) {
        return t(&vec![Utf8; n]);
    }
    if named(&["left", "right", "repeat"]) {
        return t(&[Utf8, Int32]);
    }
    if named(&["lpad", "rpad"]) {
        return t(&[Utf8, Int32, Utf8]);
    }
    if named(&["substr", "substring"]) {
        return t(&[Utf8, Int32, Int32]);
    }
    if named(&["split_part"]) {
        return t(&[Utf8, Utf8, Int32]);
    }
    if named(&["chr"]) {
        return t(&[Int32]);
    }
    if named(&["make_date"]) {
        return t(&[Int32, Int32, Int32]);
    }
    if named(&["date_trunc", "date_part", "datepart"]) {
        return Some(PgArgs::Fixed(vec![Some(Utf8), None]));
    }
    if named(&["to_timestamp"]) {
        return if n == 1 {
            t(&[Float64])
        } else {
            t(&[Utf8, Utf8])
        };
    }
    if named(&["round", "trunc"]) && n == 2 {
        return Some(PgArgs::Fixed(vec![Some(NUMERIC), Some(Int32)]));
    }
    if named(&[
        "abs", "ceil", "ceiling", "floor", "sqrt", "cbrt", "exp", "ln", "log", "log10", "sign",
        "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "power", "pow",
        "round",
    ]) {
        return t(&vec![Float64; n]);
    }
    None
}

impl Scope<'_> {
    /// The argument types DataFusion's signature of a function coerces its
    /// arguments to, the unknown ones planned as NULL.
    fn coerced(
        &self,
        args: &[Expr],
        coerce: impl Fn(&[FieldRef]) -> Result<Vec<FieldRef>>,
    ) -> Vec<Option<FieldRef>> {
        if !args.iter().any(|a| self.undecided(a).is_some()) {
            return Vec::new();
        }
        let current: Vec<FieldRef> = args
            .iter()
            .map(|a| self.known(a).unwrap_or_else(|| field(DataType::Null)))
            .collect();
        match coerce(&current) {
            Ok(fields) => fields
                .into_iter()
                .map(|f| (!f.data_type().is_null()).then(|| like(&f)))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The type of an expression as PostgreSQL would see it, when known: a
    /// literal has PostgreSQL's type for its text (`1` int4, `1.5` numeric),
    /// integer arithmetic the wider integer.
    fn known(&self, e: &Expr) -> Option<FieldRef> {
        let schema = self.schema.as_ref();
        match e {
            Expr::Placeholder(Placeholder { id, field }) => {
                field.clone().or_else(|| self.decided.get(id).cloned())
            }
            Expr::Column(c) if self.passed.contains_key(c) => self
                .passed
                .get(c)
                .and_then(|id| self.decided.get(id))
                .cloned(),
            Expr::Alias(Alias { expr, .. }) => self.known(expr),
            Expr::Literal(value, _) => literal_type(value).map(field),
            Expr::Negative(inner) => self.known(inner),
            Expr::BinaryExpr(BinaryExpr {
                left,
                op:
                    Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
                    | Operator::Divide
                    | Operator::Modulo,
                right,
            }) => {
                let l = self.known(left)?;
                let r = self.known(right)?;
                match (int_width(l.data_type()), int_width(r.data_type())) {
                    (Some(a), Some(b)) => Some(if a >= b { l } else { r }),
                    _ => e
                        .to_field(schema)
                        .ok()
                        .map(|(_, f)| f)
                        .filter(|f| !f.data_type().is_null()),
                }
            }
            _ => e
                .to_field(schema)
                .ok()
                .map(|(_, f)| f)
                .filter(|f| !f.data_type().is_null()),
        }
    }
}

/// PostgreSQL's type of a literal: integers are int4 when they fit, a
/// number with a point or exponent is numeric.
fn literal_type(value: &ScalarValue) -> Option<DataType> {
    match value {
        v if v.is_null() => None,
        ScalarValue::Int64(Some(n)) if i32::try_from(*n).is_ok() => Some(DataType::Int32),
        ScalarValue::Float64(_) | ScalarValue::Decimal128(..) | ScalarValue::Decimal256(..) => {
            Some(NUMERIC)
        }
        ScalarValue::Utf8View(_) | ScalarValue::LargeUtf8(_) => Some(DataType::Utf8),
        v => Some(v.data_type()),
    }
}

fn int_width(t: &DataType) -> Option<u8> {
    match t {
        DataType::Int8 | DataType::Int16 => Some(2),
        DataType::Int32 => Some(4),
        DataType::Int64 => Some(8),
        _ => None,
    }
}

/// The type several values share: the widest integer when all are
/// integers, else the first known.
fn common_type(types: impl Iterator<Item = Option<FieldRef>>) -> Option<FieldRef> {
    let known: Vec<FieldRef> = types.flatten().collect();
    let widest_int = known
        .iter()
        .map(|f| int_width(f.data_type()))
        .collect::<Option<Vec<u8>>>()
        .and_then(|widths| {
            let max = widths.iter().copied().max()?;
            known
                .iter()
                .find(|f| int_width(f.data_type()) == Some(max))
                .cloned()
        });
    widest_int.or_else(|| known.first().cloned())
}

/// The field a parameter gets where it stands for a value of `f`: the
/// same type, nullable, with the PostgreSQL type tags that have operators
/// of their own (bpchar, uuid, json); `varchar` compares as text, as in
/// PostgreSQL. A decimal widens to [`NUMERIC`]: PostgreSQL reads the
/// client's value as numeric whatever the column's scale.
fn like(f: &Field) -> FieldRef {
    let t = match f.data_type() {
        DataType::Dictionary(_, v) => v.as_ref().clone(),
        DataType::Decimal32(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s) => DataType::Decimal128(
            NUMERIC_PRECISION,
            (*s).clamp(NUMERIC_SCALE, NUMERIC_PRECISION as i8),
        ),
        t => t.clone(),
    };
    let mut out = Field::new("", t, true);
    if let Some(name) = f.metadata().get(PG_TYPE_METADATA) {
        let base = name.split('(').next().unwrap_or_default().trim();
        if !matches!(base, "varchar" | "character varying" | "text") {
            out = out.with_metadata(f.metadata().clone());
        }
    } else if !f.metadata().is_empty() {
        out = out.with_metadata(f.metadata().clone());
    }
    Arc::new(out)
}

impl Scope<'_> {
    /// Decide `e`'s type if it is an undecided parameter, or a column
    /// passing one up (the first use wins).
    fn want(&mut self, e: &Expr, wanted: Option<FieldRef>) {
        let Some(f) = wanted.filter(|f| !f.data_type().is_null()) else {
            return;
        };
        if let Some(id) = self.undecided(e) {
            let id = id.to_owned();
            self.decided.insert(id, f);
        }
    }

    /// The undecided parameter `e` is, or passes up.
    fn undecided<'e>(&'e self, e: &'e Expr) -> Option<&'e str> {
        match strip_alias(e) {
            Expr::Column(c) => self
                .passed
                .get(c)
                .filter(|id| !self.decided.contains_key(*id))
                .map(String::as_str),
            e => undecided(e, self.decided),
        }
    }
}

fn undecided<'a>(e: &'a Expr, decided: &Decided) -> Option<&'a str> {
    match e {
        Expr::Placeholder(Placeholder { id, field: None }) if !decided.contains_key(id) => Some(id),
        _ => None,
    }
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(Alias { expr, .. }) => strip_alias(expr),
        e => e,
    }
}

/// Write decided fields into the placeholders directly under `e` (and `e`
/// itself).
fn fill(e: Expr, decided: &Decided) -> Result<Transformed<Expr>> {
    let set = |e: Expr| -> Result<Transformed<Expr>> {
        match e {
            Expr::Placeholder(Placeholder { id, field: None }) if decided.contains_key(&id) => {
                let field = decided.get(&id).cloned();
                Ok(Transformed::yes(Expr::Placeholder(Placeholder {
                    id,
                    field,
                })))
            }
            e => Ok(Transformed::no(e)),
        }
    };
    let e = set(e)?;
    e.transform_data(|e| e.map_children(set))
}

fn field(t: DataType) -> FieldRef {
    Arc::new(Field::new("", t, true))
}

fn boolean() -> FieldRef {
    field(DataType::Boolean)
}

fn int8() -> FieldRef {
    field(DataType::Int64)
}

fn text() -> FieldRef {
    field(DataType::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn literals_have_postgresql_types() {
        let t = |v: ScalarValue| literal_type(&v);
        assert_eq!(t(ScalarValue::Int64(Some(1))), Some(DataType::Int32));
        assert_eq!(
            t(ScalarValue::Int64(Some(5_000_000_000))),
            Some(DataType::Int64)
        );
        assert_eq!(t(ScalarValue::Float64(Some(1.5))), Some(NUMERIC));
        assert_eq!(
            t(ScalarValue::Utf8View(Some("x".into()))),
            Some(DataType::Utf8)
        );
        assert_eq!(t(ScalarValue::Int64(None)), None);
    }

    #[test]
    fn a_parameter_standing_for_a_value_takes_its_operators_type() {
        let varchar = Field::new("c", DataType::Utf8, true)
            .with_metadata([(PG_TYPE_METADATA.to_owned(), "varchar(25)".to_owned())].into());
        assert!(
            like(&varchar).metadata().is_empty(),
            "varchar compares as text"
        );
        let bpchar = Field::new("c", DataType::Utf8, true)
            .with_metadata([(PG_TYPE_METADATA.to_owned(), "bpchar(1)".to_owned())].into());
        assert_eq!(types::pg_type(&like(&bpchar)).oid, oid::BPCHAR);
        let money = Field::new("c", DataType::Decimal128(15, 2), false);
        assert_eq!(like(&money).data_type(), &NUMERIC);
        assert!(like(&money).is_nullable());
        let fine = Field::new("c", DataType::Decimal128(38, 20), false);
        assert_eq!(like(&fine).data_type(), &DataType::Decimal128(38, 20));
    }

    #[test]
    fn several_values_share_the_widest_integer() {
        let f = |t: DataType| Some(field(t));
        let common = common_type([f(DataType::Int32), None, f(DataType::Int64)].into_iter());
        assert_eq!(common.unwrap().data_type(), &DataType::Int64);
        let common = common_type([None, f(DataType::Utf8), f(DataType::Int64)].into_iter());
        assert_eq!(common.unwrap().data_type(), &DataType::Utf8);
    }

    #[test]
    fn casts_to_text_types_are_read_from_the_statement() {
        let casts = text_casts(&parse(
            "SELECT $1::varchar(3), CAST($2 AS uuid), $3::int, $4::char(2), $1::json",
        ));
        assert_eq!(casts.get(&1), Some(&oid::VARCHAR), "the first cast wins");
        assert_eq!(casts.get(&2), Some(&oid::UUID));
        assert_eq!(casts.get(&3), None);
        assert_eq!(casts.get(&4), Some(&oid::BPCHAR));
    }

    #[test]
    fn concatenated_parameters_are_text() {
        let mut stmt = parse("SELECT $1 || $2, $3 || 'x'");
        type_concatenated_parameters(&mut stmt);
        assert_eq!(stmt.to_string(), "SELECT $1::TEXT || $2::TEXT, $3 || 'x'");
    }

    #[test]
    fn announced_types_name_text_casts() {
        let text = Field::new("", DataType::Utf8, true);
        assert_eq!(announced_oid(&text, Some(oid::VARCHAR)), oid::VARCHAR);
        assert_eq!(announced_oid(&text, None), oid::TEXT);
        let int = Field::new("", DataType::Int64, true);
        assert_eq!(announced_oid(&int, Some(oid::VARCHAR)), oid::INT8);
    }
}
