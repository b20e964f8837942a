//! PostgreSQL types for Arrow data: type OIDs and typmods for
//! RowDescription, the text and binary encodings of values, and decoding of
//! Bind parameters into DataFusion scalars.
//!
//! Encoding works column-wise: [`RowEncoder::prepare`] downcasts each column of
//! a batch once, then rows are written straight into the outgoing buffer as
//! DataRow messages, with no per-value allocation for scalar types.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Timelike};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, FixedSizeBinaryArray, Float32Array,
    Float64Array, GenericListArray, Int16Array, Int32Array, Int64Array, Int8Array, OffsetSizeTrait,
    RecordBatch, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, DurationMicrosecondType, Field, IntervalDayTimeType,
    IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType, Schema, Time64MicrosecondType,
    TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::scalar::ScalarValue;

use crate::error::{Result, WeirError};

/// Field metadata key a source may set to say which PostgreSQL type a column
/// has when Arrow cannot tell (`varchar(25)`, `bpchar(1)`, `json`, `jsonb`, `uuid`).
pub const PG_TYPE_METADATA: &str = weir_connectors::remote::types::PG_TYPE_METADATA;
const ARROW_EXTENSION: &str = "ARROW:extension:name";

/// PostgreSQL type OIDs Weir uses.
#[allow(missing_docs)]
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
}

/// The array type OID of an element type OID.
pub fn array_oid(elem: u32) -> u32 {
    match elem {
        oid::BOOL => 1000,
        oid::BYTEA => 1001,
        oid::INT2 => 1005,
        oid::INT4 => 1007,
        oid::TEXT => 1009,
        oid::BPCHAR => 1014,
        oid::VARCHAR => 1015,
        oid::INT8 => 1016,
        oid::FLOAT4 => 1021,
        oid::FLOAT8 => 1022,
        oid::TIMESTAMP => 1115,
        oid::DATE => 1182,
        oid::TIME => 1183,
        oid::TIMESTAMPTZ => 1185,
        oid::INTERVAL => 1187,
        oid::NUMERIC => 1231,
        oid::UUID => 2951,
        oid::JSON => 199,
        oid::JSONB => 3807,
        _ => 1009,
    }
}

/// What RowDescription says of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgType {
    /// Type OID.
    pub oid: u32,
    /// `typlen`: fixed size in bytes, or -1.
    pub len: i16,
    /// `atttypmod`: -1, or e.g. `((p << 16) | s) + 4` for numeric(p,s).
    pub typmod: i32,
}

impl PgType {
    const fn new(oid: u32, len: i16) -> Self {
        Self {
            oid,
            len,
            typmod: -1,
        }
    }
}

/// The PostgreSQL type of an Arrow field.
pub fn pg_type(field: &Field) -> PgType {
    if let Some(t) = field
        .metadata()
        .get(PG_TYPE_METADATA)
        .and_then(|s| parse_type_name(s))
    {
        return t;
    }
    match field.metadata().get(ARROW_EXTENSION).map(String::as_str) {
        Some("arrow.uuid") => return PgType::new(oid::UUID, 16),
        Some("arrow.json") => return PgType::new(oid::JSON, -1),
        _ => {}
    }
    pg_type_of(field.data_type())
}

fn pg_type_of(dt: &DataType) -> PgType {
    use DataType::*;
    match dt {
        Boolean => PgType::new(oid::BOOL, 1),
        Int8 | Int16 | UInt8 => PgType::new(oid::INT2, 2),
        Int32 | UInt16 => PgType::new(oid::INT4, 4),
        Int64 | UInt32 => PgType::new(oid::INT8, 8),
        UInt64 => PgType::new(oid::NUMERIC, -1),
        Float16 | Float32 => PgType::new(oid::FLOAT4, 4),
        Float64 => PgType::new(oid::FLOAT8, 8),
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => PgType {
            oid: oid::NUMERIC,
            len: -1,
            typmod: ((i32::from(*p) << 16) | (i32::from(*s) & 0xffff)) + 4,
        },
        Utf8 | LargeUtf8 | Utf8View => PgType::new(oid::TEXT, -1),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => PgType::new(oid::BYTEA, -1),
        Date32 | Date64 => PgType::new(oid::DATE, 4),
        Time32(_) | Time64(_) => PgType::new(oid::TIME, 8),
        Timestamp(_, None) => PgType::new(oid::TIMESTAMP, 8),
        Timestamp(_, Some(_)) => PgType::new(oid::TIMESTAMPTZ, 8),
        Interval(_) | Duration(_) => PgType::new(oid::INTERVAL, 16),
        Dictionary(_, v) => pg_type_of(v),
        List(f) | LargeList(f) | FixedSizeList(f, _) | ListView(f) | LargeListView(f) => {
            PgType::new(array_oid(pg_type(f).oid), -1)
        }
        _ => PgType::new(oid::TEXT, -1),
    }
}

/// `varchar(25)`, `bpchar(1)`, `json`, ... → PgType.
fn parse_type_name(s: &str) -> Option<PgType> {
    let s = s.trim().to_ascii_lowercase();
    let (base, arg) = match s.find('(') {
        Some(i) => (
            &s[..i],
            s[i + 1..].trim_end_matches(')').parse::<i32>().ok(),
        ),
        None => (s.as_str(), None),
    };
    let typmod = arg.map(|n| n + 4).unwrap_or(-1);
    let t = match base.trim() {
        "varchar" | "character varying" => PgType {
            oid: oid::VARCHAR,
            len: -1,
            typmod,
        },
        "bpchar" | "char" | "character" => PgType {
            oid: oid::BPCHAR,
            len: -1,
            typmod,
        },
        "json" => PgType::new(oid::JSON, -1),
        "jsonb" => PgType::new(oid::JSONB, -1),
        "uuid" => PgType::new(oid::UUID, 16),
        "text" => PgType::new(oid::TEXT, -1),
        _ => return None,
    };
    Some(t)
}

/// The PostgreSQL name of a type OID, for messages.
pub fn type_name(oid: u32) -> &'static str {
    match oid {
        oid::BOOL => "boolean",
        oid::BYTEA => "bytea",
        oid::INT8 => "bigint",
        oid::INT2 => "smallint",
        oid::INT4 => "integer",
        oid::TEXT => "text",
        oid::JSON => "json",
        oid::FLOAT4 => "real",
        oid::FLOAT8 => "double precision",
        oid::BPCHAR => "character",
        oid::VARCHAR => "character varying",
        oid::DATE => "date",
        oid::TIME => "time without time zone",
        oid::TIMESTAMP => "timestamp without time zone",
        oid::TIMESTAMPTZ => "timestamp with time zone",
        oid::INTERVAL => "interval",
        oid::NUMERIC => "numeric",
        oid::UUID => "uuid",
        oid::JSONB => "jsonb",
        _ => "unknown",
    }
}

/// The Arrow type a parameter of a given OID is decoded into.
pub fn arrow_type_of_oid(oid_: u32) -> Option<DataType> {
    Some(match oid_ {
        oid::BOOL => DataType::Boolean,
        oid::INT2 => DataType::Int16,
        oid::INT4 | oid::OID => DataType::Int32,
        oid::INT8 => DataType::Int64,
        oid::FLOAT4 => DataType::Float32,
        oid::FLOAT8 => DataType::Float64,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::JSON | oid::JSONB | oid::UUID => {
            DataType::Utf8
        }
        oid::BYTEA => DataType::Binary,
        oid::DATE => DataType::Date32,
        oid::TIME => DataType::Time64(TimeUnit::Microsecond),
        oid::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        oid::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        oid::INTERVAL => DataType::Interval(IntervalUnit::MonthDayNano),
        oid::NUMERIC => DataType::Decimal128(38, 10),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Session time zone

/// A session's `TimeZone`.
#[derive(Debug, Clone, Copy)]
pub enum SessionTz {
    /// An IANA zone.
    Named(chrono_tz::Tz),
    /// A fixed UTC offset.
    Fixed(FixedOffset),
}

impl Default for SessionTz {
    /// UTC.
    fn default() -> Self {
        Self::Fixed(chrono::Utc.fix())
    }
}

impl SessionTz {
    /// Offset from UTC, in seconds, at the instant `utc_micros`.
    fn offset_secs(&self, utc_micros: i64) -> i32 {
        match self {
            Self::Fixed(o) => o.local_minus_utc(),
            Self::Named(tz) => DateTime::from_timestamp_micros(utc_micros)
                .map(|dt| {
                    tz.offset_from_utc_datetime(&dt.naive_utc())
                        .fix()
                        .local_minus_utc()
                })
                .unwrap_or(0),
        }
    }
}

/// Parse a `TimeZone` value: an IANA name, `UTC`, or an ISO offset `+05:30`.
pub fn parse_timezone(v: &str) -> Option<SessionTz> {
    let v = v.trim();
    if ["utc", "gmt", "z", "zulu", "universal"]
        .iter()
        .any(|z| v.eq_ignore_ascii_case(z))
    {
        return FixedOffset::east_opt(0).map(SessionTz::Fixed);
    }
    if let Ok(tz) = chrono_tz::Tz::from_str(v) {
        return Some(SessionTz::Named(tz));
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|t| t.name().eq_ignore_ascii_case(v))
    {
        return Some(SessionTz::Named(*tz));
    }
    let (sign, rest) = match v.as_bytes().first()? {
        b'+' => (1, &v[1..]),
        b'-' => (-1, &v[1..]),
        b'0'..=b'9' => (1, v),
        _ => return None,
    };
    let mut parts = rest.split(':');
    let h: i32 = parts.next()?.parse().ok()?;
    let m: i32 = parts.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
    if h > 15 || m > 59 || parts.next().is_some() {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).map(SessionTz::Fixed)
}

/// How values are rendered as text, from session parameters.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// `TimeZone`, for timestamptz output.
    pub tz: SessionTz,
    /// `extra_float_digits`.
    pub extra_float_digits: i32,
}

// ---------------------------------------------------------------------------
// Row encoding

/// Describes and encodes result rows of one statement.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    types: Vec<PgType>,
    binary: Vec<bool>,
}

/// One column of one batch, downcast once.
enum Col<'a> {
    Null,
    Bool(&'a BooleanArray),
    I8(&'a Int8Array),
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    U8(&'a UInt8Array),
    U16(&'a UInt16Array),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Dec(&'a Decimal128Array, i8),
    /// Wide decimals (MySQL DECIMAL(65,30)), through their digits.
    Dec256(&'a datafusion::arrow::array::Decimal256Array, i8),
    Str(&'a dyn Array),
    /// Text sent as jsonb: binary format has a version byte.
    Jsonb(&'a dyn Array),
    Bin(&'a dyn Array),
    Uuid(&'a FixedSizeBinaryArray),
    Date(&'a datafusion::arrow::array::PrimitiveArray<Date32Type>),
    Time(&'a datafusion::arrow::array::PrimitiveArray<Time64MicrosecondType>),
    Ts(&'a datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>),
    TsTz(&'a datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>),
    IntervalYm(&'a datafusion::arrow::array::PrimitiveArray<IntervalYearMonthType>),
    IntervalDt(&'a datafusion::arrow::array::PrimitiveArray<IntervalDayTimeType>),
    IntervalMdn(&'a datafusion::arrow::array::PrimitiveArray<IntervalMonthDayNanoType>),
    Duration(&'a datafusion::arrow::array::PrimitiveArray<DurationMicrosecondType>),
    List(&'a GenericListArray<i32>),
    LargeList(&'a GenericListArray<i64>),
    Other(ArrayFormatter<'a>),
}

/// Arrow types that are cast to a canonical one before encoding
/// (timestamps to microseconds, dictionaries to their values, ...).
fn canonical_type(dt: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match dt {
        Timestamp(TimeUnit::Microsecond, _) => return None,
        Timestamp(_, tz) => Timestamp(TimeUnit::Microsecond, tz.clone()),
        Time32(_) | Time64(TimeUnit::Nanosecond) => Time64(TimeUnit::Microsecond),
        Date64 => Date32,
        Duration(TimeUnit::Microsecond) => return None,
        Duration(_) => Duration(TimeUnit::Microsecond),
        Float16 => Float32,
        Decimal32(p, s) | Decimal64(p, s) => Decimal128(*p, *s),
        Dictionary(_, v) => canonical_type(v).unwrap_or_else(|| v.as_ref().clone()),
        FixedSizeList(f, _) | ListView(f) => List(f.clone()),
        LargeListView(f) => LargeList(f.clone()),
        List(f) | LargeList(f) => {
            let inner = canonical_type(f.data_type())?;
            let f = Arc::new(f.as_ref().clone().with_data_type(inner));
            if matches!(dt, List(_)) {
                List(f)
            } else {
                LargeList(f)
            }
        }
        _ => return None,
    })
}

/// Cast the columns of a batch to the representations the encoder writes
/// directly (timestamps in microseconds, dictionaries decoded, ...). Done
/// once per batch, before its rows are encoded in slices.
pub fn canonical_batch(batch: RecordBatch) -> Result<RecordBatch> {
    if batch
        .columns()
        .iter()
        .all(|c| canonical_type(c.data_type()).is_none())
    {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let column = canonicalize(column)?;
        fields.push(Arc::new(
            field
                .as_ref()
                .clone()
                .with_data_type(column.data_type().clone()),
        ));
        columns.push(column);
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )
    .map_err(|e| WeirError::DataFusion(e.into()))
}

fn canonicalize(array: &ArrayRef) -> Result<ArrayRef> {
    match canonical_type(array.data_type()) {
        None => Ok(array.clone()),
        Some(target) => cast_with_options(
            array,
            &target,
            &CastOptions {
                safe: false,
                ..Default::default()
            },
        )
        .map_err(|e| WeirError::DataFusion(e.into())),
    }
}

impl RowEncoder {
    /// Types of `schema`'s columns, with per-column formats (`true` = binary).
    pub fn new(schema: &Schema, binary: Vec<bool>) -> Self {
        Self {
            types: schema.fields().iter().map(|f| pg_type(f)).collect(),
            binary,
        }
    }

    /// The PostgreSQL types of the columns.
    pub fn types(&self) -> &[PgType] {
        &self.types
    }

    /// Whether column `i` is sent in binary.
    pub fn is_binary(&self, i: usize) -> bool {
        self.binary.get(i).copied().unwrap_or(false)
    }

    /// Encode rows `[from, to)` of `batch` (made by [`canonical_batch`]) as
    /// DataRow messages appended to `out`.
    pub fn encode(
        &self,
        batch: &RecordBatch,
        from: usize,
        to: usize,
        opts: &TextOptions,
        out: &mut BytesMut,
    ) -> Result<()> {
        let fmt_opts = FormatOptions::default().with_display_error(true);
        let cols: Vec<Col<'_>> = batch
            .columns()
            .iter()
            .zip(&self.types)
            .map(|(a, t)| column(a.as_ref(), t, &fmt_opts))
            .collect::<Result<_>>()?;
        let ncols = cols.len() as i16;
        for row in from..to {
            out.put_u8(b'D');
            let len_at = out.len();
            out.put_i32(0);
            out.put_i16(ncols);
            for (i, col) in cols.iter().enumerate() {
                write_field(col, row, self.is_binary(i), opts, out)?;
            }
            let len = (out.len() - len_at) as i32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }
}

fn column<'a>(a: &'a dyn Array, t: &PgType, fmt: &FormatOptions<'a>) -> Result<Col<'a>> {
    use DataType::*;
    Ok(match a.data_type() {
        Null => Col::Null,
        Boolean => Col::Bool(a.as_boolean()),
        Int8 => Col::I8(a.as_primitive()),
        Int16 => Col::I16(a.as_primitive()),
        Int32 => Col::I32(a.as_primitive()),
        Int64 => Col::I64(a.as_primitive()),
        UInt8 => Col::U8(a.as_primitive()),
        UInt16 => Col::U16(a.as_primitive()),
        UInt32 => Col::U32(a.as_primitive()),
        UInt64 => Col::U64(a.as_primitive()),
        Float32 => Col::F32(a.as_primitive()),
        Float64 => Col::F64(a.as_primitive()),
        Decimal128(_, s) => Col::Dec(a.as_primitive(), *s),
        Decimal256(_, s) => Col::Dec256(a.as_primitive(), *s),
        Utf8 | LargeUtf8 | Utf8View if t.oid == oid::JSONB => Col::Jsonb(a),
        Utf8 | LargeUtf8 | Utf8View => Col::Str(a),
        FixedSizeBinary(16) if t.oid == oid::UUID => Col::Uuid(a.as_fixed_size_binary()),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Col::Bin(a),
        Date32 => Col::Date(a.as_primitive()),
        Time64(TimeUnit::Microsecond) => Col::Time(a.as_primitive()),
        Timestamp(TimeUnit::Microsecond, None) => Col::Ts(a.as_primitive()),
        Timestamp(TimeUnit::Microsecond, Some(_)) => Col::TsTz(a.as_primitive()),
        Interval(IntervalUnit::YearMonth) => Col::IntervalYm(a.as_primitive()),
        Interval(IntervalUnit::DayTime) => Col::IntervalDt(a.as_primitive()),
        Interval(IntervalUnit::MonthDayNano) => Col::IntervalMdn(a.as_primitive()),
        Duration(TimeUnit::Microsecond) => Col::Duration(a.as_primitive()),
        List(_) => Col::List(a.as_list()),
        LargeList(_) => Col::LargeList(a.as_list()),
        _ => Col::Other(
            ArrayFormatter::try_new(a, fmt).map_err(|e| WeirError::DataFusion(e.into()))?,
        ),
    })
}

fn is_null(col: &Col<'_>, row: usize) -> bool {
    match col {
        Col::Null => true,
        Col::Bool(a) => a.is_null(row),
        Col::I8(a) => a.is_null(row),
        Col::I16(a) => a.is_null(row),
        Col::I32(a) => a.is_null(row),
        Col::I64(a) => a.is_null(row),
        Col::U8(a) => a.is_null(row),
        Col::U16(a) => a.is_null(row),
        Col::U32(a) => a.is_null(row),
        Col::U64(a) => a.is_null(row),
        Col::F32(a) => a.is_null(row),
        Col::F64(a) => a.is_null(row),
        Col::Dec(a, _) => a.is_null(row),
        Col::Dec256(a, _) => a.is_null(row),
        Col::Str(a) | Col::Jsonb(a) | Col::Bin(a) => a.is_null(row),
        Col::Uuid(a) => a.is_null(row),
        Col::Date(a) => a.is_null(row),
        Col::Time(a) => a.is_null(row),
        Col::Ts(a) | Col::TsTz(a) => a.is_null(row),
        Col::IntervalYm(a) => a.is_null(row),
        Col::IntervalDt(a) => a.is_null(row),
        Col::IntervalMdn(a) => a.is_null(row),
        Col::Duration(a) => a.is_null(row),
        Col::List(a) => a.is_null(row),
        Col::LargeList(a) => a.is_null(row),
        Col::Other(_) => false,
    }
}

/// Write one field: length prefix (or -1 for NULL) and bytes.
fn write_field(
    col: &Col<'_>,
    row: usize,
    binary: bool,
    opts: &TextOptions,
    out: &mut BytesMut,
) -> Result<()> {
    if is_null(col, row) {
        out.put_i32(-1);
        return Ok(());
    }
    let at = out.len();
    out.put_i32(0);
    if binary {
        write_binary(col, row, opts, out)?;
    } else {
        write_text(col, row, opts, out)?;
    }
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

struct Fmt<'a>(&'a mut BytesMut);
impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

fn str_value(a: &dyn Array, row: usize) -> &str {
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(row),
        DataType::LargeUtf8 => a.as_string::<i64>().value(row),
        _ => a.as_string_view().value(row),
    }
}

fn bin_value(a: &dyn Array, row: usize) -> &[u8] {
    match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().value(row),
        DataType::LargeBinary => a.as_binary::<i64>().value(row),
        DataType::FixedSizeBinary(_) => a.as_fixed_size_binary().value(row),
        _ => a.as_binary_view().value(row),
    }
}

fn write_text(col: &Col<'_>, row: usize, opts: &TextOptions, out: &mut BytesMut) -> Result<()> {
    let mut f = Fmt(out);
    let r = match col {
        Col::Null => Ok(()),
        Col::Bool(a) => {
            f.0.put_u8(if a.value(row) { b't' } else { b'f' });
            Ok(())
        }
        Col::I8(a) => int_text(i128::from(a.value(row)), f.0),
        Col::I16(a) => int_text(i128::from(a.value(row)), f.0),
        Col::I32(a) => int_text(i128::from(a.value(row)), f.0),
        Col::I64(a) => int_text(i128::from(a.value(row)), f.0),
        Col::U8(a) => int_text(i128::from(a.value(row)), f.0),
        Col::U16(a) => int_text(i128::from(a.value(row)), f.0),
        Col::U32(a) => int_text(i128::from(a.value(row)), f.0),
        Col::U64(a) => int_text(i128::from(a.value(row)), f.0),
        Col::F32(a) => {
            float_text(f64::from(a.value(row)), true, opts.extra_float_digits, f.0);
            Ok(())
        }
        Col::F64(a) => {
            float_text(a.value(row), false, opts.extra_float_digits, f.0);
            Ok(())
        }
        Col::Dec(a, s) => {
            decimal_text(a.value(row), *s, f.0);
            Ok(())
        }
        Col::Dec256(a, s) => {
            let v = a.value(row).to_string();
            let (negative, digits) = match v.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, v.as_str()),
            };
            decimal_digits_text(negative, digits.as_bytes(), *s, f.0);
            Ok(())
        }
        Col::Str(a) | Col::Jsonb(a) => {
            f.0.put_slice(str_value(*a, row).as_bytes());
            Ok(())
        }
        Col::Bin(a) => {
            bytea_text(bin_value(*a, row), f.0);
            Ok(())
        }
        Col::Uuid(a) => {
            uuid_text(a.value(row), f.0);
            Ok(())
        }
        Col::Date(a) => {
            date_text(a.value(row), f.0);
            Ok(())
        }
        Col::Time(a) => {
            time_text(a.value(row), f.0);
            Ok(())
        }
        Col::Ts(a) => {
            timestamp_text(a.value(row), None, f.0);
            Ok(())
        }
        Col::TsTz(a) => {
            let v = a.value(row);
            timestamp_text(v, Some(opts.tz.offset_secs(v)), f.0);
            Ok(())
        }
        Col::IntervalYm(a) => {
            interval_text(a.value(row), 0, 0, f.0);
            Ok(())
        }
        Col::IntervalDt(a) => {
            let v = a.value(row);
            interval_text(0, v.days, i64::from(v.milliseconds) * 1000, f.0);
            Ok(())
        }
        Col::IntervalMdn(a) => {
            let v = a.value(row);
            interval_text(v.months, v.days, v.nanoseconds / 1000, f.0);
            Ok(())
        }
        Col::Duration(a) => {
            interval_text(0, 0, a.value(row), f.0);
            Ok(())
        }
        Col::List(a) => return list_text(a, row, opts, f.0),
        Col::LargeList(a) => return list_text(a, row, opts, f.0),
        Col::Other(fmt) => write!(f, "{}", fmt.value(row)),
    };
    r.map_err(|_| WeirError::Internal("cannot format value".into()))
}

/// Run `f` over the elements of list `row`: their column, the element
/// array and its PostgreSQL type.
fn with_elements<O: OffsetSizeTrait, R>(
    a: &GenericListArray<O>,
    row: usize,
    f: impl FnOnce(&Col<'_>, &dyn Array, PgType) -> Result<R>,
) -> Result<R> {
    let values = a.value(row);
    let elem_type = match a.data_type() {
        DataType::List(f) | DataType::LargeList(f) => pg_type(f),
        _ => PgType::new(oid::TEXT, -1),
    };
    let fmt = FormatOptions::default();
    let col = column(values.as_ref(), &elem_type, &fmt)?;
    f(&col, values.as_ref(), elem_type)
}

fn list_text<O: OffsetSizeTrait>(
    a: &GenericListArray<O>,
    row: usize,
    opts: &TextOptions,
    out: &mut BytesMut,
) -> Result<()> {
    with_elements(a, row, |col, values, _| {
        elements_text(col, values.len(), opts, out)
    })
}

fn elements_text(col: &Col<'_>, n: usize, opts: &TextOptions, out: &mut BytesMut) -> Result<()> {
    out.put_u8(b'{');
    let mut elem = BytesMut::new();
    for i in 0..n {
        if i > 0 {
            out.put_u8(b',');
        }
        if is_null(col, i) {
            out.put_slice(b"NULL");
            continue;
        }
        elem.clear();
        write_text(col, i, opts, &mut elem)?;
        let needs_quotes = elem.is_empty()
            || elem.eq_ignore_ascii_case(b"null")
            || elem
                .iter()
                .any(|b| matches!(b, b'{' | b'}' | b',' | b'"' | b'\\') || b.is_ascii_whitespace());
        if needs_quotes {
            out.put_u8(b'"');
            for b in elem.iter() {
                if matches!(b, b'"' | b'\\') {
                    out.put_u8(b'\\');
                }
                out.put_u8(*b);
            }
            out.put_u8(b'"');
        } else {
            out.put_slice(&elem);
        }
    }
    out.put_u8(b'}');
    Ok(())
}

fn write_binary(col: &Col<'_>, row: usize, opts: &TextOptions, out: &mut BytesMut) -> Result<()> {
    match col {
        Col::Null => {}
        Col::Bool(a) => out.put_u8(u8::from(a.value(row))),
        Col::I8(a) => out.put_i16(i16::from(a.value(row))),
        Col::I16(a) => out.put_i16(a.value(row)),
        Col::I32(a) => out.put_i32(a.value(row)),
        Col::I64(a) => out.put_i64(a.value(row)),
        Col::U8(a) => out.put_i16(i16::from(a.value(row))),
        Col::U16(a) => out.put_i32(i32::from(a.value(row))),
        Col::U32(a) => out.put_i64(i64::from(a.value(row))),
        Col::U64(a) => numeric_binary(i128::from(a.value(row)), 0, out),
        Col::F32(a) => out.put_f32(a.value(row)),
        Col::F64(a) => out.put_f64(a.value(row)),
        Col::Dec(a, s) => numeric_binary(a.value(row), *s, out),
        Col::Dec256(a, s) => {
            let v = a.value(row).to_string();
            let (negative, digits) = match v.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, v.as_str()),
            };
            numeric_binary_digits(negative, digits.as_bytes(), *s, out)
        }
        Col::Str(a) => out.put_slice(str_value(*a, row).as_bytes()),
        Col::Jsonb(a) => {
            out.put_u8(1);
            out.put_slice(str_value(*a, row).as_bytes());
        }
        Col::Bin(a) => out.put_slice(bin_value(*a, row)),
        Col::Uuid(a) => out.put_slice(a.value(row)),
        Col::Date(a) => out.put_i32(date_to_pg(a.value(row))),
        Col::Time(a) => out.put_i64(a.value(row)),
        Col::Ts(a) | Col::TsTz(a) => out.put_i64(timestamp_to_pg(a.value(row))),
        Col::IntervalYm(a) => {
            out.put_i64(0);
            out.put_i32(0);
            out.put_i32(a.value(row));
        }
        Col::IntervalDt(a) => {
            let v = a.value(row);
            out.put_i64(i64::from(v.milliseconds) * 1000);
            out.put_i32(v.days);
            out.put_i32(0);
        }
        Col::IntervalMdn(a) => {
            let v = a.value(row);
            out.put_i64(v.nanoseconds / 1000);
            out.put_i32(v.days);
            out.put_i32(v.months);
        }
        Col::Duration(a) => {
            out.put_i64(a.value(row));
            out.put_i32(0);
            out.put_i32(0);
        }
        Col::List(a) => list_binary(a, row, opts, out)?,
        Col::LargeList(a) => list_binary(a, row, opts, out)?,
        Col::Other(_) => write_text(col, row, opts, out)?,
    }
    Ok(())
}

fn list_binary<O: OffsetSizeTrait>(
    a: &GenericListArray<O>,
    row: usize,
    opts: &TextOptions,
    out: &mut BytesMut,
) -> Result<()> {
    with_elements(a, row, |col, values, elem_type| {
        elements_binary(col, values, elem_type.oid, opts, out)
    })
}

fn elements_binary(
    col: &Col<'_>,
    values: &dyn Array,
    elem_oid: u32,
    opts: &TextOptions,
    out: &mut BytesMut,
) -> Result<()> {
    let n = values.len();
    if n == 0 {
        out.put_i32(0);
        out.put_i32(0);
        out.put_u32(elem_oid);
        return Ok(());
    }
    out.put_i32(1);
    out.put_i32(i32::from(values.null_count() > 0));
    out.put_u32(elem_oid);
    out.put_i32(n as i32);
    out.put_i32(1);
    for i in 0..n {
        write_field(col, i, true, opts, out)?;
    }
    Ok(())
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

// PostgreSQL's `infinity` and `-infinity` dates and timestamps are the
// extreme values of their types. Weir keeps them as the same extremes in
// Arrow (so they sort after and before every other value, as in
// PostgreSQL) and moves only finite values between the two epochs.

/// Arrow days since 1970 → PostgreSQL days since 2000.
fn date_to_pg(days: i32) -> i32 {
    match days {
        i32::MAX | i32::MIN => days,
        d => d.saturating_sub(PG_EPOCH_DAYS),
    }
}

/// PostgreSQL days since 2000 → Arrow days since 1970.
fn date_from_pg(days: i32) -> i32 {
    match days {
        i32::MAX | i32::MIN => days,
        d => d.saturating_add(PG_EPOCH_DAYS),
    }
}

/// Arrow microseconds since 1970 → PostgreSQL microseconds since 2000.
fn timestamp_to_pg(us: i64) -> i64 {
    match us {
        i64::MAX | i64::MIN => us,
        u => u.saturating_sub(PG_EPOCH_MICROS),
    }
}

/// PostgreSQL microseconds since 2000 → Arrow microseconds since 1970.
fn timestamp_from_pg(us: i64) -> i64 {
    match us {
        i64::MAX | i64::MIN => us,
        u => u.saturating_add(PG_EPOCH_MICROS),
    }
}

/// `infinity` / `-infinity` as PostgreSQL reads them for dates and
/// timestamps: `Some(true)` for +, `Some(false)` for −.
fn infinity(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => Some(true),
        "-infinity" => Some(false),
        _ => None,
    }
}

/// PostgreSQL's float output: shortest round-trip digits when
/// `extra_float_digits > 0`, else `%.{DBL_DIG + efd}g`.
pub fn float_text(v: f64, single: bool, extra_float_digits: i32, out: &mut BytesMut) {
    if v.is_nan() {
        return out.put_slice(b"NaN");
    }
    if v.is_infinite() {
        return out.put_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    }
    let digits = if single { 6 } else { 15 };
    let s = if extra_float_digits > 0 {
        let sci = if single {
            format!("{:e}", v as f32)
        } else {
            format!("{v:e}")
        };
        let exp = sci
            .rsplit('e')
            .next()
            .and_then(|e| e.parse::<i32>().ok())
            .unwrap_or(0);
        if exp < -4 || exp >= digits {
            exponent_form(&sci)
        } else if single {
            format!("{}", v as f32)
        } else {
            format!("{v}")
        }
    } else {
        let precision = (digits + extra_float_digits).max(1) as usize;
        let sci = format!("{:.*e}", precision - 1, v);
        let exp = sci
            .rsplit('e')
            .next()
            .and_then(|e| e.parse::<i32>().ok())
            .unwrap_or(0);
        if exp < -4 || exp >= precision as i32 {
            let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
            let mant = trim_fraction(mant);
            exponent_form(&format!("{mant}e{e}"))
        } else {
            let decimals = (precision as i32 - 1 - exp).max(0) as usize;
            trim_fraction(&format!("{v:.decimals$}")).to_owned()
        }
    };
    out.put_slice(s.as_bytes());
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `1.5e-5` → `1.5e-05`, `1e20` → `1e+20` (C's `%e` exponent form).
fn exponent_form(sci: &str) -> String {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn decimal_text(v: i128, scale: i8, out: &mut BytesMut) {
    let mut buf = [0u8; 40];
    let digits = decimal_digits(v.unsigned_abs(), &mut buf);
    decimal_digits_text(v < 0, digits, scale, out)
}

/// A decimal given by the digits of its unscaled magnitude, as text.
fn decimal_digits_text(negative: bool, digits: &[u8], scale: i8, out: &mut BytesMut) {
    let zero = digits.iter().all(|d| *d == b'0');
    if negative && !zero {
        out.put_u8(b'-');
    }
    if scale <= 0 {
        out.put_slice(digits);
        if !zero {
            for _ in 0..(-scale) {
                out.put_u8(b'0');
            }
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.put_slice(b"0.");
        for _ in 0..scale - digits.len() {
            out.put_u8(b'0');
        }
        out.put_slice(digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.put_slice(int);
        out.put_u8(b'.');
        out.put_slice(frac);
    }
}

/// An integer in decimal, without the formatting machinery.
fn int_text(v: i128, out: &mut BytesMut) -> std::fmt::Result {
    let mut buf = [0u8; 40];
    if v < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(decimal_digits(v.unsigned_abs(), &mut buf));
    Ok(())
}

/// The decimal digits of `u`, written at the end of `buf` without allocating.
fn decimal_digits(mut u: u128, buf: &mut [u8; 40]) -> &[u8] {
    let mut i = buf.len();
    // u128 division is slow; most values fit in 64 bits.
    while u > u128::from(u64::MAX) {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
    }
    let mut small = u as u64;
    loop {
        i -= 1;
        buf[i] = b'0' + (small % 10) as u8;
        small /= 10;
        if small == 0 {
            break;
        }
    }
    &buf[i..]
}

/// PostgreSQL's binary numeric: base-10000 digits with weight and dscale.
fn numeric_binary(v: i128, scale: i8, out: &mut BytesMut) {
    let (magnitude, scale) = if scale < 0 {
        (
            v.unsigned_abs()
                .saturating_mul(10u128.saturating_pow(u32::from(scale.unsigned_abs()))),
            0u32,
        )
    } else {
        (v.unsigned_abs(), scale as u32)
    };
    // Shift the value so the fraction is a whole number of base-10000
    // digits; 38 decimal digits shifted by at most 3 may not fit in u128,
    // so the top digits are split off first.
    let pad = (4 - scale % 4) % 4;
    let frac_groups = ((scale + pad) / 4) as i32;
    let mut groups = [0i16; 12];
    let mut n = 0usize;
    let pow = 10u128.pow(pad);
    let (mut high, low) = (magnitude / 10_000, magnitude % 10_000);
    // magnitude * 10^pad = high * 10^(4+pad) + low * 10^pad
    let low_shifted = low * pow; // < 10^7
    groups[n] = (low_shifted % 10_000) as i16;
    n += 1;
    let mut carry = low_shifted / 10_000; // < 10^3
                                          // high * 10^pad + carry, in base 10000: take digits of high, shifting
                                          // each by 10^pad with a running carry.
    while high > 0 || carry > 0 {
        let chunk = (high % 10_000) * pow + carry;
        groups[n] = (chunk % 10_000) as i16;
        n += 1;
        carry = chunk / 10_000;
        high /= 10_000;
    }
    // Drop leading (most significant) zero groups, then trailing ones.
    while n > 0 && groups[n - 1] == 0 {
        n -= 1;
    }
    let mut first = 0usize;
    while first < n && groups[first] == 0 {
        first += 1;
    }
    let (ndigits, weight) = if n == 0 {
        (0usize, 0i32)
    } else {
        (n - first, n as i32 - 1 - frac_groups)
    };
    out.put_i16(ndigits as i16);
    out.put_i16(weight as i16);
    out.put_u16(if v < 0 && ndigits > 0 { 0x4000 } else { 0 });
    out.put_i16(scale as i16);
    for g in groups[first..n].iter().rev() {
        out.put_i16(*g);
    }
}

/// PostgreSQL's binary numeric from the digits of an unscaled magnitude
/// (any length): used for decimals wider than 128 bits.
fn numeric_binary_digits(negative: bool, digits: &[u8], scale: i8, out: &mut BytesMut) {
    // Whole decimal digits: integer part and fraction.
    let mut text: Vec<u8> = digits.to_vec();
    let scale = if scale < 0 {
        text.extend(std::iter::repeat_n(b'0', scale.unsigned_abs() as usize));
        0usize
    } else {
        scale as usize
    };
    if text.len() <= scale {
        let pad = scale + 1 - text.len();
        text.splice(0..0, std::iter::repeat_n(b'0', pad));
    }
    let (int, frac) = text.split_at(text.len() - scale);
    // Align both parts on base-10000 groups.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let mut aligned = vec![b'0'; int_pad];
    aligned.extend_from_slice(int);
    aligned.extend_from_slice(frac);
    aligned.extend(std::iter::repeat_n(b'0', frac_pad));
    let int_groups = (int.len() + int_pad) / 4;
    let groups: Vec<i16> = aligned
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
        .collect();
    let first = groups.iter().position(|g| *g != 0);
    let last = groups.iter().rposition(|g| *g != 0);
    let (ndigits, weight, body) = match (first, last) {
        (Some(f), Some(l)) => (l - f + 1, int_groups as i32 - 1 - f as i32, &groups[f..=l]),
        _ => (0, 0, &groups[0..0]),
    };
    out.put_i16(ndigits as i16);
    out.put_i16(weight as i16);
    out.put_u16(if negative && ndigits > 0 { 0x4000 } else { 0 });
    out.put_i16(scale as i16);
    for g in body {
        out.put_i16(*g);
    }
}

fn bytea_text(b: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_slice(b"\\x");
    for byte in b {
        out.put_u8(HEX[(byte >> 4) as usize]);
        out.put_u8(HEX[(byte & 15) as usize]);
    }
}

fn uuid_text(b: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.put_u8(b'-');
        }
        out.put_u8(HEX[(byte >> 4) as usize]);
        out.put_u8(HEX[(byte & 15) as usize]);
    }
}

/// The proleptic Gregorian (year, month, day) of a day count from
/// 1970-01-01, for every `i64` count (chrono's dates end at year 262143;
/// PostgreSQL's go to 5874897). Howard Hinnant's `civil_from_days`.
fn civil(days_since_epoch: i64) -> (i64, u32, u32) {
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` as PostgreSQL writes it (years before 1 AD counted as
/// BC: year 0 is 1 BC); returns whether ` BC` must follow.
fn write_date(days_since_epoch: i64, out: &mut BytesMut) -> bool {
    let (y, m, day) = civil(days_since_epoch);
    let year = if y <= 0 { 1 - y } else { y };
    if (0..10_000).contains(&year) {
        let year = year as u32;
        out.put_slice(&[
            b'0' + (year / 1000) as u8,
            b'0' + (year / 100 % 10) as u8,
            b'0' + (year / 10 % 10) as u8,
            b'0' + (year % 10) as u8,
        ]);
    } else {
        let _ = int_text(i128::from(year), out);
    }
    out.put_slice(&[
        b'-',
        b'0' + (m / 10) as u8,
        b'0' + (m % 10) as u8,
        b'-',
        b'0' + (day / 10) as u8,
        b'0' + (day % 10) as u8,
    ]);
    y <= 0
}

fn date_text(days: i32, out: &mut BytesMut) {
    match days {
        i32::MAX => out.put_slice(b"infinity"),
        i32::MIN => out.put_slice(b"-infinity"),
        _ => {
            if write_date(i64::from(days), out) {
                out.put_slice(b" BC");
            }
        }
    }
}

fn write_time_of_day(micros: i64, out: &mut BytesMut) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let mut f = Fmt(out);
    let _ = write!(
        f,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    write_fraction(frac, f.0);
}

fn write_fraction(frac_micros: i64, out: &mut BytesMut) {
    if frac_micros != 0 {
        let s = format!("{frac_micros:06}");
        out.put_u8(b'.');
        out.put_slice(s.trim_end_matches('0').as_bytes());
    }
}

fn time_text(micros: i64, out: &mut BytesMut) {
    write_time_of_day(micros, out);
}

fn timestamp_text(utc_micros: i64, offset_secs: Option<i32>, out: &mut BytesMut) {
    match utc_micros {
        i64::MAX => return out.put_slice(b"infinity"),
        i64::MIN => return out.put_slice(b"-infinity"),
        _ => {}
    }
    let local = i128::from(utc_micros) + i128::from(offset_secs.unwrap_or(0)) * 1_000_000;
    let days = local.div_euclid(86_400_000_000) as i64;
    let tod = local.rem_euclid(86_400_000_000) as i64;
    let bc = write_date(days, out);
    out.put_u8(b' ');
    write_time_of_day(tod, out);
    if let Some(off) = offset_secs {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        let mut f = Fmt(out);
        let _ = write!(f, "{sign}{:02}", a / 3600);
        if a % 3600 != 0 {
            let _ = write!(f, ":{:02}", (a / 60) % 60);
            if a % 60 != 0 {
                let _ = write!(f, ":{:02}", a % 60);
            }
        }
    }
    if bc {
        out.put_slice(b" BC");
    }
}

/// PostgreSQL's `postgres` IntervalStyle.
fn interval_text(months: i32, days: i32, micros: i64, out: &mut BytesMut) {
    let mut f = Fmt(out);
    let mut first = true;
    let mut is_before = false;
    let years = months / 12;
    let mons = months % 12;
    for (n, unit) in [(years, "year"), (mons, "mon"), (days, "day")] {
        if n == 0 {
            continue;
        }
        let plus = if is_before && n > 0 { "+" } else { "" };
        let _ = write!(
            f,
            "{}{plus}{n} {unit}{}",
            if first { "" } else { " " },
            if n == 1 { "" } else { "s" }
        );
        is_before = n < 0;
        first = false;
    }
    if micros != 0 || first {
        let neg = micros < 0;
        let a = micros.unsigned_abs();
        let secs = a / 1_000_000;
        let sign = if neg {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let _ = write!(
            f,
            "{}{sign}{:02}:{:02}:{:02}",
            if first { "" } else { " " },
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        write_fraction((a % 1_000_000) as i64, f.0);
    }
}

// ---------------------------------------------------------------------------
// Parameter decoding

fn bad_input(type_oid: u32, text: &str) -> WeirError {
    WeirError::InvalidTextRepresentation(format!(
        "invalid input syntax for type {}: \"{}\"",
        type_name(type_oid),
        text
    ))
}

fn out_of_range(type_oid: u32, text: &str) -> WeirError {
    WeirError::NumericOutOfRange(format!(
        "value \"{text}\" is out of range for type {}",
        type_name(type_oid)
    ))
}

/// Decode one Bind parameter. `type_oid` is what the client declared (or 0),
/// `target` what the planner inferred for the placeholder (if anything).
pub fn decode_param(
    value: Option<&[u8]>,
    binary: bool,
    type_oid: u32,
    target: Option<&DataType>,
) -> Result<ScalarValue> {
    let declared = arrow_type_of_oid(type_oid);
    let Some(bytes) = value else {
        let t = target
            .or(declared.as_ref())
            .cloned()
            .unwrap_or(DataType::Utf8);
        return ScalarValue::try_from(&t).map_err(WeirError::DataFusion);
    };
    let scalar = if binary {
        decode_binary(bytes, type_oid)?
    } else {
        let text =
            std::str::from_utf8(bytes).map_err(|_| WeirError::InvalidUtf8("a parameter value"))?;
        let parse_as = if type_oid != 0 {
            declared.clone()
        } else {
            target.cloned()
        };
        match parse_as {
            Some(t) => parse_text(
                text,
                &t,
                if type_oid != 0 {
                    type_oid
                } else {
                    pg_type_of(&t).oid
                },
            )?,
            None => ScalarValue::Utf8(Some(text.to_owned())),
        }
    };
    match target {
        Some(t) if &scalar.data_type() != t && !matches!(t, DataType::Null) => {
            let text = scalar.to_string();
            scalar.cast_to(t).map_err(|e| {
                let c = WeirError::DataFusion(e).to_client();
                if c.code == "22003" {
                    out_of_range(pg_type_of(t).oid, &text)
                } else {
                    bad_input(pg_type_of(t).oid, &text)
                }
            })
        }
        _ => Ok(scalar),
    }
}

/// Parse text as a value of Arrow type `t` (PostgreSQL type `type_oid` for messages).
pub fn parse_text(text: &str, t: &DataType, type_oid: u32) -> Result<ScalarValue> {
    let trimmed = text.trim();
    let int = |min: i128, max: i128| -> Result<i128> {
        let v: i128 = trimmed.parse().map_err(|_| bad_input(type_oid, text))?;
        if v < min || v > max {
            return Err(out_of_range(type_oid, text));
        }
        Ok(v)
    };
    Ok(match t {
        DataType::Int16 => ScalarValue::Int16(Some(int(i16::MIN.into(), i16::MAX.into())? as i16)),
        DataType::Int32 => ScalarValue::Int32(Some(int(i32::MIN.into(), i32::MAX.into())? as i32)),
        DataType::Int64 => ScalarValue::Int64(Some(int(i64::MIN.into(), i64::MAX.into())? as i64)),
        DataType::Boolean => ScalarValue::Boolean(Some(
            crate::session::params::parse_bool(trimmed).ok_or_else(|| bad_input(type_oid, text))?,
        )),
        DataType::Float32 | DataType::Float64 => {
            let v: f64 = match trimmed.to_ascii_lowercase().as_str() {
                "infinity" | "inf" | "+infinity" => f64::INFINITY,
                "-infinity" | "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                s => s.parse().map_err(|_| bad_input(type_oid, text))?,
            };
            if matches!(t, DataType::Float32) {
                ScalarValue::Float32(Some(v as f32))
            } else {
                ScalarValue::Float64(Some(v))
            }
        }
        DataType::Utf8 => ScalarValue::Utf8(Some(text.to_owned())),
        DataType::Binary => ScalarValue::Binary(Some(
            parse_bytea(text).ok_or_else(|| bad_input(type_oid, text))?,
        )),
        DataType::Date32 if infinity(trimmed).is_some() => {
            ScalarValue::Date32(Some(if infinity(trimmed) == Some(true) {
                i32::MAX
            } else {
                i32::MIN
            }))
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) if infinity(trimmed).is_some() => {
            ScalarValue::TimestampMicrosecond(
                Some(if infinity(trimmed) == Some(true) {
                    i64::MAX
                } else {
                    i64::MIN
                }),
                tz.clone(),
            )
        }
        DataType::Date32 => {
            let (dt, _) = parse_datetime(trimmed).ok_or_else(|| bad_input(type_oid, text))?;
            let days = dt
                .date()
                .signed_duration_since(NaiveDate::default())
                .num_days();
            ScalarValue::Date32(Some(
                i32::try_from(days).map_err(|_| out_of_range(type_oid, text))?,
            ))
        }
        DataType::Timestamp(unit, tz) => {
            let (dt, offset) = parse_datetime(trimmed).ok_or_else(|| bad_input(type_oid, text))?;
            let mut micros = dt.and_utc().timestamp_micros();
            if tz.is_some() {
                micros -= i64::from(offset.unwrap_or(0)) * 1_000_000;
            }
            ScalarValue::TimestampMicrosecond(Some(micros), tz.clone())
                .cast_to(&DataType::Timestamp(*unit, tz.clone()))
                .map_err(|_| out_of_range(type_oid, text))?
        }
        DataType::Time64(_) | DataType::Time32(_) => {
            let time = parse_time(trimmed).ok_or_else(|| bad_input(type_oid, text))?;
            let micros = i64::from(time.num_seconds_from_midnight()) * 1_000_000
                + i64::from(time.nanosecond() / 1000);
            ScalarValue::Time64Microsecond(Some(micros))
                .cast_to(t)
                .map_err(|_| bad_input(type_oid, text))?
        }
        DataType::Decimal128(_, _) if type_oid == oid::NUMERIC => {
            parse_numeric(trimmed).ok_or_else(|| bad_input(type_oid, text))?
        }
        other => ScalarValue::Utf8(Some(trimmed.to_owned()))
            .cast_to(other)
            .map_err(|e| {
                let c = WeirError::DataFusion(e).to_client();
                if c.code == "22003" {
                    out_of_range(type_oid, text)
                } else {
                    bad_input(type_oid, text)
                }
            })?,
    })
}

/// PostgreSQL's ISO date/timestamp input: `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]`.
/// Returns the local date-time and the UTC offset in seconds, if given.
fn parse_datetime(s: &str) -> Option<(chrono::NaiveDateTime, Option<i32>)> {
    let s = s.trim();
    let split = s.find([' ', 'T', 't']).unwrap_or(s.len());
    let date = NaiveDate::parse_from_str(&s[..split], "%Y-%m-%d").ok()?;
    let rest = s[split..].trim_start_matches([' ', 'T', 't']).trim();
    if rest.is_empty() {
        return Some((date.and_time(chrono::NaiveTime::MIN), None));
    }
    // The zone starts at a sign after the time, or is a trailing Z.
    let (time_part, zone) = if let Some(z) = rest.strip_suffix(['Z', 'z']) {
        (z.trim(), Some(0))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        (rest[..i].trim(), Some(parse_offset(&rest[i..])?))
    } else {
        (rest, None)
    };
    let time = if time_part.is_empty() {
        chrono::NaiveTime::MIN
    } else {
        parse_time(time_part)?
    };
    Some((date.and_time(time), zone))
}

fn parse_time(s: &str) -> Option<chrono::NaiveTime> {
    ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveTime::parse_from_str(s.trim(), f).ok())
}

/// `+HH`, `+HH:MM`, `+HHMM`, `-HH:MM:SS` → seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let parts: Vec<&str> = if digits.contains(':') {
        digits.split(':').collect()
    } else if digits.len() == 4 {
        vec![&digits[..2], &digits[2..]]
    } else {
        vec![digits]
    };
    let mut secs = 0;
    for (i, p) in parts.iter().enumerate().take(3) {
        let v: i32 = p.trim().parse().ok()?;
        secs += v * [3600, 60, 1][i];
    }
    Some(sign * secs)
}

fn parse_numeric(s: &str) -> Option<ScalarValue> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all = format!("{int}{frac}");
    let all = all.trim_start_matches('0');
    if all.len() > 38 {
        return None;
    }
    let v: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    let scale = frac.len() as i8;
    let precision = (all.len().max(scale as usize).max(1)) as u8;
    Some(ScalarValue::Decimal128(
        Some(if neg { -v } else { v }),
        precision.max(scale as u8),
        scale,
    ))
}

fn parse_bytea(s: &str) -> Option<Vec<u8>> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !hex.len().is_multiple_of(2) {
            return None;
        }
        hex.chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
            .collect()
    } else {
        Some(s.as_bytes().to_vec())
    }
}

fn need(bytes: &[u8], n: usize, type_oid: u32) -> Result<()> {
    if bytes.len() != n {
        return Err(WeirError::Protocol(format!(
            "incorrect binary data format in parameter of type {}: expected {n} bytes, got {}",
            type_name(type_oid),
            bytes.len()
        )));
    }
    Ok(())
}

fn decode_binary(b: &[u8], type_oid: u32) -> Result<ScalarValue> {
    let be = |n: usize| -> Result<[u8; 8]> {
        need(b, n, type_oid)?;
        let mut a = [0u8; 8];
        a[8 - n..].copy_from_slice(b);
        Ok(a)
    };
    Ok(match type_oid {
        oid::BOOL => {
            need(b, 1, type_oid)?;
            ScalarValue::Boolean(Some(b[0] != 0))
        }
        oid::INT2 => ScalarValue::Int16(Some(i64::from_be_bytes(be(2)?) as i16)),
        oid::INT4 | oid::OID => ScalarValue::Int32(Some(i64::from_be_bytes(be(4)?) as i32)),
        oid::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(be(8)?))),
        oid::FLOAT4 => {
            ScalarValue::Float32(Some(f32::from_bits(u64::from_be_bytes(be(4)?) as u32)))
        }
        oid::FLOAT8 => ScalarValue::Float64(Some(f64::from_bits(u64::from_be_bytes(be(8)?)))),
        oid::DATE => ScalarValue::Date32(Some(date_from_pg(i64::from_be_bytes(be(4)?) as i32))),
        oid::TIME => ScalarValue::Time64Microsecond(Some(i64::from_be_bytes(be(8)?))),
        oid::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            Some(timestamp_from_pg(i64::from_be_bytes(be(8)?))),
            None,
        ),
        oid::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            Some(timestamp_from_pg(i64::from_be_bytes(be(8)?))),
            Some("+00:00".into()),
        ),
        oid::INTERVAL => {
            need(b, 16, type_oid)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[..8]);
            let micros = i64::from_be_bytes(a);
            let days = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
            let months = i32::from_be_bytes([b[12], b[13], b[14], b[15]]);
            ScalarValue::IntervalMonthDayNano(Some(
                datafusion::arrow::datatypes::IntervalMonthDayNano::new(
                    months,
                    days,
                    micros.saturating_mul(1000),
                ),
            ))
        }
        oid::UUID => {
            need(b, 16, type_oid)?;
            let mut s = BytesMut::new();
            uuid_text(b, &mut s);
            ScalarValue::Utf8(Some(String::from_utf8_lossy(&s).into_owned()))
        }
        oid::JSONB => {
            let body = b
                .strip_prefix(&[1u8])
                .ok_or_else(|| WeirError::Protocol("unsupported jsonb binary version".into()))?;
            ScalarValue::Utf8(Some(
                std::str::from_utf8(body)
                    .map_err(|_| WeirError::InvalidUtf8("a jsonb parameter"))?
                    .to_owned(),
            ))
        }
        oid::NUMERIC => decode_numeric_binary(b)?,
        oid::BYTEA | 0 => ScalarValue::Binary(Some(b.to_vec())),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::JSON | oid::UNKNOWN => {
            ScalarValue::Utf8(Some(
                std::str::from_utf8(b)
                    .map_err(|_| WeirError::InvalidUtf8("a parameter value"))?
                    .to_owned(),
            ))
        }
        other => {
            return Err(WeirError::NotSupported(format!(
                "binary format for parameters of type OID {other} is not supported; send it as text"
            )))
        }
    })
}

fn decode_numeric_binary(b: &[u8]) -> Result<ScalarValue> {
    let bad = || WeirError::Protocol("invalid binary numeric parameter".into());
    if b.len() < 8 {
        return Err(bad());
    }
    let rd = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
    let (ndigits, weight, sign, dscale) = (rd(0), rd(2), rd(4) as u16, rd(6));
    if ndigits < 0 || dscale < 0 || b.len() != 8 + ndigits as usize * 2 {
        return Err(bad());
    }
    if sign == 0xC000 {
        return Ok(ScalarValue::Float64(Some(f64::NAN)));
    }
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    let digits: Vec<i16> = (0..ndigits as usize).map(|i| rd(8 + i * 2)).collect();
    if weight < 0 {
        s.push('0');
    }
    for w in 0..=weight.max(-1) {
        let d = digits.get(w as usize).copied().unwrap_or(0);
        if w == 0 {
            let _ = write!(s, "{d}");
        } else {
            let _ = write!(s, "{d:04}");
        }
    }
    if dscale > 0 {
        s.push('.');
        let mut frac = String::new();
        let mut idx = weight as i32 + 1;
        while frac.len() < dscale as usize {
            let d = if idx < 0 {
                0
            } else {
                digits.get(idx as usize).copied().unwrap_or(0)
            };
            let _ = write!(frac, "{d:04}");
            idx += 1;
        }
        s.push_str(&frac[..dscale as usize]);
    }
    parse_numeric(&s).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut BytesMut)) -> String {
        let mut b = BytesMut::new();
        f(&mut b);
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn floats_print_like_postgresql() {
        assert_eq!(text(|b| float_text(1.5, false, 1, b)), "1.5");
        assert_eq!(text(|b| float_text(1e20, false, 1, b)), "1e+20");
        assert_eq!(text(|b| float_text(0.00001, false, 1, b)), "1e-05");
        assert_eq!(
            text(|b| float_text(0.1 + 0.2, false, 1, b)),
            "0.30000000000000004"
        );
        assert_eq!(text(|b| float_text(0.1 + 0.2, false, 0, b)), "0.3");
        assert_eq!(text(|b| float_text(1_000_000.0, true, 1, b)), "1e+06");
        assert_eq!(
            text(|b| float_text(f64::NEG_INFINITY, false, 1, b)),
            "-Infinity"
        );
    }

    #[test]
    fn decimals_and_numeric_binary() {
        assert_eq!(text(|b| decimal_text(-5, 2, b)), "-0.05");
        assert_eq!(text(|b| decimal_text(123456, 2, b)), "1234.56");
        let mut b = BytesMut::new();
        numeric_binary(123456, 2, &mut b); // 1234.56 -> digits [1234, 5600], weight 0, dscale 2
        assert_eq!(&b[..], &[0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xD2, 0x15, 0xE0]);
        assert_eq!(
            decode_numeric_binary(&b).unwrap(),
            ScalarValue::Decimal128(Some(123456), 6, 2)
        );
        let mut z = BytesMut::new();
        numeric_binary(-1, 3, &mut z); // -0.001 -> digits [10], weight -1
        assert_eq!(&z[..], &[0, 1, 0xFF, 0xFF, 0x40, 0, 0, 3, 0, 10]);
        let mut ten_thousand = BytesMut::new();
        numeric_binary(1_000_000, 2, &mut ten_thousand); // 10000.00 -> [1], weight 1
        assert_eq!(&ten_thousand[..], &[0, 1, 0, 1, 0, 0, 0, 2, 0, 1]);
        assert_eq!(text(|b| decimal_text(0, -2, b)), "0");
        assert_eq!(text(|b| decimal_text(-12, -2, b)), "-1200");
    }

    proptest::proptest! {
        /// The digit-string encoder (wide decimals) writes what the i128
        /// one writes.
        #[test]
        fn numeric_binary_from_digits_matches_the_i128_encoder(v in -(10i128.pow(38) - 1)..10i128.pow(38), scale in 0i8..=38) {
            let mut a = BytesMut::new();
            numeric_binary(v, scale, &mut a);
            let mut b = BytesMut::new();
            numeric_binary_digits(v < 0, v.unsigned_abs().to_string().as_bytes(), scale, &mut b);
            assert_eq!(a, b);
        }

        /// Binary numerics decode to the value they encode, for any
        /// Decimal128 magnitude and scale.
        #[test]
        fn numeric_binary_round_trips(v in -(10i128.pow(38) - 1)..10i128.pow(38), scale in 0i8..=38) {
            let mut b = BytesMut::new();
            numeric_binary(v, scale, &mut b);
            match decode_numeric_binary(&b).unwrap() {
                ScalarValue::Decimal128(Some(back), _, back_scale) => {
                    proptest::prop_assert_eq!(
                        text(|o| decimal_text(back, back_scale, o)),
                        text(|o| decimal_text(v, scale, o))
                    );
                }
                other => proptest::prop_assert!(false, "decoded {other:?}"),
            }
        }
    }

    #[test]
    fn civil_dates_agree_with_chrono_and_reach_postgresqls_last_day() {
        use chrono::Datelike;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for days in (-3_000_000i64..3_000_000)
            .step_by(997)
            .chain([-1, 0, 1, 59, 60])
        {
            let d = epoch + chrono::Duration::days(days);
            assert_eq!(
                civil(days),
                (i64::from(d.year()), d.month(), d.day()),
                "{days}"
            );
        }
        // PostgreSQL's last date, 2,145,042,905 days after 1970.
        assert_eq!(text(|b| date_text(2_145_042_905, b)), "5874897-12-31");
        assert_eq!(text(|b| date_text(i32::MAX, b)), "infinity");
        assert_eq!(text(|b| date_text(i32::MIN, b)), "-infinity");
        assert_eq!(
            text(|b| timestamp_text(i64::MAX - 1, None, b)),
            "294247-01-10 04:00:54.775806"
        );
        assert_eq!(
            text(|b| timestamp_text(i64::MAX, Some(3600), b)),
            "infinity"
        );
    }

    #[test]
    fn dates_times_and_intervals_print_like_postgresql() {
        assert_eq!(text(|b| date_text(0, b)), "1970-01-01");
        assert_eq!(text(|b| date_text(-719_163, b)), "0001-12-31 BC");
        let far = NaiveDate::from_ymd_opt(12345, 6, 7).unwrap()
            - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(text(|b| date_text(far.num_days() as i32, b)), "12345-06-07");
        assert_eq!(
            text(|b| {
                let _ = int_text(i128::from(i64::MIN), b);
            }),
            "-9223372036854775808"
        );
        assert_eq!(
            text(|b| {
                let _ = int_text(0, b);
            }),
            "0"
        );
        assert_eq!(
            text(|b| timestamp_text(1_500_000, None, b)),
            "1970-01-01 00:00:01.5"
        );
        assert_eq!(
            text(|b| timestamp_text(0, Some(19800), b)),
            "1970-01-01 05:30:00+05:30"
        );
        assert_eq!(
            text(|b| interval_text(14, 3, 4 * 3_600_000_000 + 5_000_000, b)),
            "1 year 2 mons 3 days 04:00:05"
        );
        assert_eq!(text(|b| interval_text(0, 0, 0, b)), "00:00:00");
        assert_eq!(
            text(|b| interval_text(0, -1, 3_600_000_000, b)),
            "-1 days +01:00:00"
        );
    }

    #[test]
    fn text_parameters_report_bad_syntax_and_overflow_separately() {
        let e = parse_text("abc", &DataType::Int32, oid::INT4).unwrap_err();
        assert_eq!(e.to_client().code, "22P02");
        assert!(e.to_string().contains("integer: \"abc\""));
        let e = parse_text("99999999999", &DataType::Int32, oid::INT4).unwrap_err();
        assert_eq!(e.to_client().code, "22003");
    }

    #[test]
    fn dates_and_timestamps_parse_as_postgresql_accepts_them() {
        let d = |s| parse_text(s, &DataType::Date32, oid::DATE).unwrap();
        assert_eq!(d("1970-01-02"), ScalarValue::Date32(Some(1)));
        assert_eq!(
            d("1970-01-02 +00"),
            ScalarValue::Date32(Some(1)),
            "pgjdbc's setDate form"
        );
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        assert_eq!(
            parse_text("1970-01-01 00:00:01.5+02", &ts, oid::TIMESTAMP).unwrap(),
            ScalarValue::TimestampMicrosecond(Some(1_500_000), None)
        );
        let tstz = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
        assert_eq!(
            parse_text("1970-01-01T02:00:00+02:00", &tstz, oid::TIMESTAMPTZ).unwrap(),
            ScalarValue::TimestampMicrosecond(Some(0), Some("+00:00".into()))
        );
        assert!(parse_text("yesterday-ish", &DataType::Date32, oid::DATE).is_err());
    }

    #[test]
    fn types_carry_oids_and_typmods() {
        let f = Field::new("x", DataType::Decimal128(15, 2), true);
        assert_eq!(
            pg_type(&f),
            PgType {
                oid: oid::NUMERIC,
                len: -1,
                typmod: (15 << 16 | 2) + 4
            }
        );
        let f = Field::new("x", DataType::Utf8, true)
            .with_metadata([(PG_TYPE_METADATA.to_owned(), "varchar(25)".to_owned())].into());
        assert_eq!(
            pg_type(&f),
            PgType {
                oid: oid::VARCHAR,
                len: -1,
                typmod: 29
            }
        );
        let f = Field::new_list("x", Field::new_list_field(DataType::Int32, true), true);
        assert_eq!(pg_type(&f).oid, 1007);
    }
}
