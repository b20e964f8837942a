//! Weir's catalog: the metadata of what can be queried, and where it lives.
//!
//! The `lake` catalog is an Apache Iceberg catalog: schemas are Iceberg
//! namespaces, tables are Iceberg tables (or external tables over raw files),
//! all kept in a SQL catalog database (SQLite embedded, PostgreSQL shared)
//! that other Iceberg engines (PyIceberg, Spark) can open too.
//!
//! # Layout
//! - [`location`]: where the lake is (a directory or `s3://bucket/prefix`).
//! - [`store`]: the lake's object store and S3 settings.
//! - [`iceberg_io`]: Iceberg's file I/O on that object store.
//! - [`lakehouse`]: namespaces, Iceberg tables, external table registrations.
//! - [`access`]: roles, memberships and privilege rules (who may do what).
//! - [`names`]: identifier rules.
//! - [`error`]: this crate's one error enum.
//!
//! This crate knows nothing of DataFusion or the wire protocol: connectors
//! turn its tables into scans, the gateway maps its errors to SQLSTATEs.
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod access;
pub mod error;
pub mod iceberg_io;
pub mod lakehouse;
pub mod location;
pub mod names;
pub mod store;

pub use access::AccessStore;
pub use error::{CatalogError, FileProblem, Result};
pub use lakehouse::{ExternalTable, LakeConfig, Lakehouse};
pub use location::LakeLocation;
pub use store::S3Options;

use serde::{Deserialize, Serialize};

/// Storage format of raw data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet (`*.parquet`).
    Parquet,
    /// Comma-separated values (`*.csv`).
    Csv,
    /// Newline-delimited JSON (`*.json`, `*.jsonl`, `*.ndjson`).
    Json,
}

impl FileFormat {
    /// The format named in `STORED AS` or by a file extension.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
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
