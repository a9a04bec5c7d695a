//! PostgreSQL for the tests: `TEST_POSTGRES_URL` names a server where a role may create
//! databases (tests/suites/postgres/with-postgres.sh starts a throwaway one and sets it), and
//! each test gets a database of its own. With `TEST_STORAGE=postgres` every test server
//! ([`super::test_settings`]) stores its rows there instead of in a SQLite file.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex,
    },
};

/// The secret every test instance on PostgreSQL shares (`database.url` requires one).
pub const SECRET: &str = "a-secret-shared-by-every-instance-of-this-test-0123456789";

/// Whether the test servers store their rows in PostgreSQL (`TEST_STORAGE=postgres`).
pub fn storage_is_postgres() -> bool {
    std::env::var("TEST_STORAGE").is_ok_and(|storage| storage == "postgres")
}

/// True (and says so) when the test servers are on PostgreSQL: for a test of what only the
/// SQLite file has (its pragmas, backups, the key and secret files beside it), which then
/// returns; it runs in the SQLite pass of the suite.
pub fn skip_unless_sqlite(why: &str) -> bool {
    let skip = storage_is_postgres();
    if skip {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    skip
}

/// The database of the test folder `dir`, made on first use: servers started on one folder
/// (a restart, a second instance) share their storage, as they share a SQLite file.
pub fn database_of(dir: &Path) -> Option<String> {
    static MADE: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let mut made = MADE.lock().unwrap();
    let made = made.get_or_insert_with(HashMap::new);
    if let Some(url) = made.get(dir) {
        return Some(url.clone());
    }
    let url = fresh_database()?;
    made.insert(dir.to_path_buf(), url.clone());
    Some(url)
}

/// A fresh, empty database on the test server: its URL, or `None` (skip) without a server,
/// unless `TEST_REQUIRE_POSTGRES` says it must be there.
pub fn fresh_database() -> Option<String> {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("TEST_REQUIRE_POSTGRES").is_err() && !storage_is_postgres(),
            "PostgreSQL is required here but TEST_POSTGRES_URL is not set"
        );
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL test skipped");
        return None;
    };
    static MADE: AtomicU32 = AtomicU32::new(0);
    let since_epoch = std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap();
    let name = format!(
        "siwe_test_{}_{}_{}",
        std::process::id(),
        since_epoch.as_micros(),
        MADE.fetch_add(1, Ordering::Relaxed)
    );
    let create = format!("CREATE DATABASE {name}");
    let server = base.clone();
    // On a thread of its own: callers may be inside a runtime, or not.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                .await
                .expect("TEST_POSTGRES_URL answers");
            tokio::spawn(connection);
            client.batch_execute(&create).await.unwrap();
        });
    })
    .join()
    .unwrap();
    match base.rsplit_once('/') {
        Some((server, _)) if server.len() > "postgres://".len() => Some(format!("{server}/{name}")),
        _ => panic!("TEST_POSTGRES_URL must end in /DATABASE: {base}"),
    }
}
