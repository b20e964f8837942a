//! The `bad_rows = 'null'` policy: a text file is read with every column as
//! text, then each field is converted to its declared type with TRY_CAST
//! semantics, so a field that does not fit reads as NULL instead of failing
//! the query. CSV files with a `null_value` are read the same way, with the
//! null marker turned into NULL first (DataFusion 53 honours its null
//! pattern only when inferring a schema, not when reading), and converted
//! strictly unless `bad_rows = 'null'`.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, RecordBatch, RecordBatchOptions, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Operator;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, Literal, TryCastExpr,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use serde_json::value::RawValue;

/// A text-typed table seen through its declared types.
#[derive(Debug)]
pub struct LenientTable {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    qualified: String,
    /// Filters every scan of `inner` gets (see
    /// [`super::external::in_partition_folders`]).
    keep: Vec<Expr>,
    /// The text that means NULL (CSV's `null_value`).
    null_value: Option<String>,
    /// A field that does not fit fails the query (else it reads as NULL).
    strict: bool,
    /// Where its files are, when it is an external table's.
    url: Option<ListingTableUrl>,
}

impl LenientTable {
    /// `inner` reads the file columns as text, followed by
    /// `partition_columns` partition columns; `declared` types the file
    /// columns; `keep` goes to every scan of `inner`.
    pub fn new(
        inner: Arc<dyn TableProvider>,
        declared: SchemaRef,
        partition_columns: usize,
        qualified: String,
        keep: Vec<Expr>,
    ) -> Result<Self> {
        Self::with_nulls(
            inner,
            declared,
            partition_columns,
            qualified,
            keep,
            None,
            false,
        )
    }

    /// As [`LenientTable::new`], with a null marker, and strict conversion
    /// when `strict`.
    pub fn with_nulls(
        inner: Arc<dyn TableProvider>,
        declared: SchemaRef,
        partition_columns: usize,
        qualified: String,
        keep: Vec<Expr>,
        null_value: Option<String>,
        strict: bool,
    ) -> Result<Self> {
        let inner_schema = inner.schema();
        // TRY_CAST makes every column nullable, partition columns too.
        let n = inner_schema.fields().len();
        let fields: Vec<_> = declared
            .fields()
            .iter()
            .chain(inner_schema.fields()[n.saturating_sub(partition_columns)..].iter())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        Ok(Self {
            inner,
            schema: Arc::new(Schema::new(fields)),
            qualified,
            keep,
            null_value,
            strict,
            url: None,
        })
    }

    /// The same, reading the files at `url`.
    pub fn located(mut self, url: ListingTableUrl) -> Self {
        self.url = Some(url);
        self
    }

    /// Where its files are, when it is an external table's.
    pub fn url(&self) -> Option<&ListingTableUrl> {
        self.url.as_ref()
    }
}

#[async_trait]
impl TableProvider for LenientTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let input = self
            .inner
            .scan(state, Some(&columns), &self.keep, limit)
            .await?;
        let exprs = columns
            .iter()
            .enumerate()
            .map(|(i, col)| {
                let field = self.schema.field(*col);
                let mut source: Arc<dyn PhysicalExpr> = Arc::new(Column::new(field.name(), i));
                let text = input.schema().field(i).data_type() == &DataType::Utf8;
                if let (Some(marker), true) = (&self.null_value, text) {
                    // CASE WHEN field = marker THEN NULL ELSE field END
                    let is_marker: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
                        source.clone(),
                        Operator::Eq,
                        Arc::new(Literal::new(ScalarValue::Utf8(Some(marker.clone())))),
                    ));
                    let null: Arc<dyn PhysicalExpr> =
                        Arc::new(Literal::new(ScalarValue::Utf8(None)));
                    source = Arc::new(CaseExpr::try_new(
                        None,
                        vec![(is_marker, null)],
                        Some(source),
                    )?);
                }
                let expr: Arc<dyn PhysicalExpr> = if self.strict {
                    Arc::new(CastExpr::new(source, field.data_type().clone(), None))
                } else {
                    Arc::new(TryCastExpr::new(source, field.data_type().clone()))
                };
                Ok((expr, field.name().clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        tracing::trace!(table = %self.qualified, "lenient scan");
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![
            TableProviderFilterPushDown::Unsupported;
            filters.len()
        ])
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _op: datafusion::logical_expr::dml::InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(super::file_errors::read_only(&self.qualified))
    }
}

/// The name of the one text column JSON lines are read into.
const LINE: &str = "\u{1f}weir_json_line";

/// JSON lines for the `bad_rows = 'null'` policy. The files are listed and
/// read by a listing table as one text column per line (so compression,
/// hive partition folders and parallel byte-range reads all work as for
/// CSV), then each line is parsed with serde_json: a declared scalar column
/// reads its value as text (a string as is; a number, `true`/`false`, an
/// object or an array as the JSON text written in the file; null or a
/// missing key as NULL), for [`LenientTable`] to convert with TRY_CAST.
/// A nested column (struct, list, map) is decoded by the JSON reader, and a
/// value that does not fit reads as NULL. A line that is not a JSON object
/// reads as a row of NULLs; a blank line is skipped, as the JSON reader
/// does.
#[derive(Debug)]
pub struct JsonFieldsTable {
    lines: Arc<dyn TableProvider>,
    /// The file columns (scalars as text) followed by the partition columns.
    schema: SchemaRef,
    files: usize,
}

impl JsonFieldsTable {
    /// The listing options that read each line of a JSON-lines file as one
    /// text field: JSON text has no raw control characters, so the unit
    /// and record separators can serve as delimiter and quote.
    pub fn line_options(
        options: datafusion::datasource::listing::ListingOptions,
        compression: datafusion::datasource::file_format::file_compression_type::FileCompressionType,
    ) -> datafusion::datasource::listing::ListingOptions {
        use datafusion::datasource::file_format::csv::CsvFormat;
        let lines = CsvFormat::default()
            .with_has_header(false)
            .with_delimiter(0x1f)
            .with_quote(0x1e)
            .with_escape(None)
            .with_newlines_in_values(false)
            .with_file_compression_type(compression);
        datafusion::datasource::listing::ListingOptions {
            format: Arc::new(lines),
            ..options
        }
    }

    /// `options` from [`Self::line_options`]; `declared` the file columns.
    pub fn try_new(
        url: datafusion::datasource::listing::ListingTableUrl,
        options: datafusion::datasource::listing::ListingOptions,
        declared: &SchemaRef,
    ) -> Result<Self> {
        use datafusion::datasource::listing::{ListingTable, ListingTableConfig};
        let line = Arc::new(Schema::new(vec![Field::new(LINE, DataType::Utf8, true)]));
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(line);
        let lines: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
        let mut fields: Vec<_> = declared
            .fields()
            .iter()
            .map(|f| {
                let ty = if is_nested(f.data_type()) {
                    f.data_type().clone()
                } else {
                    DataType::Utf8
                };
                Arc::new(Field::new(f.name(), ty, true))
            })
            .collect();
        fields.extend(lines.schema().fields().iter().skip(1).cloned());
        Ok(Self {
            lines,
            schema: Arc::new(Schema::new(fields)),
            files: declared.fields().len(),
        })
    }
}

fn is_nested(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Map(..)
    )
}

#[async_trait]
impl TableProvider for JsonFieldsTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        // The line column always (it counts the rows), then the partition
        // columns asked for. No limit: blank lines are not rows. `filters`
        // are partition filters from [`LenientTable`].
        let mut read = vec![0];
        let outputs = columns
            .iter()
            .map(|&c| {
                if c < self.files {
                    Output::Field(self.schema.fields()[c].clone())
                } else {
                    read.push(1 + c - self.files);
                    Output::Pass(read.len() - 1)
                }
            })
            .collect::<Vec<_>>();
        let input = self.lines.scan(state, Some(&read), filters, None).await?;
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|&c| self.schema.fields()[c].clone())
                .collect::<Vec<_>>(),
        ));
        Ok(JsonFieldsExec::new(input, Arc::new(outputs), schema))
    }
}

/// One output column of [`JsonFieldsExec`].
#[derive(Debug)]
enum Output {
    /// A declared column, taken from each line's object.
    Field(FieldRef),
    /// An input column passed through (a partition value).
    Pass(usize),
}

/// Splits JSON lines into the declared columns.
#[derive(Debug)]
struct JsonFieldsExec {
    input: Arc<dyn ExecutionPlan>,
    outputs: Arc<Vec<Output>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl JsonFieldsExec {
    /// The properties follow the input's partitioning: the optimizer may
    /// put a repartition under this node.
    fn new(
        input: Arc<dyn ExecutionPlan>,
        outputs: Arc<Vec<Output>>,
        schema: SchemaRef,
    ) -> Arc<Self> {
        let properties = Arc::new(input.properties().as_ref().clone().with_eq_properties(
            datafusion::physical_expr::EquivalenceProperties::new(schema.clone()),
        ));
        Arc::new(Self {
            input,
            outputs,
            schema,
            properties,
        })
    }
}

impl DisplayAs for JsonFieldsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "JsonFields: bad values read as NULL")
    }
}

impl ExecutionPlan for JsonFieldsExec {
    fn name(&self) -> &str {
        "JsonFields"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Self::new(
            super::only_child(children, "JsonFields")?,
            self.outputs.clone(),
            self.schema.clone(),
        ))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let outputs = self.outputs.clone();
        let schema = self.schema.clone();
        let stream = stream.map(move |batch| split_lines(&batch?, &outputs, &schema));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

/// One batch of lines as the output columns.
fn split_lines(batch: &RecordBatch, outputs: &[Output], schema: &SchemaRef) -> Result<RecordBatch> {
    use datafusion::arrow::array::{Array, AsArray};
    let lines = batch.column(0).as_string::<i32>();
    // Blank lines are not rows.
    let keep: Vec<usize> = (0..lines.len())
        .filter(|&i| lines.is_valid(i) && !lines.value(i).trim().is_empty())
        .collect();
    let objects: Vec<Option<HashMap<String, &RawValue>>> = keep
        .iter()
        .map(|&i| serde_json::from_str(lines.value(i)).ok())
        .collect();
    let kept = UInt32Array::from_iter_values(keep.iter().map(|&k| k as u32));
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(outputs.len());
    for output in outputs {
        columns.push(match output {
            Output::Pass(i) => datafusion::arrow::compute::take(batch.column(*i), &kept, None)?,
            Output::Field(field) => {
                let values = objects.iter().map(|o| {
                    o.as_ref()
                        .and_then(|o| o.get(field.name().as_str()))
                        .filter(|v| v.get() != "null")
                        .copied()
                });
                if is_nested(field.data_type()) {
                    nested(field, values)?
                } else {
                    Arc::new(values.map(|v| v.map(text)).collect::<StringArray>())
                }
            }
        });
    }
    let options = RecordBatchOptions::new().with_row_count(Some(keep.len()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// A JSON value as text: a string's contents, or the JSON text itself.
fn text(value: &RawValue) -> String {
    let raw = value.get();
    if raw.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(raw) {
            return s;
        }
    }
    raw.to_owned()
}

/// Nested values decoded by the JSON reader; one that does not fit the
/// declared type is NULL.
fn nested<'a>(
    field: &FieldRef,
    values: impl Iterator<Item = Option<&'a RawValue>>,
) -> Result<ArrayRef> {
    let schema = Arc::new(Schema::new(vec![field.clone()]));
    let decode = |rows: &[String]| -> std::result::Result<Option<ArrayRef>, ()> {
        let mut decoder = datafusion::arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(rows.len().max(1))
            .build_decoder()
            .map_err(|_| ())?;
        for row in rows {
            decoder.decode(row.as_bytes()).map_err(|_| ())?;
        }
        Ok(decoder
            .flush()
            .map_err(|_| ())?
            .map(|b| b.column(0).clone()))
    };
    let key =
        serde_json::to_string(field.name()).map_err(|e| DataFusionError::External(e.into()))?;
    let rows: Vec<String> = values
        .map(|v| format!("{{{key}:{}}}\n", v.map_or("null", |v| v.get())))
        .collect();
    if let Ok(Some(all)) = decode(&rows) {
        return Ok(all);
    }
    // Some value does not fit: decode row by row, NULL for the misfits.
    let null = format!("{{{key}:null}}\n");
    let fitted: Vec<String> = rows
        .into_iter()
        .map(|row| match decode(std::slice::from_ref(&row)) {
            Ok(Some(_)) => row,
            _ => null.clone(),
        })
        .collect();
    match decode(&fitted) {
        Ok(Some(all)) => Ok(all),
        _ => Ok(datafusion::arrow::array::new_null_array(
            field.data_type(),
            fitted.len(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};

    #[test]
    fn json_lines_split_into_text_and_nested_columns() {
        let tags = Field::new_list("tags", Field::new_list_field(DataType::Utf8, true), true);
        let outputs = vec![
            Output::Field(Arc::new(Field::new("id", DataType::Utf8, true))),
            Output::Field(Arc::new(tags.clone())),
        ];
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            tags,
        ]));
        let lines = StringArray::from(vec![
            Some(r#"{"id": 1, "tags": ["a"]}"#),
            Some("   "),
            None,
            Some(r#"{"id": "two\n", "tags": "a"}"#),
            Some(r#"{"id": {"x": [1]}, "tags": null}"#),
            Some("not json"),
            Some("[1]"),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(LINE, DataType::Utf8, true)])),
            vec![Arc::new(lines)],
        )
        .unwrap();
        let out = split_lines(&batch, &outputs, &schema).unwrap();
        assert_eq!(out.num_rows(), 5);
        let ids = out.column(0).as_string::<i32>();
        let got: Vec<Option<&str>> = (0..5)
            .map(|i| ids.is_valid(i).then(|| ids.value(i)))
            .collect();
        assert_eq!(
            got,
            vec![Some("1"), Some("two\n"), Some(r#"{"x": [1]}"#), None, None]
        );
        let tags = out.column(1).as_list::<i32>();
        assert_eq!(tags.value(0).as_string::<i32>().value(0), "a");
        assert!((1..5).all(|i| tags.is_null(i)));
    }
}
