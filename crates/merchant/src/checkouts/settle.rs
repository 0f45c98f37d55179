//! Settling a checkout: the state its facts (the gateway's word, the chain's payments, how far
//! its chain was read, the clock) make, stored when anything anyone sees changed.

use usdt_checkout_protocol::ChainId;

use super::Checkouts;
use crate::clock::now_ms;
use crate::domain::{Checkout, Watched};
use crate::store::{StoreError, Write};

impl Checkouts {
    /// Settles every unfinished checkout by the clock (an order's time running out), with no
    /// new fact.
    pub async fn settle_due(&self) -> Result<(), StoreError> {
        {
            // The refunds of checkouts no longer held are forgotten with them.
            let cache = self.cache.read().expect("cache lock");
            self.refunded
                .write()
                .expect("refunded lock")
                .retain(|id, _| cache.contains_key(id));
        }
        let due: Vec<String> = self
            .cache
            .read()
            .expect("cache lock")
            .values()
            .filter(|c| !c.state.is_final() && self.would_change(c))
            .map(|c| c.id.clone())
            .collect();
        for id in due {
            let mut write = self.store.begin().await?;
            let Some(current) = write.checkout(&id).await? else {
                continue;
            };
            let changed = self
                .settle(&mut write, &current, current.clone(), "clock", false)
                .await?;
            write.commit().await?;
            self.publish(changed);
        }
        Ok(())
    }

    /// Checkouts on `chain` whose state can still change with the head or the clock.
    pub(super) fn settling_on(&self, chain: ChainId) -> Vec<String> {
        self.cache
            .read()
            .expect("cache lock")
            .values()
            .filter(|c| {
                let Some(terms) = c.terms.as_ref().filter(|t| t.chain_id == chain) else {
                    return false;
                };
                let now = now_ms();
                let open = !c.state.is_final()
                    && (!c.chain_payments.is_empty() || now >= terms.expires_at);
                // Paid on the gateway's word, and not (yet) seen on chain: watched for a while,
                // so a disagreement that lasts is said.
                let unseen = c
                    .gateway
                    .success_at
                    .is_some_and(|at| now < at + 2 * crate::domain::DISAGREEMENT_MS)
                    && c.chain_payments.iter().map(|p| p.value).sum::<u128>()
                        < terms.pay_amount_atomic;
                (open || unseen) && self.would_change(c)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// How far `chain` was read, if it is watched. A chain watched by the servers sharing this
    /// database but not yet read here (another server runs its watcher, or this one has not
    /// started it) is watched all the same, read to nothing: the gateway's "paid" still needs
    /// what the chain showed, which the store's payments say.
    fn watched(&self, chain: ChainId) -> Option<Watched> {
        let known = self.heads.read().expect("heads lock").get(&chain).copied();
        known.or_else(|| {
            self.watched_chains.contains(&chain).then_some(Watched {
                head: 0,
                read_at: 0,
            })
        })
    }

    /// Whether settling the cached checkout now would change what anyone sees: the reads and
    /// the write transaction are spent only then (every block, and every reconciliation round,
    /// would otherwise cost one per open checkout).
    fn would_change(&self, checkout: &Checkout) -> bool {
        let Some(terms) = checkout.terms.as_ref() else {
            return false;
        };
        let head = self.watched(terms.chain_id);
        let refunded = self.refunded.read().expect("refunded lock");
        let counted = match refunded.get(&checkout.id) {
            Some(refunds) => &crate::refunds::counted(checkout, terms.chain_id, refunds),
            None => checkout,
        };
        counted
            .settled(head, now_ms())
            .is_some_and(|settled| settled.changed)
    }

    /// Settles `informed` (the stored checkout with its new facts) and stores it when anything
    /// changed, queuing the fulfillment event when it became paid. `moved`: chain payments were
    /// attached to it or taken back, or the gateway's id for its order was learnt: a change
    /// whatever else is.
    pub(super) async fn settle(
        &self,
        write: &mut Write,
        stored: &Checkout,
        informed: Checkout,
        source: &str,
        moved: bool,
    ) -> Result<Option<(Checkout, bool)>, StoreError> {
        let head = informed
            .terms
            .as_ref()
            .and_then(|t| self.watched(t.chain_id));
        let now = now_ms();
        // Money given back counts no more toward what the order was paid: settled on its
        // payments less their refunds, and kept with its payments and the gateway's word whole.
        let counted = match &informed.terms {
            Some(terms) if !informed.chain_payments.is_empty() => {
                let refunds: Vec<_> = write
                    .refunds_of_payments(terms.chain_id, &informed.chain_payments)
                    .await?
                    .into_iter()
                    .filter(|r| r.state.commits_money())
                    .collect();
                let counted = crate::refunds::counted(&informed, terms.chain_id, &refunds);
                // Kept for the checks made without a read (see `would_change`).
                let mut refunded = self.refunded.write().expect("refunded lock");
                if refunds.is_empty() {
                    refunded.remove(&informed.id);
                } else {
                    refunded.insert(informed.id.clone(), refunds);
                }
                counted
            }
            _ => informed.clone(),
        };
        let Some(mut settled) = counted.settled(head, now) else {
            return Ok(None);
        };
        settled.checkout.chain_payments = informed.chain_payments.clone();
        settled.checkout.gateway = informed.gateway.clone();
        if let Some((from, to)) = settled.refused {
            tracing::warn!(
                "checkout {}: the facts say {to}; kept {from} (a final state is final)",
                stored.id
            );
        }
        if !settled.changed && !moved {
            // New facts that change nothing anyone sees (the gateway's first "pending"): kept,
            // without a new version, so no long poll wakes for them.
            if informed.gateway != stored.gateway {
                write.update_gateway_facts(&settled.checkout).await?;
                return Ok(Some((settled.checkout, false)));
            }
            return Ok(None);
        }
        let changed = settled.checkout.next_version(now);
        write.update_payment(&changed).await?;
        if settled.fulfil
            && let Some(event) = crate::fulfillment::event(&changed, now)
        {
            write.queue_event(&event).await?;
            crate::request_id::caused(&event.id);
        }
        if changed.state != stored.state {
            tracing::info!(
                "checkout {}: {} -> {} ({source})",
                changed.id,
                stored.state.as_str(),
                changed.state.as_str()
            );
        }
        if changed.disagreement != stored.disagreement
            && let Some(note) = &changed.disagreement
        {
            tracing::warn!("checkout {}: {note}", changed.id);
        }
        Ok(Some((changed, settled.fulfil)))
    }
}
