//! SQL text → statements, each routed to the parser that knows it by its
//! leading tokens, never by substrings of the text (a string literal or a
//! comment cannot change the route).
//!
//! - `CREATE [OR REPLACE] [UNBOUNDED] EXTERNAL TABLE` goes to DataFusion's
//!   parser, which knows `STORED AS`, `LOCATION` and `OPTIONS`.
//! - Client introspection (identifiers `pg_*` or `information_schema`,
//!   `::regclass` casts) goes through `datafusion-pg-catalog`'s
//!   compatibility rewriter.
//! - Everything else goes to sqlparser's PostgreSQL dialect, with the
//!   nesting limit of [`crate::statements::depth`] and `PARTITIONED BY` of
//!   `CREATE TABLE` cut out first ([`crate::statements::partition`]).
//!
//! [`lists_catalog`] says, from a parsed statement's table references,
//! whether it reads the catalog's listings (so the lake's are re-read).

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr, ObjectName, Statement, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::engine::Engine;
use crate::error::{parse_error, Result, WeirError};
use crate::statements::access::AccessStatement;

/// One parsed statement (short-lived: the size of the AST variant is no
/// concern).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    /// A statement in sqlparser's or DataFusion's AST.
    Sql {
        /// The statement.
        stmt: DfStatement,
        /// `PARTITIONED BY` of a `CREATE TABLE`.
        partitions: Vec<weir_connectors::lake::ddl::PartitionField>,
    },
    /// Roles, users and privileges (Weir's own grammar).
    Access(Box<AccessStatement>),
}

impl From<Statement> for Parsed {
    fn from(stmt: Statement) -> Self {
        Self::Sql {
            stmt: DfStatement::Statement(Box::new(stmt)),
            partitions: Vec::new(),
        }
    }
}

/// Which parser a SQL text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// DataFusion's parser (`CREATE EXTERNAL TABLE`).
    DataFusion,
    /// The pg_catalog compatibility rewriter, falling back to [`Route::Standard`].
    Compat,
    /// sqlparser's PostgreSQL dialect.
    Standard,
    /// Roles and privileges ([`crate::statements::access`]): the text is
    /// split into statements, each parsed by its own route.
    Access,
}

/// The route of a SQL text, from its tokens. Text that does not tokenize
/// (an unterminated string) takes the standard route, whose parser reports it.
pub(crate) fn route(sql: &str) -> Route {
    // Most statements contain none of the words that could route them
    // elsewhere: those skip the tokenizer (the parser reads them next).
    let lower = sql.to_ascii_lowercase();
    if ![
        "external",
        "pg_",
        "information_schema",
        "regclass",
        "role",
        "user",
        "grant",
        "revoke",
        "deny",
        "policy",
        "mask",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return Route::Standard;
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Route::Standard;
    };
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut compat = false;
    for statement in tokens.split(|t| matches!(t, Token::SemiColon)) {
        if crate::statements::access::is_access(statement) {
            return Route::Access;
        }
        if creates_external_table(statement) {
            return Route::DataFusion;
        }
        compat |= statement.iter().enumerate().any(|(i, t)| match t {
            Token::Word(w) => {
                let v = w.value.to_ascii_lowercase();
                v.starts_with("pg_")
                    || v == "information_schema"
                    || (v == "regclass" && i > 0 && matches!(statement[i - 1], Token::DoubleColon))
            }
            _ => false,
        });
    }
    if compat {
        Route::Compat
    } else {
        Route::Standard
    }
}

/// `CREATE [OR REPLACE] [UNBOUNDED] EXTERNAL …`
fn creates_external_table(tokens: &[&Token]) -> bool {
    let keyword = |i: usize| match tokens.get(i) {
        Some(Token::Word(w)) => w.keyword,
        _ => Keyword::NoKeyword,
    };
    if keyword(0) != Keyword::CREATE {
        return false;
    }
    let mut i = 1;
    if keyword(i) == Keyword::OR && keyword(i + 1) == Keyword::REPLACE {
        i += 2;
    }
    if keyword(i) == Keyword::UNBOUNDED {
        i += 1;
    }
    keyword(i) == Keyword::EXTERNAL
}

/// Split SQL text into statements (see the module docs for the routes).
pub(crate) fn parse(engine: &Engine, sql: &str) -> Result<Vec<Parsed>> {
    match route(sql) {
        Route::Access => return parse_each(engine, sql),
        Route::DataFusion => return parse_datafusion(sql),
        Route::Compat => {
            // The rewriter walks the statement: its depth is checked first
            // (other parse errors are the rewriter's to judge).
            if let Err(e @ WeirError::TooDeep { .. }) = crate::statements::depth::parse(sql) {
                return Err(e);
            }
            if let Ok(stmts) = engine.compat().parse(sql) {
                return Ok(stmts.into_iter().map(Parsed::from).collect());
            }
        }
        Route::Standard => {}
    }
    let (text, partitions) = match crate::statements::partition::split(sql)? {
        Some((rest, fields)) => (rest, fields),
        None => (sql.to_owned(), Vec::new()),
    };
    let mut out: Vec<Parsed> = crate::statements::depth::parse(&text)?
        .into_iter()
        .map(|s| Parsed::from(engine.compat().rewrite(s)))
        .collect();
    for (index, fields) in partitions {
        if let Some(Parsed::Sql { partitions, .. }) = out.get_mut(index) {
            *partitions = fields;
        }
    }
    Ok(out)
}

/// Text holding an access statement: each statement parsed on its own
/// route (access statements by Weir's grammar, the rest as usual).
fn parse_each(engine: &Engine, sql: &str) -> Result<Vec<Parsed>> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| WeirError::Syntax {
            message: format!("syntax error: {e}"),
            position: None,
        })?;
    // Byte offsets of the semicolons that end statements.
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |line: u64, column: u64| -> usize {
        let start = usize::try_from(line)
            .ok()
            .and_then(|l| line_starts.get(l.saturating_sub(1)))
            .copied()
            .unwrap_or(sql.len());
        let column = usize::try_from(column).unwrap_or(1).saturating_sub(1);
        sql[start..]
            .char_indices()
            .nth(column)
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    };
    let mut out = Vec::new();
    let mut begin = 0;
    let mut words: Vec<&Token> = Vec::new();
    for token in tokens
        .iter()
        .chain(std::iter::once(&TokenWithSpan::wrap(Token::SemiColon)))
    {
        if token.token != Token::SemiColon {
            if !matches!(token.token, Token::Whitespace(_)) {
                words.push(&token.token);
            }
            continue;
        }
        let end = if token.span.start.line == 0 {
            sql.len()
        } else {
            offset(token.span.start.line, token.span.start.column)
        };
        let text = &sql[begin.min(end)..end];
        begin = (end + 1).min(sql.len());
        if words.is_empty() {
            continue;
        }
        if crate::statements::access::is_access(&words) {
            out.push(Parsed::Access(Box::new(crate::statements::access::parse(
                text,
            )?)));
        } else {
            out.extend(parse(engine, text)?);
        }
        words.clear();
    }
    Ok(out)
}

fn parse_datafusion(sql: &str) -> Result<Vec<Parsed>> {
    let stmts = DFParserBuilder::new(sql)
        .with_dialect(&PostgreSqlDialect {})
        .with_recursion_limit(crate::statements::depth::MAX_NESTING)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| match e {
            datafusion::error::DataFusionError::SQL(p, _) => parse_error(&p, sql),
            other => WeirError::Syntax {
                message: other.to_string(),
                position: None,
            },
        })?;
    Ok(stmts
        .into_iter()
        .map(|s| Parsed::Sql {
            stmt: s,
            partitions: Vec::new(),
        })
        .collect())
}

/// Whether a statement reads catalog listings (client introspection,
/// `SHOW TABLES`), which come from the catalog database: it names a table of
/// `pg_catalog` or `information_schema` (or an unqualified `pg_*` one, found
/// through the search path), casts to `regclass`, or is a `SHOW` of tables,
/// columns, schemas or databases.
pub(crate) fn lists_catalog(stmt: &Statement) -> bool {
    if matches!(
        stmt,
        Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowObjects(_)
    ) {
        return true;
    }
    struct Listings;
    impl Visitor for Listings {
        type Break = ();
        fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
                .collect();
            let listing = match parts.as_slice() {
                [.., schema, _] => weir_policies::objects::is_system_schema(schema),
                [table] => table.starts_with("pg_"),
                [] => false,
            };
            if listing {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Cast {
                    data_type: SqlType::Regclass,
                    ..
                } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    stmt.visit(&mut Listings).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_route_by_their_tokens_not_their_text() {
        let cases = [
            (
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'x'",
                Route::DataFusion,
            ),
            (
                "create unbounded external table t stored as csv location 'x'",
                Route::DataFusion,
            ),
            (
                "CREATE OR REPLACE EXTERNAL TABLE t STORED AS CSV LOCATION 'x'",
                Route::DataFusion,
            ),
            (
                "/* lead */ CREATE -- c\n EXTERNAL TABLE t STORED AS CSV LOCATION 'x'",
                Route::DataFusion,
            ),
            (
                "SELECT 1; CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'x'",
                Route::DataFusion,
            ),
            ("SELECT 'create external table'", Route::Standard),
            (
                "SELECT * FROM t WHERE note = 'external table'",
                Route::Standard,
            ),
            ("CREATE TABLE external_table (a int)", Route::Standard),
            ("SELECT * FROM pg_catalog.pg_class", Route::Compat),
            ("select relname from PG_CLASS", Route::Compat),
            ("SELECT * FROM information_schema.tables", Route::Compat),
            ("SELECT 't'::regclass", Route::Compat),
            ("SELECT * FROM t WHERE note = 'pg_class'", Route::Standard),
            (
                "SELECT * FROM t WHERE note = 'show me' -- pg_class",
                Route::Standard,
            ),
            ("SELECT regclass FROM t", Route::Standard),
            ("GRANT SELECT ON t TO analyst", Route::Access),
            ("SELECT 1; create role r", Route::Access),
            ("SELECT 'grant select on t to r'", Route::Standard),
            ("SELECT * FROM users", Route::Standard),
            ("SELECT 'unterminated", Route::Standard),
        ];
        for (sql, want) in cases {
            assert_eq!(route(sql), want, "{sql}");
        }
    }

    fn lists(sql: &str) -> bool {
        let stmts = crate::statements::depth::parse(sql).unwrap();
        lists_catalog(&stmts[0])
    }

    #[test]
    fn only_statements_naming_catalog_tables_refresh_the_listings() {
        assert!(!lists("SELECT * FROM t WHERE note = 'show me'"));
        assert!(!lists(
            "SELECT 'pg_class', 'information_schema' FROM lake.public.t"
        ));
        assert!(
            !lists("SELECT * FROM pg_x.t"),
            "a schema named pg_x is not the catalog"
        );
        assert!(lists("SELECT * FROM pg_catalog.pg_class"));
        assert!(lists(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON true"
        ));
        assert!(lists("SELECT * FROM lake.information_schema.tables"));
        assert!(lists(
            "SELECT * FROM t WHERE x IN (SELECT 1 FROM pg_tables)"
        ));
        assert!(lists("SELECT 'public.t'::regclass"));
        assert!(lists("SHOW TABLES"));
        assert!(!lists("SHOW search_path"));
    }
}
