//! The catalog's error enum. The gateway maps each variant to a SQLSTATE.

use std::path::PathBuf;

/// Result alias for catalog operations.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// What can go wrong with catalog metadata.
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
    /// A configuration value that cannot work (bad location, profile...).
    #[error("{0}")]
    Config(String),
    /// A local file or directory could not be used.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The schema does not exist.
    #[error("schema \"{0}\" does not exist")]
    NoSuchSchema(String),
    /// The table does not exist.
    #[error("relation \"{0}\" does not exist")]
    NoSuchTable(String),
    /// The schema exists already.
    #[error("schema \"{0}\" already exists")]
    SchemaExists(String),
    /// The table exists already.
    #[error("relation \"{0}\" already exists")]
    TableExists(String),
    /// A column that does not exist.
    #[error("column \"{0}\" does not exist")]
    NoSuchColumn(String),
    /// A column that exists already.
    #[error("column \"{0}\" already exists")]
    ColumnExists(String),
    /// A NULL for a NOT NULL column.
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNull {
        /// The column.
        column: String,
        /// `schema.table`.
        table: String,
    },
    /// A change the table format does not allow.
    #[error("{0}")]
    Unsupported(String),
    /// DROP SCHEMA of a schema that still holds tables.
    #[error("cannot drop schema \"{0}\" because other objects depend on it (it holds tables: {1}); use DROP SCHEMA ... CASCADE")]
    SchemaNotEmpty(String, String),
    /// Another writer changed the table first, and retrying did not help.
    #[error("could not commit to {table}: {message}")]
    CommitConflict {
        /// `schema.table`.
        table: String,
        /// Iceberg's message.
        message: String,
    },
    /// A file of a table (data or metadata) could not be read.
    #[error("reading {table}: {problem} {file}: {message}")]
    File {
        /// `schema.table`.
        table: String,
        /// The file's URI.
        file: String,
        /// What is wrong with it.
        problem: FileProblem,
        /// The underlying error, as text.
        message: String,
    },
    /// A commit whose outcome could not be established: the catalog
    /// database failed while the metadata pointer was being moved, and
    /// could not be asked afterwards. The files written are kept.
    #[error(
        "the commit to {table} may or may not have happened: {message}; \
         its {files} data file(s) are kept, and {table}$snapshots shows whether it landed"
    )]
    CommitUnknown {
        /// `schema.table`.
        table: String,
        /// Data files written for the commit.
        files: usize,
        /// What failed.
        message: String,
    },
    /// `CREATE ROLE` of a name that exists.
    #[error("role \"{0}\" already exists")]
    RoleExists(String),
    /// A role that does not exist.
    #[error("role \"{0}\" does not exist")]
    NoSuchRole(String),
    /// `DROP ROLE` of a role that rules still name.
    #[error("role \"{role}\" cannot be dropped because some objects depend on it: {detail}; REVOKE them first")]
    RoleInUse {
        /// The role.
        role: String,
        /// What names it.
        detail: String,
    },
    /// The catalog database failed.
    #[error("catalog database: {0}")]
    Database(String),
    /// An Iceberg operation failed (the message names table and file).
    #[error("{context}: {source}")]
    Iceberg {
        /// What Weir was doing.
        context: String,
        /// Iceberg's error.
        #[source]
        source: Box<iceberg::Error>,
    },
}

/// What is wrong with a file a table refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileProblem {
    /// It is gone (deleted outside the catalog).
    Missing,
    /// It is there but is not a valid file of its format.
    Corrupt,
    /// It could not be read (storage unreachable, permissions, ...).
    Unreadable,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing file",
            Self::Corrupt => "corrupt file",
            Self::Unreadable => "cannot read file",
        })
    }
}

impl CatalogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wrap an Iceberg error with what was being done.
    pub fn iceberg(context: impl Into<String>, source: iceberg::Error) -> Self {
        let context = context.into();
        match source.kind() {
            iceberg::ErrorKind::CatalogCommitConflicts => Self::CommitConflict {
                table: context,
                message: source.message().to_owned(),
            },
            _ => Self::Iceberg {
                context,
                source: Box::new(source),
            },
        }
    }
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
