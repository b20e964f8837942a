//! `weir-bench`: the Rust half of the benchmark harness (`bench/run` is the
//! other half: it builds this, starts servers and peers, alternates runs and
//! writes the reports).
//!
//! ```text
//! weir-bench gen-tpch --sf 1 --lake DIR      TPC-H as Parquet under DIR/tpch/
//! weir-bench wire --url postgresql://...     a query runner over the wire (tokio-postgres)
//! weir-bench inproc --lake DIR               a query runner: DataFusion in-process,
//!                                            configured exactly as Weir configures it
//! ```
//!
//! A runner is a long-lived process speaking JSON lines: one request per line
//! on stdin (`{"sql": "...", "format": "binary"}`), one answer per line on
//! stdout (`{"ok": true, "rows": N, "bytes": N, "ms": T}` or
//! `{"ok": false, "error": "..."}`). Keeping runners alive lets the harness
//! alternate Weir and its peers query by query without process start-up in
//! the figures.

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod gen;
mod inproc;
mod protocol;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "weir-bench",
    version,
    about = "Weir benchmark helpers (driven by bench/run)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write TPC-H at a scale factor as Parquet under `<lake>/tpch` (tables
    /// already present are kept).
    GenTpch {
        #[arg(long)]
        sf: f64,
        #[arg(long)]
        lake: PathBuf,
        /// Files per large table; 0 = number of cores.
        #[arg(long, default_value_t = 0)]
        parts: usize,
    },
    /// Run queries over the PostgreSQL wire protocol, reading every row.
    Wire {
        /// Connection string, e.g. postgresql://weir:weir@127.0.0.1:5433/lake
        #[arg(long)]
        url: String,
        /// Statements run once after connecting, e.g. `SET search_path = tpch`.
        #[arg(long)]
        init: Vec<String>,
    },
    /// Run queries on DataFusion in-process, with Weir's engine configuration.
    Inproc {
        /// The lake directory (the one holding tpch/).
        #[arg(long)]
        lake: PathBuf,
        /// Default schema for unqualified table names.
        #[arg(long, default_value = "tpch")]
        schema: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::GenTpch { sf, lake, parts } => gen::run(sf, &lake, parts),
        Command::Wire { url, init } => {
            runtime().and_then(|rt| rt.block_on(wire::serve(&url, &init)))
        }
        Command::Inproc { lake, schema } => {
            runtime().and_then(|rt| rt.block_on(inproc::serve(&lake, &schema)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weir-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
