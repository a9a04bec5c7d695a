//! /api/wallets: link, list, unlink and choose the primary wallet.

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{param::Header, param::Path, payload::Json, ApiResponse, OpenApi};

use super::{
    client_info,
    dto::{ChallengeRequest, ChallengeResponse, SignedMessage, Wallet},
    error::ApiError,
    security::SessionAuth,
    ApiTags, AppState,
};

pub struct WalletsApi;

#[derive(ApiResponse)]
pub enum LinkResponse {
    /// The wallet is linked to the account.
    #[oai(status = 201)]
    Linked(Json<Wallet>),
}

#[derive(ApiResponse)]
pub enum WalletsResponse {
    /// The account's wallets, primary first.
    #[oai(status = 200)]
    Ok(Json<Vec<Wallet>>),
}

#[derive(ApiResponse)]
pub enum WalletChangedResponse {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/api/wallets", tag = "ApiTags::Wallets")]
impl WalletsApi {
    /// Get a message that links a wallet
    ///
    /// Builds the complete EIP-4361 message that, signed by `address`, links it to the
    /// signed-in account, on a nonce bound to both (nothing is stored until it is used). Any
    /// wallet that can sign text works: copy the message, sign it, and POST it with the
    /// signature to /api/wallets (or to /api/auth/verify with `link: true`). This is the only
    /// message that links a wallet. Needs a recent signature, like linking itself.
    /// Errors: 400 `invalid_address`; 401 `unauthenticated`, `chain_not_allowed`; 403
    /// `csrf_invalid`, `reauthentication_required`.
    #[oai(
        path = "/challenge",
        method = "post",
        operation_id = "createLinkChallenge"
    )]
    async fn challenge(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: Json<ChallengeRequest>,
    ) -> Result<ChallengeResponse, ApiError> {
        let challenge = state
            .service
            .link_challenge(&auth.current, &body.address, body.chain_id)
            .await?;
        Ok(ChallengeResponse::Ok(Json(challenge.into())))
    }

    /// Link a wallet
    ///
    /// Links the wallet that signed `message`, a link challenge of this account for that
    /// wallet (POST /api/wallets/challenge), to the signed-in account. A message signed to
    /// sign in is refused with `invalid_nonce` and stays usable for signing in: a signature
    /// given to sign in can never attach its wallet to another account. A wallet is never
    /// moved from one account to another. Nothing is written for a nonce not issued for this
    /// or a message its address did not sign. Needs a recent signature (see
    /// `session.reauth_window_secs`): without one the nonce is not spent, so the same message
    /// works after re-authenticating. Errors: 400 `invalid_message`,
    /// `invalid_signature_format`; 401 `unauthenticated`, `invalid_nonce`,
    /// `invalid_signature`, `domain_mismatch`, `uri_mismatch`, `chain_not_allowed`,
    /// `message_expired`, `message_not_yet_valid`, `issued_at_invalid`; 403 `csrf_invalid`,
    /// `reauthentication_required`; 409 `wallet_already_linked`,
    /// `wallet_already_yours`. A smart-contract wallet links the same way (its contract is
    /// asked as for a sign-in: 401 `contract_wallet_unsupported`, 503 `chain_unavailable`).
    #[oai(path = "/", method = "post", operation_id = "linkWallet")]
    async fn link(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: Json<SignedMessage>,
    ) -> Result<LinkResponse, ApiError> {
        let SignedMessage { message, signature } = body.0;
        let wallet = state
            .service
            .link_wallet(
                &auth.current,
                message.into(),
                signature.into(),
                client_info(req),
            )
            .await?;
        Ok(LinkResponse::Linked(Json((&wallet).into())))
    }

    /// List wallets
    ///
    /// The signed-in account's wallets. Errors: 401 `unauthenticated`.
    #[oai(path = "/", method = "get", operation_id = "listWallets")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
    ) -> Result<WalletsResponse, ApiError> {
        let wallets = state.service.wallets(&auth.current).await?;
        Ok(WalletsResponse::Ok(Json(
            wallets.iter().map(Wallet::from).collect(),
        )))
    }

    /// Unlink a wallet
    ///
    /// Removes the wallet from the account; it can no longer sign in to it, and other sessions
    /// it signed in are ended. The account's last wallet cannot be removed; if the primary goes,
    /// the oldest remaining wallet becomes primary. Needs a recent signature. Errors: 401
    /// `unauthenticated`; 403 `csrf_invalid`, `reauthentication_required`; 404
    /// `wallet_not_found`; 409 `last_sign_in_method`.
    #[oai(path = "/:address", method = "delete", operation_id = "unlinkWallet")]
    async fn unlink(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// The wallet's address (any case).
        address: Path<String>,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<WalletChangedResponse, ApiError> {
        state
            .service
            .unlink_wallet(&auth.current, &address, client_info(req))
            .await?;
        Ok(WalletChangedResponse::Done)
    }

    /// Make a wallet primary
    ///
    /// Errors: 401 `unauthenticated`; 403 `csrf_invalid`; 404 `wallet_not_found`.
    #[oai(
        path = "/:address/primary",
        method = "post",
        operation_id = "setPrimaryWallet"
    )]
    async fn set_primary(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// The wallet's address (any case).
        address: Path<String>,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<WalletChangedResponse, ApiError> {
        state
            .service
            .set_primary_wallet(&auth.current, &address, client_info(req))
            .await?;
        Ok(WalletChangedResponse::Done)
    }
}
