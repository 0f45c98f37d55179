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

/// The header carrying `t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "Checkout-Signature";
const BASE_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The signature of a fulfillment event, as the merchant's receiver checks it.
pub fn sign(secret: &str, time: u64, body: &str) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{time}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={time},v1={hex}")
}

/// Delivers due events until the process stops: retried, with backoff up to an hour apart, until
/// the merchant's endpoint answers 2xx.
pub async fn run(app: std::sync::Arc<crate::app::App>) {
    let (Some(url), Some(secret)) = (
        app.config.fulfillment_url.clone(),
        app.config.fulfillment_secret.clone(),
    ) else {
        return;
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("an HTTP client without TLS settings builds");
    loop {
        if let Err(e) = deliver_due(&app, &client, &url, &secret).await {
            tracing::warn!("fulfillment delivery: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = app.fulfillment_due.notified() => {}
        }
    }
}

async fn deliver_due(
    app: &crate::app::App,
    client: &reqwest::Client,
    url: &str,
    secret: &str,
) -> Result<(), StoreError> {
    let now = crate::store::now_ms();
    let due: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT id, body, attempts FROM fulfillment_events
         WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY created_at LIMIT 20",
    )
    .bind(now as i64)
    .fetch_all(app.store.pool())
    .await?;
    for (id, body, attempts) in due {
        let time = crate::store::now_ms();
        let outcome = client
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(secret, time, &body))
            .body(body)
            .send()
            .await;
        let error = match outcome {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
            Err(e) => Some(e.to_string()),
        };
        let attempts = attempts + 1;
        let next =
            usdt_checkout_protocol::backoff::ceiling(attempts as u32 - 1, BASE_DELAY, MAX_DELAY);
        sqlx::query(
            "UPDATE fulfillment_events SET attempts = ?, delivered_at = ?, next_attempt_at = ?, last_error = ?
             WHERE id = ?",
        )
        .bind(attempts)
        .bind(error.is_none().then_some(time as i64))
        .bind(error.is_some().then_some((time + next.as_millis() as u64) as i64))
        .bind(&error)
        .bind(&id)
        .execute(app.store.pool())
        .await?;
        match error {
            None => tracing::info!("fulfillment event {id} delivered"),
            Some(e) => {
                tracing::warn!("fulfillment event {id} not delivered ({e}); retrying in {next:?}")
            }
        }
    }
    Ok(())
}
