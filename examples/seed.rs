//! Fills a database with synthetic accounts for the data-growth benchmarks (BENCHMARKS.md):
//! N users, each with one wallet and one live session, and N used nonces past their expiry
//! (what the cleanup task deletes), written through the server's own storage layer.
//!
//! `cargo run --release --example seed -- --db data/siwe.db --rows 1000000`
//!
//! The sessions' tokens are thrown away (only their keys are stored), so the seeded sessions
//! cannot be used; they are there to make the tables and indexes as big as a real deployment's.

use std::{path::PathBuf, time::Instant};

use clap::Parser;
use rand::RngExt;
use rusqlite::Connection;
use siwe_server::{
    db::{nonces, sessions, users, Db},
    domain::{
        account::{User, Wallet},
        address::Address,
        id::{SessionId, UserId},
        session::Session,
        token::{Keys, NonceFor},
    },
};

#[derive(Parser)]
struct Args {
    /// The database file (created and migrated if needed).
    #[arg(long, default_value = "data/siwe.db")]
    db: PathBuf,
    /// Users, wallets, sessions and expired nonces to add, of each.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
}

/// Rows of each kind per transaction.
const BATCH: u64 = 20_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Creates and migrates the file, as the server would.
    drop(Db::open(&args.db, 1)?);
    let mut conn = Connection::open(&args.db)?;
    // A one-off bulk load: durability of every batch does not matter here.
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -200000;")?;
    let started = Instant::now();
    let now = siwe_server::clock::Clock::system().now_ms();
    let mut rng = rand::rng();
    let keys = Keys::from_secret(&rng.random::<[u8; 32]>());
    let mut done = 0;
    while done < args.rows {
        let tx = conn.transaction()?;
        for _ in done..(done + BATCH).min(args.rows) {
            let address = Address::from_bytes(rng.random());
            let user = User {
                id: UserId::new(uuid::Uuid::now_v7().to_string()),
                name: address.short(),
                email: None,
                email_verified: false,
                created_at: now,
            };
            users::insert_user(&*tx, &user)?;
            users::insert_wallet(
                &*tx,
                &Wallet {
                    address,
                    user_id: user.id.clone(),
                    chain_id: 1,
                    linked_at: now,
                    last_sign_in_at: Some(now),
                    is_primary: true,
                    ens: None,
                },
            )?;
            let session = Session {
                id: SessionId::new(uuid::Uuid::now_v7().to_string()),
                user_id: user.id,
                address,
                chain_id: 1,
                created_at: now,
                expires_at: now + 86_400_000,
                last_seen_at: now,
                ip: Some("127.0.0.1".into()),
                user_agent: Some("seed".into()),
                authenticated_at: Some(now),
                contract_wallet: false,
            };
            sessions::insert(
                &*tx,
                &session,
                &keys.session_token_key(&Keys::new_token(now)),
            )?;
            let used = keys.new_nonce(now - 300_000, NonceFor::SignIn);
            nonces::spend(&*tx, &used, now - 300_000)?;
        }
        tx.commit()?;
        done = (done + BATCH).min(args.rows);
        eprint!("\r{done} of {} rows of each kind", args.rows);
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    eprintln!(
        "\nseeded {} in {:.1} s",
        args.db.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
