//! Weir's gateway: the `weir` binary's library.
//!
//! # Layout
//! A client's statement flows through these modules, in order:
//!
//! ```text
//! server      accept, connection limit, data dir, demo data
//!  └ wire/startup     TLS negotiation, startup packet, SCRAM auth  (auth: user secrets)
//!  └ wire/connection  simple + extended protocol loop, cancel, timeouts
//!     └ session       parameters, transaction state, statements, portals
//!        ├ statements/  SET, SHOW, BEGIN/COMMIT..., EXPLAIN shape: answered here
//!        └ engine       DataFusion SessionContext over Weir's catalogs
//!           └ connectors (crate)   sources as table providers
//!     └ wire/types    Arrow batches → DataRow bytes (text or binary)
//! error       the one WeirError → SQLSTATE table
//! config      defaults < weir.toml < environment < flags
//! ```
//!
//! The wire layer calls the engine only through [`session::Session`];
//! connectors and the catalog never import this crate.

pub mod auth;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod server;
pub mod session;
pub mod statements;
pub mod wire;
