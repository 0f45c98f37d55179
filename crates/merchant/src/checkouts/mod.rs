//! The only way to change a checkout. Every change goes to the store first and then, as stored,
//! into the in-memory copy that status polls are answered from, with a signal to long polls; a
//! change that makes a checkout paid also wakes the fulfillment delivery. Callers cannot forget
//! one of these steps, because they cannot take any of them alone.

mod attach;
mod cache;
mod chain;
mod claims;
mod creation;
mod refund_transfer;
mod refunds;
mod replicas;
mod reports;
mod settle;
mod unmatched;
mod views;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use tokio::sync::{Notify, watch};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{ChainId, TxHash};

use crate::domain::{ChainPayment, Checkout, PaymentTerms, Watched};
use crate::gateway::Provenance;
use crate::store::{Store, StoreError};

pub use attach::{Attached, NotAttached, judge_for_staff};
pub use creation::{AskingTurn, CreationTurn};
use creation::{CHECKOUT_STRIPES, Turns};
pub use refund_transfer::PasteRefused;
pub use refunds::{Asked, NotDone, NotSent, RefundRequest};
pub use views::{Rendered, Slot, ViewKey, Views};

/// What applying a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The checkout changed (its new form).
    Changed(Box<Checkout>),
    /// Nothing new (the same state and amounts, an older report, or one the status machine
    /// forbids).
    Unchanged,
    /// This webhook event was applied before.
    Duplicate,
    /// No checkout has this gateway order number.
    UnknownOrder,
    /// It names our order number but is about another order (another merchant's, say): kept
    /// for the merchant to see, and nothing changed. Why.
    Foreign(String),
    /// It may be about our order, but only the gateway can say (see
    /// [`crate::gateway::Fit::Unproven`]): nothing changed, and the order is asked about first.
    Unproven,
}

/// Where a report came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A verified webhook: recorded by its key, so a retry is applied once.
    Webhook,
    /// A query by the reconciler.
    Reconciler,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("malformed payment event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Checkouts {
    store: Store,
    cache: RwLock<HashMap<String, Arc<Checkout>>>,
    changed: watch::Sender<u64>,
    /// Each checkout's own wake-up for its status polls, and its view as last serialised.
    views: Views,
    fulfillment_due: Arc<Notify>,
    /// How far each watched chain was read, as its watcher last read it.
    heads: RwLock<BTreeMap<ChainId, Watched>>,
    /// Order creation takes turns per chain and token, on this server (here) and across the
    /// servers on one database (the store's turn).
    creating: std::sync::Mutex<HashMap<(ChainId, String), Turns>>,
    /// The most recent payments that match no checkout, newest last: what status polls tell
    /// the shoppers waiting at the same address (see [`Checkouts::unmatched_at`]).
    unmatched: RwLock<Vec<(ChainId, ChainPayment)>>,
    /// Creation of one checkout's order takes turns on this server (see
    /// [`Checkouts::checkout_turn`]).
    checkout_stripes: Vec<Turns>,
    /// The chains the configuration watches (with an RPC URL), whichever server reads them.
    watched_chains: std::collections::BTreeSet<ChainId>,
    /// How this server's chain watchers are doing (see [`crate::chain_health`]).
    pub chain_health: crate::chain_health::ChainHealth,
    /// Who can have signed a webhook that verifies, and the merchant account reports must name
    /// (see [`Checkouts::for_gateway`]).
    webhooks: (Provenance, Option<String>),
    /// Gateway order numbers to ask about before any other: the gateway's word is needed
    /// (a report that only the gateway can prove ours) or overdue (the chain shows the order's
    /// payment moved).
    urgent: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The refunds approved or sent of the held checkouts' payments, by checkout, as settling
    /// each last read them: what they count paid is less these (see [`crate::refunds::counted`]),
    /// and a check for a change is made on that without a read.
    refunded: RwLock<HashMap<String, Vec<crate::refunds::Refund>>>,
}

impl Checkouts {
    /// The current checkouts (see [`Store::current`]), in memory. `fulfillment_due` is
    /// notified when one is paid.
    pub async fn from_store(
        store: Store,
        fulfillment_due: Arc<Notify>,
    ) -> Result<Self, StoreError> {
        let cache = store
            .current(cache::held_since())
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        let mut unmatched = store.unmatched(unmatched::UNMATCHED_KEPT).await?;
        unmatched.reverse();
        // Each watched chain's head as far as its watcher had read before this start: until
        // it reads again, a checkout on it is settled by what the chain showed then, never as
        // if the chain were not watched (a part payment's state went back to waiting).
        let heads = store
            .cursors()
            .await?
            .into_iter()
            .map(|(chain, cursor)| {
                let head = cursor.next_block.saturating_sub(1);
                // Read before this start, when is not known: as if long ago, so what the
                // gateway said since stands until the watcher reads again.
                (chain, Watched { head, read_at: 0 })
            })
            .collect();
        Ok(Self {
            store,
            cache: RwLock::new(cache),
            changed: watch::Sender::new(0),
            views: Views::default(),
            fulfillment_due,
            heads: RwLock::new(heads),
            creating: std::sync::Mutex::new(HashMap::new()),
            unmatched: RwLock::new(unmatched),
            checkout_stripes: (0..CHECKOUT_STRIPES).map(|_| Turns::default()).collect(),
            chain_health: Default::default(),
            watched_chains: Default::default(),
            // The strictest until told: any merchant could have forwarded a webhook.
            webhooks: (Provenance::GatewaySigned, None),
            urgent: std::sync::Mutex::new(Default::default()),
            refunded: RwLock::new(HashMap::new()),
        })
    }

    /// Who can have signed the gateway's webhooks that verify, and the merchant account its
    /// reports must name, if any.
    pub fn for_gateway(mut self, webhooks: Provenance, account: Option<String>) -> Self {
        self.webhooks = (webhooks, account);
        self
    }

    /// The chains the configuration watches (see `watched_chains`).
    pub fn watching(mut self, chains: impl IntoIterator<Item = ChainId>) -> Self {
        self.watched_chains = chains.into_iter().collect();
        self
    }

    /// The store, for what is kept beside the checkouts (the console's staff, sessions and
    /// audit log): a checkout itself changes only through `Checkouts`.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How the store's writes went lately (see [`crate::store::WriteHealth`]).
    pub fn write_health(&self) -> &crate::store::WriteHealth {
        self.store.write_health()
    }

    /// Stores a new checkout; with an idempotency key already used, returns the existing one.
    pub async fn open(&self, checkout: &Checkout) -> Result<Checkout, StoreError> {
        let stored = self.store.insert(checkout).await?;
        Ok(self.remember(stored))
    }

    /// Stores a new checkout as the payment link `link`, audited by `entry`, in one write.
    pub async fn open_link(
        &self,
        checkout: &Checkout,
        link: &crate::links::PaymentLink,
        entry: &crate::store::AuditEntry,
    ) -> Result<Checkout, StoreError> {
        let stored = self.store.insert_link(checkout, link, entry).await?;
        Ok(self.remember(stored))
    }

    /// Records the gateway order made for a checkout, unless a concurrent request already did:
    /// either way, returns the checkout as stored.
    pub async fn attach_order(
        &self,
        id: &str,
        terms: &PaymentTerms,
    ) -> Result<Checkout, StoreError> {
        self.attach_order_tolerating(id, terms, 0).await
    }

    /// [`Checkouts::attach_order`], forgiving `tolerance_atomic` of the amount: fixed with the
    /// terms (see the tolerance module).
    pub async fn attach_order_tolerating(
        &self,
        id: &str,
        terms: &PaymentTerms,
        tolerance_atomic: u128,
    ) -> Result<Checkout, StoreError> {
        let stored = self
            .store
            .attach_order_tolerating(id, terms, tolerance_atomic)
            .await?;
        Ok(self.remember(stored))
    }

    /// Gateway order numbers the gateway may still change, each with whether it is still open,
    /// newest first.
    pub async fn unfinished_orders(&self, limit: u32) -> Result<Vec<(String, bool)>, StoreError> {
        self.store.unfinished_orders(limit).await
    }

    /// Payments the chain showed that match no checkout, newest first.
    pub async fn unmatched(&self, limit: u32) -> Result<Vec<(ChainId, ChainPayment)>, StoreError> {
        self.store.unmatched(limit).await
    }

    /// Claims made without proof (see [`Store::claims_under_review`]).
    pub async fn claims_under_review(
        &self,
    ) -> Result<HashMap<(u64, TxHash, u64), Vec<(String, u64)>>, StoreError> {
        self.store.claims_under_review().await
    }

    /// Reports refused as about another order, newest first.
    pub async fn refused_reports(
        &self,
        limit: u32,
    ) -> Result<Vec<crate::store::RefusedReport>, StoreError> {
        self.store.refused_reports(limit).await
    }

    /// Checkouts, newest first, optionally in one state, created before `before` (Unix ms).
    pub async fn list(
        &self,
        state: Option<CheckoutState>,
        limit: u32,
        before: Option<(u64, Option<String>)>,
    ) -> Result<Vec<Checkout>, StoreError> {
        self.store.list(state, limit, before).await
    }
}
