//! What the console's CSV exports read: orders created in a range of time and the chain
//! payments mined in one, oldest first, a page at a time after the last row seen (keyset
//! pages: a page costs the same however far into the export it is).

use sqlx::Row;
use usdt_checkout_protocol::ChainId;

use super::chain::{is_claimed, payment_from_row};
use super::checkouts::from_row;
use super::{Store, StoreError};
use crate::domain::{ChainPayment, Checkout};

/// A chain payment as the payments export lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedPayment {
    pub chain: ChainId,
    pub payment: ChainPayment,
    /// The checkout it counts for, if any.
    pub checkout_id: Option<String>,
    /// Attached on a shopper's claim rather than matched.
    pub claimed: bool,
    /// Unmatched, with a shopper's claim waiting for the merchant's review.
    pub under_review: bool,
}

/// Where a payments export has got to: the last payment's time, chain, transaction and log.
pub type PaymentCursor = (u64, u64, String, u64);

/// The checkouts in a page of the export: created in `[from, to)`, after `after` (the last
/// one's creation and id), oldest first, at most `limit`.
const ORDERS_PAGE: &str = "SELECT * FROM checkouts
     WHERE created_at >= $1 AND created_at < $2
       AND ($3 IS NULL OR created_at > $3 OR (created_at = $3 AND id > $4))
     ORDER BY created_at, id LIMIT $5";

impl Store {
    /// Checkouts created in `[from, to)` (Unix ms), oldest first, after `after`, with their
    /// chain payments.
    pub async fn orders_created(
        &self,
        from: u64,
        to: u64,
        after: Option<(u64, &str)>,
        limit: u32,
    ) -> Result<Vec<Checkout>, StoreError> {
        let (at, id) = after.unzip();
        let bind = |sql| {
            sqlx::query(sql)
                .bind(from as i64)
                .bind(to as i64)
                .bind(at.map(|t| t as i64))
                .bind(id)
                .bind(i64::from(limit))
        };
        let mut checkouts: Vec<Checkout> = bind(ORDERS_PAGE)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<_, _>>()?;
        let payments_sql = format!(
            "SELECT * FROM chain_payments WHERE checkout_id IN
                 (SELECT id FROM ({ORDERS_PAGE}) AS page)
             ORDER BY block_number, log_index"
        );
        let rows = bind(&payments_sql).fetch_all(&self.pool).await?;
        let mut payments = std::collections::HashMap::<String, Vec<ChainPayment>>::new();
        for row in &rows {
            let id: String = row.try_get("checkout_id")?;
            payments.entry(id).or_default().push(payment_from_row(row)?);
        }
        for checkout in &mut checkouts {
            checkout.chain_payments = payments.remove(&checkout.id).unwrap_or_default();
        }
        Ok(checkouts)
    }

    /// Chain payments into receiving addresses mined in `[from, to)` (Unix ms), attached or
    /// not, oldest first, after `after`.
    pub async fn payments_mined(
        &self,
        from: u64,
        to: u64,
        after: Option<&PaymentCursor>,
        limit: u32,
    ) -> Result<Vec<ExportedPayment>, StoreError> {
        let at = after.map(|(at, _, _, _)| *at as i64);
        let chain = after.map(|(_, chain, _, _)| *chain as i64);
        let tx = after.map(|(_, _, tx, _)| tx.as_str());
        let log = after.map(|(_, _, _, log)| *log as i64);
        sqlx::query(
            "SELECT p.*, (SELECT COUNT(*) FROM claims_under_review r
                 WHERE r.chain_id = p.chain_id AND r.tx_hash = p.tx_hash
                   AND r.log_index = p.log_index) AS reviews
             FROM chain_payments p
             WHERE mined_at >= $1 AND mined_at < $2
               AND ($3 IS NULL OR mined_at > $3 OR (mined_at = $3 AND (chain_id > $4
                    OR (chain_id = $4 AND (tx_hash > $5
                    OR (tx_hash = $5 AND log_index > $6))))))
             ORDER BY mined_at, chain_id, tx_hash, log_index LIMIT $7",
        )
        .bind(from as i64)
        .bind(to as i64)
        .bind(at)
        .bind(chain)
        .bind(tx)
        .bind(log)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ExportedPayment {
                chain: ChainId(row.try_get::<i64, _>("chain_id")? as u64),
                payment: payment_from_row(row)?,
                checkout_id: row.try_get("checkout_id")?,
                claimed: is_claimed(row)?,
                under_review: row.try_get::<i64, _>("reviews")? > 0,
            })
        })
        .collect()
    }
}
