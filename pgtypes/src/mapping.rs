//! Arrow ↔ PostgreSQL types: what RowDescription says of an Arrow field
//! (OID, length, typmod) and which Arrow type a parameter of an OID becomes.

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};

use crate::oid::{self, array_oid};

/// Field metadata key a source may set to say which PostgreSQL type a column
/// has when Arrow cannot tell (`varchar(25)`, `bpchar(1)`, `json`, `jsonb`, `uuid`).
pub const PG_TYPE_METADATA: &str = "weir.pg_type";
pub(crate) const ARROW_EXTENSION: &str = "ARROW:extension:name";

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
    pub(crate) const fn new(oid: u32, len: i16) -> Self {
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

pub(crate) fn pg_type_of(dt: &DataType) -> PgType {
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
pub(crate) fn parse_type_name(s: &str) -> Option<PgType> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
