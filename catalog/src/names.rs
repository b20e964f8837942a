//! Identifier rules for catalog, schema and table names, and the one
//! reading of the names that reach a table by way of another
//! ([`TableName`]: time travel, metadata tables).
//!
//! Names map to directories, so they are restricted to what is safe there
//! and needs no quoting in SQL: lower-case ASCII letters, digits and `_`,
//! starting with a letter or `_`, at most 63 bytes (PostgreSQL's NAMEDATALEN).

use crate::{CatalogError, Result};

/// PostgreSQL's identifier length limit (NAMEDATALEN - 1).
pub const MAX_NAME_LEN: usize = 63;

/// A table name as a statement writes it: the table itself, the table as
/// of a snapshot or time (`orders@123`, `orders@2026-01-01`), or one of
/// its Iceberg metadata tables (`orders$snapshots`). Listings, the access
/// rules and the lake's resolver all read names this way: `$` first, so
/// `t@x$files` is a metadata table of `t@x`, which no table is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableName<'a> {
    /// `t`.
    Plain(&'a str),
    /// `t@at`: the table as of a snapshot id or a time.
    AsOf {
        /// The table.
        base: &'a str,
        /// What follows `@`.
        at: &'a str,
    },
    /// `t$kind`: a metadata table of `t`.
    Metadata {
        /// The table.
        base: &'a str,
        /// What follows `$` (`snapshots`, `files`, …).
        kind: &'a str,
    },
}

impl<'a> TableName<'a> {
    /// Read `name`.
    pub fn parse(name: &'a str) -> Self {
        if let Some((base, kind)) = name.split_once('$') {
            return Self::Metadata { base, kind };
        }
        match name.split_once('@') {
            Some((base, at)) => Self::AsOf { base, at },
            None => Self::Plain(name),
        }
    }

    /// The table it reaches: whose rules apply and whose listing shows it.
    pub fn base(&self) -> &'a str {
        match *self {
            Self::Plain(base) | Self::AsOf { base, .. } | Self::Metadata { base, .. } => base,
        }
    }
}

/// Whether `name` is a valid catalog, schema or table name.
pub fn validate(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("names must not be empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("names are at most 63 bytes")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("names use lower-case ASCII letters, digits and '_'")
    } else if name.as_bytes()[0].is_ascii_digit() {
        Some("names start with a letter or '_'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CatalogError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{validate, TableName};

    #[test]
    fn table_names_reach_their_table() {
        for (name, read, base) in [
            ("orders", TableName::Plain("orders"), "orders"),
            (
                "orders@42",
                TableName::AsOf {
                    base: "orders",
                    at: "42",
                },
                "orders",
            ),
            (
                "orders$snapshots",
                TableName::Metadata {
                    base: "orders",
                    kind: "snapshots",
                },
                "orders",
            ),
            (
                "t@x$files",
                TableName::Metadata {
                    base: "t@x",
                    kind: "files",
                },
                "t@x",
            ),
            ("@", TableName::AsOf { base: "", at: "" }, ""),
        ] {
            assert_eq!(TableName::parse(name), read, "{name}");
            assert_eq!(TableName::parse(name).base(), base, "{name}");
        }
    }

    #[test]
    fn accepts_plain_identifiers() {
        for ok in ["tpch", "lineitem", "_x", "a1_b2"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_is_unsafe_as_a_directory_or_needs_quoting() {
        for bad in [
            "",
            "..",
            "a/b",
            "Upper",
            "1abc",
            "a b",
            "a-b",
            &"x".repeat(64),
        ] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
