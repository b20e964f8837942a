//! This crate's one error enum; the gateway maps each variant to a SQLSTATE.

use datafusion::error::DataFusionError;

/// Result alias for policy work.
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;

/// Why a statement may not go ahead, or why policies could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A table the user may not see at all: answered exactly as a missing
    /// one (`42P01`), so its existence does not leak.
    #[error("relation \"{0}\" does not exist")]
    Hidden(String),
    /// A visible table the user may not read (`42501`).
    #[error("permission denied for table {0}")]
    TableDenied(String),
    /// A column the statement uses that the user may not read (`42501`).
    #[error("permission denied for column \"{column}\" of relation \"{table}\"")]
    ColumnDenied {
        /// The table, as the statement resolved it.
        table: String,
        /// The column.
        column: String,
    },
    /// Any other action the user holds no privilege for (`42501`).
    #[error("permission denied to {action} {object}")]
    Denied {
        /// What was attempted (`insert into`, `create in`, …).
        action: String,
        /// The object, as `catalog.schema.table` (or shorter).
        object: String,
    },
    /// No privilege for a write or DDL (`42501`): `table t`, `schema s`.
    #[error("permission denied for {0}")]
    NoPrivilege(String),
    /// Files a user may not register as a table of their own (`42501`):
    /// outside the lake, or holding (or inside) a table they may not read
    /// whole. The message names the location as written, never the table.
    #[error("permission denied for location \"{0}\": a table's location must be inside the lake, and hold or be inside only tables you may read whole")]
    Location(String),
    /// Registering files by location needs superuser or membership of
    /// `pg_read_server_files` (`42501`).
    #[error("permission denied to register \"{0}\" as a table: only superusers and members of pg_read_server_files may")]
    ReadServerFiles(String),
    /// An external table whose folder holds (or is inside) a table the
    /// reader may not read whole (`42501`), named as the statement
    /// resolved it.
    #[error("permission denied for table {0}: its files hold or are inside a table you may not read whole")]
    Files(String),
    /// Only superusers may do this (`42501`).
    #[error("permission denied: {0} requires the SUPERUSER attribute")]
    SuperuserOnly(String),
    /// A stored row filter or mask that no longer plans (`42P17`): the
    /// statement fails rather than read without it.
    #[error("{what} cannot be applied: {message}")]
    Broken {
        /// Which rule.
        what: String,
        /// Why.
        message: String,
    },
    /// The rules in force could not be confirmed against the catalog
    /// database for too long (`57P03`): statements of non-superusers fail
    /// until they are.
    #[error("cannot confirm the access rules in force: the catalog database has not answered for {seconds} s")]
    Unconfirmed {
        /// Since when, in seconds.
        seconds: u64,
    },
    /// The access model or a rule could not be evaluated (`XX000`).
    #[error("access rules: {0}")]
    Model(String),
    /// The catalog database failed.
    #[error(transparent)]
    Catalog(#[from] weir_catalog::CatalogError),
    /// Rewriting the plan failed.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}
