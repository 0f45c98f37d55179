//! The only way to change a checkout. Every change goes to the store first and then, as stored,
//! into the in-memory copy that status polls are answered from, with a signal to long polls; a
//! change that makes a checkout paid also wakes the fulfillment delivery. Callers cannot forget
//! one of these steps, because they cannot take any of them alone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::{Notify, watch};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::PaymentEvent;

use crate::clock::now_ms;
use crate::domain::{Checkout, Decision, GatewayReport, PaymentTerms, decide};
use crate::store::{Store, StoreError};

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
}

/// Where a report came from, for the log.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A webhook, with its event id: applied once, however often it arrives.
    Webhook(&'a str),
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
    fulfillment_due: Arc<Notify>,
}

impl Checkouts {
    /// Every stored checkout, in memory. `fulfillment_due` is notified when one is paid.
    pub async fn load(store: Store, fulfillment_due: Arc<Notify>) -> Result<Self, StoreError> {
        let cache = store
            .all()
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        Ok(Self {
            store,
            cache: RwLock::new(cache),
            changed: watch::Sender::new(0),
            fulfillment_due,
        })
    }

    /// The checkout as last stored: from memory, never a database read.
    pub fn get(&self, id: &str) -> Option<Arc<Checkout>> {
        self.cache.read().expect("cache lock").get(id).cloned()
    }

    /// Signals every change.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Stores a new checkout; with an idempotency key already used, returns the existing one.
    pub async fn open(&self, checkout: &Checkout) -> Result<Checkout, StoreError> {
        let stored = self.store.insert(checkout).await?;
        Ok(self.cached(stored))
    }

    /// The checkout as the store has it now.
    pub async fn fetch(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        Ok(self.store.get(id).await?.map(|c| self.cached(c)))
    }

    /// Records the gateway order made for a checkout, unless a concurrent request already did:
    /// either way, returns the checkout as stored.
    pub async fn attach_order(
        &self,
        id: &str,
        terms: &PaymentTerms,
    ) -> Result<Checkout, StoreError> {
        let stored = self.store.attach_order(id, terms).await?;
        Ok(self.cached(stored))
    }

    /// Applies a verified webhook event: the webhook carries the latest transaction only, so the
    /// known ones are kept beside it.
    pub async fn apply_event(&self, event: &PaymentEvent) -> Result<Applied, EventError> {
        let Some(checkout) = self.get(&event.order_no) else {
            tracing::warn!(
                "webhook {} for unknown order {}; acknowledged",
                event.event_id,
                event.order_no
            );
            return Ok(Applied::UnknownOrder);
        };
        let Some(terms) = &checkout.terms else {
            tracing::warn!(
                "webhook {} for checkout {} that has no order yet; acknowledged",
                event.event_id,
                checkout.id
            );
            return Ok(Applied::UnknownOrder);
        };
        let report = crate::report::from_event(event, terms.decimals, &checkout.tx_hashes)
            .map_err(EventError::Malformed)?;
        Ok(self
            .apply(&report, Source::Webhook(&event.event_id))
            .await?)
    }

    /// Applies what the gateway reports of an order, as [`decide`] rules, in one transaction
    /// with the webhook's dedupe record and the fulfillment event it queues.
    pub async fn apply(
        &self,
        report: &GatewayReport,
        source: Source<'_>,
    ) -> Result<Applied, StoreError> {
        let mut write = self.store.begin().await?;
        if let Source::Webhook(event_id) = source
            && !write
                .record_event(event_id, &report.order_no, report.state.as_str())
                .await?
        {
            tracing::info!("webhook {event_id} replayed; already applied");
            return Ok(Applied::Duplicate);
        }
        let Some(current) = write.checkout_by_order(&report.order_no).await? else {
            write.commit().await?;
            return Ok(Applied::UnknownOrder);
        };
        let fulfil = match decide(&current, report) {
            Decision::Apply { fulfil } => fulfil,
            Decision::Illegal(illegal) => {
                tracing::warn!(
                    "order {}: the gateway reports {}; kept {} ({illegal})",
                    report.order_no,
                    report.state,
                    current.state.as_str()
                );
                write.commit().await?;
                return Ok(Applied::Unchanged);
            }
            Decision::Older | Decision::SameFacts | Decision::NoOrder => {
                write.commit().await?;
                return Ok(Applied::Unchanged);
            }
        };
        let now = now_ms();
        let changed = current.reported(report, now);
        write.update_payment(&changed).await?;
        if fulfil && let Some(event) = crate::fulfillment::event(&changed, now) {
            write.queue_event(&event).await?;
        }
        write.commit().await?;
        match source {
            Source::Webhook(event_id) => tracing::info!(
                "checkout {}: {} (webhook {event_id})",
                changed.id,
                changed.state.as_str()
            ),
            Source::Reconciler => tracing::info!(
                "checkout {}: {} (reconciled)",
                changed.id,
                changed.state.as_str()
            ),
        }
        let changed = self.cached(changed);
        if fulfil {
            self.fulfillment_due.notify_one();
        }
        Ok(Applied::Changed(Box::new(changed)))
    }

    /// Gateway order numbers the gateway may still change, least recently changed first.
    pub async fn unfinished_orders(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        self.store.unfinished_orders(limit).await
    }

    /// Checkouts, newest first, optionally in one state, created before `before` (Unix ms).
    pub async fn list(
        &self,
        state: Option<CheckoutState>,
        limit: u32,
        before: Option<u64>,
    ) -> Result<Vec<Checkout>, StoreError> {
        self.store.list(state, limit, before).await
    }

    /// Puts what the store holds into memory; an older version never replaces a newer one.
    fn cached(&self, checkout: Checkout) -> Checkout {
        let mut entries = self.cache.write().expect("cache lock");
        let newer = entries
            .get(&checkout.id)
            .is_none_or(|held| held.version < checkout.version);
        if newer {
            entries.insert(checkout.id.clone(), Arc::new(checkout.clone()));
            drop(entries);
            self.changed.send_modify(|n| *n += 1);
        }
        checkout
    }
}
