//! `datafusion-pg-catalog`'s compatibility rewrites, as Weir uses them.
//!
//! Client introspection (psql's `\d`, drivers' metadata queries) goes
//! through the library's whole parser: its token blacklist and every rule.
//! Users' own statements get only the rules that keep a statement's
//! meaning. `RemoveSubqueryFromProjection` does not: it replaces a scalar
//! subquery in the select list that is correlated (or holds a parameter)
//! by NULL, and cuts any other to its first row, so
//! `SELECT n_name, (SELECT count(*) FROM customer c WHERE c.c_nationkey =
//! n.n_nationkey) FROM nation n` answered NULL counts, and `$1` in such a
//! subquery vanished from the statement's parameters. PostgreSQL answers
//! the counts (and raises 21000 for a subquery of several rows).

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall,
    FixArrayLiteral, FixCollate, FixVersionColumnName, PrependUnqualifiedPgTableName,
    RemoveQualifier, RemoveUnsupportedTypes, ResolveUnqualifiedIdentifer,
    RewriteArrayAnyAllOperation, RewriteRegclassCastToSubquery, SqlStatementRewriteRule,
};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

/// The two ways statements are made compatible.
pub struct Compat {
    introspection: PostgresCompatibilityParser,
    statement_rules: Vec<Arc<dyn SqlStatementRewriteRule>>,
}

impl Compat {
    /// The library's parser, and its rules but the one above, in its order.
    pub fn new() -> Self {
        Self {
            introspection: PostgresCompatibilityParser::new(),
            statement_rules: vec![
                Arc::new(AliasDuplicatedProjectionRewrite),
                Arc::new(ResolveUnqualifiedIdentifer),
                Arc::new(RewriteArrayAnyAllOperation),
                Arc::new(PrependUnqualifiedPgTableName),
                Arc::new(RemoveQualifier),
                Arc::new(RewriteRegclassCastToSubquery::new()),
                Arc::new(RemoveUnsupportedTypes::new()),
                Arc::new(FixArrayLiteral),
                Arc::new(CurrentUserVariableToSessionUserFunctionCall),
                Arc::new(FixCollate),
                Arc::new(FixVersionColumnName),
            ],
        }
    }

    /// Parse a client's introspection query with every rewrite.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>, ParserError> {
        self.introspection.parse(sql)
    }

    /// Rewrite a user's statement with the rules that keep its meaning.
    pub fn rewrite(&self, mut stmt: Statement) -> Statement {
        for rule in &self.statement_rules {
            stmt = rule.rewrite(stmt);
        }
        stmt
    }
}

impl Default for Compat {
    fn default() -> Self {
        Self::new()
    }
}
