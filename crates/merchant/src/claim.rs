//! "I already paid": a shopper names the transaction that pays their checkout, when the gateway
//! could not match it (part of an amount while other orders wait at the same address, say). The
//! server reads the transaction on every watched chain and attaches it, or says precisely why
//! not. What is decided is here, pure: [`judge`] over what the chains answered, and how often a
//! checkout may ask ([`CLAIMS_PER_MINUTE`]). The reads and the write are the handler's; whether the
//! transfer already counts for another checkout is the store's, under its lock.
//!
//! Only a transfer the chain shows into the checkout's own address, in its token, on its chain,
//! mined since the checkout was made and no more than it still asks is attached: the money is
//! then in the merchant's address, and the checkout is the only one it can be for by the
//! shopper's word. Anything else stays unmatched for the merchant, with its reason said.

use usdt_checkout_chain::{ChainPayment, TxLookup};
use usdt_checkout_protocol::{Address, ChainId, TxHash};

use crate::domain::{PaymentTerms, mined_since};

/// Why a claimed transaction is not attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No watched chain knows it.
    NotFound,
    /// Sent, not mined yet.
    NotMined,
    /// Mined and reverted: nothing moved.
    Failed,
    /// It is on another watched chain than the order's.
    WrongChain(ChainId),
    /// It sent another token (or none) to the order's address.
    WrongToken,
    /// It sent the order's token somewhere else.
    WrongRecipient(Address),
    /// It sent more than the order still asks.
    AmountDiffers { sent: u128, asked: u128 },
    /// It was mined before the order was made.
    BeforeOrder,
}

/// The payment in a claimed transaction that pays the checkout with `terms`, made at
/// `created_at` and still asking `remaining`, given what each watched chain knows of the
/// transaction; or why there is none. A payment among those `attached` to the checkout already
/// is its own: it is found again, whatever is left to pay.
pub fn judge(
    terms: &PaymentTerms,
    created_at: u64,
    remaining: u128,
    attached: &[ChainPayment],
    found: &[(ChainId, TxLookup)],
) -> Result<ChainPayment, Refusal> {
    let on_own = found
        .iter()
        .find(|(chain, _)| *chain == terms.chain_id)
        .map(|(_, lookup)| lookup);
    match on_own {
        Some(TxLookup::Pending) => return Err(Refusal::NotMined),
        Some(TxLookup::Failed) => return Err(Refusal::Failed),
        Some(TxLookup::Mined(payments)) => {
            return pays(terms, created_at, remaining, attached, payments);
        }
        Some(TxLookup::Unknown) | None => {}
    }
    found
        .iter()
        .find(|(_, lookup)| *lookup != TxLookup::Unknown)
        .map_or(Err(Refusal::NotFound), |(chain, _)| {
            Err(Refusal::WrongChain(*chain))
        })
}

fn pays(
    terms: &PaymentTerms,
    created_at: u64,
    remaining: u128,
    attached: &[ChainPayment],
    payments: &[ChainPayment],
) -> Result<ChainPayment, Refusal> {
    let here = |p: &&ChainPayment| p.to == terms.to_address;
    let ours = |p: &&ChainPayment| p.token == terms.token_contract;
    let Some(payment) = payments.iter().find(|p| here(p) && ours(p)) else {
        return Err(match payments.iter().find(ours) {
            Some(elsewhere) => Refusal::WrongRecipient(elsewhere.to),
            None => Refusal::WrongToken,
        });
    };
    if attached.iter().any(|p| p.same_log(payment)) {
        return Ok(payment.clone());
    }
    if !mined_since(payment.timestamp_ms, created_at) {
        return Err(Refusal::BeforeOrder);
    }
    if payment.value > remaining {
        return Err(Refusal::AmountDiffers {
            sent: payment.value,
            asked: remaining,
        });
    }
    Ok(payment.clone())
}

/// How many claims one checkout may make a minute: enough for a shopper's typos, few enough
/// that nobody drives the chain reads through one checkout.
pub const CLAIMS_PER_MINUTE: usize = 5;

/// The transaction hash a shopper pasted, whatever spaces came with it; none when it is not
/// one (`tx_hash_invalid`).
pub fn parse_tx_hash(text: &str) -> Option<TxHash> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use usdt_checkout_chain::PaymentKind;

    use super::*;

    const ORDER_CHAIN: ChainId = ChainId(31337);
    const OTHER_CHAIN: ChainId = ChainId(31338);
    const CREATED: u64 = 1_800_000_000_500;

    fn address(byte: u8) -> Address {
        Address::from_bytes([byte; 20])
    }

    fn terms() -> PaymentTerms {
        PaymentTerms {
            chain_id: ORDER_CHAIN,
            symbol: "USDT".into(),
            token_contract: address(0xaa),
            decimals: 6,
            amount_atomic: 24_995_001,
            gateway_order_no: "co_1".into(),
            plat_order_no: "8210000001".into(),
            pay_amount_atomic: 24_995_001,
            to_address: address(0x55),
            cashier_url: String::new(),
            expires_at: CREATED + 900_000,
            required_confirmations: 2,
        }
    }

    fn transfer(token: u8, to: u8, value: u128, at: u64) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([0xab; 32]),
            log_index: 0,
            block_number: 7,
            block_hash: "0x07".into(),
            from: address(0x11),
            to: address(to),
            token: address(token),
            value,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: at,
        }
    }

    fn mined(payments: Vec<ChainPayment>) -> Vec<(ChainId, TxLookup)> {
        vec![
            (ORDER_CHAIN, TxLookup::Mined(payments)),
            (OTHER_CHAIN, TxLookup::Unknown),
        ]
    }

    fn judged(found: &[(ChainId, TxLookup)]) -> Result<ChainPayment, Refusal> {
        judge(&terms(), CREATED, 24_995_001, &[], found)
    }

    #[test]
    fn a_transfer_of_the_token_to_the_address_since_the_order_is_attached() {
        let part = transfer(0xaa, 0x55, 5_000_000, CREATED + 10_000);
        assert_eq!(judged(&mined(vec![part.clone()])), Ok(part));
        // The block's second may be the order's own.
        let same_second = transfer(0xaa, 0x55, 24_995_001, 1_800_000_000_000);
        assert_eq!(judged(&mined(vec![same_second.clone()])), Ok(same_second));
    }

    #[test]
    fn each_reason_is_told_precisely() {
        let at = CREATED + 10_000;
        let cases = [
            (
                mined(vec![transfer(0xbb, 0x55, 5, at)]),
                Refusal::WrongToken,
            ),
            (mined(vec![]), Refusal::WrongToken),
            (
                mined(vec![transfer(0xaa, 0x66, 5, at)]),
                Refusal::WrongRecipient(address(0x66)),
            ),
            (
                mined(vec![transfer(0xaa, 0x55, 30_000_000, at)]),
                Refusal::AmountDiffers {
                    sent: 30_000_000,
                    asked: 24_995_001,
                },
            ),
            (
                mined(vec![transfer(0xaa, 0x55, 5, CREATED - 1_000)]),
                Refusal::BeforeOrder,
            ),
            (vec![(ORDER_CHAIN, TxLookup::Pending)], Refusal::NotMined),
            (vec![(ORDER_CHAIN, TxLookup::Failed)], Refusal::Failed),
            (
                vec![
                    (ORDER_CHAIN, TxLookup::Unknown),
                    (OTHER_CHAIN, TxLookup::Mined(vec![])),
                ],
                Refusal::WrongChain(OTHER_CHAIN),
            ),
            (
                vec![
                    (ORDER_CHAIN, TxLookup::Unknown),
                    (OTHER_CHAIN, TxLookup::Unknown),
                ],
                Refusal::NotFound,
            ),
        ];
        for (found, refusal) in cases {
            assert_eq!(judged(&found), Err(refusal.clone()), "{found:?}");
        }
    }

    #[test]
    fn a_payment_already_counted_for_the_checkout_is_found_again() {
        // Paid in full and confirming: nothing is left to pay, and the shopper pastes the hash.
        let paid = transfer(0xaa, 0x55, 24_995_001, CREATED + 10_000);
        let found = mined(vec![paid.clone()]);
        assert_eq!(
            judge(&terms(), CREATED, 0, std::slice::from_ref(&paid), &found),
            Ok(paid.clone())
        );
        assert!(
            matches!(
                judge(&terms(), CREATED, 0, &[], &found),
                Err(Refusal::AmountDiffers { .. })
            ),
            "not the checkout's own: more than it asks"
        );
    }

    #[test]
    fn the_right_transfer_is_found_among_others_in_one_transaction() {
        let at = CREATED + 10_000;
        let fee = transfer(0xaa, 0x66, 1, at);
        let ours = ChainPayment {
            log_index: 3,
            ..transfer(0xaa, 0x55, 5, at)
        };
        assert_eq!(judged(&mined(vec![fee, ours.clone()])), Ok(ours));
    }

    #[test]
    fn a_hash_is_0x_and_64_hex_digits() {
        let hash = format!("0x{}", "Ab".repeat(32));
        assert_eq!(
            parse_tx_hash(&format!(" {hash} ")).map(|h| h.to_string()),
            Some(hash.to_ascii_lowercase())
        );
        for bad in [
            "",
            "0x",
            "abab",
            &format!("0x{}", "g".repeat(64)),
            &"0x1".repeat(30),
        ] {
            assert_eq!(parse_tx_hash(bad), None, "{bad}");
        }
    }
}
