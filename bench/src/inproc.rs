//! The in-process runner: DataFusion with exactly the configuration Weir's
//! server uses (the same `Engine`, catalogs and session setup), minus the
//! wire. Its ratio to the wire runner on Weir is the gateway's overhead.

use std::path::Path;

use futures::TryStreamExt;
use weir_gateway::config::QueryConfig;
use weir_gateway::engine::{Engine, LAKE};

use crate::protocol::{self, Outcome, Request};

pub async fn serve(lake: &Path, schema: &str) -> Result<(), String> {
    // The same registration as `weir serve` on this lake: a private catalog
    // database next to it, the schema's table directories as external tables.
    let catalog = lake.with_file_name("inproc-catalog.db");
    let config = weir_catalog::LakeConfig {
        name: LAKE.to_owned(),
        location: weir_catalog::LakeLocation::Local(lake.to_path_buf()),
        s3: Default::default(),
        catalog_url: format!("sqlite://{}?mode=rwc", catalog.display()),
    };
    let engine = Engine::open(&QueryConfig::default(), &config)
        .await
        .map_err(|e| e.to_string())?;
    engine
        .register_directory_tables(schema, &lake.join(schema))
        .await
        .map_err(|e| e.to_string())?;
    let ctx = engine.unfiltered_context(LAKE);
    engine.apply_session(&ctx, LAKE, &[schema.to_owned()], "UTC");
    protocol::serve(|request: Request| {
        let ctx = &ctx;
        async move {
            // The in-process peer: DataFusion alone, without Weir's session.
            #[allow(clippy::disallowed_methods)]
            let frame = ctx.sql(&request.sql).await.map_err(|e| e.to_string())?;
            let mut stream = frame.execute_stream().await.map_err(|e| e.to_string())?;
            let mut outcome = Outcome::default();
            let mut rows = Vec::new();
            while let Some(batch) = stream.try_next().await.map_err(|e| e.to_string())? {
                outcome.rows += batch.num_rows() as u64;
                outcome.bytes += batch.get_array_memory_size() as u64;
                if request.answer {
                    rows.extend(cells(&batch)?);
                }
            }
            outcome.answer = request.answer.then_some(rows);
            Ok(outcome)
        }
    })
    .await
}

/// A batch's cells as text (Arrow's display form; `None` for NULL).
fn cells(
    batch: &datafusion::arrow::record_batch::RecordBatch,
) -> Result<Vec<Vec<Option<String>>>, String> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, f)| (!column.is_null(row)).then(|| f.value(row).to_string()))
                .collect()
        })
        .collect())
}
