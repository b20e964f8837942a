//! External tables: raw Parquet, CSV and JSON-lines files on the lake, read
//! with a schema kept in the catalog (declared, or inferred once when the
//! table was registered). The same files can be registered several times
//! with different schemas; nothing is copied.
//!
//! Options (`OPTIONS ('key' 'value', ...)`):
//! - CSV: `header` (`true`), `delimiter` (`,`), `quote`, `escape`,
//!   `null_value`, `compression` (`gzip`, `zstd`, `bzip2`, `xz`).
//! - JSON: `compression`.
//! - `bad_rows`: `fail` (default: the query fails, naming the problem) or
//!   `null` (a field that does not fit its column reads as NULL; CSV and
//!   JSON; Parquet files carry their own types).

use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat as DfFileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use weir_catalog::{ExternalTable, FileFormat, Lakehouse};

/// Option keys Weir understands.
pub const OPTIONS: &[&str] = &[
    "header",
    "delimiter",
    "quote",
    "escape",
    "null_value",
    "compression",
    "bad_rows",
];

fn plan_err(message: String) -> DataFusionError {
    DataFusionError::Plan(message)
}

fn qualified(lake: &Lakehouse, def: &ExternalTable) -> String {
    format!("{}.{}.{}", lake.name(), def.schema, def.name)
}

/// Check a definition's options; returns the bad-row policy's `null` flag.
pub fn check_options(def: &ExternalTable) -> Result<bool> {
    for key in def.options.keys() {
        if !OPTIONS.contains(&key.as_str()) {
            return Err(plan_err(format!(
                "unknown option {key:?} for external table {}.{} (known: {})",
                def.schema,
                def.name,
                OPTIONS.join(", ")
            )));
        }
    }
    match def.options.get("bad_rows").map(|s| s.to_ascii_lowercase()) {
        None => Ok(false),
        Some(p) if p == "fail" => Ok(false),
        Some(p) if p == "null" => Ok(true),
        Some(p) => Err(plan_err(format!(
            "option bad_rows must be 'fail' or 'null', not {p:?}"
        ))),
    }
}

fn flag(def: &ExternalTable, key: &str, default: bool) -> Result<bool> {
    match def.options.get(key).map(|s| s.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(plan_err(format!(
            "option {key} must be true or false, not {v:?}"
        ))),
    }
}

fn byte(def: &ExternalTable, key: &str) -> Result<Option<u8>> {
    match def.options.get(key) {
        None => Ok(None),
        Some(v) if v.len() == 1 => Ok(Some(v.as_bytes()[0])),
        Some(v) => Err(plan_err(format!(
            "option {key} must be one character, not {v:?}"
        ))),
    }
}

fn compression(def: &ExternalTable) -> Result<FileCompressionType> {
    match def.options.get("compression") {
        Some(c) => FileCompressionType::from_str(c)
            .map_err(|_| plan_err(format!("unknown compression {c:?}"))),
        None => Ok(FileCompressionType::UNCOMPRESSED),
    }
}

fn listing_options(def: &ExternalTable) -> Result<ListingOptions> {
    let compression = compression(def)?;
    let format: Arc<dyn DfFileFormat> = match def.format {
        FileFormat::Parquet => Arc::new(ParquetFormat::default()),
        FileFormat::Csv => {
            let mut csv = CsvFormat::default()
                .with_has_header(flag(def, "header", true)?)
                .with_file_compression_type(compression);
            if let Some(d) = byte(def, "delimiter")? {
                csv = csv.with_delimiter(d);
            }
            if let Some(q) = byte(def, "quote")? {
                csv = csv.with_quote(q);
            }
            if let Some(e) = byte(def, "escape")? {
                csv = csv.with_escape(Some(e));
            }
            if let Some(n) = def.options.get("null_value") {
                csv = csv.with_null_regex(Some(regex_escape(n)));
            }
            Arc::new(csv)
        }
        FileFormat::Json => Arc::new(JsonFormat::default().with_file_compression_type(compression)),
    };
    let partition_cols = def
        .partition_columns
        .iter()
        .map(|(name, ty)| Ok((name.clone(), parse_type(ty)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(ListingOptions::new(format)
        .with_file_extension("")
        .with_table_partition_cols(partition_cols)
        .with_collect_stat(true))
}

fn regex_escape(text: &str) -> String {
    let mut out = String::from("^");
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('$');
    out
}

/// Parse an Arrow type name as stored in a definition.
pub fn parse_type(name: &str) -> Result<DataType> {
    DataType::from_str(name).map_err(|e| plan_err(format!("bad column type {name:?}: {e}")))
}

fn table_url(def: &ExternalTable) -> Result<ListingTableUrl> {
    let location = if def.location.ends_with('/') || has_extension(&def.location) {
        def.location.clone()
    } else {
        format!("{}/", def.location)
    };
    ListingTableUrl::parse(&location)
}

fn has_extension(location: &str) -> bool {
    location
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

/// The declared schema of a definition (partition columns excluded).
pub fn file_schema(def: &ExternalTable) -> Result<SchemaRef> {
    let fields = def
        .columns
        .iter()
        .map(|(name, ty, nullable)| Ok(Field::new(name, parse_type(ty)?, *nullable)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// Where the files of an external table are (its URI, as the table reads
/// it), from its provider; `None` for any other table.
pub fn files_of(provider: &dyn TableProvider) -> Option<String> {
    let any = provider.as_any();
    if let Some(table) = any.downcast_ref::<super::file_errors::LocatedTable>() {
        return Some(table.url().as_str().to_owned());
    }
    any.downcast_ref::<super::text_fields::LenientTable>()
        .and_then(|t| t.url())
        .map(|url| url.as_str().to_owned())
}

/// The table provider of a registered external table.
pub fn provider(lake: &Lakehouse, def: &ExternalTable) -> Result<Arc<dyn TableProvider>> {
    let null_bad_rows = check_options(def)?;
    let url = table_url(def)?;
    let options = listing_options(def)?;
    let declared = file_schema(def)?;
    // DataFusion 53 ignores a CSV null pattern when it reads (it uses it
    // only to infer a schema): such files take the text path too.
    let null_value = match def.format {
        FileFormat::Csv => def.options.get("null_value").cloned(),
        _ => None,
    };
    if (null_bad_rows || null_value.is_some()) && def.format != FileFormat::Parquet {
        // Read every field as text, then convert with TRY_CAST semantics.
        let keep = in_partition_folders(&options);
        let files = url.clone();
        let inner: Arc<dyn TableProvider> = if def.format == FileFormat::Json {
            // Each line split by serde_json.
            let options =
                super::text_fields::JsonFieldsTable::line_options(options, compression(def)?);
            Arc::new(super::text_fields::JsonFieldsTable::try_new(
                url, options, &declared,
            )?)
        } else {
            let text = Arc::new(Schema::new(
                declared
                    .fields()
                    .iter()
                    .map(|f| Field::new(f.name(), DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            ));
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(text);
            Arc::new(ListingTable::try_new(config)?)
        };
        return Ok(Arc::new(
            super::text_fields::LenientTable::with_nulls(
                inner,
                declared,
                def.partition_columns.len(),
                qualified(lake, def),
                keep,
                null_value,
                !null_bad_rows,
            )?
            .located(files),
        ));
    }
    let config = ListingTableConfig::new(url.clone())
        .with_listing_options(options.clone())
        .with_schema(declared.clone());
    let table = Arc::new(ListingTable::try_new(config)?);
    Ok(Arc::new(super::file_errors::LocatedTable::new(
        table,
        url,
        options,
        declared,
        qualified(lake, def),
    )))
}

/// The filters that keep a scan to files inside the partition folders
/// (`dt=.../`): DataFusion 53 lists a file outside them with no partition
/// values when a query has no partition filter, and then fails (or
/// panics) merging statistics. Hive and Spark ignore such files; so does
/// Weir. Empty for an unpartitioned table.
pub fn in_partition_folders(options: &ListingOptions) -> Vec<datafusion::logical_expr::Expr> {
    use datafusion::logical_expr::Expr;
    options
        .table_partition_cols
        .first()
        .map(|(name, _)| {
            let column = || Expr::Column(datafusion::common::Column::from_name(name));
            column().is_null().or(column().is_not_null())
        })
        .into_iter()
        .collect()
}

/// Infer the columns of files for a definition that declares none.
pub async fn infer_columns(
    state: &dyn Session,
    def: &ExternalTable,
) -> Result<Vec<(String, String, bool)>> {
    let url = table_url(def)?;
    let options = listing_options(def)?;
    let schema = options.infer_schema(state, &url).await.map_err(|e| {
        DataFusionError::Context(
            format!("inferring the schema of {} at {}", def.name, def.location),
            Box::new(e),
        )
    })?;
    Ok(schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
        .collect())
}
