//! Weir's sources, each exposed to the planner as DataFusion providers.
//!
//! # Layout
//! - [`lake`]: the lakehouse: Iceberg tables (read with file pruning,
//!   written with optimistic commits) and external tables over raw Parquet,
//!   CSV and JSON files, all through the [`weir_catalog::Lakehouse`]
//!   catalog; [`lake::tpch`] writes TPC-H data (demo and benchmarks).
//! - [`remote`]: SQL sources (PostgreSQL, MySQL, Redshift): the dialect
//!   rules for the SQL Weir sends them.
//! - [`error`]: this crate's one error enum.
//!
//! Connectors never import gateway code; the gateway registers their catalog
//! providers in its DataFusion session and maps [`ConnectorError`] to SQLSTATEs.

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod error;
pub mod lake;
pub mod remote;

pub use error::{ConnectorError, RemoteCode, SourceFault};
