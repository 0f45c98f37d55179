//! Recognising the merchant's refund transfer on chain, pure. An approved refund is paid by the
//! merchant from their own wallet (the server holds no key that moves money); the chain then
//! shows it, to the watcher as it follows the refund's destination ([`assign`]), or when the
//! merchant pastes its hash ([`judge`]). Either way one rule decides: that token, to that
//! address, exactly that amount, on the refund's chain, mined after the approval. A transfer
//! that differs in any of these is not the refund: a smaller one would mark it sent while the
//! person is owed the rest, a larger or earlier one is some other movement of money.
//!
//! "After the approval" is told by block numbers, not by clocks: a block's time is its node's
//! clock, which may be seconds off the server's, so a transfer paid at once after approving
//! could bear a time before it and be missed. The chain's head as its watcher had read it when
//! the refund was approved was mined before; a block after it may hold the refund's transfer.

use usdt_checkout_chain::{ChainPayment, TxLookup};
use usdt_checkout_protocol::{Address, ChainId};

use crate::domain::mined_since;

/// An approved refund waiting for its transfer: what the chain must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaited {
    pub id: String,
    pub chain_id: ChainId,
    pub token: Address,
    pub destination: Address,
    pub amount_atomic: u128,
    /// When it was approved, Unix ms: who was approved first is paid first.
    pub approved_at: u64,
    /// The chain's head block as its watcher had read it at the approval: mined by then, no
    /// transfer in it or before can be the refund's payment. None when no watcher had read the
    /// chain yet (or the refund was approved before this was kept): the block's time is then
    /// compared with the approval's, to the second.
    pub approved_block: Option<u64>,
    /// The wallets whose transfer may pay it (the chain's `refund_wallets`); empty: any. Set,
    /// a stranger's transfer of exactly the amount to the address cannot close the refund.
    pub senders: Vec<Address>,
}

impl Awaited {
    /// The same refund, paid only by a transfer from one of `wallets` (none named: any).
    pub fn sent_from(self, wallets: &[Address]) -> Self {
        Self {
            senders: wallets.to_vec(),
            ..self
        }
    }

    /// Whether `payment`, read on `chain`, is this refund's transfer.
    pub fn paid_by(&self, chain: ChainId, payment: &ChainPayment) -> bool {
        chain == self.chain_id
            && payment.token == self.token
            && payment.to == self.destination
            && payment.value == self.amount_atomic
            && self.mined_after_approval(payment)
            && self.sent_by_merchant(payment)
    }

    /// Whether `payment` came from a wallet allowed to pay refunds.
    fn sent_by_merchant(&self, payment: &ChainPayment) -> bool {
        self.senders.is_empty() || self.senders.contains(&payment.from)
    }

    /// Whether `payment` was mined after this refund's approval: in a block past the head read
    /// then, or without one, in a block timed no earlier than the approval's second.
    fn mined_after_approval(&self, payment: &ChainPayment) -> bool {
        match self.approved_block {
            Some(head) => payment.block_number > head,
            None => mined_since(payment.timestamp_ms, self.approved_at),
        }
    }
}

/// Which of the transfers read on `chain` pays which awaited refund: each refund takes at most
/// one transfer and each transfer pays at most one refund, the refunds approved first served
/// first (two refunds of the same amount to the same address are paid by two transfers). A
/// transfer already attached to a refund is left out by the caller (the store refuses it too).
pub fn assign(
    awaited: &[Awaited],
    chain: ChainId,
    payments: &[ChainPayment],
) -> Vec<(String, ChainPayment)> {
    let mut waiting: Vec<&Awaited> = awaited.iter().filter(|a| a.chain_id == chain).collect();
    waiting.sort_by(|a, b| (a.approved_at, &a.id).cmp(&(b.approved_at, &b.id)));
    let mut paid = vec![];
    for payment in payments {
        if let Some(at) = waiting.iter().position(|a| a.paid_by(chain, payment)) {
            let refund = waiting.remove(at);
            paid.push((refund.id.clone(), payment.clone()));
        }
    }
    paid
}

/// Why a pasted transaction is not the refund's transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No watched chain knows it.
    NotFound,
    /// Sent, not mined yet.
    NotMined,
    /// Mined and reverted: nothing moved.
    Failed,
    /// It is on another chain than the refund's.
    WrongChain(ChainId),
    /// It moved no refund's token.
    WrongToken,
    /// It sent the token to another address.
    WrongRecipient(Address),
    /// It sent another amount to the refund's address.
    AmountDiffers { sent: u128, owed: u128 },
    /// It was mined before the refund was approved (in or before the block read at approval).
    BeforeApproval,
    /// It was sent from a wallet that is none of the chain's `refund_wallets`.
    NotFromRefundWallet(Address),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => write!(f, "no watched chain knows this transaction"),
            Self::NotMined => write!(f, "the transaction is not mined yet"),
            Self::Failed => write!(f, "the transaction failed: nothing moved"),
            Self::WrongChain(chain) => {
                write!(f, "the transaction is on chain {chain}, not the refund's")
            }
            Self::WrongToken => write!(f, "the transaction moved none of the refund's token"),
            Self::WrongRecipient(to) => {
                write!(f, "the transaction paid {to}, not the refund's address")
            }
            Self::AmountDiffers { .. } => {
                write!(f, "the transaction paid another amount than the refund's")
            }
            Self::BeforeApproval => write!(f, "the transaction was mined before the approval"),
            Self::NotFromRefundWallet(from) => write!(
                f,
                "the transaction was sent from {from}, none of the wallets that pay refunds"
            ),
        }
    }
}

/// The transfer in a pasted transaction that pays `refund`, given what each watched chain
/// knows of the transaction; or why there is none.
pub fn judge(refund: &Awaited, found: &[(ChainId, TxLookup)]) -> Result<ChainPayment, Refusal> {
    let on_own = found
        .iter()
        .find(|(chain, _)| *chain == refund.chain_id)
        .map(|(_, lookup)| lookup);
    match on_own {
        Some(TxLookup::Pending) => return Err(Refusal::NotMined),
        Some(TxLookup::Failed) => return Err(Refusal::Failed),
        Some(TxLookup::Mined(payments)) => return pays(refund, payments),
        Some(TxLookup::Unknown) | None => {}
    }
    found
        .iter()
        .find(|(_, lookup)| *lookup != TxLookup::Unknown)
        .map_or(Err(Refusal::NotFound), |(chain, _)| {
            Err(Refusal::WrongChain(*chain))
        })
}

/// The transfer among a mined transaction's that pays `refund`, or the nearest miss's reason.
fn pays(refund: &Awaited, payments: &[ChainPayment]) -> Result<ChainPayment, Refusal> {
    if let Some(exact) = payments.iter().find(|p| refund.paid_by(refund.chain_id, p)) {
        return Ok(exact.clone());
    }
    let token = |p: &&ChainPayment| p.token == refund.token;
    let there = |p: &&ChainPayment| p.to == refund.destination;
    Err(match payments.iter().filter(token).find(there) {
        Some(p) if p.value != refund.amount_atomic => Refusal::AmountDiffers {
            sent: p.value,
            owed: refund.amount_atomic,
        },
        Some(p) if !refund.sent_by_merchant(p) => Refusal::NotFromRefundWallet(p.from),
        Some(_) => Refusal::BeforeApproval,
        None => match payments.iter().find(token) {
            Some(elsewhere) => Refusal::WrongRecipient(elsewhere.to),
            None => Refusal::WrongToken,
        },
    })
}

#[cfg(test)]
mod tests {
    use usdt_checkout_chain::PaymentKind;
    use usdt_checkout_protocol::TxHash;

    use super::*;

    const CHAIN: ChainId = ChainId(31337);
    const OTHER: ChainId = ChainId(31338);
    const APPROVED: u64 = 1_800_000_000_500;

    fn address(byte: u8) -> Address {
        Address::from_bytes([byte; 20])
    }

    fn refund(id: &str) -> Awaited {
        Awaited {
            id: id.into(),
            chain_id: CHAIN,
            token: address(0xaa),
            destination: address(0x77),
            amount_atomic: 500_000,
            approved_at: APPROVED,
            approved_block: None,
            senders: vec![],
        }
    }

    fn transfer(tx: u8, to: Address, value: u128, at: u64) -> ChainPayment {
        in_block(tx, to, value, at, 9)
    }

    fn in_block(tx: u8, to: Address, value: u128, at: u64, block: u64) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([tx; 32]),
            log_index: 0,
            block_number: block,
            block_hash: "0x09".into(),
            from: address(0x55),
            to,
            token: address(0xaa),
            value,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: at,
        }
    }

    #[test]
    fn only_that_token_to_that_address_of_exactly_that_amount_after_approval_is_the_refund() {
        let due = refund("rf_1");
        let right = transfer(1, address(0x77), 500_000, APPROVED + 2_000);
        assert!(due.paid_by(CHAIN, &right));
        // Mined in the second of the approval: a block's time is in whole seconds.
        assert!(due.paid_by(CHAIN, &transfer(1, address(0x77), 500_000, APPROVED - 500)));
        assert!(!due.paid_by(OTHER, &right), "another chain");
        let misses = [
            transfer(1, address(0x78), 500_000, APPROVED + 2_000),
            transfer(1, address(0x77), 499_999, APPROVED + 2_000),
            transfer(1, address(0x77), 500_001, APPROVED + 2_000),
            transfer(1, address(0x77), 500_000, APPROVED - 1_000),
            ChainPayment {
                token: address(0xab),
                ..right.clone()
            },
        ];
        for miss in &misses {
            assert!(!due.paid_by(CHAIN, miss), "{miss:?}");
        }
    }

    #[test]
    fn with_the_head_read_at_approval_a_later_block_is_after_it_whatever_its_nodes_clock_says() {
        let due = Awaited {
            approved_block: Some(20),
            ..refund("rf_1")
        };
        // Mined at once after approving, by a node whose clock is 3 s behind the server's.
        let skewed = in_block(1, address(0x77), 500_000, APPROVED - 3_000, 21);
        assert!(due.paid_by(CHAIN, &skewed));
        // Timed after the approval by a node ahead, but in a block read before it.
        let read_before = in_block(2, address(0x77), 500_000, APPROVED + 3_000, 20);
        assert!(!due.paid_by(CHAIN, &read_before));
        assert!(!due.paid_by(CHAIN, &in_block(3, address(0x77), 500_000, APPROVED, 7)));
        // The other terms still hold.
        assert!(!due.paid_by(CHAIN, &in_block(4, address(0x77), 499_999, APPROVED, 21)));
        assert!(!due.paid_by(OTHER, &skewed));
        // A pasted hash is judged alike, and the block read before is said as before approval.
        let mined = |p: ChainPayment| vec![(CHAIN, TxLookup::Mined(vec![p]))];
        assert_eq!(judge(&due, &mined(skewed.clone())), Ok(skewed.clone()));
        assert_eq!(
            judge(&due, &mined(read_before)),
            Err(Refusal::BeforeApproval)
        );
        assert_eq!(
            assign(
                std::slice::from_ref(&due),
                CHAIN,
                std::slice::from_ref(&skewed)
            ),
            vec![("rf_1".to_string(), skewed)]
        );
    }

    #[test]
    fn with_refund_wallets_named_only_their_transfers_pay_a_refund() {
        let merchant = address(0x55);
        let due = refund("rf_1").sent_from(&[address(0x44), merchant]);
        let at = APPROVED + 2_000;
        let theirs = transfer(1, address(0x77), 500_000, at);
        assert_eq!(theirs.from, merchant);
        assert!(due.paid_by(CHAIN, &theirs));
        // A stranger's transfer of exactly the amount to the address closes nothing.
        let stranger = ChainPayment {
            from: address(0x99),
            ..theirs.clone()
        };
        assert!(!due.paid_by(CHAIN, &stranger));
        assert!(
            assign(
                std::slice::from_ref(&due),
                CHAIN,
                std::slice::from_ref(&stranger)
            )
            .is_empty()
        );
        let mined = |p: ChainPayment| vec![(CHAIN, TxLookup::Mined(vec![p]))];
        assert_eq!(
            judge(&due, &mined(stranger)),
            Err(Refusal::NotFromRefundWallet(address(0x99)))
        );
        assert_eq!(judge(&due, &mined(theirs.clone())), Ok(theirs));
        // None named: any wallet's.
        assert!(refund("rf_2").paid_by(CHAIN, &transfer(2, address(0x77), 500_000, at)));
    }

    #[test]
    fn each_transfer_pays_one_refund_and_each_refund_takes_one_transfer_first_approved_first() {
        let first = refund("rf_1");
        let second = Awaited {
            id: "rf_2".into(),
            approved_at: APPROVED + 10_000,
            ..refund("rf_2")
        };
        let elsewhere = Awaited {
            chain_id: OTHER,
            ..refund("rf_3")
        };
        let awaited = [second.clone(), elsewhere, first.clone()];
        let one = transfer(1, address(0x77), 500_000, APPROVED + 20_000);
        let two = transfer(2, address(0x77), 500_000, APPROVED + 21_000);
        let short = transfer(3, address(0x77), 400_000, APPROVED + 21_000);
        let paid = assign(&awaited, CHAIN, &[one.clone(), short, two.clone()]);
        assert_eq!(
            paid,
            vec![("rf_1".to_string(), one.clone()), ("rf_2".to_string(), two)]
        );
        let paid = assign(&awaited, CHAIN, std::slice::from_ref(&one));
        assert_eq!(paid, vec![("rf_1".to_string(), one.clone())]);
        // Mined between the two approvals: only the first can be paid by it.
        let early = transfer(4, address(0x77), 500_000, APPROVED + 5_000);
        let paid = assign(&[second], CHAIN, std::slice::from_ref(&early));
        assert!(paid.is_empty());
        assert!(assign(&[first], OTHER, &[one]).is_empty());
    }

    #[test]
    fn a_pasted_hash_is_the_refund_only_when_it_pays_it_exactly_and_says_why_not() {
        let due = refund("rf_1");
        let at = APPROVED + 3_000;
        let right = transfer(1, address(0x77), 500_000, at);
        let mined = |payments: Vec<ChainPayment>| vec![(CHAIN, TxLookup::Mined(payments))];
        // Among a batch's transfers, the one that pays it.
        let batch = vec![transfer(1, address(0x66), 9, at), right.clone()];
        assert_eq!(judge(&due, &mined(batch)), Ok(right));
        assert_eq!(
            judge(&due, &mined(vec![transfer(1, address(0x78), 500_000, at)])),
            Err(Refusal::WrongRecipient(address(0x78)))
        );
        assert_eq!(
            judge(
                &due,
                &mined(vec![transfer(1, address(0x77), 5_000_000, at)])
            ),
            Err(Refusal::AmountDiffers {
                sent: 5_000_000,
                owed: 500_000
            })
        );
        assert_eq!(
            judge(
                &due,
                &mined(vec![transfer(1, address(0x77), 500_000, APPROVED - 1_000)])
            ),
            Err(Refusal::BeforeApproval)
        );
        let other_token = ChainPayment {
            token: address(0xab),
            ..transfer(1, address(0x77), 500_000, at)
        };
        assert_eq!(
            judge(&due, &mined(vec![other_token])),
            Err(Refusal::WrongToken)
        );
        assert_eq!(judge(&due, &mined(vec![])), Err(Refusal::WrongToken));
        assert_eq!(
            judge(&due, &[(CHAIN, TxLookup::Pending)]),
            Err(Refusal::NotMined)
        );
        assert_eq!(
            judge(&due, &[(CHAIN, TxLookup::Failed)]),
            Err(Refusal::Failed)
        );
        assert_eq!(
            judge(
                &due,
                &[(CHAIN, TxLookup::Unknown), (OTHER, TxLookup::Mined(vec![]))]
            ),
            Err(Refusal::WrongChain(OTHER))
        );
        assert_eq!(
            judge(&due, &[(CHAIN, TxLookup::Unknown)]),
            Err(Refusal::NotFound)
        );
    }
}
