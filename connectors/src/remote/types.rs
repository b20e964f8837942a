//! Source column types → Arrow types (and so PostgreSQL wire types).
//!
//! `docs/remote-types.md` is the table of this file; keep them together.
//! A column Weir cannot map keeps its place in the table's schema (as
//! text) with the reason attached; reading it fails with a message naming
//! the source, table, column and type, while every other column of the
//! table stays queryable.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};

use super::SourceKind;

use weir_pgtypes::PG_TYPE_METADATA;

/// How a column is read from its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// As the column itself.
    Plain,
    /// Through `CAST(col AS text)` (PostgreSQL, Redshift) or the MySQL
    /// equivalent: Weir reads the source's own text form. Used for types
    /// whose text form is what clients expect (uuid, json, inet, enums...)
    /// and for `char(n)`, whose trailing spaces PostgreSQL ignores.
    Text,
    /// MySQL text columns: as their UTF-8 bytes, so that comparisons,
    /// grouping and sorting pushed to MySQL are byte-exact as in Weir,
    /// whatever the column's collation.
    Bytes,
    /// A SQL function of the column (`JSON_SERIALIZE({})` for Redshift SUPER).
    Function(&'static str),
}

/// The Arrow side of one source column.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The Arrow type Weir exposes.
    pub data_type: DataType,
    /// How it is read.
    pub read: Read,
    /// `json`/`jsonb` when the text is JSON.
    pub pg_type: Option<&'static str>,
}

impl Mapping {
    fn plain(data_type: DataType) -> Self {
        Self {
            data_type,
            read: Read::Plain,
            pg_type: None,
        }
    }

    fn text() -> Self {
        Self {
            data_type: DataType::Utf8,
            read: Read::Text,
            pg_type: None,
        }
    }
}

/// One column of a remote table.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteColumn {
    /// The column's name at the source.
    pub name: String,
    /// The source's name of its type, as shown in messages.
    pub source_type: String,
    /// Whether it may hold NULL.
    pub nullable: bool,
    /// How Weir reads it, or why it cannot.
    pub mapping: Result<Mapping, String>,
}

impl RemoteColumn {
    /// The Arrow field (text, with the reason attached, when unmappable).
    pub fn field(&self) -> Field {
        match &self.mapping {
            Ok(m) => {
                let field = Field::new(&self.name, m.data_type.clone(), self.nullable);
                match m.pg_type {
                    Some(t) => field.with_metadata(HashMap::from([(
                        PG_TYPE_METADATA.to_owned(),
                        t.to_owned(),
                    )])),
                    None => field,
                }
            }
            Err(_) => Field::new(&self.name, DataType::Utf8, true),
        }
    }
}

/// What introspection reports about a column's type.
#[derive(Debug, Clone, Default)]
pub struct TypeInfo {
    /// The type's name, lower case: PostgreSQL `typname` of the base type
    /// (`int4`, `numeric`, `_int4` for arrays), Redshift/information_schema
    /// `data_type` (`integer`, `character varying`), MySQL `DATA_TYPE`.
    pub name: String,
    /// Full type as the source prints it (`numeric(15,2)`, `int(10) unsigned`).
    pub display: String,
    /// Numeric precision and scale, when declared.
    pub precision: Option<u32>,
    /// Numeric scale.
    pub scale: Option<u32>,
    /// PostgreSQL `typtype`: `e` for enums, `b` base...
    pub pg_typtype: Option<char>,
}

/// Map one column type of a source; `numeric_scale` is the scale of
/// numerics declared without a precision (the source's setting).
pub fn map_type(kind: SourceKind, t: &TypeInfo, numeric_scale: u8) -> Result<Mapping, String> {
    // PostgreSQL and Redshift report neither precision nor scale for a
    // numeric declared without them (MySQL always reports both).
    let t = &TypeInfo {
        scale: match (kind, t.precision) {
            (SourceKind::Postgres | SourceKind::Redshift, None) => {
                Some(u32::from(numeric_scale.min(38)))
            }
            _ => t.scale,
        },
        ..t.clone()
    };
    match kind {
        SourceKind::Postgres => map_postgres(t),
        SourceKind::Redshift => map_redshift(t),
        SourceKind::Mysql => map_mysql(t),
    }
}

fn decimal(precision: Option<u32>, scale: Option<u32>) -> Result<Mapping, String> {
    match (precision, scale) {
        (Some(p), s) if (1..=38).contains(&p) => Ok(Mapping::plain(DataType::Decimal128(
            p as u8,
            s.unwrap_or(0).min(p) as i8,
        ))),
        (Some(p), s) if p <= 76 => Ok(Mapping::plain(DataType::Decimal256(
            p as u8,
            s.unwrap_or(0).min(p) as i8,
        ))),
        (Some(p), _) => Err(format!("precision {p} is above 76")),
        // Unconstrained numeric: 38 digits, `numeric_scale` of them after
        // the point (values that do not fit fail; see pgbinary).
        (None, s) => Ok(Mapping::plain(DataType::Decimal128(
            38,
            s.unwrap_or(10).min(38) as i8,
        ))),
    }
}

fn timestamp(tz: bool) -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, tz.then(|| Arc::from("UTC")))
}

fn postgres_scalar(name: &str, t: &TypeInfo) -> Option<Result<Mapping, String>> {
    Some(Ok(match name {
        "int2" => Mapping::plain(DataType::Int16),
        "int4" => Mapping::plain(DataType::Int32),
        "int8" => Mapping::plain(DataType::Int64),
        "oid" => Mapping::plain(DataType::Int64),
        "float4" => Mapping::plain(DataType::Float32),
        "float8" => Mapping::plain(DataType::Float64),
        "numeric" => return Some(decimal(t.precision, t.scale)),
        "bool" => Mapping::plain(DataType::Boolean),
        "text" | "varchar" | "name" | "citext" => Mapping::plain(DataType::Utf8),
        "bpchar" | "char" => Mapping::text(),
        "bytea" => Mapping::plain(DataType::Binary),
        "date" => Mapping::plain(DataType::Date32),
        "time" => Mapping::plain(DataType::Time64(TimeUnit::Microsecond)),
        "timestamp" => Mapping::plain(timestamp(false)),
        "timestamptz" => Mapping::plain(timestamp(true)),
        "interval" => Mapping::plain(DataType::Interval(IntervalUnit::MonthDayNano)),
        "json" | "jsonb" => Mapping {
            data_type: DataType::Utf8,
            read: Read::Text,
            pg_type: Some(if name == "json" { "json" } else { "jsonb" }),
        },
        "uuid" | "inet" | "cidr" | "macaddr" | "macaddr8" | "money" | "xml" | "timetz" | "bit"
        | "varbit" | "tsvector" | "tsquery" | "pg_lsn" | "int4range" | "int8range" | "numrange"
        | "daterange" | "tsrange" | "tstzrange" => Mapping::text(),
        _ => return None,
    }))
}

fn map_postgres(t: &TypeInfo) -> Result<Mapping, String> {
    if t.pg_typtype == Some('e') {
        return Ok(Mapping::text());
    }
    if let Some(element) = t.name.strip_prefix('_') {
        let inner = postgres_scalar(element, &TypeInfo::default())
            .unwrap_or_else(|| Err(format!("arrays of {element} are not supported")))?;
        if inner.read != Read::Plain || matches!(inner.data_type, DataType::Decimal256(..)) {
            return Err(format!("arrays of {element} are not supported"));
        }
        return Ok(Mapping::plain(DataType::List(Arc::new(Field::new(
            "item",
            inner.data_type,
            true,
        )))));
    }
    postgres_scalar(&t.name, t).unwrap_or_else(|| Err("no Arrow type for it".to_owned()))
}

fn map_redshift(t: &TypeInfo) -> Result<Mapping, String> {
    let name = t.name.as_str();
    Ok(match name {
        "smallint" | "int2" => Mapping::plain(DataType::Int16),
        "integer" | "int" | "int4" => Mapping::plain(DataType::Int32),
        "bigint" | "int8" => Mapping::plain(DataType::Int64),
        "real" | "float4" => Mapping::plain(DataType::Float32),
        "double precision" | "float8" | "float" => Mapping::plain(DataType::Float64),
        "numeric" | "decimal" => return decimal(t.precision, t.scale),
        "boolean" | "bool" => Mapping::plain(DataType::Boolean),
        "character varying" | "varchar" | "text" | "name" => Mapping::plain(DataType::Utf8),
        "character" | "char" | "bpchar" => Mapping::text(),
        "date" => Mapping::plain(DataType::Date32),
        "time without time zone" | "time" => {
            Mapping::plain(DataType::Time64(TimeUnit::Microsecond))
        }
        "timestamp without time zone" | "timestamp" => Mapping::plain(timestamp(false)),
        "timestamp with time zone" | "timestamptz" => Mapping::plain(timestamp(true)),
        "interval" => Mapping::plain(DataType::Interval(IntervalUnit::MonthDayNano)),
        "binary varying" | "varbyte" | "bytea" => Mapping::plain(DataType::Binary),
        "time with time zone" | "timetz" | "uuid" => Mapping::text(),
        "super" => Mapping {
            data_type: DataType::Utf8,
            read: Read::Function("JSON_SERIALIZE({})"),
            pg_type: Some("json"),
        },
        "geometry" | "geography" => Mapping {
            data_type: DataType::Utf8,
            read: Read::Function("ST_AsEWKT({})"),
            pg_type: None,
        },
        // The PostgreSQL stand-in reports these through information_schema.
        "json" | "jsonb" => Mapping {
            data_type: DataType::Utf8,
            read: Read::Text,
            pg_type: Some("json"),
        },
        _ => return Err("no Arrow type for it".to_owned()),
    })
}

fn map_mysql(t: &TypeInfo) -> Result<Mapping, String> {
    let unsigned = t.display.contains("unsigned");
    let name = t.name.as_str();
    Ok(match name {
        "tinyint" => Mapping::plain(DataType::Int16),
        "smallint" if unsigned => Mapping::plain(DataType::Int32),
        "smallint" => Mapping::plain(DataType::Int16),
        "mediumint" => Mapping::plain(DataType::Int32),
        "int" | "integer" if unsigned => Mapping::plain(DataType::Int64),
        "int" | "integer" => Mapping::plain(DataType::Int32),
        "bigint" if unsigned => Mapping::plain(DataType::Decimal128(20, 0)),
        "bigint" => Mapping::plain(DataType::Int64),
        "year" => Mapping::plain(DataType::Int16),
        "float" => Mapping::plain(DataType::Float32),
        "double" | "real" => Mapping::plain(DataType::Float64),
        "decimal" | "numeric" => return decimal(t.precision.or(Some(10)), t.scale),
        "bit" => Mapping {
            data_type: if t.precision == Some(1) {
                DataType::Boolean
            } else {
                DataType::Int64
            },
            read: Read::Function("CAST({} AS UNSIGNED)"),
            pg_type: None,
        },
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            Mapping {
                data_type: DataType::Utf8,
                read: Read::Bytes,
                pg_type: None,
            }
        }
        "json" => Mapping {
            data_type: DataType::Utf8,
            read: Read::Bytes,
            pg_type: Some("json"),
        },
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            Mapping::plain(DataType::Binary)
        }
        "date" => Mapping::plain(DataType::Date32),
        "time" => Mapping::plain(DataType::Interval(IntervalUnit::MonthDayNano)),
        "datetime" => Mapping::plain(timestamp(false)),
        "timestamp" => Mapping::plain(timestamp(true)),
        _ => return Err("no Arrow type for it".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, display: &str, p: Option<u32>, s: Option<u32>) -> TypeInfo {
        TypeInfo {
            name: name.into(),
            display: display.into(),
            precision: p,
            scale: s,
            pg_typtype: Some('b'),
        }
    }

    #[test]
    fn mysql_unsigned_and_wide_decimals() {
        let m = |n, d, p, s| map_type(SourceKind::Mysql, &t(n, d, p, s), 10).map(|m| m.data_type);
        assert_eq!(
            m("int", "int(10) unsigned", None, None),
            Ok(DataType::Int64)
        );
        assert_eq!(
            m("bigint", "bigint(20) unsigned", None, None),
            Ok(DataType::Decimal128(20, 0))
        );
        assert_eq!(
            m("decimal", "decimal(65,30)", Some(65), Some(30)),
            Ok(DataType::Decimal256(65, 30))
        );
        assert_eq!(m("bit", "bit(1)", Some(1), None), Ok(DataType::Boolean));
        assert!(m("geometry", "geometry", None, None).is_err());
    }

    #[test]
    fn postgres_arrays_and_unmappable_types() {
        let m = |n| map_type(SourceKind::Postgres, &t(n, n, None, None), 10);
        assert_eq!(
            m("_int4").map(|m| m.data_type),
            Ok(DataType::List(Arc::new(Field::new(
                "item",
                DataType::Int32,
                true
            ))))
        );
        assert_eq!(m("uuid").map(|m| m.read), Ok(Read::Text));
        assert!(m("_uuid").is_err());
        assert!(m("geometry").is_err());
        assert_eq!(
            m("numeric").map(|m| m.data_type),
            Ok(DataType::Decimal128(38, 10))
        );
        let wide = map_type(
            SourceKind::Postgres,
            &t("numeric", "numeric", None, None),
            20,
        );
        assert_eq!(wide.map(|m| m.data_type), Ok(DataType::Decimal128(38, 20)));
        let declared = map_type(
            SourceKind::Postgres,
            &t("numeric", "numeric(12,2)", Some(12), Some(2)),
            20,
        );
        assert_eq!(
            declared.map(|m| m.data_type),
            Ok(DataType::Decimal128(12, 2))
        );
    }
}
