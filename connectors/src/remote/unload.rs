//! Redshift's fast path for big results: `UNLOAD` to S3 as Parquet, read
//! back with the lake's object store and Parquet reader, then removed.
//!
//! Only the statement (below, unit-tested) and the read-back (tested on a
//! local directory standing in for the staging prefix) are verified here:
//! no Redshift can run on the test machines.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::async_reader::ParquetObjectReader;
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use weir_catalog::LakeLocation;

use super::config::UnloadConfig;
use super::Dialect;

/// Where one query's files go, and the store that holds them.
#[derive(Debug, Clone)]
pub struct Staging {
    /// The staging location (`s3://bucket/prefix` or a directory).
    pub location: LakeLocation,
    /// The store of that location.
    pub store: Arc<dyn ObjectStore>,
}

impl Staging {
    /// The store for `config.staging_prefix`.
    pub fn open(config: &UnloadConfig) -> Result<Self> {
        let location = LakeLocation::parse(&config.staging_prefix)
            .map_err(|e| DataFusionError::Configuration(format!("unload.staging_prefix: {e}")))?;
        let store = weir_catalog::store::build_store(&location, &config.s3)
            .map_err(|e| DataFusionError::Configuration(format!("unload staging store: {e}")))?;
        Ok(Self { location, store })
    }

    /// A folder of its own for one query: its key in the store, and the
    /// URL Redshift writes to.
    pub fn folder(&self) -> Result<(Path, String)> {
        let name = format!("weir-unload-{}", uuid::Uuid::new_v4().simple());
        let uri = self.location.join(&name);
        let key = self
            .location
            .object_path(&uri)
            .map_err(|e| DataFusionError::Internal(e.to_string()))?;
        Ok((key, format!("{uri}/")))
    }
}

/// `UNLOAD ('<sql>') TO '<url>' IAM_ROLE '<role>' FORMAT AS PARQUET`: the
/// query, the URL and the role are string literals by Redshift's rules
/// (quotes and backslashes doubled), so nothing in them can end a literal.
pub fn unload_statement(sql: &str, url: &str, iam_role: &str) -> Result<String> {
    let literal = |s: &str| {
        Dialect::Redshift
            .string(s)
            .map_err(|e| DataFusionError::Plan(e.to_string()))
    };
    Ok(format!(
        "UNLOAD ({}) TO {} IAM_ROLE {} FORMAT AS PARQUET",
        literal(sql)?,
        literal(url)?,
        literal(iam_role)?
    ))
}

/// Read every Parquet file below `folder`, each batch cast by position to
/// `schema`, into `tx` (until nobody listens).
pub async fn read_back(
    store: &Arc<dyn ObjectStore>,
    folder: &Path,
    schema: &SchemaRef,
    tx: &tokio::sync::mpsc::Sender<Result<RecordBatch>>,
) -> Result<()> {
    let mut files: Vec<_> = store.list(Some(folder)).try_collect().await?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    for meta in files {
        if meta.size == 0 {
            continue;
        }
        let reader = ParquetObjectReader::new(store.clone(), meta.location.clone())
            .with_file_size(meta.size);
        let mut batches = ParquetRecordBatchStreamBuilder::new(reader)
            .await?
            .build()?;
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            if batch.num_columns() != schema.fields().len() {
                return Err(DataFusionError::Execution(format!(
                    "{} holds {} columns, expected {}",
                    meta.location,
                    batch.num_columns(),
                    schema.fields().len()
                )));
            }
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| cast_with_options(c, f.data_type(), &options))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let batch = RecordBatch::try_new(schema.clone(), columns)?;
            if tx.send(Ok(batch)).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Remove a query's folder (best effort: the files are a copy).
pub async fn remove(store: &Arc<dyn ObjectStore>, folder: &Path) {
    let files: Vec<_> = match store.list(Some(folder)).try_collect().await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(%folder, error = %e, "cannot list unloaded files to remove them");
            return;
        }
    };
    for f in files {
        if let Err(e) = store.delete(&f.location).await {
            tracing::warn!(file = %f.location, error = %e, "cannot remove an unloaded file");
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;

    use super::*;

    #[test]
    fn the_statement_keeps_quotes_and_backslashes_inside_its_literals() {
        let sql = r#"SELECT t0."a" AS c0 FROM "s"."t" AS t0 WHERE (t0."b" = 'x\''y')"#;
        let statement = unload_statement(
            sql,
            "s3://bucket/weir/weir-unload-1/",
            "arn:aws:iam::123456789012:role/unload",
        )
        .unwrap();
        assert_eq!(
            statement,
            r#"UNLOAD ('SELECT t0."a" AS c0 FROM "s"."t" AS t0 WHERE (t0."b" = ''x\\''''y'')') TO 's3://bucket/weir/weir-unload-1/' IAM_ROLE 'arn:aws:iam::123456789012:role/unload' FORMAT AS PARQUET"#
        );
        assert!(unload_statement("SELECT 1", "s3://b/p/", "role\0").is_err());
    }

    #[tokio::test]
    async fn unloaded_files_are_read_back_as_the_planned_types_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let config: UnloadConfig = toml::from_str(&format!(
            "iam_role = \"r\"\nstaging_prefix = \"{}\"",
            dir.path().display()
        ))
        .unwrap();
        let staging = Staging::open(&config).unwrap();
        let (folder, url) = staging.folder().unwrap();
        assert!(url.ends_with('/') && url.contains("weir-unload-"), "{url}");
        // What Redshift would write: several files, int32 and text.
        let written = Arc::new(Schema::new(vec![
            Field::new("c0", DataType::Int32, true),
            Field::new("c1", DataType::Utf8, true),
        ]));
        let folder_dir = std::path::PathBuf::from(format!("/{}", folder.as_ref()));
        std::fs::create_dir_all(&folder_dir).unwrap();
        for (i, part) in ["0000_part_00.parquet", "0001_part_00.parquet"]
            .iter()
            .enumerate()
        {
            let file = std::fs::File::create(folder_dir.join(part)).unwrap();
            let mut w = ArrowWriter::try_new(file, written.clone(), None).unwrap();
            let base = i as i32 * 10;
            w.write(
                &RecordBatch::try_new(
                    written.clone(),
                    vec![
                        Arc::new(Int32Array::from(vec![base + 1, base + 2])),
                        Arc::new(StringArray::from(vec![Some("a"), None])),
                    ],
                )
                .unwrap(),
            )
            .unwrap();
            w.close().unwrap();
        }
        let planned: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("y", DataType::Utf8, true),
        ]));
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        read_back(&staging.store, &folder, &planned, &tx)
            .await
            .unwrap();
        drop(tx);
        let mut got = Vec::new();
        while let Some(b) = rx.recv().await {
            got.push(b.unwrap());
        }
        let xs: Vec<i64> = got
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                a.values().to_vec()
            })
            .collect();
        assert_eq!(xs, [1, 2, 11, 12]);
        remove(&staging.store, &folder).await;
        let left: Vec<_> = staging
            .store
            .list(Some(&folder))
            .try_collect()
            .await
            .unwrap();
        assert!(left.is_empty());
    }
}
