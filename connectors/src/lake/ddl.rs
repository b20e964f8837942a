//! Catalog changes that need DataFusion: creating Iceberg tables (with
//! their partition specs, optionally filled by a query) and registering
//! external tables.

use std::sync::Arc;

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::CreateExternalTable;
use datafusion::physical_plan::ExecutionPlan;
use iceberg::spec::{Transform, UnboundPartitionSpec};
use iceberg::{NamespaceIdent, TableCreation, TableIdent};
use weir_catalog::{CatalogError, ExternalTable, FileFormat, Lakehouse};

use super::write::{self, StagedTable};

/// One `PARTITIONED BY` entry: a transform of a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionField {
    /// Source column.
    pub column: String,
    /// `identity`, `year`, `month`, `day`, `hour`, `bucket[N]`, `truncate[W]`.
    pub transform: Transform,
}

impl PartitionField {
    /// Parse `col`, `day(col)`, `bucket(16, col)`, `truncate(4, col)`...
    pub fn parse(function: Option<&str>, args: &[String]) -> Result<Self> {
        let bad = |m: String| DataFusionError::Plan(m);
        let (transform, column) = match (function.map(str::to_ascii_lowercase).as_deref(), args) {
            (None, [col]) | (Some("identity"), [col]) => (Transform::Identity, col),
            (Some("year" | "years"), [col]) => (Transform::Year, col),
            (Some("month" | "months"), [col]) => (Transform::Month, col),
            (Some("day" | "days"), [col]) => (Transform::Day, col),
            (Some("hour" | "hours"), [col]) => (Transform::Hour, col),
            (Some("bucket"), [n, col]) => (
                Transform::Bucket(n.parse().map_err(|_| {
                    bad(format!("bucket count must be a positive integer, not {n}"))
                })?),
                col,
            ),
            (Some("truncate"), [w, col]) => (
                Transform::Truncate(w.parse().map_err(|_| {
                    bad(format!("truncate width must be a positive integer, not {w}"))
                })?),
                col,
            ),
            (f, a) => {
                return Err(bad(format!(
                    "unknown partition transform {}({}); use a column, year(c), month(c), day(c), hour(c), bucket(n, c) or truncate(w, c)",
                    f.unwrap_or(""),
                    a.join(", ")
                )))
            }
        };
        if matches!(transform, Transform::Bucket(0) | Transform::Truncate(0)) {
            return Err(bad(
                "bucket counts and truncate widths must be positive".into()
            ));
        }
        Ok(Self {
            column: column.clone(),
            transform,
        })
    }

    fn target_name(&self) -> String {
        let suffix = match self.transform {
            Transform::Identity => return self.column.clone(),
            Transform::Year => "year",
            Transform::Month => "month",
            Transform::Day => "day",
            Transform::Hour => "hour",
            Transform::Bucket(_) => "bucket",
            Transform::Truncate(_) => "trunc",
            _ => "part",
        };
        format!("{}_{suffix}", self.column)
    }
}

/// The type an Arrow type is stored as in an Iceberg table.
pub fn storage_type(ty: &DataType) -> Result<DataType> {
    use DataType as T;
    Ok(match ty {
        T::Null | T::Utf8View | T::LargeUtf8 | T::Utf8 => T::Utf8,
        T::BinaryView | T::LargeBinary | T::Binary | T::FixedSizeBinary(_) => T::Binary,
        T::Int8 | T::Int16 | T::UInt8 | T::UInt16 | T::Int32 => T::Int32,
        T::UInt32 | T::Int64 => T::Int64,
        T::UInt64 => T::Decimal128(20, 0),
        T::Float16 | T::Float32 => T::Float32,
        T::Float64 => T::Float64,
        T::Boolean => T::Boolean,
        T::Date32 => T::Date32,
        T::Date64 => T::Timestamp(TimeUnit::Microsecond, None),
        T::Time32(_) | T::Time64(_) => T::Time64(TimeUnit::Microsecond),
        T::Timestamp(_, None) => T::Timestamp(TimeUnit::Microsecond, None),
        T::Timestamp(_, Some(_)) => T::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        T::Decimal32(p, s) | T::Decimal64(p, s) | T::Decimal128(p, s) => T::Decimal128(*p, *s),
        T::Decimal256(p, s) if *p <= 38 => T::Decimal128(*p, *s),
        T::Dictionary(_, value) => storage_type(value)?,
        other => {
            return Err(DataFusionError::NotImplemented(format!(
                "type {other} cannot be stored in an Iceberg table"
            )))
        }
    })
}

/// `schema` with every column in its Iceberg storage type (and nullable
/// when `all_nullable`, as CREATE TABLE AS makes them).
pub fn storage_schema(schema: &Schema, all_nullable: bool) -> Result<SchemaRef> {
    let mut seen = std::collections::HashSet::new();
    let fields = schema
        .fields()
        .iter()
        .map(|f| {
            if !seen.insert(f.name().clone()) {
                return Err(DataFusionError::Plan(format!(
                    "column \"{}\" specified more than once",
                    f.name()
                )));
            }
            Ok(Field::new(
                f.name(),
                storage_type(f.data_type())?,
                all_nullable || f.is_nullable(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

fn catalog_err(e: CatalogError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn iceberg_err(context: String, e: iceberg::Error) -> DataFusionError {
    catalog_err(CatalogError::iceberg(context, e))
}

/// A new Iceberg table.
#[derive(Debug, Clone)]
pub struct NewTable {
    /// Schema (namespace).
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Columns, in storage types (see [`storage_schema`]).
    pub columns: SchemaRef,
    /// `PARTITIONED BY`.
    pub partitions: Vec<PartitionField>,
}

/// Rows to fill a new table with: a physical plan producing exactly the
/// table's columns, and where to run it.
pub struct Rows<'a> {
    /// Planning state (for the writer's parallelism).
    pub state: &'a dyn Session,
    /// The query.
    pub plan: Arc<dyn ExecutionPlan>,
    /// Where to run it.
    pub task: Arc<TaskContext>,
}

/// Create an Iceberg table, filled with `rows` when given (CREATE TABLE AS).
/// The table becomes visible in one catalog insert after its data is
/// committed; returns the number of rows written, `None` when the table
/// existed and `if_not_exists` was given.
pub async fn create_table(
    lake: &Lakehouse,
    table: &NewTable,
    if_not_exists: bool,
    rows: Option<Rows<'_>>,
) -> Result<Option<u64>> {
    weir_catalog::names::validate(&table.name).map_err(catalog_err)?;
    let qualified = format!("{}.{}", table.schema, table.name);
    if !lake
        .schema_exists(&table.schema)
        .await
        .map_err(catalog_err)?
    {
        return Err(catalog_err(CatalogError::NoSuchSchema(
            table.schema.clone(),
        )));
    }
    if lake
        .table_exists(&table.schema, &table.name)
        .await
        .map_err(catalog_err)?
    {
        if if_not_exists {
            return Ok(None);
        }
        return Err(catalog_err(CatalogError::TableExists(qualified)));
    }
    let iceberg_schema = iceberg::arrow::arrow_schema_to_schema_auto_assign_ids(&table.columns)
        .map_err(|e| iceberg_err(format!("creating {qualified}"), e))?;
    let mut spec = UnboundPartitionSpec::builder();
    for p in &table.partitions {
        let field = iceberg_schema.field_by_name(&p.column).ok_or_else(|| {
            DataFusionError::Plan(format!(
                "partition column \"{}\" is not a column of {qualified}",
                p.column
            ))
        })?;
        spec = spec
            .add_partition_field(field.id, p.target_name(), p.transform)
            .map_err(|e| iceberg_err(format!("partitioning {qualified}"), e))?;
    }
    let creation = TableCreation::builder()
        .name(table.name.clone())
        .location(lake.table_location(&table.schema, &table.name))
        .schema(iceberg_schema)
        .partition_spec(spec.build())
        .properties(write::default_properties())
        .build();
    let staged = StagedTable::create(lake.file_io().clone(), &table.schema, creation)
        .await
        .map_err(|e| iceberg_err(format!("creating {qualified}"), e))?;
    let mut written = 0;
    if let Some(rows) = rows {
        let ident = TableIdent::new(
            NamespaceIdent::new(table.schema.clone()),
            table.name.clone(),
        );
        let plan = write::insert_plan(
            staged.catalog(),
            staged.catalog(),
            &ident,
            rows.state,
            rows.plan,
            Arc::default(),
        )
        .await?;
        let batches = datafusion::physical_plan::collect(plan, rows.task).await?;
        written = count(&batches);
    }
    let location = staged
        .metadata_location()
        .map_err(|e| iceberg_err(format!("creating {qualified}"), e))?;
    lake.register_table(&table.schema, &table.name, location)
        .await
        .map_err(catalog_err)?;
    Ok(Some(written))
}

/// One `ALTER TABLE` column change.
#[derive(Debug, Clone)]
pub enum ColumnChange {
    /// `ADD COLUMN [IF NOT EXISTS] name type`: existing rows read NULL.
    Add {
        /// Column name.
        name: String,
        /// Its type (stored as [`storage_type`]).
        data_type: DataType,
        /// Skip when the column exists.
        if_not_exists: bool,
    },
    /// `DROP COLUMN [IF EXISTS] name`.
    Drop {
        /// Column name.
        name: String,
        /// Skip when the column does not exist.
        if_exists: bool,
    },
    /// `RENAME COLUMN from TO to`.
    Rename {
        /// Current name.
        from: String,
        /// New name.
        to: String,
    },
}

/// Apply column changes to an Iceberg table as one new schema (Iceberg
/// schema evolution: columns keep their field ids, so data files written
/// before stay readable: added columns read NULL, dropped ones are skipped,
/// renamed ones are found by id).
pub async fn alter_table(
    lake: &Lakehouse,
    schema: &str,
    table: &str,
    changes: &[ColumnChange],
) -> Result<()> {
    use iceberg::spec::{NestedField, Schema as IcebergSchema};
    if lake
        .external_table(schema, table)
        .await
        .map_err(catalog_err)?
        .is_some()
    {
        return Err(catalog_err(CatalogError::Unsupported(format!(
            "{schema}.{table} is an external table: drop it and register it again with the new columns"
        ))));
    }
    let changes = changes.to_vec();
    lake.evolve_schema(schema, table, move |metadata| {
        let current = metadata.current_schema();
        let mut fields: Vec<_> = current.as_struct().fields().to_vec();
        let mut next_id = metadata.last_column_id();
        let find = |fields: &[iceberg::spec::NestedFieldRef], name: &str| {
            fields.iter().position(|f| f.name == name)
        };
        for change in &changes {
            match change {
                ColumnChange::Add {
                    name,
                    data_type,
                    if_not_exists,
                } => {
                    if find(&fields, name).is_some() {
                        if *if_not_exists {
                            continue;
                        }
                        return Err(CatalogError::ColumnExists(name.clone()));
                    }
                    let stored = storage_type(data_type)
                        .map_err(|e| CatalogError::Unsupported(e.to_string()))?;
                    let ty = iceberg::arrow::arrow_type_to_type(&stored)
                        .map_err(|e| CatalogError::Unsupported(e.to_string()))?;
                    next_id += 1;
                    fields.push(Arc::new(NestedField::optional(next_id, name, ty)));
                }
                ColumnChange::Drop { name, if_exists } => {
                    let Some(i) = find(&fields, name) else {
                        if *if_exists {
                            continue;
                        }
                        return Err(CatalogError::NoSuchColumn(name.clone()));
                    };
                    let id = fields[i].id;
                    if metadata
                        .default_partition_spec()
                        .fields()
                        .iter()
                        .any(|p| p.source_id == id)
                    {
                        return Err(CatalogError::Unsupported(format!(
                            "cannot drop column \"{name}\": the table is partitioned by it"
                        )));
                    }
                    if fields.len() == 1 {
                        return Err(CatalogError::Unsupported(format!(
                            "cannot drop column \"{name}\": it is the table's only column"
                        )));
                    }
                    fields.remove(i);
                }
                ColumnChange::Rename { from, to } => {
                    let Some(i) = find(&fields, from) else {
                        return Err(CatalogError::NoSuchColumn(from.clone()));
                    };
                    if find(&fields, to).is_some() {
                        return Err(CatalogError::ColumnExists(to.clone()));
                    }
                    let f = &fields[i];
                    fields[i] = Arc::new(NestedField::new(
                        f.id,
                        to,
                        (*f.field_type).clone(),
                        f.required,
                    ));
                }
            }
        }
        IcebergSchema::builder()
            .with_schema_id(current.schema_id() + 1)
            .with_fields(fields)
            .with_identifier_field_ids(current.identifier_field_ids())
            .build()
            .map_err(|e| CatalogError::iceberg(format!("altering {schema}.{table}"), e))
    })
    .await
    .map_err(catalog_err)
}

/// The row count an Iceberg write plan returns.
pub fn count(batches: &[datafusion::arrow::array::RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| {
            (b.num_columns() > 0)
                .then(|| b.column(0).as_any().downcast_ref::<UInt64Array>())
                .flatten()
        })
        .flat_map(|a| {
            (0..a.len())
                .filter(|i| a.is_valid(*i))
                .map(|i| a.value(i))
                .collect::<Vec<_>>()
        })
        .sum()
}

/// What `CREATE EXTERNAL TABLE` (as DataFusion planned it) registers as
/// `schema.name`: its format; its location, resolved against the lake's
/// (`raw/x` is under the lake, `/data/x` a local path, `s3://...` as
/// written); its declared and partition columns; and its options, with
/// DataFusion's `format.` prefix dropped and `has_header` spelt `header`.
pub fn external_table(
    c: &CreateExternalTable,
    schema: String,
    name: String,
    lake: &Lakehouse,
) -> Result<ExternalTable> {
    if c.or_replace || c.temporary || c.unbounded {
        return Err(DataFusionError::NotImplemented(
            "OR REPLACE, TEMPORARY and UNBOUNDED external tables are not supported".into(),
        ));
    }
    let format = FileFormat::from_name(&c.file_type).ok_or_else(|| {
        DataFusionError::NotImplemented(format!(
            "STORED AS {}: use PARQUET, CSV or JSON",
            c.file_type
        ))
    })?;
    let location = if c.location.contains("://") {
        c.location.clone()
    } else if c.location.starts_with('/') {
        format!("file://{}", c.location)
    } else {
        lake.location().join(&c.location)
    };
    let arrow = c.schema.as_arrow();
    let partition_columns = c
        .table_partition_cols
        .iter()
        .map(|p| {
            let ty = arrow
                .field_with_name(p)
                .map(|f| f.data_type().clone())
                .unwrap_or(DataType::Utf8);
            (p.clone(), ty.to_string())
        })
        .collect();
    let columns = arrow
        .fields()
        .iter()
        .filter(|f| !c.table_partition_cols.contains(f.name()))
        .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
        .collect();
    let options = c
        .options
        .iter()
        .map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            let k = k.strip_prefix("format.").unwrap_or(&k);
            let k = if k == "has_header" { "header" } else { k };
            (k.to_owned(), v.clone())
        })
        .collect();
    Ok(ExternalTable {
        schema,
        name,
        location,
        format,
        columns,
        partition_columns,
        options,
    })
}

/// Register an external table, inferring its columns when none are declared.
pub async fn create_external_table(
    lake: &Lakehouse,
    state: &dyn Session,
    mut def: ExternalTable,
    if_not_exists: bool,
) -> Result<()> {
    super::external::check_options(&def)?;
    if !lake.location().contains(&def.location) {
        return Err(DataFusionError::Plan(format!(
            "LOCATION {:?} is not on the lake ({}); external tables read files on the lake's storage",
            def.location,
            lake.location()
        )));
    }
    if def.columns.is_empty() {
        def.columns = super::external::infer_columns(state, &def).await?;
        let partition_names: Vec<&String> = def.partition_columns.iter().map(|(n, _)| n).collect();
        def.columns
            .retain(|(n, _, _)| !partition_names.contains(&n));
        if def.columns.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "no files to infer the columns of {}.{} from at {}; declare the columns",
                def.schema, def.name, def.location
            )));
        }
    }
    // Fail now, not at the first query, on options or types Weir cannot use.
    super::external::provider(lake, &def)?;
    lake.create_external_table(&def, if_not_exists)
        .await
        .map_err(catalog_err)
}
