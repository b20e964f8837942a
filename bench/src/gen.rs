//! TPC-H data for the benchmarks: the same generator Weir's demo data uses.

use std::path::Path;
use std::time::Instant;

pub fn run(sf: f64, lake: &Path, parts: usize) -> Result<(), String> {
    if !(sf > 0.0 && sf.is_finite()) {
        return Err(format!("scale factor must be positive, got {sf}"));
    }
    let parts = if parts == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        parts
    };
    let started = Instant::now();
    let generated = weir_connectors::lake::tpch::generate(&lake.join("tpch"), sf, parts)
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({
            "tables_written": generated.written,
            "rows": generated.rows,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
