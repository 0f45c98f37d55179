//! The merchant's own notification that an order is paid, for its fulfillment system: exactly one
//! logical event per checkout (a UNIQUE column makes a second one impossible), queued in the same
//! transaction as the state change that caused it, and delivered until acknowledged.

use serde::Serialize;
use sqlx::{Sqlite, Transaction};
use usdt_checkout_protocol::format_units;

use usdt_checkout_protocol::checkout::CheckoutState;

use crate::store::{Checkout, StoreError};

/// The body POSTed to the merchant's fulfillment URL.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentEvent<'a> {
    /// Stable across retries: receivers dedupe by it.
    pub id: String,
    /// `checkout.paid`, or `checkout.paid_late` when the payment completed after expiry (the
    /// merchant decides whether to honour it).
    #[serde(rename = "type")]
    pub kind: String,
    pub checkout_id: &'a str,
    pub reference: Option<&'a str>,
    pub item_id: Option<&'a str>,
    pub description: &'a str,
    pub price_amount: &'a str,
    pub price_currency: &'a str,
    pub chain_id: u64,
    pub symbol: &'a str,
    pub amount_paid: String,
    pub amount_overpaid: String,
    pub transactions: &'a [String],
    pub paid_at: u64,
}

/// Queues the paid checkout's event, unless it already has one.
pub async fn queue(
    tx: &mut Transaction<'_, Sqlite>,
    checkout: &Checkout,
    now: u64,
) -> Result<(), StoreError> {
    let (Some(terms), CheckoutState::Order(state)) = (&checkout.terms, checkout.state) else {
        return Err(StoreError::Corrupt("paid checkout without an order"));
    };
    let event = FulfillmentEvent {
        id: format!("ful_{}", checkout.id),
        kind: format!("checkout.{state}"),
        checkout_id: &checkout.id,
        reference: checkout.reference.as_deref(),
        item_id: checkout.item_id.as_deref(),
        description: &checkout.description,
        price_amount: &checkout.price_amount,
        price_currency: &checkout.price_currency,
        chain_id: terms.chain_id.0,
        symbol: &terms.symbol,
        amount_paid: format_units(checkout.paid_atomic, terms.decimals),
        amount_overpaid: format_units(checkout.overpaid_atomic, terms.decimals),
        transactions: &checkout.tx_hashes,
        paid_at: now,
    };
    sqlx::query(
        "INSERT INTO fulfillment_events (id, checkout_id, body, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (checkout_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&checkout.id)
    .bind(serde_json::to_string(&event).expect("events serialise"))
    .bind(now as i64)
    .bind(now as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
