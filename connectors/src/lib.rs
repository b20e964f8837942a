//! Weir's sources, each exposed to the planner as DataFusion providers.
//!
//! # Layout
//! - [`lake`]: the lake on a local directory: a [`datafusion::catalog::CatalogProvider`]
//!   over a [`weir_catalog::LakeCatalog`], scanning Parquet, CSV and JSON files,
//!   and [`lake::tpch`], the in-process TPC-H generator that writes the demo
//!   data (and the benchmark data) into a lake.
//! - [`error`]: this crate's one error enum.
//!
//! Connectors never import gateway code; the gateway registers their catalog
//! providers in its DataFusion session and maps [`ConnectorError`] to SQLSTATEs.

pub mod error;
pub mod lake;

pub use error::ConnectorError;
