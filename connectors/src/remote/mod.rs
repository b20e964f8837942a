//! Remote SQL sources: RDS PostgreSQL, RDS MySQL and Redshift.
//!
//! ```text
//! config ─▶ Source (sqlx pool, metadata cache) ─▶ RemoteCatalogProvider
//!                                                   │ tables are federated
//! datafusion-federation's rule: largest single-source subplans
//!   ─▶ catalog::RemoteRule: the largest parts render::Renderer can write
//!   ─▶ exec::RemoteExec: COPY binary / cursor / MySQL text ─▶ Arrow
//! ```
//!
//! - [`config`]: `[[source]]` blocks.
//! - [`source`]: pools, introspection, the metadata cache.
//! - [`types`]: source types → Arrow types.
//! - [`render`]: plans → remote SQL, per dialect, safe by construction.
//! - [`dialect`]: how Weir writes identifiers and literals into the SQL it
//!   sends to each kind of source. Weir never relies on a SQL printer's
//!   escaping for names or values (sqlparser's printer leaves a quote after
//!   a backslash undoubled, and reads a doubled quote as already escaped);
//!   every identifier and string literal in remote SQL is written by
//!   [`Dialect::ident`] and [`Dialect::string`].
//! - [`catalog`]: catalogs, tables and their part in federation.
//! - [`exec`], [`pgbinary`]: reading results into Arrow; [`unload`]:
//!   Redshift's UNLOAD to S3 as Parquet, read back.

pub mod catalog;
pub mod config;
pub mod dialect;
pub mod exec;
pub mod flow;
pub mod pgbinary;
pub mod render;
pub mod source;
pub mod types;
pub mod unload;

pub use catalog::{reads_remote, FederateRemote, RemoteCatalogProvider};
pub use config::{SourceConfig, SourceKind};
pub use dialect::{Dialect, UnsendableError};
pub use exec::{RemoteExec, SentLog, SentStatement};
pub use flow::RemoteRowsFlow;
pub use source::{Source, TableMeta};
