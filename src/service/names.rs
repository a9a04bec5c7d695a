//! Wallets' ENS names, resolved off every request's path: a sign-in or a link queues its wallet
//! (bounded, deduplicated, dropped when full), one background task resolves the queue and
//! caches the answer for `ens.ttl_secs`, and the upkeep loop queues expired entries again.
//! Requests only read the cache (with the wallets). Names are display only: nothing compares
//! a name to decide access.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use tokio::sync::mpsc;

use super::Service;
use crate::{config::Ens, db::ens, domain::address::Address, error::AppResult};

/// Wallets waiting to be resolved, at most.
const QUEUE_MAX: usize = 256;

/// Expired entries the upkeep queues per round, at most.
const REFRESH_BATCH: u32 = 64;

/// How long after a failed resolution (chain unreachable) it is tried again, at most.
const RETRY_MS: i64 = 5 * 60 * 1000;

/// The resolution queue, and what it resolves with.
pub(super) struct Names {
    /// None: names are not resolved (`ens.enabled` is false or its chain has no RPC).
    ens: Option<Ens>,
    sender: mpsc::Sender<Address>,
    /// Taken by the one resolver task.
    receiver: Mutex<Option<mpsc::Receiver<Address>>>,
    /// Addresses in the queue: one entry each.
    queued: Mutex<HashSet<Address>>,
}

impl Names {
    pub(super) fn new(ens: Option<Ens>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_MAX);
        Self {
            ens,
            sender,
            receiver: Mutex::new(Some(receiver)),
            queued: Mutex::new(HashSet::new()),
        }
    }

    /// Queues `address` unless it is queued already or the queue is full (then a later
    /// sign-in or the upkeep queues it again).
    fn enqueue(&self, address: Address) {
        if self.ens.is_none() {
            return;
        }
        let Ok(mut queued) = self.queued.lock() else {
            return;
        };
        if !queued.contains(&address) && self.sender.try_send(address).is_ok() {
            queued.insert(address);
        }
    }

    fn dequeued(&self, address: &Address) {
        if let Ok(mut queued) = self.queued.lock() {
            queued.remove(address);
        }
    }
}

impl Service {
    /// Resolves the ENS name of `address` in the background (after a sign-in or a link);
    /// returns at once.
    pub(super) fn resolve_name_later(&self, address: Address) {
        self.names.enqueue(address);
    }

    /// The background resolver: resolves queued wallets one at a time until the service
    /// stops. Returns at once when names are off or another task already runs.
    pub async fn resolve_names(self: Arc<Self>) {
        let Some(ens) = self.names.ens.clone() else {
            return;
        };
        let Some(mut receiver) = self.names.receiver.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        while let Some(address) = receiver.recv().await {
            if let Err(err) = self.resolve_name(&ens, &address).await {
                tracing::warn!(%address, error = %err, "ENS name not stored");
            }
            self.names.dequeued(&address);
        }
    }

    /// Resolves one wallet's name unless its entry is fresh, and caches the answer.
    async fn resolve_name(&self, ens: &Ens, address: &Address) -> AppResult<()> {
        let now = self.now_ms();
        let target = *address;
        if self.db.read(|conn| ens::is_fresh(conn, &target, now))? {
            return Ok(());
        }
        let ttl_ms = i64::try_from(ens.ttl.as_millis()).unwrap_or(i64::MAX);
        let resolved = self.chains.primary_name(ens, address).await;
        let now = self.now_ms();
        match resolved {
            Ok(name) => {
                tracing::debug!(%address, found = name.is_some(), "ENS name resolved");
                self.db
                    .write(move |conn| {
                        ens::store(
                            conn,
                            &target,
                            name.as_ref(),
                            now,
                            now.saturating_add(ttl_ms),
                        )
                    })
                    .await
            }
            Err(err) => {
                tracing::info!(%address, error = %err, "ENS name not resolved; will retry");
                let retry_at = now.saturating_add(ttl_ms.min(RETRY_MS));
                self.db
                    .write(move |conn| ens::retry_later(conn, &target, now, retry_at))
                    .await
            }
        }
    }

    /// Queues a batch of linked wallets whose cached name has expired; returns how many.
    pub async fn refresh_names(&self) -> AppResult<usize> {
        if self.names.ens.is_none() {
            return Ok(0);
        }
        let now = self.now_ms();
        let due = self
            .db
            .read(|conn| ens::expired(conn, now, REFRESH_BATCH))?;
        let count = due.len();
        for address in due {
            self.names.enqueue(address);
        }
        Ok(count)
    }
}
