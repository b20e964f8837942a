//! Roles and users, in PostgreSQL's syntax:
//!
//! ```sql
//! CREATE ROLE name [[WITH] option …]      -- options: LOGIN | NOLOGIN | SUPERUSER
//! CREATE USER name [[WITH] option …]      --   | NOSUPERUSER | [ENCRYPTED] PASSWORD 'pw' | PASSWORD NULL
//!                                         --   | IN ROLE r, … | ROLE member, …
//! ALTER ROLE|USER name [[WITH] option …]
//! ALTER ROLE|USER name RENAME TO new
//! DROP ROLE|USER [IF EXISTS] name, …
//! GRANT role, … TO member, …
//! REVOKE role, … FROM member, …
//! ```
//!
//! `CREATE USER` is `CREATE ROLE … LOGIN`. Options PostgreSQL has and Weir
//! does not use (`INHERIT`, `CREATEDB`, `CONNECTION LIMIT`, `VALID UNTIL`…)
//! are refused by name rather than ignored.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::access::{name_list, role_name, AccessParser};
use crate::error::{Result, WeirError};

/// Attributes given in CREATE/ALTER ROLE; `None` leaves one as it is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RoleOptions {
    /// `LOGIN` / `NOLOGIN`.
    pub login: Option<bool>,
    /// `SUPERUSER` / `NOSUPERUSER`.
    pub superuser: Option<bool>,
    /// `PASSWORD 'pw'` (`Some(Some)`) or `PASSWORD NULL` (`Some(None)`).
    pub password: Option<Option<String>>,
    /// `IN ROLE r, …`: roles the new role joins.
    pub in_roles: Vec<String>,
    /// `ROLE m, …`: members the new role gets.
    pub members: Vec<String>,
}

impl std::fmt::Debug for RoleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleOptions")
            .field("login", &self.login)
            .field("superuser", &self.superuser)
            .field(
                "password",
                &self
                    .password
                    .as_ref()
                    .map(|p| p.as_ref().map(|_| "<redacted>")),
            )
            .field("in_roles", &self.in_roles)
            .field("members", &self.members)
            .finish()
    }
}

/// A role statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleStatement {
    /// `CREATE ROLE` / `CREATE USER` (which implies LOGIN).
    Create {
        /// The new role.
        name: String,
        /// Its attributes.
        options: RoleOptions,
    },
    /// `ALTER ROLE name [WITH] …`.
    Alter {
        /// The role.
        name: String,
        /// What changes.
        options: RoleOptions,
    },
    /// `ALTER ROLE name RENAME TO new`.
    Rename {
        /// Current name.
        from: String,
        /// New name.
        to: String,
    },
    /// `DROP ROLE [IF EXISTS] name, …`.
    Drop {
        /// Roles to drop.
        names: Vec<String>,
        /// No error for missing roles.
        if_exists: bool,
    },
    /// `GRANT role, … TO member, …`.
    Grant {
        /// Roles granted.
        roles: Vec<String>,
        /// Who gets them.
        members: Vec<String>,
    },
    /// `REVOKE role, … FROM member, …`.
    Revoke {
        /// Roles revoked.
        roles: Vec<String>,
        /// From whom.
        members: Vec<String>,
    },
}

impl RoleStatement {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Create { .. } => "CREATE ROLE",
            Self::Alter { .. } | Self::Rename { .. } => "ALTER ROLE",
            Self::Drop { .. } => "DROP ROLE",
            Self::Grant { .. } => "GRANT ROLE",
            Self::Revoke { .. } => "REVOKE ROLE",
        }
    }
}

/// `CREATE ROLE|USER …` after `CREATE`.
pub(super) fn parse_create(p: &mut AccessParser<'_>) -> Result<RoleStatement> {
    let user = matches!(
        p.parser
            .parse_one_of_keywords(&[Keyword::ROLE, Keyword::USER]),
        Some(Keyword::USER)
    );
    let name = role_name(&mut p.parser)?;
    let mut options = parse_options(&mut p.parser, true)?;
    if user && options.login.is_none() {
        options.login = Some(true);
    }
    Ok(RoleStatement::Create { name, options })
}

/// `ALTER ROLE|USER …` after `ALTER`.
pub(super) fn parse_alter(p: &mut AccessParser<'_>) -> Result<RoleStatement> {
    let _ = p
        .parser
        .parse_one_of_keywords(&[Keyword::ROLE, Keyword::USER]);
    let name = role_name(&mut p.parser)?;
    if p.parser.parse_keywords(&[Keyword::RENAME, Keyword::TO]) {
        let to = role_name(&mut p.parser)?;
        return Ok(RoleStatement::Rename { from: name, to });
    }
    let options = parse_options(&mut p.parser, false)?;
    if options == RoleOptions::default() {
        return Err(p.expected("an option such as PASSWORD, LOGIN or RENAME TO"));
    }
    Ok(RoleStatement::Alter { name, options })
}

/// `DROP ROLE|USER …` after `DROP`.
pub(super) fn parse_drop(p: &mut AccessParser<'_>) -> Result<RoleStatement> {
    let _ = p
        .parser
        .parse_one_of_keywords(&[Keyword::ROLE, Keyword::USER]);
    let if_exists = p.parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let names = name_list(&mut p.parser)?;
    Ok(RoleStatement::Drop { names, if_exists })
}

/// `GRANT role, … TO member, …` (after `GRANT`, the role list read).
pub(super) fn grant_roles(roles: Vec<String>, p: &mut AccessParser<'_>) -> Result<RoleStatement> {
    p.expect(Keyword::TO)?;
    let members = name_list(&mut p.parser)?;
    if p.parser
        .parse_keywords(&[Keyword::WITH, Keyword::ADMIN, Keyword::OPTION])
    {
        return Err(WeirError::NotSupported(
            "WITH ADMIN OPTION is not supported: only superusers manage roles".into(),
        ));
    }
    Ok(RoleStatement::Grant { roles, members })
}

/// `REVOKE role, … FROM member, …` (after `REVOKE`, the role list read).
pub(super) fn revoke_roles(roles: Vec<String>, p: &mut AccessParser<'_>) -> Result<RoleStatement> {
    p.expect(Keyword::FROM)?;
    let members = name_list(&mut p.parser)?;
    Ok(RoleStatement::Revoke { roles, members })
}

fn parse_options(parser: &mut Parser<'_>, creating: bool) -> Result<RoleOptions> {
    let mut options = RoleOptions::default();
    let _ = parser.parse_keyword(Keyword::WITH);
    loop {
        let token = parser.peek_token();
        let Token::Word(word) = &token.token else {
            break;
        };
        let keyword = word.keyword;
        let value = word.value.to_ascii_uppercase();
        match keyword {
            Keyword::LOGIN => options.login = Some(true),
            Keyword::NOLOGIN => options.login = Some(false),
            Keyword::SUPERUSER => options.superuser = Some(true),
            Keyword::NOSUPERUSER => options.superuser = Some(false),
            Keyword::ENCRYPTED | Keyword::PASSWORD => {
                parser.next_token();
                if keyword == Keyword::ENCRYPTED {
                    parser
                        .expect_keyword_is(Keyword::PASSWORD)
                        .map_err(super::access::syntax)?;
                }
                options.password = Some(if parser.parse_keyword(Keyword::NULL) {
                    None
                } else {
                    Some(
                        parser
                            .parse_literal_string()
                            .map_err(super::access::syntax)?,
                    )
                });
                continue;
            }
            Keyword::IN if creating => {
                parser.next_token();
                parser
                    .expect_keyword_is(Keyword::ROLE)
                    .map_err(super::access::syntax)?;
                options.in_roles = name_list(parser)?;
                continue;
            }
            Keyword::ROLE if creating => {
                parser.next_token();
                options.members = name_list(parser)?;
                continue;
            }
            Keyword::INHERIT => {}
            _ if [
                "NOINHERIT",
                "CREATEDB",
                "NOCREATEDB",
                "CREATEROLE",
                "NOCREATEROLE",
                "REPLICATION",
                "NOREPLICATION",
                "BYPASSRLS",
                "NOBYPASSRLS",
                "CONNECTION",
                "VALID",
                "ADMIN",
                "SYSID",
            ]
            .contains(&value.as_str()) =>
            {
                return Err(WeirError::NotSupported(format!(
                    "role option {value} is not supported (Weir's role options: LOGIN, \
                     NOLOGIN, SUPERUSER, NOSUPERUSER, PASSWORD, IN ROLE, ROLE)"
                )));
            }
            _ => break,
        }
        parser.next_token();
    }
    Ok(options)
}
