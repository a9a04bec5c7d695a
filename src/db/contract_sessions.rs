//! Sessions opened by a wallet contract: the signature it accepted, kept to ask it again. A
//! session's row goes when the session ends (a trigger on `revoked_at`) or is deleted (cascade);
//! see migration 0008.

use rusqlite::params;

use super::{Conn, Row};

use crate::{
    domain::{
        address::Address,
        id::{SessionId, UserId},
    },
    error::AppResult,
};

/// What a wallet contract accepted: the question to ask it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractProof {
    pub chain_id: u64,
    /// The wallet contract.
    pub address: Address,
    /// The EIP-191 hash of the exact message signed.
    pub message_hash: [u8; 32],
    /// As received (an EIP-6492 wrapper included).
    pub signature: Vec<u8>,
}

/// A live session's proof, as a re-check reads it.
#[derive(Debug, Clone)]
pub struct LiveProof {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub proof: ContractProof,
    /// When the contract last accepted it.
    pub checked_at: i64,
}

fn live_from_row(row: &Row) -> AppResult<LiveProof> {
    Ok(LiveProof {
        session_id: row.get(0)?,
        user_id: row.get(1)?,
        proof: ContractProof {
            chain_id: row.get(2)?,
            address: row.get(3)?,
            message_hash: row.get(4)?,
            signature: row.get(5)?,
        },
        checked_at: row.get(6)?,
    })
}

/// Records (or replaces, on re-authentication) the proof of a session, accepted at `now_ms`.
pub fn record(
    conn: &Conn,
    session_id: &SessionId,
    proof: &ContractProof,
    now_ms: i64,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO contract_sessions
           (session_id, chain_id, address, message_hash, signature, checked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (session_id) DO UPDATE
            SET chain_id = excluded.chain_id, address = excluded.address,
                message_hash = excluded.message_hash, signature = excluded.signature,
                checked_at = excluded.checked_at",
        params![
            session_id,
            proof.chain_id,
            proof.address,
            proof.message_hash,
            proof.signature,
            now_ms
        ],
    )?;
    Ok(())
}

/// The proof of a session, if a wallet contract opened it and it has not ended.
pub fn find(conn: &Conn, session_id: &SessionId) -> AppResult<Option<ContractProof>> {
    conn.query_opt(
        "SELECT chain_id, address, message_hash, signature FROM contract_sessions
              WHERE session_id = ?1",
        params![session_id],
        |row| {
            Ok(ContractProof {
                chain_id: row.get(0)?,
                address: row.get(1)?,
                message_hash: row.get(2)?,
                signature: row.get(3)?,
            })
        },
    )
}

/// Up to `limit` proofs of live sessions last checked at or before `checked_up_to`, oldest
/// check first, after `after` (the last (checked_at, session id) of the previous batch).
pub fn oldest_checked(
    conn: &Conn,
    now_ms: i64,
    checked_up_to: i64,
    after: Option<(i64, &SessionId)>,
    limit: u32,
) -> AppResult<Vec<LiveProof>> {
    let (after_at, after_id) = match after {
        Some((at, id)) => (at, id.as_str()),
        None => (i64::MIN, ""),
    };
    let rows = conn.query_vec(
        "SELECT c.session_id, s.user_id, c.chain_id, c.address, c.message_hash, c.signature,
                c.checked_at
           FROM contract_sessions c JOIN sessions s ON s.id = c.session_id
          WHERE s.revoked_at IS NULL AND s.expires_at > ?1 AND c.checked_at <= ?2
            AND (c.checked_at, c.session_id) > (?3, ?4)
          ORDER BY c.checked_at, c.session_id
          LIMIT ?5",
        params![now_ms, checked_up_to, after_at, after_id, limit],
        live_from_row,
    )?;
    Ok(rows)
}

/// Records that the contract accepted the session's proof again at `now_ms`, unless the proof
/// was replaced meanwhile; true when it was still this one.
pub fn mark_checked(
    conn: &Conn,
    session_id: &SessionId,
    message_hash: &[u8; 32],
    now_ms: i64,
) -> AppResult<bool> {
    Ok(conn.execute(
        // The later of the two, said so that both engines read it (SQLite's two-argument
        // max() is PostgreSQL's GREATEST()).
        "UPDATE contract_sessions
            SET checked_at = CASE WHEN checked_at > ?3 THEN checked_at ELSE ?3 END
          WHERE session_id = ?1 AND message_hash = ?2",
        params![session_id, message_hash, now_ms],
    )? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        db::{migrations, sessions, users},
        domain::{account::User, session::Session},
    };

    const NOW: i64 = 1_000_000;
    const WALLET: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    fn db() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        migrations::apply(&mut conn).unwrap();
        let user = User {
            id: UserId::new("u1".into()),
            name: "u".into(),
            email: None,
            email_verified: false,
            created_at: NOW,
        };
        users::insert_user(&conn, &user).unwrap();
        conn
    }

    /// A session of user u1, open until `expires_at`, with a kept signature checked at
    /// `checked_at`.
    fn contract_session(conn: &Conn, id: &str, checked_at: i64, expires_at: i64) {
        let session = Session {
            id: SessionId::new(id.into()),
            user_id: UserId::new("u1".into()),
            address: Address::parse(WALLET).unwrap(),
            chain_id: 31337,
            created_at: NOW,
            expires_at,
            last_seen_at: NOW,
            ip: None,
            user_agent: None,
            authenticated_at: Some(NOW),
            contract_wallet: true,
        };
        sessions::insert(conn, &session, id.as_bytes()).unwrap();
        record(conn, &session.id, &proof(1), checked_at).unwrap();
    }

    fn proof(hash: u8) -> ContractProof {
        ContractProof {
            chain_id: 31337,
            address: Address::parse(WALLET).unwrap(),
            message_hash: [hash; 32],
            signature: vec![7; 97],
        }
    }

    fn kept(conn: &Conn) -> Vec<String> {
        conn.query_vec(
            "SELECT session_id FROM contract_sessions ORDER BY session_id",
            &[],
            |row| row.get(0),
        )
        .unwrap()
    }

    fn id(id: &str) -> SessionId {
        SessionId::new(id.into())
    }

    #[test]
    fn every_way_a_session_ends_takes_its_signature_along() {
        let conn = db();
        let user = UserId::new("u1".into());
        for name in ["a", "b", "c", "d"] {
            contract_session(&conn, name, NOW, NOW + 10);
        }
        contract_session(&conn, "old", NOW, NOW - 1);
        assert_eq!(kept(&conn), ["a", "b", "c", "d", "old"]);
        // Sign-out and ending one session.
        assert!(sessions::revoke(&conn, &user, &id("a"), NOW).unwrap());
        assert_eq!(kept(&conn), ["b", "c", "d", "old"]);
        // Ending the others (signing out everywhere, unlinking the wallet).
        let address = Address::parse(WALLET).unwrap();
        let ended = sessions::revoke_all(&conn, &user, Some(&address), Some(&id("d")), NOW);
        assert_eq!(ended.unwrap(), 2);
        assert_eq!(kept(&conn), ["d", "old"]);
        // An expired session deleted by the upkeep.
        assert_eq!(sessions::delete_expired(&conn, NOW, 100).unwrap(), 1);
        assert_eq!(kept(&conn), ["d"]);
        // A deleted account.
        conn.execute("DELETE FROM users", []).unwrap();
        assert!(kept(&conn).is_empty());
    }

    #[test]
    fn a_pass_reads_live_sessions_oldest_check_first_in_batches() {
        let conn = db();
        contract_session(&conn, "late", NOW + 5, NOW + 100);
        contract_session(&conn, "b", NOW + 1, NOW + 100);
        contract_session(&conn, "a", NOW + 1, NOW + 100);
        contract_session(&conn, "expired", NOW, NOW);
        contract_session(&conn, "revoked", NOW, NOW + 100);
        sessions::revoke(&conn, &UserId::new("u1".into()), &id("revoked"), NOW).unwrap();
        let ids = |rows: Vec<LiveProof>| -> Vec<String> {
            rows.into_iter().map(|r| r.session_id.to_string()).collect()
        };
        let first = oldest_checked(&conn, NOW, NOW + 4, None, 1).unwrap();
        assert_eq!(first[0].proof, proof(1));
        assert_eq!(first[0].user_id.as_str(), "u1");
        assert_eq!(ids(first), ["a"]);
        let rest = oldest_checked(&conn, NOW, NOW + 4, Some((NOW + 1, &id("a"))), 10).unwrap();
        assert_eq!(ids(rest), ["b"], "checked after the pass began: not in it");
        let all = oldest_checked(&conn, NOW, NOW + 5, None, 10).unwrap();
        assert_eq!(ids(all), ["a", "b", "late"]);
    }

    #[test]
    fn a_check_moves_on_only_for_the_signature_it_checked() {
        let conn = db();
        contract_session(&conn, "a", NOW, NOW + 100);
        assert!(!mark_checked(&conn, &id("a"), &[2; 32], NOW + 9).unwrap());
        assert!(mark_checked(&conn, &id("a"), &[1; 32], NOW + 9).unwrap());
        // Re-authenticated: the new signature replaces the old one.
        record(&conn, &id("a"), &proof(2), NOW + 10).unwrap();
        assert_eq!(find(&conn, &id("a")).unwrap(), Some(proof(2)));
        assert!(!mark_checked(&conn, &id("a"), &[1; 32], NOW + 11).unwrap());
        assert_eq!(find(&conn, &id("b")).unwrap(), None);
    }
}
