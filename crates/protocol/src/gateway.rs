//! The gateway's HTTP surface that every party shares: header names, V2's response envelope and
//! error codes, the public lists, and (in [`v1`] and [`v2`]) each documented dialect's bodies,
//! read the way [`wire`] reads BlockATM's values. Sources: `docs/blockatm-api.md`; where the docs
//! are silent, the product's reading is said so here and in `crates/sandbox/API.md`.

use serde::{Deserialize, Serialize};

#[cfg(feature = "gateway-wire")]
pub mod examples;
pub mod lists;
pub mod v1;
pub mod v2;
pub mod wire;

pub use lists::{Described, Listed, Skipped, describe};
pub use wire::GatewayStatus;
#[cfg(feature = "gateway-wire")]
pub use wire::{Answer, AnswerError, DecimalText, IdText, PaymentType, read_answer};

use crate::address::Address;
use crate::chain::ChainId;

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

/// A list of exchange rates. BlockATM documents none: the sandbox serves one here, and a merchant
/// may point `rates.url` at any endpoint answering the same list.
pub const PATH_RATES: &str = "/api/v1/public/rates";

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

/// Failure codes in the envelope's `code`. The first four are the gateway's documented ones;
/// the rest are the product's, in the same six-digit form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MissingParameter,
    DuplicateSubmit,
    NotFound,
    /// "Data Already Exists": V2's answer to an `orderNo` the merchant already made an order
    /// with (S11: "The same order number cannot be repeatedly created").
    DataExists,
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
            Self::DataExists => "000201",
            Self::InvalidParameter => "000104",
            Self::Unauthorized => "000401",
            Self::RateLimited => "000429",
            Self::Blocked => "000418",
            Self::Internal => "000500",
        }
    }
}

/// One accepted chain, as the product describes an entry of the public network list (V1
/// `networklist`, V2 `allNetworks`): the docs name the list but not its fields, so only its
/// `chainId` is read ([`Listed`]) and the rest comes from the registry ([`describe`]). The
/// sandbox serves its lists in this shape unless asked for the minimal one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[serde(deserialize_with = "wire::chain_id_text::deserialize")]
    pub chain_id: ChainId,
    pub name: String,
    #[serde(default)]
    pub explorer_url: Option<String>,
    /// Zero when the gateway does not say: the server's configured count applies.
    #[serde(default)]
    pub required_confirmations: u32,
}

/// One accepted token on one chain, as the product describes an entry of the public token
/// list (V1 `cryptocurrencies`, V2 `symbolList`): its `chainId` and `symbol` read, its contract
/// and decimals the registry's; as for [`Network`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cryptocurrency {
    #[serde(deserialize_with = "wire::chain_id_text::deserialize")]
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
    #[serde(default)]
    pub update_time: u64,
}
