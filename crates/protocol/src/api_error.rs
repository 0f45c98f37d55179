//! The merchant server's errors as the widget and the storefront read them: a stable code, a
//! message for people, when to retry, and what a client needs to say it in its own words. Every
//! code the server sends is an [`ErrorCode`]; its name on the wire is written once, below.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident $name:literal,)*) => {
        /// Why the merchant server refused, as `ApiError::code` says it. On the wire, its name
        /// (`"tx_not_found"`); a name this build does not know (a newer server's) reads as
        /// [`ErrorCode::Unknown`], so a widget already on a page keeps working.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this build does not know. Never sent.
            Unknown,
        }

        impl ErrorCode {
            /// Every code the server sends.
            pub const ALL: &[ErrorCode] = &[$(Self::$variant,)*];

            /// Its name on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                    Self::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    /// The request does not read: its body, its query or a field (`400`).
    InvalidRequest "invalid_request",
    /// No such checkout, route or resource (`404`); the admin API is off.
    NotFound "not_found",
    /// The admin API without its bearer token, or a webhook whose signature is not the
    /// gateway's (`401`).
    Unauthorized "unauthorized",
    /// The method is not one the route takes (`405`).
    MethodNotAllowed "method_not_allowed",
    /// The checkout is already being paid on another network, is finished, or the
    /// idempotency key was used for another item (`409`).
    Conflict "conflict",
    /// The body is over the server's limit (`413`).
    TooLarge "too_large",
    /// The request took longer than the server allows (`408`).
    Timeout "timeout",
    /// The body is not declared `application/json` (`415`).
    UnsupportedMediaType "unsupported_media_type",
    /// A failure of the server's own; the client learns only that it happened (`500`).
    Internal "internal",
    /// The database cannot be reached; nothing was changed (`503`, with when to retry).
    DatabaseUnavailable "database_unavailable",
    /// The network or token is not accepted, or the price cannot be paid in it (`400`).
    Unsupported "unsupported",
    /// No exchange rate for a fiat price right now (`503`, with when to retry).
    NoRate "no_rate",
    /// Too many checkouts asked for from one address (`429`, with when to retry).
    TooManyCheckouts "too_many_checkouts",
    /// The gateway is refusing the merchant for now: the widget tells the shopper to wait
    /// rather than showing an error (`503`, with when to retry).
    GatewayRateLimited "gateway_rate_limited",
    /// The gateway blocked the merchant's key for a while, told as
    /// [`ErrorCode::GatewayRateLimited`] is.
    GatewayBlocked "gateway_blocked",
    /// The gateway did not answer (`503`, with when to retry).
    GatewayUnavailable "gateway_unavailable",
    /// The gateway answered with something that is not its API, or not the order asked for
    /// (`502`).
    GatewayError "gateway_error",
    /// A receipt asked for before the checkout is paid (`409`).
    NotPaid "not_paid",
    /// A watched chain cannot be read to look up a claimed transaction (`503`).
    ChainUnavailable "chain_unavailable",
    // Why a claimed transaction was not attached (`params` in brackets, amounts as decimal
    // strings in the order's token); see `PATH_CLAIMS` in the checkout module:
    /// Not a transaction hash (`0x` and 64 hex digits).
    TxHashInvalid "tx_hash_invalid",
    /// No such transaction on any watched chain (`networks`).
    TxNotFound "tx_not_found",
    /// Sent but not mined yet.
    TxNotMined "tx_not_mined",
    /// Mined, but it failed (reverted): nothing moved.
    TxFailed "tx_failed",
    /// On another watched chain than the order's (`network`, `expected`).
    TxWrongChain "tx_wrong_chain",
    /// It sent another token to the order's address (`token`, `symbol`).
    TxWrongToken "tx_wrong_token",
    /// It sent the token elsewhere (`address`).
    TxWrongRecipient "tx_wrong_recipient",
    /// More than the order still asks (`sent`, `asked`, `difference`, `symbol`).
    TxAmountDiffers "tx_amount_differs",
    /// Mined before the order was made.
    TxBeforeOrder "tx_before_order",
    /// Already counted for another order.
    TxCreditedElsewhere "tx_credited_elsewhere",
    /// Its amount is exactly what another open order asks: it pays that order.
    TxPaysAnotherOrder "tx_pays_another_order",
    /// The signature is not by the wallet that sent it (`sender`, `signer`).
    ClaimNotSender "claim_not_sender",
    /// The signature is not a wallet signature (`0x` and 130 hex digits).
    ClaimSignatureInvalid "claim_signature_invalid",
    /// Not a refusal: the claim came without the sender's signature, so it is kept for the
    /// merchant to review, and nothing is credited meanwhile. Answered `202 Accepted`, with the
    /// address that sent the payment and the message that would prove it (`sender`,
    /// `message`): signed by that wallet and claimed again, the payment is attached at once.
    ClaimUnderReview "claim_under_review",
    /// Too many claims, or refund requests, for this checkout for now (`retryAfter` says when
    /// to try again).
    TooManyClaims "too_many_claims",
    // Why a refund request was refused (`params` in brackets); see `PATH_REFUNDS` in the refund
    // module:
    /// No payment the chain showed has this chain, transaction and log: money never reached
    /// the merchant there.
    RefundUnknownPayment "refund_unknown_payment",
    /// Nothing of this payment is the shopper's to ask back (a plain paid order's payment, or
    /// another order's, or all of it refunded already).
    RefundNotRefundable "refund_not_refundable",
    /// More than may be asked back from this payment (`max`, `symbol`).
    RefundTooMuch "refund_too_much",
    /// The signature is not by the wallet that sent the payment, or no signature at all
    /// (`sender`, and `signer` when one was recovered).
    RefundBadSignature "refund_bad_signature",
    /// The destination is not an address (`0x` and 40 hex digits, mixed case only as its EIP-55
    /// checksum), or the email is not one.
    RefundBadDestination "refund_bad_destination",
}

impl ErrorCode {
    /// The code named `name`; [`ErrorCode::Unknown`] for a name this build does not know.
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == name)
            .unwrap_or(Self::Unknown)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Never refused: an unknown name is [`ErrorCode::Unknown`] (what `#[serde(other)]` would do,
/// with the names written once, in [`ErrorCode::as_str`]).
impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
}

/// An error from the merchant server: a stable code, a message for people, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, when retrying later can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// What a client needs to say the error in its own words (see the `Tx*` and `Claim*`
    /// codes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_its_name_on_the_wire_and_back() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(ErrorCode::from_name(code.as_str()), code);
        }
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "two codes share a name");
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')),
            "snake_case: {names:?}"
        );
    }

    #[test]
    fn a_newer_servers_code_reads_as_unknown() {
        let error: ApiError =
            serde_json::from_str(r#"{"code":"coupon_expired","message":"that coupon expired"}"#)
                .unwrap();
        assert_eq!(error.code, ErrorCode::Unknown);
        assert!(!ErrorCode::ALL.contains(&ErrorCode::Unknown));
    }

    #[test]
    fn an_error_is_written_as_before() {
        let error = ApiError {
            code: ErrorCode::TxWrongChain,
            message: "this transaction is on BNB Smart Chain".into(),
            retry_after: None,
            params: [("network", "BNB Smart Chain"), ("expected", "Ethereum")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        };
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"code":"tx_wrong_chain","message":"this transaction is on BNB Smart Chain","params":{"expected":"Ethereum","network":"BNB Smart Chain"}}"#
        );
        let limited = ApiError {
            code: ErrorCode::TooManyCheckouts,
            message: "slow down".into(),
            retry_after: Some(3),
            params: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_string(&limited).unwrap(),
            r#"{"code":"too_many_checkouts","message":"slow down","retryAfter":3}"#
        );
    }
}
