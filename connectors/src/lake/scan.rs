//! Reading an Iceberg table: [`IcebergScanExec`].
//!
//! Files are planned when the query is planned, from the snapshot the
//! statement resolved: Iceberg's manifests prune by partition values and by
//! per-file min/max statistics against the pushed-down filters. EXPLAIN
//! shows the outcome (`files=2/12 bytes=1.1 MiB/6.4 MiB`), and execution
//! reads exactly those files, spread over the plan's partitions.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use iceberg::scan::FileScanTask;
use iceberg::table::Table;
use iceberg_datafusion::physical_plan::convert_filters_to_predicate;
use weir_catalog::{CatalogError, FileProblem};

/// Scan of one Iceberg table snapshot.
#[derive(Debug)]
pub struct IcebergScanExec {
    table: Table,
    qualified: String,
    snapshot_id: Option<i64>,
    /// Planned files, one list per output partition.
    parts: Vec<Vec<FileScanTask>>,
    files: usize,
    total_files: Option<u64>,
    bytes: u64,
    total_bytes: Option<u64>,
    predicate: Option<String>,
    /// For each output column, its position among the columns read, or
    /// `None` for a column the snapshot does not have (read as NULL).
    sources: Arc<Vec<Option<usize>>>,
    batch_size: usize,
    properties: Arc<PlanProperties>,
}

impl IcebergScanExec {
    /// Plan the files of `table` (at `snapshot_id`, else its current
    /// snapshot) that may hold rows matching `filters`.
    #[allow(clippy::too_many_arguments)]
    pub async fn try_new(
        table: Table,
        qualified: String,
        snapshot_id: Option<i64>,
        schema: SchemaRef,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        target_partitions: usize,
        batch_size: usize,
    ) -> Result<Self> {
        let output = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema.clone(),
        };
        let metadata = table.metadata();
        let snapshot = match snapshot_id {
            Some(id) => metadata.snapshot_by_id(id).cloned(),
            None => metadata.current_snapshot().cloned(),
        };
        // iceberg-rust reads a snapshot with the schema it was written with;
        // after ALTER TABLE the table's current schema may be newer. Columns
        // are matched by field id: renamed ones are read under their old
        // name, added ones come out NULL.
        let (read_schema, same_schema) = match &snapshot {
            Some(snap) => {
                let read = snap
                    .schema(metadata)
                    .map_err(|e| context(&qualified, "planning a scan of", e))?;
                let same =
                    snapshot_id.is_some() || read.schema_id() == metadata.current_schema_id();
                (Some(read), same)
            }
            None => (None, true),
        };
        let table_schema = match snapshot_id {
            Some(_) => read_schema.clone(),
            None => Some(metadata.current_schema().clone()),
        };
        let mut select = Vec::new();
        let mut sources = Vec::new();
        for field in output.fields() {
            let read_name = table_schema
                .as_ref()
                .and_then(|t| t.field_id_by_name(field.name()))
                .and_then(|id| read_schema.as_ref()?.field_by_id(id))
                .map(|f| f.name.clone());
            match read_name {
                Some(name) => {
                    sources.push(Some(select.len()));
                    select.push(name);
                }
                None => sources.push(None),
            }
        }
        // Filters name current columns; against an older schema they are
        // not used for pruning (they are applied above the scan anyway).
        let predicate = if same_schema {
            let prunable: Vec<Expr> = filters
                .iter()
                .filter(|f| prunes_as_written(f))
                .cloned()
                .collect();
            convert_filters_to_predicate(&prunable)
        } else {
            None
        };
        let mut tasks = Vec::new();
        if snapshot.is_some() {
            let mut builder = table.scan().select(select);
            if let Some(id) = snapshot_id {
                builder = builder.snapshot_id(id);
            }
            if let Some(p) = &predicate {
                builder = builder.with_filter(p.clone());
            }
            let scan = builder
                .with_batch_size(Some(batch_size))
                .build()
                .map_err(|e| context(&qualified, "planning a scan of", e))?;
            tasks = scan
                .plan_files()
                .await
                .map_err(|e| context(&qualified, "planning a scan of", e))?
                .try_collect()
                .await
                .map_err(|e| context(&qualified, "reading the manifests of", e))?;
        }
        let summary = snapshot
            .as_ref()
            .map(|s| &s.summary().additional_properties);
        let total = |key: &str| {
            summary
                .and_then(|m| m.get(key))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let files = tasks.len();
        let bytes = tasks.iter().map(|t| t.length).sum();
        // Largest first, each to the lightest partition.
        tasks.sort_by_key(|t| std::cmp::Reverse(t.length));
        let n = target_partitions.clamp(1, files.max(1));
        let mut parts: Vec<Vec<FileScanTask>> = (0..n).map(|_| Vec::new()).collect();
        let mut load = vec![0u64; n];
        for task in tasks {
            let i = (0..n).min_by_key(|i| load[*i]).unwrap_or(0);
            load[i] += task.length;
            parts[i].push(task);
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(output),
            Partitioning::UnknownPartitioning(n),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            qualified,
            snapshot_id: snapshot.as_ref().map(|s| s.snapshot_id()),
            table,
            parts,
            files,
            total_files: total("total-data-files"),
            bytes,
            total_bytes: total("total-files-size"),
            predicate: predicate.map(|p| p.to_string()),
            sources: Arc::new(sources),
            batch_size,
            properties,
        })
    }

    /// Files this scan reads.
    pub fn files(&self) -> usize {
        self.files
    }

    /// Data files of the snapshot, when its summary says.
    pub fn total_files(&self) -> Option<u64> {
        self.total_files
    }
}

fn context(table: &str, what: &str, e: iceberg::Error) -> DataFusionError {
    DataFusionError::External(format!("{what} {table}: {e}").into())
}

/// A read of one file of `table` failed: say which file, and whether it is
/// missing, corrupt or unreachable.
fn file_error(table: &str, file: &str, e: &iceberg::Error) -> DataFusionError {
    DataFusionError::External(Box::new(CatalogError::File {
        table: table.to_owned(),
        file: file.to_owned(),
        problem: file_problem(e),
        message: e.to_string(),
    }))
}

/// What the error chain says about the file: the storage's answer first
/// (not found, or unreachable), else a Parquet decoding error means the
/// bytes are not a valid file.
fn file_problem(e: &(dyn std::error::Error + 'static)) -> FileProblem {
    let mut parquet = false;
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(os) = c.downcast_ref::<object_store::Error>() {
            return match os {
                object_store::Error::NotFound { .. } => FileProblem::Missing,
                _ => FileProblem::Unreadable,
            };
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => FileProblem::Missing,
                _ => FileProblem::Unreadable,
            };
        }
        parquet |= c
            .downcast_ref::<datafusion::parquet::errors::ParquetError>()
            .is_some();
        cause = c.source();
    }
    if parquet {
        FileProblem::Corrupt
    } else {
        FileProblem::Unreadable
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl DisplayAs for IcebergScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let of = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
        write!(
            f,
            "IcebergScanExec: table={}, snapshot={}, files={}/{}, bytes={}/{}",
            self.qualified,
            self.snapshot_id
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into()),
            self.files,
            of(self.total_files),
            human_bytes(self.bytes),
            self.total_bytes
                .map(human_bytes)
                .unwrap_or_else(|| "?".into()),
        )?;
        if let Some(p) = &self.predicate {
            write!(f, ", predicate={p}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for IcebergScanExec {
    fn name(&self) -> &str {
        "IcebergScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "IcebergScanExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let tasks = self.parts.get(partition).cloned().unwrap_or_default();
        let schema = self.properties.eq_properties.schema().clone();
        let reader = self
            .table
            .reader_builder()
            .with_batch_size(self.batch_size)
            .build();
        let qualified = self.qualified.clone();
        let sources = self.sources.clone();
        let out = schema.clone();
        // File by file (the plan's partitions give the parallelism), so an
        // error names the file it came from.
        let stream = futures::stream::iter(tasks)
            .map(move |task| {
                let file = task.data_file_path.clone();
                let qualified = qualified.clone();
                let named = move |e: iceberg::Error| file_error(&qualified, &file, &e);
                match reader
                    .clone()
                    .read(futures::stream::once(async { Ok(task) }).boxed())
                {
                    Ok(result) => result.stream().map_err(named).boxed(),
                    Err(e) => futures::stream::once(async move { Err(named(e)) }).boxed(),
                }
            })
            .flatten()
            .and_then(move |batch| futures::future::ready(arrange(&batch, &out, &sources)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// A batch as read (the snapshot's columns) in the output schema's shape.
fn arrange(batch: &RecordBatch, out: &SchemaRef, sources: &[Option<usize>]) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns = out
        .fields()
        .iter()
        .zip(sources)
        .map(|(field, source)| match source {
            Some(i) if *i < batch.num_columns() => {
                let column = batch.column(*i);
                if column.data_type() == field.data_type() {
                    Ok(column.clone())
                } else {
                    Ok(cast(column, field.data_type())?)
                }
            }
            _ => Ok(new_null_array(field.data_type(), rows)),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        out.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

/// Whether Iceberg may prune files by `filter`: not if it casts a column
/// (or any expression but a literal). iceberg-datafusion's conversion drops
/// such casts, so `CAST(price AS INT) = 3` would prune as `price = 3`
/// and skip a file holding 3.4 (a silently missing row), and
/// `CAST(code AS INT) > 0` over a text column fails to bind. The filter
/// above the scan still applies every filter.
fn prunes_as_written(filter: &Expr) -> bool {
    use datafusion::common::tree_node::TreeNode;
    let casts_a_value = filter.exists(|e| {
        Ok(match e {
            Expr::Cast(c) => !matches!(c.expr.as_ref(), Expr::Literal(..)),
            Expr::TryCast(c) => !matches!(c.expr.as_ref(), Expr::Literal(..)),
            _ => false,
        })
    });
    !casts_a_value.unwrap_or(true)
}
