//! Pairings (cross-device sign-in). Every change of state is one conditional statement, so of
//! racing approvals, declines or claims exactly one changes anything; the caller learns which
//! from the row count. "Live" means not yet expired, whatever the state.

use rusqlite::params;

use super::{Conn, Row};

use crate::{
    domain::{
        pairing::{Approval, Pairing, PairingCode, PairingId, PairingState},
        siwe::ContractSigner,
    },
    error::AppResult,
};

/// What storing a new pairing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    /// `max_live` pairings are live already: nothing was stored.
    Full,
    /// Another stored pairing has this code (live or not yet deleted): nothing was stored.
    CodeTaken,
}

/// A pairing's columns: its own, then (from column 8) its approval's.
const COLUMNS: &str = "id, code, secret_mac, user_agent, ip, created_at, expires_at, state, \
                       user_id, address, chain_id, approved_at, created_account, \
                       contract_message_hash, contract_signature";
const APPROVAL_FROM: usize = 8;
const APPROVAL_COLUMNS: &str = "user_id, address, chain_id, approved_at, created_account, \
                                contract_message_hash, contract_signature";

/// The approval in the columns of `APPROVAL_COLUMNS` from column `first`; `None` before one.
fn approval_from_row(row: &Row, first: usize) -> AppResult<Option<Approval>> {
    let contract = match (row.get(first + 5)?, row.get(first + 6)?) {
        (Some(hash), Some(signature)) => Some(ContractSigner {
            chain_id: row.get(first + 2)?,
            hash,
            signature,
        }),
        _ => None,
    };
    let approval = (
        row.get(first)?,
        row.get(first + 1)?,
        row.get(first + 2)?,
        row.get(first + 3)?,
    );
    Ok(match approval {
        (Some(user_id), Some(address), Some(chain_id), Some(approved_at)) => Some(Approval {
            user_id,
            address,
            chain_id,
            approved_at,
            created_account: row.get(first + 4)?,
            contract,
        }),
        _ => None,
    })
}

fn pairing_from_row(row: &Row) -> AppResult<Pairing> {
    let state: String = row.get(7)?;
    let stored_state = PairingState::from_stored(&state)
        .ok_or_else(|| crate::db::unreadable(7, format!("unknown pairing state {state:?}")))?;
    let approval = approval_from_row(row, APPROVAL_FROM)?;
    Ok(Pairing {
        id: PairingId::parse(&row.get::<String>(0)?)
            .ok_or_else(|| crate::db::unreadable(0, "malformed pairing id"))?,
        code: PairingCode::normalise(&row.get::<String>(1)?)
            .ok_or_else(|| crate::db::unreadable(1, "malformed pairing code"))?,
        secret_mac: row.get(2)?,
        user_agent: row.get(3)?,
        ip: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        stored_state,
        approval,
    })
}

/// Stores a new (pending) pairing unless `max_live` pairings are live at `now_ms`; the count
/// and the insert are one statement.
pub fn insert_within(
    conn: &Conn,
    pairing: &Pairing,
    now_ms: i64,
    max_live: u64,
) -> AppResult<Inserted> {
    let inserted = conn.execute(
        "INSERT INTO pairings (id, code, secret_mac, user_agent, ip, created_at, expires_at,
                                   state)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending'
              WHERE (SELECT count(*) FROM pairings WHERE expires_at > ?8) < ?9
             ON CONFLICT DO NOTHING",
        params![
            pairing.id.as_str(),
            pairing.code.as_str(),
            pairing.secret_mac,
            pairing.user_agent,
            pairing.ip,
            pairing.created_at,
            pairing.expires_at,
            now_ms,
            i64::try_from(max_live).unwrap_or(i64::MAX),
        ],
    )?;
    if inserted == 1 {
        Ok(Inserted::Stored)
    } else if conn.exists(
        "SELECT 1 FROM pairings WHERE code = ?1 OR id = ?2",
        params![pairing.code.as_str(), pairing.id.as_str()],
    )? {
        Ok(Inserted::CodeTaken)
    } else {
        Ok(Inserted::Full)
    }
}

/// Holds the pairing's row until the step ends, so that of steps that read its state and then
/// approve it, one at a time decides (see [`super::Storage::lock_rows`]).
pub fn lock(conn: &Conn, id: &PairingId) -> AppResult<()> {
    conn.lock_rows(
        "SELECT id FROM pairings WHERE id = ?1",
        params![id.as_str()],
    )
}

pub fn find(conn: &Conn, id: &PairingId) -> AppResult<Option<Pairing>> {
    conn.query_opt(
        sql!("SELECT {COLUMNS} FROM pairings WHERE id = ?1"),
        params![id.as_str()],
        pairing_from_row,
    )
}

pub fn find_by_code(conn: &Conn, code: &PairingCode) -> AppResult<Option<Pairing>> {
    conn.query_opt(
        sql!("SELECT {COLUMNS} FROM pairings WHERE code = ?1"),
        params![code.as_str()],
        pairing_from_row,
    )
}

/// Pending and live -> approved by `approval` (with what a wallet contract accepted, if one
/// did; it goes when the pairing is deleted); false when it was not (any more).
pub fn approve(conn: &Conn, id: &PairingId, approval: &Approval, now_ms: i64) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE pairings
                SET state = 'approved', user_id = ?2, address = ?3, chain_id = ?4,
                    approved_at = ?5, created_account = ?6, contract_message_hash = ?8,
                    contract_signature = ?9
              WHERE id = ?1 AND state = 'pending' AND expires_at > ?7",
        params![
            id.as_str(),
            approval.user_id,
            approval.address,
            approval.chain_id,
            approval.approved_at,
            approval.created_account,
            now_ms,
            approval.contract.as_ref().map(|signer| signer.hash),
            approval.contract.as_ref().map(|signer| &signer.signature),
        ],
    )? == 1)
}

/// Pending and live -> declined; false when it was not (any more).
pub fn decline(conn: &Conn, id: &PairingId, now_ms: i64) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE pairings SET state = 'declined'
              WHERE id = ?1 AND state = 'pending' AND expires_at > ?2",
        params![id.as_str(), now_ms],
    )? == 1)
}

/// Approved and live -> claimed, answering the approval; `None` when it was not (any more).
/// The caller has checked the desktop's secret.
pub fn claim(conn: &Conn, id: &PairingId, now_ms: i64) -> AppResult<Option<Approval>> {
    let claimed = conn.query_opt(
        sql!(
            "UPDATE pairings SET state = 'claimed'
              WHERE id = ?1 AND state = 'approved' AND expires_at > ?2
             RETURNING {APPROVAL_COLUMNS}"
        ),
        params![id.as_str(), now_ms],
        |row| approval_from_row(row, 0),
    )?;
    Ok(claimed.flatten())
}

/// Deletes up to `batch` pairings that expired before `before_ms`.
pub fn delete_expired_before(conn: &Conn, before_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM pairings WHERE id IN
               (SELECT id FROM pairings WHERE expires_at <= ?1 LIMIT ?2)",
        params![before_ms, batch],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{address::Address, id::UserId};

    fn conn() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        super::super::migrations::apply(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO users (id, name, created_at) VALUES ('u1', 'n', 0)",
            [],
        )
        .unwrap();
        conn
    }

    fn pending(expires_at: i64) -> Pairing {
        Pairing {
            id: PairingId::random(),
            code: PairingCode::random(),
            secret_mac: vec![7; 32],
            user_agent: Some("Firefox".into()),
            ip: Some("203.0.113.7".into()),
            created_at: 0,
            expires_at,
            stored_state: PairingState::Pending,
            approval: None,
        }
    }

    fn approval() -> Approval {
        Approval {
            user_id: UserId::new("u1".into()),
            address: Address::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").unwrap(),
            chain_id: 1,
            approved_at: 50,
            created_account: true,
            contract: None,
        }
    }

    #[test]
    fn stores_within_capacity_and_refuses_taken_codes() {
        let conn = conn();
        let first = pending(1_000);
        assert_eq!(
            insert_within(&conn, &first, 0, 2).unwrap(),
            Inserted::Stored
        );
        let mut same_code = pending(1_000);
        same_code.code = first.code.clone();
        assert_eq!(
            insert_within(&conn, &same_code, 0, 2).unwrap(),
            Inserted::CodeTaken
        );
        assert_eq!(
            insert_within(&conn, &pending(1_000), 0, 2).unwrap(),
            Inserted::Stored
        );
        let third = pending(1_000);
        assert_eq!(insert_within(&conn, &third, 0, 2).unwrap(), Inserted::Full);
        assert!(find(&conn, &third.id).unwrap().is_none());
        // Once the others expire, there is room again.
        assert_eq!(
            insert_within(&conn, &pending(5_000), 1_000, 2).unwrap(),
            Inserted::Stored
        );
        let found = find_by_code(&conn, &first.code).unwrap().unwrap();
        assert_eq!(found.id, first.id);
        assert_eq!(found.stored_state, PairingState::Pending);
        assert_eq!(found.approval, None);
    }

    #[test]
    fn each_change_happens_once_and_only_while_live() {
        let conn = conn();
        let pairing = pending(1_000);
        insert_within(&conn, &pairing, 0, 10).unwrap();
        assert_eq!(claim(&conn, &pairing.id, 10).unwrap(), None);
        assert!(approve(&conn, &pairing.id, &approval(), 10).unwrap());
        assert!(!approve(&conn, &pairing.id, &approval(), 10).unwrap());
        assert!(!decline(&conn, &pairing.id, 10).unwrap());
        let stored = find(&conn, &pairing.id).unwrap().unwrap();
        assert_eq!(stored.stored_state, PairingState::Approved);
        assert_eq!(stored.approval, Some(approval()));
        assert_eq!(claim(&conn, &pairing.id, 1_000).unwrap(), None, "expired");
        assert_eq!(claim(&conn, &pairing.id, 20).unwrap(), Some(approval()));
        assert_eq!(claim(&conn, &pairing.id, 20).unwrap(), None);

        let declined = pending(1_000);
        insert_within(&conn, &declined, 0, 10).unwrap();
        assert!(!decline(&conn, &declined.id, 1_000).unwrap(), "expired");
        assert!(decline(&conn, &declined.id, 10).unwrap());
        assert!(!approve(&conn, &declined.id, &approval(), 10).unwrap());
    }

    #[test]
    fn a_contract_wallets_approval_keeps_what_the_contract_accepted_until_deleted() {
        let conn = conn();
        let pairing = pending(1_000);
        insert_within(&conn, &pairing, 0, 10).unwrap();
        let by_contract = Approval {
            contract: Some(ContractSigner {
                chain_id: 1,
                hash: [3; 32],
                signature: vec![4; 200],
            }),
            ..approval()
        };
        assert!(approve(&conn, &pairing.id, &by_contract, 10).unwrap());
        let stored = find(&conn, &pairing.id).unwrap().unwrap();
        assert_eq!(stored.approval.as_ref(), Some(&by_contract));
        assert_eq!(claim(&conn, &pairing.id, 20).unwrap(), Some(by_contract));
        assert_eq!(delete_expired_before(&conn, 1_000, 10).unwrap(), 1);
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM pairings", [], |row| row.get(0))
            .unwrap();
        assert_eq!(kept, 0);
    }

    #[test]
    fn deletes_only_pairings_expired_before_the_cutoff() {
        let conn = conn();
        let (old, new) = (pending(1_000), pending(9_000));
        insert_within(&conn, &old, 0, 10).unwrap();
        insert_within(&conn, &new, 0, 10).unwrap();
        assert_eq!(delete_expired_before(&conn, 5_000, 10).unwrap(), 1);
        assert!(find(&conn, &old.id).unwrap().is_none());
        assert!(find(&conn, &new.id).unwrap().is_some());
    }
}
