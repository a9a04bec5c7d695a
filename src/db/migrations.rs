//! Numbered schema migrations, embedded in the binary and tracked in `PRAGMA user_version`.

use anyhow::bail;
use rusqlite::{Connection, TransactionBehavior};

/// Migration N (1-based) is `MIGRATIONS[N - 1]`; never edit one that has shipped, add the next.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_accounts.sql"),
    include_str!("migrations/0003_spent_nonces.sql"),
    include_str!("migrations/0004_session_authenticated_at.sql"),
    include_str!("migrations/0005_verified_emails.sql"),
    include_str!("migrations/0006_oidc.sql"),
    include_str!("migrations/0007_ens_names.sql"),
    include_str!("migrations/0008_contract_sessions.sql"),
    include_str!("migrations/0009_pairings.sql"),
    include_str!("migrations/0010_pairing_contract_approvals.sql"),
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn apply(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > SCHEMA_VERSION {
        bail!(
            "the database has schema version {current}, newer than this binary knows \
             ({SCHEMA_VERSION}); run a newer siwe-server or restore a backup"
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_refuses_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = apply(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
