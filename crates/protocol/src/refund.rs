//! Refunds as the shopper's side of the API speaks of them: what may be asked back, the request,
//! each request's state, and the message a paying wallet signs to prove the request is its own.
//! A refund is always against one chain payment (its source), paid on that payment's chain in
//! that payment's token. Kept apart from the status poll's types: a widget that never opens the
//! refund screens carries none of it.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::chain::ChainId;

/// `GET {PATH_CHECKOUTS}/{id}/refunds` answers a [`RefundsView`]; `POST` with a [`RefundAsk`]
/// answers `201` and the request's [`RefundView`] (the same request again, by its signature,
/// answers it as it is), or an `ApiError` whose code is one of the `Refund*` codes.
pub const PATH_REFUNDS: &str = "refunds";

/// Where a refund is. `requested` (by the shopper) becomes `approved` (by the merchant, who then
/// pays it from their own wallet) or `refused` (with a reason said to the shopper); `approved`
/// becomes `sent` once the transfer is seen on chain. A refund the merchant starts is `approved`
/// from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefundState {
    Requested,
    Approved,
    Sent,
    Refused,
}

impl RefundState {
    pub const ALL: [RefundState; 4] = [
        RefundState::Requested,
        RefundState::Approved,
        RefundState::Sent,
        RefundState::Refused,
    ];

    /// Its name on the wire and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Sent => "sent",
            Self::Refused => "refused",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether its amount is no longer the payment's to give back: approved (to be paid) or
    /// sent. A request waiting for the merchant reserves nothing.
    pub const fn commits_money(self) -> bool {
        matches!(self, Self::Approved | Self::Sent)
    }
}

impl Serialize for RefundState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RefundState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_name(&name).ok_or_else(|| {
            serde::de::Error::invalid_value(serde::de::Unexpected::Str(&name), &"a refund state")
        })
    }
}

/// What a wallet signs to ask for a refund of the payment in transaction `source_tx`
/// (lower-case `0x` and 64 hex digits) on chain `chain_id`, made for checkout `checkout_id`:
/// `amount` (a decimal, as the API writes it) of `symbol`, to `destination`. Each of them is in
/// the text, so a signature asks for exactly this refund and nothing else; signed for one
/// checkout, payment, amount or address, it proves nothing for another.
pub fn refund_message(
    checkout_id: &str,
    source_tx: &str,
    chain_id: ChainId,
    amount: &str,
    symbol: &str,
    destination: &Address,
) -> String {
    format!(
        "I ask for a refund of {amount} {symbol} to {destination}, from the payment I sent in \
         transaction {source_tx} on chain {chain_id} for checkout {checkout_id}.\n\n\
         Signing this proves the payment is mine. It moves no money."
    )
}

/// `signature` (as [`crate::wallet_proof::signer`] reads it) in one spelling only: r, the lower
/// of the two s that verify, and v as 27 or 28, in lower-case hex. The same signature written
/// otherwise (upper case, v as 0 or 1, or its twin of high s, which recovers the same signer)
/// is then the same text, so a replayed request is found as the one it repeats.
#[cfg(feature = "wallet-proof")]
pub fn canonical_signature(signature: &str) -> Result<String, crate::wallet_proof::ProofError> {
    use crate::wallet_proof::ProofError;
    let digits = signature
        .trim()
        .strip_prefix("0x")
        .ok_or(ProofError::Malformed)?;
    let bytes = crate::hex::decode(digits).ok_or(ProofError::Malformed)?;
    let signature = alloy_primitives::Signature::try_from(bytes.as_slice())
        .map_err(|_| ProofError::Malformed)?;
    Ok(format!(
        "0x{}",
        crate::hex::encode(&signature.normalized_s().as_bytes())
    ))
}

/// A shopper's request for a refund. With `signature` (by the payment's sender, over
/// [`refund_message`]), it is proven; without, it is kept as unproven for the merchant to decide
/// (a payment sent from an exchange, whose hot wallet no shopper can sign for), with an email to
/// be reached at, if given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundAsk {
    pub chain_id: ChainId,
    pub source_tx: String,
    pub source_log_index: u64,
    /// A decimal in the payment's token (`"5"`, `"5.25"`).
    pub amount: String,
    /// Checked: EIP-55 mixed case must be its checksum.
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Everything the widget's refund screens show: what may be asked back, and the requests made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundsView {
    pub refundable: Vec<RefundableView>,
    pub refunds: Vec<RefundView>,
}

/// A payment the shopper may ask to have given back, up to `max`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundableView {
    pub chain_id: ChainId,
    pub network: String,
    pub symbol: String,
    pub decimals: u8,
    pub source_tx: String,
    pub source_log_index: u64,
    /// The address that sent it: the one whose signature proves a request.
    pub from: Address,
    /// A decimal in the token.
    pub max: String,
    /// The [`refund_message`] for all of `max` to `from`, the request a wallet signs by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One refund, as its shopper sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub id: String,
    pub state: RefundState,
    /// A decimal in the token.
    pub amount: String,
    pub symbol: String,
    pub network: String,
    pub chain_id: ChainId,
    pub destination: Address,
    /// Asked with the paying wallet's signature.
    pub proven: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_tx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explorer_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u32>,
    /// Why the merchant refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_plain_names_on_the_wire_and_in_the_database() {
        for state in RefundState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(serde_json::from_str::<RefundState>(&json).unwrap(), state);
        }
        assert!(serde_json::from_str::<RefundState>("\"paid\"").is_err());
        assert!(RefundState::Approved.commits_money() && RefundState::Sent.commits_money());
        assert!(!RefundState::Requested.commits_money() && !RefundState::Refused.commits_money());
    }

    #[test]
    fn the_message_names_every_part_of_the_request() {
        let to: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .unwrap();
        let tx = format!("0x{}", "ab".repeat(32));
        let message = refund_message("co_1", &tx, ChainId(31337), "5.25", "USDT", &to);
        for part in ["co_1", tx.as_str(), "31337", "5.25 USDT", &to.to_string()] {
            assert!(message.contains(part), "{part} in {message}");
        }
        let other = refund_message("co_1", &tx, ChainId(31337), "5.26", "USDT", &to);
        assert_ne!(message, other);
    }

    #[cfg(feature = "wallet-proof")]
    #[test]
    fn a_signature_written_otherwise_is_the_same_text() {
        // r = 1, s = 2, v = 27: a well-formed signature; its twin has s' = n - s and v flipped.
        let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        let r = format!("{:064x}", 1);
        let s = format!("{:064x}", 2);
        let canonical = format!("0x{r}{s}1b");
        assert_eq!(canonical_signature(&canonical).unwrap(), canonical);
        assert_eq!(
            canonical_signature(&format!("0x{r}{s}00")).unwrap(),
            canonical
        );
        assert_eq!(
            canonical_signature(&canonical.to_uppercase().replacen("0X", "0x", 1)).unwrap(),
            canonical
        );
        // n - 2, computed on the last byte: n ends in 0x41.
        let high_s = format!("{}3f", &n[..62]);
        assert_eq!(
            canonical_signature(&format!("0x{r}{high_s}1c")).unwrap(),
            canonical
        );
        assert!(canonical_signature("0x1234").is_err());
    }

    #[test]
    fn an_ask_reads_as_the_widget_writes_it() {
        let ask: RefundAsk = serde_json::from_str(
            r#"{"chainId":31337,"sourceTx":"0xab","sourceLogIndex":2,"amount":"5","destination":"0x00"}"#,
        )
        .unwrap();
        assert_eq!(ask.source_log_index, 2);
        assert_eq!(ask.signature, None);
        assert!(
            serde_json::from_str::<RefundAsk>(
                r#"{"chainId":1,"sourceTx":"0x","sourceLogIndex":0,"amount":"5","destination":"0x","proven":true}"#
            )
            .is_err(),
            "unknown fields are refused"
        );
    }
}
