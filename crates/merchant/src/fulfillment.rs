//! The merchant's own notification that an order is paid, for its fulfillment system: exactly one
//! logical event per checkout (the outbox's UNIQUE column makes a second one impossible), queued
//! in the same transaction as the state change that caused it, and delivered until acknowledged.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::signature::V2SecretKey;
use usdt_checkout_protocol::{TxHash, format_units};

use crate::clock::now_ms;
use crate::domain::Checkout;
use crate::store::{OutboxEvent, Store, StoreError};

/// The header carrying `t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "Checkout-Signature";
const BASE_DELAY: Duration = Duration::from_secs(5);
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// Events delivered per round; the rest wait for the next.
const BATCH: u32 = 20;

/// The body POSTed to the merchant's fulfillment URL.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FulfillmentEvent<'a> {
    /// Stable across retries: receivers dedupe by it.
    id: &'a str,
    /// `checkout.paid`, or `checkout.paid_late` when the payment completed after expiry (the
    /// merchant decides whether to honour it).
    #[serde(rename = "type")]
    kind: String,
    checkout_id: &'a str,
    reference: Option<&'a str>,
    item_id: Option<&'a str>,
    description: &'a str,
    price_amount: &'a str,
    price_currency: &'a str,
    chain_id: u64,
    symbol: &'a str,
    amount_paid: String,
    amount_overpaid: String,
    /// What the payment fell short of the amount asked, accepted within the token's
    /// underpayment tolerance: "0" when paid in full.
    amount_shortfall: String,
    transactions: &'a [TxHash],
    paid_at: u64,
}

/// The outbox entry that tells the merchant `checkout` is paid; `None` for a checkout without a
/// gateway order, which cannot be.
pub fn event(checkout: &Checkout, now: u64) -> Option<OutboxEvent> {
    let (Some(terms), CheckoutState::Order(state)) = (&checkout.terms, checkout.state) else {
        return None;
    };
    let id = format!("ful_{}", checkout.id);
    let body = FulfillmentEvent {
        id: &id,
        kind: format!("checkout.{state}"),
        checkout_id: &checkout.id,
        reference: checkout.reference.as_deref(),
        item_id: checkout.item_id.as_deref(),
        description: &checkout.description,
        price_amount: checkout.price.amount.as_str(),
        price_currency: &checkout.price.currency,
        chain_id: terms.chain_id.0,
        symbol: &terms.symbol,
        amount_paid: format_units(checkout.paid_atomic, terms.decimals),
        amount_overpaid: format_units(checkout.overpaid_atomic, terms.decimals),
        amount_shortfall: format_units(checkout.shortfall_atomic, terms.decimals),
        transactions: &checkout.tx_hashes,
        paid_at: now,
    };
    Some(OutboxEvent {
        body: serde_json::to_string(&body).expect("events serialise"),
        id,
        checkout_id: checkout.id.clone(),
        created_at: now,
    })
}

/// The body POSTed when a refund's transfer is seen on chain.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundSent<'a> {
    /// Stable across retries: receivers dedupe by it.
    id: &'a str,
    /// `refund.sent`.
    #[serde(rename = "type")]
    kind: &'static str,
    refund_id: &'a str,
    /// The order whose payment it gives back; none for a payment that paid no order.
    checkout_id: Option<&'a str>,
    /// That order's reference in the shop (its cart, say), as its `checkout.paid` said.
    reference: Option<&'a str>,
    chain_id: u64,
    token_contract: &'a usdt_checkout_protocol::Address,
    /// In the token's smallest units (its decimals are the chain's token's).
    amount_atomic: String,
    destination: &'a usdt_checkout_protocol::Address,
    proven: bool,
    source_tx: &'a TxHash,
    source_log_index: u64,
    transaction: &'a TxHash,
    /// When the block holding the transfer was mined, Unix ms.
    sent_at: u64,
}

/// The `refund.sent` event of a refund whose transfer was seen, its order's shop `reference`
/// given when it has one: its id and body; `None` for a refund not sent.
pub fn refund_event(
    refund: &crate::refunds::Refund,
    reference: Option<&str>,
) -> Option<(String, String)> {
    let sent = refund.sent.as_ref()?;
    let id = format!("rfs_{}", refund.id);
    let body = RefundSent {
        id: &id,
        kind: "refund.sent",
        refund_id: &refund.id,
        checkout_id: refund.checkout_id.as_deref(),
        reference,
        chain_id: refund.chain_id.0,
        token_contract: &refund.token,
        amount_atomic: refund.amount_atomic.to_string(),
        destination: &refund.destination,
        proven: refund.proven(),
        source_tx: &refund.source_tx,
        source_log_index: refund.source_log_index,
        transaction: &sent.tx,
        sent_at: sent.mined_at,
    };
    let body = serde_json::to_string(&body).expect("events serialise");
    Some((id, body))
}

/// The signature of a fulfillment event, as the merchant's receiver checks it: the protocol's
/// HMAC-SHA256 signer over `<time>.<body>`.
pub fn sign(secret: &V2SecretKey, time: u64, body: &str) -> String {
    format!("t={time},v1={}", secret.sign(&format!("{time}.{body}")))
}

/// How long an event is this server's to send before another may: well past an attempt's
/// timeout (10 s).
const CLAIM: Duration = Duration::from_secs(60);

/// Where events go, and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    pub secret: V2SecretKey,
}

/// Delivers due events until the process stops: retried, with backoff up to an hour apart, until
/// the merchant's endpoint answers 2xx. `due` wakes it at once when an order is paid.
pub async fn run(delivery: Delivery, store: Store, due: Arc<Notify>) {
    let client = reqwest::Client::builder()
        .timeout(CLAIM / 6)
        .build()
        .expect("an HTTP client with the default TLS settings builds");
    loop {
        if let Err(e) = deliver_due(&delivery, &store, &client).await {
            tracing::warn!("fulfillment delivery: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = due.notified() => {}
        }
    }
}

async fn deliver_due(
    delivery: &Delivery,
    store: &Store,
    client: &reqwest::Client,
) -> Result<(), StoreError> {
    let now = now_ms();
    let until = now + CLAIM.as_millis() as u64;
    for event in store.claim_due_events(now, until, BATCH).await? {
        let time = now_ms();
        let mut request = client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(&delivery.secret, time, &event.body));
        // The request that caused it (a webhook, a claim), for following it into the shop's log.
        if let Some(cause) = crate::request_id::cause_of(&event.id) {
            request = request.header(crate::request_id::HEADER.as_str(), cause);
        }
        let outcome = request.body(event.body).send().await;
        let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
        let error = match outcome {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
            Err(e) => Some(e.to_string()),
        };
        crate::metrics::delivery(error.is_none());
        let attempts = event.attempts + 1;
        let next = usdt_checkout_protocol::backoff::ceiling(attempts - 1, BASE_DELAY, MAX_DELAY);
        let outcome = match &error {
            None => Ok(()),
            Some(e) => Err((e.clone(), time + next.as_millis() as u64)),
        };
        store
            .mark_answered(event.outbox, &event.id, attempts, time, status, outcome)
            .await?;
        if error.is_none() {
            crate::request_id::delivered(&event.id);
        }
        match error {
            None => tracing::info!("fulfillment event {} delivered", event.id),
            Some(e) => tracing::warn!(
                "fulfillment event {} not delivered ({e}); retrying in {next:?}",
                event.id
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CreatedBy, PaymentTerms, Price};
    use usdt_checkout_protocol::{ChainId, OrderStatus};

    fn paid(state: OrderStatus) -> Checkout {
        let address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .unwrap();
        Checkout {
            state: CheckoutState::Order(state),
            paid_atomic: 25_500_000,
            overpaid_atomic: 500_000,
            tx_hashes: vec![TxHash::from_bytes([0xab; 32])],
            terms: Some(PaymentTerms {
                chain_id: ChainId::LOCAL,
                symbol: "USDT".into(),
                token_contract: address,
                decimals: 6,
                amount_atomic: 25_000_000,
                gateway_order_no: "co_1".into(),
                plat_order_no: "P1".into(),
                pay_amount_atomic: 25_000_000,
                to_address: address,
                cashier_url: String::new(),
                expires_at: 0,
                required_confirmations: 2,
            }),
            reference: Some("cart-1".into()),
            ..Checkout::open(
                "co_1".into(),
                CreatedBy::Storefront,
                "Cart".into(),
                Price {
                    amount: "25".parse().unwrap(),
                    currency: "USDT".into(),
                },
            )
        }
    }

    #[test]
    fn the_event_says_what_was_paid_and_is_stable_across_retries() {
        let event = event(&paid(OrderStatus::PaidLate), 7).unwrap();
        assert_eq!(event.id, "ful_co_1");
        assert_eq!(event.checkout_id, "co_1");
        let body: serde_json::Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(body["id"], "ful_co_1");
        assert_eq!(body["type"], "checkout.paid_late");
        assert_eq!(body["reference"], "cart-1");
        assert_eq!(body["amountPaid"], "25.5");
        assert_eq!(body["amountOverpaid"], "0.5");
        assert_eq!(
            body["transactions"],
            serde_json::json!([format!("0x{}", "ab".repeat(32))])
        );
        assert_eq!(body["paidAt"], 7);
    }

    #[test]
    fn a_refund_is_announced_once_it_is_sent_with_what_paid_it() {
        use crate::refunds::{Proof, Refund, RefundState, SentTransfer};
        let source = usdt_checkout_chain::ChainPayment {
            tx_id: TxHash::from_bytes([0xab; 32]),
            log_index: 2,
            block_number: 7,
            block_hash: "0x07".into(),
            from: usdt_checkout_protocol::Address::from_bytes([1; 20]),
            to: usdt_checkout_protocol::Address::from_bytes([2; 20]),
            token: usdt_checkout_protocol::Address::from_bytes([3; 20]),
            value: 25_500_000,
            kind: usdt_checkout_chain::PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: 1_000,
        };
        let approved = Refund::new(
            Some("co_1".into()),
            ChainId::LOCAL,
            &source,
            500_000,
            usdt_checkout_protocol::Address::from_bytes([4; 20]),
            Proof::Unproven { email: None },
            Some("owner".into()),
            2_000,
        );
        assert_eq!(
            refund_event(&approved, None),
            None,
            "not before its transfer"
        );
        let sent = Refund {
            state: RefundState::Sent,
            sent: Some(SentTransfer {
                tx: TxHash::from_bytes([0xcd; 32]),
                log_index: 0,
                block_number: 9,
                mined_at: 3_000,
            }),
            ..approved
        };
        let (id, body) = refund_event(&sent, Some("cart-1")).unwrap();
        assert_eq!(id, format!("rfs_{}", sent.id));
        assert_eq!(
            refund_event(&sent, None).unwrap().0,
            id,
            "stable across retries"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["id"], id);
        assert_eq!(body["type"], "refund.sent");
        assert_eq!(body["refundId"], sent.id);
        assert_eq!(body["checkoutId"], "co_1");
        assert_eq!(body["reference"], "cart-1");
        assert_eq!(body["amountAtomic"], "500000");
        assert_eq!(body["proven"], false);
        assert_eq!(body["sourceTx"], format!("0x{}", "ab".repeat(32)));
        assert_eq!(body["sourceLogIndex"], 2);
        assert_eq!(body["transaction"], format!("0x{}", "cd".repeat(32)));
        assert_eq!(body["sentAt"], 3_000);
    }

    #[test]
    fn a_checkout_without_an_order_has_no_event() {
        let open = Checkout::open(
            "co_2".into(),
            CreatedBy::Widget,
            "Mug".into(),
            Price {
                amount: "12".parse().unwrap(),
                currency: "USDT".into(),
            },
        );
        assert_eq!(event(&open, 1), None);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_time_and_body() {
        // Computed independently: printf '1700000000000.{"id":"ful_co_1"}' |
        //   openssl dgst -sha256 -hmac whsec_test
        let secret = V2SecretKey::new("whsec_test").unwrap();
        let signature = sign(&secret, 1_700_000_000_000, r#"{"id":"ful_co_1"}"#);
        assert_eq!(
            signature,
            "t=1700000000000,v1=d35a2e1d9a7f2c8b1910a7d6a76fb8eb77136bcb6b105f56b018204fb66e80ce"
        );
    }
}
