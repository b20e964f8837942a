//! What can go wrong converting values between PostgreSQL and Arrow.
//!
//! Each variant says what kind of fault it is, so the gateway maps it to
//! its SQLSTATE in its one table; this crate knows no SQLSTATE.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value that could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text that is not a value of its type (PostgreSQL's `22P02`).
    #[error("invalid input syntax for type {type_name}: \"{text}\"")]
    InvalidText {
        /// The PostgreSQL type's name.
        type_name: &'static str,
        /// The text as received.
        text: String,
    },
    /// A value too big for its type (`22003`).
    #[error("value \"{text}\" is out of range for type {type_name}")]
    OutOfRange {
        /// The PostgreSQL type's name.
        type_name: &'static str,
        /// The value as received.
        text: String,
    },
    /// Bytes that are not UTF-8, in the place named.
    #[error("invalid byte sequence for encoding \"UTF8\" in {0}")]
    InvalidUtf8(&'static str),
    /// A binary value that does not have its type's layout.
    #[error("{0}")]
    Malformed(String),
    /// A type this crate cannot convert in the format asked for.
    #[error("{0}")]
    NotSupported(String),
    /// Arrow could not cast or format a column.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// DataFusion could not make a scalar of a type.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// Writing into a buffer failed (a bug).
    #[error("cannot format value")]
    Format,
}

impl Error {
    pub(crate) fn invalid_text(type_oid: u32, text: &str) -> Self {
        Self::InvalidText {
            type_name: crate::oid::type_name(type_oid),
            text: text.to_owned(),
        }
    }

    pub(crate) fn out_of_range(type_oid: u32, text: &str) -> Self {
        Self::OutOfRange {
            type_name: crate::oid::type_name(type_oid),
            text: text.to_owned(),
        }
    }
}

/// Whether Arrow's message for a failed cast says the value was too big
/// (else the text was not a value of the type at all). Arrow's cast errors
/// carry only a message, so this is the one place that reads it.
pub fn cast_overflowed(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("overflow")
        || lower.contains("out of range")
        || lower.contains("too large")
        || lower.starts_with("can't cast value")
}

/// Whether a failed scalar cast failed because the value was too big.
pub(crate) fn overflowed(e: &DataFusionError) -> bool {
    match e.find_root() {
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::ArithmeticOverflow(_) => true,
            ArrowError::CastError(m) | ArrowError::ParseError(m) => cast_overflowed(m),
            ArrowError::ComputeError(m) => m.to_ascii_lowercase().contains("overflow"),
            _ => false,
        },
        other => other.to_string().to_ascii_lowercase().contains("overflow"),
    }
}
