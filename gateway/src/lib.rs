//! Weir's gateway: the `weir` binary's library.
//!
//! # Layout
//! A client's statement flows through these modules, in order:
//!
//! ```text
//! server      accept, connection limit, data dir, demo data; builds state
//!  └ wire/startup     TLS negotiation, startup packet, then auth:
//!     └ auth          auth/rules picks the method per user and address
//!                     ([[auth.rules]]), locks out repeated failures, audits
//!                     the attempt; scram, jwt, ldap each → Principal
//!  └ wire/connection  the message loop: Sync, flushes, fatal errors
//!     ├ wire/query     simple protocol;  wire/extended  Parse/Bind/Execute...
//!     ├ wire/scope     a StatementScope per statement (cancel token,
//!     │                deadline, span) and the guard around its work
//!     ├ wire/rows      RowDescription, DataRows with backpressure, FETCH
//!     └ session       the session API: parse, prepare, bind, start, close
//!        ├ session/parse     routes SQL by its leading tokens
//!        ├ session/prepare   classify, plan, parameter types
//!        ├ statements/       SET, SHOW, BEGIN/COMMIT..., EXPLAIN shape
//!        ├ session/plan      the one planning door (statement → LogicalPlan)
//!        ├ session/execute   start a statement; session/commands the rest
//!        └ session/portal    bound statements and cursors
//!           └ engine       DataFusion SessionContext over Weir's catalogs,
//!                          runtime, memory, admission
//!              └ connectors (crate)   lake and remote sources
//!     └ pgtypes (crate)  Arrow batches → DataRow bytes, Bind values → scalars
//! audit       one JSON record per login and statement (file + memory)
//! state       what connections share (engine, authenticator, registry)
//! registry    live sessions: backend keys, principals, running statements
//! error       the one WeirError → SQLSTATE table
//! config      defaults < weir.toml < environment < flags
//! ```
//!
//! `wire` reaches planning and execution only through [`session::Session`];
//! `session` and `engine` never import `wire`, and `state` imports neither
//! `server` nor `wire`. Connectors and the catalog never import this crate.

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod registry;
pub mod server;
pub mod session;
pub mod state;
pub mod statements;
pub mod wire;
