//! The `weir` binary.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use weir_gateway::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // This runtime serves connections (statements execute on the engine's
    // own); its threads parse and plan, so they get the same deep stacks.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("weir-io")
        .thread_stack_size(weir_gateway::engine::runtime::STACK_SIZE)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weir: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => weir_gateway::cli::serve(args).await,
        }
    });
    // Tasks still parked (a file read) are not waited for long.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weir: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
