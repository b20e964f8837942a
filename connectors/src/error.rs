//! The connectors' error enum.

use std::path::PathBuf;

/// What can go wrong inside a connector.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Catalog metadata could not be read.
    #[error(transparent)]
    Catalog(#[from] weir_catalog::CatalogError),
    /// Writing data into the lake failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading or writing a table's files failed; `what` names the table
    /// (and the file, when known). The client sees the SQLSTATE of
    /// `source`, with `what` in front.
    #[error("{what}: {source}")]
    Context {
        /// `reading s.t from <file>`, `writing s.t`.
        what: String,
        /// The error reading it.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A remote source failed; `fault` says how (the gateway picks the
    /// SQLSTATE the client sees from it).
    #[error("source {source_name}: {message}")]
    Source {
        /// The source's name (its catalog).
        source_name: String,
        /// What kind of failure it was.
        fault: SourceFault,
        /// What went wrong, with the source's message.
        message: String,
    },
    /// A source value the column's Arrow type cannot hold exactly (22003):
    /// Weir fails rather than change a value.
    #[error("column \"{column}\": {message}")]
    OutOfRange {
        /// The column, as the client sees it.
        column: String,
        /// The value and the type it does not fit.
        message: String,
    },
    /// A DataFusion error while building a scan.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

/// How a remote source failed: what the connector knows, not yet a
/// SQLSTATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFault {
    /// No connection could be made (refused, timed out, TLS failed).
    Unreachable,
    /// The connection broke while a statement used it.
    Lost,
    /// The connection pool was closed (the source is being shut down).
    Closed,
    /// The source broke its wire protocol.
    Protocol,
    /// The source stopped the statement (a timeout or a cancel).
    Cancelled,
    /// The source refused the statement with an error code of its own.
    Remote(RemoteCode),
    /// Anything else (a driver fault).
    Other,
}

/// An error code as a source reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteCode {
    /// PostgreSQL or Redshift: a SQLSTATE in PostgreSQL's own table.
    Postgres(String),
    /// MySQL or MariaDB: its ODBC-style SQLSTATE and its error number.
    Mysql {
        /// The SQLSTATE (`42S02`, `23000`, `HY000`...).
        sqlstate: String,
        /// The server's error number (`1146` no such table...).
        number: u16,
    },
}

impl From<ConnectorError> for datafusion::error::DataFusionError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::DataFusion(e) => e,
            e => Self::External(Box::new(e)),
        }
    }
}

impl ConnectorError {
    /// `source`, with `what` (naming the table, and the file when known)
    /// in front of its message, as DataFusion carries it.
    pub fn context(
        what: String,
        source: datafusion::error::DataFusionError,
    ) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::External(Box::new(Self::Context { what, source }))
    }

    /// A source error, wrapped as DataFusion carries it.
    pub(crate) fn source(
        source_name: &str,
        fault: SourceFault,
        message: impl Into<String>,
    ) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::External(Box::new(Self::Source {
            source_name: source_name.to_owned(),
            fault,
            message: message.into(),
        }))
    }

    pub(crate) fn write(
        path: impl Into<PathBuf>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Write {
            path: path.into(),
            source: source.into(),
        }
    }
}
