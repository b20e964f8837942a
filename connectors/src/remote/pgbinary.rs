//! PostgreSQL's binary value formats → Arrow, and the binary COPY stream.
//!
//! [`Columns`] collects one batch: each column decodes its source type's
//! binary form into its natural Arrow array, which is then cast to the type
//! DataFusion planned (numeric goes straight to the planned decimal).

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, IntervalMonthDayNanoBuilder,
    RecordBatch, RecordBatchOptions, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use weir_pgtypes::{datetime, numeric, oid};

/// Element types whose arrays Weir decodes in binary.
const ARRAY_ELEMENTS: &[u32] = &[
    oid::BOOL,
    oid::INT2,
    oid::INT4,
    oid::INT8,
    oid::TEXT,
    oid::VARCHAR,
    oid::BPCHAR,
    oid::FLOAT4,
    oid::FLOAT8,
    oid::DATE,
    oid::TIMESTAMP,
    oid::TIMESTAMPTZ,
    oid::NUMERIC,
];

/// The element type of an array type Weir decodes in binary.
fn array_element(array: u32) -> Option<u32> {
    oid::element_oid(array).filter(|e| ARRAY_ELEMENTS.contains(e))
}

/// Whether Weir decodes `oid` in binary (else the SQL asks for text).
pub fn decodable(oid: u32) -> bool {
    scalar_decodable(oid) || array_element(oid).is_some()
}

fn scalar_decodable(oid: u32) -> bool {
    use oid::*;
    matches!(
        oid,
        BOOL | BYTEA
            | CHAR
            | NAME
            | INT8
            | INT2
            | INT4
            | TEXT
            | OID
            | FLOAT4
            | FLOAT8
            | BPCHAR
            | VARCHAR
            | DATE
            | TIME
            | TIMESTAMP
            | TIMESTAMPTZ
            | INTERVAL
            | NUMERIC
            | UNKNOWN
    )
}

fn bad_numeric(_: weir_pgtypes::Error) -> DataFusionError {
    bad("numeric")
}

fn bad(what: &str) -> DataFusionError {
    DataFusionError::Execution(format!("malformed {what} from the source"))
}

enum Builder {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    /// numeric straight into the planned decimal.
    Decimal(Decimal128Builder, i8),
    /// numeric as text, then cast (floats, integers, wide decimals).
    NumericText(StringBuilder),
    /// arrays: one list value per row.
    List(u32, Vec<ScalarValue>),
}

/// One output column being decoded.
struct Column {
    /// The column's name, for messages.
    name: String,
    oid: u32,
    target: DataType,
    builder: Builder,
}

impl Column {
    fn new(name: &str, oid: u32, target: DataType) -> Self {
        let builder = match oid {
            oid::BOOL => Builder::Bool(BooleanBuilder::new()),
            oid::INT2 => Builder::I16(Int16Builder::new()),
            oid::INT4 => Builder::I32(Int32Builder::new()),
            oid::INT8 | oid::OID => Builder::I64(Int64Builder::new()),
            oid::FLOAT4 => Builder::F32(Float32Builder::new()),
            oid::FLOAT8 => Builder::F64(Float64Builder::new()),
            oid::BYTEA => Builder::Bytes(BinaryBuilder::new()),
            oid::DATE => Builder::Date(Date32Builder::new()),
            oid::TIME => Builder::Time(Time64MicrosecondBuilder::new()),
            oid::TIMESTAMP => Builder::Timestamp(TimestampMicrosecondBuilder::new()),
            oid::TIMESTAMPTZ => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            oid::INTERVAL => Builder::Interval(IntervalMonthDayNanoBuilder::new()),
            oid::NUMERIC => match target {
                DataType::Decimal128(p, s) => {
                    let b = Decimal128Builder::new().with_precision_and_scale(p, s);
                    match b {
                        Ok(b) => Builder::Decimal(b, s),
                        Err(_) => Builder::NumericText(StringBuilder::new()),
                    }
                }
                _ => Builder::NumericText(StringBuilder::new()),
            },
            o if array_element(o).is_some() => Builder::List(o, Vec::new()),
            _ => Builder::Text(StringBuilder::new()),
        };
        Self {
            name: name.to_owned(),
            oid,
            target,
            builder,
        }
    }

    fn push(&mut self, value: Option<&[u8]>) -> Result<()> {
        let Some(v) = value else {
            match &mut self.builder {
                Builder::Bool(b) => b.append_null(),
                Builder::I16(b) => b.append_null(),
                Builder::I32(b) => b.append_null(),
                Builder::I64(b) => b.append_null(),
                Builder::F32(b) => b.append_null(),
                Builder::F64(b) => b.append_null(),
                Builder::Text(b) | Builder::NumericText(b) => b.append_null(),
                Builder::Bytes(b) => b.append_null(),
                Builder::Date(b) => b.append_null(),
                Builder::Time(b) => b.append_null(),
                Builder::Timestamp(b) => b.append_null(),
                Builder::Interval(b) => b.append_null(),
                Builder::Decimal(b, _) => b.append_null(),
                Builder::List(_, values) => values.push(ScalarValue::Null),
            }
            return Ok(());
        };
        match &mut self.builder {
            Builder::Bool(b) => b.append_value(fixed::<1>(v, "bool")?[0] != 0),
            Builder::I16(b) => b.append_value(i16::from_be_bytes(fixed(v, "int2")?)),
            Builder::I32(b) => b.append_value(i32::from_be_bytes(fixed(v, "int4")?)),
            Builder::I64(b) => b.append_value(if v.len() == 4 {
                u32::from_be_bytes(fixed(v, "oid")?) as i64
            } else {
                i64::from_be_bytes(fixed(v, "int8")?)
            }),
            Builder::F32(b) => b.append_value(f32::from_be_bytes(fixed(v, "float4")?)),
            Builder::F64(b) => b.append_value(f64::from_be_bytes(fixed(v, "float8")?)),
            Builder::Text(b) => b.append_value(std::str::from_utf8(v).map_err(|_| bad("text"))?),
            Builder::Bytes(b) => b.append_value(v),
            Builder::Date(b) => {
                let days = i32::from_be_bytes(fixed(v, "date")?);
                // ±infinity keep PostgreSQL's own sentinels, which sort
                // after and before every date, as in PostgreSQL; the wire
                // layer prints them as `infinity` and `-infinity`.
                b.append_value(datetime::date_from_pg(days))
            }
            Builder::Time(b) => b.append_value(i64::from_be_bytes(fixed(v, "time")?)),
            Builder::Timestamp(b) => {
                let us = i64::from_be_bytes(fixed(v, "timestamp")?);
                match us {
                    i64::MAX | i64::MIN => b.append_value(us),
                    // PostgreSQL counts from 2000, Arrow from 1970: the
                    // last 29 years PostgreSQL allows (after 294246 AD)
                    // do not fit, and must not turn into `infinity`.
                    _ => match us.checked_add(datetime::PG_EPOCH_MICROS) {
                        Some(unix) if unix != i64::MAX => b.append_value(unix),
                        _ => {
                            return Err(self.does_not_fit(&format!(
                                "{us} µs after 2000-01-01 (after 294246 AD)"
                            )))
                        }
                    },
                }
            }
            Builder::Interval(b) => {
                let v: [u8; 16] = fixed(v, "interval")?;
                let us = i64::from_be_bytes(v[0..8].try_into().map_err(|_| bad("interval"))?);
                let days = i32::from_be_bytes(v[8..12].try_into().map_err(|_| bad("interval"))?);
                let months = i32::from_be_bytes(v[12..16].try_into().map_err(|_| bad("interval"))?);
                // Arrow counts the time part in nanoseconds: up to about
                // 2,562,047 hours, PostgreSQL a thousand times more.
                let Some(nanos) = us.checked_mul(1000) else {
                    return Err(
                        self.does_not_fit(&format!("an interval of {} hours", us / 3_600_000_000))
                    );
                };
                b.append_value(IntervalMonthDayNano::new(months, days, nanos))
            }
            Builder::Decimal(b, scale) => {
                match numeric::binary_to_i128(v, *scale).map_err(bad_numeric)? {
                    Some(n) => b.append_value(n),
                    None => {
                        return Err(
                            self.does_not_fit(&numeric::binary_to_string(v).map_err(bad_numeric)?)
                        )
                    }
                }
            }
            Builder::NumericText(b) => {
                let text = numeric::binary_to_string(v).map_err(bad_numeric)?;
                let decimal = matches!(
                    self.target,
                    DataType::Decimal128(..) | DataType::Decimal256(..)
                );
                if decimal && ["NaN", "Infinity", "-Infinity"].contains(&text.as_str()) {
                    return Err(self.does_not_fit(&text));
                }
                b.append_value(text)
            }
            Builder::List(array_oid, values) => {
                let elem = array_element(*array_oid).unwrap_or(oid::TEXT);
                values.push(decode_array(&self.name, v, elem, &self.target)?);
            }
        }
        Ok(())
    }

    /// A source value this column's type cannot hold exactly (22003).
    fn does_not_fit(&self, value: &str) -> DataFusionError {
        let target = match self.target {
            DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
            DataType::Timestamp(..) => "Weir's timestamps (years 290308 BC to 294246 AD)".into(),
            DataType::Interval(_) => "Weir's intervals (up to 2562047 hours)".into(),
            ref t => t.to_string(),
        };
        let hint = match self.target {
            DataType::Decimal128(38, _) => {
                "; numeric columns without a declared precision are read as \
                 numeric(38, numeric_scale), a setting of the source (docs/remote-types.md)"
            }
            _ => "",
        };
        crate::ConnectorError::OutOfRange {
            column: self.name.clone(),
            message: match self.target {
                DataType::Decimal128(..) | DataType::Decimal256(..) => {
                    format!("the source's value {value} does not fit {target} exactly{hint}")
                }
                _ => format!("the source's value ({value}) does not fit {target}"),
            },
        }
        .into()
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        let array: ArrayRef = match &mut self.builder {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Text(b) | Builder::NumericText(b) => Arc::new(b.finish()),
            Builder::Bytes(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Interval(b) => Arc::new(b.finish()),
            Builder::Decimal(b, _) => Arc::new(b.finish()),
            Builder::List(_, values) => {
                let values = std::mem::take(values);
                let values: Vec<ScalarValue> = values
                    .into_iter()
                    .map(|v| {
                        if v.is_null() {
                            ScalarValue::try_from(&self.target)
                        } else {
                            Ok(v)
                        }
                    })
                    .collect::<Result<_>>()?;
                if values.is_empty() {
                    datafusion::arrow::array::new_empty_array(&self.target)
                } else {
                    ScalarValue::iter_to_array(values)?
                }
            }
        };
        if array.data_type() == &self.target {
            return Ok(array);
        }
        cast(&array, &self.target).map_err(|e| {
            DataFusionError::Execution(format!(
                "cannot read source type (OID {}) as {}: {e}",
                self.oid, self.target
            ))
        })
    }
}

fn fixed<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N]> {
    v.try_into().map_err(|_| bad(what))
}

fn decode_array(name: &str, v: &[u8], elem: u32, target: &DataType) -> Result<ScalarValue> {
    let item = match target {
        DataType::List(f) => f.data_type().clone(),
        _ => return Err(bad("array (not planned as a list)")),
    };
    let mut buf = v;
    if buf.remaining() < 12 {
        return Err(bad("array"));
    }
    let ndim = buf.get_i32();
    let _has_nulls = buf.get_i32();
    let _elem_oid = buf.get_u32();
    if ndim > 1 {
        return Err(DataFusionError::NotImplemented(
            "multi-dimensional arrays".into(),
        ));
    }
    let mut count = 0;
    if ndim == 1 {
        if buf.remaining() < 8 {
            return Err(bad("array"));
        }
        count = buf.get_i32().max(0) as usize;
        let _lower = buf.get_i32();
    }
    let mut column = Column::new(name, elem, item.clone());
    for _ in 0..count {
        if buf.remaining() < 4 {
            return Err(bad("array"));
        }
        let len = buf.get_i32();
        if len < 0 {
            column.push(None)?;
        } else {
            let len = len as usize;
            if buf.remaining() < len {
                return Err(bad("array"));
            }
            column.push(Some(&buf[..len]))?;
            buf.advance(len);
        }
    }
    let values = column.finish()?;
    Ok(ScalarValue::List(Arc::new(
        datafusion::arrow::array::ListArray::new(
            Arc::new(datafusion::arrow::datatypes::Field::new("item", item, true)),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
            values,
            None,
        ),
    )))
}

/// A batch being decoded.
pub struct Columns {
    schema: SchemaRef,
    columns: Vec<Column>,
    /// A column added only because the query returns none.
    placeholder: bool,
    rows: usize,
}

impl Columns {
    /// Columns of the given source OIDs, to be read as `schema`.
    pub fn new(schema: SchemaRef, oids: &[u32], placeholder: bool) -> Self {
        let columns = schema
            .fields()
            .iter()
            .zip(oids)
            .map(|(f, oid)| Column::new(f.name(), *oid, f.data_type().clone()))
            .collect();
        Self {
            schema,
            columns,
            placeholder,
            rows: 0,
        }
    }

    /// Rows collected so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Add one row's values (`None` for NULL).
    pub fn push_row<'v>(
        &mut self,
        values: impl IntoIterator<Item = Option<&'v [u8]>>,
    ) -> Result<()> {
        let mut n = 0;
        for (i, v) in values.into_iter().enumerate() {
            if let Some(c) = self.columns.get_mut(i) {
                c.push(v).map_err(|e| name_column(e, &self.schema, i))?;
            }
            n += 1;
        }
        let expected = self.columns.len() + usize::from(self.placeholder);
        if n != expected {
            return Err(DataFusionError::Execution(format!(
                "the source sent {n} columns, expected {expected}"
            )));
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows so far as a batch.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays = self
            .columns
            .iter_mut()
            .enumerate()
            .map(|(i, c)| c.finish().map_err(|e| name_column(e, &self.schema, i)))
            .collect::<Result<Vec<_>>>()?;
        let rows = std::mem::take(&mut self.rows);
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }
}

fn name_column(e: DataFusionError, schema: &SchemaRef, i: usize) -> DataFusionError {
    if matches!(e, DataFusionError::External(_)) {
        // Already names the column, and keeps its kind.
        return e;
    }
    let name = schema
        .fields()
        .get(i)
        .map(|f| f.name().as_str())
        .unwrap_or("?");
    DataFusionError::Execution(format!("column {name}: {e}"))
}

/// Splits the binary COPY stream (arriving in arbitrary chunks) into rows.
#[derive(Default)]
pub struct CopyReader {
    buf: BytesMut,
    header_done: bool,
    ended: bool,
}

impl CopyReader {
    /// Add a chunk.
    pub fn extend(&mut self, chunk: Bytes) {
        self.buf.extend_from_slice(&chunk);
    }

    /// Whether the trailer was seen.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Decode every complete row buffered into `columns`, stopping early
    /// once it holds `max_rows`.
    pub fn rows_into(&mut self, columns: &mut Columns, max_rows: usize) -> Result<()> {
        const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
        if !self.header_done {
            if self.buf.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            if &self.buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(bad("COPY header"));
            }
            let ext = u32::from_be_bytes(
                self.buf[SIGNATURE.len() + 4..SIGNATURE.len() + 8]
                    .try_into()
                    .map_err(|_| bad("COPY header"))?,
            ) as usize;
            if self.buf.len() < SIGNATURE.len() + 8 + ext {
                return Ok(());
            }
            self.buf.advance(SIGNATURE.len() + 8 + ext);
            self.header_done = true;
        }
        while columns.rows() < max_rows && !self.ended {
            // One tuple: i16 field count, then (i32 length, bytes) per field.
            let data = &self.buf[..];
            if data.len() < 2 {
                return Ok(());
            }
            let fields = i16::from_be_bytes([data[0], data[1]]);
            if fields == -1 {
                self.ended = true;
                self.buf.advance(2);
                return Ok(());
            }
            let mut at = 2;
            let mut spans = Vec::with_capacity(fields.max(0) as usize);
            for _ in 0..fields {
                if data.len() < at + 4 {
                    return Ok(());
                }
                let len = i32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
                at += 4;
                if len < 0 {
                    spans.push(None);
                } else {
                    let len = len as usize;
                    if data.len() < at + len {
                        return Ok(());
                    }
                    spans.push(Some((at, len)));
                    at += len;
                }
            }
            columns.push_row(spans.iter().map(|s| s.map(|(a, l)| &data[a..a + l])))?;
            self.buf.advance(at);
        }
        Ok(())
    }
}
