//! The `weir` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::server::{Server, StartError};

/// Weir: a PostgreSQL-wire federated SQL gateway over your data lake.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway. With no arguments: the embedded default on
    /// 127.0.0.1:5433, state in ./weir-data, TPC-H demo data on first start,
    /// login weir/weir.
    Serve(ServeArgs),
}

/// `weir serve` flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see weir.example.toml for every key).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:5433 (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for Weir's state (overrides server.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl ServeArgs {
    /// Config from file, environment and these flags.
    pub fn config(&self) -> Result<Config, StartError> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(listen) = &self.listen {
            config.server.listen = listen.clone();
        }
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        Ok(config)
    }
}

/// Run `weir serve` until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> Result<(), StartError> {
    let config = args.config()?;
    let server = Server::start(&config).await?;
    let addr = server
        .local_addr()
        .map_err(|e| StartError::Engine(e.to_string()))?;
    let user = config
        .auth
        .users
        .first()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| crate::auth::users::DEMO_USER.to_owned());
    let password_hint = if config.auth.users.is_empty() {
        " (password: weir)"
    } else {
        ""
    };
    println!(
        "Weir {} listening on {addr}; connect with: psql \"postgresql://{user}@{}:{}/{}\"{password_hint}",
        env!("CARGO_PKG_VERSION"),
        addr.ip(),
        addr.port(),
        config.session.default_catalog
    );
    server.run(shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
