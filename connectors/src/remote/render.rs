//! Logical plans → the SQL a source runs.
//!
//! Weir writes remote SQL itself rather than printing it with DataFusion's
//! unparser: sqlparser's printer leaves a quote after a backslash undoubled
//! (a filter value `\' OR 1=1 --` then matches every row on PostgreSQL), and
//! Weir must also choose, per dialect, what may run remotely with exactly
//! Weir's semantics. So every name in remote SQL is written by
//! [`Dialect::ident`], every string by [`Dialect::string`]; all other text
//! (keywords, operators, function names, aliases `t0`/`c0`, numbers) is
//! Weir's own. Columns are found by position, never by name, so no user
//! name needs to be re-parsed.
//!
//! What is rendered, and the rules that keep results identical to Weir's:
//! - table scans (projection, filters, limit), projections, filters,
//!   aggregates (`count`, `sum`, `min`, `max`, `avg`) with GROUP BY,
//!   ORDER BY with NULLS FIRST/LAST, LIMIT/OFFSET, DISTINCT, inner and outer
//!   joins; anything else is left to Weir, its inputs still pushed down;
//! - PostgreSQL compares text for ordering (`<`, ORDER BY, `min`) with
//!   `COLLATE "C"`: byte order, as Weir; MySQL text columns are read as
//!   their UTF-8 bytes, so comparisons, grouping and sorting are byte-exact
//!   whatever their collation; Redshift orders no text remotely;
//! - decimal `avg` is computed as Weir does (the quotient truncated at
//!   the result's scale); integer division and casts only where the source
//!   agrees with Weir.

use std::fmt::Write as _;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DFSchema, ScalarValue, TableReference};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::{AggregateFunction, Alias, InList, Like, ScalarFunction};
use datafusion::logical_expr::{
    Between, BinaryExpr, Distinct, Expr, ExprSchemable, FetchType, JoinType, LogicalPlan, Operator,
    SkipType, SortExpr,
};

use super::types::Read;
use super::{Dialect, TableMeta};

/// Why a plan was not rendered.
#[derive(Debug)]
pub enum Failure {
    /// The dialect cannot express it exactly: Weir runs it instead.
    Cannot(String),
    /// A real error (an unreadable column is read): the query fails.
    Fatal(DataFusionError),
}

type R<T> = std::result::Result<T, Failure>;

fn cannot<T>(why: impl Into<String>) -> R<T> {
    Err(Failure::Cannot(why.into()))
}

/// Where a table scan's metadata comes from: the plan's table sources.
pub trait ScanLookup: Send + Sync {
    /// The remote table a scan reads, if it is one of this source's.
    fn table(
        &self,
        scan: &datafusion::logical_expr::TableScan,
    ) -> Option<std::sync::Arc<TableMeta>>;
}

/// A rendered query: the SQL and how many columns it returns.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The statement.
    pub sql: String,
    /// Whether a placeholder column was added because the plan has none.
    pub placeholder_column: bool,
    /// The source's estimate of the rows, for a scan of one table.
    pub estimated_rows: Option<u64>,
    /// A scan of one table, which can be split into ranges.
    pub splittable: Option<Splittable>,
}

/// A plain scan of one table: the statement can be re-rendered with a
/// range condition on the table.
#[derive(Debug, Clone)]
pub struct Splittable {
    select: Select,
    dialect: Dialect,
    /// The table's alias in the statement (`t0`).
    pub alias: String,
    /// The table's size in pages, if known (PostgreSQL).
    pub pages: Option<u64>,
    /// The table, quoted (`"s"."t"`).
    pub table_sql: String,
    /// Its one-column integer primary key, quoted, if it has one.
    pub key_sql: Option<String>,
}

impl Splittable {
    /// The statement with `condition` (over the table's alias) added.
    pub fn with_condition(&self, condition: &str) -> String {
        let mut select = self.select.clone();
        select.wheres.push(condition.to_owned());
        Renderer::new(self.dialect, "", &NoTables).to_sql(&select, true)
    }
}

/// Renders plans for one source.
pub struct Renderer<'a> {
    dialect: Dialect,
    source: &'a str,
    lookup: &'a dyn ScanLookup,
    aliases: usize,
    /// Why each unreadable column cannot be read; such a column's item is
    /// `\0<index>` (NUL never reaches remote SQL otherwise), and using it
    /// fails with this message.
    unreadable: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Select {
    distinct: bool,
    items: Vec<String>,
    from: String,
    from_is_join: bool,
    wheres: Vec<String>,
    group_by: Option<Vec<String>>,
    having: Vec<String>,
    order_by: Vec<String>,
    limit: Option<usize>,
    offset: usize,
    /// Rows the source expects from a scan of one table (at most).
    rows: Option<u64>,
    /// For a scan of one table: its alias and metadata.
    table: Option<(String, std::sync::Arc<TableMeta>)>,
}

impl Select {
    fn shaped(&self) -> bool {
        self.distinct
            || self.group_by.is_some()
            || !self.order_by.is_empty()
            || self.limit.is_some()
            || self.offset > 0
    }
}

impl<'a> Renderer<'a> {
    /// A renderer for `source` (its name, for messages) in `dialect`.
    pub fn new(dialect: Dialect, source: &'a str, lookup: &'a dyn ScanLookup) -> Self {
        Self {
            dialect,
            source,
            lookup,
            aliases: 0,
            unreadable: Vec::new(),
        }
    }

    /// The whole plan as one statement, or why not.
    pub fn query(&mut self, plan: &LogicalPlan) -> R<Rendered> {
        let mut select = self.plan(plan)?;
        let placeholder_column = select.items.is_empty();
        if placeholder_column {
            select.items.push("1".into());
        }
        let sql = self.to_sql(&select, true);
        if let Some(at) = sql.find('\0') {
            return Err(self.poisoned(&sql[at..]));
        }
        let splittable = match &select.table {
            Some((alias, meta)) if !select.shaped() && select.having.is_empty() => {
                Some(Splittable {
                    select: select.clone(),
                    dialect: self.dialect,
                    alias: alias.clone(),
                    pages: meta.pages,
                    table_sql: format!("{}.{}", self.ident(&meta.schema)?, self.ident(&meta.name)?),
                    key_sql: match &meta.integer_key {
                        Some(k) => Some(self.ident(k)?),
                        None => None,
                    },
                })
            }
            _ => None,
        };
        let estimated_rows = match (select.rows, select.limit) {
            (Some(r), Some(l)) => Some(r.min(l as u64)),
            (r, _) => r,
        };
        Ok(Rendered {
            sql,
            placeholder_column,
            estimated_rows,
            splittable,
        })
    }

    /// Whether a filter on a scan of `table` can be rendered.
    pub fn filter_renders(
        &mut self,
        table: &TableMeta,
        name: &TableReference,
        filter: &Expr,
    ) -> bool {
        let Ok(schema) = DFSchema::try_from_qualified_schema(name.clone(), &table.arrow_schema)
        else {
            return false;
        };
        let alias = "t0".to_owned();
        let scope = match self.scan_columns(table, &alias) {
            Ok(s) => s,
            Err(_) => return false,
        };
        self.expr(filter, &scope, &schema).is_ok()
    }

    /// The error of the unreadable column whose marker starts `text`.
    fn poisoned(&self, text: &str) -> Failure {
        let index: usize = text[1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        let message = self
            .unreadable
            .get(index)
            .cloned()
            .unwrap_or_else(|| "a column Weir cannot read".to_owned());
        Failure::Fatal(DataFusionError::NotImplemented(message))
    }

    fn alias(&mut self) -> String {
        let a = format!("t{}", self.aliases);
        self.aliases += 1;
        a
    }

    fn ident(&self, name: &str) -> R<String> {
        self.dialect
            .ident(name)
            .map_err(|e| Failure::Fatal(DataFusionError::Plan(e.to_string())))
    }

    fn to_sql(&self, s: &Select, aliases: bool) -> String {
        let mut sql = String::from("SELECT ");
        if s.distinct {
            sql.push_str("DISTINCT ");
        }
        for (i, item) in s.items.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(item);
            if aliases {
                let _ = write!(sql, " AS c{i}");
            }
        }
        let _ = write!(sql, " FROM {}", s.from);
        if !s.wheres.is_empty() {
            let _ = write!(sql, " WHERE {}", s.wheres.join(" AND "));
        }
        if let Some(groups) = &s.group_by {
            if !groups.is_empty() {
                let _ = write!(sql, " GROUP BY {}", groups.join(", "));
            }
        }
        if !s.having.is_empty() {
            let _ = write!(sql, " HAVING {}", s.having.join(" AND "));
        }
        if !s.order_by.is_empty() {
            let _ = write!(sql, " ORDER BY {}", s.order_by.join(", "));
        }
        match (s.limit, s.offset) {
            (Some(n), 0) => {
                let _ = write!(sql, " LIMIT {n}");
            }
            (Some(n), m) => {
                let _ = write!(sql, " LIMIT {n} OFFSET {m}");
            }
            (None, 0) => {}
            (None, m) if self.dialect == Dialect::MySql => {
                let _ = write!(sql, " LIMIT 18446744073709551615 OFFSET {m}");
            }
            (None, m) => {
                let _ = write!(sql, " OFFSET {m}");
            }
        }
        sql
    }

    /// `s` as a derived table: its items become `tN.c0`, `tN.c1`...
    fn wrap(&mut self, mut s: Select) -> Select {
        if s.items.is_empty() {
            s.items.push("1".into());
        }
        let alias = self.alias();
        let n = s.items.len();
        Select {
            from: format!("({}) AS {alias}", self.to_sql(&s, true)),
            items: (0..n).map(|i| format!("{alias}.c{i}")).collect(),
            ..Default::default()
        }
    }

    /// How each column of `table` (under `alias`) is read; an unreadable
    /// column is a marker that fails when used.
    fn scan_columns(&mut self, table: &TableMeta, alias: &str) -> R<Vec<String>> {
        let mut items = Vec::with_capacity(table.columns.len());
        for column in &table.columns {
            let mapping = match column.mapping.as_ref() {
                Ok(m) => m,
                Err(why) => {
                    self.unreadable.push(format!(
                        "column {}.{}.{}.{} has type {}, which Weir cannot read ({why})",
                        self.source, table.schema, table.name, column.name, column.source_type
                    ));
                    items.push(format!("\0{}", self.unreadable.len() - 1));
                    continue;
                }
            };
            let col = format!("{alias}.{}", self.ident(&column.name)?);
            items.push(match (&mapping.read, self.dialect) {
                (Read::Plain, _) => col,
                (Read::Text, Dialect::MySql) => format!("CAST({col} AS CHAR)"),
                (Read::Text, _) => format!("CAST({col} AS text)"),
                (Read::Bytes, _) => format!("CAST(CONVERT({col} USING utf8mb4) AS BINARY)"),
                (Read::Function(f), _) => f.replace("{}", &col),
            });
        }
        Ok(items)
    }

    fn plan(&mut self, plan: &LogicalPlan) -> R<Select> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let Some(table) = self.lookup.table(scan) else {
                    return cannot(format!("{} is not a table of this source", scan.table_name));
                };
                let alias = self.alias();
                let full_scope = self.scan_columns(&table, &alias)?;
                let items = match &scan.projection {
                    None => full_scope.clone(),
                    Some(p) => p
                        .iter()
                        .map(|&i| {
                            full_scope.get(i).cloned().ok_or_else(|| {
                                Failure::Fatal(DataFusionError::Internal(format!(
                                    "column {i} of {}.{} out of range",
                                    table.schema, table.name
                                )))
                            })
                        })
                        .collect::<R<Vec<_>>>()?,
                };
                let schema = DFSchema::try_from_qualified_schema(
                    scan.table_name.clone(),
                    &table.arrow_schema,
                )
                .map_err(Failure::Fatal)?;
                let mut wheres = Vec::new();
                for f in &scan.filters {
                    wheres.push(self.expr(f, &full_scope, &schema)?);
                }
                Ok(Select {
                    items,
                    from: format!(
                        "{}.{} AS {alias}",
                        self.ident(&table.schema)?,
                        self.ident(&table.name)?
                    ),
                    wheres,
                    limit: scan.fetch,
                    rows: table.estimated_rows,
                    table: (!table.is_view).then(|| (alias.clone(), table.clone())),
                    ..Default::default()
                })
            }
            LogicalPlan::SubqueryAlias(a) => self.plan(&a.input),
            LogicalPlan::Projection(p) => {
                let mut s = self.plan(&p.input)?;
                if s.distinct {
                    s = self.wrap(s);
                }
                let schema = p.input.schema();
                let items = p
                    .expr
                    .iter()
                    .map(|e| self.expr(e, &s.items, schema))
                    .collect::<R<Vec<_>>>()?;
                s.items = items;
                Ok(s)
            }
            LogicalPlan::Filter(f) => {
                let mut s = self.plan(&f.input)?;
                if s.distinct || !s.order_by.is_empty() || s.limit.is_some() || s.offset > 0 {
                    s = self.wrap(s);
                }
                let predicate = self.expr(&f.predicate, &s.items, f.input.schema())?;
                if s.group_by.is_some() {
                    s.having.push(predicate);
                } else {
                    s.wheres.push(predicate);
                }
                Ok(s)
            }
            LogicalPlan::Aggregate(a) => {
                let mut s = self.plan(&a.input)?;
                if s.shaped() || !s.having.is_empty() {
                    s = self.wrap(s);
                }
                let schema = a.input.schema();
                let mut groups = Vec::new();
                for g in &a.group_expr {
                    if matches!(g, Expr::GroupingSet(_)) {
                        return cannot("grouping sets");
                    }
                    groups.push(self.expr(g, &s.items, schema)?);
                }
                let mut items = groups.clone();
                for (i, agg) in a.aggr_expr.iter().enumerate() {
                    let out = a.schema.field(a.group_expr.len() + i).data_type().clone();
                    items.push(self.aggregate(agg, &s.items, schema, &out)?);
                }
                s.items = items;
                s.group_by = Some(groups);
                s.rows = None;
                s.table = None;
                Ok(s)
            }
            LogicalPlan::Sort(sort) => {
                let mut s = self.plan(&sort.input)?;
                if s.limit.is_some() || s.offset > 0 || s.distinct {
                    s = self.wrap(s);
                }
                let schema = sort.input.schema();
                s.order_by = sort
                    .expr
                    .iter()
                    .map(|e| self.sort_key(e, &s.items, schema))
                    .collect::<R<Vec<_>>>()?
                    .concat();
                s.limit = sort.fetch;
                Ok(s)
            }
            LogicalPlan::Limit(limit) => {
                let (Ok(SkipType::Literal(skip)), Ok(FetchType::Literal(fetch))) =
                    (limit.get_skip_type(), limit.get_fetch_type())
                else {
                    return cannot("LIMIT with an expression");
                };
                let mut s = self.plan(&limit.input)?;
                if skip == 0 && s.limit.is_some() {
                    // A LIMIT over a LIMIT (or a sort with a fetch): the smaller.
                    s.limit = match (s.limit, fetch) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    return Ok(s);
                }
                if s.limit.is_some() || s.offset > 0 {
                    s = self.wrap(s);
                }
                s.limit = fetch;
                s.offset = skip;
                Ok(s)
            }
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let mut s = self.plan(input)?;
                if s.shaped() {
                    s = self.wrap(s);
                }
                s.distinct = true;
                Ok(s)
            }
            LogicalPlan::Join(join) => self.join(join),
            other => cannot(format!("{} nodes", other.display())),
        }
    }

    fn join(&mut self, join: &datafusion::logical_expr::Join) -> R<Select> {
        use datafusion::common::NullEquality;
        if join.null_equality != NullEquality::NullEqualsNothing {
            return cannot("joins where NULL equals NULL");
        }
        let keyword = match join.join_type {
            JoinType::Inner => "INNER JOIN",
            JoinType::Left => "LEFT JOIN",
            JoinType::Right => "RIGHT JOIN",
            JoinType::Full if self.dialect != Dialect::MySql => "FULL JOIN",
            other => return cannot(format!("{other} joins")),
        };
        let mut left = self.plan(&join.left)?;
        let mut right = self.plan(&join.right)?;
        if left.shaped() || !left.having.is_empty() {
            left = self.wrap(left);
        }
        if right.shaped() || !right.having.is_empty() {
            right = self.wrap(right);
        }
        if join.join_type == JoinType::Full {
            if !left.wheres.is_empty() {
                left = self.wrap(left);
            }
            if !right.wheres.is_empty() {
                right = self.wrap(right);
            }
        }
        let mut on = Vec::new();
        for (l, r) in &join.on {
            let l = self.expr(l, &left.items, join.left.schema())?;
            let r = self.expr(r, &right.items, join.right.schema())?;
            on.push(format!("{l} = {r}"));
        }
        let mut items = left.items.clone();
        items.extend(right.items.iter().cloned());
        if let Some(filter) = &join.filter {
            on.push(self.expr(filter, &items, &join.schema)?);
        }
        let mut wheres = Vec::new();
        match join.join_type {
            JoinType::Inner => {
                wheres.append(&mut left.wheres);
                wheres.append(&mut right.wheres);
            }
            JoinType::Left => {
                wheres.append(&mut left.wheres);
                on.append(&mut right.wheres);
            }
            JoinType::Right => {
                on.append(&mut left.wheres);
                wheres.append(&mut right.wheres);
            }
            _ => {}
        }
        if on.is_empty() {
            on.push("TRUE".into());
        }
        let right_from = if right.from_is_join {
            format!("({})", right.from)
        } else {
            right.from
        };
        Ok(Select {
            items,
            from: format!(
                "{} {keyword} {right_from} ON {}",
                left.from,
                on.join(" AND ")
            ),
            from_is_join: true,
            wheres,
            ..Default::default()
        })
    }

    fn sort_key(&mut self, e: &SortExpr, scope: &[String], schema: &DFSchema) -> R<Vec<String>> {
        let text = self.ordered(&e.expr, scope, schema)?;
        let dir = if e.asc { "ASC" } else { "DESC" };
        Ok(match self.dialect {
            Dialect::MySql => {
                // MySQL sorts NULL first ascending and has no NULLS FIRST/LAST.
                let nulls = if e.nulls_first { "DESC" } else { "ASC" };
                let plain = self.expr(&e.expr, scope, schema)?;
                vec![
                    format!("({plain} IS NULL) {nulls}"),
                    format!("{text} {dir}"),
                ]
            }
            _ => {
                let nulls = if e.nulls_first { "FIRST" } else { "LAST" };
                vec![format!("{text} {dir} NULLS {nulls}")]
            }
        })
    }

    /// `e` where it is compared for order: text in byte order.
    fn ordered(&mut self, e: &Expr, scope: &[String], schema: &DFSchema) -> R<String> {
        let text = self.expr(e, scope, schema)?;
        if !is_text(&self.type_of(e, schema)?) {
            return Ok(text);
        }
        // MySQL text columns are read as bytes, literals compare as bytes
        // against them; computed text is not bytes.
        if self.dialect == Dialect::MySql && !is_column_like(e) {
            return cannot("ordering computed text on MySQL");
        }
        ordered_sql(self.dialect, text, &DataType::Utf8)
            .map_or_else(|| cannot("ordering text on this source"), Ok)
    }

    fn type_of(&self, e: &Expr, schema: &DFSchema) -> R<DataType> {
        e.get_type(schema).map_err(Failure::Fatal)
    }

    fn aggregate(
        &mut self,
        e: &Expr,
        scope: &[String],
        schema: &DFSchema,
        out: &DataType,
    ) -> R<String> {
        let e = match e {
            Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
            e => e,
        };
        let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
            return cannot("a non-aggregate in an aggregate list");
        };
        if params.filter.is_some() || !params.order_by.is_empty() || params.null_treatment.is_some()
        {
            return cannot("aggregate FILTER or ORDER BY");
        }
        let name = func.name().to_ascii_lowercase();
        let distinct = if params.distinct { "DISTINCT " } else { "" };
        if name == "count" {
            return match params.args.as_slice() {
                [Expr::Literal(v, _)] if !v.is_null() && !params.distinct => Ok("COUNT(*)".into()),
                [arg] => {
                    let a = self.expr(arg, scope, schema)?;
                    Ok(format!("COUNT({distinct}{a})"))
                }
                _ => cannot("count of several arguments"),
            };
        }
        let [arg] = params.args.as_slice() else {
            return cannot(format!("{name} with several arguments"));
        };
        let input = self.type_of(arg, schema)?;
        match name.as_str() {
            "sum" if !is_text(&input) => {
                let a = self.expr(arg, scope, schema)?;
                Ok(format!("SUM({distinct}{a})"))
            }
            "min" | "max" => {
                let a = self.ordered(arg, scope, schema)?;
                Ok(format!("{}({distinct}{a})", name.to_ascii_uppercase()))
            }
            "avg" if params.distinct => cannot("avg(DISTINCT)"),
            "avg" => match (&input, out) {
                (DataType::Decimal128(..), DataType::Decimal128(_, scale))
                    if self.dialect == Dialect::Postgres && *scale >= 0 =>
                {
                    // Weir truncates the quotient at the result's scale.
                    let a = self.expr(arg, scope, schema)?;
                    let unit = format!("1{}", "0".repeat(*scale as usize));
                    Ok(format!(
                        "(div(SUM({a}) * {unit}, NULLIF(COUNT({a}), 0)) / {unit})"
                    ))
                }
                (DataType::Decimal128(..) | DataType::Decimal256(..), _) => {
                    cannot("decimal avg on this source")
                }
                (t, DataType::Float64) if t.is_numeric() => {
                    let a = self.expr(arg, scope, schema)?;
                    Ok(match self.dialect {
                        Dialect::MySql => format!("AVG(CAST({a} AS DOUBLE))"),
                        _ => format!("AVG(CAST({a} AS double precision))"),
                    })
                }
                _ => cannot("this avg"),
            },
            other => cannot(format!("aggregate {other}")),
        }
    }

    fn expr(&mut self, e: &Expr, scope: &[String], schema: &DFSchema) -> R<String> {
        match e {
            Expr::Alias(Alias { expr, .. }) => self.expr(expr, scope, schema),
            Expr::Column(c) => {
                let i = schema.index_of_column(c).map_err(Failure::Fatal)?;
                match scope.get(i) {
                    Some(s) if s.starts_with('\0') => Err(self.poisoned(s)),
                    Some(s) => Ok(s.clone()),
                    None => Err(Failure::Fatal(DataFusionError::Internal(format!(
                        "column {c} is not in the scope of its plan"
                    )))),
                }
            }
            Expr::Literal(v, _) => self.literal(v),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                self.binary(left, *op, right, scope, schema)
            }
            Expr::Not(inner) => Ok(format!("(NOT {})", self.expr(inner, scope, schema)?)),
            Expr::Negative(inner) => Ok(format!("(- {})", self.expr(inner, scope, schema)?)),
            Expr::IsNull(inner) => Ok(format!("({} IS NULL)", self.expr(inner, scope, schema)?)),
            Expr::IsNotNull(inner) => Ok(format!(
                "({} IS NOT NULL)",
                self.expr(inner, scope, schema)?
            )),
            Expr::IsTrue(i) => Ok(format!("({} IS TRUE)", self.expr(i, scope, schema)?)),
            Expr::IsFalse(i) => Ok(format!("({} IS FALSE)", self.expr(i, scope, schema)?)),
            Expr::IsNotTrue(i) => Ok(format!("({} IS NOT TRUE)", self.expr(i, scope, schema)?)),
            Expr::IsNotFalse(i) => Ok(format!("({} IS NOT FALSE)", self.expr(i, scope, schema)?)),
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) => {
                let ge = self.binary(expr, Operator::GtEq, low, scope, schema)?;
                let le = self.binary(expr, Operator::LtEq, high, scope, schema)?;
                let both = format!("({ge} AND {le})");
                Ok(if *negated {
                    format!("(NOT {both})")
                } else {
                    both
                })
            }
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) => {
                if list.is_empty() {
                    return cannot("an empty IN list");
                }
                let x = self.expr(expr, scope, schema)?;
                let items = list
                    .iter()
                    .map(|i| self.expr(i, scope, schema))
                    .collect::<R<Vec<_>>>()?;
                let not = if *negated { "NOT " } else { "" };
                Ok(format!("({x} {not}IN ({}))", items.join(", ")))
            }
            Expr::Like(like) => self.like(like, scope, schema),
            Expr::Case(case) => {
                let mut sql = String::from("(CASE");
                if let Some(operand) = &case.expr {
                    if is_text(&self.type_of(operand, schema)?) && self.dialect == Dialect::MySql {
                        return cannot("CASE on text in MySQL");
                    }
                    let _ = write!(sql, " {}", self.expr(operand, scope, schema)?);
                }
                for (when, then) in &case.when_then_expr {
                    let w = self.expr(when, scope, schema)?;
                    let t = self.expr(then, scope, schema)?;
                    let _ = write!(sql, " WHEN {w} THEN {t}");
                }
                if let Some(e) = &case.else_expr {
                    let _ = write!(sql, " ELSE {}", self.expr(e, scope, schema)?);
                }
                sql.push_str(" END)");
                Ok(sql)
            }
            Expr::Cast(c) => {
                let from = self.type_of(&c.expr, schema)?;
                let inner = self.expr(&c.expr, scope, schema)?;
                self.cast(inner, &from, &c.data_type)
            }
            Expr::ScalarFunction(f) => self.function(f, scope, schema),
            other => cannot(format!("expression {}", other.variant_name())),
        }
    }

    fn binary(
        &mut self,
        left: &Expr,
        op: Operator,
        right: &Expr,
        scope: &[String],
        schema: &DFSchema,
    ) -> R<String> {
        let lt = self.type_of(left, schema)?;
        let rt = self.type_of(right, schema)?;
        let Some(sym) = operator_sql(op) else {
            return cannot(format!("operator {op}"));
        };
        let ordering = matches!(
            op,
            Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
        );
        let (l, r) = if ordering {
            (
                self.ordered(left, scope, schema)?,
                self.ordered(right, scope, schema)?,
            )
        } else {
            (
                self.expr(left, scope, schema)?,
                self.expr(right, scope, schema)?,
            )
        };
        let arithmetic = matches!(
            op,
            Operator::Plus
                | Operator::Minus
                | Operator::Multiply
                | Operator::Divide
                | Operator::Modulo
        );
        if arithmetic {
            let temporal = |t: &DataType| t.is_temporal() || matches!(t, DataType::Interval(_));
            if temporal(&lt) || temporal(&rt) {
                return self.date_arithmetic(&l, op, &r, &lt, &rt);
            }
            if !lt.is_numeric() || !rt.is_numeric() {
                return cannot("arithmetic on these types");
            }
            let decimal =
                |t: &DataType| matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..));
            match op {
                Operator::Divide | Operator::Modulo if decimal(&lt) || decimal(&rt) => {
                    return cannot("decimal division");
                }
                Operator::Divide if lt.is_integer() && rt.is_integer() => {
                    return Ok(match self.dialect {
                        Dialect::MySql => format!("({l} DIV {r})"),
                        _ => format!("({l} / {r})"),
                    });
                }
                Operator::Modulo if !(lt.is_integer() && rt.is_integer()) => {
                    return cannot("modulo of non-integers");
                }
                _ => {}
            }
        }
        match (op, self.dialect) {
            (Operator::StringConcat, Dialect::MySql) => Ok(format!("CONCAT({l}, {r})")),
            (Operator::IsDistinctFrom, Dialect::MySql) => Ok(format!("(NOT ({l} <=> {r}))")),
            (Operator::IsNotDistinctFrom, Dialect::MySql) => Ok(format!("({l} <=> {r})")),
            _ => Ok(format!("({l} {sym} {r})")),
        }
    }

    fn date_arithmetic(
        &self,
        l: &str,
        op: Operator,
        r: &str,
        lt: &DataType,
        rt: &DataType,
    ) -> R<String> {
        // date/timestamp ± interval only; the interval must be a literal,
        // rendered by `literal` as the dialect's interval text.
        let is_time = |t: &DataType| matches!(t, DataType::Date32 | DataType::Timestamp(_, None));
        match (op, lt, rt) {
            (Operator::Plus | Operator::Minus, t, DataType::Interval(_)) if is_time(t) => {
                let sym = if op == Operator::Plus { "+" } else { "-" };
                Ok(format!("({l} {sym} {r})"))
            }
            _ => cannot("this date arithmetic"),
        }
    }

    fn like(&mut self, like: &Like, scope: &[String], schema: &DFSchema) -> R<String> {
        let Expr::Literal(pattern, _) = like.pattern.as_ref() else {
            return cannot("LIKE with a computed pattern");
        };
        let Some(Some(pattern)) = pattern.try_as_str() else {
            return cannot("LIKE with a non-text pattern");
        };
        if like.escape_char.is_some_and(|c| c != '\\') {
            return cannot("LIKE with an ESCAPE character");
        }
        let x = self.expr(&like.expr, scope, schema)?;
        let not = if like.negated { "NOT " } else { "" };
        let p = self.string(pattern)?;
        match (self.dialect, like.case_insensitive) {
            (Dialect::Postgres | Dialect::Redshift, false) => Ok(format!("({x} {not}LIKE {p})")),
            (Dialect::Postgres, true) => Ok(format!("({x} {not}ILIKE {p})")),
            // Bytes: `%` matches as in Weir; `_` would match one byte, not
            // one character.
            (Dialect::MySql, false) if !pattern.contains('_') && is_column_like(&like.expr) => {
                Ok(format!("({x} {not}LIKE {p})"))
            }
            _ => cannot("this LIKE on this source"),
        }
    }

    fn string(&self, s: &str) -> R<String> {
        self.dialect
            .string(s)
            .map_err(|e| Failure::Cannot(e.to_string()))
    }

    fn literal(&self, v: &ScalarValue) -> R<String> {
        use ScalarValue as S;
        fn signed(n: impl std::fmt::Display + PartialOrd + Default) -> String {
            if n < Default::default() {
                format!("({n})")
            } else {
                n.to_string()
            }
        }
        if v.is_null() {
            return Ok("NULL".into());
        }
        Ok(match v {
            S::Boolean(Some(b)) => if *b { "TRUE" } else { "FALSE" }.into(),
            S::Int8(Some(n)) => signed(*n),
            S::Int16(Some(n)) => signed(*n),
            S::Int32(Some(n)) => signed(*n),
            S::Int64(Some(n)) => signed(*n),
            S::UInt8(Some(n)) => n.to_string(),
            S::UInt16(Some(n)) => n.to_string(),
            S::UInt32(Some(n)) => n.to_string(),
            S::UInt64(Some(n)) => n.to_string(),
            S::Float64(Some(f)) if f.is_finite() => match self.dialect {
                Dialect::MySql => format!("({f:e})"),
                _ => format!("CAST('{f:e}' AS double precision)"),
            },
            S::Float32(Some(f)) if f.is_finite() => match self.dialect {
                Dialect::MySql => format!("({:e})", *f as f64),
                _ => format!("CAST('{f:e}' AS real)"),
            },
            S::Decimal128(Some(n), _, s) => {
                let text = decimal_text(*n, *s);
                if *n < 0 {
                    format!("({text})")
                } else {
                    text
                }
            }
            S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => self.string(s)?,
            S::Date32(Some(_)) => format!("DATE '{v}'"),
            S::TimestampMicrosecond(Some(_), None)
            | S::TimestampMillisecond(Some(_), None)
            | S::TimestampSecond(Some(_), None)
            | S::TimestampNanosecond(Some(_), None) => {
                let text = v.to_string().replace('T', " ");
                if !text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b" -:.".contains(&b))
                {
                    return cannot("this timestamp literal");
                }
                format!("TIMESTAMP '{text}'")
            }
            S::IntervalMonthDayNano(Some(i)) => {
                let (m, d, ns) = (i.months, i.days, i.nanoseconds);
                match self.dialect {
                    Dialect::MySql => match (m, d, ns) {
                        (0, d, 0) => format!("INTERVAL {} DAY", signed(d)),
                        (m, 0, 0) => format!("INTERVAL {} MONTH", signed(m)),
                        (0, 0, ns) if ns % 1000 == 0 => {
                            format!("INTERVAL {} MICROSECOND", signed(ns / 1000))
                        }
                        _ => return cannot("a mixed interval on MySQL"),
                    },
                    _ => {
                        if ns % 1000 != 0 {
                            return cannot("nanosecond intervals");
                        }
                        format!(
                            "CAST('{m} months {d} days {} microseconds' AS interval)",
                            ns / 1000
                        )
                    }
                }
            }
            S::IntervalYearMonth(Some(m)) => match self.dialect {
                Dialect::MySql => format!("INTERVAL {} MONTH", signed(*m)),
                _ => format!("CAST('{m} months' AS interval)"),
            },
            S::IntervalDayTime(Some(i)) => match self.dialect {
                Dialect::MySql if i.milliseconds == 0 => format!("INTERVAL {} DAY", signed(i.days)),
                Dialect::MySql => return cannot("a mixed interval on MySQL"),
                _ => format!(
                    "CAST('{} days {} milliseconds' AS interval)",
                    i.days, i.milliseconds
                ),
            },
            other => return cannot(format!("a literal of type {}", other.data_type())),
        })
    }

    fn cast(&self, inner: String, from: &DataType, to: &DataType) -> R<String> {
        use DataType as D;
        if from == to {
            return Ok(inner);
        }
        let width = |t: &D| match t {
            D::Int8 => 1,
            D::Int16 => 2,
            D::Int32 => 4,
            D::Int64 => 8,
            _ => 0,
        };
        let pg = |name: &str| Ok(format!("CAST({inner} AS {name})"));
        let mysql = self.dialect == Dialect::MySql;
        match (from, to) {
            (f, t) if width(f) > 0 && width(t) >= width(f) => {
                if mysql {
                    // MySQL computes integers in 64 bits anyway.
                    return Ok(inner);
                }
                pg(match t {
                    D::Int16 => "smallint",
                    D::Int32 => "integer",
                    _ => "bigint",
                })
            }
            (f, D::Float64) if f.is_integer() || matches!(f, D::Float32 | D::Decimal128(..)) => {
                if mysql {
                    Ok(format!("CAST({inner} AS DOUBLE)"))
                } else {
                    pg("double precision")
                }
            }
            (f, D::Decimal128(p, s)) if f.is_integer() || matches!(f, D::Decimal128(..)) => {
                if let D::Decimal128(fp, fs) = f {
                    // Only casts that keep every value exactly.
                    if s < fs || (*p as i16 - *s as i16) < (*fp as i16 - *fs as i16) {
                        return cannot("a narrowing decimal cast");
                    }
                }
                if mysql {
                    Ok(format!("CAST({inner} AS DECIMAL({p}, {s}))"))
                } else {
                    pg(&format!("numeric({p}, {s})"))
                }
            }
            (D::Date32, D::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond, None)) => {
                if mysql {
                    Ok(format!("CAST({inner} AS DATETIME)"))
                } else {
                    pg("timestamp")
                }
            }
            (f, t) if is_text(f) && is_text(t) => Ok(inner),
            _ => cannot(format!("a cast from {from} to {to}")),
        }
    }

    fn function(&mut self, f: &ScalarFunction, scope: &[String], schema: &DFSchema) -> R<String> {
        let name = f.func.name().to_ascii_lowercase();
        let args = |me: &mut Self| {
            f.args
                .iter()
                .map(|a| me.expr(a, scope, schema))
                .collect::<R<Vec<_>>>()
        };
        let pg = matches!(self.dialect, Dialect::Postgres | Dialect::Redshift);
        match name.as_str() {
            "coalesce" | "nullif" => Ok(format!(
                "{}({})",
                name.to_uppercase(),
                args(self)?.join(", ")
            )),
            "abs" | "ceil" | "floor" => {
                let a = args(self)?;
                Ok(format!("{}({})", name.to_uppercase(), a.join(", ")))
            }
            "lower" | "upper" | "char_length" | "character_length" | "length" if pg => {
                let a = args(self)?;
                let fname = if name == "lower" || name == "upper" {
                    name.as_str()
                } else {
                    "char_length"
                };
                Ok(format!("{fname}({})", a.join(", ")))
            }
            "date_part" | "date_trunc" => {
                let [Expr::Literal(unit, _), arg] = f.args.as_slice() else {
                    return cannot(format!("{name} with a computed unit"));
                };
                let Some(Some(unit)) = unit.try_as_str() else {
                    return cannot(format!("{name} unit"));
                };
                let unit = unit.to_ascii_lowercase();
                if !["year", "quarter", "month", "week", "day", "hour", "minute"]
                    .contains(&unit.as_str())
                {
                    return cannot(format!("{name} by {unit}"));
                }
                let a = self.expr(arg, scope, schema)?;
                match (name.as_str(), self.dialect) {
                    ("date_part", _) if unit != "week" => {
                        Ok(format!("EXTRACT({} FROM {a})", unit.to_uppercase()))
                    }
                    ("date_trunc", Dialect::Postgres) => {
                        if !matches!(self.type_of(arg, schema)?, DataType::Timestamp(_, None)) {
                            return cannot("date_trunc of this type");
                        }
                        Ok(format!("date_trunc('{unit}', {a})"))
                    }
                    _ => cannot(format!("{name} on this source")),
                }
            }
            other => cannot(format!("function {other}")),
        }
    }
}

/// The SQL spelling of the operators Weir sends (PostgreSQL's; the MySQL
/// differences are handled where they are rendered).
pub(crate) fn operator_sql(op: Operator) -> Option<&'static str> {
    Some(match op {
        Operator::Eq => "=",
        Operator::NotEq => "<>",
        Operator::Lt => "<",
        Operator::LtEq => "<=",
        Operator::Gt => ">",
        Operator::GtEq => ">=",
        Operator::And => "AND",
        Operator::Or => "OR",
        Operator::Plus => "+",
        Operator::Minus => "-",
        Operator::Multiply => "*",
        Operator::Divide => "/",
        Operator::Modulo => "%",
        Operator::IsDistinctFrom => "IS DISTINCT FROM",
        Operator::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
        Operator::StringConcat => "||",
        _ => return None,
    })
}

/// For renderers that only write expressions: no table is this source's.
struct NoTables;

impl ScanLookup for NoTables {
    fn table(&self, _: &datafusion::logical_expr::TableScan) -> Option<std::sync::Arc<TableMeta>> {
        None
    }
}

/// A value as a SQL literal of `dialect`, if it can be written.
pub(crate) fn literal_sql(dialect: Dialect, value: &ScalarValue) -> Option<String> {
    Renderer::new(dialect, "", &NoTables).literal(value).ok()
}

/// `sql` (of type `t`) where it is compared for order, if the dialect
/// orders it as Weir does.
pub(crate) fn ordered_sql(dialect: Dialect, sql: String, t: &DataType) -> Option<String> {
    if !is_text(t) {
        return Some(sql);
    }
    match dialect {
        Dialect::Postgres => Some(format!("({sql}) COLLATE \"C\"")),
        // Output columns of MySQL text are its bytes.
        Dialect::MySql => Some(sql),
        Dialect::Redshift => None,
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// A column or a literal (whose MySQL form compares as bytes against a
/// column read as bytes), possibly behind a cast between text types.
fn is_column_like(e: &Expr) -> bool {
    match e {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::Alias(a) => is_column_like(&a.expr),
        Expr::Cast(c) => is_text(&c.data_type) && is_column_like(&c.expr),
        _ => false,
    }
}

/// `12345` at scale 2 → `123.45`.
pub(crate) fn decimal_text(n: i128, scale: i8) -> String {
    let digits = n.unsigned_abs().to_string();
    let sign = if n < 0 { "-" } else { "" };
    if scale <= 0 {
        return format!("{sign}{digits}{}", "0".repeat((-scale) as usize));
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{col, lit, LogicalPlanBuilder, LogicalTableSource};

    use super::super::types::{map_type, RemoteColumn, TypeInfo};
    use super::super::SourceKind;
    use super::*;

    struct Fixed(Arc<TableMeta>);

    impl ScanLookup for Fixed {
        fn table(&self, _: &datafusion::logical_expr::TableScan) -> Option<Arc<TableMeta>> {
            Some(self.0.clone())
        }
    }

    /// A table `s.t` of `kind` with columns (name, type name).
    fn table(kind: SourceKind, columns: &[(&str, &str)]) -> Arc<TableMeta> {
        let columns: Vec<RemoteColumn> = columns
            .iter()
            .map(|(name, ty)| RemoteColumn {
                name: (*name).into(),
                source_type: (*ty).into(),
                nullable: true,
                mapping: map_type(
                    kind,
                    &TypeInfo {
                        name: (*ty).into(),
                        display: (*ty).into(),
                        ..Default::default()
                    },
                    10,
                ),
            })
            .collect();
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(RemoteColumn::field)
                .collect::<Vec<Field>>(),
        ));
        Arc::new(TableMeta {
            schema: "s".into(),
            name: "t".into(),
            is_view: false,
            columns,
            estimated_rows: None,
            pages: None,
            integer_key: None,
            primary: Vec::new(),
            arrow_schema: schema,
        })
    }

    fn render(dialect: Dialect, meta: &Arc<TableMeta>, plan: LogicalPlanBuilder) -> R<Rendered> {
        let plan = plan.build().unwrap();
        Renderer::new(dialect, "src", &Fixed(meta.clone())).query(&plan)
    }

    fn scan(meta: &Arc<TableMeta>) -> LogicalPlanBuilder {
        let source = Arc::new(LogicalTableSource::new(meta.arrow_schema.clone()));
        LogicalPlanBuilder::scan("t", source, None).unwrap()
    }

    #[test]
    fn redshift_reads_super_and_geometry_through_functions_and_orders_no_text() {
        let meta = table(
            SourceKind::Redshift,
            &[
                ("doc", "super"),
                ("shape", "geometry"),
                ("name", "character varying"),
            ],
        );
        let sql = render(Dialect::Redshift, &meta, scan(&meta)).unwrap().sql;
        assert_eq!(
            sql,
            "SELECT JSON_SERIALIZE(t0.\"doc\") AS c0, ST_AsEWKT(t0.\"shape\") AS c1, \
             t0.\"name\" AS c2 FROM \"s\".\"t\" AS t0"
        );
        let sorted = scan(&meta)
            .sort(vec![col("name").sort(true, false)])
            .unwrap();
        assert!(matches!(
            render(Dialect::Redshift, &meta, sorted),
            Err(Failure::Cannot(_))
        ));
        // Equality on text is the same everywhere; backslashes doubled.
        let filtered = scan(&meta).filter(col("name").eq(lit("a\\'b"))).unwrap();
        let sql = render(Dialect::Redshift, &meta, filtered).unwrap().sql;
        assert!(sql.ends_with("WHERE (t0.\"name\" = 'a\\\\''b')"), "{sql}");
    }

    #[test]
    fn mysql_spells_out_null_ordering_and_reads_text_as_bytes() {
        let meta = table(SourceKind::Mysql, &[("id", "int"), ("sku", "varchar")]);
        let plan = scan(&meta)
            .sort_with_limit(vec![col("sku").sort(true, false)], Some(3))
            .unwrap();
        let sql = render(Dialect::MySql, &meta, plan).unwrap().sql;
        assert_eq!(
            sql,
            "SELECT t0.`id` AS c0, CAST(CONVERT(t0.`sku` USING utf8mb4) AS BINARY) AS c1 \
             FROM `s`.`t` AS t0 ORDER BY (CAST(CONVERT(t0.`sku` USING utf8mb4) AS BINARY) IS NULL) ASC, \
             CAST(CONVERT(t0.`sku` USING utf8mb4) AS BINARY) ASC LIMIT 3"
        );
        // `_` matches one byte of MySQL's bytes but one character in Weir.
        let like = scan(&meta).filter(col("sku").like(lit("a_c"))).unwrap();
        assert!(matches!(
            render(Dialect::MySql, &meta, like),
            Err(Failure::Cannot(_))
        ));
    }

    #[test]
    fn unreadable_columns_fail_only_when_read() {
        let meta = table(SourceKind::Postgres, &[("id", "int4"), ("spot", "point")]);
        let ids = scan(&meta).project(vec![col("id")]).unwrap();
        assert!(render(Dialect::Postgres, &meta, ids).is_ok());
        match render(Dialect::Postgres, &meta, scan(&meta)) {
            Err(Failure::Fatal(e)) => {
                let m = e.to_string();
                assert!(m.contains("src.s.t.spot") && m.contains("point"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decimal_literals() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(7, -2), "700");
    }
}
