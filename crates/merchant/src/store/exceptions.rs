//! What the console's exception queue reads and writes: the orders whose facts may make them
//! exceptions, the fulfillment deliveries failing, one chain payment as kept, the orders waiting
//! at an address, and `exception_resolutions`, the exceptions staff marked resolved. Which of
//! these is an exception is the console's pure rule; here, only the reads and writes.

use sqlx::Row;
use sqlx::any::AnyRow;
use usdt_checkout_protocol::{Address, ChainId, TxHash};

use super::chain::{is_claimed, payment_from_row};
use super::checkouts::from_row;
use super::{Store, StoreError, Write};
use crate::domain::{ChainPayment, Checkout};

/// A fulfillment event not delivered after at least one attempt: an order's, with its price,
/// or a refund's `refund.sent`, with what was given back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingDelivery {
    pub event_id: String,
    /// The order it is about; none for a refund of a payment that paid no order.
    pub checkout_id: Option<String>,
    pub created_at: u64,
    pub attempts: u32,
    pub next_attempt_at: Option<u64>,
    pub delivered_at: Option<u64>,
    pub last_error: Option<String>,
    pub about: Delivered,
}

/// What a failing delivery tells the shop of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// An order's event: the order's price.
    Order { amount: String, currency: String },
    /// A refund sent: the refund, and its amount in atomic units of `token` on `chain_id`.
    Refund {
        id: String,
        chain_id: ChainId,
        token: Address,
        amount_atomic: u128,
    },
}

/// Every event of both outboxes with what the queue shows of it (`f`): an order's with its
/// price, a refund's with the refund.
const DELIVERIES: &str = "(SELECT f.id, f.checkout_id, f.created_at, f.attempts, f.next_attempt_at,
         f.delivered_at, f.last_error, c.price_amount, c.price_currency,
         CAST(NULL AS TEXT) AS refund_id, CAST(NULL AS BIGINT) AS chain_id,
         CAST(NULL AS TEXT) AS token, CAST(NULL AS TEXT) AS amount_atomic
     FROM fulfillment_events f JOIN checkouts c ON c.id = f.checkout_id
     UNION ALL
     SELECT e.id, r.checkout_id, e.created_at, e.attempts, e.next_attempt_at, e.delivered_at,
         e.last_error, CAST(NULL AS TEXT), CAST(NULL AS TEXT), r.id, r.chain_id, r.token,
         r.amount_atomic
     FROM refund_events e JOIN refunds r ON r.id = e.refund_id) f";

/// An exception a member of staff resolved: by whom, when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The exception's key (see the console's exception rules).
    pub key: String,
    /// Its kind, as the queue names it.
    pub kind: String,
    /// What it was about: an order's id, or a payment's transaction.
    pub subject: String,
    pub resolved_by: String,
    pub resolved_at: u64,
    pub note: String,
}

/// The orders that may be exceptions: expired with something received, paid late, paid more
/// than asked, or where gateway and chain disagree. Read broadly here; the console's rule says
/// which are, and of what kind.
const MAYBE_EXCEPTION: &str = "(state = 'expired' AND paid_atomic <> '0') OR state = 'paid_late'
     OR overpaid_atomic <> '0' OR disagreement IS NOT NULL";

/// Whether the payment of row `p` is resolved: its key as the console's rules write it
/// (`payment:{chain}:{tx}:{log}`), made here, so a resolved one is left out as it is read.
const PAYMENT_RESOLVED: &str = "EXISTS (SELECT 1 FROM exception_resolutions r
     WHERE r.exception_key = 'payment:' || CAST(p.chain_id AS TEXT) || ':' || p.tx_hash || ':'
         || CAST(p.log_index AS TEXT))";

/// Whether the fulfillment event of row `f` is resolved (its key: `failed_delivery:{id}`).
const DELIVERY_RESOLVED: &str = "EXISTS (SELECT 1 FROM exception_resolutions r
     WHERE r.exception_key = 'failed_delivery:' || f.id)";

fn failing_from_row(row: &AnyRow) -> Result<FailingDelivery, StoreError> {
    Ok(FailingDelivery {
        event_id: row.try_get("id")?,
        checkout_id: row.try_get("checkout_id")?,
        created_at: row.try_get::<i64, _>("created_at")? as u64,
        attempts: row.try_get::<i64, _>("attempts")?.max(0) as u32,
        next_attempt_at: row
            .try_get::<Option<i64>, _>("next_attempt_at")?
            .map(|t| t as u64),
        delivered_at: row
            .try_get::<Option<i64>, _>("delivered_at")?
            .map(|t| t as u64),
        last_error: row.try_get("last_error")?,
        about: match row.try_get::<Option<String>, _>("refund_id")? {
            None => Delivered::Order {
                amount: row.try_get("price_amount")?,
                currency: row.try_get("price_currency")?,
            },
            Some(id) => Delivered::Refund {
                id,
                chain_id: ChainId(row.try_get::<i64, _>("chain_id")? as u64),
                token: row
                    .try_get::<String, _>("token")?
                    .parse()
                    .map_err(|_| StoreError::Corrupt("refund token"))?,
                amount_atomic: row
                    .try_get::<String, _>("amount_atomic")?
                    .parse()
                    .map_err(|_| StoreError::Corrupt("refund amount"))?,
            },
        },
    })
}

impl Store {
    /// The orders that may be exceptions (see [`MAYBE_EXCEPTION`]), newest first, made
    /// before `before` (the last one seen's creation and id) if given, each with its chain
    /// payments.
    pub async fn exception_orders(
        &self,
        limit: u32,
        before: Option<(u64, &str)>,
    ) -> Result<Vec<Checkout>, StoreError> {
        const PAGE: &str = "SELECT id FROM checkouts
             WHERE ($2 IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3))";
        let (at, id) = before.unzip();
        let page =
            format!("{PAGE} AND ({MAYBE_EXCEPTION}) ORDER BY created_at DESC, id DESC LIMIT $1");
        let mut checkouts: Vec<Checkout> = sqlx::query(&format!(
            "SELECT * FROM checkouts WHERE id IN ({page}) ORDER BY created_at DESC, id DESC"
        ))
        .bind(i64::from(limit))
        .bind(at.map(|t| t as i64))
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_, _>>()?;
        let rows = sqlx::query(&format!(
            "SELECT * FROM chain_payments WHERE checkout_id IN ({page})
             ORDER BY block_number, log_index"
        ))
        .bind(i64::from(limit))
        .bind(at.map(|t| t as i64))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let mut payments = std::collections::HashMap::<String, Vec<AnyRow>>::new();
        for row in rows {
            payments
                .entry(row.try_get("checkout_id")?)
                .or_default()
                .push(row);
        }
        for checkout in &mut checkouts {
            for row in payments.remove(&checkout.id).unwrap_or_default() {
                checkout.claimed |= is_claimed(&row)?;
                checkout.chain_payments.push(payment_from_row(&row)?);
            }
        }
        Ok(checkouts)
    }

    /// Fulfillment events (orders' and refunds') tried and not delivered, not resolved, newest
    /// first.
    pub async fn failing_deliveries(&self, limit: u32) -> Result<Vec<FailingDelivery>, StoreError> {
        sqlx::query(&format!(
            "SELECT * FROM {DELIVERIES}
             WHERE f.delivered_at IS NULL AND f.attempts > 0 AND NOT {DELIVERY_RESOLVED}
             ORDER BY f.created_at DESC, f.id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(failing_from_row)
        .collect()
    }

    /// One fulfillment event as [`Store::failing_deliveries`] reads it, whatever its state.
    pub async fn delivery(&self, event_id: &str) -> Result<Option<FailingDelivery>, StoreError> {
        sqlx::query(&format!("SELECT * FROM {DELIVERIES} WHERE f.id = $1"))
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(failing_from_row)
            .transpose()
    }

    /// One chain payment as the watcher kept it, with the checkout it counts for, if any.
    pub async fn chain_payment(
        &self,
        chain: ChainId,
        tx: &TxHash,
        log_index: u64,
    ) -> Result<Option<(ChainPayment, Option<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM chain_payments WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3",
        )
        .bind(chain.0 as i64)
        .bind(tx.as_str())
        .bind(log_index as i64)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((payment_from_row(&row)?, row.try_get("checkout_id")?)))
            .transpose()
    }

    /// The orders (on any chain) whose payments go to `address`, newest first: whose shoppers
    /// may have sent a payment there.
    pub async fn orders_at(
        &self,
        address: Address,
        limit: u32,
    ) -> Result<Vec<Checkout>, StoreError> {
        sqlx::query(
            "SELECT * FROM checkouts WHERE to_address = $1 AND gateway_order_no IS NOT NULL
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(address.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// The orders whose payments go to `address`, made by `until` and not expired before
    /// `since` (Unix ms), newest first: each id, chain, creation and expiry, which the queue
    /// reads to tell which unmatched payments went there on the wrong network.
    pub async fn orders_waiting_at(
        &self,
        address: Address,
        since: u64,
        until: u64,
    ) -> Result<Vec<(String, ChainId, u64, u64)>, StoreError> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, chain_id, created_at, expires_at FROM checkouts
             WHERE to_address = $1 AND gateway_order_no IS NOT NULL
               AND created_at <= $2 AND expires_at >= $3
             ORDER BY created_at DESC, id DESC",
        )
        .bind(address.to_string())
        .bind(until as i64)
        .bind(since as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, chain, created, expires)| {
                (id, ChainId(chain as u64), created as u64, expires as u64)
            })
            .collect())
    }

    /// How many payments match no order and are not resolved.
    pub async fn unresolved_unmatched_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM chain_payments p
             WHERE p.checkout_id IS NULL AND NOT {PAYMENT_RESOLVED}"
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    /// Payments that match no order and are not resolved, newest first (resolved ones, however
    /// many, never crowd out the rest).
    pub async fn unresolved_unmatched(
        &self,
        limit: u32,
    ) -> Result<Vec<(ChainId, ChainPayment)>, StoreError> {
        sqlx::query(&format!(
            "SELECT * FROM chain_payments p WHERE p.checkout_id IS NULL AND NOT {PAYMENT_RESOLVED}
             ORDER BY p.mined_at DESC, p.log_index DESC LIMIT $1"
        ))
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

    /// The keys of every exception resolved.
    pub async fn resolved_keys(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT exception_key FROM exception_resolutions")
                .fetch_all(&self.pool)
                .await?;
        Ok(keys.into_iter().collect())
    }

    /// Resolved exceptions, most recently resolved first.
    pub async fn resolutions(&self, limit: u32) -> Result<Vec<Resolution>, StoreError> {
        sqlx::query(
            "SELECT * FROM exception_resolutions ORDER BY resolved_at DESC, exception_key LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Resolution {
                key: row.try_get("exception_key")?,
                kind: row.try_get("kind")?,
                subject: row.try_get("subject")?,
                resolved_by: row.try_get("resolved_by")?,
                resolved_at: row.try_get::<i64, _>("resolved_at")? as u64,
                note: row.try_get("note")?,
            })
        })
        .collect()
    }
}

impl Write {
    /// One chain payment as kept, with the checkout it counts for, if any; on Postgres its row
    /// stays locked until the transaction ends (a reorg's rewind of it waits, and then sees
    /// whose it became).
    pub async fn chain_payment(
        &mut self,
        chain: ChainId,
        tx: &TxHash,
        log_index: u64,
    ) -> Result<Option<(ChainPayment, Option<String>)>, StoreError> {
        let lock = self.lock();
        let row = sqlx::query(&format!(
            "SELECT * FROM chain_payments
             WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3{lock}"
        ))
        .bind(chain.0 as i64)
        .bind(tx.as_str())
        .bind(log_index as i64)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        row.map(|row| Ok((payment_from_row(&row)?, row.try_get("checkout_id")?)))
            .transpose()
    }

    /// Marks an exception resolved; `false` (and nothing written) if it was already.
    pub async fn resolve(&mut self, resolution: &Resolution) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO exception_resolutions
                 (exception_key, kind, subject, resolved_by, resolved_at, note)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (exception_key) DO NOTHING",
        )
        .bind(&resolution.key)
        .bind(&resolution.kind)
        .bind(&resolution.subject)
        .bind(&resolution.resolved_by)
        .bind(resolution.resolved_at as i64)
        .bind(&resolution.note)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets the shoppers' claims on `payment`: staff decided whose it is.
    pub async fn forget_claims(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM claims_under_review WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3",
        )
        .bind(chain.0 as i64)
        .bind(payment.tx_id.as_str())
        .bind(payment.log_index as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
    }

    /// Makes an undelivered fulfillment event (an order's or a refund's) due at `now`, its
    /// attempts counted from none again (so the next failure is retried soon, not an hour
    /// later); `false` if it was delivered or is not there.
    pub async fn resend_event(&mut self, event_id: &str, now: u64) -> Result<bool, StoreError> {
        for table in ["fulfillment_events", "refund_events"] {
            let done = sqlx::query(&format!(
                "UPDATE {table} SET next_attempt_at = $1, attempts = 0
                 WHERE id = $2 AND delivered_at IS NULL"
            ))
            .bind(now as i64)
            .bind(event_id)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
            if done.rows_affected() == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
