//! The phone's side: the message that approves a pairing (its statement names the desktop and
//! the code; its nonce is bound to this pairing and the signing address), and its approval, in
//! one writer transaction with the nonce's spend.

use std::sync::Arc;

use super::{device_of, not_found, refusal, Pairings};
use crate::{
    db::pairings,
    domain::{
        address::Address,
        event::EventKind,
        pairing::{approval_statement, Approval, Pairing, PairingState},
        token::NonceFor,
    },
    error::{AppError, AppResult},
    service::{record_event, Challenge, ClientInfo, Refused, Service, SignedMessage},
};

impl Pairings {
    /// The exact message that approves pending pairing `id` when `address` signs it, e.g.
    /// "Sign in on another device (Firefox on Windows), code BDFH-JKLM."
    pub fn challenge(
        &self,
        id: &str,
        address: &str,
        chain_id: Option<u64>,
    ) -> AppResult<Challenge> {
        let pairing = self.find_pending(id)?;
        let address = Address::parse(address)?;
        let statement = approval_statement(device_of(&pairing).label().as_deref(), &pairing.code);
        let named = address.to_string();
        let purpose = NonceFor::Pairing {
            pairing_id: pairing.id.as_str(),
            address: &named,
        };
        self.service
            .build_challenge(&address, chain_id, &statement, purpose)
    }

    /// Approves pending pairing `id` with its signed challenge, through the path every signed
    /// message takes (key or contract wallet, nonce spent once). In the transaction that spends
    /// the nonce: the pairing goes from pending to approved (refused, with the account left as it
    /// was, if it is not pending and live any more), the wallet's account is found or created,
    /// and the account's log records `pairing_approved`. The phone gets no session.
    pub async fn approve(
        &self,
        id: &str,
        message: String,
        signature: String,
        client: ClientInfo,
    ) -> AppResult<Address> {
        super::counted(
            "approve",
            self.approve_pending(id, message, signature, client).await,
        )
    }

    async fn approve_pending(
        &self,
        id: &str,
        message: String,
        signature: String,
        client: ClientInfo,
    ) -> AppResult<Address> {
        // Refused before any signature work or spend when it cannot be approved now; the
        // writer decides for good.
        let id = self.find_pending(id)?.id;
        let for_pairing = id.clone();
        let nonce_for = move |service: &Service, nonce: &str, address: &str| {
            let pairing_id = for_pairing.as_str();
            service.nonce_is_for(
                nonce,
                NonceFor::Pairing {
                    pairing_id,
                    address,
                },
            )
        };
        let signed = SignedMessage {
            message,
            signature,
            nonce_for,
            refused: Refused {
                kind: EventKind::SignInFailed,
                owner: None,
                client: client.clone(),
            },
        };
        let service = Arc::clone(&self.service);
        let approved = self
            .service
            .check_then_write(signed, move |conn, checked| {
                let now = service.clock().now_ms();
                pairings::lock(conn, &id)?;
                let pairing = pairings::find(conn, &id)?.ok_or_else(not_found)?;
                // Refused before anything is written (see `Spent::then`).
                let state = pairing.state_at(now);
                if state != PairingState::Pending {
                    return Err(refusal(state));
                }
                let (address, chain_id) = (checked.address, checked.parsed.message.chain_id);
                let (user_id, created_account) =
                    service.account_of_wallet(conn, &address, chain_id)?;
                let approval = Approval {
                    user_id,
                    address,
                    chain_id,
                    approved_at: now,
                    created_account,
                    contract: checked.contract.clone(),
                };
                if !pairings::approve(conn, &id, &approval, now)? {
                    return Err(AppError::Internal(anyhow::anyhow!(
                        "a pending pairing was not approved"
                    )));
                }
                let detail = desktop_detail(&pairing);
                record_event(
                    conn,
                    now,
                    EventKind::PairingApproved,
                    Some(&approval.user_id),
                    Some(&address),
                    &client,
                    Some(&detail),
                )?;
                Ok(address)
            })
            .await?;
        tracing::info!(address = %approved, "pairing approved");
        Ok(approved)
    }
}

/// The desktop as the account's log names it: "Firefox on Windows, 203.0.113.7".
fn desktop_detail(pairing: &Pairing) -> String {
    let device = device_of(pairing)
        .label()
        .unwrap_or_else(|| "unknown browser".into());
    match &pairing.ip {
        Some(ip) => format!("{device}, {ip}"),
        None => device,
    }
}
