//! The token endpoint's work (RFC 6749 section 4.1.3 and 6, OpenID Connect Core 3.1.3): a code
//! or a refresh token is spent in one writer transaction with the grant it starts or
//! continues, then an access token (RFC 9068) and an ID token are signed. A replayed code
//! revokes what was issued from it; a rotated-away refresh token presented again revokes its
//! whole family. Clients are rate-limited by id, beside the per-address limit of the route.

use std::{sync::Arc, time::Duration};

use super::{clients::ClientCredentials, Oidc};
use crate::{
    db::{oidc as store, users, Conn},
    domain::{
        account::{User, Wallet},
        event::EventKind,
        oidc::{
            claims::{
                self, AccessTokenClaims, IdTokenClaims, UserClaims, ACCESS_TOKEN_TYPE,
                AMR_PROOF_OF_POSSESSION,
            },
            client::{Client, SubjectType},
            grant::{AuthorizationCode, Grant, Redeemed},
            scope::{Scope, Scopes},
        },
        token::{random_secret, OidcSecret},
    },
    error::{AppError, AppResult, ErrorCode},
    service::{record_event, ClientInfo},
};

/// What the client exchanges.
#[derive(Debug, Clone)]
pub enum TokenGrant {
    /// `grant_type=authorization_code`.
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    /// `grant_type=refresh_token`; `scope` may narrow what the grant allows.
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
}

/// The token response (RFC 6749 section 5.1, Core 3.1.3.3); the type is always `Bearer`.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    pub id_token: String,
    pub scope: Scopes,
    /// Only when `offline_access` was granted and the client may have it.
    pub refresh_token: Option<String>,
}

/// What a spent code or refresh token allows: the grant, the person as they are now, and the
/// scopes of this response.
pub(super) struct Allowed {
    pub(super) grant: Grant,
    pub(super) user: User,
    pub(super) wallets: Vec<Wallet>,
    pub(super) scopes: Scopes,
    pub(super) nonce: Option<String>,
    pub(super) refresh_token: Option<String>,
}

pub(super) fn invalid_grant(message: &'static str) -> AppError {
    AppError::new(ErrorCode::InvalidGrant, message)
}

/// The MAC a refresh token is stored and found by (bound to its client).
pub(super) fn refresh_token_mac(oidc: &Oidc, client_id: &str, token: &str) -> [u8; 32] {
    oidc.keys()
        .oidc_mac(OidcSecret::RefreshToken, client_id, token)
}

impl Oidc {
    /// Answers a token request: authenticates the client, spends the code or refresh token and
    /// signs the tokens it allows.
    pub async fn token(
        self: &Arc<Self>,
        credentials: ClientCredentials,
        grant: TokenGrant,
        client_info: ClientInfo,
    ) -> AppResult<Tokens> {
        // Limited by the id it claims when that is a client of ours (so unknown ids take no
        // memory), before its secret is checked.
        if let Some(id) = credentials.client_id.as_deref() {
            if self.client(id).await?.is_some() {
                self.client_rate_limit.check(id)?;
            }
        }
        let client = self.authenticate_client(credentials).await?;
        let allowed = match grant {
            TokenGrant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(&client, code, redirect_uri, code_verifier, client_info)
                    .await?
            }
            TokenGrant::RefreshToken {
                refresh_token,
                scope,
            } => {
                self.refresh(&client, refresh_token, scope, client_info)
                    .await?
            }
        };
        self.mint(client, allowed).await
    }

    /// Spends a code (Core 3.1.3.2): bound to the client, its redirect URI and its PKCE
    /// challenge; a code presented twice revokes the grant of its first exchange.
    async fn exchange_code(
        &self,
        client: &Client,
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        client_info: ClientInfo,
    ) -> AppResult<Allowed> {
        let refresh_token = random_secret();
        let exchange = CodeExchange {
            mac: self
                .keys()
                .oidc_mac(OidcSecret::AuthorizationCode, &client.id, &code),
            client: client.clone(),
            redirect_uri,
            code_verifier,
            client_info,
            now: self.clock().now_ms(),
            refresh_ttl: self.config().refresh_token_ttl,
            jwt_ttl: self.config().longest_jwt_ttl(),
            refresh_mac: refresh_token_mac(self, &client.id, &refresh_token),
            refresh_token,
        };
        // The writer commits what a refusal did too (a replay's revocation, the code spent).
        self.db()
            .write(move |conn| spend_code(conn, exchange.clone()))
            .await?
    }

    /// Signs the access token and the ID token of `allowed`, off the async workers (RSA
    /// signing takes about a millisecond).
    async fn mint(self: &Arc<Self>, client: Client, allowed: Allowed) -> AppResult<Tokens> {
        let oidc = Arc::clone(self);
        let access_ttl = self.config().access_token_ttl;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            oidc.sign_tokens(&client, allowed, access_ttl)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("signing task failed")))?
    }

    fn sign_tokens(
        &self,
        client: &Client,
        allowed: Allowed,
        access_ttl: Duration,
    ) -> AppResult<Tokens> {
        let Allowed {
            grant,
            user,
            wallets,
            scopes,
            nonce,
            refresh_token,
        } = allowed;
        let now = self.clock().now().unix_timestamp();
        let sub = claims::subject(
            self.keys(),
            client.subject == SubjectType::Pairwise,
            &client.id,
            &grant.user_id,
        );
        let auth_time = grant.auth_time / 1000;
        let access = AccessTokenClaims {
            iss: self.issuer().to_string(),
            sub: sub.clone(),
            aud: client.id.clone(),
            client_id: client.id.clone(),
            exp: now.saturating_add(secs(access_ttl)),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scopes.to_string(),
            auth_time,
            grant: grant.id.clone(),
        };
        let alg = client.id_token_alg;
        let access_token = self.jwt().sign_as(alg, Some(ACCESS_TOKEN_TYPE), &access)?;
        let id = IdTokenClaims {
            iss: self.issuer().to_string(),
            aud: client.id.clone(),
            azp: client.id.clone(),
            exp: now.saturating_add(secs(self.config().id_token_ttl)),
            iat: now,
            auth_time,
            nonce,
            at_hash: claims::access_token_hash(alg, &access_token),
            amr: vec![AMR_PROOF_OF_POSSESSION.to_string()],
            user: UserClaims::of(sub, &user, &wallets, &scopes),
        };
        let id_token = self.jwt().sign_as(alg, None, &id)?;
        Ok(Tokens {
            access_token,
            expires_in: access_ttl.as_secs(),
            id_token,
            scope: scopes,
            refresh_token,
        })
    }
}

/// What a code exchange takes into the writer.
#[derive(Clone)]
struct CodeExchange {
    mac: [u8; 32],
    client: Client,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_info: ClientInfo,
    now: i64,
    refresh_ttl: Duration,
    jwt_ttl: Duration,
    /// Made before the transaction; stored if the grant gets a refresh token.
    refresh_token: String,
    refresh_mac: [u8; 32],
}

/// Spends the code and starts its grant, in the writer's transaction. A refusal is the inner
/// `Err`, so that what it did (the code spent, a replay's revocation) is committed.
fn spend_code(conn: &Conn, x: CodeExchange) -> AppResult<AppResult<Allowed>> {
    let redeemed = store::redeem_code(conn, &x.mac, x.now)?;
    let code = match fresh(
        conn,
        redeemed,
        x.now,
        EventKind::OidcCodeReplay,
        &x.client_info,
    )? {
        Ok(code) => code,
        Err(refused) => return Ok(Err(refused)),
    };
    let checked = check_code(
        &code,
        &x.client,
        x.redirect_uri.as_deref(),
        x.code_verifier.as_deref(),
    );
    if let Err(refused) = checked {
        return Ok(Err(refused));
    }
    let Some((user, wallets)) = account(conn, &code.user_id)? else {
        return Ok(Err(invalid_grant(
            "The account of this code no longer exists.",
        )));
    };
    let offline = code.scopes.contains(Scope::OfflineAccess)
        && x.client.scopes.contains(Scope::OfflineAccess);
    let lifetime = if offline { x.refresh_ttl } else { x.jwt_ttl };
    let grant = Grant {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: x.client.id.clone(),
        user_id: code.user_id.clone(),
        session_id: code.session_id.clone(),
        scopes: code.scopes.clone(),
        auth_time: code.auth_time,
        created_at: x.now,
        expires_at: x.now.saturating_add(millis(lifetime)),
        revoked_at: None,
    };
    store::insert_grant(conn, &grant)?;
    store::set_code_grant(conn, &x.mac, &grant.id)?;
    if offline {
        store::insert_refresh_token(conn, &x.refresh_mac, &grant.id, x.now, grant.expires_at)?;
    }
    let scopes = grant.scopes.clone();
    Ok(Ok(Allowed {
        grant,
        user,
        wallets,
        scopes,
        nonce: code.nonce,
        refresh_token: offline.then_some(x.refresh_token),
    }))
}

/// The checks of a fresh code against the request (Core 3.1.3.2, RFC 7636 section 4.6).
fn check_code(
    code: &AuthorizationCode,
    client: &Client,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> AppResult<()> {
    if code.client_id != client.id {
        return Err(invalid_grant("The code was issued to another client."));
    }
    // redirect_uri may be left out only where the authorization request could leave it out:
    // the client has exactly one.
    let same_redirect = match redirect_uri {
        Some(uri) => uri == code.redirect_uri,
        None => client.redirect_uris == [code.redirect_uri.as_str()],
    };
    if !same_redirect {
        return Err(invalid_grant(
            "redirect_uri must be the one of the authorization request.",
        ));
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if challenge.verify(verifier) => Ok(()),
        (Some(_), Some(_)) => Err(invalid_grant(
            "The code_verifier does not match the code_challenge.",
        )),
        (Some(_), None) => Err(invalid_grant(
            "The code was requested with PKCE: send its code_verifier.",
        )),
        (None, Some(_)) => Err(invalid_grant(
            "A code_verifier was sent for a code requested without a code_challenge.",
        )),
        (None, None) => Ok(()),
    }
}

/// The account as it is now, if it still exists.
pub(super) fn account(
    conn: &Conn,
    user_id: &crate::domain::id::UserId,
) -> AppResult<Option<(User, Vec<Wallet>)>> {
    let Some(user) = users::find_user(conn, user_id)? else {
        return Ok(None);
    };
    Ok(Some((user, users::wallets_of(conn, user_id)?)))
}

/// What a spent code or refresh token stood for, or why it is refused: unknown (or expired),
/// or used before (its grant was revoked by the spending; recorded here as `kind` on the
/// account).
pub(super) fn fresh<T>(
    conn: &Conn,
    redeemed: Redeemed<T>,
    now: i64,
    kind: EventKind,
    client_info: &ClientInfo,
) -> AppResult<AppResult<T>> {
    let what = match kind {
        EventKind::OidcCodeReplay => "code",
        EventKind::OidcRefreshReuse => "refresh token",
        _ => "token",
    };
    let grant_id = match redeemed {
        Redeemed::Fresh(value) => return Ok(Ok(value)),
        Redeemed::Unknown => {
            return Ok(Err(AppError::new(
                ErrorCode::InvalidGrant,
                format!("The {what} is unknown, expired, revoked or another client's."),
            )))
        }
        Redeemed::Replayed { grant_id } => grant_id,
    };
    let refused = AppError::new(
        ErrorCode::InvalidGrant,
        format!("The {what} was used before: everything issued for it is revoked."),
    );
    let Some(grant) = grant_id
        .map(|id| store::find_grant(conn, &id))
        .transpose()?
        .flatten()
    else {
        return Ok(Err(refused));
    };
    tracing::warn!(client_id = %grant.client_id, grant = %grant.id, kind = %kind, "replay: grant revoked");
    record_event(
        conn,
        now,
        kind,
        Some(&grant.user_id),
        None,
        client_info,
        Some(&grant.client_id),
    )?;
    Ok(Err(refused))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
