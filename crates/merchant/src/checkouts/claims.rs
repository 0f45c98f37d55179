//! Taking a payment a shopper claimed ("I already paid"), under the same rules as the watcher's
//! matching.

use usdt_checkout_protocol::ChainId;

use super::Checkouts;
use crate::clock::now_ms;
use crate::domain::ChainPayment;
use crate::matching::LATE_MATCH_MS;
use crate::store::{Claimed, StoreError};

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
        if let Some(owner) = write
            .order_asking(chain, payment, id, LATE_MATCH_MS)
            .await?
        {
            return Ok(Claimed::AnotherOrdersAsk(owner));
        }
        if !proven {
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
        let claimed = write
            .claim_chain_payment(chain, payment, id, now_ms())
            .await?;
        if claimed != Claimed::Attached {
            return Ok(claimed);
        }
        let Some(current) = write.checkout(id).await? else {
            return Err(StoreError::Corrupt("checkout"));
        };
        let changed = self
            .settle(
                &mut write,
                &current,
                current.clone(),
                "claimed by the shopper",
                true,
            )
            .await?;
        write.commit().await?;
        tracing::info!(
            "chain {chain}: {} pays {} to checkout {id}, on the shopper's claim",
            payment.tx_id,
            payment.value
        );
        self.forget_unmatched_log(chain, payment);
        self.changed.send_modify(|n| *n += 1);
        self.publish(changed);
        Ok(Claimed::Attached)
    }
}
