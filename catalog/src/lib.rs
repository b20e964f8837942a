//! Weir's catalog: the metadata of what can be queried.
//!
//! A *catalog* (`lake`, later RDS and Redshift sources) holds *schemas*, which
//! hold *tables*; every table has a location and a storage format. Tables are
//! addressed as `catalog.schema.table`, like Trino.
//!
//! # Layout
//! - [`names`]: identifier rules shared by every catalog (what a valid name is).
//! - [`lake`]: the lake catalog over a directory tree,
//!   `<root>/<schema>/<table>/<data files>`; the embedded default.
//! - [`error`]: this crate's one error enum.
//!
//! This crate knows nothing of DataFusion or the wire protocol: connectors turn
//! its [`TableEntry`]s into scans, the gateway maps its errors to SQLSTATEs.
#![deny(missing_docs)]

pub mod error;
pub mod lake;
pub mod names;

pub use error::{CatalogError, Result};
pub use lake::LakeCatalog;

use std::path::PathBuf;

/// Storage format of a table's data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Apache Parquet (`*.parquet`).
    Parquet,
    /// Comma-separated values with a header line (`*.csv`).
    Csv,
    /// Newline-delimited JSON (`*.json`, `*.jsonl`, `*.ndjson`).
    Json,
}

impl FileFormat {
    /// The format a data file's extension announces, if any.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "parquet" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "json" | "jsonl" | "ndjson" => Some(Self::Json),
            _ => None,
        }
    }

    /// The canonical file extension (with the dot) of this format.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Parquet => ".parquet",
            Self::Csv => ".csv",
            Self::Json => ".json",
        }
    }
}

/// One table as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    /// Catalog name, e.g. `lake`.
    pub catalog: String,
    /// Schema name, e.g. `tpch`.
    pub schema: String,
    /// Table name, e.g. `orders`.
    pub name: String,
    /// Directory holding the table's data files.
    pub location: PathBuf,
    /// Format of the data files.
    pub format: FileFormat,
}

impl TableEntry {
    /// `catalog.schema.table`, for messages.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}
