//! PostgreSQL type OIDs, array types and type names: the one OID table of
//! Weir (as in PostgreSQL's `pg_type.dat`).

/// `boolean`
pub const BOOL: u32 = 16;
/// `bytea`
pub const BYTEA: u32 = 17;
/// `"char"`, the one-byte internal type
pub const CHAR: u32 = 18;
/// `name`
pub const NAME: u32 = 19;
/// `bigint`
pub const INT8: u32 = 20;
/// `smallint`
pub const INT2: u32 = 21;
/// `integer`
pub const INT4: u32 = 23;
/// `text`
pub const TEXT: u32 = 25;
/// `oid`
pub const OID: u32 = 26;
/// `json`
pub const JSON: u32 = 114;
/// `real`
pub const FLOAT4: u32 = 700;
/// `double precision`
pub const FLOAT8: u32 = 701;
/// `unknown`, the type of untyped literals and parameters
pub const UNKNOWN: u32 = 705;
/// `character` (blank-padded)
pub const BPCHAR: u32 = 1042;
/// `character varying`
pub const VARCHAR: u32 = 1043;
/// `date`
pub const DATE: u32 = 1082;
/// `time without time zone`
pub const TIME: u32 = 1083;
/// `timestamp without time zone`
pub const TIMESTAMP: u32 = 1114;
/// `timestamp with time zone`
pub const TIMESTAMPTZ: u32 = 1184;
/// `interval`
pub const INTERVAL: u32 = 1186;
/// `numeric`
pub const NUMERIC: u32 = 1700;
/// `uuid`
pub const UUID: u32 = 2950;
/// `jsonb`
pub const JSONB: u32 = 3802;

/// Element type → array type, for every element type Weir sends or reads.
const ARRAYS: &[(u32, u32)] = &[
    (BOOL, 1000),
    (BYTEA, 1001),
    (INT2, 1005),
    (INT4, 1007),
    (TEXT, 1009),
    (BPCHAR, 1014),
    (VARCHAR, 1015),
    (INT8, 1016),
    (FLOAT4, 1021),
    (FLOAT8, 1022),
    (TIMESTAMP, 1115),
    (DATE, 1182),
    (TIME, 1183),
    (TIMESTAMPTZ, 1185),
    (INTERVAL, 1187),
    (NUMERIC, 1231),
    (UUID, 2951),
    (JSON, 199),
    (JSONB, 3807),
];

/// The array type OID of an element type OID (`text[]` for types without
/// one of their own).
pub fn array_oid(elem: u32) -> u32 {
    ARRAYS
        .iter()
        .find(|(e, _)| *e == elem)
        .map(|(_, a)| *a)
        .unwrap_or(1009)
}

/// The element type OID of an array type OID, if it is one.
pub fn element_oid(array: u32) -> Option<u32> {
    ARRAYS.iter().find(|(_, a)| *a == array).map(|(e, _)| *e)
}

/// The PostgreSQL name of a type OID, for messages.
pub fn type_name(oid: u32) -> &'static str {
    match oid {
        BOOL => "boolean",
        BYTEA => "bytea",
        CHAR => "\"char\"",
        NAME => "name",
        INT8 => "bigint",
        INT2 => "smallint",
        INT4 => "integer",
        TEXT => "text",
        OID => "oid",
        JSON => "json",
        FLOAT4 => "real",
        FLOAT8 => "double precision",
        BPCHAR => "character",
        VARCHAR => "character varying",
        DATE => "date",
        TIME => "time without time zone",
        TIMESTAMP => "timestamp without time zone",
        TIMESTAMPTZ => "timestamp with time zone",
        INTERVAL => "interval",
        NUMERIC => "numeric",
        UUID => "uuid",
        JSONB => "jsonb",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_map_both_ways_as_in_pg_type() {
        assert_eq!(array_oid(INT4), 1007);
        assert_eq!(array_oid(JSONB), 3807);
        assert_eq!(array_oid(OID), 1009, "no array of its own in Weir: text[]");
        assert_eq!(element_oid(1231), Some(NUMERIC));
        assert_eq!(element_oid(INT4), None);
        for (e, a) in ARRAYS {
            assert_eq!(element_oid(array_oid(*e)), Some(*e));
            assert_eq!(array_oid(element_oid(*a).unwrap()), *a);
        }
    }
}
