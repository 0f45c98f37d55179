//! Applying a chain watcher's steps: each payment matched to the checkout it pays (see
//! [`crate::matching::owner`]) or kept unmatched, the head kept, the checkouts it moves settled.

use std::collections::HashMap;

use usdt_checkout_chain::Step;
use usdt_checkout_protocol::{Address, ChainId};

use super::Checkouts;
use crate::clock::now_ms;
use crate::domain::{ChainPayment, Checkout, Watched};
use crate::matching::owner;
use crate::store::StoreError;

/// Whether the gateway's word on a checkout the chain just moved is worth asking before the
/// other open orders' (the reconciler asks these first): its payments came or went, or the
/// chain shows it paid in full and confirmed, so only the gateway's "paid" is awaited (with
/// its webhooks lost, it waited behind every other open order).
fn needs_the_gateway_soon(checkout: &Checkout, payments_moved: bool) -> bool {
    let Some(terms) = &checkout.terms else {
        return false;
    };
    !checkout.state.is_final()
        && (payments_moved
            || (checkout.remaining_atomic == Some(0)
                && checkout.confirmations >= Some(terms.required_confirmations)))
}

impl Checkouts {
    /// [`Checkouts::apply_chain_read_at`] of a step that began now.
    pub async fn apply_chain(&self, chain: ChainId, step: &Step) -> Result<(), StoreError> {
        self.apply_chain_read_at(chain, step, now_ms()).await
    }

    /// Applies one step of a chain's watcher, which began reading at `read_at` (Unix ms):
    /// forgets what a reorg took back, attaches each new payment to the checkout it pays (or
    /// keeps it unmatched), keeps the cursor, and settles every checkout whose facts changed,
    /// all in one transaction.
    pub async fn apply_chain_read_at(
        &self,
        chain: ChainId,
        step: &Step,
        read_at: u64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut write = self.store.begin().await?;
        let mut touched: Vec<String> = vec![];
        let mut forgotten = vec![];
        if let Some(fork) = step.fork {
            tracing::warn!("chain {chain}: reorg from block {fork}; reading it again");
            forgotten = write.rewind_chain(chain, fork).await?;
            touched.extend(forgotten.iter().map(|f| f.checkout_id.clone()));
            // Refunds the reorg's blocks paid are approved again: their transfer, mined anew,
            // is recognised again; otherwise the merchant sees them waiting to be paid.
            for id in write.rewind_refunds(chain, fork).await? {
                tracing::warn!("chain {chain}: refund {id}'s transfer was reorganised away");
            }
        }
        // Checkouts whose payments the chain took back or added: changed, even where nothing
        // else is (a payment the gateway reported first now has its amount and block).
        let mut moved: std::collections::HashSet<String> = touched.iter().cloned().collect();
        let mut credited: HashMap<String, Vec<ChainPayment>> = HashMap::new();
        let mut unmatched = vec![];
        for payment in &step.payments {
            // A payment the reorg took back, mined again: the same transfer, the same order's
            // (matched anew, an order it had paid in full would no longer take it, and it would
            // be free for anyone's claim).
            let owner = match forgotten
                .iter()
                .find(|f| f.log_index == payment.log_index && f.tx_hash == payment.tx_id)
            {
                Some(again) => Some(again.checkout_id.clone()),
                None => {
                    let cache = self.cache.read().expect("cache lock");
                    let held = cache.values().map(|c| c.as_ref());
                    owner(held, chain, payment, &credited, step.fork, now)
                }
            };
            if write
                .record_chain_payment(chain, payment, owner.as_deref())
                .await?
            {
                match &owner {
                    Some(id) => {
                        tracing::info!(
                            "chain {chain}: {} pays {} to checkout {id}",
                            payment.tx_id,
                            payment.value
                        );
                        credited
                            .entry(id.clone())
                            .or_default()
                            .push(payment.clone());
                        touched.push(id.clone());
                        moved.insert(id.clone());
                    }
                    None => {
                        tracing::warn!(
                            "chain {chain}: {} pays {} to {} and matches no checkout; kept as unmatched",
                            payment.tx_id,
                            payment.value,
                            payment.to
                        );
                        unmatched.push(payment.clone());
                    }
                }
            }
        }
        write.save_cursor(chain, &step.next).await?;
        {
            let mut heads = self.heads.write().expect("heads lock");
            let read_to = step.next.next_block.saturating_sub(1);
            // A step that stopped short of the head (catching up, chunk by chunk) has not read
            // what was mined when it began: the last read that had still stands.
            let read_at = match heads.get(&chain) {
                Some(before) if read_to < step.head => before.read_at,
                None if read_to < step.head => 0,
                _ => read_at,
            };
            heads.insert(
                chain,
                Watched {
                    head: read_to.min(step.head),
                    read_at,
                },
            );
        }
        // The head moved: every checkout on this chain still counting confirmations, or whose
        // time may have run out, is settled again too, when that changes anything.
        touched.extend(self.settling_on(chain));
        touched.sort();
        touched.dedup();
        let mut changed = vec![];
        for id in touched {
            let Some(current) = write.checkout(&id).await? else {
                continue;
            };
            let informed = current.clone();
            let moved = moved.contains(&id);
            let settled = self
                .settle(&mut write, &current, informed, "chain", moved)
                .await?;
            if let Some((checkout, _)) = &settled
                && needs_the_gateway_soon(checkout, moved)
                && let Some(terms) = &checkout.terms
            {
                self.hurry(&terms.gateway_order_no);
            }
            changed.push(settled);
        }
        write.commit().await?;
        self.keep_unmatched(chain, step.fork, unmatched);
        for one in changed {
            self.publish(one);
        }
        Ok(())
    }

    /// The tokens of the checkouts on `chain`, and the receiving addresses of the checkouts on
    /// every chain: what its watcher reads (a transfer to one on the wrong chain is told).
    pub fn watched_on(&self, chain: ChainId) -> (Vec<Address>, Vec<Address>) {
        let cache = self.cache.read().expect("cache lock");
        let terms = || cache.values().filter_map(|c| c.terms.as_ref());
        let distinct = |mut addresses: Vec<Address>| {
            addresses.sort_by_key(|a| *a.as_bytes());
            addresses.dedup();
            addresses
        };
        (
            distinct(
                terms()
                    .filter(|t| t.chain_id == chain)
                    .map(|t| t.token_contract)
                    .collect(),
            ),
            distinct(terms().map(|t| t.to_address).collect()),
        )
    }
}
