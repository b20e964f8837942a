//! Access statements: recognised by their leading tokens and parsed by
//! Weir's own grammar (on sqlparser's tokenizer and parser primitives),
//! so their spelling does not move with sqlparser's dialect support.
//!
//! - [`super::role`]: CREATE/ALTER/DROP ROLE and USER, GRANT/REVOKE role
//! - [`super::grant`]: GRANT/REVOKE/DENY privileges, SHOW GRANTS
//! - [`super::policy`]: CREATE/DROP POLICY (row filters), SET/DROP MASK

use datafusion::sql::sqlparser::ast::Ident;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::grant::{self, GrantStatement};
use super::policy::{self, PolicyStatement};
use super::role::{self, RoleStatement};
use crate::error::{parse_error, Result, WeirError};

/// An access statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessStatement {
    /// Roles and users.
    Role(RoleStatement),
    /// Privileges.
    Grant(GrantStatement),
    /// Row filters and column masks.
    Policy(PolicyStatement),
}

impl AccessStatement {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Role(r) => r.tag(),
            Self::Grant(g) => g.tag(),
            Self::Policy(p) => p.tag(),
        }
    }
}

/// Whether a statement's tokens (whitespace and comments dropped) start an
/// access statement.
pub(crate) fn is_access(tokens: &[&Token]) -> bool {
    let keyword = |i: usize| match tokens.get(i) {
        Some(Token::Word(w)) => w.keyword,
        _ => Keyword::NoKeyword,
    };
    match keyword(0) {
        Keyword::GRANT | Keyword::REVOKE | Keyword::DENY => true,
        Keyword::CREATE | Keyword::DROP => {
            matches!(keyword(1), Keyword::ROLE | Keyword::USER | Keyword::POLICY)
        }
        Keyword::ALTER => match keyword(1) {
            Keyword::ROLE | Keyword::USER => true,
            Keyword::TABLE => policy::is_mask(tokens),
            _ => false,
        },
        Keyword::SHOW => keyword(1) == Keyword::GRANTS,
        _ => false,
    }
}

/// Parse one access statement (the text holds exactly one).
pub(crate) fn parse(sql: &str) -> Result<AccessStatement> {
    let dialect = PostgreSqlDialect {};
    let parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| parse_error(&e, sql))?;
    let mut p = AccessParser { parser, sql };
    let statement = p.statement()?;
    let _ = p.parser.consume_token(&Token::SemiColon);
    let rest = p.parser.peek_token();
    if rest.token != Token::EOF {
        return Err(p.expected("end of statement"));
    }
    Ok(statement)
}

/// sqlparser's parser over one statement's text.
pub(crate) struct AccessParser<'a> {
    pub(crate) parser: Parser<'a>,
    sql: &'a str,
}

impl AccessParser<'_> {
    fn statement(&mut self) -> Result<AccessStatement> {
        let first = self.parser.next_token();
        let Token::Word(word) = &first.token else {
            return Err(self.expected("an access statement"));
        };
        Ok(match word.keyword {
            Keyword::CREATE if self.next_is(Keyword::POLICY) => policy::parse_create(self)?,
            Keyword::CREATE => AccessStatement::Role(role::parse_create(self)?),
            Keyword::ALTER if self.next_is(Keyword::TABLE) => policy::parse_mask(self)?,
            Keyword::ALTER => AccessStatement::Role(role::parse_alter(self)?),
            Keyword::DROP if self.next_is(Keyword::POLICY) => policy::parse_drop(self)?,
            Keyword::DROP => AccessStatement::Role(role::parse_drop(self)?),
            Keyword::GRANT => grant::parse_grant(self, false)?,
            Keyword::DENY => grant::parse_grant(self, true)?,
            Keyword::REVOKE => grant::parse_revoke(self)?,
            Keyword::SHOW => {
                self.expect(Keyword::GRANTS)?;
                let role = if self.parser.parse_keyword(Keyword::FOR) {
                    Some(role_name(&mut self.parser)?)
                } else {
                    None
                };
                AccessStatement::Grant(GrantStatement::Show { role })
            }
            _ => return Err(self.expected("an access statement")),
        })
    }

    /// A dotted name, each part folded as PostgreSQL folds identifiers.
    pub(crate) fn object_name(&mut self) -> Result<Vec<String>> {
        let name = self.parser.parse_object_name(false).map_err(syntax)?;
        name.0
            .iter()
            .map(|part| {
                part.as_ident()
                    .map(fold)
                    .ok_or_else(|| self.expected("a name"))
            })
            .collect()
    }

    fn next_is(&self, k: Keyword) -> bool {
        matches!(&self.parser.peek_token().token, Token::Word(w) if w.keyword == k)
    }

    /// A syntax error at the next token, naming what was expected.
    pub(crate) fn expected(&self, what: &str) -> WeirError {
        let found = self.parser.peek_token();
        match self.parser.expected::<()>(what, found) {
            Err(e) => parse_error(&e, self.sql),
            Ok(()) => WeirError::Syntax {
                message: format!("syntax error: expected {what}"),
                position: None,
            },
        }
    }

    /// The keyword `k`, or a syntax error.
    pub(crate) fn expect(&mut self, k: Keyword) -> Result<()> {
        self.parser
            .expect_keyword_is(k)
            .map_err(|e| parse_error(&e, self.sql))
    }
}

/// A parser error without the statement text at hand.
pub(crate) fn syntax(e: ParserError) -> WeirError {
    parse_error(&e, "")
}

/// An identifier as PostgreSQL folds it: unquoted names in lower case.
pub(crate) fn fold(ident: &Ident) -> String {
    if ident.quote_style.is_none() {
        ident.value.to_lowercase()
    } else {
        ident.value.clone()
    }
}

/// A role name (`PUBLIC` is the role every user holds).
pub(crate) fn role_name(parser: &mut Parser<'_>) -> Result<String> {
    let ident = parser.parse_identifier().map_err(syntax)?;
    let name = fold(&ident);
    if name.is_empty() {
        return Err(WeirError::Syntax {
            message: "zero-length delimited identifier".into(),
            position: None,
        });
    }
    Ok(name)
}

/// `name, name, …`
pub(crate) fn name_list(parser: &mut Parser<'_>) -> Result<Vec<String>> {
    let mut names = vec![role_name(parser)?];
    while parser.consume_token(&Token::Comma) {
        names.push(role_name(parser)?);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::grant::{Privileges, Target};
    use weir_policies::Action;

    fn parsed(sql: &str) -> AccessStatement {
        parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn role_statements_parse_as_postgresql_spells_them() {
        let AccessStatement::Role(RoleStatement::Create { name, options }) =
            parsed("CREATE USER Ann WITH PASSWORD 'x' IN ROLE analyst, \"Staff\"")
        else {
            panic!()
        };
        assert_eq!(name, "ann");
        assert_eq!(options.login, Some(true), "CREATE USER implies LOGIN");
        assert_eq!(options.password, Some(Some("x".into())));
        assert_eq!(options.in_roles, vec!["analyst", "Staff"]);
        assert!(
            !format!("{options:?}").contains('x'),
            "passwords do not print"
        );

        assert!(matches!(
            parsed("CREATE ROLE analyst"),
            AccessStatement::Role(RoleStatement::Create { options, .. }) if options.login.is_none()
        ));
        assert!(matches!(
            parsed("ALTER ROLE ann RENAME TO bea"),
            AccessStatement::Role(RoleStatement::Rename { from, to }) if from == "ann" && to == "bea"
        ));
        assert!(matches!(
            parsed("alter user ann password null"),
            AccessStatement::Role(RoleStatement::Alter { options, .. }) if options.password == Some(None)
        ));
        assert!(matches!(
            parsed("DROP ROLE IF EXISTS a, b;"),
            AccessStatement::Role(RoleStatement::Drop { names, if_exists: true }) if names == ["a", "b"]
        ));
        assert!(matches!(
            parsed("GRANT analyst TO ann, bob"),
            AccessStatement::Role(RoleStatement::Grant { roles, members }) if roles == ["analyst"] && members == ["ann", "bob"]
        ));
        assert!(matches!(
            parsed("REVOKE analyst FROM ann"),
            AccessStatement::Role(RoleStatement::Revoke { .. })
        ));
        for bad in [
            "CREATE ROLE",
            "ALTER ROLE ann",
            "CREATE ROLE a WITH CREATEDB",
            "GRANT analyst",
            "DROP ROLE a b",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn privilege_statements_name_their_objects_and_columns() {
        let AccessStatement::Grant(GrantStatement::Grant {
            privileges,
            targets,
            grantees,
            grant_option,
            deny,
        }) = parsed("GRANT SELECT (c_name, \"C_Phone\"), INSERT ON TABLE tpch.Customer TO analyst WITH GRANT OPTION")
        else {
            panic!()
        };
        assert!(!deny);
        assert!(grant_option);
        assert_eq!(grantees, vec!["analyst"]);
        assert_eq!(
            targets,
            vec![Target::Table(vec!["tpch".into(), "customer".into()])]
        );
        assert_eq!(
            privileges,
            Privileges::List(vec![
                (Action::Select, vec!["c_name".into(), "C_Phone".into()]),
                (Action::Insert, vec![]),
            ])
        );
        assert!(matches!(
            parsed("GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA lake.tpch TO public"),
            AccessStatement::Grant(GrantStatement::Grant { privileges: Privileges::All, targets, .. })
                if targets == vec![Target::AllTablesIn(vec!["lake".into(), "tpch".into()])]
        ));
        assert!(matches!(
            parsed("DENY SELECT ON lake.tpch.customer TO analyst"),
            AccessStatement::Grant(GrantStatement::Grant { deny: true, .. })
        ));
        assert!(matches!(
            parsed("REVOKE CREATE ON SCHEMA lake.tpch FROM analyst"),
            AccessStatement::Grant(GrantStatement::Revoke { targets, .. })
                if targets == vec![Target::Schema(vec!["lake".into(), "tpch".into()])]
        ));
        assert!(matches!(
            parsed("GRANT USAGE ON CATALOG lake TO analyst"),
            AccessStatement::Grant(GrantStatement::Grant { targets, .. }) if targets == vec![Target::Catalog("lake".into())]
        ));
        assert!(matches!(
            parsed("SHOW GRANTS FOR analyst"),
            AccessStatement::Grant(GrantStatement::Show { role: Some(r) }) if r == "analyst"
        ));
        for bad in [
            "GRANT SELEKT ON t TO a",
            "GRANT SELECT ON t",
            "GRANT SELECT ON t TO",
            "GRANT SELECT ON ALL TABLES t TO a",
            "DENY analyst TO ann",
            "GRANT INSERT (a) ON t TO r",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn row_policies_and_masks_keep_their_expressions_as_sql() {
        assert_eq!(
            parsed("CREATE POLICY eu ON tpch.customer AS RESTRICTIVE FOR SELECT TO analyst USING (c_nationkey IN (6, 7) AND current_user = 'ann')"),
            AccessStatement::Policy(PolicyStatement::Create {
                name: "eu".into(),
                table: vec!["tpch".into(), "customer".into()],
                restrictive: true,
                roles: vec!["analyst".into()],
                using: "c_nationkey IN (6, 7) AND current_user = 'ann'".into(),
            })
        );
        assert!(matches!(
            parsed("CREATE POLICY p ON t USING (true)"),
            AccessStatement::Policy(PolicyStatement::Create { roles, restrictive: false, .. }) if roles == ["public"]
        ));
        assert!(matches!(
            parsed("DROP POLICY IF EXISTS p ON lake.s.t"),
            AccessStatement::Policy(PolicyStatement::Drop {
                if_exists: true,
                ..
            })
        ));
        assert_eq!(
            parsed("ALTER TABLE tpch.customer ALTER COLUMN c_phone SET MASK ('***' || right(c_phone, 4)) FOR analyst, staff"),
            AccessStatement::Policy(PolicyStatement::SetMask {
                table: vec!["tpch".into(), "customer".into()],
                column: "c_phone".into(),
                mask: "'***' || right(c_phone, 4)".into(),
                roles: vec!["analyst".into(), "staff".into()],
            })
        );
        assert!(matches!(
            parsed("alter table t alter c drop mask for analyst"),
            AccessStatement::Policy(PolicyStatement::DropMask { .. })
        ));
        for bad in [
            "CREATE POLICY p ON t FOR INSERT USING (true)",
            "CREATE POLICY p ON t USING true",
            "CREATE POLICY p ON t TO r",
            "ALTER TABLE t ALTER COLUMN c SET MASK (c)",
            "CREATE POLICY p ON t USING (a) WITH CHECK (b)",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn only_access_statements_take_this_route() {
        let check = |sql: &str| {
            let tokens =
                datafusion::sql::sqlparser::tokenizer::Tokenizer::new(&PostgreSqlDialect {}, sql)
                    .tokenize()
                    .unwrap();
            let tokens: Vec<&Token> = tokens
                .iter()
                .filter(|t| !matches!(t, Token::Whitespace(_)))
                .collect();
            is_access(&tokens)
        };
        assert!(check("GRANT SELECT ON t TO a"));
        assert!(check("/* c */ create user a"));
        assert!(check("SHOW GRANTS"));
        assert!(!check("CREATE TABLE role (a int)"));
        assert!(!check("SELECT 'GRANT'"));
        assert!(!check("SHOW grants_table"));
        assert!(check("ALTER TABLE t ALTER COLUMN c SET MASK (c) FOR r"));
        assert!(!check("ALTER TABLE t ADD COLUMN mask INT"));
        assert!(!check("ALTER TABLE t ALTER COLUMN c SET \"mask\""));
        assert!(check("CREATE POLICY p ON t USING (true)"));
    }
}
