//! Which checkout a payment read from the chain pays, and the amounts that make a plain transfer
//! (which names no order) matchable by its amount alone: the checkouts given as plain data, the
//! rules of [`usdt_checkout_chain::match_payment`] over them. Pure: no I/O, no locks, no clock.

use std::collections::HashMap;

use usdt_checkout_chain::{Candidate, Incoming, forgotten, match_payment};
use usdt_checkout_protocol::ChainId;
use usdt_checkout_protocol::pricing::ask_step;

use crate::domain::{ChainPayment, Checkout, MAX_ORDER_LIFETIME_SECONDS, PaymentTerms};

/// How long after its expiry an order's amount stays reserved, so a late payment still matches.
pub const LATE_MATCH_MS: u64 = 24 * 3600 * 1000;

/// Which of `checkouts` the payment read from `chain` pays, by the matching rules, given what
/// this chain step credited so far (`credited`, by checkout id) and the block a reorg took back
/// from (`fork`), if any, at `now` (Unix ms).
///
/// - The gateway named this transaction for an order: that order's, even one already paid (the
///   watcher may learn of a payment after the gateway's word).
/// - Otherwise what each checkout still needs is counted without the payment itself (read
///   again, it would be matched against an order it had already paid, and misfiled) and without
///   what the reorg forgot (the held copies still have it), with what this step credited; then
///   [`match_payment`] decides: an exact amount, a sender's earlier partial, a late payment, the
///   only open order at the address.
pub fn owner<'a, I>(
    checkouts: I,
    chain: ChainId,
    payment: &ChainPayment,
    credited: &HashMap<String, Vec<ChainPayment>>,
    fork: Option<u64>,
    now: u64,
) -> Option<String>
where
    I: IntoIterator<Item = &'a Checkout>,
    I::IntoIter: Clone,
{
    let checkouts = checkouts.into_iter();
    let named = checkouts.clone().find(|c| {
        c.terms.as_ref().is_some_and(|t| {
            t.chain_id == chain && t.to_address == payment.to && t.token_contract == payment.token
        }) && c.gateway.tx_hashes.contains(&payment.tx_id)
    });
    if let Some(named) = named {
        return Some(named.id.clone());
    }
    let on_chain: Vec<(&Checkout, &PaymentTerms, Vec<&ChainPayment>)> = checkouts
        .filter_map(|c| c.terms.as_ref().map(|t| (c, t)))
        .filter(|(_, t)| t.chain_id == chain)
        .map(|(c, t)| {
            let mut paid: Vec<&ChainPayment> = c
                .chain_payments
                .iter()
                .filter(|p| !p.same_log(payment))
                .filter(|p| fork.is_none_or(|fork| !forgotten(fork, p.block_number)))
                .collect();
            paid.extend(credited.get(&c.id).into_iter().flatten());
            (c, t, paid)
        })
        .collect();
    let candidates: Vec<Candidate> = on_chain
        .iter()
        .map(|(c, t, paid)| Candidate {
            order_no: &t.gateway_order_no,
            token: t.token_contract,
            to: t.to_address,
            remaining: t
                .pay_amount_atomic
                .saturating_sub(paid.iter().map(|p| p.value).sum()),
            expired: now >= t.expires_at,
            finished: c.state.is_final(),
            payers: paid.iter().map(|p| p.from).collect(),
            create_time: c.created_at,
            expire_time: t.expires_at,
        })
        .collect();
    match_payment(&candidates, &Incoming::from(payment)).map(|i| on_chain[i].0.id.clone())
}

/// Since when amounts are awaited, at a moment (see [`amounts_awaited`]): the store reads by
/// the same bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwaitedSince {
    /// An unfinished order's amount while it expires after this: until a day past its expiry
    /// (a late payment still matches it).
    pub expiry: u64,
    /// An amount asked for, with no order attached yet, while its checkout changed after this:
    /// for as long as an order made from it could last and a day more (the gateway may have
    /// made it, its answer lost).
    pub asked: u64,
}

impl AwaitedSince {
    pub fn at(now: u64) -> Self {
        let expiry = now.saturating_sub(LATE_MATCH_MS);
        Self {
            expiry,
            asked: expiry.saturating_sub(MAX_ORDER_LIFETIME_SECONDS * 1000),
        }
    }
}

/// The amounts `checkouts` on `chain` in `symbol` are waiting for at `now`, or asking the
/// gateway for (see [`AwaitedSince`]): a new order's amount must differ (see
/// [`unique_amount`]).
pub fn amounts_awaited<'a>(
    checkouts: impl IntoIterator<Item = &'a Checkout>,
    chain: ChainId,
    symbol: &str,
    now: u64,
) -> Vec<u128> {
    let since = AwaitedSince::at(now);
    checkouts
        .into_iter()
        .filter(|c| !c.state.is_final())
        .filter_map(|c| match (&c.terms, &c.asked) {
            (Some(t), _) => {
                (t.chain_id == chain && t.symbol == symbol && t.expires_at > since.expiry)
                    .then_some(t.pay_amount_atomic)
            }
            (None, Some(a)) => {
                (a.chain_id == chain && a.symbol == symbol && c.updated_at > since.asked)
                    .then_some(a.pay_amount_atomic)
            }
            (None, None) => None,
        })
        .collect()
}

/// The amount an order asks for: the price, raised by the token's [`ask_step`] (the smallest
/// amount asked of a shopper in a token of `decimals`) until none of the `awaited` amounts (see
/// [`amounts_awaited`]) is it, so a plain transfer (which names no order) is matched by its
/// exact amount.
pub fn unique_amount(price: u128, awaited: &[u128], decimals: u8) -> u128 {
    let step = ask_step(decimals);
    let mut amount = price;
    while awaited.contains(&amount) {
        amount += step;
    }
    amount
}

#[cfg(test)]
mod tests {
    use usdt_checkout_chain::PaymentKind;
    use usdt_checkout_protocol::checkout::CheckoutState;
    use usdt_checkout_protocol::{Address, OrderStatus, TxHash};

    use super::*;
    use crate::domain::{Asked, CreatedBy, Price};
    use crate::gateway::{BlockatmV1, Dialect};
    use usdt_checkout_protocol::signature::V1PrivateKey;

    const CHAIN: ChainId = ChainId::LOCAL;
    const NOW: u64 = 1_700_000_000_000;
    const USDT: u128 = 1_000_000;

    fn address(byte: u8) -> Address {
        Address::from_bytes([byte; 20])
    }
    const TOKEN: u8 = 0xaa;
    const SHOP: u8 = 0x55;

    /// A checkout waiting for `amount` at the shop's address, made at `created_at`, for 15 min.
    fn order(id: &str, amount: u128, created_at: u64) -> Checkout {
        let mut c = Checkout::open(
            id.into(),
            CreatedBy::Storefront,
            "Cart".into(),
            Price {
                amount: "10".parse().unwrap(),
                currency: "USD".into(),
            },
        );
        c.created_at = created_at;
        c.updated_at = created_at;
        c.state = CheckoutState::Order(OrderStatus::Waiting);
        c.terms = Some(PaymentTerms {
            chain_id: CHAIN,
            symbol: "USDT".into(),
            token_contract: address(TOKEN),
            decimals: 6,
            amount_atomic: amount,
            gateway_order_no: id.to_uppercase(),
            plat_order_no: format!("plat-{id}"),
            pay_amount_atomic: amount,
            to_address: address(SHOP),
            cashier_url: String::new(),
            expires_at: created_at + 900_000,
            required_confirmations: 12,
        });
        c
    }

    /// A transfer in the transaction whose hash is `tx` 32 times over.
    fn transfer(tx: u8, from: u8, value: u128, block: u64) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([tx; 32]),
            log_index: 0,
            block_number: block,
            block_hash: format!("0x{block:064x}"),
            from: address(from),
            to: address(SHOP),
            token: address(TOKEN),
            value,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: NOW,
        }
    }

    fn owner_of(
        checkouts: &[Checkout],
        payment: &ChainPayment,
        credited: &HashMap<String, Vec<ChainPayment>>,
        fork: Option<u64>,
    ) -> Option<String> {
        owner(checkouts, CHAIN, payment, credited, fork, NOW)
    }

    #[test]
    fn a_transaction_the_gateway_named_is_that_orders() {
        let mut paid = order("co_1", 10 * USDT, NOW - 60_000);
        paid.state = CheckoutState::Order(OrderStatus::Paid);
        // BlockATM's V1 callback, naming the transaction in upper case.
        let body = format!(
            r#"{{"amount":"10","chainId":"31337","orderNo":"CO_1","platOrderNo":"plat-co_1",
                "status":1,"symbol":"USDT","txId":"0X{}","type":1}}"#,
            "AB".repeat(32)
        );
        let key = V1PrivateKey::generate();
        let v1 = BlockatmV1 {
            webhook_key: key.public_key(),
            key,
        };
        let report = v1.webhook(None, &body).unwrap().unwrap();
        paid.gateway = paid
            .gateway
            .merged(report.status, None, report.tx_id.as_ref(), NOW);
        let exact = order("co_2", 10 * USDT, NOW - 30_000);
        let payment = transfer(0xab, 1, 10 * USDT, 100);
        assert_eq!(
            owner_of(&[exact, paid], &payment, &HashMap::new(), None).as_deref(),
            Some("co_1"),
            "named by the gateway (in upper case), even paid, over an open order's exact amount"
        );
    }

    #[test]
    fn a_payment_read_again_is_not_matched_against_the_order_it_paid() {
        let payment = transfer(1, 1, 10 * USDT, 100);
        let mut first = order("co_1", 10 * USDT, NOW - 60_000);
        first.chain_payments = vec![payment.clone()];
        let second = order("co_2", 10 * USDT, NOW - 30_000);
        assert_eq!(
            owner_of(&[second, first], &payment, &HashMap::new(), None).as_deref(),
            Some("co_1"),
            "co_1 still needs it: the same log does not count as paid towards it"
        );
    }

    #[test]
    fn what_a_reorg_forgot_does_not_count() {
        let mut co_1 = order("co_1", 10 * USDT, NOW - 60_000);
        co_1.chain_payments = vec![transfer(1, 1, 10 * USDT, 105)];
        let co_2 = order("co_2", 10 * USDT, NOW - 30_000);
        let again = transfer(2, 2, 10 * USDT, 106);
        let both = [co_1, co_2];
        assert_eq!(
            owner_of(&both, &again, &HashMap::new(), None).as_deref(),
            Some("co_2"),
            "co_1 is paid"
        );
        assert_eq!(
            owner_of(&both, &again, &HashMap::new(), Some(105)).as_deref(),
            Some("co_1"),
            "the reorg took co_1's payment back: the oldest exact order is co_1 again"
        );
    }

    #[test]
    fn an_exact_amount_pays_the_order_asking_it() {
        let co_1 = order("co_1", 10 * USDT, NOW - 60_000);
        let co_2 = order("co_2", 10 * USDT + 1, NOW - 30_000);
        let checkouts = [co_1, co_2];
        let exact = |value| {
            owner_of(
                &checkouts,
                &transfer(1, 1, value, 100),
                &HashMap::new(),
                None,
            )
        };
        assert_eq!(exact(10 * USDT + 1).as_deref(), Some("co_2"));
        assert_eq!(exact(10 * USDT).as_deref(), Some("co_1"));
        assert_eq!(
            exact(7 * USDT),
            None,
            "two open orders: a wrong amount is no one's"
        );
    }

    #[test]
    fn what_this_step_credited_counts() {
        let checkouts = [
            order("co_1", 10 * USDT, NOW - 60_000),
            order("co_2", 10 * USDT, NOW - 30_000),
        ];
        let credited = HashMap::from([("co_1".to_owned(), vec![transfer(1, 1, 10 * USDT, 100)])]);
        assert_eq!(
            owner_of(&checkouts, &transfer(2, 2, 10 * USDT, 100), &credited, None).as_deref(),
            Some("co_2"),
            "co_1 was paid earlier in this step"
        );
    }

    #[test]
    fn a_senders_earlier_partial_takes_the_rest() {
        let mut co_1 = order("co_1", 10 * USDT, NOW - 60_000);
        co_1.chain_payments = vec![transfer(1, 7, 4 * USDT, 100)];
        let co_2 = order("co_2", 20 * USDT, NOW - 30_000);
        let checkouts = [co_1, co_2];
        let rest = transfer(2, 7, 5 * USDT, 101);
        assert_eq!(
            owner_of(&checkouts, &rest, &HashMap::new(), None).as_deref(),
            Some("co_1"),
            "the sender of co_1's first part, not the exact amount of anyone"
        );
        let stranger = transfer(3, 8, 5 * USDT, 101);
        assert_eq!(owner_of(&checkouts, &stranger, &HashMap::new(), None), None);
    }

    #[test]
    fn the_only_open_order_at_the_address_takes_a_wrong_amount() {
        let mut other_chain = order("co_2", 3 * USDT, NOW - 30_000);
        other_chain.terms.as_mut().unwrap().chain_id = ChainId::LOCAL_BNB;
        let mut unordered = order("co_3", 3 * USDT, NOW - 30_000);
        unordered.terms = None;
        let checkouts = [
            order("co_1", 10 * USDT, NOW - 60_000),
            other_chain,
            unordered,
        ];
        assert_eq!(
            owner_of(
                &checkouts,
                &transfer(1, 1, 3 * USDT, 100),
                &HashMap::new(),
                None
            )
            .as_deref(),
            Some("co_1"),
            "checkouts on another chain or without an order are not candidates"
        );
        let mut elsewhere = transfer(2, 1, 3 * USDT, 100);
        elsewhere.to = address(0x66);
        assert_eq!(
            owner_of(&checkouts, &elsewhere, &HashMap::new(), None),
            None
        );
    }

    #[test]
    fn amounts_awaited_are_the_unfinished_orders_and_asks_on_the_chain_and_token() {
        let waiting = order("co_1", 10 * USDT, NOW - 60_000);
        let mut paid = order("co_2", 11 * USDT, NOW - 60_000);
        paid.state = CheckoutState::Order(OrderStatus::Paid);
        let mut expired = order("co_3", 12 * USDT, NOW - 60_000);
        expired.state = CheckoutState::Order(OrderStatus::Expired);
        let mut long_expired = order("co_4", 13 * USDT, NOW - 60_000);
        long_expired.terms.as_mut().unwrap().expires_at = NOW - LATE_MATCH_MS;
        let mut other_token = order("co_5", 14 * USDT, NOW - 60_000);
        other_token.terms.as_mut().unwrap().symbol = "USDC".into();
        let mut other_chain = order("co_6", 15 * USDT, NOW - 60_000);
        other_chain.terms.as_mut().unwrap().chain_id = ChainId::LOCAL_BNB;
        let ask = |id: &str, amount, updated_at| {
            let mut c = order(id, amount, updated_at);
            c.state = CheckoutState::OPEN;
            c.terms = None;
            c.asked = Some(Asked {
                chain_id: CHAIN,
                symbol: "USDT".into(),
                amount_atomic: amount,
                pay_amount_atomic: amount,
            });
            c
        };
        let asking = ask("co_7", 16 * USDT, NOW - 60_000);
        let asked_for = MAX_ORDER_LIFETIME_SECONDS * 1000 + LATE_MATCH_MS;
        let asked_long_ago = ask("co_8", 17 * USDT, NOW - asked_for);
        let mut neither = order("co_9", 18 * USDT, NOW);
        neither.state = CheckoutState::OPEN;
        neither.terms = None;
        let checkouts = [
            waiting,
            paid,
            expired,
            long_expired,
            other_token,
            other_chain,
            asking,
            asked_long_ago,
            neither,
        ];
        assert_eq!(
            amounts_awaited(&checkouts, CHAIN, "USDT", NOW),
            [10 * USDT, 12 * USDT, 16 * USDT],
            "open, expired within a day (late payments), asked for"
        );
        assert_eq!(
            AwaitedSince::at(NOW),
            AwaitedSince {
                expiry: NOW - LATE_MATCH_MS,
                asked: NOW - asked_for
            },
            "the bounds the store reads by"
        );
    }

    #[test]
    fn amounts_awaited_are_never_asked_twice() {
        assert_eq!(unique_amount(10_000_000, &[], 6), 10_000_000);
        assert_eq!(
            unique_amount(10_000_000, &[10_000_000, 10_000_001, 9_999_999], 6),
            10_000_002
        );
        let (ten, step) = (10 * 10u128.pow(18), 10u128.pow(12));
        assert_eq!(
            unique_amount(ten, &[ten], 18),
            ten + step,
            "10.000001 with 18 decimals, not 10.000000000000000001"
        );
    }
}
