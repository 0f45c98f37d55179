//! A signed receipt: what a shopper bought and paid, where and when, signed by the merchant's
//! checkout server with a key of its own (ECDSA P-256, as the gateway's V1 keys), whose public
//! half the server publishes at [`PATH_RECEIPT_KEY`]. Anyone holding the receipt and that key can
//! check that the server issued it and that nothing in it changed.
//!
//! The signature covers the receipt's JSON object in one canonical form: keys sorted, no
//! whitespace (serde_json's `Value` writes objects that way). A receipt file is
//! `{"receipt": {...}, "signature": "<base64 DER>"}`; how it is indented does not matter.
//!
//! A receipt has one signature: its s is the low one (ECDSA's (r, n - s) verifies as well as
//! (r, s), so anyone could otherwise make a second signature of a genuine receipt), written as
//! base64 of its DER exactly. Any other form is refused.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::chain::ChainId;
use crate::checkout::{Price, TransactionView};
use crate::signature::{SignatureError, V1PrivateKey, V1PublicKey};
use crate::tx_hash::TxHash;

/// Where a checkout server publishes its receipts' public key.
pub const PATH_RECEIPT_KEY: &str = "/.well-known/usdt-checkout/receipt-key";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// Who issued it: the merchant's name, as its checkout server is configured.
    pub merchant: String,
    pub checkout_id: String,
    pub item: Option<String>,
    pub description: String,
    /// The price the merchant set.
    pub price: Price,
    /// What was paid, in the token's units.
    pub paid: String,
    /// What the payment fell short of the amount asked, in the token's units, accepted within
    /// the merchant's tolerance (an exchange's withdrawal fee, say). Absent when paid in full:
    /// such a receipt reads as one issued before the field existed, and those verify as ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<String>,
    pub symbol: String,
    pub chain_id: ChainId,
    pub network: String,
    pub token_contract: Address,
    pub to_address: Address,
    pub transactions: Vec<TransactionView>,
    /// `paid`, or `paid_late` (after the order's time ran out).
    pub state: String,
    /// When the server saw it paid, Unix ms.
    pub paid_at: u64,
    /// When this receipt was signed, Unix ms.
    pub issued_at: u64,
}

/// What marks a receipt as a refund's: its `kind` field, which a payment's receipt has not. A
/// payment's receipt is never read as a refund's (it has no `kind`), nor a refund's as a
/// payment's (it has no price nor amount paid), so one signature cannot be passed off as the
/// other kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundKind {
    Refund,
}

/// A signed refund receipt: money given back to whoever paid, on the chain and in the token the
/// payment came in, signed by the same key as the payment's receipts. It names the payment it
/// gives back (its transaction and log) and, when that payment was attached to an order, the
/// order's checkout: the payment's own receipt names both too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundReceipt {
    /// Always `refund`.
    pub kind: RefundKind,
    pub merchant: String,
    pub refund_id: String,
    /// The order whose payment this gives back; absent for a payment that paid no order (on
    /// the wrong network, or a stray transfer).
    pub checkout_id: Option<String>,
    /// What was given back, in the token's units.
    pub refunded: String,
    pub symbol: String,
    pub chain_id: ChainId,
    pub network: String,
    pub token_contract: Address,
    /// Who received it.
    pub destination: Address,
    /// Whether the wallet that paid signed for the destination (otherwise the merchant decided).
    pub proven: bool,
    /// The payment given back: its transaction and log on `chain_id`.
    pub source_tx: TxHash,
    pub source_log_index: u64,
    /// The merchant's transfer that gave it back.
    pub transaction: TransactionView,
    /// When the merchant approved it, and when the chain showed its transfer, Unix ms.
    pub approved_at: u64,
    pub sent_at: u64,
    /// When this receipt was signed, Unix ms.
    pub issued_at: u64,
}

/// A receipt of either kind, as its signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    Payment(Receipt),
    Refund(RefundReceipt),
}

/// A receipt with its signature, as served and saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedReceipt {
    pub receipt: serde_json::Value,
    pub signature: String,
}

/// The receipts' public key, as [`PATH_RECEIPT_KEY`] serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptKey {
    /// `ES256`: ECDSA on P-256 with SHA-256.
    pub algorithm: String,
    /// Base64 SubjectPublicKeyInfo (DER).
    pub public_key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiptError {
    #[error("not a receipt: {0}")]
    Malformed(String),
    #[error("the signature does not match the receipt: {0}")]
    Signature(#[from] SignatureError),
}

/// The bytes a receipt's signature covers.
fn canonical(receipt: &serde_json::Value) -> String {
    // `Value`'s objects are sorted maps (no `preserve_order`): the same text whatever order or
    // whitespace the file has.
    receipt.to_string()
}

impl Receipt {
    pub fn sign(&self, key: &V1PrivateKey) -> SignedReceipt {
        let receipt = serde_json::to_value(self).expect("a receipt serialises");
        let signature = key.sign(&canonical(&receipt));
        SignedReceipt { receipt, signature }
    }
}

impl RefundReceipt {
    pub fn sign(&self, key: &V1PrivateKey) -> SignedReceipt {
        let receipt = serde_json::to_value(self).expect("a receipt serialises");
        let signature = key.sign(&canonical(&receipt));
        SignedReceipt { receipt, signature }
    }
}

impl SignedReceipt {
    /// The payment receipt, once its signature is checked against `key`; a refund's receipt is
    /// no payment's (Malformed).
    pub fn verify(&self, key: &V1PublicKey) -> Result<Receipt, ReceiptError> {
        match self.verify_any(key)? {
            Issued::Payment(receipt) => Ok(receipt),
            Issued::Refund(_) => Err(ReceiptError::Malformed(
                "a refund's receipt, not a payment's".into(),
            )),
        }
    }

    /// The receipt of either kind, once its signature is checked against `key`: a refund's by
    /// its `kind`, a payment's otherwise.
    pub fn verify_any(&self, key: &V1PublicKey) -> Result<Issued, ReceiptError> {
        key.verify_strict(&canonical(&self.receipt), &self.signature)?;
        let malformed = |e: serde_json::Error| ReceiptError::Malformed(e.to_string());
        if self.receipt.get("kind").is_some() {
            serde_json::from_value(self.receipt.clone())
                .map(Issued::Refund)
                .map_err(malformed)
        } else {
            serde_json::from_value(self.receipt.clone())
                .map(Issued::Payment)
                .map_err(malformed)
        }
    }

    /// Reads a receipt file.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        serde_json::from_str(text).map_err(|e| ReceiptError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            merchant: "Shop".into(),
            checkout_id: "co_1".into(),
            item: Some("tee".into()),
            description: "T-shirt".into(),
            price: Price {
                amount: "25.00".into(),
                currency: "USD".into(),
            },
            paid: "24.995001".into(),
            shortfall: None,
            symbol: "USDT".into(),
            chain_id: ChainId(31337),
            network: "Local chain".into(),
            token_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
            to_address: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
                .parse()
                .unwrap(),
            transactions: vec![TransactionView {
                hash: "0xabc".into(),
                explorer_url: None,
                amount: Some("24.995001".into()),
                network: None,
            }],
            state: "paid".into(),
            paid_at: 1_800_000_000_000,
            issued_at: 1_800_000_001_000,
        }
    }

    #[test]
    fn a_signed_receipt_verifies_however_it_is_laid_out_and_not_once_changed() {
        let key = V1PrivateKey::generate();
        let signed = receipt().sign(&key);
        assert_eq!(signed.verify(&key.public_key()), Ok(receipt()));

        let pretty = serde_json::to_string_pretty(&signed).unwrap();
        let read = SignedReceipt::parse(&pretty).unwrap();
        assert_eq!(read.verify(&key.public_key()), Ok(receipt()));

        let changed = pretty.replace("24.995001", "24.995002");
        let read = SignedReceipt::parse(&changed).unwrap();
        assert!(matches!(
            read.verify(&key.public_key()),
            Err(ReceiptError::Signature(_))
        ));
        let other = V1PrivateKey::generate().public_key();
        assert!(signed.verify(&other).is_err(), "another server's key");
    }

    /// A signature's (r, s) and its base64 DER, as a receipt carries it.
    fn decode(signature: &str) -> p256::ecdsa::Signature {
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .unwrap();
        p256::ecdsa::Signature::from_der(&der).unwrap()
    }

    fn encode(signature: &p256::ecdsa::Signature) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    /// ECDSA's malleability: (r, n - s) verifies wherever (r, s) does, so anyone could make a
    /// second, different signature of a genuine receipt. Receipts are signed with the low s and
    /// refuse the high one.
    #[test]
    fn the_high_s_twin_of_a_genuine_signature_is_refused() {
        let key = V1PrivateKey::generate();
        for issued_at in 0..16 {
            let signed = Receipt {
                issued_at,
                ..receipt()
            }
            .sign(&key);
            let signature = decode(&signed.signature);
            assert!(
                signature.normalize_s().is_none(),
                "signed with the high s: {}",
                signed.signature
            );
            let twin =
                p256::ecdsa::Signature::from_scalars(signature.r(), -*signature.s()).unwrap();
            assert!(twin.normalize_s().is_some(), "the twin's s is the high one");
            let twin = SignedReceipt {
                signature: encode(&twin),
                ..signed.clone()
            };
            assert_ne!(twin.signature, signed.signature);
            assert_eq!(
                twin.verify(&key.public_key()),
                Err(ReceiptError::Signature(SignatureError::HighS))
            );
            assert!(signed.verify(&key.public_key()).is_ok());
        }
    }

    /// The shortfall is signed with the rest; a receipt without one (paid in full, or issued
    /// before it existed) is written, signed and read as before.
    #[test]
    fn a_shortfall_is_signed_and_a_receipt_without_one_is_as_before() {
        let key = V1PrivateKey::generate();
        let short = Receipt {
            paid: "24".into(),
            shortfall: Some("1".into()),
            ..receipt()
        };
        let signed = short.sign(&key);
        assert_eq!(signed.receipt["shortfall"], "1");
        assert_eq!(signed.verify(&key.public_key()), Ok(short));
        let text = serde_json::to_string(&signed).unwrap();
        let forged =
            SignedReceipt::parse(&text.replace(r#""shortfall":"1""#, r#""shortfall":"0.5""#))
                .unwrap();
        assert!(forged.verify(&key.public_key()).is_err(), "{text}");

        let full = receipt().sign(&key);
        assert!(full.receipt.get("shortfall").is_none(), "not written");
        // As a server before the field signed it: the same bytes, and it reads back.
        let mut old = serde_json::to_value(receipt()).unwrap();
        old.as_object_mut().unwrap().remove("shortfall");
        let old = SignedReceipt {
            signature: key.sign(&old.to_string()),
            receipt: old,
        };
        assert_eq!(old.verify(&key.public_key()), Ok(receipt()));
    }

    fn refund() -> RefundReceipt {
        RefundReceipt {
            kind: RefundKind::Refund,
            merchant: "Shop".into(),
            refund_id: "rf_1".into(),
            checkout_id: Some("co_1".into()),
            refunded: "0.5".into(),
            symbol: "USDT".into(),
            chain_id: ChainId(31337),
            network: "Local chain".into(),
            token_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
            destination: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
                .parse()
                .unwrap(),
            proven: true,
            source_tx: TxHash::from_bytes([0xab; 32]),
            source_log_index: 2,
            transaction: TransactionView {
                hash: format!("0x{}", "cd".repeat(32)),
                explorer_url: None,
                amount: Some("0.5".into()),
                network: None,
            },
            approved_at: 1_800_000_002_000,
            sent_at: 1_800_000_003_000,
            issued_at: 1_800_000_004_000,
        }
    }

    /// A refund's receipt verifies as one, says it is a refund's, names the payment it gives
    /// back, and is refused once changed or read as a payment's.
    #[test]
    fn a_refund_receipt_verifies_as_a_refund_and_never_as_a_payment() {
        let key = V1PrivateKey::generate();
        let signed = refund().sign(&key);
        assert_eq!(signed.receipt["kind"], "refund");
        assert_eq!(signed.receipt["sourceTx"], format!("0x{}", "ab".repeat(32)));
        assert_eq!(
            signed.verify_any(&key.public_key()),
            Ok(Issued::Refund(refund()))
        );
        assert!(matches!(
            signed.verify(&key.public_key()),
            Err(ReceiptError::Malformed(_))
        ));
        let text = serde_json::to_string_pretty(&signed).unwrap();
        let more = SignedReceipt::parse(&text.replace(r#""0.5""#, r#""5""#)).unwrap();
        assert!(matches!(
            more.verify_any(&key.public_key()),
            Err(ReceiptError::Signature(_))
        ));
        let elsewhere = SignedReceipt::parse(&text.replace("0x7099", "0x7199")).unwrap();
        assert!(elsewhere.verify_any(&key.public_key()).is_err());

        let payment = receipt().sign(&key);
        assert_eq!(
            payment.verify_any(&key.public_key()),
            Ok(Issued::Payment(receipt()))
        );
    }

    /// Another spelling of the same signature (spaces around its base64) is no receipt's either.
    #[test]
    fn only_the_signature_as_written_verifies() {
        let key = V1PrivateKey::generate();
        let signed = receipt().sign(&key);
        let spaced = SignedReceipt {
            signature: format!(" {}\n", signed.signature),
            ..signed.clone()
        };
        assert_eq!(
            spaced.verify(&key.public_key()),
            Err(ReceiptError::Signature(SignatureError::NotCanonical))
        );
    }
}
