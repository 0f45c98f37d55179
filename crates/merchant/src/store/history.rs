//! What the store keeps of one order's history beyond its row and its chain payments, for the
//! console's timeline: the gateway's webhooks about it and its reports refused, its
//! fulfillment event with each attempt and its answer, the claims of its shopper under review,
//! and its refunds.

use sqlx::Row;

use super::chain::stored_hash;
use super::reports::refused_report;
use super::{RefusedReport, Store, StoreError};
use crate::domain::Checkout;
use crate::refunds::Refund;

/// A webhook about an order, its signature verified (those refused as about another order are
/// kept too, as a [`RefusedReport`] under the same key): when it came, its dedupe key, the
/// status it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReceived {
    pub received_at: u64,
    pub event_id: String,
    pub state: String,
}

/// An order's fulfillment event: queued with the change that made it, then sent until delivered,
/// with each attempt's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfillment {
    pub id: String,
    pub created_at: u64,
    pub attempts: u32,
    pub next_attempt_at: Option<u64>,
    pub delivered_at: Option<u64>,
    pub last_error: Option<String>,
    /// Every attempt, oldest first (none kept before attempts were: only the latest answer).
    pub answers: Vec<DeliveryAttempt>,
}

/// One attempt to deliver a fulfillment event, and how the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The event's count of attempts at the time (a resend starts it again).
    pub attempt: u32,
    pub at: u64,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why it failed; none when delivered.
    pub error: Option<String>,
}

/// A payment the order's shopper claimed without the sender's proof, waiting for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimUnderReview {
    pub chain_id: u64,
    pub tx_hash: String,
    pub log_index: u64,
    pub requested_at: u64,
}

/// One order's history as kept, beyond its row and chain payments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderHistory {
    pub webhooks: Vec<WebhookReceived>,
    /// Each with its dedupe key (a webhook's is its event id).
    pub refused: Vec<(String, RefusedReport)>,
    pub fulfillment: Option<Fulfillment>,
    pub claims: Vec<ClaimUnderReview>,
    /// Asked for it or started from its page, as they are now.
    pub refunds: Vec<Refund>,
}

fn at(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<u64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(|t| t as u64))
}

impl Store {
    /// `checkout`'s history as kept, each kind oldest first. Webhooks and refused reports are
    /// found by its order number (they name orders, not checkouts).
    pub async fn order_history(&self, checkout: &Checkout) -> Result<OrderHistory, StoreError> {
        let order_no = checkout.terms.as_ref().map(|t| t.gateway_order_no.as_str());
        let mut history = OrderHistory::default();
        if let Some(order_no) = order_no {
            for row in sqlx::query(
                "SELECT * FROM webhook_events WHERE order_no = $1 ORDER BY received_at, event_id",
            )
            .bind(order_no)
            .fetch_all(&self.pool)
            .await?
            {
                history.webhooks.push(WebhookReceived {
                    received_at: row.try_get::<i64, _>("received_at")? as u64,
                    event_id: row.try_get("event_id")?,
                    state: row.try_get("state")?,
                });
            }
            for row in sqlx::query(
                "SELECT * FROM refused_reports WHERE order_no = $1
                 ORDER BY received_at, report_key",
            )
            .bind(order_no)
            .fetch_all(&self.pool)
            .await?
            {
                let key = row.try_get("report_key")?;
                history.refused.push((key, refused_report(&row)?));
            }
        }
        let row = sqlx::query("SELECT * FROM fulfillment_events WHERE checkout_id = $1")
            .bind(&checkout.id)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            let id: String = row.try_get("id")?;
            let mut answers = vec![];
            for attempt in sqlx::query(
                "SELECT * FROM fulfillment_attempts WHERE event_id = $1 ORDER BY at, attempt",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?
            {
                answers.push(DeliveryAttempt {
                    attempt: attempt.try_get::<i64, _>("attempt")?.max(0) as u32,
                    at: attempt.try_get::<i64, _>("at")? as u64,
                    status_code: attempt
                        .try_get::<Option<i64>, _>("status_code")?
                        .and_then(|c| u16::try_from(c).ok()),
                    error: attempt.try_get("error")?,
                });
            }
            history.fulfillment = Some(Fulfillment {
                id,
                created_at: row.try_get::<i64, _>("created_at")? as u64,
                attempts: row.try_get::<i64, _>("attempts")?.max(0) as u32,
                next_attempt_at: at(&row, "next_attempt_at")?,
                delivered_at: at(&row, "delivered_at")?,
                last_error: row.try_get("last_error")?,
                answers,
            });
        }
        for row in sqlx::query(
            "SELECT * FROM claims_under_review WHERE checkout_id = $1
             ORDER BY requested_at, tx_hash, log_index",
        )
        .bind(&checkout.id)
        .fetch_all(&self.pool)
        .await?
        {
            history.claims.push(ClaimUnderReview {
                chain_id: row.try_get::<i64, _>("chain_id")? as u64,
                tx_hash: stored_hash(&row.try_get::<String, _>("tx_hash")?)?
                    .as_str()
                    .to_owned(),
                log_index: row.try_get::<i64, _>("log_index")? as u64,
                requested_at: row.try_get::<i64, _>("requested_at")? as u64,
            });
        }
        history.refunds = self.refunds_of(&checkout.id).await?;
        Ok(history)
    }
}
