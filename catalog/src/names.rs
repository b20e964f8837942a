//! Identifier rules for catalog, schema and table names.
//!
//! Names map to directories, so they are restricted to what is safe there
//! and needs no quoting in SQL: lower-case ASCII letters, digits and `_`,
//! starting with a letter or `_`, at most 63 bytes (PostgreSQL's NAMEDATALEN).

use crate::{CatalogError, Result};

/// PostgreSQL's identifier length limit (NAMEDATALEN - 1).
pub const MAX_NAME_LEN: usize = 63;

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
    use super::validate;

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
