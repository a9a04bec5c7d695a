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
    /// Check the configuration and the database; exits non-zero on problems.
    Check,
    /// Manage the keys that sign tokens.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Publish a new key now and sign with it after `tokens.key_publish_secs`; the old key
    /// stays published until its tokens expire.
    Rotate {
        /// Sign with the new key at once (when the old one may have leaked).
        #[arg(long)]
        now: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", api::spec_json());
            ExitCode::SUCCESS
        }
        Command::Serve => report(serve(cli.config)),
        Command::Check => report(check(cli.config)),
        Command::Keys {
            action: KeysAction::Rotate { now },
        } => report(rotate_keys(cli.config, now)),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("siwe-server: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(config: Option<PathBuf>) -> anyhow::Result<()> {
    let loaded = Settings::load(config.as_deref())?;
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    for line in siwe_server::startup::check(&loaded.settings)? {
        println!("ok: {line}");
    }
    Ok(())
}

fn rotate_keys(config: Option<PathBuf>, now: bool) -> anyhow::Result<()> {
    let config = Settings::load(config.as_deref())?.config;
    let tokens = &config.tokens;
    let publish_for = if now {
        std::time::Duration::ZERO
    } else {
        tokens.key_publish
    };
    let (kids, _) = siwe_server::keys::JwtKeys::rotate(
        &config.database.data_dir,
        config.longest_jwt_ttl().as_secs(),
        publish_for,
    )?;
    println!(
        "published keys {}; they sign tokens in {} s, and the previous keys stay \
         published {} s longer",
        kids.join(", "),
        publish_for.as_secs(),
        config.longest_jwt_ttl().as_secs()
    );
    Ok(())
}

fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let loaded = Settings::load(config.as_deref())?;
    telemetry::init(&loaded.config.log);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    // Blocking threads run database scans and file work; more of them than pooled connections
    // would only wait, each with its own stack and allocator arena.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(loaded.config.database.pool_size as usize + 8)
        .build()?;
    runtime.block_on(async {
        let app = Application::build(loaded.settings).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}
