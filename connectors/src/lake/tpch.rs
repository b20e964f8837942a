//! In-process TPC-H data generation into a lake, as Parquet.
//!
//! Rows come from the `tpchgen` crate (the reference `dbgen` port, no arrow
//! dependency); this module turns them into Arrow batches of DataFusion's
//! arrow version and writes one Parquet file per generator part:
//! `<lake>/<schema>/<table>/part-<i>.parquet`. Each table is written into a
//! hidden staging directory and renamed into place, so a table is either
//! complete or absent (a generation killed midway resumes with the missing
//! tables on the next start).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};

use crate::ConnectorError;

/// The eight TPC-H tables, in the order they are generated.
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

const BATCH_ROWS: usize = 8192;
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// What [`generate`] did.
#[derive(Debug, Default, Clone)]
pub struct Generated {
    /// Tables written by this call (tables already present are skipped).
    pub written: Vec<String>,
    /// Rows written by this call.
    pub rows: u64,
}

/// Generate every missing TPC-H table at `scale_factor` under `schema_dir`
/// (e.g. `<lake>/tpch`), splitting the larger tables into `parts` files
/// generated in parallel.
pub fn generate(
    schema_dir: &Path,
    scale_factor: f64,
    parts: usize,
) -> Result<Generated, ConnectorError> {
    fs::create_dir_all(schema_dir).map_err(|e| ConnectorError::write(schema_dir, e))?;
    let mut done = Generated::default();
    for table in TABLES {
        let target = schema_dir.join(table);
        if target.exists() {
            continue;
        }
        let staging = schema_dir.join(format!(".staging-{table}"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| ConnectorError::write(&staging, e))?;
        }
        fs::create_dir_all(&staging).map_err(|e| ConnectorError::write(&staging, e))?;
        // The two tiny fixed tables are one part whatever the scale.
        let parts = if matches!(table, "region" | "nation") {
            1
        } else {
            parts.max(1)
        };
        let rows = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=parts)
                .map(|part| {
                    let path = staging.join(format!("part-{part}.parquet"));
                    scope.spawn(move || write_part(table, scale_factor, part, parts, &path))
                })
                .collect();
            let mut rows = 0u64;
            for handle in handles {
                rows += handle
                    .join()
                    .map_err(|_| ConnectorError::write(&staging, "generator thread panicked"))??;
            }
            Ok::<_, ConnectorError>(rows)
        })?;
        fs::rename(&staging, &target).map_err(|e| ConnectorError::write(&target, e))?;
        tracing::info!(table, rows, "generated TPC-H table");
        done.written.push(table.to_owned());
        done.rows += rows;
    }
    Ok(done)
}

fn write_part(
    table: &str,
    sf: f64,
    part: usize,
    parts: usize,
    path: &PathBuf,
) -> Result<u64, ConnectorError> {
    let (p, n) = (part as i32, parts as i32);
    let mut writer = PartWriter::create(path, schema(table))?;
    match table {
        "region" => writer.write_all(RegionGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.r_regionkey);
            b.str(1, r.r_name);
            b.str(2, r.r_comment);
        })?,
        "nation" => writer.write_all(NationGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.n_nationkey);
            b.str(1, r.n_name);
            b.i64(2, r.n_regionkey);
            b.str(3, r.n_comment);
        })?,
        "supplier" => writer.write_all(SupplierGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.s_suppkey);
            b.str(1, &r.s_name.to_string());
            b.str(2, &r.s_address.to_string());
            b.i64(3, r.s_nationkey);
            b.str(4, &r.s_phone.to_string());
            b.dec(5, r.s_acctbal.into_inner());
            b.str(6, &r.s_comment);
        })?,
        "customer" => writer.write_all(CustomerGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.c_custkey);
            b.str(1, &r.c_name.to_string());
            b.str(2, &r.c_address.to_string());
            b.i64(3, r.c_nationkey);
            b.str(4, &r.c_phone.to_string());
            b.dec(5, r.c_acctbal.into_inner());
            b.str(6, r.c_mktsegment);
            b.str(7, r.c_comment);
        })?,
        "part" => writer.write_all(PartGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.p_partkey);
            b.str(1, &r.p_name.to_string());
            b.str(2, &r.p_mfgr.to_string());
            b.str(3, &r.p_brand.to_string());
            b.str(4, r.p_type);
            b.i32(5, r.p_size);
            b.str(6, r.p_container);
            b.dec(7, r.p_retailprice.into_inner());
            b.str(8, r.p_comment);
        })?,
        "partsupp" => writer.write_all(PartSuppGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.ps_partkey);
            b.i64(1, r.ps_suppkey);
            b.i32(2, r.ps_availqty);
            b.dec(3, r.ps_supplycost.into_inner());
            b.str(4, r.ps_comment);
        })?,
        "orders" => writer.write_all(OrderGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.o_orderkey);
            b.i64(1, r.o_custkey);
            b.str(2, r.o_orderstatus.as_str());
            b.dec(3, r.o_totalprice.into_inner());
            b.date(4, r.o_orderdate.to_unix_epoch());
            b.str(5, r.o_orderpriority);
            b.str(6, &r.o_clerk.to_string());
            b.i32(7, r.o_shippriority);
            b.str(8, r.o_comment);
        })?,
        "lineitem" => writer.write_all(LineItemGenerator::new(sf, p, n).iter(), |b, r| {
            b.i64(0, r.l_orderkey);
            b.i64(1, r.l_partkey);
            b.i64(2, r.l_suppkey);
            b.i32(3, r.l_linenumber);
            b.dec(4, r.l_quantity * 100);
            b.dec(5, r.l_extendedprice.into_inner());
            b.dec(6, r.l_discount.into_inner());
            b.dec(7, r.l_tax.into_inner());
            b.str(8, r.l_returnflag);
            b.str(9, r.l_linestatus);
            b.date(10, r.l_shipdate.to_unix_epoch());
            b.date(11, r.l_commitdate.to_unix_epoch());
            b.date(12, r.l_receiptdate.to_unix_epoch());
            b.str(13, r.l_shipinstruct);
            b.str(14, r.l_shipmode);
            b.str(15, r.l_comment);
        })?,
        other => {
            return Err(ConnectorError::write(
                path,
                format!("unknown TPC-H table {other}"),
            ))
        }
    }
    writer.finish()
}

/// The Arrow schema of a TPC-H table: keys `int8`, money `numeric(15,2)`,
/// dates `date`, text `text`.
pub fn schema(table: &str) -> SchemaRef {
    use DataType::{Date32, Int32, Int64, Utf8};
    let money = DataType::Decimal128(15, 2);
    let cols: Vec<(&str, DataType)> = match table {
        "region" => vec![
            ("r_regionkey", Int64),
            ("r_name", Utf8),
            ("r_comment", Utf8),
        ],
        "nation" => vec![
            ("n_nationkey", Int64),
            ("n_name", Utf8),
            ("n_regionkey", Int64),
            ("n_comment", Utf8),
        ],
        "supplier" => vec![
            ("s_suppkey", Int64),
            ("s_name", Utf8),
            ("s_address", Utf8),
            ("s_nationkey", Int64),
            ("s_phone", Utf8),
            ("s_acctbal", money),
            ("s_comment", Utf8),
        ],
        "customer" => vec![
            ("c_custkey", Int64),
            ("c_name", Utf8),
            ("c_address", Utf8),
            ("c_nationkey", Int64),
            ("c_phone", Utf8),
            ("c_acctbal", money),
            ("c_mktsegment", Utf8),
            ("c_comment", Utf8),
        ],
        "part" => vec![
            ("p_partkey", Int64),
            ("p_name", Utf8),
            ("p_mfgr", Utf8),
            ("p_brand", Utf8),
            ("p_type", Utf8),
            ("p_size", Int32),
            ("p_container", Utf8),
            ("p_retailprice", money),
            ("p_comment", Utf8),
        ],
        "partsupp" => vec![
            ("ps_partkey", Int64),
            ("ps_suppkey", Int64),
            ("ps_availqty", Int32),
            ("ps_supplycost", money),
            ("ps_comment", Utf8),
        ],
        "orders" => vec![
            ("o_orderkey", Int64),
            ("o_custkey", Int64),
            ("o_orderstatus", Utf8),
            ("o_totalprice", money),
            ("o_orderdate", Date32),
            ("o_orderpriority", Utf8),
            ("o_clerk", Utf8),
            ("o_shippriority", Int32),
            ("o_comment", Utf8),
        ],
        _ => vec![
            ("l_orderkey", Int64),
            ("l_partkey", Int64),
            ("l_suppkey", Int64),
            ("l_linenumber", Int32),
            ("l_quantity", money.clone()),
            ("l_extendedprice", money.clone()),
            ("l_discount", money.clone()),
            ("l_tax", money),
            ("l_returnflag", Utf8),
            ("l_linestatus", Utf8),
            ("l_shipdate", Date32),
            ("l_commitdate", Date32),
            ("l_receiptdate", Date32),
            ("l_shipinstruct", Utf8),
            ("l_shipmode", Utf8),
            ("l_comment", Utf8),
        ],
    };
    Arc::new(Schema::new(
        cols.into_iter()
            .map(|(name, ty)| Field::new(name, ty, false))
            .collect::<Vec<_>>(),
    ))
}

/// Column builders for one batch, addressed by column index.
struct Builders(Vec<ColumnBuilder>);

enum ColumnBuilder {
    I32(Int32Builder),
    I64(Int64Builder),
    Dec(Decimal128Builder),
    Date(Date32Builder),
    Str(StringBuilder),
}

impl Builders {
    fn new(schema: &Schema) -> Self {
        Self(
            schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Int32 => ColumnBuilder::I32(Int32Builder::with_capacity(BATCH_ROWS)),
                    DataType::Int64 => ColumnBuilder::I64(Int64Builder::with_capacity(BATCH_ROWS)),
                    DataType::Decimal128(p, s) => ColumnBuilder::Dec(
                        Decimal128Builder::with_capacity(BATCH_ROWS)
                            .with_data_type(DataType::Decimal128(*p, *s)),
                    ),
                    DataType::Date32 => {
                        ColumnBuilder::Date(Date32Builder::with_capacity(BATCH_ROWS))
                    }
                    _ => ColumnBuilder::Str(StringBuilder::with_capacity(
                        BATCH_ROWS,
                        BATCH_ROWS * 16,
                    )),
                })
                .collect(),
        )
    }

    fn i32(&mut self, col: usize, v: i32) {
        if let Some(ColumnBuilder::I32(b)) = self.0.get_mut(col) {
            b.append_value(v)
        }
    }
    fn i64(&mut self, col: usize, v: i64) {
        if let Some(ColumnBuilder::I64(b)) = self.0.get_mut(col) {
            b.append_value(v)
        }
    }
    /// A decimal given in hundredths (scale 2).
    fn dec(&mut self, col: usize, hundredths: i64) {
        if let Some(ColumnBuilder::Dec(b)) = self.0.get_mut(col) {
            b.append_value(hundredths as i128)
        }
    }
    fn date(&mut self, col: usize, days_since_epoch: i32) {
        if let Some(ColumnBuilder::Date(b)) = self.0.get_mut(col) {
            b.append_value(days_since_epoch)
        }
    }
    fn str(&mut self, col: usize, v: &str) {
        if let Some(ColumnBuilder::Str(b)) = self.0.get_mut(col) {
            b.append_value(v)
        }
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.0
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    ColumnBuilder::I32(b) => Arc::new(b.finish()),
                    ColumnBuilder::I64(b) => Arc::new(b.finish()),
                    ColumnBuilder::Dec(b) => Arc::new(b.finish()),
                    ColumnBuilder::Date(b) => Arc::new(b.finish()),
                    ColumnBuilder::Str(b) => Arc::new(b.finish()),
                }
            })
            .collect()
    }
}

struct PartWriter {
    path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<fs::File>,
    rows: u64,
}

impl PartWriter {
    fn create(path: &Path, schema: SchemaRef) -> Result<Self, ConnectorError> {
        let file = fs::File::create(path).map_err(|e| ConnectorError::write(path, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| ConnectorError::write(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            schema,
            writer,
            rows: 0,
        })
    }

    fn write_all<T>(
        &mut self,
        rows: impl Iterator<Item = T>,
        mut append: impl FnMut(&mut Builders, T),
    ) -> Result<(), ConnectorError> {
        let mut builders = Builders::new(&self.schema);
        let mut pending = 0;
        for row in rows {
            append(&mut builders, row);
            pending += 1;
            if pending == BATCH_ROWS {
                self.flush(&mut builders)?;
                pending = 0;
            }
        }
        if pending > 0 {
            self.flush(&mut builders)?;
        }
        Ok(())
    }

    fn flush(&mut self, builders: &mut Builders) -> Result<(), ConnectorError> {
        let batch = RecordBatch::try_new(self.schema.clone(), builders.finish())
            .map_err(|e| ConnectorError::write(&self.path, e))?;
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(&batch)
            .map_err(|e| ConnectorError::write(&self.path, e))
    }

    fn finish(self) -> Result<u64, ConnectorError> {
        self.writer
            .close()
            .map_err(|e| ConnectorError::write(&self.path, e))?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn generates_all_tables_with_tpch_row_counts_and_skips_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let schema_dir = dir.path().join("tpch");
        let first = generate(&schema_dir, 0.01, 2).unwrap();
        assert_eq!(first.written.len(), 8);
        let again = generate(&schema_dir, 0.01, 2).unwrap();
        assert!(again.written.is_empty(), "existing tables must be kept");

        let ctx = SessionContext::new();
        for (table, rows) in [
            ("region", 5),
            ("nation", 25),
            ("supplier", 100),
            ("customer", 1500),
            ("orders", 15000),
        ] {
            let path = schema_dir.join(table);
            ctx.register_parquet(table, path.to_str().unwrap(), Default::default())
                .await
                .unwrap();
            let n = ctx.table(table).await.unwrap().count().await.unwrap();
            assert_eq!(n, rows, "{table}");
        }
        let staging: Vec<_> = fs::read_dir(&schema_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(staging.is_empty(), "no staging directory may remain");
    }
}
