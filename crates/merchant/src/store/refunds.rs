//! The `refunds` table: each refund of a chain payment, from the request to the transfer that
//! paid it. What may change is decided by the refunds' rules, under the lock of the source
//! payment's row (see [`Write::chain_payment`]); here, reading and writing only.

use sqlx::Row;
use sqlx::any::AnyRow;
use usdt_checkout_protocol::{Address, ChainId, TxHash};

use super::chain::stored_hash;
use super::{Store, StoreError, Write};
use crate::refunds::{Refund, RefundState, SentTransfer};

impl Store {
    /// The refund `id`.
    pub async fn refund(&self, id: &str) -> Result<Option<Refund>, StoreError> {
        sqlx::query("SELECT * FROM refunds WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// The refunds asked or started for checkout `checkout_id`, oldest first.
    pub async fn refunds_of(&self, checkout_id: &str) -> Result<Vec<Refund>, StoreError> {
        sqlx::query("SELECT * FROM refunds WHERE checkout_id = $1 ORDER BY requested_at, id")
            .bind(checkout_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// The refunds of the payment `(chain, tx, log_index)`, whoever asked, oldest first.
    pub async fn refunds_of_payment(
        &self,
        chain: ChainId,
        tx: &TxHash,
        log_index: u64,
    ) -> Result<Vec<Refund>, StoreError> {
        sqlx::query(OF_PAYMENT)
            .bind(chain.0 as i64)
            .bind(tx.as_str())
            .bind(log_index as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Refunds newest first, in `state` if given, asked before `before` (the `requested_at`
    /// and id of the last one seen).
    pub async fn refunds_page(
        &self,
        state: Option<RefundState>,
        limit: u32,
        before: Option<(u64, &str)>,
    ) -> Result<Vec<Refund>, StoreError> {
        let (at, id) = before.unzip();
        sqlx::query(
            "SELECT * FROM refunds
             WHERE ($1 IS NULL OR state = $1)
               AND ($2 IS NULL OR requested_at < $2 OR (requested_at = $2 AND id < $3))
             ORDER BY requested_at DESC, id DESC LIMIT $4",
        )
        .bind(state.map(RefundState::as_str))
        .bind(at.map(|t| t as i64))
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// How many refunds are in `state` (the console's count of requests waiting).
    pub async fn count_refunds(&self, state: RefundState) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refunds WHERE state = $1")
            .bind(state.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(count as u64)
    }

    /// The refunds approved and not yet seen paid on `chain`: whose transfers its watcher looks
    /// for, oldest first.
    pub async fn approved_refunds(&self, chain: ChainId) -> Result<Vec<Refund>, StoreError> {
        sqlx::query(
            "SELECT * FROM refunds WHERE chain_id = $1 AND state = 'approved'
             ORDER BY approved_at, id",
        )
        .bind(chain.0 as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }
}

const OF_PAYMENT: &str = "SELECT * FROM refunds
     WHERE chain_id = $1 AND source_tx = $2 AND source_log_index = $3
     ORDER BY requested_at, id";

impl Write {
    /// Whether `address` is where some checkout's payments are received: the merchant's own.
    pub async fn receives_at(&mut self, address: &Address) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM checkouts WHERE to_address = $1 LIMIT 1")
                .bind(address.to_string())
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(found.is_some())
    }
}

impl Write {
    /// The refund `id`, locked on Postgres until this write ends.
    pub async fn refund(&mut self, id: &str) -> Result<Option<Refund>, StoreError> {
        let lock = self.lock();
        sqlx::query(&format!("SELECT * FROM refunds WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// The refunds of the payment `(chain, tx, log_index)`, as this write sees them: read once
    /// the payment's row is locked, they are every approval committed before it.
    pub async fn refunds_of_payment(
        &mut self,
        chain: ChainId,
        tx: &TxHash,
        log_index: u64,
    ) -> Result<Vec<Refund>, StoreError> {
        sqlx::query(OF_PAYMENT)
            .bind(chain.0 as i64)
            .bind(tx.as_str())
            .bind(log_index as i64)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?
            .iter()
            .map(from_row)
            .collect()
    }

    /// The refunds of any of `payments` on `chain`, as this write sees them: what was given
    /// back of an order's payments, for what they count toward its paid total.
    pub async fn refunds_of_payments(
        &mut self,
        chain: ChainId,
        payments: &[crate::domain::ChainPayment],
    ) -> Result<Vec<Refund>, StoreError> {
        if payments.is_empty() {
            return Ok(vec![]);
        }
        let marks: Vec<String> = (2..payments.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT * FROM refunds WHERE chain_id = $1 AND source_tx IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(chain.0 as i64);
        for payment in payments {
            query = query.bind(payment.tx_id.as_str());
        }
        let refunds: Vec<Refund> = query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?
            .iter()
            .map(from_row)
            .collect::<Result<_, _>>()?;
        // A transaction may hold several logs: only those of these payments.
        Ok(refunds
            .into_iter()
            .filter(|r| payments.iter().any(|p| r.is_of(chain, p)))
            .collect())
    }

    /// The refund asked with `signature` (canonical), if any.
    pub async fn refund_signed(&mut self, signature: &str) -> Result<Option<Refund>, StoreError> {
        sqlx::query("SELECT * FROM refunds WHERE signature = $1")
            .bind(signature)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// The refund the transfer `(chain, tx, log_index)` paid, if any.
    pub async fn refund_paid_by(
        &mut self,
        chain: ChainId,
        tx: &TxHash,
        log_index: u64,
    ) -> Result<Option<Refund>, StoreError> {
        sqlx::query(
            "SELECT * FROM refunds WHERE chain_id = $1 AND sent_tx = $2 AND sent_log_index = $3",
        )
        .bind(chain.0 as i64)
        .bind(tx.as_str())
        .bind(log_index as i64)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// Records a new refund; `false` (nothing written) when its signature asked for one before.
    pub async fn request_refund(&mut self, refund: &Refund) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO refunds (id, checkout_id, chain_id, source_tx, source_log_index, token,
                 amount_atomic, destination, signature, email, state, requested_at, requested_by,
                 approved_at, approved_by, approved_block)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (signature) DO NOTHING",
        )
        .bind(&refund.id)
        .bind(refund.checkout_id.as_deref())
        .bind(refund.chain_id.0 as i64)
        .bind(refund.source_tx.as_str())
        .bind(refund.source_log_index as i64)
        .bind(refund.token.to_string())
        .bind(refund.amount_atomic.to_string())
        .bind(refund.destination.to_string())
        .bind(refund.signature.as_deref())
        .bind(refund.email.as_deref())
        .bind(refund.state.as_str())
        .bind(refund.requested_at as i64)
        .bind(refund.requested_by.as_deref())
        .bind(refund.approved_at.map(|t| t as i64))
        .bind(refund.approved_by.as_deref())
        .bind(refund.approved_block.map(|b| b as i64))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Approves the requested refund `id`, `by` a member of staff at `at`, when its chain was
    /// read to block `head` (if at all); `false` (nothing written) when it is no longer
    /// requested.
    pub async fn approve_refund(
        &mut self,
        id: &str,
        by: &str,
        at: u64,
        head: Option<u64>,
    ) -> Result<bool, StoreError> {
        let approved = self.decide(id, RefundState::Approved, by, at, None).await?;
        if approved {
            sqlx::query("UPDATE refunds SET approved_block = $1 WHERE id = $2")
                .bind(head.map(|b| b as i64))
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.health.failed(e))?;
        }
        Ok(approved)
    }

    /// Refuses the requested refund `id` for `reason`; `false` when it is no longer requested.
    pub async fn refuse_refund(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.decide(id, RefundState::Refused, by, at, Some(reason))
            .await
    }

    async fn decide(
        &mut self,
        id: &str,
        to: RefundState,
        by: &str,
        at: u64,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE refunds SET state = $1, approved_by = $2, approved_at = $3, reason = $4
             WHERE id = $5 AND state = 'requested'",
        )
        .bind(to.as_str())
        .bind(by)
        .bind(at as i64)
        .bind(reason)
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(updated.rows_affected() == 1)
    }

    /// Records that `transfer` on `chain` paid the approved refund `id`; `false` (nothing
    /// written) when it is not approved, or the transfer pays another refund already.
    pub async fn refund_sent(
        &mut self,
        id: &str,
        chain: ChainId,
        transfer: &SentTransfer,
    ) -> Result<bool, StoreError> {
        if self
            .refund_paid_by(chain, &transfer.tx, transfer.log_index)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let updated = sqlx::query(
            "UPDATE refunds SET state = 'sent', sent_tx = $1, sent_log_index = $2,
                 sent_block = $3, sent_at = $4
             WHERE id = $5 AND chain_id = $6 AND state = 'approved'",
        )
        .bind(transfer.tx.as_str())
        .bind(transfer.log_index as i64)
        .bind(transfer.block_number as i64)
        .bind(transfer.mined_at as i64)
        .bind(id)
        .bind(chain.0 as i64)
        .execute(&mut *self.tx)
        .await;
        match updated {
            Ok(updated) => Ok(updated.rows_affected() == 1),
            // Another write attached the transfer to another refund meanwhile (on Postgres:
            // this transaction is then over, and rolls back when dropped).
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(self.health.failed(e)),
        }
    }

    /// Forgets the transfers read on `chain` from block `fork` on (a reorg took them back):
    /// the refunds they paid are approved again, to be paid, or read again; returns their ids.
    pub async fn rewind_refunds(
        &mut self,
        chain: ChainId,
        fork: u64,
    ) -> Result<Vec<String>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM refunds WHERE chain_id = $1 AND state = 'sent' AND sent_block >= $2",
        )
        .bind(chain.0 as i64)
        .bind(fork as i64)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        sqlx::query(
            "UPDATE refunds SET state = 'approved', sent_tx = NULL, sent_log_index = NULL,
                 sent_block = NULL, sent_at = NULL
             WHERE chain_id = $1 AND state = 'sent' AND sent_block >= $2",
        )
        .bind(chain.0 as i64)
        .bind(fork as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(ids)
    }
}

fn from_row(row: &AnyRow) -> Result<Refund, StoreError> {
    let address = |column: &str| -> Result<Address, StoreError> {
        row.try_get::<String, _>(column)?
            .parse()
            .map_err(|_| StoreError::Corrupt("refund address"))
    };
    let time = |column: &str| -> Result<Option<u64>, StoreError> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(|t| t as u64))
    };
    let sent = match row.try_get::<Option<String>, _>("sent_tx")? {
        None => None,
        Some(tx) => Some(SentTransfer {
            tx: stored_hash(&tx)?,
            log_index: time("sent_log_index")?.ok_or(StoreError::Corrupt("refund transfer"))?,
            block_number: time("sent_block")?.ok_or(StoreError::Corrupt("refund transfer"))?,
            mined_at: time("sent_at")?.ok_or(StoreError::Corrupt("refund transfer"))?,
        }),
    };
    Ok(Refund {
        id: row.try_get("id")?,
        checkout_id: row.try_get("checkout_id")?,
        chain_id: ChainId(row.try_get::<i64, _>("chain_id")? as u64),
        source_tx: stored_hash(&row.try_get::<String, _>("source_tx")?)?,
        source_log_index: row.try_get::<i64, _>("source_log_index")? as u64,
        token: address("token")?,
        amount_atomic: row
            .try_get::<String, _>("amount_atomic")?
            .parse()
            .map_err(|_| StoreError::Corrupt("refund amount"))?,
        destination: address("destination")?,
        signature: row.try_get("signature")?,
        email: row.try_get("email")?,
        state: RefundState::from_name(&row.try_get::<String, _>("state")?)
            .ok_or(StoreError::Corrupt("refund state"))?,
        reason: row.try_get("reason")?,
        requested_at: row.try_get::<i64, _>("requested_at")? as u64,
        requested_by: row.try_get("requested_by")?,
        approved_at: time("approved_at")?,
        approved_by: row.try_get("approved_by")?,
        approved_block: time("approved_block")?,
        sent,
    })
}
