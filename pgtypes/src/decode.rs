//! Bind parameters: PostgreSQL text and binary values decoded into
//! DataFusion scalars of the type the client declared or the planner inferred.

use bytes::BytesMut;
use chrono::{NaiveDate, Timelike};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit};
use datafusion::scalar::ScalarValue;

use crate::datetime::{date_from_pg, infinity, parse_datetime, parse_time, timestamp_from_pg};
use crate::error::{overflowed, Error, Result};
use crate::mapping::{arrow_type_of_oid, pg_type_of};
use crate::numeric::{decode_numeric_binary, parse_numeric};
use crate::oid::{self, type_name};
use crate::text::uuid_text;

/// A boolean as PostgreSQL reads it (`on`/`off`, `true`/`false`, `yes`/`no`,
/// `1`/`0`, `t`/`f`, `y`/`n`, any case), for values and settings alike.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
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
        return Ok(ScalarValue::try_from(&t)?);
    };
    let scalar = if binary {
        decode_binary(bytes, type_oid)?
    } else {
        let text =
            std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8("a parameter value"))?;
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
            let cast = scalar.cast_to(t).map_err(|e| {
                if overflowed(&e) {
                    Error::out_of_range(pg_type_of(t).oid, &text)
                } else {
                    Error::invalid_text(pg_type_of(t).oid, &text)
                }
            })?;
            // A decimal is never rounded on its way in: a value with more
            // digits after the point than its place holds is refused.
            if let (Some(from), Some(to)) = (decimal_scale(&scalar), decimal_scale(&cast)) {
                if to < from && cast.cast_to(&scalar.data_type()).ok().as_ref() != Some(&scalar) {
                    return Err(Error::NotSupported(format!(
                        "numeric parameter value {text} has more than {to} digits after the decimal point"
                    )));
                }
            }
            Ok(cast)
        }
        _ => Ok(scalar),
    }
}

fn decimal_scale(v: &ScalarValue) -> Option<i8> {
    match v.data_type() {
        DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => Some(s),
        _ => None,
    }
}

/// Parse text as a value of Arrow type `t` (PostgreSQL type `type_oid` for messages).
pub fn parse_text(text: &str, t: &DataType, type_oid: u32) -> Result<ScalarValue> {
    let trimmed = text.trim();
    let int = |min: i128, max: i128| -> Result<i128> {
        let v: i128 = trimmed
            .parse()
            .map_err(|_| Error::invalid_text(type_oid, text))?;
        if v < min || v > max {
            return Err(Error::out_of_range(type_oid, text));
        }
        Ok(v)
    };
    Ok(match t {
        DataType::Int16 => ScalarValue::Int16(Some(int(i16::MIN.into(), i16::MAX.into())? as i16)),
        DataType::Int32 => ScalarValue::Int32(Some(int(i32::MIN.into(), i32::MAX.into())? as i32)),
        DataType::Int64 => ScalarValue::Int64(Some(int(i64::MIN.into(), i64::MAX.into())? as i64)),
        DataType::Boolean => ScalarValue::Boolean(Some(
            parse_bool(trimmed).ok_or_else(|| Error::invalid_text(type_oid, text))?,
        )),
        DataType::Float32 | DataType::Float64 => {
            let v: f64 = match trimmed.to_ascii_lowercase().as_str() {
                "infinity" | "inf" | "+infinity" => f64::INFINITY,
                "-infinity" | "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                s => s.parse().map_err(|_| Error::invalid_text(type_oid, text))?,
            };
            if matches!(t, DataType::Float32) {
                ScalarValue::Float32(Some(v as f32))
            } else {
                ScalarValue::Float64(Some(v))
            }
        }
        DataType::Utf8 => ScalarValue::Utf8(Some(text.to_owned())),
        DataType::Binary => ScalarValue::Binary(Some(
            parse_bytea(text).ok_or_else(|| Error::invalid_text(type_oid, text))?,
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
            let (dt, _) =
                parse_datetime(trimmed).ok_or_else(|| Error::invalid_text(type_oid, text))?;
            let days = dt
                .date()
                .signed_duration_since(NaiveDate::default())
                .num_days();
            ScalarValue::Date32(Some(
                i32::try_from(days).map_err(|_| Error::out_of_range(type_oid, text))?,
            ))
        }
        DataType::Timestamp(unit, tz) => {
            let (dt, offset) =
                parse_datetime(trimmed).ok_or_else(|| Error::invalid_text(type_oid, text))?;
            let mut micros = dt.and_utc().timestamp_micros();
            if tz.is_some() {
                micros -= i64::from(offset.unwrap_or(0)) * 1_000_000;
            }
            ScalarValue::TimestampMicrosecond(Some(micros), tz.clone())
                .cast_to(&DataType::Timestamp(*unit, tz.clone()))
                .map_err(|_| Error::out_of_range(type_oid, text))?
        }
        DataType::Time64(_) | DataType::Time32(_) => {
            let time = parse_time(trimmed).ok_or_else(|| Error::invalid_text(type_oid, text))?;
            let micros = i64::from(time.num_seconds_from_midnight()) * 1_000_000
                + i64::from(time.nanosecond() / 1000);
            ScalarValue::Time64Microsecond(Some(micros))
                .cast_to(t)
                .map_err(|_| Error::invalid_text(type_oid, text))?
        }
        DataType::Decimal128(_, _) if type_oid == oid::NUMERIC => {
            parse_numeric(trimmed).ok_or_else(|| Error::invalid_text(type_oid, text))?
        }
        other => ScalarValue::Utf8(Some(trimmed.to_owned()))
            .cast_to(other)
            .map_err(|e| {
                if overflowed(&e) {
                    Error::out_of_range(type_oid, text)
                } else {
                    Error::invalid_text(type_oid, text)
                }
            })?,
    })
}

pub(crate) fn parse_bytea(s: &str) -> Option<Vec<u8>> {
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

pub(crate) fn need(bytes: &[u8], n: usize, type_oid: u32) -> Result<()> {
    if bytes.len() != n {
        return Err(Error::Malformed(format!(
            "incorrect binary data format in parameter of type {}: expected {n} bytes, got {}",
            type_name(type_oid),
            bytes.len()
        )));
    }
    Ok(())
}

pub(crate) fn decode_binary(b: &[u8], type_oid: u32) -> Result<ScalarValue> {
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
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                months,
                days,
                micros.saturating_mul(1000),
            )))
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
                .ok_or_else(|| Error::Malformed("unsupported jsonb binary version".into()))?;
            ScalarValue::Utf8(Some(
                std::str::from_utf8(body)
                    .map_err(|_| Error::InvalidUtf8("a jsonb parameter"))?
                    .to_owned(),
            ))
        }
        oid::NUMERIC => decode_numeric_binary(b)?,
        oid::BYTEA | 0 => ScalarValue::Binary(Some(b.to_vec())),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::JSON | oid::UNKNOWN => {
            ScalarValue::Utf8(Some(
                std::str::from_utf8(b)
                    .map_err(|_| Error::InvalidUtf8("a parameter value"))?
                    .to_owned(),
            ))
        }
        other => {
            return Err(Error::NotSupported(format!(
                "binary format for parameters of type OID {other} is not supported; send it as text"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_parameters_are_never_rounded_into_their_place() {
        let place = DataType::Decimal128(38, 10);
        let ok = decode_param(Some(b"12.5"), false, oid::NUMERIC, Some(&place)).unwrap();
        assert_eq!(ok, ScalarValue::Decimal128(Some(125_000_000_000), 38, 10));
        let trailing = decode_param(Some(b"1.50000000000000"), false, 0, Some(&place)).unwrap();
        assert_eq!(
            trailing,
            ScalarValue::Decimal128(Some(15_000_000_000), 38, 10)
        );
        let e =
            decode_param(Some(b"1.00000000001"), false, oid::NUMERIC, Some(&place)).unwrap_err();
        assert!(e.to_string().contains("more than 10 digits"), "{e}");
    }

    #[test]
    fn text_parameters_report_bad_syntax_and_overflow_separately() {
        let e = parse_text("abc", &DataType::Int32, oid::INT4).unwrap_err();
        assert!(matches!(e, Error::InvalidText { .. }), "{e:?}");
        assert!(e.to_string().contains("integer: \"abc\""));
        let e = parse_text("99999999999", &DataType::Int32, oid::INT4).unwrap_err();
        assert!(matches!(e, Error::OutOfRange { .. }), "{e:?}");
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
}
