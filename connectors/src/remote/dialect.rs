//! Identifiers and string literals in remote SQL, per source dialect.
//!
//! The rules, and why they are safe whatever the source's settings:
//!
//! | dialect    | identifier                | string literal                                   |
//! |------------|---------------------------|--------------------------------------------------|
//! | PostgreSQL | `"…"`, `"` doubled        | `E'…'`, `\` and `'` doubled (escape syntax does not depend on `standard_conforming_strings`) |
//! | Redshift   | `"…"`, `"` doubled        | `'…'`, `\` and `'` doubled (Redshift reads backslash escapes in every literal) |
//! | MySQL      | `` `…` ``, `` ` `` doubled | `'…'` when the text is plain; otherwise `_utf8mb4 X'…'` (hex: no escape character at all, so `NO_BACKSLASH_ESCAPES` and `ANSI_QUOTES` do not matter) |
//!
//! NUL cannot be part of a PostgreSQL or Redshift string or of any
//! identifier, so it is refused rather than truncated. Literals made only
//! of plain characters (letters, digits, space and `_-.:,+/@%`) are written
//! as they are in every dialect, so remote SQL stays readable in EXPLAIN.

use std::fmt::Write as _;

/// The SQL dialect of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL (RDS, Aurora, the local stand-in).
    Postgres,
    /// MySQL and MariaDB.
    MySql,
    /// Amazon Redshift (the PostgreSQL protocol, older string rules).
    Redshift,
}

/// A name or value that cannot be written into the source's SQL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot send {what} to a {dialect} source: {why}")]
pub struct UnsendableError {
    /// `identifier "a\0b"`, `string literal`.
    pub what: String,
    /// The dialect's name.
    pub dialect: &'static str,
    /// Why not.
    pub why: &'static str,
}

impl Dialect {
    /// The dialect's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::MySql => "MySQL",
            Self::Redshift => "Redshift",
        }
    }

    fn unsendable(self, what: String, why: &'static str) -> UnsendableError {
        UnsendableError {
            what,
            dialect: self.name(),
            why,
        }
    }

    /// `name` as a quoted identifier.
    pub fn ident(self, name: &str) -> Result<String, UnsendableError> {
        if name.contains('\0') {
            return Err(self.unsendable(
                format!("identifier {name:?}"),
                "identifiers cannot contain NUL",
            ));
        }
        if name.is_empty() {
            return Err(self.unsendable(
                "an empty identifier".to_owned(),
                "identifiers cannot be empty",
            ));
        }
        let quote = match self {
            Self::Postgres | Self::Redshift => '"',
            Self::MySql => '`',
        };
        let mut out = String::with_capacity(name.len() + 2);
        out.push(quote);
        for c in name.chars() {
            if c == quote {
                out.push(quote);
            }
            out.push(c);
        }
        out.push(quote);
        Ok(out)
    }

    /// A dotted name (`schema.table`), each part quoted.
    pub fn qualified(self, parts: &[&str]) -> Result<String, UnsendableError> {
        let quoted = parts
            .iter()
            .map(|p| self.ident(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(quoted.join("."))
    }

    /// `value` as a string literal.
    pub fn string(self, value: &str) -> Result<String, UnsendableError> {
        if is_plain(value) {
            return Ok(format!("'{value}'"));
        }
        match self {
            Self::Postgres | Self::Redshift => {
                if value.contains('\0') {
                    return Err(self.unsendable(
                        "a string literal".to_owned(),
                        "text values cannot contain NUL",
                    ));
                }
                let mut out = String::with_capacity(value.len() + 4);
                if self == Self::Postgres {
                    out.push('E');
                }
                out.push('\'');
                for c in value.chars() {
                    if c == '\'' || c == '\\' {
                        out.push(c);
                    }
                    out.push(c);
                }
                out.push('\'');
                Ok(out)
            }
            Self::MySql => {
                let mut out = String::with_capacity(value.len() * 2 + 12);
                out.push_str("_utf8mb4 X'");
                for b in value.bytes() {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "{b:02X}");
                }
                out.push('\'');
                Ok(out)
            }
        }
    }
}

/// Characters that mean nothing special in any dialect's string literal.
fn is_plain(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _-.:,+/@%".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quote_character() {
        assert_eq!(Dialect::Postgres.ident(r#"a"b\"#).unwrap(), r#""a""b\""#);
        assert_eq!(Dialect::Redshift.ident("Order").unwrap(), r#""Order""#);
        assert_eq!(Dialect::MySql.ident("a`b\"c").unwrap(), "`a``b\"c`");
        assert_eq!(
            Dialect::MySql.qualified(&["shop", "or`ders"]).unwrap(),
            "`shop`.`or``ders`"
        );
        assert!(Dialect::Postgres.ident("a\0b").is_err());
        assert!(Dialect::MySql.ident("").is_err());
    }

    #[test]
    fn literals_cannot_end_early() {
        let hostile = r"\' OR 1=1 --";
        assert_eq!(
            Dialect::Postgres.string(hostile).unwrap(),
            r"E'\\'' OR 1=1 --'"
        );
        assert_eq!(
            Dialect::Redshift.string(hostile).unwrap(),
            r"'\\'' OR 1=1 --'"
        );
        assert_eq!(Dialect::MySql.string("a'b").unwrap(), "_utf8mb4 X'612762'");
        assert_eq!(Dialect::MySql.string("2026-01-01").unwrap(), "'2026-01-01'");
        assert_eq!(Dialect::Postgres.string("50%_off").unwrap(), "'50%_off'");
        assert!(Dialect::Postgres.string("a\0").is_err());
        assert_eq!(Dialect::MySql.string("a\0").unwrap(), "_utf8mb4 X'6100'");
    }
}
