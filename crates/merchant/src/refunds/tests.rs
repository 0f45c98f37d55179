use usdt_checkout_chain::PaymentKind;

use super::*;
use crate::domain::{CreatedBy, PaymentTerms, Price};

pub(super) const CHAIN: ChainId = ChainId(31337);
pub(super) const OTHER_CHAIN: ChainId = ChainId(31338);
/// 25 USDT, as asked.
pub(super) const DUE: u128 = 25_000_000;

pub(super) fn order(state: OrderStatus) -> Checkout {
    let mut checkout = Checkout::open(
        "co_1".into(),
        CreatedBy::Storefront,
        "Mug".into(),
        Price {
            amount: "25".parse().unwrap(),
            currency: "USDT".into(),
        },
    );
    checkout.state = CheckoutState::Order(state);
    checkout.terms = Some(PaymentTerms {
        chain_id: CHAIN,
        symbol: "USDT".into(),
        token_contract: Address::from_bytes([0xaa; 20]),
        decimals: 6,
        amount_atomic: DUE,
        gateway_order_no: "co_1-a".into(),
        plat_order_no: "P1".into(),
        pay_amount_atomic: DUE,
        to_address: Address::from_bytes([0x55; 20]),
        cashier_url: String::new(),
        expires_at: checkout.created_at + 900_000,
        required_confirmations: 2,
    });
    checkout
}

pub(super) fn payment(byte: u8, value: u128, block: u64) -> ChainPayment {
    ChainPayment {
        tx_id: TxHash::from_bytes([byte; 32]),
        log_index: 0,
        block_number: block,
        block_hash: format!("0x{block:02x}"),
        from: Address::from_bytes([0x11; 20]),
        to: Address::from_bytes([0x55; 20]),
        token: Address::from_bytes([0xaa; 20]),
        value,
        kind: PaymentKind::Transfer,
        order_no: None,
        timestamp_ms: 0,
    }
}

/// `checkout` with `payments` attached, settled as the chain would: paid, overpaid.
pub(super) fn paid_with(state: OrderStatus, payments: &[ChainPayment]) -> Checkout {
    let mut checkout = order(state);
    checkout.chain_payments = payments.to_vec();
    checkout.paid_atomic = payments.iter().map(|p| p.value).sum();
    checkout.overpaid_atomic = checkout.paid_atomic.saturating_sub(DUE);
    checkout
}

fn refund(of: &ChainPayment, amount: u128, state: RefundState) -> Refund {
    let mut refund = Refund::new(
        Some("co_1".into()),
        CHAIN,
        of,
        amount,
        Address::from_bytes([0x11; 20]),
        Proof::Unproven { email: None },
        None,
        1_000,
    );
    refund.state = state;
    refund
}

#[test]
fn states_move_only_forwards_and_a_decision_is_final() {
    use RefundState as S;
    assert_eq!(transition(S::Requested, Action::Approve), Ok(S::Approved));
    assert_eq!(transition(S::Requested, Action::Refuse), Ok(S::Refused));
    assert_eq!(transition(S::Approved, Action::Send), Ok(S::Sent));
    for (from, action) in [
        (S::Refused, Action::Approve),
        (S::Approved, Action::Approve),
        (S::Approved, Action::Refuse),
        (S::Sent, Action::Refuse),
        (S::Sent, Action::Send),
        (S::Requested, Action::Send),
        (S::Refused, Action::Send),
    ] {
        let refused = transition(from, action).unwrap_err();
        assert_eq!(refused, Illegal { from, action });
    }
    assert_eq!(
        Illegal {
            from: S::Refused,
            action: Action::Approve
        }
        .to_string(),
        "a refund refused cannot be approved"
    );
}

#[test]
fn a_payment_gives_back_at_most_its_value_counting_what_is_approved_or_sent() {
    let paid = payment(1, 30_000_000, 7);
    let refunds = [
        refund(&paid, 4_000_000, RefundState::Sent),
        refund(&paid, 5_000_000, RefundState::Approved),
        // Waiting or refused: nothing is promised.
        refund(&paid, 20_000_000, RefundState::Requested),
        refund(&paid, 20_000_000, RefundState::Refused),
    ];
    assert_eq!(committed(&refunds, None), 9_000_000);
    assert_eq!(refundable(paid.value, &refunds), 21_000_000);
    // Approving the request of 20 fits; with another approved 13 first, it no longer does.
    assert_eq!(check_approval(&refunds[2], paid.value, &refunds), Ok(()));
    let mut more = refunds.to_vec();
    more.push(refund(&paid, 13_000_000, RefundState::Approved));
    assert_eq!(
        check_approval(&refunds[2], paid.value, &more),
        Err(Refusal::TooMuch { max: 8_000_000 })
    );
    // The refund decided is not counted against itself, nor can a refused one be approved.
    let approved = &refunds[1];
    assert!(matches!(
        check_approval(approved, paid.value, &refunds),
        Err(Refusal::Illegal(_))
    ));
    assert!(matches!(
        check_approval(&refunds[3], paid.value, &refunds),
        Err(Refusal::Illegal(_))
    ));
    assert_eq!(refundable(10, &[refund(&paid, 11, RefundState::Sent)]), 0);
}

#[test]
fn an_amount_is_refused_over_the_most_or_when_nothing_may_be_asked() {
    assert_eq!(check_amount(5, 5), Ok(()));
    assert_eq!(check_amount(6, 5), Err(Refusal::TooMuch { max: 5 }));
    assert_eq!(check_amount(1, 0), Err(Refusal::NotRefundable));
}

#[test]
fn a_shopper_may_ask_back_the_excess_of_an_overpaid_order_from_its_newest_payments() {
    let first = payment(1, 20_000_000, 7);
    let second = payment(2, 8_000_000, 9);
    let overpaid = paid_with(OrderStatus::Paid, &[first.clone(), second.clone()]);
    // 3 over the 25: the second payment's.
    let of = |p: &ChainPayment| shopper_refundable(&overpaid, CHAIN, p, Whose::ThisCheckout, &[]);
    assert_eq!(of(&second), 3_000_000);
    assert_eq!(of(&first), 0);
    // 10 over: the newest gives all its 8, the one before the other 2.
    let more = paid_with(
        OrderStatus::PaidLate,
        &[first.clone(), payment(2, 15_000_000, 9)],
    );
    assert_eq!(
        entitlement(&more, CHAIN, &more.chain_payments[1], Whose::ThisCheckout),
        10_000_000
    );
    let much = paid_with(
        OrderStatus::Paid,
        &[first.clone(), payment(3, 27_000_000, 9)],
    );
    assert_eq!(
        entitlement(&much, CHAIN, &much.chain_payments[0], Whose::ThisCheckout),
        0
    );
    let split = paid_with(
        OrderStatus::Paid,
        &[payment(4, 20_000_000, 7), payment(5, 8_000_000, 7)],
    );
    let shares: u128 = split
        .chain_payments
        .iter()
        .map(|p| entitlement(&split, CHAIN, p, Whose::ThisCheckout))
        .sum();
    assert_eq!(shares, 3_000_000, "the excess once, however it is split");
    // What was given back of it already, by the merchant or on an earlier request, is not
    // asked again.
    let given = [refund(&second, 2_000_000, RefundState::Approved)];
    assert_eq!(
        shopper_refundable(&overpaid, CHAIN, &second, Whose::ThisCheckout, &given),
        1_000_000
    );
}

#[test]
fn a_plain_paid_order_or_one_still_waiting_gives_the_shopper_nothing_to_ask() {
    let exact = payment(1, DUE, 7);
    let paid = paid_with(OrderStatus::Paid, std::slice::from_ref(&exact));
    assert_eq!(
        shopper_refundable(&paid, CHAIN, &exact, Whose::ThisCheckout, &[]),
        0
    );
    let part = payment(1, 10_000_000, 7);
    for waiting in [
        OrderStatus::Waiting,
        OrderStatus::PartiallyPaid,
        OrderStatus::Confirming,
    ] {
        let open = paid_with(waiting, std::slice::from_ref(&part));
        assert_eq!(entitlement(&open, CHAIN, &part, Whose::ThisCheckout), 0);
        // A payment on the same chain kept unmatched may yet be claimed for it.
        assert_eq!(entitlement(&open, CHAIN, &part, Whose::SentFor), 0);
    }
}

#[test]
fn all_of_a_payment_into_an_order_that_expired_or_failed_is_the_shoppers_to_ask() {
    let part = payment(1, 10_000_000, 7);
    for over in [OrderStatus::Expired, OrderStatus::Failed] {
        let order = paid_with(over, std::slice::from_ref(&part));
        assert_eq!(
            shopper_refundable(&order, CHAIN, &part, Whose::ThisCheckout, &[]),
            10_000_000
        );
        // Paid after it was over, matched to nothing: all of it too.
        let late = payment(2, DUE, 9);
        assert_eq!(
            shopper_refundable(&order, CHAIN, &late, Whose::SentFor, &[]),
            DUE
        );
    }
}

#[test]
fn a_payment_on_the_wrong_network_or_paid_twice_is_the_shoppers_to_ask_whole() {
    let stray = payment(9, 7_000_000, 3);
    let waiting = order(OrderStatus::Waiting);
    assert_eq!(
        shopper_refundable(&waiting, OTHER_CHAIN, &stray, Whose::SentFor, &[]),
        7_000_000
    );
    let twice = payment(2, DUE, 9);
    let paid = paid_with(OrderStatus::Paid, &[payment(1, DUE, 7)]);
    assert_eq!(
        shopper_refundable(&paid, CHAIN, &twice, Whose::SentFor, &[]),
        DUE
    );
    // Less what was given back, and never more than is left.
    let given = [refund(&twice, 20_000_000, RefundState::Sent)];
    assert_eq!(
        shopper_refundable(&paid, CHAIN, &twice, Whose::SentFor, &given),
        5_000_000
    );
}

#[test]
fn another_orders_payment_or_a_checkout_without_an_order_gives_nothing() {
    let theirs = payment(3, DUE, 7);
    let failed = order(OrderStatus::Failed);
    assert_eq!(entitlement(&failed, CHAIN, &theirs, Whose::Other), 0);
    let mut open = order(OrderStatus::Waiting);
    open.terms = None;
    open.state = CheckoutState::OPEN;
    assert_eq!(entitlement(&open, OTHER_CHAIN, &theirs, Whose::SentFor), 0);
}

#[test]
fn an_approved_refund_awaits_exactly_its_transfer() {
    let source = payment(1, DUE, 7);
    let mut approved = Refund::new(
        None,
        CHAIN,
        &source,
        5_000_000,
        Address::from_bytes([0x22; 20]),
        Proof::Unproven { email: None },
        Some("alice".into()),
        10_000,
    );
    assert_eq!(approved.state, RefundState::Approved);
    let awaited = approved.awaited().unwrap();
    assert_eq!(
        (awaited.token, awaited.destination, awaited.amount_atomic),
        (source.token, Address::from_bytes([0x22; 20]), 5_000_000)
    );
    assert_eq!(awaited.approved_at, 10_000);
    approved.state = RefundState::Sent;
    assert_eq!(approved.awaited(), None);
    assert_eq!(refund(&source, 1, RefundState::Requested).awaited(), None);
}

#[test]
fn a_request_is_proven_by_a_signature_and_an_id_is_new_each_time() {
    let source = payment(1, DUE, 7);
    let signed = Refund::new(
        Some("co_1".into()),
        CHAIN,
        &source,
        1,
        source.from,
        Proof::Signed("0xsig".into()),
        None,
        5,
    );
    assert!(signed.proven() && signed.email.is_none());
    assert_eq!(signed.state, RefundState::Requested);
    assert!(
        signed.id.starts_with("rf_") && signed.id.len() == 27,
        "{}",
        signed.id
    );
    let unproven = refund(&source, 1, RefundState::Requested);
    assert!(!unproven.proven());
    assert_ne!(signed.id, unproven.id);
    assert!(signed.is_of(CHAIN, &source) && !signed.is_of(OTHER_CHAIN, &source));
}

#[test]
fn an_email_is_checked_lightly() {
    for good in ["a@b.co", "first.last+shop@mail.example.org"] {
        assert!(valid_email(good), "{good}");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in [
        "", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.co", "<a@b.co>", "a@b.co\n", &long,
    ] {
        assert!(!valid_email(bad), "{bad:?}");
    }
}

// What still counts toward an order's paid total once money was given back.

/// An order that expired with `first` paid into it (before its expiry), then `late` paid.
fn expired_then_paid_late(first: u128, late: u128) -> Checkout {
    let mut checkout = order(OrderStatus::Expired);
    let expires = checkout.terms.as_ref().unwrap().expires_at;
    let mut before = payment(1, first, 10);
    before.timestamp_ms = expires - 60_000;
    let mut after = payment(2, late, 20);
    after.timestamp_ms = expires + 60_000;
    checkout.chain_payments = vec![before, after];
    checkout
}

fn settle_at_expiry(checkout: &Checkout) -> Checkout {
    let expires = checkout.terms.as_ref().unwrap().expires_at;
    let head = crate::domain::Watched {
        head: 100,
        read_at: expires + 120_000,
    };
    checkout
        .settled(Some(head), expires + 120_000)
        .unwrap()
        .checkout
}

#[test]
fn money_given_back_counts_no_more_toward_what_the_order_was_paid() {
    // 10 paid in time, given back whole; then the other 15 paid late: 15 is what the
    // merchant holds, short of the 25 asked, so the order is not paid.
    let checkout = expired_then_paid_late(10_000_000, DUE - 10_000_000);
    let first = checkout.chain_payments[0].clone();
    let gross = settle_at_expiry(&checkout);
    assert_eq!(gross.paid_atomic, DUE, "without the refund: paid in full");
    let back = [refund(&first, 10_000_000, RefundState::Sent)];
    let net = settle_at_expiry(&counted(&checkout, CHAIN, &back));
    assert_eq!(net.paid_atomic, DUE - 10_000_000);
    assert_eq!(net.remaining_atomic, Some(10_000_000));
    assert_eq!(net.state, CheckoutState::Order(OrderStatus::Expired));
    // Approved and not yet sent is promised: it counts as given back too.
    let approved = [refund(&first, 10_000_000, RefundState::Approved)];
    assert_eq!(
        settle_at_expiry(&counted(&checkout, CHAIN, &approved)).paid_atomic,
        15_000_000
    );
    // Asked or refused gives nothing back.
    for state in [RefundState::Requested, RefundState::Refused] {
        let kept = [refund(&first, 10_000_000, state)];
        assert_eq!(
            settle_at_expiry(&counted(&checkout, CHAIN, &kept)).paid_atomic,
            DUE
        );
    }
}

#[test]
fn paid_late_in_full_after_a_refund_is_paid_late_with_no_excess_to_give_back_again() {
    let checkout = expired_then_paid_late(10_000_000, DUE);
    let first = checkout.chain_payments[0].clone();
    let back = [refund(&first, 10_000_000, RefundState::Sent)];
    let net = counted(&checkout, CHAIN, &back);
    let settled = settle_at_expiry(&net);
    assert_eq!(settled.paid_atomic, DUE);
    assert_eq!(settled.overpaid_atomic, 0, "the 10 went back already");
    // The payments are the order's still, all of them, the refunded one at what is left.
    assert_eq!(net.chain_payments.len(), 2);
    assert_eq!(net.chain_payments[0].value, 0);
    assert_eq!(net.chain_payments[1].value, DUE);
}

#[test]
fn only_refunds_of_its_own_payments_on_its_chain_count_and_never_beyond_a_payment() {
    let mut checkout = expired_then_paid_late(10_000_000, DUE);
    checkout.gateway.paid_atomic = DUE + 10_000_000;
    let first = checkout.chain_payments[0].clone();
    let elsewhere = payment(9, 10_000_000, 5);
    let on_other = Refund {
        chain_id: OTHER_CHAIN,
        ..refund(&first, 10_000_000, RefundState::Sent)
    };
    let unrelated = [refund(&elsewhere, 10_000_000, RefundState::Sent), on_other];
    assert_eq!(counted(&checkout, CHAIN, &unrelated), checkout);
    // A (corrupt) refund beyond its payment takes that payment to zero, no further.
    let beyond = [refund(&first, 99_000_000, RefundState::Sent)];
    let net = counted(&checkout, CHAIN, &beyond);
    assert_eq!(net.chain_payments[0].value, 0);
    assert_eq!(net.chain_payments[1].value, DUE);
    assert_eq!(net.gateway.paid_atomic, DUE, "the gateway counted it too");
}

#[test]
fn an_excess_already_given_back_of_an_earlier_payment_is_not_asked_back_of_a_later_one() {
    // Expired with 10 paid, the 10 given back, then the full 25 paid late: paid late, with
    // nothing over once the refund is taken out (as the order is settled).
    let mut checkout = expired_then_paid_late(10_000_000, DUE);
    let first = checkout.chain_payments[0].clone();
    let late = checkout.chain_payments[1].clone();
    let back = [refund(&first, 10_000_000, RefundState::Sent)];
    let settled = settle_at_expiry(&counted(&checkout, CHAIN, &back));
    checkout.state = CheckoutState::Order(OrderStatus::PaidLate);
    checkout.paid_atomic = settled.paid_atomic;
    checkout.overpaid_atomic = settled.overpaid_atomic;
    assert_eq!(
        shopper_refundable(&checkout, CHAIN, &late, Whose::ThisCheckout, &[]),
        0
    );
    // Counted gross, the 10 would be askable a second time, of the late payment.
    checkout.overpaid_atomic = 10_000_000;
    assert_eq!(
        shopper_refundable(&checkout, CHAIN, &late, Whose::ThisCheckout, &[]),
        10_000_000
    );
    // An overpaid order's excess given back: nothing more to ask, and it is still offered
    // (its entitlement stays, so the shopper sees the refund's state).
    let over = payment(3, DUE + 2_000_000, 30);
    let mut paid = paid_with(OrderStatus::Paid, std::slice::from_ref(&over));
    let back = [refund(&over, 2_000_000, RefundState::Approved)];
    paid.overpaid_atomic = 0;
    assert_eq!(
        shopper_refundable(&paid, CHAIN, &over, Whose::ThisCheckout, &back),
        0
    );
    assert_eq!(
        entitlement(&paid, CHAIN, &over, Whose::ThisCheckout),
        2_000_000
    );
}

#[test]
fn more_than_a_waiting_order_asks_matched_to_nothing_is_its_senders_to_ask_back_with_proof() {
    // Many orders wait at one receiving address; a payment of more than this one's amount
    // matched none of them (which order it overpays, its amount cannot say).
    let over = payment(4, DUE + 531_000, 12);
    for state in [OrderStatus::Waiting, OrderStatus::Expired] {
        let waiting = order(state);
        assert!(overpaid_unmatched(&waiting, CHAIN, &over), "{state:?}");
        assert_eq!(
            shopper_refundable(&waiting, CHAIN, &over, Whose::SentFor, &[]),
            DUE + 531_000,
            "{state:?}"
        );
    }
    let waiting = order(OrderStatus::Waiting);
    // No more than it asks: it may yet be claimed for the order, and is not offered so.
    let claimable = payment(5, DUE, 12);
    assert!(!overpaid_unmatched(&waiting, CHAIN, &claimable));
    assert_eq!(entitlement(&waiting, CHAIN, &claimable, Whose::SentFor), 0);
    // Something paid the order already: a later payment is tied by its wallet, or not at all.
    let started = paid_with(
        OrderStatus::PartiallyPaid,
        std::slice::from_ref(&payment(6, 1_000_000, 10)),
    );
    assert!(!overpaid_unmatched(&started, CHAIN, &over));
    // On another chain it is the wrong network's, said by `tied`.
    assert!(!overpaid_unmatched(&waiting, OTHER_CHAIN, &over));
    // Mined once the order had expired: no payment of this order's.
    let after = ChainPayment {
        timestamp_ms: waiting.terms.as_ref().unwrap().expires_at,
        ..over.clone()
    };
    assert!(!overpaid_unmatched(&waiting, CHAIN, &after));
}
