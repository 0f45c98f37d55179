//! The gateway's HTTP surface that every party shares: header names, the response envelope,
//! error codes, and the request, order, payment and webhook bodies.
//!
//! Where BlockATM's docs are silent this is the product's interpretation, written down once here
//! and described for people in `crates/sandbox/API.md`. Amounts travel as decimal strings, with
//! atomic units beside them as strings (a JSON number cannot hold 18-decimal amounts exactly).

use serde::{Deserialize, Serialize};

pub mod v1;
pub mod v2;
pub mod wire;

pub use wire::{Answer, DecimalText, GatewayStatus, IdText, PaymentType, read_answer};

use crate::address::Address;
use crate::chain::ChainId;
use crate::status::OrderStatus;

/// The merchant's API key, on every server-to-server call.
pub const HEADER_API_KEY: &str = "BlockATM-API-Key";
/// Unix time in milliseconds when the request was signed; part of the signed string.
pub const HEADER_REQUEST_TIME: &str = "BlockATM-Request-Time";
/// V1: base64 DER ECDSA P-256/SHA-256 signature.
pub const HEADER_SIGNATURE_V1: &str = "BlockATM-Signature-V1";
/// V2: lowercase hex HMAC-SHA256.
pub const HEADER_SIGNATURE_V2: &str = "BlockATM-Signature-V2";
/// Optional freshness window in milliseconds (see [`crate::signed_string::check_freshness`]).
/// The underscore is the gateway's own spelling.
pub const HEADER_RECV_WINDOW: &str = "BlockATM-Rec_Window";
/// What a webhook reports.
pub const HEADER_EVENT: &str = "BlockATM-Event";
/// The webhook kind of a QR (scan-to-pay) order's payment.
pub const EVENT_QR_PAYMENT: &str = "QR-Payment";

pub const PATH_CREATE_ORDER: &str = "/api/v1/payment/createQrOrder";
pub const PATH_QUERY_PAYMENTS: &str = "/api/v1/payment/contractPayment";
pub const PATH_NETWORKS: &str = "/api/v1/public/networklist";
pub const PATH_TOKENS: &str = "/api/v1/public/cryptocurrencies";
pub const PATH_RATES: &str = "/api/v1/public/rates";
pub const PATH_WEBHOOK_KEY: &str = "/api/v1/public/webhookKey";

/// Every response body: `{code, success, data, msg, trace}`, as the gateway's V2 API has it and
/// the product adopts for V1. `code` is `"200"` on success, a six-digit code otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: String,
    pub success: bool,
    pub data: Option<T>,
    pub msg: String,
    #[serde(default)]
    pub trace: String,
}

impl<T> Envelope<T> {
    pub fn ok(data: T, trace: String) -> Self {
        Self {
            code: "200".into(),
            success: true,
            data: Some(data),
            msg: "success".into(),
            trace,
        }
    }

    pub fn error(code: ErrorCode, msg: String, trace: String) -> Self {
        Self {
            code: code.as_str().into(),
            success: false,
            data: None,
            msg,
            trace,
        }
    }
}

/// Failure codes in the envelope's `code`. The first three are the gateway's documented ones;
/// the rest are the product's, in the same six-digit form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MissingParameter,
    DuplicateSubmit,
    NotFound,
    InvalidParameter,
    Unauthorized,
    RateLimited,
    Blocked,
    Internal,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingParameter => "000103",
            Self::DuplicateSubmit => "000106",
            Self::NotFound => "000202",
            Self::InvalidParameter => "000104",
            Self::Unauthorized => "000401",
            Self::RateLimited => "000429",
            Self::Blocked => "000418",
            Self::Internal => "000500",
        }
    }
}

/// `POST /api/v1/payment/createQrOrder`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderRequest {
    /// The merchant's own order number: unique per merchant, the idempotency key.
    pub order_no: String,
    pub chain_id: ChainId,
    pub symbol: String,
    /// What the merchant asks for, as a decimal string (a JSON number is read exactly as written).
    pub amount: DecimalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cust_no: Option<String>,
    /// How long the order stays open; the gateway's configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_seconds: Option<u64>,
}

/// The gateway's V1 order status number: what its callbacks and queries carry beside the
/// detailed `state`.
pub const fn v1_status(state: OrderStatus) -> i8 {
    match state {
        OrderStatus::Paid | OrderStatus::PaidLate => 1,
        OrderStatus::Expired | OrderStatus::Failed => -1,
        OrderStatus::Waiting | OrderStatus::PartiallyPaid | OrderStatus::Confirming => 0,
    }
}

/// An order as the gateway reports it: created, queried, and in every webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayOrder {
    /// The gateway's own order number.
    pub plat_order_no: String,
    pub order_no: String,
    #[serde(default)]
    pub cust_no: Option<String>,
    pub chain_id: ChainId,
    /// The chain's name, as the gateway's callbacks give it.
    pub network: String,
    pub symbol: String,
    pub token_contract: Address,
    pub decimals: u8,
    /// What the merchant asked for.
    pub amount: String,
    /// What the shopper must send: the asked amount, made unique among open orders to the same
    /// address when needed, so a plain transfer can be matched by amount alone.
    pub pay_amount: String,
    pub pay_amount_atomic: String,
    pub to_address: Address,
    pub cashier_url: String,
    /// V1 status: 0 pending, 1 success, -1 failed or expired.
    pub status: i8,
    /// The detailed state.
    pub state: OrderStatus,
    pub paid_amount: String,
    pub remaining_amount: String,
    pub overpaid_amount: String,
    /// The fewest confirmations among payments still confirming.
    #[serde(default)]
    pub confirmations: Option<u32>,
    pub required_confirmations: u32,
    pub payments: Vec<PaymentRecord>,
    /// Unix milliseconds.
    pub create_time: u64,
    pub expire_time: u64,
    pub update_time: u64,
}

/// How a payment reached the receiving contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A plain ERC-20 transfer, matched to its order by amount.
    Transfer,
    /// `deposit(token, amount, orderNo)`, which names its order.
    Deposit,
}

/// One on-chain payment credited to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    pub tx_id: String,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: String,
    pub from: Address,
    pub amount: String,
    pub amount_atomic: String,
    pub kind: PaymentKind,
    pub confirmations: u32,
    /// The block's time, in Unix milliseconds.
    pub timestamp: u64,
    /// Mined after the order expired.
    pub late: bool,
}

/// A page of orders from `GET /api/v1/payment/contractPayment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPage {
    pub records: Vec<GatewayOrder>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// The webhook body: the gateway's V1 callback fields, then the product's additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentEvent {
    /// Stable across retries: receivers dedupe by it.
    pub event_id: String,
    pub plat_order_no: String,
    pub order_no: String,
    #[serde(default)]
    pub cust_no: Option<String>,
    /// What has been received so far.
    pub amount: String,
    pub fee: String,
    pub chain_id: ChainId,
    pub network: String,
    pub symbol: String,
    /// The latest payment's transaction, if any.
    #[serde(default)]
    pub tx_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: i8,
    pub create_time: u64,
    pub state: OrderStatus,
    pub pay_amount: String,
    pub remaining_amount: String,
    pub overpaid_amount: String,
    #[serde(default)]
    pub confirmations: Option<u32>,
    pub required_confirmations: u32,
    pub expire_time: u64,
    /// When the gateway decided this state, Unix milliseconds: orders events for one order.
    pub event_time: u64,
}

/// `GET /api/v1/public/networklist`: one accepted chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub chain_id: ChainId,
    pub name: String,
    #[serde(default)]
    pub explorer_url: Option<String>,
    pub required_confirmations: u32,
}

/// `GET /api/v1/public/cryptocurrencies`: one accepted token on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cryptocurrency {
    pub chain_id: ChainId,
    pub symbol: String,
    pub contract: Address,
    pub decimals: u8,
}

/// `GET /api/v1/public/rates`: how much of `quote` one `base` is worth, as a decimal string
/// (`USDT`/`USD` = `"1.0002"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeRate {
    pub base: String,
    pub quote: String,
    pub rate: String,
    pub update_time: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_deserialise_from_strings_and_numbers_exactly() {
        let from_string: CreateOrderRequest =
            serde_json::from_str(r#"{"orderNo":"A","chainId":1,"symbol":"USDT","amount":"13.41"}"#)
                .unwrap();
        assert_eq!(from_string.amount, DecimalText("13.41".into()));
        let from_number: CreateOrderRequest = serde_json::from_str(
            r#"{"orderNo":"A","chainId":1,"symbol":"USDT","amount":0.100000000000000000055}"#,
        )
        .unwrap();
        assert_eq!(
            from_number.amount,
            DecimalText("0.100000000000000000055".into())
        );
        assert!(
            serde_json::from_str::<CreateOrderRequest>(
                r#"{"orderNo":"A","chainId":1,"symbol":"USDT","amount":true}"#
            )
            .is_err()
        );
    }

    #[test]
    fn v1_status_numbers() {
        assert_eq!(v1_status(OrderStatus::Confirming), 0);
        assert_eq!(v1_status(OrderStatus::PaidLate), 1);
        assert_eq!(v1_status(OrderStatus::Expired), -1);
    }
}
