//! The gateway's HTTP surface that every party shares: header names and webhook event kinds.

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

/// The webhook kinds the gateway sends in [`HEADER_EVENT`].
pub const EVENT_PAYMENT: &str = "Payment";
pub const EVENT_QR_PAYMENT: &str = "QR-Payment";
