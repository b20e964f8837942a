//! Privileges, in PostgreSQL's syntax where it has one:
//!
//! ```sql
//! GRANT { privilege [(column, …)] [, …] | ALL [PRIVILEGES] }
//!     ON { [TABLE] c.s.t [, …] | ALL TABLES IN SCHEMA c.s [, …]
//!        | SCHEMA c.s [, …] | CATALOG c [, …] | DATABASE c [, …] }
//!     TO role [, …] [WITH GRANT OPTION]
//! DENY …same…  TO role [, …]          -- overrides any grant (SQL Server's word)
//! REVOKE [GRANT OPTION FOR] …same… FROM role [, …]   -- removes grants and denies
//! SHOW GRANTS [FOR role]
//! ```
//!
//! Privileges: `SELECT`, `INSERT`, `CREATE`, `DROP`, `ALTER`, `USAGE`;
//! column lists are for `SELECT`. Names may leave out the catalog and
//! schema, resolved as a query resolves them.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;
use weir_policies::Action;

use super::access::{fold, name_list, AccessParser, AccessStatement};
use super::role;
use crate::error::{Result, WeirError};

/// What is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privileges {
    /// `ALL [PRIVILEGES]`.
    All,
    /// Each privilege with its columns (empty: the whole object).
    List(Vec<(Action, Vec<String>)>),
}

/// What it is granted on; names as written (folded), resolved later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `[TABLE] name`.
    Table(Vec<String>),
    /// `ALL TABLES IN SCHEMA name`: every table in it, now and later.
    AllTablesIn(Vec<String>),
    /// `SCHEMA name`: the schema and everything in it.
    Schema(Vec<String>),
    /// `CATALOG name` / `DATABASE name`.
    Catalog(String),
}

/// A privilege statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantStatement {
    /// `GRANT …` or `DENY …`.
    Grant {
        /// What.
        privileges: Privileges,
        /// On what.
        targets: Vec<Target>,
        /// To whom.
        grantees: Vec<String>,
        /// `WITH GRANT OPTION`.
        grant_option: bool,
        /// `DENY`.
        deny: bool,
    },
    /// `REVOKE …`: removes matching grants and denies.
    Revoke {
        /// What.
        privileges: Privileges,
        /// On what.
        targets: Vec<Target>,
        /// From whom.
        grantees: Vec<String>,
        /// `GRANT OPTION FOR`: only the right to grant goes.
        grant_option_only: bool,
    },
    /// `SHOW GRANTS [FOR role]`.
    Show {
        /// The role asked about (default: the session's user).
        role: Option<String>,
    },
}

impl GrantStatement {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Grant { deny: false, .. } => "GRANT",
            Self::Grant { deny: true, .. } => "DENY",
            Self::Revoke { .. } => "REVOKE",
            Self::Show { .. } => "SHOW",
        }
    }
}

/// One item before `ON`/`TO`: a privilege or a role name, perhaps with columns.
struct Item {
    name: String,
    quoted: bool,
    columns: Vec<String>,
}

fn items(p: &mut AccessParser<'_>) -> Result<Option<Vec<Item>>> {
    if p.parser.parse_keyword(Keyword::ALL) {
        let _ = p.parser.parse_keyword(Keyword::PRIVILEGES);
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        let ident = p.parser.parse_identifier().map_err(super::access::syntax)?;
        let mut columns = Vec::new();
        if p.parser.consume_token(&Token::LParen) {
            loop {
                let column = p.parser.parse_identifier().map_err(super::access::syntax)?;
                columns.push(fold(&column));
                if !p.parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            p.parser
                .expect_token(&Token::RParen)
                .map_err(super::access::syntax)?;
        }
        out.push(Item {
            name: fold(&ident),
            quoted: ident.quote_style.is_some(),
            columns,
        });
        if !p.parser.consume_token(&Token::Comma) {
            return Ok(Some(out));
        }
    }
}

fn privileges(items: Option<Vec<Item>>) -> Result<Privileges> {
    let Some(items) = items else {
        return Ok(Privileges::All);
    };
    let mut list = Vec::new();
    for item in items {
        let action = (!item.quoted)
            .then(|| Action::parse(&item.name))
            .flatten()
            .ok_or_else(|| WeirError::Syntax {
                message: format!("unrecognized privilege type \"{}\"", item.name),
                position: None,
            })?;
        if !item.columns.is_empty() && action != Action::Select {
            return Err(WeirError::NotSupported(format!(
                "column privileges are for SELECT; {} applies to whole tables",
                action.as_str().to_uppercase()
            )));
        }
        list.push((action, item.columns));
    }
    Ok(Privileges::List(list))
}

fn targets(p: &mut AccessParser<'_>) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    if p.parser
        .parse_keywords(&[Keyword::ALL, Keyword::TABLES, Keyword::IN, Keyword::SCHEMA])
    {
        loop {
            out.push(Target::AllTablesIn(p.object_name()?));
            if !p.parser.consume_token(&Token::Comma) {
                return Ok(out);
            }
        }
    }
    if p.parser.parse_keyword(Keyword::ALL) {
        return Err(p.expected("TABLES IN SCHEMA"));
    }
    let kind = p.parser.parse_one_of_keywords(&[
        Keyword::TABLE,
        Keyword::SCHEMA,
        Keyword::CATALOG,
        Keyword::DATABASE,
    ]);
    loop {
        let name = p.object_name()?;
        out.push(match kind {
            Some(Keyword::SCHEMA) => Target::Schema(name),
            Some(Keyword::CATALOG | Keyword::DATABASE) => match <[String; 1]>::try_from(name) {
                Ok([catalog]) => Target::Catalog(catalog),
                Err(_) => return Err(p.expected("a catalog name")),
            },
            _ => Target::Table(name),
        });
        if !p.parser.consume_token(&Token::Comma) {
            return Ok(out);
        }
    }
}

fn grantees(p: &mut AccessParser<'_>) -> Result<Vec<String>> {
    let _ = p.parser.parse_keyword(Keyword::GROUP);
    name_list(&mut p.parser)
}

/// Items with no `ON` after them: role names (`GRANT r TO m`), unless the
/// statement's form or a column list says they were privileges.
fn role_names(
    items: Option<Vec<Item>>,
    roles_allowed: bool,
    p: &AccessParser<'_>,
) -> Result<Vec<String>> {
    match items {
        Some(items) if roles_allowed && items.iter().all(|i| i.columns.is_empty()) => {
            Ok(items.into_iter().map(|i| i.name).collect())
        }
        _ => Err(p.expected("ON")),
    }
}

/// `GRANT …` / `DENY …` after the first keyword.
pub(super) fn parse_grant(p: &mut AccessParser<'_>, deny: bool) -> Result<AccessStatement> {
    let items = items(p)?;
    if !p.parser.parse_keyword(Keyword::ON) {
        // GRANT role, … TO member, …
        let roles = role_names(items, !deny, p)?;
        return Ok(AccessStatement::Role(role::grant_roles(roles, p)?));
    }
    let privileges = privileges(items)?;
    let targets = targets(p)?;
    p.expect(Keyword::TO)?;
    let grantees = grantees(p)?;
    let grant_option = p
        .parser
        .parse_keywords(&[Keyword::WITH, Keyword::GRANT, Keyword::OPTION]);
    if deny && grant_option {
        return Err(WeirError::Syntax {
            message: "DENY takes no WITH GRANT OPTION".into(),
            position: None,
        });
    }
    Ok(AccessStatement::Grant(GrantStatement::Grant {
        privileges,
        targets,
        grantees,
        grant_option,
        deny,
    }))
}

/// `REVOKE …` after `REVOKE`.
pub(super) fn parse_revoke(p: &mut AccessParser<'_>) -> Result<AccessStatement> {
    let grant_option_only =
        p.parser
            .parse_keywords(&[Keyword::GRANT, Keyword::OPTION, Keyword::FOR]);
    let items = items(p)?;
    if !p.parser.parse_keyword(Keyword::ON) {
        let roles = role_names(items, !grant_option_only, p)?;
        return Ok(AccessStatement::Role(role::revoke_roles(roles, p)?));
    }
    let privileges = privileges(items)?;
    let targets = targets(p)?;
    p.expect(Keyword::FROM)?;
    let grantees = grantees(p)?;
    let _ = p
        .parser
        .parse_one_of_keywords(&[Keyword::CASCADE, Keyword::RESTRICT]);
    Ok(AccessStatement::Grant(GrantStatement::Revoke {
        privileges,
        targets,
        grantees,
        grant_option_only,
    }))
}
