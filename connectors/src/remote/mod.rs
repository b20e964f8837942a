//! Remote SQL sources: RDS PostgreSQL, RDS MySQL and Redshift.
//!
//! - [`dialect`]: how Weir writes identifiers and literals into the SQL it
//!   sends to each kind of source. Weir never relies on a SQL printer's
//!   escaping for names or values (sqlparser's printer leaves a quote after
//!   a backslash undoubled, and reads a doubled quote as already escaped);
//!   every identifier and string literal in remote SQL is written by
//!   [`Dialect::ident`] and [`Dialect::string`].

pub mod dialect;

pub use dialect::{Dialect, UnsendableError};
