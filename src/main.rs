#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use siwe_server::{api, telemetry, Application, Settings};

/// Sign-In with Ethereum (EIP-4361) server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Path to config.toml (default: $SIWE_CONFIG, else none; SIWE_* variables always apply).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", api::spec_json());
            ExitCode::SUCCESS
        }
        Command::Serve => match serve(cli.config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("siwe-server: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let loaded = Settings::load(config.as_deref())?;
    telemetry::init(&loaded.settings.log);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Application::build(loaded.settings).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}
