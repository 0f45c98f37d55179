//! The in-memory copy of the checkouts that status polls are answered from: what the store holds,
//! never older than what was held, with a signal on every new version.

use std::sync::Arc;

use tokio::sync::watch;

use usdt_checkout_protocol::Address;

use super::{Applied, Checkouts, Views};
use crate::clock::now_ms;
use crate::domain::Checkout;
use crate::matching::LATE_MATCH_MS;
use crate::store::StoreError;

/// Checkouts changed this recently are held in memory from startup, with every payment under
/// way: twice the late-payment window, so a late payment finds its order. Older history is read
/// when asked for: a server restarted over years of orders holds only the current ones.
const HELD_MS: u64 = 2 * LATE_MATCH_MS;

pub(super) fn held_since() -> u64 {
    now_ms().saturating_sub(HELD_MS)
}

impl Checkouts {
    /// The checkout as held in memory: never a database read.
    pub fn cached(&self, id: &str) -> Option<Arc<Checkout>> {
        self.cache.read().expect("cache lock").get(id).cloned()
    }

    /// [`Checkouts::cached`], else [`Checkouts::reload`]: one not in memory was made a moment
    /// ago on another server sharing the database (the shopper's next poll may come here before
    /// the news does), or is history not loaded at startup (a receipt asked for weeks later).
    /// Read once, then held. One held without an order is read again too: another server may
    /// have just made its order, and the shopper who asked it there polls here before the news
    /// arrives.
    pub async fn load(&self, id: &str) -> Result<Option<Arc<Checkout>>, StoreError> {
        if let Some(held) = self.cached(id).filter(|c| c.terms.is_some()) {
            return Ok(Some(held));
        }
        self.reload(id).await?;
        Ok(self.cached(id))
    }

    /// The checkout as the store has it now, whatever memory holds; then held. One that is
    /// over may have been paid by another server: its fulfillment event is anyone's to send.
    pub async fn reload(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        let Some(checkout) = self.store.get(id).await? else {
            return Ok(None);
        };
        if checkout.state.is_final() {
            self.fulfillment_due.notify_one();
        }
        Ok(Some(self.remember(checkout)))
    }

    /// How many checkouts memory holds in each state (the current ones: see [`HELD_MS`]), for
    /// `/metrics`.
    pub fn held_by_state(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for checkout in self.cache.read().expect("cache lock").values() {
            *counts.entry(checkout.state.as_str()).or_insert(0) += 1;
        }
        counts
    }

    /// Signals every change (the console's live updates): status polls wait on their
    /// checkout's own wake-up instead (see [`Checkouts::views`]).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Each checkout's wake-up for its status polls, and its view as last serialised.
    pub fn views(&self) -> &Views {
        &self.views
    }

    /// The unmatched payments changed at the receiving addresses `at` (`None`: anywhere): the
    /// views of the checkouts there are to be rendered again, and their polls woken.
    pub(super) fn unmatched_changed_at(&self, at: Option<&[Address]>) {
        self.views.unmatched_changed();
        let cache = self.cache.read().expect("cache lock");
        self.views.wake_where(|id| match at {
            None => true,
            Some(addresses) => cache
                .get(id)
                .and_then(|c| c.terms.as_ref())
                .is_some_and(|terms| addresses.contains(&terms.to_address)),
        });
    }

    /// Puts a stored change into memory and wakes whoever waits for it.
    pub(super) fn publish(&self, changed: Option<(Checkout, bool)>) -> Applied {
        match changed {
            None => Applied::Unchanged,
            Some((checkout, fulfil)) => {
                let quiet = self
                    .cached(&checkout.id)
                    .is_some_and(|held| held.version == checkout.version);
                let checkout = self.remember(checkout);
                if quiet {
                    return Applied::Unchanged;
                }
                if fulfil {
                    self.fulfillment_due.notify_one();
                }
                Applied::Changed(Box::new(checkout))
            }
        }
    }

    /// Puts what the store holds into memory; an older version never replaces a newer one, and
    /// only a new version signals a change.
    pub(super) fn remember(&self, checkout: Checkout) -> Checkout {
        let mut entries = self.cache.write().expect("cache lock");
        if let Some(held) = entries.get(&checkout.id)
            && held.version == checkout.version
        {
            entries.insert(checkout.id.clone(), Arc::new(checkout.clone()));
            return checkout;
        }
        let newer = entries
            .get(&checkout.id)
            .is_none_or(|held| held.version < checkout.version);
        if newer {
            entries.insert(checkout.id.clone(), Arc::new(checkout.clone()));
            drop(entries);
            self.views.wake(&checkout.id);
            self.changed.send_modify(|n| *n += 1);
        }
        checkout
    }
}
