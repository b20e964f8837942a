//! The gateway's error enum and the one table that maps every error Weir
//! can raise to a PostgreSQL SQLSTATE.
//!
//! Errors from DataFusion, the catalog and connectors arrive wrapped; the
//! mapping walks down to the root cause so that, for instance, a division by
//! zero deep inside a join still reaches the client as `22012`.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

/// Result alias for the gateway.
pub type Result<T, E = WeirError> = std::result::Result<T, E>;

/// Every error the gateway reports to a client, by phase.
#[derive(Debug, thiserror::Error)]
pub enum WeirError {
    /// The client broke the wire protocol.
    #[error("{0}")]
    Protocol(String),
    /// A protocol message larger than the limit in force.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Declared length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Text that is not valid UTF-8 (the only encoding Weir speaks).
    #[error("invalid byte sequence for encoding \"UTF8\" in {0}")]
    InvalidUtf8(&'static str),
    /// Authentication failed.
    #[error("password authentication failed for user \"{0}\"")]
    BadPassword(String),
    /// A token or directory login that failed; `reason` is empty when
    /// saying more would tell whether the user exists.
    #[error("{method} authentication failed for user \"{user}\"{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    LoginFailed {
        /// `JWT`, `LDAP`.
        method: &'static str,
        /// The user named at startup.
        user: String,
        /// Why (for tokens: expired, wrong audience, ...).
        reason: String,
    },
    /// The connection may not authenticate this way (e.g. cleartext without TLS).
    #[error("{0}")]
    AuthRejected(String),
    /// SQL that does not parse.
    #[error("{message}")]
    Syntax {
        /// Parser message.
        message: String,
        /// 1-based character position in the statement text.
        position: Option<usize>,
    },
    /// The database (catalog) named at connection time does not exist.
    #[error("database \"{0}\" does not exist")]
    UnknownCatalog(String),
    /// A run-time parameter that does not exist.
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownParameter(String),
    /// A parameter clients may read but not change.
    #[error("parameter \"{0}\" cannot be changed")]
    ReadOnlyParameter(&'static str),
    /// A bad value for a parameter or option.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A value that does not parse as its type.
    #[error("{0}")]
    InvalidTextRepresentation(String),
    /// A command that may not run inside a transaction block.
    #[error("{0}")]
    ActiveTransaction(&'static str),
    /// Parse of a named statement that exists.
    #[error("prepared statement \"{0}\" already exists")]
    DuplicateStatement(String),
    /// Bind to a named portal that exists.
    #[error("portal \"{0}\" already exists")]
    DuplicatePortal(String),
    /// An unknown portal.
    #[error("{0}")]
    UnknownPortal(String),
    /// A savepoint command outside a transaction block.
    #[error("{0}")]
    NoActiveTransaction(&'static str),
    /// `ROLLBACK TO` / `RELEASE` of an unknown savepoint.
    #[error("savepoint \"{0}\" does not exist")]
    UnknownSavepoint(String),
    /// A number that does not fit its type.
    #[error("{0}")]
    NumericOutOfRange(String),
    /// A scalar subquery that returned more than one row.
    #[error("more than one row returned by a subquery used as an expression")]
    CardinalityViolation,
    /// An unknown prepared statement or portal.
    #[error("{0}")]
    UnknownStatement(String),
    /// A statement sent while the transaction block is aborted.
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    /// A statement that would write inside a read-only transaction.
    #[error("{0}")]
    ReadOnlyTransaction(String),
    /// The query was canceled by the client.
    #[error("canceling statement due to user request")]
    Canceled,
    /// The query ran past `statement_timeout`.
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    /// The server is shutting down: the session ends.
    #[error("terminating connection due to administrator command")]
    Shutdown,
    /// An expression nested deeper than Weir plans.
    #[error("stack depth limit exceeded: an expression nests more than {limit} levels deep")]
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
    /// No room to run the statement now (admission queue full or waited too long).
    #[error("{0}")]
    Busy(String),
    /// A feature Weir does not have.
    #[error("{0}")]
    NotSupported(String),
    /// An object that is in use (the session's own role).
    #[error("{0}")]
    ObjectInUse(String),
    /// A GRANT that cannot be (a membership cycle, a privilege the object
    /// does not have).
    #[error("{0}")]
    InvalidGrant(String),
    /// A column named in a statement that the table does not have.
    #[error("{0}")]
    UndefinedColumn(String),
    /// A table a statement names that does not exist, or that the user may
    /// not see at all (the two answer alike).
    #[error("{0}")]
    UndefinedTable(String),
    /// A catalog or other object that does not exist.
    #[error("{0}")]
    UnknownObject(String),
    /// An object that exists already (a policy of that name).
    #[error("{0}")]
    DuplicateObject(String),
    /// An expression of the wrong type.
    #[error("{0}")]
    DatatypeMismatch(String),
    /// A name PostgreSQL reserves (`public`, `pg_*`).
    #[error("{0}")]
    ReservedName(String),
    /// Access rules refused the statement, or could not be read.
    #[error(transparent)]
    Policy(#[from] weir_policies::PolicyError),
    /// An error from planning or execution.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// A catalog error (schemas, tables, commits).
    #[error(transparent)]
    Catalog(#[from] weir_catalog::CatalogError),
    /// The socket failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A SQLSTATE: five digits or capitals, named as in PostgreSQL's
/// `errcodes.txt`. The names below are the codes Weir itself raises; a
/// source's own code passes through [`SqlState::from_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState(&'static str);

impl SqlState {
    /// `25001` active_sql_transaction
    pub const ACTIVE_SQL_TRANSACTION: Self = Self("25001");
    /// `57P01` admin_shutdown
    pub const ADMIN_SHUTDOWN: Self = Self("57P01");
    /// `57P03` cannot_connect_now
    pub const CANNOT_CONNECT_NOW: Self = Self("57P03");
    /// `42702` ambiguous_column
    pub const AMBIGUOUS_COLUMN: Self = Self("42702");
    /// `55P02` cant_change_runtime_param
    pub const CANT_CHANGE_RUNTIME_PARAM: Self = Self("55P02");
    /// `22021` character_not_in_repertoire
    pub const CHARACTER_NOT_IN_REPERTOIRE: Self = Self("22021");
    /// `08006` connection_failure
    pub const CONNECTION_FAILURE: Self = Self("08006");
    /// `42804` datatype_mismatch
    pub const DATATYPE_MISMATCH: Self = Self("42804");
    /// `21000` cardinality_violation
    pub const CARDINALITY_VIOLATION: Self = Self("21000");
    /// `XX001` data_corrupted
    pub const DATA_CORRUPTED: Self = Self("XX001");
    /// `2BP01` dependent_objects_still_exist
    pub const DEPENDENT_OBJECTS_STILL_EXIST: Self = Self("2BP01");
    /// `22012` division_by_zero
    pub const DIVISION_BY_ZERO: Self = Self("22012");
    /// `42701` duplicate_column
    pub const DUPLICATE_COLUMN: Self = Self("42701");
    /// `53300` too_many_connections
    pub const TOO_MANY_CONNECTIONS: Self = Self("53300");
    /// `42P03` duplicate_cursor
    pub const DUPLICATE_CURSOR: Self = Self("42P03");
    /// `42P05` duplicate_prepared_statement
    pub const DUPLICATE_PREPARED_STATEMENT: Self = Self("42P05");
    /// `00000` successful_completion (the code of plain notices)
    pub const SUCCESSFUL_COMPLETION: Self = Self("00000");
    /// `01000` warning
    pub const WARNING: Self = Self("01000");
    /// `55006` object_in_use
    pub const OBJECT_IN_USE: Self = Self("55006");
    /// `0LP01` invalid_grant_operation
    pub const INVALID_GRANT_OPERATION: Self = Self("0LP01");
    /// `42939` reserved_name
    pub const RESERVED_NAME: Self = Self("42939");
    /// `42P17` invalid_object_definition
    pub const INVALID_OBJECT_DEFINITION: Self = Self("42P17");
    /// `42710` duplicate_object
    pub const DUPLICATE_OBJECT: Self = Self("42710");
    /// `42P06` duplicate_schema
    pub const DUPLICATE_SCHEMA: Self = Self("42P06");
    /// `42P07` duplicate_table
    pub const DUPLICATE_TABLE: Self = Self("42P07");
    /// `0A000` feature_not_supported
    pub const FEATURE_NOT_SUPPORTED: Self = Self("0A000");
    /// `53000` insufficient_resources
    pub const INSUFFICIENT_RESOURCES: Self = Self("53000");
    /// `XX000` internal_error
    pub const INTERNAL_ERROR: Self = Self("XX000");
    /// `28000` invalid_authorization_specification
    pub const INVALID_AUTHORIZATION_SPECIFICATION: Self = Self("28000");
    /// `3D000` invalid_catalog_name
    pub const INVALID_CATALOG_NAME: Self = Self("3D000");
    /// `34000` invalid_cursor_name
    pub const INVALID_CURSOR_NAME: Self = Self("34000");
    /// `42602` invalid_name
    pub const INVALID_NAME: Self = Self("42602");
    /// `22023` invalid_parameter_value
    pub const INVALID_PARAMETER_VALUE: Self = Self("22023");
    /// `28P01` invalid_password
    pub const INVALID_PASSWORD: Self = Self("28P01");
    /// `3B001` invalid_savepoint_specification
    pub const INVALID_SAVEPOINT_SPECIFICATION: Self = Self("3B001");
    /// `3F000` invalid_schema_name
    pub const INVALID_SCHEMA_NAME: Self = Self("3F000");
    /// `26000` invalid_sql_statement_name
    pub const INVALID_SQL_STATEMENT_NAME: Self = Self("26000");
    /// `22P02` invalid_text_representation
    pub const INVALID_TEXT_REPRESENTATION: Self = Self("22P02");
    /// `25P02` in_failed_sql_transaction
    pub const IN_FAILED_SQL_TRANSACTION: Self = Self("25P02");
    /// `58030` io_error
    pub const IO_ERROR: Self = Self("58030");
    /// `23502` not_null_violation
    pub const NOT_NULL_VIOLATION: Self = Self("23502");
    /// `25P01` no_active_sql_transaction
    pub const NO_ACTIVE_SQL_TRANSACTION: Self = Self("25P01");
    /// `22003` numeric_value_out_of_range
    pub const NUMERIC_VALUE_OUT_OF_RANGE: Self = Self("22003");
    /// `53200` out_of_memory
    pub const OUT_OF_MEMORY: Self = Self("53200");
    /// `08P01` protocol_violation
    pub const PROTOCOL_VIOLATION: Self = Self("08P01");
    /// `57014` query_canceled
    pub const QUERY_CANCELED: Self = Self("57014");
    /// `25006` read_only_sql_transaction
    pub const READ_ONLY_SQL_TRANSACTION: Self = Self("25006");
    /// `40001` serialization_failure
    pub const SERIALIZATION_FAILURE: Self = Self("40001");
    /// `08001` sqlclient_unable_to_establish_sqlconnection
    pub const SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: Self = Self("08001");
    /// `40003` statement_completion_unknown
    pub const STATEMENT_COMPLETION_UNKNOWN: Self = Self("40003");
    /// `54001` statement_too_complex
    pub const STATEMENT_TOO_COMPLEX: Self = Self("54001");
    /// `42601` syntax_error
    pub const SYNTAX_ERROR: Self = Self("42601");
    /// `58000` system_error
    pub const SYSTEM_ERROR: Self = Self("58000");
    /// `42703` undefined_column
    pub const UNDEFINED_COLUMN: Self = Self("42703");
    /// `58P01` undefined_file
    pub const UNDEFINED_FILE: Self = Self("58P01");
    /// `42883` undefined_function
    pub const UNDEFINED_FUNCTION: Self = Self("42883");
    /// `42704` undefined_object
    pub const UNDEFINED_OBJECT: Self = Self("42704");
    /// `42P01` undefined_table
    pub const UNDEFINED_TABLE: Self = Self("42P01");
    /// `08003` connection_does_not_exist
    pub const CONNECTION_DOES_NOT_EXIST: Self = Self("08003");
    /// `40P01` deadlock_detected
    pub const DEADLOCK_DETECTED: Self = Self("40P01");
    /// `23503` foreign_key_violation
    pub const FOREIGN_KEY_VIOLATION: Self = Self("23503");
    /// `42501` insufficient_privilege
    pub const INSUFFICIENT_PRIVILEGE: Self = Self("42501");
    /// `23000` integrity_constraint_violation
    pub const INTEGRITY_CONSTRAINT_VIOLATION: Self = Self("23000");
    /// `22007` invalid_datetime_format
    pub const INVALID_DATETIME_FORMAT: Self = Self("22007");
    /// `55P03` lock_not_available
    pub const LOCK_NOT_AVAILABLE: Self = Self("55P03");
    /// `42000` syntax_error_or_access_rule_violation
    pub const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: Self = Self("42000");
    /// `23505` unique_violation
    pub const UNIQUE_VIOLATION: Self = Self("23505");

    /// A code reported by a source. Only well-formed codes are kept (five
    /// digits or capitals); anything else is [`SqlState::INTERNAL_ERROR`].
    pub fn from_code(code: &str) -> Self {
        Self(interned(code))
    }

    /// The five characters.
    pub fn code(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<&str> for SqlState {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// What a client is told: SQLSTATE, message and optional fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// The SQLSTATE.
    pub code: SqlState,
    /// Primary message, naming the object that is wrong.
    pub message: String,
    /// Optional detail.
    pub detail: Option<String>,
    /// Optional hint.
    pub hint: Option<String>,
    /// 1-based character position in the query text.
    pub position: Option<usize>,
    /// `FATAL` errors close the connection.
    pub fatal: bool,
}

impl ClientError {
    fn new(code: SqlState, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
            fatal: false,
        }
    }

    fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

impl WeirError {
    /// Whether this error says more about the server than about the input:
    /// those are logged; user errors are not.
    pub fn is_server_fault(&self) -> bool {
        let e = self.to_client();
        e.code.code().starts_with("XX")
            || e.code.code().starts_with("58")
            || e.code == SqlState::OUT_OF_MEMORY
    }

    /// The one SQLSTATE table.
    pub fn to_client(&self) -> ClientError {
        use WeirError::*;
        match self {
            Protocol(m) => ClientError::new(SqlState::PROTOCOL_VIOLATION, m.clone()),
            MessageTooLarge { .. } => {
                ClientError::new(SqlState::PROTOCOL_VIOLATION, self.to_string())
            }
            InvalidUtf8(_) => {
                ClientError::new(SqlState::CHARACTER_NOT_IN_REPERTOIRE, self.to_string())
            }
            BadPassword(_) | LoginFailed { .. } => ClientError {
                fatal: true,
                ..ClientError::new(SqlState::INVALID_PASSWORD, self.to_string())
            },
            AuthRejected(m) => ClientError {
                fatal: true,
                ..ClientError::new(SqlState::INVALID_AUTHORIZATION_SPECIFICATION, m.clone())
            },
            Syntax { message, position } => ClientError {
                position: *position,
                ..ClientError::new(SqlState::SYNTAX_ERROR, message.clone())
            },
            UnknownCatalog(_) => ClientError {
                fatal: true,
                ..ClientError::new(SqlState::INVALID_CATALOG_NAME, self.to_string())
            },
            UnknownParameter(_) => ClientError::new(SqlState::UNDEFINED_OBJECT, self.to_string()),
            ReadOnlyParameter(_) => {
                ClientError::new(SqlState::CANT_CHANGE_RUNTIME_PARAM, self.to_string())
            }
            InvalidParameterValue(m) => {
                ClientError::new(SqlState::INVALID_PARAMETER_VALUE, m.clone())
            }
            InvalidTextRepresentation(m) => {
                ClientError::new(SqlState::INVALID_TEXT_REPRESENTATION, m.clone())
            }
            UnknownStatement(m) => {
                ClientError::new(SqlState::INVALID_SQL_STATEMENT_NAME, m.clone())
            }
            NumericOutOfRange(m) => {
                ClientError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, m.clone())
            }
            NoActiveTransaction(m) => {
                ClientError::new(SqlState::NO_ACTIVE_SQL_TRANSACTION, (*m).to_owned())
            }
            DuplicateStatement(_) => {
                ClientError::new(SqlState::DUPLICATE_PREPARED_STATEMENT, self.to_string())
            }
            DuplicatePortal(_) => ClientError::new(SqlState::DUPLICATE_CURSOR, self.to_string()),
            UnknownPortal(m) => ClientError::new(SqlState::INVALID_CURSOR_NAME, m.clone()),
            ActiveTransaction(m) => {
                ClientError::new(SqlState::ACTIVE_SQL_TRANSACTION, (*m).to_owned())
            }
            UnknownSavepoint(_) => {
                ClientError::new(SqlState::INVALID_SAVEPOINT_SPECIFICATION, self.to_string())
            }
            InFailedTransaction => {
                ClientError::new(SqlState::IN_FAILED_SQL_TRANSACTION, self.to_string())
            }
            ReadOnlyTransaction(m) => {
                ClientError::new(SqlState::READ_ONLY_SQL_TRANSACTION, m.clone())
            }
            Canceled | StatementTimeout => {
                ClientError::new(SqlState::QUERY_CANCELED, self.to_string())
            }
            Shutdown => ClientError {
                fatal: true,
                ..ClientError::new(SqlState::ADMIN_SHUTDOWN, self.to_string())
            },
            TooDeep { .. } => ClientError::new(SqlState::STATEMENT_TOO_COMPLEX, self.to_string())
                .hint(Some(
                    "Write long chains of AND/OR or + as IN lists, or split the statement.".into(),
                )),
            Busy(m) => ClientError::new(SqlState::INSUFFICIENT_RESOURCES, m.clone()),
            NotSupported(m) => ClientError::new(SqlState::FEATURE_NOT_SUPPORTED, m.clone()),
            ObjectInUse(m) => ClientError::new(SqlState::OBJECT_IN_USE, m.clone()),
            InvalidGrant(m) => ClientError::new(SqlState::INVALID_GRANT_OPERATION, m.clone()),
            UndefinedColumn(m) => ClientError::new(SqlState::UNDEFINED_COLUMN, m.clone()),
            UndefinedTable(m) => ClientError::new(SqlState::UNDEFINED_TABLE, m.clone()),
            UnknownObject(m) => ClientError::new(SqlState::UNDEFINED_OBJECT, m.clone()),
            ReservedName(m) => ClientError::new(SqlState::RESERVED_NAME, m.clone()),
            CardinalityViolation => {
                ClientError::new(SqlState::CARDINALITY_VIOLATION, self.to_string())
            }
            DuplicateObject(m) => ClientError::new(SqlState::DUPLICATE_OBJECT, m.clone()),
            DatatypeMismatch(m) => ClientError::new(SqlState::DATATYPE_MISMATCH, m.clone()),
            Policy(e) => policy_to_client(e),
            DataFusion(e) => datafusion_to_client(e),
            Catalog(e) => catalog_to_client(e),
            Io(_) => ClientError::new(SqlState::CONNECTION_FAILURE, self.to_string()),
            Internal(m) => ClientError::new(SqlState::INTERNAL_ERROR, m.clone()),
        }
    }
}

impl From<weir_pgtypes::Error> for WeirError {
    fn from(e: weir_pgtypes::Error) -> Self {
        use weir_pgtypes::Error as E;
        match e {
            E::InvalidText { .. } => Self::InvalidTextRepresentation(e.to_string()),
            E::OutOfRange { .. } => Self::NumericOutOfRange(e.to_string()),
            E::InvalidUtf8(what) => Self::InvalidUtf8(what),
            E::Malformed(m) => Self::Protocol(m),
            E::NotSupported(m) => Self::NotSupported(m),
            E::Arrow(a) => Self::DataFusion(a.into()),
            E::DataFusion(d) => Self::DataFusion(d),
            E::Format => Self::Internal(e.to_string()),
        }
    }
}

/// Map a DataFusion error to what the client sees, by its root cause.
fn datafusion_to_client(err: &DataFusionError) -> ClientError {
    match err {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            datafusion_to_client(inner)
        }
        DataFusionError::Shared(inner) => datafusion_to_client(inner),
        DataFusionError::Collection(errs) => match errs.first() {
            Some(first) => datafusion_to_client(first),
            None => ClientError::new(SqlState::INTERNAL_ERROR, "empty error collection"),
        },
        DataFusionError::SQL(e, _) => parser_to_client(e),
        DataFusionError::ArrowError(e, _) => arrow_to_client(e),
        DataFusionError::SchemaError(e, _) => schema_to_client(e),
        DataFusionError::NotImplemented(m) => ClientError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("feature not supported: {m}"),
        ),
        DataFusionError::ResourcesExhausted(m) => {
            ClientError::new(SqlState::OUT_OF_MEMORY, format!("out of memory: {m}"))
        }
        DataFusionError::External(e) => external_to_client(e.as_ref()),
        DataFusionError::Plan(m) | DataFusionError::Execution(m) => message_to_client(m),
        DataFusionError::Configuration(m) => {
            ClientError::new(SqlState::INVALID_PARAMETER_VALUE, m.clone())
        }
        DataFusionError::IoError(e) => {
            ClientError::new(SqlState::IO_ERROR, format!("could not read data: {e}"))
        }
        DataFusionError::ParquetError(e) => ClientError::new(
            SqlState::DATA_CORRUPTED,
            format!("could not read Parquet data: {e}"),
        ),
        DataFusionError::ObjectStore(e) => ClientError::new(
            SqlState::IO_ERROR,
            format!("could not read from storage: {e}"),
        ),
        // What is left is a fault of DataFusion or of Weir, not of the
        // statement. Every variant is named, so an upgrade that adds one
        // has to decide its SQLSTATE here.
        DataFusionError::Internal(_)
        | DataFusionError::ExecutionJoin(_)
        | DataFusionError::Substrait(_)
        | DataFusionError::Ffi(_) => {
            ClientError::new(SqlState::INTERNAL_ERROR, strip_df_prefix(&err.to_string()))
        }
    }
}

fn external_to_client(e: &(dyn std::error::Error + Send + Sync + 'static)) -> ClientError {
    if let Some(df) = e.downcast_ref::<DataFusionError>() {
        return datafusion_to_client(df);
    }
    if let Some(arrow) = e.downcast_ref::<ArrowError>() {
        return arrow_to_client(arrow);
    }
    if let Some(weir) = e.downcast_ref::<WeirError>() {
        return weir.to_client();
    }
    if let Some(cat) = e.downcast_ref::<weir_catalog::CatalogError>() {
        return catalog_to_client(cat);
    }
    if let Some(conn) = e.downcast_ref::<weir_connectors::ConnectorError>() {
        return connector_to_client(conn);
    }
    // Errors wrapped by a library (iceberg-rust wraps what its input
    // stream failed with): the first cause Weir knows decides.
    let mut cause = e.source();
    while let Some(c) = cause {
        if let Some(cat) = c.downcast_ref::<weir_catalog::CatalogError>() {
            return catalog_to_client(cat);
        }
        if let Some(df) = c.downcast_ref::<DataFusionError>() {
            return datafusion_to_client(df);
        }
        if c.downcast_ref::<object_store::Error>().is_some() {
            // Storage failed (unreachable, denied...): the whole message
            // names what was being done, and where.
            return ClientError::new(SqlState::IO_ERROR, e.to_string());
        }
        cause = c.source();
    }
    ClientError::new(SqlState::INTERNAL_ERROR, e.to_string())
}

fn connector_to_client(e: &weir_connectors::ConnectorError) -> ClientError {
    use weir_connectors::ConnectorError as C;
    match e {
        C::Catalog(cat) => catalog_to_client(cat),
        C::DataFusion(df) => datafusion_to_client(df),
        C::Context { what, source } => {
            let mut c = datafusion_to_client(source);
            c.message = format!("{what}: {}", c.message);
            c
        }
        C::Write { .. } => ClientError::new(SqlState::IO_ERROR, e.to_string()),
        C::Source { fault, .. } => ClientError::new(source_sqlstate(fault), e.to_string()),
        C::OutOfRange { .. } => {
            ClientError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, e.to_string())
        }
    }
}

/// The SQLSTATE a client sees for a source's failure.
fn source_sqlstate(fault: &weir_connectors::SourceFault) -> SqlState {
    use weir_connectors::{RemoteCode, SourceFault as F};
    match fault {
        F::Unreachable => SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
        F::Lost => SqlState::CONNECTION_FAILURE,
        F::Closed => SqlState::CONNECTION_DOES_NOT_EXIST,
        F::Protocol => SqlState::PROTOCOL_VIOLATION,
        F::Cancelled => SqlState::QUERY_CANCELED,
        F::Remote(RemoteCode::Postgres(code)) => SqlState::from_code(code),
        F::Remote(RemoteCode::Mysql { sqlstate, number }) => mysql_sqlstate(sqlstate, *number),
        F::Other => SqlState::INTERNAL_ERROR,
    }
}

/// MySQL and MariaDB report ODBC-style SQLSTATEs, many of them `HY000`;
/// clients of Weir expect PostgreSQL's. The error number decides where it
/// says more than the SQLSTATE (`23000` is a duplicate key, a null or a
/// foreign key; `42000` a syntax error or a denied privilege).
fn mysql_sqlstate(sqlstate: &str, number: u16) -> SqlState {
    match number {
        1146 => SqlState::UNDEFINED_TABLE,      // ER_NO_SUCH_TABLE
        1054 => SqlState::UNDEFINED_COLUMN,     // ER_BAD_FIELD_ERROR
        1049 => SqlState::INVALID_CATALOG_NAME, // ER_BAD_DB_ERROR
        1305 => SqlState::UNDEFINED_FUNCTION,   // ER_SP_DOES_NOT_EXIST
        1064 => SqlState::SYNTAX_ERROR,         // ER_PARSE_ERROR
        // Database, table, column and global privileges.
        1044 | 1142 | 1143 | 1227 => SqlState::INSUFFICIENT_PRIVILEGE,
        1045 => SqlState::INVALID_PASSWORD, // ER_ACCESS_DENIED_ERROR
        1062 | 1586 => SqlState::UNIQUE_VIOLATION,
        1048 => SqlState::NOT_NULL_VIOLATION, // ER_BAD_NULL_ERROR
        1216 | 1217 | 1451 | 1452 => SqlState::FOREIGN_KEY_VIOLATION,
        1365 => SqlState::DIVISION_BY_ZERO,
        1264 | 1690 => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        1292 => SqlState::INVALID_DATETIME_FORMAT, // ER_TRUNCATED_WRONG_VALUE
        1366 => SqlState::INVALID_TEXT_REPRESENTATION, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
        1213 => SqlState::DEADLOCK_DETECTED,
        1205 => SqlState::LOCK_NOT_AVAILABLE, // ER_LOCK_WAIT_TIMEOUT
        1040 => SqlState::TOO_MANY_CONNECTIONS,
        _ => match sqlstate {
            "42S02" => SqlState::UNDEFINED_TABLE,
            "42S22" => SqlState::UNDEFINED_COLUMN,
            "70100" => SqlState::QUERY_CANCELED,
            "08S01" => SqlState::CONNECTION_FAILURE,
            "23000" => SqlState::INTEGRITY_CONSTRAINT_VIOLATION,
            "42000" => SqlState::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
            // Standard classes PostgreSQL shares (22 data, 28 authorization,
            // 40 transaction rollback) keep their code; MySQL's own (HY,
            // 42S, 08S...) are not PostgreSQL's.
            c if ["22", "28", "40"].iter().any(|class| c.starts_with(class)) => {
                SqlState::from_code(c)
            }
            _ => SqlState::INTERNAL_ERROR,
        },
    }
}

/// A SQLSTATE reported by a source, as the `'static` code clients get.
/// Only well-formed codes are kept (five digits or capitals); there are a
/// few hundred of them at most, each stored once.
fn interned(code: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    if code.len() != 5
        || !code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return SqlState::INTERNAL_ERROR.0;
    }
    let mut codes = CODES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = codes.get(code) {
        return c;
    }
    let leaked: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.insert(leaked);
    leaked
}

fn policy_to_client(e: &weir_policies::PolicyError) -> ClientError {
    use weir_policies::PolicyError as P;
    match e {
        P::Hidden(_) => ClientError::new(SqlState::UNDEFINED_TABLE, e.to_string()),
        P::TableDenied(_)
        | P::ColumnDenied { .. }
        | P::Denied { .. }
        | P::NoPrivilege(_)
        | P::SuperuserOnly(_)
        | P::Location(_)
        | P::ReadServerFiles(_)
        | P::Files(_) => ClientError::new(SqlState::INSUFFICIENT_PRIVILEGE, e.to_string()),
        P::Broken { .. } => ClientError::new(SqlState::INVALID_OBJECT_DEFINITION, e.to_string()),
        P::Unconfirmed { .. } => ClientError::new(SqlState::CANNOT_CONNECT_NOW, e.to_string())
            .hint(Some(
                "Statements of users who are not superusers wait for the catalog database; \
                 retry when it answers."
                    .into(),
            )),
        P::Model(_) => ClientError::new(SqlState::INTERNAL_ERROR, e.to_string()),
        P::Catalog(c) => catalog_to_client(c),
        P::DataFusion(d) => datafusion_to_client(d),
    }
}

fn catalog_to_client(cat: &weir_catalog::CatalogError) -> ClientError {
    use weir_catalog::CatalogError as C;
    let code = match cat {
        C::InvalidName { .. } => SqlState::INVALID_NAME,
        C::Config(_) => SqlState::INVALID_PARAMETER_VALUE,
        C::Io { .. } => SqlState::IO_ERROR,
        C::NoSuchSchema(_) => SqlState::INVALID_SCHEMA_NAME,
        C::NoSuchTable(_) => SqlState::UNDEFINED_TABLE,
        C::SchemaExists(_) => SqlState::DUPLICATE_SCHEMA,
        C::TableExists(_) => SqlState::DUPLICATE_TABLE,
        C::SchemaNotEmpty(..) => SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
        C::NoSuchColumn(_) => SqlState::UNDEFINED_COLUMN,
        C::ColumnExists(_) => SqlState::DUPLICATE_COLUMN,
        C::Unsupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
        C::NotNull { .. } => SqlState::NOT_NULL_VIOLATION,
        C::CommitConflict { .. } => SqlState::SERIALIZATION_FAILURE,
        C::Database(_) => SqlState::SYSTEM_ERROR,
        C::RoleExists(_) => SqlState::DUPLICATE_OBJECT,
        C::NoSuchRole(_) => SqlState::UNDEFINED_OBJECT,
        C::RoleInUse { .. } => SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
        C::File { problem, .. } => match problem {
            weir_catalog::FileProblem::Missing => SqlState::UNDEFINED_FILE,
            weir_catalog::FileProblem::Corrupt => SqlState::DATA_CORRUPTED,
            weir_catalog::FileProblem::Unreadable => SqlState::IO_ERROR,
        },
        C::CommitUnknown { .. } => SqlState::STATEMENT_COMPLETION_UNKNOWN,
        C::Iceberg { .. } => SqlState::INTERNAL_ERROR,
    };
    ClientError::new(code, cat.to_string())
}

fn arrow_to_client(e: &ArrowError) -> ClientError {
    match e {
        ArrowError::DivideByZero => {
            ClientError::new(SqlState::DIVISION_BY_ZERO, "division by zero")
        }
        ArrowError::InvalidArgumentError(m) if m.contains("non-nullable but contains null") => {
            ClientError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!("null value violates not-null constraint: {m}"),
            )
        }
        ArrowError::ArithmeticOverflow(m) => ClientError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value out of range: {m}"),
        ),
        ArrowError::CastError(m) | ArrowError::ParseError(m) => cast_message_to_client(m),
        ArrowError::JsonError(m) => ClientError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("invalid JSON input: {m}"),
        ),
        ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => {
            ClientError::new(
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("value out of range: {m}"),
            )
        }
        ArrowError::ExternalError(inner) => external_to_client(inner.as_ref()),
        ArrowError::MemoryError(m) => {
            ClientError::new(SqlState::OUT_OF_MEMORY, format!("out of memory: {m}"))
        }
        ArrowError::IoError(m, _) => ClientError::new(SqlState::IO_ERROR, m.clone()),
        other => ClientError::new(SqlState::INTERNAL_ERROR, other.to_string()),
    }
}

/// Casts that fail because the value is too big are `22003`, because the
/// text is not a number/date/... `22P02`.
fn cast_message_to_client(m: &str) -> ClientError {
    if weir_pgtypes::error::cast_overflowed(m) {
        ClientError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value out of range: {m}"),
        )
    } else {
        ClientError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax: {m}"),
        )
    }
}

fn schema_to_client(e: &SchemaError) -> ClientError {
    match e {
        SchemaError::FieldNotFound { field, .. } => ClientError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{}\" does not exist", field.flat_name()),
        ),
        SchemaError::AmbiguousReference { field } => ClientError::new(
            SqlState::AMBIGUOUS_COLUMN,
            format!("column reference \"{}\" is ambiguous", field.flat_name()),
        ),
        SchemaError::DuplicateQualifiedField { .. }
        | SchemaError::DuplicateUnqualifiedField { .. } => {
            ClientError::new(SqlState::DUPLICATE_COLUMN, e.to_string())
        }
    }
}

/// Where the parser stopped, as sqlparser reports it: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    line: usize,
    column: usize,
}

impl Location {
    /// PostgreSQL's position: the 1-based character offset in `sql`.
    pub(crate) fn position_in(self, sql: &str) -> usize {
        let mut chars_before = 0usize;
        for (i, text) in sql.split('\n').enumerate() {
            if i + 1 == self.line {
                return chars_before + self.column.max(1);
            }
            chars_before += text.chars().count() + 1;
        }
        self.column.max(1)
    }
}

/// A parse failure of `sql`, with its position in the text.
pub(crate) fn parse_error(e: &ParserError, sql: &str) -> WeirError {
    if let ParserError::RecursionLimitExceeded = e {
        return WeirError::TooDeep {
            limit: crate::statements::depth::MAX_NESTING,
        };
    }
    let (message, location) = parser_message(e);
    WeirError::Syntax {
        message: format!("syntax error: {message}"),
        position: location.map(|l| l.position_in(sql)),
    }
}

/// A parse failure where the statement text is not at hand (no position).
pub(crate) fn parser_to_client(e: &ParserError) -> ClientError {
    if let ParserError::RecursionLimitExceeded = e {
        return ClientError::new(
            SqlState::STATEMENT_TOO_COMPLEX,
            "statement is too deeply nested",
        );
    }
    let (message, _) = parser_message(e);
    ClientError::new(SqlState::SYNTAX_ERROR, format!("syntax error: {message}"))
}

/// The parser's message without its `at Line: l, Column: c` suffix, and
/// that location.
fn parser_message(e: &ParserError) -> (String, Option<Location>) {
    match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
            match m.rfind(" at Line: ") {
                Some(i) => {
                    let loc = &m[i + " at Line: ".len()..];
                    let mut parts = loc.split(", Column: ");
                    let line = parts.next().and_then(|l| l.trim().parse::<usize>().ok());
                    let column = parts.next().and_then(|c| c.trim().parse::<usize>().ok());
                    let location = match (line, column) {
                        (Some(line), Some(column)) => Some(Location { line, column }),
                        _ => None,
                    };
                    (m[..i].to_owned(), location)
                }
                None => (m.clone(), None),
            }
        }
        ParserError::RecursionLimitExceeded => ("statement is too deeply nested".into(), None),
    }
}

fn strip_df_prefix(m: &str) -> String {
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "This feature is not implemented: ",
        "Arrow error: ",
        "Schema error: ",
        "External error: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            return strip_df_prefix(rest);
        }
    }
    m.to_owned()
}

/// DataFusion's Plan and Execution errors carry only a message (no code,
/// no kind), so for those alone the message decides: the common ones are
/// recognised, the rest are internal errors. Every other variant is
/// classified by its kind and root cause in `datafusion_to_client`.
fn message_to_client(m: &str) -> ClientError {
    let m = strip_df_prefix(m);
    let lower = m.to_ascii_lowercase();
    if let Some(name) = between(&m, "table '", "' not found") {
        return ClientError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        );
    }
    if let Some(name) = between(&m, "Invalid function '", "'") {
        let hint = between(&m, "Did you mean '", "'").map(|s| format!("Did you mean {s}?"));
        return ClientError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("function {name} does not exist"),
        )
        .hint(hint);
    }
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        return ClientError::new(SqlState::DIVISION_BY_ZERO, "division by zero");
    }
    if lower.contains("overflow") {
        return ClientError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value out of range: {m}"),
        );
    }
    if lower.starts_with("cannot cast") || lower.contains("cannot be cast") {
        return cast_message_to_client(&m);
    }
    if lower.contains("no function matches")
        || lower.contains("does not support inputs of type")
        || lower.contains("not supported for type")
    {
        return ClientError::new(SqlState::UNDEFINED_FUNCTION, m);
    }
    if lower.contains("cannot be coerced") || lower.contains("cannot infer common") {
        return ClientError::new(SqlState::DATATYPE_MISMATCH, m);
    }
    if lower.contains("placeholder") || lower.contains("parameter") && lower.contains("expected") {
        return ClientError::new(SqlState::PROTOCOL_VIOLATION, m);
    }
    if lower.contains("unsupported") {
        return ClientError::new(SqlState::FEATURE_NOT_SUPPORTED, m);
    }
    ClientError::new(SqlState::INTERNAL_ERROR, m)
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_five_characters_and_foreign_codes_are_checked() {
        for c in [
            SqlState::DIVISION_BY_ZERO,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
        ] {
            assert_eq!(c.code().len(), 5);
        }
        assert_eq!(SqlState::DIVISION_BY_ZERO, "22012");
        assert_eq!(SqlState::from_code("22012"), SqlState::DIVISION_BY_ZERO);
        assert_eq!(SqlState::from_code("HV00R").code(), "HV00R");
        for bad in ["", "2201", "220122", "22o12", "22 12"] {
            assert_eq!(
                SqlState::from_code(bad),
                SqlState::INTERNAL_ERROR,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn table_not_found_is_undefined_table_naming_the_relation() {
        let e = WeirError::DataFusion(DataFusionError::Plan(
            "table 'lake.tpch.nope' not found".into(),
        ));
        let c = e.to_client();
        assert_eq!(c.code, "42P01");
        assert_eq!(c.message, "relation \"lake.tpch.nope\" does not exist");
    }

    #[test]
    fn wrapped_division_by_zero_keeps_its_sqlstate() {
        let e = WeirError::DataFusion(DataFusionError::Context(
            "while running".into(),
            Box::new(DataFusionError::ArrowError(
                Box::new(ArrowError::DivideByZero),
                None,
            )),
        ));
        assert_eq!(e.to_client().code, "22012");
    }

    #[test]
    fn parser_position_is_converted_to_a_character_offset() {
        let sql = "SELECT 1;\nSELEC 2";
        let e = ParserError::ParserError(
            "Expected: an SQL statement, found: SELEC at Line: 2, Column: 1".into(),
        );
        let c = parse_error(&e, sql).to_client();
        assert_eq!(c.code, "42601");
        assert_eq!(c.position, Some(11));
        assert!(!c.message.contains("Line:"));
        // Without the statement text, no position at all (never a made-up one).
        let c = parser_to_client(&e);
        assert_eq!((c.code.code(), c.position), ("42601", None));
    }

    #[test]
    fn every_catalog_error_has_its_own_sqlstate() {
        use weir_catalog::{CatalogError as C, FileProblem};
        let file = |problem| C::File {
            table: "s.t".into(),
            file: "f.parquet".into(),
            problem,
            message: "m".into(),
        };
        let cases: Vec<(C, &str)> = vec![
            (
                C::InvalidName {
                    name: "a.b".into(),
                    reason: "r",
                },
                "42602",
            ),
            (C::Config("c".into()), "22023"),
            (
                C::Io {
                    path: "p".into(),
                    source: std::io::Error::other("x"),
                },
                "58030",
            ),
            (C::NoSuchSchema("s".into()), "3F000"),
            (C::NoSuchTable("s.t".into()), "42P01"),
            (C::SchemaExists("s".into()), "42P06"),
            (C::TableExists("s.t".into()), "42P07"),
            (C::SchemaNotEmpty("s".into(), "t".into()), "2BP01"),
            (C::NoSuchColumn("c".into()), "42703"),
            (C::ColumnExists("c".into()), "42701"),
            (C::Unsupported("u".into()), "0A000"),
            (
                C::NotNull {
                    column: "c".into(),
                    table: "s.t".into(),
                },
                "23502",
            ),
            (
                C::CommitConflict {
                    table: "s.t".into(),
                    message: "m".into(),
                },
                "40001",
            ),
            (C::Database("d".into()), "58000"),
            (file(FileProblem::Missing), "58P01"),
            (file(FileProblem::Corrupt), "XX001"),
            (file(FileProblem::Unreadable), "58030"),
            (
                C::CommitUnknown {
                    table: "s.t".into(),
                    files: 2,
                    message: "m".into(),
                },
                "40003",
            ),
        ];
        for (e, code) in cases {
            let shown = e.to_string();
            // Directly, and wrapped as DataFusion and the connectors carry it.
            let direct = WeirError::Catalog(e).to_client();
            assert_eq!(direct.code, code, "{shown}");
            assert_eq!(direct.message, shown);
        }
        let wrapped = WeirError::DataFusion(DataFusionError::External(Box::new(
            weir_connectors::ConnectorError::Catalog(C::NoSuchTable("s.t".into())),
        )));
        assert_eq!(wrapped.to_client().code, "42P01");
        let wrapped =
            WeirError::DataFusion(DataFusionError::External(Box::new(C::CommitUnknown {
                table: "s.t".into(),
                files: 1,
                message: "m".into(),
            })));
        assert_eq!(wrapped.to_client().code, "40003");
    }

    #[test]
    fn connector_errors_keep_the_sources_sqlstate_and_values_out_of_range_are_22003() {
        use weir_connectors::{ConnectorError as C, RemoteCode, SourceFault as F};
        let source = |fault: F| {
            WeirError::DataFusion(DataFusionError::External(Box::new(C::Source {
                source_name: "rds".into(),
                fault,
                message: "m".into(),
            })))
            .to_client()
        };
        let pg = |code: &str| F::Remote(RemoteCode::Postgres(code.into()));
        for (fault, code) in [
            (F::Unreachable, "08001"),
            (F::Lost, "08006"),
            (F::Closed, "08003"),
            (F::Protocol, "08P01"),
            (F::Cancelled, "57014"),
            (F::Other, "XX000"),
            (pg("42P01"), "42P01"),
            (pg("HV00R"), "HV00R"),
            // Only well-formed codes are passed on.
            (pg("nope"), "XX000"),
            (pg("4201'"), "XX000"),
        ] {
            let c = source(fault.clone());
            assert_eq!(c.code, code, "{fault:?}");
            assert_eq!(c.message, "source rds: m");
        }
        let c = WeirError::DataFusion(
            C::OutOfRange {
                column: "v".into(),
                message: "m".into(),
            }
            .into(),
        )
        .to_client();
        assert_eq!(
            (c.code.code(), c.message.as_str()),
            ("22003", "column \"v\": m")
        );
        let c = WeirError::DataFusion(DataFusionError::External(Box::new(C::Context {
            what: "reading s.t from f.csv".into(),
            source: DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None),
        })))
        .to_client();
        assert_eq!(c.code, "22012");
        assert!(
            c.message.starts_with("reading s.t from f.csv: "),
            "{}",
            c.message
        );
    }

    #[test]
    fn mysql_errors_become_the_postgresql_ones_by_number_then_sqlstate() {
        for (sqlstate, number, postgres) in [
            ("42S02", 1146, "42P01"),
            ("42S22", 1054, "42703"),
            ("42000", 1049, "3D000"),
            ("42000", 1305, "42883"),
            ("42000", 1064, "42601"),
            ("42000", 1142, "42501"),
            ("42000", 1143, "42501"),
            ("28000", 1045, "28P01"),
            ("23000", 1062, "23505"),
            ("23000", 1048, "23502"),
            ("23000", 1452, "23503"),
            ("22012", 1365, "22012"),
            ("22003", 1264, "22003"),
            ("22003", 1690, "22003"),
            ("22007", 1292, "22007"),
            ("HY000", 1366, "22P02"),
            ("40001", 1213, "40P01"),
            ("HY000", 1205, "55P03"),
            ("08004", 1040, "53300"),
            // Numbers not in the table: the SQLSTATE decides.
            ("42S02", 9999, "42P01"),
            ("70100", 9999, "57014"),
            ("08S01", 2013, "08006"),
            ("23000", 9999, "23000"),
            ("42000", 9999, "42000"),
            ("22001", 1406, "22001"),
            ("40001", 9999, "40001"),
            ("HY000", 1030, "XX000"),
            ("01000", 1265, "XX000"),
        ] {
            assert_eq!(
                mysql_sqlstate(sqlstate, number),
                postgres,
                "{sqlstate} {number}"
            );
        }
    }

    #[test]
    fn plan_and_execution_messages_map_by_what_they_say() {
        let m = |s: &str| message_to_client(s).code;
        assert_eq!(m("Invalid function 'nope'. Did you mean 'now'?"), "42883");
        assert_eq!(m("Arrow error: Divide by zero error"), "22012");
        assert_eq!(m("Overflow happened on: 1 + 2"), "22003");
        assert_eq!(m("Cannot cast string 'x' to value of Int32 type"), "22P02");
        assert_eq!(
            m("No function matches the given name and argument types"),
            "42883"
        );
        assert_eq!(
            m("Cannot infer common argument type for comparison"),
            "42804"
        );
        assert_eq!(
            m("The function 'sum' does not support inputs of type Utf8."),
            "42883"
        );
        assert_eq!(m("Operation not supported for type Date32"), "42883");
        assert_eq!(
            m("Column 'a' of type Utf8 cannot be cast to Int32"),
            "22P02"
        );
        assert_eq!(m("Division by zero in expression"), "22012");
        assert_eq!(m("Utf8 cannot be coerced to Int64"), "42804");
        assert_eq!(m("Placeholder $3 has no type"), "08P01");
        assert_eq!(m("Expected 2 parameter values, got 1"), "08P01");
        assert_eq!(m("Parameter $1 was never bound"), "XX000");
        assert_eq!(m("Unsupported SQL type Foo"), "0A000");
        assert_eq!(m("This feature is unsupported: LATERAL"), "0A000");
        assert_eq!(m("something nobody expected"), "XX000");
        let c = message_to_client(
            "Error during planning: Invalid function 'nope'. Did you mean 'now'?",
        );
        assert_eq!(c.message, "function nope does not exist");
        assert_eq!(c.hint.as_deref(), Some("Did you mean now?"));
    }

    #[test]
    fn datafusion_variants_map_by_kind() {
        let c = |e: DataFusionError| WeirError::DataFusion(e).to_client().code;
        assert_eq!(c(DataFusionError::NotImplemented("x".into())), "0A000");
        assert_eq!(c(DataFusionError::ResourcesExhausted("x".into())), "53200");
        assert_eq!(c(DataFusionError::Configuration("x".into())), "22023");
        assert_eq!(
            c(DataFusionError::IoError(std::io::Error::other("x"))),
            "58030"
        );
        assert_eq!(
            c(DataFusionError::Shared(std::sync::Arc::new(
                DataFusionError::ResourcesExhausted("x".into())
            ))),
            "53200"
        );
        assert_eq!(c(DataFusionError::Collection(vec![])), "XX000");
        assert_eq!(
            c(DataFusionError::Collection(vec![
                DataFusionError::NotImplemented("x".into()),
                DataFusionError::Internal("y".into()),
            ])),
            "0A000"
        );
        assert_eq!(
            c(DataFusionError::SQL(
                Box::new(ParserError::ParserError("Expected: x".into())),
                None
            )),
            "42601"
        );
        assert_eq!(
            c(DataFusionError::SchemaError(
                Box::new(SchemaError::FieldNotFound {
                    field: Box::new(datafusion::common::Column::from_name("nope")),
                    valid_fields: vec![],
                }),
                Box::new(None)
            )),
            "42703"
        );
        assert_eq!(
            c(DataFusionError::ParquetError(Box::new(
                datafusion::parquet::errors::ParquetError::General("x".into())
            ))),
            "XX001"
        );
        assert_eq!(
            c(DataFusionError::ObjectStore(Box::new(
                object_store::Error::NotFound {
                    path: "p".into(),
                    source: "gone".into(),
                }
            ))),
            "58030"
        );
        // Wrapped: the root cause decides.
        assert_eq!(
            c(DataFusionError::Diagnostic(
                Box::new(datafusion::common::Diagnostic::new_error("d", None)),
                Box::new(DataFusionError::ResourcesExhausted("x".into()))
            )),
            "53200"
        );
        assert_eq!(
            c(DataFusionError::Context(
                "c".into(),
                Box::new(DataFusionError::External(Box::new(
                    WeirError::StatementTimeout
                )))
            )),
            "57014"
        );
        assert_eq!(
            c(DataFusionError::External(Box::new(
                ArrowError::DivideByZero
            ))),
            "22012"
        );
        assert_eq!(
            c(DataFusionError::External(Box::new(std::io::Error::other(
                "x"
            )))),
            "XX000"
        );
        // Faults of DataFusion or Weir, never of the statement.
        for e in [
            DataFusionError::Internal("x".into()),
            DataFusionError::Substrait("x".into()),
            DataFusionError::Ffi("x".into()),
        ] {
            assert_eq!(c(e), "XX000");
        }
        assert_eq!(
            c(DataFusionError::ArrowError(
                Box::new(ArrowError::ArithmeticOverflow("x".into())),
                None
            )),
            "22003"
        );
        assert_eq!(
            c(DataFusionError::ArrowError(
                Box::new(ArrowError::MemoryError("x".into())),
                None
            )),
            "53200"
        );
        assert_eq!(
            c(DataFusionError::ArrowError(
                Box::new(ArrowError::InvalidArgumentError(
                    "Column 'a' is declared as non-nullable but contains null values".into()
                )),
                None
            )),
            "23502"
        );
    }

    #[tokio::test]
    async fn a_task_that_failed_to_join_is_an_internal_error() {
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let Err(join) = task.await else {
            unreachable!("an aborted task cannot finish")
        };
        let e = WeirError::DataFusion(DataFusionError::ExecutionJoin(Box::new(join)));
        assert_eq!(e.to_client().code, "XX000");
    }

    #[test]
    fn the_gateways_own_errors_have_their_sqlstates_and_fatality() {
        let cases: Vec<(WeirError, &str, bool)> = vec![
            (WeirError::Protocol("p".into()), "08P01", false),
            (
                WeirError::MessageTooLarge { len: 9, limit: 1 },
                "08P01",
                false,
            ),
            (WeirError::InvalidUtf8("x"), "22021", false),
            (WeirError::BadPassword("u".into()), "28P01", true),
            (WeirError::AuthRejected("r".into()), "28000", true),
            (WeirError::UnknownCatalog("d".into()), "3D000", true),
            (WeirError::UnknownParameter("p".into()), "42704", false),
            (WeirError::ReadOnlyParameter("p"), "55P02", false),
            (WeirError::InvalidParameterValue("v".into()), "22023", false),
            (
                WeirError::InvalidTextRepresentation("v".into()),
                "22P02",
                false,
            ),
            (WeirError::UnknownStatement("s".into()), "26000", false),
            (WeirError::NumericOutOfRange("n".into()), "22003", false),
            (WeirError::NoActiveTransaction("t"), "25P01", false),
            (WeirError::DuplicateStatement("s".into()), "42P05", false),
            (WeirError::DuplicatePortal("p".into()), "42P03", false),
            (WeirError::UnknownPortal("p".into()), "34000", false),
            (WeirError::ActiveTransaction("t"), "25001", false),
            (WeirError::UnknownSavepoint("s".into()), "3B001", false),
            (WeirError::InFailedTransaction, "25P02", false),
            (WeirError::ReadOnlyTransaction("r".into()), "25006", false),
            (WeirError::Canceled, "57014", false),
            (WeirError::StatementTimeout, "57014", false),
            (WeirError::Shutdown, "57P01", true),
            (WeirError::TooDeep { limit: 1 }, "54001", false),
            (WeirError::Busy("b".into()), "53000", false),
            (WeirError::NotSupported("n".into()), "0A000", false),
            (WeirError::CardinalityViolation, "21000", false),
            (WeirError::Io(std::io::Error::other("x")), "08006", false),
            (WeirError::Internal("i".into()), "XX000", false),
        ];
        for (e, code, fatal) in cases {
            let c = e.to_client();
            assert_eq!((c.code.code(), c.fatal), (code, fatal), "{e}");
            if !matches!(e, WeirError::Internal(_)) {
                assert_eq!(c.message, e.to_string());
            }
        }
    }

    #[test]
    fn cast_failures_split_into_bad_syntax_and_out_of_range() {
        for (message, code) in [
            ("Cannot cast string 'abc' to value of Int32 type", "22P02"),
            ("Overflow happened on: 99999999999", "22003"),
            ("Cast error: value 300 is out of range for Int8", "22003"),
            ("Decimal value too large for precision 5", "22003"),
            ("Can't cast value 300 to type Int8", "22003"),
            ("Can't parse '12:xx' as time", "22P02"),
        ] {
            assert_eq!(cast_message_to_client(message).code, code, "{message}");
        }
    }

    #[test]
    fn arrow_errors_map_by_kind_and_what_they_say() {
        for (e, code) in [
            (ArrowError::DivideByZero, "22012"),
            (
                ArrowError::InvalidArgumentError(
                    "Column 'a' is declared as non-nullable but contains null values".into(),
                ),
                "23502",
            ),
            (
                ArrowError::InvalidArgumentError("arrays must have the same length".into()),
                "XX000",
            ),
            (ArrowError::ArithmeticOverflow("1 + 2".into()), "22003"),
            (
                ArrowError::CastError("Can't cast value 300 to type Int8".into()),
                "22003",
            ),
            (ArrowError::ParseError("bad digit".into()), "22P02"),
            (ArrowError::JsonError("EOF".into()), "22P02"),
            (
                ArrowError::ComputeError("Overflow happened".into()),
                "22003",
            ),
            (ArrowError::ComputeError("integer overflow".into()), "22003"),
            (ArrowError::ComputeError("something else".into()), "XX000"),
            (ArrowError::MemoryError("1 GB".into()), "53200"),
            (
                ArrowError::IoError("disk".into(), std::io::Error::other("disk")),
                "58030",
            ),
        ] {
            assert_eq!(arrow_to_client(&e).code, code, "{e}");
        }
    }

    #[test]
    fn server_faults_are_internal_resource_and_memory_errors_only() {
        for (e, fault) in [
            (WeirError::Internal("i".into()), true),
            (
                WeirError::DataFusion(DataFusionError::ArrowError(
                    Box::new(ArrowError::IoError(
                        "disk".into(),
                        std::io::Error::other("disk"),
                    )),
                    None,
                )),
                true,
            ),
            (
                WeirError::DataFusion(DataFusionError::ResourcesExhausted("1 GB".into())),
                true,
            ),
            (WeirError::Canceled, false),
            (WeirError::Busy("b".into()), false),
            (WeirError::NumericOutOfRange("n".into()), false),
            (WeirError::UnknownCatalog("d".into()), false),
        ] {
            assert_eq!(e.is_server_fault(), fault, "{e}: {}", e.to_client().code);
        }
    }

    #[test]
    fn a_syntax_error_keeps_its_position() {
        let e = WeirError::Syntax {
            message: "syntax error at or near \"FORM\"".into(),
            position: Some(10),
        };
        let c = e.to_client();
        assert_eq!((c.code.code(), c.position), ("42601", Some(10)));
    }
}
