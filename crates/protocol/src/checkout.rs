//! The merchant server's API for the widget and the storefront: what is sent, and everything the
//! widget shows. The browser never sends a price: it names an item (or a checkout the storefront
//! created), a network and a token, and the server decides the amount.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::chain::ChainId;
use crate::status::OrderStatus;

// The API's errors, read where the rest of the API is.
pub use crate::api_error::{ApiError, ErrorCode};

pub const PATH_CHECKOUTS: &str = "/api/checkouts";
pub const PATH_ADMIN_CHECKOUTS: &str = "/api/admin/checkouts";
pub const PATH_ADMIN_ORDERS: &str = "/api/admin/orders";
pub const PATH_WEBHOOK: &str = "/webhooks/blockatm";
/// `POST {PATH_CHECKOUTS}/{id}/claims` with a [`ClaimRequest`]: "I already paid". Answers the
/// checkout's view once the transaction is attached, or an [`ApiError`] whose code is one of
/// the `Tx*` or `Claim*` [`ErrorCode`]s and whose `params` name what was found.
pub const PATH_CLAIMS: &str = "claims";
/// The longest `?wait=` a status poll may ask for, in seconds.
pub const MAX_LONG_POLL_SECONDS: u64 = 25;

/// Where a checkout is: `open` until a network and token are chosen and the gateway order
/// exists, then the order's status.
/// On the wire, its name (`"open"`, `"waiting"`, ...): read without serde's buffering of
/// untagged enums, which the widget would otherwise carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutState {
    Order(OrderStatus),
    Open(OpenState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenState {
    Open,
}

impl CheckoutState {
    pub const OPEN: Self = Self::Open(OpenState::Open);

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open(_) => "open",
            Self::Order(status) => status.as_str(),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "open" => Some(Self::OPEN),
            other => OrderStatus::from_name(other).map(Self::Order),
        }
    }

    /// Whether it can no longer change (an open checkout can still be paid).
    pub const fn is_final(self) -> bool {
        match self {
            Self::Open(_) => false,
            Self::Order(status) => status.is_final(),
        }
    }
}

impl Serialize for CheckoutState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckoutState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        // serde's own words (`invalid value: string "x", expected a checkout state`), not a
        // message formatted here: the widget's serde-wasm-bindgen says them without the value,
        // and a `{:?}` here linked Rust's string escaping into its download.
        Self::from_name(&name).ok_or_else(|| {
            serde::de::Error::invalid_value(serde::de::Unexpected::Str(&name), &"a checkout state")
        })
    }
}

/// `POST /api/checkouts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCheckout {
    /// A catalog item; or `checkout_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// A checkout the storefront's backend created (with its own total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    pub chain_id: ChainId,
    pub symbol: String,
    /// Chosen by the widget once per purchase: the same key returns the same checkout.
    pub idempotency_key: String,
}

/// `POST /api/admin/checkouts`: the storefront's backend fixes the amount.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorefrontCheckout {
    /// A decimal string.
    pub amount: String,
    /// A fiat currency (`USD`) or the token's symbol (`USDT`).
    pub currency: String,
    pub description: String,
    /// The storefront's own order reference, echoed in the fulfillment event.
    #[serde(default)]
    pub reference: Option<String>,
    /// Make it a payment link, paid on the checkout server's hosted page (`/pay/{id}`): the
    /// answer carries its `payUrl`. Implied by `expires_at`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link: bool,
    /// A payment link's end (Unix ms), from a minute to a year away: past it, a shopper can no
    /// longer start paying it. Makes the checkout a payment link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    pub amount: String,
    pub currency: String,
}

/// How the merchant server's connection to the gateway is doing. On the wire, `{"state":
/// "rate_limited", "until": ...}`: read through [`HealthWire`], not serde's internally tagged
/// enums, whose buffering the widget would otherwise carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HealthWire", into = "HealthWire")]
pub enum GatewayHealth {
    Available,
    /// The gateway asked to slow down; calls resume at `until` (Unix ms).
    RateLimited {
        until: u64,
    },
    /// The gateway blocked the merchant's key for a while; calls resume at `until`.
    Blocked {
        until: u64,
    },
    /// The last call got no usable answer.
    Unreachable {
        since: u64,
    },
}

/// [`GatewayHealth`] as written: its state's name and its time, if it has one.
#[derive(Serialize, Deserialize)]
pub struct HealthWire {
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<u64>,
}

impl From<GatewayHealth> for HealthWire {
    fn from(health: GatewayHealth) -> Self {
        let (until, since) = match health {
            GatewayHealth::Available => (None, None),
            GatewayHealth::RateLimited { until } | GatewayHealth::Blocked { until } => {
                (Some(until), None)
            }
            GatewayHealth::Unreachable { since } => (None, Some(since)),
        };
        Self {
            state: health.as_str().into(),
            until,
            since,
        }
    }
}

impl TryFrom<HealthWire> for GatewayHealth {
    type Error = &'static str;

    fn try_from(wire: HealthWire) -> Result<Self, Self::Error> {
        const MISSING: &str = "the gateway's state lacks its time";
        Ok(match wire.state.as_str() {
            "available" => Self::Available,
            "rate_limited" => Self::RateLimited {
                until: wire.until.ok_or(MISSING)?,
            },
            "blocked" => Self::Blocked {
                until: wire.until.ok_or(MISSING)?,
            },
            "unreachable" => Self::Unreachable {
                since: wire.since.ok_or(MISSING)?,
            },
            _ => return Err("not a state of the gateway's connection"),
        })
    }
}

impl GatewayHealth {
    /// The state's name on the wire (`rate_limited`), without its time.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::RateLimited { .. } => "rate_limited",
            Self::Blocked { .. } => "blocked",
            Self::Unreachable { .. } => "unreachable",
        }
    }
}

/// Everything the widget shows, from `POST /api/checkouts` and `GET /api/checkouts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutView {
    pub id: String,
    pub state: CheckoutState,
    pub description: String,
    pub price: Price,
    /// Present once a network and token are chosen.
    pub payment: Option<PaymentView>,
    pub gateway: GatewayHealth,
    /// Unix ms; with `server_time`, the widget's countdown, whatever the shopper's clock says.
    pub expires_at: Option<u64>,
    pub server_time: u64,
    /// Changes whenever anything above does (also the `ETag`).
    pub version: i64,
    /// Money arrived that the shopper may be owed back (overpaid, on the wrong network, paid
    /// twice or late, or into an order that expired or was cancelled), whatever was refunded of
    /// it since: the widget then reads the checkout's refunds (see
    /// [`crate::refund::PATH_REFUNDS`]). Written only when true, so a poll stays small.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refundable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub chain_id: ChainId,
    pub network: String,
    pub symbol: String,
    pub token_contract: Address,
    pub decimals: u8,
    /// The exact amount to send.
    pub amount: String,
    pub amount_atomic: String,
    pub to_address: Address,
    /// EIP-681 URI of the full amount (the QR code).
    pub payment_uri: String,
    pub metamask_link: String,
    pub cashier_url: String,
    /// The gateway's order number, for a `deposit(orderNo)` from a browser wallet.
    pub order_no: String,
    pub paid: String,
    pub paid_atomic: String,
    pub remaining: String,
    pub remaining_atomic: String,
    pub overpaid: String,
    pub confirmations: Option<u32>,
    pub required_confirmations: u32,
    pub transactions: Vec<TransactionView>,
    /// Transfers of this token to this address, seen on chain since the order was made, that
    /// match no order (say, part of an amount while other orders wait at the same address):
    /// never counted, but told, so a shopper who sent one is not left waiting in silence.
    #[serde(default)]
    pub unmatched: Vec<TransactionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    pub hash: String,
    pub explorer_url: Option<String>,
    /// What it transferred, in the token's units, when the chain showed it.
    #[serde(default)]
    pub amount: Option<String>,
    /// The network it was sent on, when that is not the order's (an unmatched transfer to the
    /// order's address on another watched chain: the wrong network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// "I already paid": the transaction the shopper says pays the checkout, and the proof that
/// the shopper sent it: the sending wallet's signature over
/// [`crate::wallet_proof::claim_message`]. Without it, the claim is kept for the merchant to
/// review ([`ErrorCode::ClaimUnderReview`]) and never credited by itself: a transaction's hash is
/// public, so anyone could name another shopper's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimRequest {
    pub tx_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_plain_names_on_the_wire() {
        for name in ["open", "waiting", "paid_late"] {
            let state = CheckoutState::from_name(name).unwrap();
            assert_eq!(state.as_str(), name);
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(
                serde_json::from_str::<CheckoutState>(&format!("\"{name}\"")).unwrap(),
                state
            );
        }
        assert_eq!(CheckoutState::from_name("paid_twice"), None);
        let refused = serde_json::from_str::<CheckoutState>("\"paid_twice\"").unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("invalid value: string \"paid_twice\", expected a checkout state"),
            "{refused}"
        );
    }

    #[test]
    fn a_price_from_the_browser_is_not_part_of_the_request() {
        let request: CreateCheckout = serde_json::from_str(
            r#"{"item":"tee","chainId":31337,"symbol":"USDT","idempotencyKey":"k-123456","amount":"0.01","price":"0.01"}"#,
        )
        .unwrap();
        let echoed = serde_json::to_string(&request).unwrap();
        assert!(!echoed.contains("0.01"), "{echoed}");
    }
}
