//! The OpenID Connect tables on a real SQLite file: codes and refresh tokens work once, a
//! replay revokes what the first use created, and the upkeep deletes what has ended.

mod common;

use siwe_server::{clock::Clock, Application};
use siwe_server::{
    db::{self, Db},
    domain::{
        account::User,
        id::UserId,
        oidc::{
            client::ClientSpec,
            grant::{AuthorizationCode, Grant, Redeemed},
            scope::Scopes,
        },
    },
};
use tempfile::TempDir;

const NOW: i64 = 1_800_000_000_000;

async fn db_with_user(dir: &TempDir) -> (Db, UserId) {
    let db = Db::open(&dir.path().join("siwe.db"), 2).unwrap();
    let user = User {
        id: UserId::new("0190a3f0-0000-7000-8000-000000000001".into()),
        name: String::new(),
        email: None,
        email_verified: false,
        created_at: NOW,
    };
    let id = user.id.clone();
    db.write(move |conn| db::users::insert_user(conn, &user))
        .await
        .unwrap();
    (db, id)
}

fn grant(id: &str, user_id: &UserId) -> Grant {
    Grant {
        id: id.into(),
        client_id: "app".into(),
        user_id: user_id.clone(),
        session_id: None,
        scopes: Scopes::parse_known("openid offline_access"),
        auth_time: NOW,
        created_at: NOW,
        expires_at: NOW + 3_600_000,
        revoked_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_works_once_and_its_replay_revokes_the_grant() {
    let dir = TempDir::new().unwrap();
    let (db, user_id) = db_with_user(&dir).await;
    let code = AuthorizationCode {
        client_id: "app".into(),
        user_id: user_id.clone(),
        session_id: None,
        redirect_uri: "https://app.example.org/cb".into(),
        scopes: Scopes::parse_known("openid email"),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: None,
        auth_time: NOW,
        created_at: NOW,
        expires_at: NOW + 60_000,
    };
    let mac = [7u8; 32];
    let stored = code.clone();
    let g = grant("g1", &user_id);
    let first = db
        .write(move |conn| {
            db::oidc::insert_code(conn, &mac, &stored)?;
            let redeemed = db::oidc::redeem_code(conn, &mac, NOW + 1000)?;
            db::oidc::insert_grant(conn, &g)?;
            db::oidc::set_code_grant(conn, &mac, "g1")?;
            Ok(redeemed)
        })
        .await
        .unwrap();
    assert_eq!(first, Redeemed::Fresh(code));
    let second = db
        .write(move |conn| db::oidc::redeem_code(conn, &mac, NOW + 2000))
        .await
        .unwrap();
    assert_eq!(
        second,
        Redeemed::Replayed {
            grant_id: Some("g1".into())
        }
    );
    let grant = db
        .read(|conn| db::oidc::find_grant(conn, "g1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        grant.revoked_at,
        Some(NOW + 2000),
        "the replay revoked the grant"
    );
    let unknown = db
        .write(|conn| db::oidc::redeem_code(conn, &[8u8; 32], NOW))
        .await
        .unwrap();
    assert_eq!(unknown, Redeemed::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_unknown() {
    let dir = TempDir::new().unwrap();
    let (db, user_id) = db_with_user(&dir).await;
    let code = AuthorizationCode {
        client_id: "app".into(),
        user_id,
        session_id: None,
        redirect_uri: "https://app.example.org/cb".into(),
        scopes: Scopes::parse_known("openid"),
        nonce: None,
        code_challenge: None,
        auth_time: NOW,
        created_at: NOW,
        expires_at: NOW + 60_000,
    };
    let redeemed = db
        .write(move |conn| {
            db::oidc::insert_code(conn, &[1u8; 32], &code)?;
            db::oidc::redeem_code(conn, &[1u8; 32], NOW + 60_000)
        })
        .await
        .unwrap();
    assert_eq!(redeemed, Redeemed::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_refresh_token_presented_again_ends_the_family() {
    let dir = TempDir::new().unwrap();
    let (db, user_id) = db_with_user(&dir).await;
    let g = grant("g2", &user_id);
    let (first, second) = ([1u8; 32], [2u8; 32]);
    let rotated = db
        .write(move |conn| {
            db::oidc::insert_grant(conn, &g)?;
            db::oidc::insert_refresh_token(conn, &first, "g2", NOW, NOW + 600_000)?;
            let redeemed = db::oidc::redeem_refresh_token(conn, &first, NOW + 1000)?;
            db::oidc::insert_refresh_token(conn, &second, "g2", NOW + 1000, NOW + 600_000)?;
            Ok(redeemed)
        })
        .await
        .unwrap();
    let Redeemed::Fresh(live) = rotated else {
        panic!("first use: {rotated:?}")
    };
    assert_eq!(live.id, "g2");
    let live_second = db
        .read(|conn| db::oidc::find_refresh_token_grant(conn, &second, NOW + 2000))
        .unwrap();
    assert!(live_second.is_some(), "the new token is live");
    assert!(db
        .read(|conn| db::oidc::find_refresh_token_grant(conn, &first, NOW + 2000))
        .unwrap()
        .is_none());

    let replay = db
        .write(move |conn| db::oidc::redeem_refresh_token(conn, &first, NOW + 3000))
        .await
        .unwrap();
    assert_eq!(
        replay,
        Redeemed::Replayed {
            grant_id: Some("g2".into())
        }
    );
    let after = db
        .write(move |conn| db::oidc::redeem_refresh_token(conn, &second, NOW + 4000))
        .await
        .unwrap();
    assert_eq!(after, Redeemed::Unknown, "the family ended with the replay");
    assert!(db
        .read(|conn| db::oidc::find_refresh_token_grant(conn, &second, NOW + 4000))
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_add_up_and_clients_round_trip() {
    let dir = TempDir::new().unwrap();
    let (db, user_id) = db_with_user(&dir).await;
    let user = user_id.clone();
    db.write(move |conn| {
        db::oidc::save_consent(
            conn,
            &user,
            "app",
            &Scopes::parse_known("openid email"),
            NOW,
        )?;
        db::oidc::save_consent(
            conn,
            &user,
            "app",
            &Scopes::parse_known("openid profile"),
            NOW + 1,
        )
    })
    .await
    .unwrap();
    let consent = db
        .read(|conn| db::oidc::consent(conn, &user_id, "app"))
        .unwrap()
        .unwrap();
    assert_eq!(consent.scopes.to_string(), "openid profile email");
    assert_eq!(consent.granted_at, NOW + 1);

    let client = ClientSpec {
        id: "cli-app".into(),
        name: "CLI app".into(),
        redirect_uris: vec!["http://127.0.0.1:9000/cb".into()],
        post_logout_redirect_uris: vec!["https://app.example.org/bye".into()],
        scopes: Some(vec!["openid".into(), "wallets".into()]),
        trusted: true,
        subject: "pairwise".into(),
        id_token_alg: "EdDSA".into(),
    }
    .check(Some([9u8; 32]))
    .unwrap();
    let stored = client.clone();
    let (inserted, again) = db
        .write(move |conn| {
            Ok((
                db::oidc::insert_client(conn, &stored, NOW)?,
                db::oidc::insert_client(conn, &stored, NOW)?,
            ))
        })
        .await
        .unwrap();
    assert!(inserted && !again, "an id is stored once");
    let found = db
        .read(|conn| db::oidc::find_client(conn, "cli-app"))
        .unwrap();
    assert_eq!(found, Some(client));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upkeep_deletes_ended_codes_tokens_and_grants_in_batches() {
    let dir = TempDir::new().unwrap();
    let clock = Clock::adjustable();
    let app = Application::build_with_clock(common::test_settings(&dir), clock.clone())
        .await
        .unwrap();
    let service = app.service();
    let db = service.db().clone();
    let now = clock.now_ms();
    let user = User {
        id: UserId::new("0190a3f0-0000-7000-8000-000000000002".into()),
        name: String::new(),
        email: None,
        email_verified: false,
        created_at: now,
    };
    let user_id = user.id.clone();
    let minute = 60_000;
    db.write(move |conn| {
        db::users::insert_user(conn, &user)?;
        // More codes than one batch deletes: the upkeep goes on until none is left.
        for n in 0u32..2500 {
            let mut mac = [0u8; 32];
            mac[..4].copy_from_slice(&n.to_be_bytes());
            let code = AuthorizationCode {
                client_id: "app".into(),
                user_id: user_id.clone(),
                session_id: None,
                redirect_uri: "https://app.example.org/cb".into(),
                scopes: Scopes::parse_known("openid"),
                nonce: None,
                code_challenge: None,
                auth_time: now,
                created_at: now,
                expires_at: now + minute,
            };
            db::oidc::insert_code(conn, &mac, &code)?;
        }
        // Live, with a refresh token for 30 minutes.
        let live = Grant {
            expires_at: now + 60 * minute,
            ..grant("live", &user_id)
        };
        db::oidc::insert_grant(conn, &live)?;
        db::oidc::insert_refresh_token(conn, &[1; 32], "live", now, now + 30 * minute)?;
        // Revoked, but a refresh token of it could be presented for 10 more minutes.
        let revoked = Grant {
            revoked_at: Some(now),
            expires_at: now + 60 * minute,
            ..grant("revoked", &user_id)
        };
        db::oidc::insert_grant(conn, &revoked)?;
        db::oidc::insert_refresh_token(conn, &[2; 32], "revoked", now, now + 10 * minute)?;
        // No refresh token; ends in 5 minutes.
        let short = Grant {
            expires_at: now + 5 * minute,
            ..grant("short", &user_id)
        };
        db::oidc::insert_grant(conn, &short)
    })
    .await
    .unwrap();
    let count = |table: &str| {
        db.read(|conn| {
            conn.query_one(&format!("SELECT count(*) FROM {table}"), &[], |r| {
                r.get::<i64>(0)
            })
        })
        .unwrap()
    };
    let counts = || {
        (
            count("oidc_codes"),
            count("oidc_grants"),
            count("oidc_refresh_tokens"),
        )
    };

    service.delete_expired().await.unwrap();
    assert_eq!(counts(), (2500, 3, 2), "nothing has ended yet");
    clock.advance(time::Duration::minutes(2));
    service.delete_expired().await.unwrap();
    assert_eq!(
        counts(),
        (0, 3, 2),
        "expired codes go; the revoked grant stays"
    );
    clock.advance(time::Duration::minutes(9));
    service.delete_expired().await.unwrap();
    assert_eq!(counts(), (0, 1, 1), "the revoked and the expired grant go");
    let live = db.read(|conn| db::oidc::find_grant(conn, "live")).unwrap();
    assert!(live.is_some_and(|g| g.is_live(clock.now_ms())));
    clock.advance(time::Duration::minutes(50));
    service.delete_expired().await.unwrap();
    assert_eq!(counts(), (0, 0, 0));
    assert_eq!(count("users"), 1, "accounts stay");
}
