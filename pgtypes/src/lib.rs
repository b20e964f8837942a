//! PostgreSQL's types for Arrow data, in one place: the type OIDs Weir
//! speaks, how an Arrow field is described to a client, and the value codecs
//! in both directions.
//!
//! # Layout
//! - [`oid`]: the one OID table (scalar and array types) and type names.
//! - [`mapping`]: Arrow field → [`PgType`] (OID, length, typmod) for
//!   RowDescription, and OID → Arrow type for parameters.
//! - [`encode`]: result rows as DataRow messages, text or binary.
//! - [`decode`]: Bind parameters (text or binary) into DataFusion scalars.
//! - [`numeric`]: decimals and PostgreSQL `numeric`, text and binary, both ways.
//! - [`datetime`]: PostgreSQL's epoch, date/time/interval text, ISO input.
//! - [`text`]: floats, bytea and uuid as PostgreSQL prints them.
//! - [`timezone`]: the session `TimeZone`.
//! - [`error`]: this crate's error type; callers map it to SQLSTATEs.
//!
//! The gateway uses it to describe and encode results and decode
//! parameters; the PostgreSQL connector uses the same OIDs and codecs to
//! read binary COPY streams.

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod datetime;
pub mod decode;
pub mod encode;
pub mod error;
pub mod mapping;
pub mod numeric;
pub mod oid;
pub mod text;
pub mod timezone;

pub use decode::{decode_param, parse_bool, parse_text};
pub use encode::{canonical_batch, RowEncoder, TextOptions};
pub use error::{Error, Result};
pub use mapping::{arrow_type_of_oid, pg_type, PgType, PG_TYPE_METADATA};
pub use oid::{array_oid, type_name};
pub use timezone::{parse_timezone, SessionTz};

/// What a text encoder writes, as a string (for tests).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_text(f: impl FnOnce(&mut bytes::BytesMut)) -> String {
    let mut b = bytes::BytesMut::new();
    f(&mut b);
    String::from_utf8(b.to_vec()).unwrap()
}
