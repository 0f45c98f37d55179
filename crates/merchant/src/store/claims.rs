//! The `claims_under_review` table: payments shoppers claimed without the sender's proof, for
//! the merchant to review.

use usdt_checkout_protocol::{ChainId, TxHash};

use super::chain::stored_hash;
use super::{Claimed, Store, StoreError, Write};
use crate::domain::ChainPayment;

impl Store {
    /// Claims made without the sender's proof, by chain, transaction and log: each claimant
    /// checkout with when it asked, oldest first.
    pub async fn claims_under_review(
        &self,
    ) -> Result<std::collections::HashMap<(u64, TxHash, u64), Vec<(String, u64)>>, StoreError> {
        let rows: Vec<(i64, String, i64, String, i64)> = sqlx::query_as(
            "SELECT chain_id, tx_hash, log_index, checkout_id, requested_at
             FROM claims_under_review ORDER BY requested_at, checkout_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut claims = std::collections::HashMap::<_, Vec<_>>::new();
        for (chain, tx, log, checkout, at) in rows {
            claims
                .entry((chain as u64, stored_hash(&tx)?, log as u64))
                .or_default()
                .push((checkout, at as u64));
        }
        Ok(claims)
    }
}

impl Write {
    /// Records that the shopper of `checkout_id` claims `payment` without the sender's proof,
    /// for the merchant to review; says who it counts for if it counts for a checkout already.
    /// The payment itself is not recorded here: the watcher still matches it by its rules, so
    /// a claim made the moment a payment is mined takes it from nobody.
    pub async fn request_claim(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: &str,
        now: u64,
    ) -> Result<Claimed, StoreError> {
        if let Some(counted) = self.owner_of(chain, payment, checkout_id).await? {
            return Ok(counted);
        }
        sqlx::query(
            "INSERT INTO claims_under_review (chain_id, tx_hash, log_index, checkout_id, requested_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(chain.0 as i64)
        .bind(payment.tx_id.as_str())
        .bind(payment.log_index as i64)
        .bind(checkout_id)
        .bind(now as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(Claimed::UnderReview)
    }
}
