#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use siwe_server::{api, db, telemetry, Application, Settings};

/// jemalloc, not glibc's malloc: about 5% less server CPU per sign-in and 10% per session check
/// (BENCHMARKS.md, issue 19), for about 3 MB more resident memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Run the server (the default). SIGHUP reloads rate limits, CORS origins, forward-auth
    /// rules, trusted proxies and the SMTP server; SIGTERM stops it gracefully.
    Serve,
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Check the configuration and the database; exits non-zero on problems.
    Check,
    /// Copy the database to FILE: a consistent snapshot, taken while the server runs (sign-ins
    /// go on). The secret and key files are not in it: back them up once, apart.
    Backup {
        /// Where the backup goes (replaced atomically if it exists).
        file: PathBuf,
    },
    /// Replace the database with backup FILE, after checking it; the server must be stopped.
    /// The database it replaces is kept as <database>.before-restore.
    Restore {
        /// A file written by `siwe-server backup`.
        file: PathBuf,
    },
    /// Copy an installation's data from its SQLite file into an empty PostgreSQL database
    /// (the server may go on running on the file meanwhile), then check the copy: the rows of
    /// every table counted, a sample of sessions compared. The signing keys beside the file go
    /// along. Then start the instances with `database.url` and the same secret.
    MigrateStorage {
        /// The SQLite file: sqlite:PATH (or PATH).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: postgres://USER:PASSWORD@HOST/DATABASE.
        #[arg(long)]
        to: String,
    },
    /// Manage the keys that sign tokens.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage the OpenID Connect clients kept in the database (works while the server runs).
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
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

#[derive(Subcommand)]
enum ClientsAction {
    /// Register an app; prints its generated secret once (unless --public).
    Add {
        /// The client_id (printable ASCII, no spaces or ':').
        id: String,
        /// Shown on the consent page (default: the id).
        #[arg(long, default_value = "")]
        name: String,
        /// Where codes may be sent (exact match; repeat for more).
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may return (repeat for more).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A browser or native app without a secret (it must use PKCE).
        #[arg(long)]
        public: bool,
        /// A scope it may ask for (repeat; default: all; openid required).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Skip the consent page.
        #[arg(long)]
        trusted: bool,
        /// Give it a `sub` of its own per account.
        #[arg(long)]
        pairwise: bool,
        /// RS256 or EdDSA.
        #[arg(long, default_value = "RS256", value_name = "ALG")]
        id_token_alg: String,
    },
    /// List the clients (those of the configuration by id).
    List,
    /// Remove a client: its consents are forgotten and its grants end.
    Remove { id: String },
    /// Give a confidential client a new secret (the old one stops working at once).
    RotateSecret { id: String },
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
        Command::Backup { file } => report(backup(cli.config, &file)),
        Command::Restore { file } => report(restore(cli.config, &file)),
        Command::MigrateStorage { from, to } => report(migrate_storage(&from, &to)),
        Command::Keys {
            action: KeysAction::Rotate { now },
        } => report(rotate_keys(cli.config, now)),
        Command::Clients { action } => report(clients(cli.config, action)),
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

/// `backup` and `restore` copy the SQLite file: refused when the data is in PostgreSQL.
fn sqlite_only(config: &siwe_server::config::Config, command: &str) -> anyhow::Result<()> {
    if config.database.url.is_some() {
        anyhow::bail!(
            "`{command}` copies the SQLite file; the data is in PostgreSQL (database.url): use \
             pg_dump and pg_restore"
        );
    }
    Ok(())
}

fn backup(config: Option<PathBuf>, file: &std::path::Path) -> anyhow::Result<()> {
    let config = Settings::load(config.as_deref())?.config;
    sqlite_only(&config, "backup")?;
    let copied = db::backup::backup(&config.database.path, file)?;
    println!(
        "backed up {} to {} ({}; not the secret and key files beside the database)",
        config.database.path.display(),
        file.display(),
        describe(&copied)
    );
    Ok(())
}

fn restore(config: Option<PathBuf>, file: &std::path::Path) -> anyhow::Result<()> {
    let config = Settings::load(config.as_deref())?.config;
    sqlite_only(&config, "restore")?;
    let copied = db::backup::restore(&config.database.path, file)?;
    println!(
        "restored {} from {} ({}); the database it replaced is kept beside it as *.before-restore",
        config.database.path.display(),
        file.display(),
        describe(&copied)
    );
    Ok(())
}

fn describe(copied: &db::backup::Copied) -> String {
    format!(
        "schema version {}, {} users, {} sessions, {} bytes",
        copied.schema_version, copied.users, copied.sessions, copied.bytes
    )
}

/// `migrate-storage`: the SQLite file's rows and signing keys into PostgreSQL.
fn migrate_storage(from: &str, to: &str) -> anyhow::Result<()> {
    let from = std::path::PathBuf::from(from.strip_prefix("sqlite:").unwrap_or(from));
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    if !from.is_file() {
        anyhow::bail!("{} is not a file", from.display());
    }
    // Multi-threaded: PostgreSQL's statements wait for their answers on the runtime's I/O.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = db::Db::open_postgres(to, 2).await?;
        let copied = db::copy::sqlite_to(&from, &db).await?;
        for (table, rows) in &copied.tables {
            println!("{table}: {rows} rows");
        }
        // The key file beside the database seeds the shared key set (see `KeyStore`).
        let data_dir = from.parent().unwrap_or(std::path::Path::new("."));
        siwe_server::keys::JwtKeys::open_in(
            siwe_server::keys::KeyStore::database(db, data_dir),
            0,
            siwe_server::clock::Clock::system(),
        )?;
        println!(
            "copied and checked ({} sessions compared); token signing keys stored. Start every \
             instance with database.url and the same secret: security.secret, or the file {}",
            copied.sessions_compared,
            siwe_server::keys::secret::path(data_dir).display()
        );
        Ok(())
    })
}

fn rotate_keys(config: Option<PathBuf>, now: bool) -> anyhow::Result<()> {
    let config = Settings::load(config.as_deref())?.config;
    let tokens = &config.tokens;
    let publish_for = if now {
        std::time::Duration::ZERO
    } else {
        tokens.key_publish
    };
    let rotate = |store| {
        siwe_server::keys::JwtKeys::rotate(store, config.longest_jwt_ttl().as_secs(), publish_for)
    };
    let (kids, _) = match &config.database.url {
        // Multi-threaded: PostgreSQL's statements wait for their answers on the runtime's I/O.
        Some(url) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?
            .block_on(async {
                let db = db::Db::open_postgres(url.expose(), 1).await?;
                rotate(siwe_server::keys::KeyStore::database(
                    db,
                    &config.database.data_dir,
                ))
            })?,
        None => rotate(siwe_server::keys::KeyStore::file(&config.database.data_dir))?,
    };
    println!(
        "published keys {}; they sign tokens in {} s, and the previous keys stay \
         published {} s longer",
        kids.join(", "),
        publish_for.as_secs(),
        config.longest_jwt_ttl().as_secs()
    );
    Ok(())
}

fn clients(config: Option<PathBuf>, action: ClientsAction) -> anyhow::Result<()> {
    use siwe_server::{domain::oidc::client::ClientSpec, oidc::client_admin::ClientAdmin};
    let config = Settings::load(config.as_deref())?.config;
    // Multi-threaded: PostgreSQL's statements wait for their answers on the runtime's I/O.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let admin = runtime.block_on(ClientAdmin::open(
        &config,
        siwe_server::clock::Clock::system(),
    ))?;
    runtime.block_on(async {
        match action {
            ClientsAction::Add {
                id,
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                scopes,
                trusted,
                pairwise,
                id_token_alg,
            } => {
                let spec = ClientSpec {
                    id,
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    scopes: (!scopes.is_empty()).then_some(scopes),
                    trusted,
                    subject: if pairwise { "pairwise" } else { "public" }.into(),
                    id_token_alg,
                };
                let (client, secret) = admin.add(spec, public).await?;
                println!("added client {}", client.id);
                if let Some(secret) = secret {
                    println!("client_secret: {secret}");
                    println!("(shown only now; `clients rotate-secret` makes a new one)");
                }
            }
            ClientsAction::List => {
                let (stored, configured) = admin.list()?;
                for client in stored {
                    println!(
                        "{}\t{}\t{}{}\tsub={}\t{}\tscopes={}\tredirect_uris={}",
                        client.id,
                        client.name,
                        if client.is_public() {
                            "public"
                        } else {
                            "confidential"
                        },
                        if client.trusted { ",trusted" } else { "" },
                        client.subject.as_str(),
                        client.id_token_alg,
                        client.scopes,
                        client.redirect_uris.join(" ")
                    );
                }
                for id in configured {
                    println!("{id}\t(in the configuration)");
                }
            }
            ClientsAction::Remove { id } => {
                admin.remove(&id).await?;
                println!("removed client {id}");
            }
            ClientsAction::RotateSecret { id } => {
                let secret = admin.rotate_secret(&id).await?;
                println!("client_secret: {secret}");
            }
        }
        Ok(())
    })
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
    // Held until the process ends: no second server, and no restore, on this SQLite file
    // (PostgreSQL serves any number of instances).
    let _serving = match loaded.config.database.url {
        None => Some(db::backup::ServerLock::acquire(
            &loaded.config.database.path,
        )?),
        Some(_) => None,
    };
    runtime.block_on(async {
        let app = Application::build(loaded.settings).await?;
        // SIGHUP reads the same file again.
        app.run_until_stopped(config).await?;
        Ok(())
    })
}
