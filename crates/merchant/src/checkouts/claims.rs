//! Taking a payment a shopper claimed ("I already paid"), under the same rules as the watcher's
//! matching; and [`Checkouts::take`], which staff attaching a payment shares.

use usdt_checkout_protocol::ChainId;

use super::Checkouts;
use crate::clock::now_ms;
use crate::domain::{ChainPayment, Checkout};
use crate::matching::LATE_MATCH_MS;
use crate::store::{Claimed, StoreError, Write};

/// A payment taken for a checkout in a write not yet committed: the checkout as it was
/// (the payment attached, its state not yet settled), and as settled if that changed anything.
pub(super) type Taken = (Checkout, Option<(Checkout, bool)>);

impl Checkouts {
    /// Takes a payment the shopper claimed ("I already paid", checked on chain by
    /// [`crate::claim::judge`]) for checkout `id`: attached, and the checkout settled by it, when
    /// `proven` sent by the claimant; otherwise kept unmatched and marked for the merchant to
    /// review. All in one transaction, which decides under the same locks as the watcher's
    /// matching: a payment that counts for a checkout already is left where it is, and one
    /// whose amount another open order asks exactly is that order's, never a claim's.
    pub async fn attach_claimed(
        &self,
        id: &str,
        chain: ChainId,
        payment: &ChainPayment,
        proven: bool,
    ) -> Result<Claimed, StoreError> {
        let mut write = self.store.begin().await?;
        if !proven {
            if let Some(owner) = write
                .order_asking(chain, payment, id, LATE_MATCH_MS)
                .await?
            {
                return Ok(Claimed::AnotherOrdersAsk(owner));
            }
            let claimed = write.request_claim(chain, payment, id, now_ms()).await?;
            write.commit().await?;
            if claimed == Claimed::UnderReview {
                tracing::warn!(
                    "chain {chain}: {} claimed for checkout {id} without the sender's proof; \
                     kept unmatched for the merchant to review",
                    payment.tx_id
                );
            }
            return Ok(claimed);
        }
        let changed = match self
            .take(&mut write, id, chain, payment, "claimed by the shopper")
            .await?
        {
            Ok((_, changed)) => changed,
            Err(claimed) => return Ok(claimed),
        };
        write.commit().await?;
        tracing::info!(
            "chain {chain}: {} pays {} to checkout {id}, on the shopper's claim",
            payment.tx_id,
            payment.value
        );
        self.taken(chain, payment, changed);
        Ok(Claimed::Attached)
    }

    /// Attaches `payment` to checkout `id` in `write` and settles the checkout by it, unless it
    /// counts for a checkout already or its amount is exactly what another open order asks
    /// (then whose it is, and nothing is written). The caller commits, then calls
    /// [`Checkouts::taken`].
    pub(super) async fn take(
        &self,
        write: &mut Write,
        id: &str,
        chain: ChainId,
        payment: &ChainPayment,
        source: &str,
    ) -> Result<Result<Taken, Claimed>, StoreError> {
        if let Some(owner) = write
            .order_asking(chain, payment, id, LATE_MATCH_MS)
            .await?
        {
            return Ok(Err(Claimed::AnotherOrdersAsk(owner)));
        }
        let claimed = write
            .claim_chain_payment(chain, payment, id, now_ms())
            .await?;
        if claimed != Claimed::Attached {
            return Ok(Err(claimed));
        }
        let Some(current) = write.checkout(id).await? else {
            return Err(StoreError::Corrupt("checkout"));
        };
        let changed = self
            .settle(write, &current, current.clone(), source, true)
            .await?;
        Ok(Ok((current, changed)))
    }

    /// What follows a committed [`Checkouts::take`]: the payment is no longer unmatched, and
    /// the status polls and long polls see the checkout as settled.
    pub(super) fn taken(
        &self,
        chain: ChainId,
        payment: &ChainPayment,
        changed: Option<(Checkout, bool)>,
    ) {
        self.forget_unmatched_log(chain, payment);
        self.changed.send_modify(|n| *n += 1);
        self.publish(changed);
    }
}
