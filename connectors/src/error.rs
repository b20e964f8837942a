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
    /// A remote source failed; `sqlstate` is what the client sees.
    #[error("source {source_name}: {message}")]
    Source {
        /// The source's name (its catalog).
        source_name: String,
        /// PostgreSQL SQLSTATE: 08001 unreachable, 08006 connection lost,
        /// 57014 cancelled, or the source's own code.
        sqlstate: String,
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
        sqlstate: &str,
        message: impl Into<String>,
    ) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::External(Box::new(Self::Source {
            source_name: source_name.to_owned(),
            sqlstate: sqlstate.to_owned(),
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
