//! The servers' JSON, read from and written to the browser's own values. The browser already has
//! a JSON parser; reading its objects field by field keeps serde's generic machinery (and the
//! float formatting its error messages reach) out of the wasm every shopper downloads. The field
//! names are the protocol crate's serde names; a browser test checks the two agree.

use js_sys::{Array, Object, Reflect};
use usdt_checkout_protocol::checkout::{
    ApiError, CheckoutState, CheckoutView, CreateCheckout, GatewayHealth, PaymentView, Price,
    TransactionView,
};
use usdt_checkout_protocol::gateway::{Cryptocurrency, ExchangeRate, Network};
use usdt_checkout_protocol::{Address, ChainId};
use wasm_bindgen::JsValue;

/// Read from a parsed JSON value; `None` when it is not that shape.
pub trait FromJs: Sized {
    fn from_js(value: &JsValue) -> Option<Self>;
}

/// Integers above this lose precision in a JavaScript number.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

pub fn field(object: &JsValue, name: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn text(object: &JsValue, name: &str) -> Option<String> {
    field(object, name).as_string()
}

/// A field that may be absent or `null`: `Some(None)` then, `None` when it has the wrong type.
fn optional<T>(
    object: &JsValue,
    name: &str,
    read: impl Fn(&JsValue) -> Option<T>,
) -> Option<Option<T>> {
    let value = field(object, name);
    if value.is_null() || value.is_undefined() {
        Some(None)
    } else {
        read(&value).map(Some)
    }
}

pub fn whole_number(value: &JsValue) -> Option<u64> {
    value
        .as_f64()
        .filter(|n| n.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(n))
        .map(|n| n as u64)
}

fn number(object: &JsValue, name: &str) -> Option<u64> {
    whole_number(&field(object, name))
}

fn small<T: TryFrom<u64>>(object: &JsValue, name: &str) -> Option<T> {
    T::try_from(number(object, name)?).ok()
}

fn address(object: &JsValue, name: &str) -> Option<Address> {
    text(object, name)?.parse().ok()
}

pub fn list<T>(value: &JsValue, read: impl Fn(&JsValue) -> Option<T>) -> Option<Vec<T>> {
    if !Array::is_array(value) {
        return None;
    }
    Array::from(value).iter().map(|item| read(&item)).collect()
}

impl<T: FromJs> FromJs for Vec<T> {
    fn from_js(value: &JsValue) -> Option<Self> {
        list(value, T::from_js)
    }
}

impl FromJs for CheckoutView {
    fn from_js(value: &JsValue) -> Option<Self> {
        let price = field(value, "price");
        Some(Self {
            id: text(value, "id")?,
            state: CheckoutState::from_name(&text(value, "state")?)?,
            description: text(value, "description")?,
            price: Price {
                amount: text(&price, "amount")?,
                currency: text(&price, "currency")?,
            },
            payment: optional(value, "payment", PaymentView::from_js)?,
            gateway: GatewayHealth::from_js(&field(value, "gateway"))?,
            expires_at: optional(value, "expiresAt", whole_number)?,
            server_time: number(value, "serverTime")?,
            version: number(value, "version")?.try_into().ok()?,
        })
    }
}

impl FromJs for PaymentView {
    fn from_js(value: &JsValue) -> Option<Self> {
        Some(Self {
            chain_id: ChainId(number(value, "chainId")?),
            network: text(value, "network")?,
            symbol: text(value, "symbol")?,
            token_contract: address(value, "tokenContract")?,
            decimals: small(value, "decimals")?,
            amount: text(value, "amount")?,
            amount_atomic: text(value, "amountAtomic")?,
            to_address: address(value, "toAddress")?,
            payment_uri: text(value, "paymentUri")?,
            metamask_link: text(value, "metamaskLink")?,
            cashier_url: text(value, "cashierUrl")?,
            order_no: text(value, "orderNo")?,
            paid: text(value, "paid")?,
            paid_atomic: text(value, "paidAtomic")?,
            remaining: text(value, "remaining")?,
            remaining_atomic: text(value, "remainingAtomic")?,
            overpaid: text(value, "overpaid")?,
            confirmations: optional(value, "confirmations", |n| whole_number(n)?.try_into().ok())?,
            required_confirmations: small(value, "requiredConfirmations").unwrap_or(0),
            transactions: Vec::from_js(&field(value, "transactions"))?,
            unmatched: Vec::from_js(&field(value, "unmatched"))?,
        })
    }
}

impl FromJs for TransactionView {
    fn from_js(value: &JsValue) -> Option<Self> {
        Some(Self {
            hash: text(value, "hash")?,
            explorer_url: optional(value, "explorerUrl", JsValue::as_string)?,
            amount: optional(value, "amount", JsValue::as_string)?,
        })
    }
}

impl FromJs for GatewayHealth {
    fn from_js(value: &JsValue) -> Option<Self> {
        Some(match text(value, "state")?.as_str() {
            "available" => Self::Available,
            "rate_limited" => Self::RateLimited {
                until: number(value, "until")?,
            },
            "blocked" => Self::Blocked {
                until: number(value, "until")?,
            },
            "unreachable" => Self::Unreachable {
                since: number(value, "since")?,
            },
            _ => return None,
        })
    }
}

impl FromJs for ApiError {
    fn from_js(value: &JsValue) -> Option<Self> {
        Some(Self {
            code: text(value, "code")?,
            message: text(value, "message")?,
            retry_after: optional(value, "retryAfter", whole_number)?,
        })
    }
}

/// A chain id as a number, or as BlockATM's examples write it, a decimal string.
fn chain_id(object: &JsValue, name: &str) -> Option<ChainId> {
    let value = field(object, name);
    let id = match value.as_string() {
        Some(text) => text.parse().ok()?,
        None => whole_number(&value)?,
    };
    Some(ChainId(id))
}

impl FromJs for Network {
    fn from_js(value: &JsValue) -> Option<Self> {
        Some(Self {
            chain_id: chain_id(value, "chainId")?,
            name: text(value, "name")?,
            explorer_url: optional(value, "explorerUrl", JsValue::as_string)?,
            required_confirmations: small(value, "requiredConfirmations").unwrap_or(0),
        })
    }
}

impl FromJs for Cryptocurrency {
    fn from_js(value: &JsValue) -> Option<Self> {
        Some(Self {
            chain_id: chain_id(value, "chainId")?,
            symbol: text(value, "symbol")?,
            contract: address(value, "contract")?,
            decimals: small(value, "decimals")?,
        })
    }
}

impl FromJs for ExchangeRate {
    fn from_js(value: &JsValue) -> Option<Self> {
        Some(Self {
            base: text(value, "base")?,
            quote: text(value, "quote")?,
            rate: text(value, "rate")?,
            update_time: number(value, "updateTime")?,
        })
    }
}

/// The JSON text of a `POST /api/checkouts` body.
pub fn create_checkout_body(request: &CreateCheckout) -> Option<String> {
    let body = Object::new();
    let set = |name: &str, value: JsValue| Reflect::set(&body, &JsValue::from_str(name), &value);
    if let Some(item) = &request.item {
        set("item", item.into()).ok()?;
    }
    if let Some(id) = &request.checkout_id {
        set("checkoutId", id.into()).ok()?;
    }
    // Chain ids are far below 2^53: exact as a JavaScript number.
    set("chainId", (request.chain_id.0 as f64).into()).ok()?;
    set("symbol", request.symbol.as_str().into()).ok()?;
    set("idempotencyKey", request.idempotency_key.as_str().into()).ok()?;
    js_sys::JSON::stringify(&body).ok()?.as_string()
}
