//! The payment gateway, behind one boundary. [`GatewayClient`] does the I/O every gateway shares
//! (the budget, signing, 429/418 pauses, retries); a [`Dialect`] is the pure translation between
//! the server's questions and one gateway's documented wire, so another gateway is one more
//! module. Only fields the gateway documents are read; see `docs/blockatm-api.md`.

mod blockatm_v1;
mod blockatm_v2;
mod client;

use usdt_checkout_protocol::gateway::{Answer, GatewayStatus};
use usdt_checkout_protocol::{Address, ChainId};

use crate::config::GatewayApi;

pub use blockatm_v1::BlockatmV1;
pub use blockatm_v2::BlockatmV2;
pub use client::{GatewayClient, GatewayError, GatewayHealth, random};

/// An order the server asks the gateway to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The checkout's id: the merchant's `orderNo`, which makes creation idempotent.
    pub order_no: String,
    pub chain_id: ChainId,
    pub symbol: String,
    /// The exact amount to pay, as a decimal string.
    pub amount: String,
}

/// What creation tells the server: where the shopper pays, and what else the gateway gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrder {
    pub to_address: Address,
    pub cashier_url: Option<String>,
    pub plat_order_no: Option<String>,
    /// Unix ms; the server's own lifetime applies when the gateway gives none.
    pub expire_time: Option<u64>,
}

/// What the gateway says of an order, from a webhook or a query: its documented status, and the
/// amount and transaction when it gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReport {
    /// The merchant's order number; none for a payment that named no order (V1 type 3).
    pub order_no: Option<String>,
    pub plat_order_no: Option<String>,
    pub status: GatewayStatus,
    /// "Actual payment amount by the customer", a decimal string.
    pub amount: Option<String>,
    pub tx_id: Option<String>,
}

impl GatewayReport {
    /// The same report again (a retried webhook) has the same key. BlockATM's webhooks carry no
    /// event id, so the key is made of the documented facts: the order, its status, the amount
    /// and the transaction. A new payment or a new status is a new key.
    /// The fields are written as a JSON array, so no value can move the boundary between two
    /// (joined with `|`, `"a|"` then `""` and `"a"` then `"|"` were one key, and a second,
    /// genuine report was dropped as a retry of the first).
    pub fn key(&self) -> String {
        serde_json::json!([
            self.plat_order_no,
            self.order_no,
            self.status.as_str(),
            self.amount,
            self.tx_id,
        ])
        .to_string()
    }
}

/// One call to the gateway, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A JSON body, signed.
    Post { path: &'static str, body: String },
    /// A query string, already in ASCII order so every reading of the signed string agrees.
    Get { path: &'static str, query: String },
}

/// One gateway's documented wire, as pure functions: what to send, and how to read what comes
/// back. Answers may be bare or enveloped; a refusal comes back as [`Answer::Refused`].
pub trait Dialect: Send + Sync {
    /// `blockatm-v1`, as configured.
    fn name(&self) -> &'static str;
    /// The public lists of networks and tokens.
    fn networks_path(&self) -> &'static str;
    fn tokens_path(&self) -> &'static str;
    fn create(&self, order: &NewOrder) -> Call;
    fn created(&self, order: &NewOrder, answer: &str) -> Result<Answer<CreatedOrder>, String>;
    /// A query for one order's status.
    fn query(&self, order_no: &str) -> Call;
    fn queried(&self, answer: &str) -> Result<Answer<Vec<GatewayReport>>, String>;
    /// A verified webhook's body; `None` for an event that is not about a payment (a payout).
    fn webhook(&self, event: Option<&str>, body: &str) -> Result<Option<GatewayReport>, String>;
}

/// The dialect a configuration names.
pub fn dialect_for(api: &GatewayApi) -> Box<dyn Dialect> {
    match api {
        GatewayApi::BlockatmV1 => Box::new(BlockatmV1),
        GatewayApi::BlockatmV2 {
            cashier_id,
            receiving_addresses,
        } => Box::new(BlockatmV2 {
            cashier_id: cashier_id.clone(),
            receiving_addresses: receiving_addresses.clone(),
        }),
    }
}

/// A query string from pairs, sorted by key.
fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut pairs = pairs.to_vec();
    pairs.sort_by_key(|(key, _)| *key);
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes what is not unreserved. Order numbers are letters, digits, `-` and `_`, so in
/// practice nothing changes, and the signed string stays the query as sent.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keys_on_its_documented_facts() {
        let report = GatewayReport {
            order_no: Some("co_1".into()),
            plat_order_no: Some("8210000001".into()),
            status: GatewayStatus::Pending,
            amount: Some("10".into()),
            tx_id: Some("0xa".into()),
        };
        let same = report.clone();
        assert_eq!(report.key(), same.key());
        let paid = GatewayReport {
            status: GatewayStatus::Success,
            ..report.clone()
        };
        let more = GatewayReport {
            amount: Some("25".into()),
            tx_id: Some("0xb".into()),
            ..report.clone()
        };
        assert_ne!(report.key(), paid.key());
        assert_ne!(report.key(), more.key());
        let split = |amount: &str, tx: &str| GatewayReport {
            amount: Some(amount.into()),
            tx_id: Some(tx.into()),
            ..report.clone()
        };
        assert_ne!(
            split("10|", "0xa").key(),
            split("10", "|0xa").key(),
            "a separator inside a value moves no boundary"
        );
        let absent = GatewayReport {
            tx_id: None,
            ..report.clone()
        };
        let empty = GatewayReport {
            tx_id: Some(String::new()),
            ..report
        };
        assert_ne!(absent.key(), empty.key());
    }

    #[test]
    fn queries_are_sorted_and_encoded() {
        assert_eq!(
            query_string(&[("orderNo", "co_1"), ("chainId", "5")]),
            "chainId=5&orderNo=co_1"
        );
        assert_eq!(query_string(&[("q", "a b&c")]), "q=a%20b%26c");
    }
}
