//! A token payment as read from the chain, and how deep it is.

use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::{Address, Assessment, OrderTerms, PaymentObservation, TxHash, assess};

/// How a payment reached the receiving address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A plain ERC-20 transfer, matched to its order by amount.
    Transfer,
    /// `deposit(token, amount, orderNo)` into a receiving contract, which names its order.
    Deposit,
}

/// A token payment into a receiving address, as read from the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPayment {
    pub tx_id: TxHash,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: String,
    pub from: Address,
    pub to: Address,
    pub token: Address,
    pub value: u128,
    pub kind: PaymentKind,
    /// The order a deposit names.
    pub order_no: Option<String>,
    /// The block's time, Unix milliseconds.
    pub timestamp_ms: u64,
}

impl ChainPayment {
    /// One log is one payment, however often it is read.
    pub fn same_log(&self, other: &Self) -> bool {
        self.tx_id == other.tx_id && self.log_index == other.log_index
    }
}

/// An order's state from the payments the chain shows into it, with the chain's head at `head`:
/// the protocol's status rules over these payments' amounts, depths and block times.
pub fn assess_payments(
    terms: &OrderTerms,
    payments: &[ChainPayment],
    head: u64,
    now_ms: u64,
) -> Assessment {
    let observed: Vec<PaymentObservation> = payments
        .iter()
        .map(|p| PaymentObservation {
            atomic_units: p.value,
            confirmations: confirmations(head, p.block_number),
            seen_at_ms: p.timestamp_ms,
        })
        .collect();
    assess(terms, &observed, now_ms)
}

/// Blocks on top of a payment's block, its own included; 0 while the head is below it.
pub fn confirmations(head: u64, block: u64) -> u32 {
    if head < block {
        0
    } else {
        u32::try_from((head - block).saturating_add(1)).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations_count_the_payments_own_block() {
        assert_eq!(confirmations(10, 10), 1);
        assert_eq!(confirmations(11, 10), 2);
        assert_eq!(confirmations(9, 10), 0);
        assert_eq!(confirmations(u64::MAX, 0), u32::MAX);
    }

    fn payment(kind: PaymentKind) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([1; 32]),
            log_index: 3,
            block_number: 7,
            block_hash: "0x02".into(),
            from: Address::from_bytes([1; 20]),
            to: Address::from_bytes([2; 20]),
            token: Address::from_bytes([3; 20]),
            value: 10,
            kind,
            order_no: None,
            timestamp_ms: 1_000,
        }
    }

    #[test]
    fn a_payment_keeps_the_json_shape_ledgers_store() {
        let json = serde_json::to_value(payment(PaymentKind::Deposit)).unwrap();
        assert_eq!(json["kind"], "deposit");
        assert_eq!(json["tx_id"], format!("0x{}", "01".repeat(32)));
        assert_eq!(json["timestamp_ms"], 1_000);
        assert_eq!(
            serde_json::to_value(PaymentKind::Transfer).unwrap(),
            "transfer"
        );
        let back: ChainPayment = serde_json::from_value(json).unwrap();
        assert_eq!(back, payment(PaymentKind::Deposit));
    }

    #[test]
    fn one_log_is_one_payment() {
        let a = payment(PaymentKind::Transfer);
        let reread = ChainPayment {
            block_hash: "0x03".into(),
            ..a.clone()
        };
        assert!(a.same_log(&reread));
        let next = ChainPayment {
            log_index: 4,
            ..a.clone()
        };
        assert!(!a.same_log(&next));
    }
}
