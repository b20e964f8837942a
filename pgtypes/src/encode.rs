//! Result rows: Arrow columns encoded as PostgreSQL DataRow messages, in
//! text or binary format.
//!
//! Encoding works column-wise: [`RowEncoder::encode`] downcasts each column of
//! a batch once, then rows are written straight into the outgoing buffer as
//! DataRow messages, with no per-value allocation for scalar types.

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Decimal256Array, FixedSizeBinaryArray,
    Float32Array, Float64Array, GenericListArray, Int16Array, Int32Array, Int64Array, Int8Array,
    OffsetSizeTrait, PrimitiveArray, RecordBatch, UInt16Array, UInt32Array, UInt64Array,
    UInt8Array,
};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, DurationMicrosecondType, IntervalDayTimeType, IntervalMonthDayNanoType,
    IntervalUnit, IntervalYearMonthType, Schema, Time64MicrosecondType, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::datetime::{
    date_text, date_to_pg, interval_text, time_text, timestamp_text, timestamp_to_pg,
};
use crate::error::{Error, Result};
use crate::mapping::{pg_type, PgType};
use crate::numeric::{
    decimal_digits_text, decimal_text, int_text, numeric_binary, numeric_binary_digits,
};
use crate::oid;
use crate::text::{bytea_text, float_text, uuid_text, Fmt};
use crate::timezone::SessionTz;

/// How values are rendered as text, from session parameters.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// `TimeZone`, for timestamptz output.
    pub tz: SessionTz,
    /// `extra_float_digits`.
    pub extra_float_digits: i32,
}

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
    Dec256(&'a Decimal256Array, i8),
    Str(&'a dyn Array),
    /// Text sent as jsonb: binary format has a version byte.
    Jsonb(&'a dyn Array),
    Bin(&'a dyn Array),
    Uuid(&'a FixedSizeBinaryArray),
    Date(&'a PrimitiveArray<Date32Type>),
    Time(&'a PrimitiveArray<Time64MicrosecondType>),
    Ts(&'a PrimitiveArray<TimestampMicrosecondType>),
    TsTz(&'a PrimitiveArray<TimestampMicrosecondType>),
    IntervalYm(&'a PrimitiveArray<IntervalYearMonthType>),
    IntervalDt(&'a PrimitiveArray<IntervalDayTimeType>),
    IntervalMdn(&'a PrimitiveArray<IntervalMonthDayNanoType>),
    Duration(&'a PrimitiveArray<DurationMicrosecondType>),
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
    .map_err(Error::from)
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
        .map_err(Error::from),
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
        _ => Col::Other(ArrayFormatter::try_new(a, fmt)?),
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
    r.map_err(|_| Error::Format)
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
