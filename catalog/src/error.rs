//! The catalog's error enum. The gateway maps each variant to a SQLSTATE.

use std::path::PathBuf;

/// Result alias for catalog operations.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// What can go wrong when reading catalog metadata.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A name that is not a valid identifier for a schema or table.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A table directory mixes data files of several formats.
    #[error("table {table} mixes data file formats ({first:?} and {second:?}) under {location}")]
    MixedFormats {
        /// `catalog.schema.table`.
        table: String,
        /// Directory of the table.
        location: PathBuf,
        /// First format seen.
        first: crate::FileFormat,
        /// Second, conflicting format.
        second: crate::FileFormat,
    },
    /// The storage under a catalog could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl CatalogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
