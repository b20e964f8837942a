//! Rules follow a column through `ALTER TABLE … RENAME COLUMN`.
//!
//! Rules name columns (`lake.s.t.pan`), and row filters and masks are SQL
//! text over a table's columns (`'****' || right(pan, 4)`). When a column
//! is renamed, the gateway moves its rules to the new name and rewrites
//! the expressions of the table's rules with [`rename_in_expression`], in
//! one transaction of the rule store, after the table's own change is
//! committed. Should a server stop between the two, the rules name a
//! column the table no longer has, and `Authorizer::orphaned_column_rule`
//! makes the table unreadable (`42P17`) to those they apply to: never
//! unmasked.
//!

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, VisitMut, VisitorMut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `expression` (a row filter's `USING` or a mask) with column `from` of
/// its table renamed to `to`; `None` if it does not name `from` (or does
/// not parse: it is kept as it is, and fails when planned, closed).
/// Columns of subqueries are other tables' and are left alone; a name is
/// matched as the planner matches it (unquoted names fold to lower case).
pub fn rename_in_expression(expression: &str, from: &str, to: &str) -> Option<String> {
    let mut expr = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(expression)
        .ok()?
        .parse_expr()
        .ok()?;
    let mut renamer = Renamer {
        from,
        to,
        depth: 0,
        renamed: false,
    };
    let _ = expr.visit(&mut renamer);
    renamer.renamed.then(|| expr.to_string())
}

struct Renamer<'a> {
    from: &'a str,
    to: &'a str,
    /// Subqueries entered.
    depth: usize,
    renamed: bool,
}

impl Renamer<'_> {
    fn names_from(&self, ident: &Ident) -> bool {
        match ident.quote_style {
            None => ident.value.to_lowercase() == self.from,
            Some(_) => ident.value == self.from,
        }
    }

    fn new_ident(&self) -> Ident {
        let bare = self
            .to
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && self
                .to
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if bare {
            Ident::new(self.to)
        } else {
            Ident::with_quote('"', self.to)
        }
    }
}

impl VisitorMut for Renamer<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Identifier(ident) if self.names_from(ident) => {
                *ident = self.new_ident();
                self.renamed = true;
            }
            Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last_mut() {
                    if self.names_from(last) {
                        *last = self.new_ident();
                        self.renamed = true;
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_s_column_is_renamed_wherever_the_expression_names_it() {
        let cases = [
            ("'****' || right(pan, 4)", Some("'****' || right(card, 4)")),
            (
                "PAN = 'x' AND t.pan IS NULL",
                Some("card = 'x' AND t.card IS NULL"),
            ),
            ("\"pan\" > 0", Some("card > 0")),
            ("\"PAN\" > 0", None),
            ("span > 0", None),
            ("'pan' = name", None),
            (
                "region IN (SELECT pan FROM lake.s.other) OR pan = 1",
                Some("region IN (SELECT pan FROM lake.s.other) OR card = 1"),
            ),
            ("not sql (", None),
        ];
        for (before, after) in cases {
            assert_eq!(
                rename_in_expression(before, "pan", "card").as_deref(),
                after,
                "{before}"
            );
        }
        assert_eq!(
            rename_in_expression("pan = 1", "pan", "Card No").as_deref(),
            Some("\"Card No\" = 1")
        );
    }
}
