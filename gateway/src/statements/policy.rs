//! Row filters and column masks:
//!
//! ```sql
//! CREATE POLICY name ON c.s.t [AS {PERMISSIVE | RESTRICTIVE}] [FOR {ALL | SELECT}]
//!     [TO role [, …]] USING (expression)
//! DROP POLICY [IF EXISTS] name ON c.s.t
//! ALTER TABLE c.s.t ALTER [COLUMN] col SET MASK (expression) FOR role [, …]
//! ALTER TABLE c.s.t ALTER [COLUMN] col DROP MASK FOR role [, …]
//! ```
//!
//! `CREATE POLICY` is PostgreSQL's (`TO` defaults to `PUBLIC`); the mask
//! statements are Weir's, in the shape of `ALTER COLUMN … SET DEFAULT`.
//! Expressions are kept as SQL text and planned against the table when a
//! query reads it.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::access::{fold, name_list, role_name, AccessParser, AccessStatement};
use crate::error::{Result, WeirError};

/// A row-filter or mask statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyStatement {
    /// `CREATE POLICY`.
    Create {
        /// Policy name (unique per table).
        name: String,
        /// The table, as written.
        table: Vec<String>,
        /// `AS RESTRICTIVE` (default permissive).
        restrictive: bool,
        /// Roles it applies to (`public` by default).
        roles: Vec<String>,
        /// The `USING` expression, as SQL text.
        using: String,
    },
    /// `DROP POLICY`.
    Drop {
        /// Policy name.
        name: String,
        /// The table.
        table: Vec<String>,
        /// No error when it does not exist.
        if_exists: bool,
    },
    /// `ALTER TABLE … ALTER COLUMN … SET MASK (…) FOR …`.
    SetMask {
        /// The table.
        table: Vec<String>,
        /// The column.
        column: String,
        /// The mask, as SQL text naming the column itself.
        mask: String,
        /// Roles that see the masked value.
        roles: Vec<String>,
    },
    /// `ALTER TABLE … ALTER COLUMN … DROP MASK FOR …`.
    DropMask {
        /// The table.
        table: Vec<String>,
        /// The column.
        column: String,
        /// Roles whose mask goes.
        roles: Vec<String>,
    },
}

impl PolicyStatement {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Create { .. } => "CREATE POLICY",
            Self::Drop { .. } => "DROP POLICY",
            Self::SetMask { .. } | Self::DropMask { .. } => "ALTER TABLE",
        }
    }
}

/// Whether `ALTER TABLE …` tokens set or drop a mask.
pub(crate) fn is_mask(tokens: &[&Token]) -> bool {
    tokens.windows(2).any(|w| match (w[0], w[1]) {
        (Token::Word(verb), Token::Word(mask)) => {
            matches!(verb.keyword, Keyword::SET | Keyword::DROP)
                && mask.quote_style.is_none()
                && mask.value.eq_ignore_ascii_case("mask")
        }
        _ => false,
    })
}

/// A parenthesized expression, as canonical SQL text.
fn expression(p: &mut AccessParser<'_>) -> Result<String> {
    p.parser
        .expect_token(&Token::LParen)
        .map_err(super::access::syntax)?;
    let expr = p.parser.parse_expr().map_err(super::access::syntax)?;
    p.parser
        .expect_token(&Token::RParen)
        .map_err(super::access::syntax)?;
    Ok(expr.to_string())
}

/// `CREATE POLICY …` after `CREATE`.
pub(super) fn parse_create(p: &mut AccessParser<'_>) -> Result<AccessStatement> {
    p.expect(Keyword::POLICY)?;
    let name = role_name(&mut p.parser)?;
    p.expect(Keyword::ON)?;
    let table = p.object_name()?;
    let mut restrictive = false;
    if p.parser.parse_keyword(Keyword::AS) {
        match p
            .parser
            .parse_one_of_keywords(&[Keyword::PERMISSIVE, Keyword::RESTRICTIVE])
        {
            Some(Keyword::RESTRICTIVE) => restrictive = true,
            Some(_) => {}
            None => return Err(p.expected("PERMISSIVE or RESTRICTIVE")),
        }
    }
    if p.parser.parse_keyword(Keyword::FOR) {
        match p.parser.parse_one_of_keywords(&[
            Keyword::ALL,
            Keyword::SELECT,
            Keyword::INSERT,
            Keyword::UPDATE,
            Keyword::DELETE,
        ]) {
            Some(Keyword::ALL | Keyword::SELECT) => {}
            Some(_) => {
                return Err(WeirError::NotSupported(
                    "row policies are for reading (FOR SELECT or FOR ALL); \
                     lake tables take only appends, which need INSERT privilege"
                        .into(),
                ))
            }
            None => return Err(p.expected("ALL or SELECT")),
        }
    }
    let roles = if p.parser.parse_keyword(Keyword::TO) {
        name_list(&mut p.parser)?
    } else {
        vec![weir_policies::PUBLIC.to_owned()]
    };
    if p.parser.parse_keywords(&[Keyword::WITH, Keyword::CHECK]) {
        return Err(WeirError::NotSupported(
            "WITH CHECK is not supported: row policies filter reads".into(),
        ));
    }
    p.expect(Keyword::USING)?;
    let using = expression(p)?;
    Ok(AccessStatement::Policy(PolicyStatement::Create {
        name,
        table,
        restrictive,
        roles,
        using,
    }))
}

/// `DROP POLICY …` after `DROP`.
pub(super) fn parse_drop(p: &mut AccessParser<'_>) -> Result<AccessStatement> {
    p.expect(Keyword::POLICY)?;
    let if_exists = p.parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = role_name(&mut p.parser)?;
    p.expect(Keyword::ON)?;
    let table = p.object_name()?;
    Ok(AccessStatement::Policy(PolicyStatement::Drop {
        name,
        table,
        if_exists,
    }))
}

/// `ALTER TABLE … ALTER [COLUMN] c {SET MASK (…) | DROP MASK} FOR …` after `ALTER`.
pub(super) fn parse_mask(p: &mut AccessParser<'_>) -> Result<AccessStatement> {
    p.expect(Keyword::TABLE)?;
    let table = p.object_name()?;
    p.expect(Keyword::ALTER)?;
    let _ = p.parser.parse_keyword(Keyword::COLUMN);
    let column = fold(&p.parser.parse_identifier().map_err(super::access::syntax)?);
    let set = match p
        .parser
        .parse_one_of_keywords(&[Keyword::SET, Keyword::DROP])
    {
        Some(Keyword::SET) => true,
        Some(_) => false,
        None => return Err(p.expected("SET MASK or DROP MASK")),
    };
    let word = p.parser.next_token();
    match &word.token {
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("mask") => {}
        _ => return Err(p.expected("MASK")),
    }
    let mask = if set { Some(expression(p)?) } else { None };
    p.expect(Keyword::FOR)?;
    let roles = name_list(&mut p.parser)?;
    Ok(AccessStatement::Policy(match mask {
        Some(mask) => PolicyStatement::SetMask {
            table,
            column,
            mask,
            roles,
        },
        None => PolicyStatement::DropMask {
            table,
            column,
            roles,
        },
    }))
}
