//! What the chains' watchers read: `chain_payments`, each attached to a checkout or kept
//! unmatched (and claimed by shoppers), and `chain_cursors`, where each watcher left off.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;
use usdt_checkout_chain::{Cursor, PaymentKind};
use usdt_checkout_protocol::{Address, ChainId, TxHash};

use super::{Store, StoreError, Write, replicas};
use crate::domain::ChainPayment;

impl Store {
    /// Where a chain's watcher left off.
    /// Every chain's cursor, as its watcher last kept it.
    pub async fn cursors(&self) -> Result<Vec<(ChainId, Cursor)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT chain_id, cursor FROM chain_cursors")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(chain, text)| {
                let cursor =
                    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("chain cursor"))?;
                Ok((ChainId(chain as u64), cursor))
            })
            .collect()
    }

    pub async fn cursor(&self, chain: ChainId) -> Result<Option<Cursor>, StoreError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT cursor FROM chain_cursors WHERE chain_id = $1")
                .bind(chain.0 as i64)
                .fetch_optional(&self.pool)
                .await?;
        text.map(|t| serde_json::from_str(&t).map_err(|_| StoreError::Corrupt("chain cursor")))
            .transpose()
    }

    /// Payments into receiving addresses that match no checkout, newest first.
    pub async fn unmatched(&self, limit: u32) -> Result<Vec<(ChainId, ChainPayment)>, StoreError> {
        sqlx::query(
            "SELECT * FROM chain_payments WHERE checkout_id IS NULL
             ORDER BY mined_at DESC, log_index DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                ChainId(row.try_get::<i64, _>("chain_id")? as u64),
                payment_from_row(row)?,
            ))
        })
        .collect()
    }
}

impl Write {
    /// Records a payment read from the chain, attached to a checkout or unmatched; `false` if
    /// this log was recorded before.
    pub async fn record_chain_payment(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO chain_payments (chain_id, tx_hash, log_index, block_number, block_hash,
                 from_address, to_address, token, amount, kind, named_order, mined_at, checkout_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING",
        )
        .bind(chain.0 as i64)
        .bind(payment.tx_id.as_str())
        .bind(payment.log_index as i64)
        .bind(payment.block_number as i64)
        .bind(&payment.block_hash)
        .bind(payment.from.to_string())
        .bind(payment.to.to_string())
        .bind(payment.token.to_string())
        .bind(payment.value.to_string())
        .bind(match payment.kind {
            PaymentKind::Transfer => "transfer",
            PaymentKind::Deposit => "deposit",
        })
        .bind(&payment.order_no)
        .bind(payment.timestamp_ms as i64)
        .bind(checkout_id)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        if checkout_id.is_none() && inserted.rows_affected() == 1 {
            self.announce(replicas::UNMATCHED_SEEN, payment.tx_id.as_str())
                .await?;
        }
        Ok(inserted.rows_affected() == 1)
    }

    /// Attaches to `checkout_id` the payments of transaction `tx_hash` into its address and
    /// token that the watcher keeps as unmatched: the gateway named this order for them. Only
    /// an unmatched one moves (one counting for a checkout stays there); returns how many did.
    /// Compared exactly: both are lower case, the rows as every chain read wrote them.
    pub async fn adopt_unmatched(
        &mut self,
        chain: ChainId,
        tx_hash: &TxHash,
        checkout_id: &str,
        (to, token): (Address, Address),
    ) -> Result<u64, StoreError> {
        let adopted = sqlx::query(
            "UPDATE chain_payments SET checkout_id = $1
             WHERE chain_id = $2 AND tx_hash = $3 AND checkout_id IS NULL
               AND to_address = $4 AND token = $5",
        )
        .bind(checkout_id)
        .bind(chain.0 as i64)
        .bind(tx_hash.as_str())
        .bind(to.to_string())
        .bind(token.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        if adopted.rows_affected() > 0 {
            // Other servers drop it from the unmatched payments they show.
            self.announce(replicas::UNMATCHED_SEEN, tx_hash.as_str())
                .await?;
        }
        Ok(adopted.rows_affected())
    }

    /// Attaches a payment a shopper claimed (checked on chain, and proven sent by the
    /// claimant) to `checkout_id`, whether the watcher kept it as unmatched or has not read it
    /// yet; says who it counts for if it already counts for a checkout.
    pub async fn claim_chain_payment(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: &str,
        now: u64,
    ) -> Result<Claimed, StoreError> {
        // Kept as unmatched first if the watcher has not read it yet; then taken only while it
        // counts for nobody. A watcher recording the same log meanwhile is one row either way,
        // and the update re-checks the row it waited for.
        self.record_chain_payment(chain, payment, None).await?;
        let taken = sqlx::query(
            "UPDATE chain_payments SET checkout_id = $1, claimed_at = $2
             WHERE chain_id = $3 AND tx_hash = $4 AND log_index = $5 AND checkout_id IS NULL",
        )
        .bind(checkout_id)
        .bind(now as i64)
        .bind(chain.0 as i64)
        .bind(payment.tx_id.as_str())
        .bind(payment.log_index as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        if taken.rows_affected() == 1 {
            // No longer unmatched: every server's list must lose it.
            self.announce(replicas::UNMATCHED_SEEN, payment.tx_id.as_str())
                .await?;
            return Ok(Claimed::Attached);
        }
        // Not taken: it counts for a checkout, the update having waited for whoever took it.
        self.owner_of(chain, payment, checkout_id)
            .await?
            .ok_or(StoreError::Corrupt("chain payment owner"))
    }

    /// Who `payment` counts for, seen from `checkout_id`; `None` while it counts for nobody
    /// (not recorded, or unmatched).
    pub(super) async fn owner_of(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: &str,
    ) -> Result<Option<Claimed>, StoreError> {
        let owner: Option<Option<String>> = sqlx::query_scalar(
            "SELECT checkout_id FROM chain_payments
             WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3",
        )
        .bind(chain.0 as i64)
        .bind(payment.tx_id.as_str())
        .bind(payment.log_index as i64)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(owner.flatten().map(|owner| {
            if owner == checkout_id {
                Claimed::Already
            } else {
                Claimed::Elsewhere(owner)
            }
        }))
    }

    /// Forgets what was read from block `fork` on (it was reorganised away); returns the
    /// payments attached to checkouts that it forgot, with their checkouts.
    pub async fn rewind_chain(
        &mut self,
        chain: ChainId,
        fork: u64,
    ) -> Result<Vec<Forgotten>, StoreError> {
        let affected: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT tx_hash, log_index, checkout_id FROM chain_payments
             WHERE chain_id = $1 AND block_number >= $2 AND checkout_id IS NOT NULL",
        )
        .bind(chain.0 as i64)
        .bind(fork as i64)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        let affected = affected
            .into_iter()
            .map(|(tx_hash, log_index, checkout_id)| {
                Ok(Forgotten {
                    tx_hash: stored_hash(&tx_hash)?,
                    log_index: log_index as u64,
                    checkout_id,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        sqlx::query("DELETE FROM chain_payments WHERE chain_id = $1 AND block_number >= $2")
            .bind(chain.0 as i64)
            .bind(fork as i64)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(affected)
    }

    pub async fn save_cursor(&mut self, chain: ChainId, cursor: &Cursor) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chain_cursors (chain_id, cursor) VALUES ($1, $2)
             ON CONFLICT (chain_id) DO UPDATE SET cursor = excluded.cursor",
        )
        .bind(chain.0 as i64)
        .bind(serde_json::to_string(cursor).expect("cursors serialise"))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
    }
}

/// A payment attached to a checkout that a reorg took back (see [`Write::rewind_chain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgotten {
    pub tx_hash: TxHash,
    pub log_index: u64,
    pub checkout_id: String,
}

/// What claiming a chain payment for a checkout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// It now counts for the checkout.
    Attached,
    /// It counted for it already.
    Already,
    /// It counts for this other checkout.
    Elsewhere(String),
    /// Its amount is exactly what this other open checkout's order asks: it is that order's.
    AnotherOrdersAsk(String),
    /// Claimed without the sender's proof: kept unmatched, for the merchant to review.
    UnderReview,
}

/// Whether a chain payment's row was attached on a shopper's claim.
pub(super) fn is_claimed(row: &AnyRow) -> Result<bool, StoreError> {
    Ok(row.try_get::<Option<i64>, _>("claimed_at")?.is_some())
}

/// A payment's transaction as kept: written from a chain's read, always a hash.
pub(super) fn stored_hash(text: &str) -> Result<TxHash, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt("transaction hash"))
}

pub(super) fn payment_from_row(row: &AnyRow) -> Result<ChainPayment, StoreError> {
    let address = |column: &str| -> Result<Address, StoreError> {
        Address::from_str(&row.try_get::<String, _>(column)?)
            .map_err(|_| StoreError::Corrupt("address"))
    };
    Ok(ChainPayment {
        tx_id: stored_hash(&row.try_get::<String, _>("tx_hash")?)?,
        log_index: row.try_get::<i64, _>("log_index")? as u64,
        block_number: row.try_get::<i64, _>("block_number")? as u64,
        block_hash: row.try_get("block_hash")?,
        from: address("from_address")?,
        to: address("to_address")?,
        token: address("token")?,
        value: row
            .try_get::<String, _>("amount")?
            .parse()
            .map_err(|_| StoreError::Corrupt("amount"))?,
        kind: match row.try_get::<String, _>("kind")?.as_str() {
            "deposit" => PaymentKind::Deposit,
            _ => PaymentKind::Transfer,
        },
        order_no: row.try_get("named_order")?,
        timestamp_ms: row.try_get::<i64, _>("mined_at")? as u64,
    })
}
