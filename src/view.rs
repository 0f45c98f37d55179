//! A checkout's view, read by hand from the JSON the browser parsed, into the protocol crate's
//! own [`CheckoutView`]: field by field, as its serde reader reads it (required fields present and
//! of their type, `null` or absent for `None`, numbers whole and exact, other fields ignored).
//! serde's generated reader, through serde-wasm-bindgen, was the largest single function of the
//! widget and brought that crate's code besides, about 8 KB of every shopper's gzipped download;
//! the tests hold both readers to the same answers for every shape a view takes.

use usdt_checkout_protocol::ChainId;
use usdt_checkout_protocol::checkout::{
    CheckoutState, CheckoutView, GatewayHealth, PaymentView, Price, TransactionView,
};
use wasm_bindgen::JsValue;

use crate::options::{MAX_SAFE_INTEGER, field, whole_number};

pub(crate) fn text(object: &JsValue, name: &str) -> Option<String> {
    field(object, name).as_string()
}

/// `name` of `object` unless it is `null` or absent: an `Option` field's value.
pub(crate) fn present(object: &JsValue, name: &str) -> Option<JsValue> {
    Some(field(object, name)).filter(|value| !value.is_null() && !value.is_undefined())
}

/// `Some(None)` for `null` or absent, `None` for a value of another type.
pub(crate) fn optional_text(object: &JsValue, name: &str) -> Option<Option<String>> {
    match present(object, name) {
        None => Some(None),
        Some(value) => value.as_string().map(Some),
    }
}

pub(crate) fn number(object: &JsValue, name: &str) -> Option<u64> {
    whole_number(&field(object, name))
}

pub(crate) fn optional_number(object: &JsValue, name: &str) -> Option<Option<u64>> {
    match present(object, name) {
        None => Some(None),
        Some(value) => whole_number(&value).map(Some),
    }
}

/// A whole number that fits `u32` (a `u8` is read as one and narrowed by its caller).
pub(crate) fn small(object: &JsValue, name: &str) -> Option<u32> {
    u32::try_from(number(object, name)?).ok()
}

fn transaction(object: &JsValue) -> Option<TransactionView> {
    Some(TransactionView {
        hash: text(object, "hash")?,
        explorer_url: optional_text(object, "explorerUrl")?,
        amount: optional_text(object, "amount")?,
        network: optional_text(object, "network")?,
    })
}

/// `name` as a list of transactions; absent is empty only where the field has a default.
fn transactions(object: &JsValue, name: &str, default: bool) -> Option<Vec<TransactionView>> {
    let value = field(object, name);
    if default && value.is_undefined() {
        return Some(Vec::new());
    }
    if !js_sys::Array::is_array(&value) {
        return None;
    }
    // A loop, not an iterator collected into an Option (an adapter's code per element type).
    let mut read = Vec::new();
    for item in js_sys::Array::from(&value).iter() {
        read.push(transaction(&item)?);
    }
    Some(read)
}

fn payment(object: &JsValue) -> Option<PaymentView> {
    Some(PaymentView {
        chain_id: ChainId(number(object, "chainId")?),
        network: text(object, "network")?,
        symbol: text(object, "symbol")?,
        token_contract: text(object, "tokenContract")?.parse().ok()?,
        decimals: u8::try_from(small(object, "decimals")?).ok()?,
        amount: text(object, "amount")?,
        amount_atomic: text(object, "amountAtomic")?,
        to_address: text(object, "toAddress")?.parse().ok()?,
        payment_uri: text(object, "paymentUri")?,
        metamask_link: text(object, "metamaskLink")?,
        cashier_url: text(object, "cashierUrl")?,
        order_no: text(object, "orderNo")?,
        paid: text(object, "paid")?,
        paid_atomic: text(object, "paidAtomic")?,
        remaining: text(object, "remaining")?,
        remaining_atomic: text(object, "remainingAtomic")?,
        overpaid: text(object, "overpaid")?,
        confirmations: match present(object, "confirmations") {
            None => None,
            Some(_) => Some(small(object, "confirmations")?),
        },
        required_confirmations: small(object, "requiredConfirmations")?,
        transactions: transactions(object, "transactions", false)?,
        unmatched: transactions(object, "unmatched", true)?,
    })
}

/// The gateway's health as written (`{"state": "rate_limited", "until": ...}`): the state's
/// name, with the time its state needs.
fn health(object: &JsValue) -> Option<GatewayHealth> {
    let until = optional_number(object, "until")?;
    let since = optional_number(object, "since")?;
    Some(match text(object, "state")?.as_str() {
        "available" => GatewayHealth::Available,
        "rate_limited" => GatewayHealth::RateLimited { until: until? },
        "blocked" => GatewayHealth::Blocked { until: until? },
        "unreachable" => GatewayHealth::Unreachable { since: since? },
        _ => return None,
    })
}

/// The view in a parsed body; `None` if it is not one.
pub fn read(body: &JsValue) -> Option<CheckoutView> {
    let price = field(body, "price");
    let version = field(body, "version")
        .as_f64()
        .filter(|n| n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER)?;
    Some(CheckoutView {
        id: text(body, "id")?,
        state: CheckoutState::from_name(&text(body, "state")?)?,
        description: text(body, "description")?,
        price: Price {
            amount: text(&price, "amount")?,
            currency: text(&price, "currency")?,
        },
        payment: match present(body, "payment") {
            None => None,
            Some(payment_view) => Some(payment(&payment_view)?),
        },
        gateway: health(&field(body, "gateway"))?,
        expires_at: optional_number(body, "expiresAt")?,
        server_time: number(body, "serverTime")?,
        version: version as i64,
        // Absent when false (the server writes it only when true).
        refundable: match field(body, "refundable") {
            absent if absent.is_undefined() => false,
            flag => flag.as_bool()?,
        },
    })
}
