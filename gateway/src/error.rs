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

/// What a client is told: SQLSTATE, message and optional fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// Five-character SQLSTATE.
    pub code: &'static str,
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
    fn new(code: &'static str, message: impl Into<String>) -> Self {
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
        e.code.starts_with("XX") || e.code.starts_with("58") || e.code == "53200"
    }

    /// The one SQLSTATE table.
    pub fn to_client(&self) -> ClientError {
        use WeirError::*;
        match self {
            Protocol(m) => ClientError::new("08P01", m.clone()),
            MessageTooLarge { .. } => ClientError::new("08P01", self.to_string()),
            InvalidUtf8(_) => ClientError::new("22021", self.to_string()),
            BadPassword(_) => ClientError {
                fatal: true,
                ..ClientError::new("28P01", self.to_string())
            },
            AuthRejected(m) => ClientError {
                fatal: true,
                ..ClientError::new("28000", m.clone())
            },
            Syntax { message, position } => ClientError {
                position: *position,
                ..ClientError::new("42601", message.clone())
            },
            UnknownCatalog(_) => ClientError {
                fatal: true,
                ..ClientError::new("3D000", self.to_string())
            },
            UnknownParameter(_) => ClientError::new("42704", self.to_string()),
            ReadOnlyParameter(_) => ClientError::new("55P02", self.to_string()),
            InvalidParameterValue(m) => ClientError::new("22023", m.clone()),
            InvalidTextRepresentation(m) => ClientError::new("22P02", m.clone()),
            UnknownStatement(m) => ClientError::new("26000", m.clone()),
            NumericOutOfRange(m) => ClientError::new("22003", m.clone()),
            NoActiveTransaction(m) => ClientError::new("25P01", (*m).to_owned()),
            DuplicateStatement(_) => ClientError::new("42P05", self.to_string()),
            DuplicatePortal(_) => ClientError::new("42P03", self.to_string()),
            UnknownPortal(m) => ClientError::new("34000", m.clone()),
            ActiveTransaction(m) => ClientError::new("25001", (*m).to_owned()),
            UnknownSavepoint(_) => ClientError::new("3B001", self.to_string()),
            InFailedTransaction => ClientError::new("25P02", self.to_string()),
            ReadOnlyTransaction(m) => ClientError::new("25006", m.clone()),
            Canceled | StatementTimeout => ClientError::new("57014", self.to_string()),
            Shutdown => ClientError {
                fatal: true,
                ..ClientError::new("57P01", self.to_string())
            },
            TooDeep { .. } => ClientError::new("54001", self.to_string()).hint(Some(
                "Write long chains of AND/OR or + as IN lists, or split the statement.".into(),
            )),
            Busy(m) => ClientError::new("53000", m.clone()),
            NotSupported(m) => ClientError::new("0A000", m.clone()),
            DataFusion(e) => datafusion_to_client(e),
            Catalog(e) => catalog_to_client(e),
            Io(_) => ClientError::new("08006", self.to_string()),
            Internal(m) => ClientError::new("XX000", m.clone()),
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
            None => ClientError::new("XX000", "empty error collection"),
        },
        DataFusionError::SQL(e, _) => parser_to_client(e),
        DataFusionError::ArrowError(e, _) => arrow_to_client(e),
        DataFusionError::SchemaError(e, _) => schema_to_client(e),
        DataFusionError::NotImplemented(m) => {
            ClientError::new("0A000", format!("feature not supported: {m}"))
        }
        DataFusionError::ResourcesExhausted(m) => {
            ClientError::new("53200", format!("out of memory: {m}"))
        }
        DataFusionError::External(e) => external_to_client(e.as_ref()),
        DataFusionError::Plan(m) | DataFusionError::Execution(m) => message_to_client(m),
        DataFusionError::Configuration(m) => ClientError::new("22023", m.clone()),
        DataFusionError::IoError(e) => {
            ClientError::new("58030", format!("could not read data: {e}"))
        }
        DataFusionError::ParquetError(e) => {
            ClientError::new("XX001", format!("could not read Parquet data: {e}"))
        }
        DataFusionError::ObjectStore(e) => {
            ClientError::new("58030", format!("could not read from storage: {e}"))
        }
        other => ClientError::new("XX000", strip_df_prefix(&other.to_string())),
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
            return ClientError::new("58030", e.to_string());
        }
        cause = c.source();
    }
    ClientError::new("XX000", e.to_string())
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
        C::Write { .. } => ClientError::new("58030", e.to_string()),
        C::Source { sqlstate, .. } => ClientError::new(interned(sqlstate), e.to_string()),
        C::OutOfRange { .. } => ClientError::new("22003", e.to_string()),
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
        return "XX000";
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

fn catalog_to_client(cat: &weir_catalog::CatalogError) -> ClientError {
    use weir_catalog::CatalogError as C;
    let code = match cat {
        C::InvalidName { .. } => "42602",
        C::Config(_) => "22023",
        C::Io { .. } => "58030",
        C::NoSuchSchema(_) => "3F000",
        C::NoSuchTable(_) => "42P01",
        C::SchemaExists(_) => "42P06",
        C::TableExists(_) => "42P07",
        C::SchemaNotEmpty(..) => "2BP01",
        C::NoSuchColumn(_) => "42703",
        C::ColumnExists(_) => "42701",
        C::Unsupported(_) => "0A000",
        C::NotNull { .. } => "23502",
        C::CommitConflict { .. } => "40001",
        C::Database(_) => "58000",
        C::File { problem, .. } => match problem {
            weir_catalog::FileProblem::Missing => "58P01",
            weir_catalog::FileProblem::Corrupt => "XX001",
            weir_catalog::FileProblem::Unreadable => "58030",
        },
        C::CommitUnknown { .. } => "40003",
        C::Iceberg { .. } => "XX000",
    };
    ClientError::new(code, cat.to_string())
}

fn arrow_to_client(e: &ArrowError) -> ClientError {
    match e {
        ArrowError::DivideByZero => ClientError::new("22012", "division by zero"),
        ArrowError::InvalidArgumentError(m) if m.contains("non-nullable but contains null") => {
            ClientError::new(
                "23502",
                format!("null value violates not-null constraint: {m}"),
            )
        }
        ArrowError::ArithmeticOverflow(m) => {
            ClientError::new("22003", format!("value out of range: {m}"))
        }
        ArrowError::CastError(m) | ArrowError::ParseError(m) => cast_message_to_client(m),
        ArrowError::JsonError(m) => ClientError::new("22P02", format!("invalid JSON input: {m}")),
        ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => {
            ClientError::new("22003", format!("value out of range: {m}"))
        }
        ArrowError::ExternalError(inner) => external_to_client(inner.as_ref()),
        ArrowError::MemoryError(m) => ClientError::new("53200", format!("out of memory: {m}")),
        ArrowError::IoError(m, _) => ClientError::new("58030", m.clone()),
        other => ClientError::new("XX000", other.to_string()),
    }
}

/// Casts that fail because the value is too big are `22003`, because the
/// text is not a number/date/... `22P02`.
fn cast_message_to_client(m: &str) -> ClientError {
    if weir_pgtypes::error::cast_overflowed(m) {
        ClientError::new("22003", format!("value out of range: {m}"))
    } else {
        ClientError::new("22P02", format!("invalid input syntax: {m}"))
    }
}

fn schema_to_client(e: &SchemaError) -> ClientError {
    match e {
        SchemaError::FieldNotFound { field, .. } => ClientError::new(
            "42703",
            format!("column \"{}\" does not exist", field.flat_name()),
        ),
        SchemaError::AmbiguousReference { field } => ClientError::new(
            "42702",
            format!("column reference \"{}\" is ambiguous", field.flat_name()),
        ),
        SchemaError::DuplicateQualifiedField { .. }
        | SchemaError::DuplicateUnqualifiedField { .. } => ClientError::new("42701", e.to_string()),
    }
}

/// A parser error as the client sees it: nesting past the parser's limit
/// is 54001; anything else a syntax error at its position in `sql`.
pub(crate) fn parse_error(e: &ParserError, sql: &str) -> WeirError {
    if let ParserError::RecursionLimitExceeded = e {
        return WeirError::TooDeep {
            limit: crate::statements::depth::MAX_NESTING,
        };
    }
    let c = parser_to_client(e);
    WeirError::Syntax {
        message: c.message,
        position: c.position.map(|p| line_col_to_position(sql, p)),
    }
}

pub(crate) fn parser_to_client(e: &ParserError) -> ClientError {
    let (message, position) = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => split_location(m),
        ParserError::RecursionLimitExceeded => {
            return ClientError::new("54001", "statement is too deeply nested")
        }
    };
    ClientError {
        position,
        ..ClientError::new("42601", format!("syntax error: {message}"))
    }
}

/// sqlparser ends messages with ` at Line: L, Column: C`; split that off.
/// The position is returned as (line, column) encoded later by the caller,
/// here only the column of line 1 is final, so callers fix it up with
/// [`line_col_to_position`].
fn split_location(m: &str) -> (String, Option<usize>) {
    match m.rfind(" at Line: ") {
        Some(i) => {
            let loc = &m[i + " at Line: ".len()..];
            let mut parts = loc.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse::<usize>().ok());
            let col = parts.next().and_then(|c| c.trim().parse::<usize>().ok());
            let pos = match (line, col) {
                // Encoded as line * 1_000_000 + column until the statement text is known.
                (Some(l), Some(c)) => Some(l * 1_000_000 + c),
                _ => None,
            };
            (m[..i].to_owned(), pos)
        }
        None => (m.to_owned(), None),
    }
}

/// Turn an encoded (line, column) from [`split_location`] into PostgreSQL's
/// 1-based character position within `sql`.
pub(crate) fn line_col_to_position(sql: &str, encoded: usize) -> usize {
    let (line, col) = (encoded / 1_000_000, encoded % 1_000_000);
    let mut chars_before = 0usize;
    for (i, text) in sql.split('\n').enumerate() {
        if i + 1 == line {
            return chars_before + col.max(1);
        }
        chars_before += text.chars().count() + 1;
    }
    col.max(1)
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

/// Plan/Execution errors carry only a message; recognise the common ones.
fn message_to_client(m: &str) -> ClientError {
    let m = strip_df_prefix(m);
    let lower = m.to_ascii_lowercase();
    if let Some(name) = between(&m, "table '", "' not found") {
        return ClientError::new("42P01", format!("relation \"{name}\" does not exist"));
    }
    if let Some(name) = between(&m, "Invalid function '", "'") {
        let hint = between(&m, "Did you mean '", "'").map(|s| format!("Did you mean {s}?"));
        return ClientError::new("42883", format!("function {name} does not exist")).hint(hint);
    }
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        return ClientError::new("22012", "division by zero");
    }
    if lower.contains("overflow") {
        return ClientError::new("22003", format!("value out of range: {m}"));
    }
    if lower.starts_with("cannot cast") || lower.contains("cannot be cast") {
        return cast_message_to_client(&m);
    }
    if lower.contains("no function matches")
        || lower.contains("does not support inputs of type")
        || lower.contains("not supported for type")
    {
        return ClientError::new("42883", m);
    }
    if lower.contains("cannot be coerced") || lower.contains("cannot infer common") {
        return ClientError::new("42804", m);
    }
    if lower.contains("placeholder") || lower.contains("parameter") && lower.contains("expected") {
        return ClientError::new("08P01", m);
    }
    if lower.contains("unsupported") {
        return ClientError::new("0A000", m);
    }
    ClientError::new("XX000", m)
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
        let c = parser_to_client(&e);
        assert_eq!(c.code, "42601");
        assert_eq!(line_col_to_position(sql, c.position.unwrap()), 11);
        assert!(!c.message.contains("Line:"));
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
        use weir_connectors::ConnectorError as C;
        let source = |code: &str| {
            WeirError::DataFusion(DataFusionError::External(Box::new(C::Source {
                source_name: "rds".into(),
                sqlstate: code.into(),
                message: "m".into(),
            })))
            .to_client()
        };
        assert_eq!(source("42P01").code, "42P01");
        assert_eq!(source("08001").code, "08001");
        // Only well-formed codes are passed on.
        assert_eq!(source("nope").code, "XX000");
        assert_eq!(source("4201'").code, "XX000");
        let c = WeirError::DataFusion(
            C::OutOfRange {
                column: "v".into(),
                message: "m".into(),
            }
            .into(),
        )
        .to_client();
        assert_eq!((c.code, c.message.as_str()), ("22003", "column \"v\": m"));
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
            (WeirError::Io(std::io::Error::other("x")), "08006", false),
            (WeirError::Internal("i".into()), "XX000", false),
        ];
        for (e, code, fatal) in cases {
            let c = e.to_client();
            assert_eq!((c.code, c.fatal), (code, fatal), "{e}");
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
        assert_eq!((c.code, c.position), ("42601", Some(10)));
    }
}
