//! The recent payments that match no checkout, held for the status polls of the shoppers who may
//! have sent them.

use usdt_checkout_protocol::{Address, ChainId, TxHash};

use super::Checkouts;
use crate::domain::{ChainPayment, Checkout, mined_since};
use crate::store::StoreError;

/// How many unmatched payments status polls know of: the recent ones, which a waiting shopper
/// may have sent; the admin API lists them all.
pub(super) const UNMATCHED_KEPT: u32 = 256;

/// Whether an unmatched payment may be one `checkout`'s shopper sent: to the same address, mined
/// since the checkout was made, in the checkout's token on its chain, or on another watched
/// chain (whose tokens are the only ones its watcher reads): the wrong network.
pub(super) fn sent_for(checkout: &Checkout, chain: ChainId, payment: &ChainPayment) -> bool {
    checkout.terms.as_ref().is_some_and(|terms| {
        payment.to == terms.to_address
            && (chain != terms.chain_id || payment.token == terms.token_contract)
            && mined_since(payment.timestamp_ms, checkout.created_at)
    })
}

impl Checkouts {
    /// The unmatched payments a checkout's shopper may have sent, with the chain each came on
    /// (see [`sent_for`]).
    pub fn unmatched_at(&self, checkout: &Checkout) -> Vec<(ChainId, ChainPayment)> {
        let kept = self.unmatched.read().expect("unmatched lock");
        kept.iter()
            .filter(|seen| sent_for(checkout, seen.0, &seen.1))
            .cloned()
            .collect()
    }

    /// The checkouts on other chains than `chain` that wait at the address `payment` went to,
    /// made before it was mined: whose shopper may have sent it on the wrong network.
    pub fn wrong_network_for(&self, chain: ChainId, payment: &ChainPayment) -> Vec<String> {
        let cache = self.cache.read().expect("cache lock");
        let mut ids: Vec<String> = cache
            .values()
            .filter(|c| {
                c.terms.as_ref().is_some_and(|t| t.chain_id != chain) && sent_for(c, chain, payment)
            })
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// How many [`Checkouts::unmatched_at`] are: for every status poll's ETag, with no copy.
    pub fn unmatched_count(&self, checkout: &Checkout) -> usize {
        let kept = self.unmatched.read().expect("unmatched lock");
        kept.iter()
            .filter(|seen| sent_for(checkout, seen.0, &seen.1))
            .count()
    }

    /// The recent unmatched payments as the store has them now.
    pub(super) async fn reload_unmatched(&self) -> Result<(), StoreError> {
        let mut recent = self.store.unmatched(UNMATCHED_KEPT).await?;
        recent.reverse();
        *self.unmatched.write().expect("unmatched lock") = recent;
        self.unmatched_changed_at(None);
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Keeps what a chain step on `chain` read and matched to no checkout, after forgetting
    /// what a reorg from block `fork` took back, if any: the most recent [`UNMATCHED_KEPT`].
    pub(super) fn keep_unmatched(
        &self,
        chain: ChainId,
        fork: Option<u64>,
        unmatched: Vec<ChainPayment>,
    ) {
        if fork.is_none() && unmatched.is_empty() {
            return;
        }
        // A reorg may take back a payment to any address on the chain.
        let at: Option<Vec<Address>> = fork
            .is_none()
            .then(|| unmatched.iter().map(|p| p.to).collect());
        let mut kept = self.unmatched.write().expect("unmatched lock");
        if let Some(fork) = fork {
            kept.retain(|(c, p)| *c != chain || p.block_number < fork);
        }
        // Once each: on Postgres, this server's own change feed may have read them from the
        // database already (shown twice, a shopper's one payment looked like two).
        for payment in unmatched {
            if !kept
                .iter()
                .any(|(c, k)| *c == chain && k.same_log(&payment))
            {
                kept.push((chain, payment));
            }
        }
        let excess = kept.len().saturating_sub(UNMATCHED_KEPT as usize);
        kept.drain(..excess);
        drop(kept);
        // No checkout's version changed, but what some of their views show did.
        self.unmatched_changed_at(at.as_deref());
        self.changed.send_modify(|n| *n += 1);
    }

    /// Forgets the unmatched payments of transaction `tx`: the gateway named it for an order.
    pub(super) fn forget_unmatched_tx(&self, tx: &TxHash) {
        let mut kept = self.unmatched.write().expect("unmatched lock");
        let at: Vec<Address> = kept
            .iter()
            .filter(|(_, p)| p.tx_id == *tx)
            .map(|(_, p)| p.to)
            .collect();
        kept.retain(|(_, p)| p.tx_id != *tx);
        drop(kept);
        if !at.is_empty() {
            self.unmatched_changed_at(Some(&at));
        }
    }

    /// Forgets `payment` on `chain` from the unmatched ones: a shopper's claim attached it.
    pub(super) fn forget_unmatched_log(&self, chain: ChainId, payment: &ChainPayment) {
        let mut kept = self.unmatched.write().expect("unmatched lock");
        let before = kept.len();
        kept.retain(|(c, p)| *c != chain || !p.same_log(payment));
        let forgot = kept.len() != before;
        drop(kept);
        if forgot {
            self.unmatched_changed_at(Some(&[payment.to]));
        }
    }
}
