//! Creating a checkout's order in turn: the turn per chain and token in which an amount is chosen
//! (see [`crate::matching::unique_amount`]), the turn per checkout to ask the gateway, and what is
//! asked kept before the gateway is called.

use std::sync::Arc;

use usdt_checkout_protocol::ChainId;

use super::Checkouts;
use crate::clock::now_ms;
use crate::domain::{Asked, Checkout};
use crate::store::{Store, StoreError};

/// How long one request may ask the gateway for a checkout's order before another may: longer
/// than a request may last (30 s), with room for the servers' clocks to differ.
const ASKING_LEASE_MS: u64 = 60_000;

/// The turn to ask the gateway for one checkout's order (see [`Checkouts::checkout_turn`]).
pub struct AskingTurn {
    _here: tokio::sync::OwnedMutexGuard<()>,
    store: Store,
    id: String,
    /// The lease's end: what marks it as this turn's.
    until: u64,
}

impl Drop for AskingTurn {
    fn drop(&mut self) {
        let (store, id, until) = (self.store.clone(), std::mem::take(&mut self.id), self.until);
        // Given back at once; should this fail, the lease runs out by itself.
        tokio::spawn(async move {
            if let Err(e) = store.end_asking(&id, until).await {
                tracing::warn!("checkout {id}: giving back the turn to create its order: {e}");
            }
        });
    }
}

/// How many locks one checkout's creation takes turns on (see [`Checkouts::checkout_turn`]).
pub(super) const CHECKOUT_STRIPES: u64 = 64;

/// Who creates next on one chain and token, on this server.
pub(super) type Turns = Arc<tokio::sync::Mutex<()>>;

/// A turn to create orders (see [`Checkouts::creation_turn`]).
pub struct CreationTurn {
    _here: tokio::sync::OwnedMutexGuard<()>,
    _shared: crate::store::Turn,
}

impl Checkouts {
    /// Keeps what is about to be asked of the gateway for checkout `id` (see
    /// [`crate::domain::Asked`]): from then on its amount is taken, as an open order's is.
    /// `None` forgets it. Returns the checkout as stored.
    pub async fn ask(&self, id: &str, asked: Option<&Asked>) -> Result<Checkout, StoreError> {
        let stored = self.store.ask(id, asked).await?;
        Ok(self.remember(stored))
    }

    /// Waits for this server's turn to choose an order's amount on `chain` and `symbol`, among
    /// its own requests and the other servers on the same database; the turn ends when the
    /// returned value is dropped. Once it is this server's turn, what the others asked for
    /// meanwhile is in its copy, so the amounts awaited (see [`Checkouts::amounts_awaited`])
    /// are all there.
    pub async fn creation_turn(
        &self,
        chain: ChainId,
        symbol: &str,
    ) -> Result<CreationTurn, StoreError> {
        let here = self
            .creating
            .lock()
            .expect("creation lock")
            .entry((chain, symbol.to_owned()))
            .or_default()
            .clone();
        let here = here.lock_owned().await;
        let shared = self.store.creation_turn(chain, symbol).await?;
        for (id, version) in self.store.versions_on(chain, symbol).await? {
            if self.cached(&id).is_none_or(|held| held.version < version) {
                self.reload(&id).await?;
            }
        }
        Ok(CreationTurn {
            _here: here,
            _shared: shared,
        })
    }

    /// Waits for the turn to create checkout `id`'s order, among this server's requests and the
    /// other servers on the same database; the turn ends when the returned value is dropped
    /// (or, should this server die holding it, once [`ASKING_LEASE_MS`] have passed).
    pub async fn checkout_turn(&self, id: &str) -> Result<AskingTurn, StoreError> {
        // Striped by the id: a fixed set of locks, however many checkouts there are; two
        // checkouts sharing a stripe only take turns.
        let stripe = (crate::store::replicas::checkout_key(id) as u64 % CHECKOUT_STRIPES) as usize;
        let here = self.checkout_stripes[stripe].clone().lock_owned().await;
        loop {
            let now = now_ms();
            let until = now + ASKING_LEASE_MS;
            if self.store.lease_asking(id, now, until).await? {
                return Ok(AskingTurn {
                    _here: here,
                    store: self.store.clone(),
                    id: id.to_owned(),
                    until,
                });
            }
            // Another server is asking the gateway for it: its answer is awaited.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Amounts open checkouts on this chain and token are waiting for, or asking the gateway
    /// for: a new order's amount must differ, so a plain transfer can be matched by its amount
    /// alone.
    pub fn amounts_awaited(&self, chain: ChainId, symbol: &str) -> Vec<u128> {
        let cache = self.cache.read().expect("cache lock");
        crate::matching::amounts_awaited(
            cache.values().map(|c| c.as_ref()),
            chain,
            symbol,
            now_ms(),
        )
    }
}
