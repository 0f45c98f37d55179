//! The checkout's pure rules, tested.

use super::*;

use GatewayStatus::{Cancelled, Pending, Success};
use OrderStatus::*;

/// Payments short of the amount, within the order's tolerance.
mod tolerated;

const DUE: u128 = 25_000_000;
const EXPIRES: u64 = 900_000;

/// A checkout with its gateway order, in `state`, paying 25 USDT by `EXPIRES`, 2 blocks.
fn ordered(state: OrderStatus) -> Checkout {
    Checkout {
        terms: Some(PaymentTerms {
            chain_id: ChainId::LOCAL,
            symbol: "USDT".into(),
            token_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
            decimals: 6,
            amount_atomic: DUE,
            gateway_order_no: "co_1".into(),
            plat_order_no: String::new(),
            pay_amount_atomic: DUE,
            to_address: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
                .parse()
                .unwrap(),
            cashier_url: String::new(),
            expires_at: EXPIRES,
            required_confirmations: 2,
        }),
        state: CheckoutState::Order(state),
        ..Checkout::open(
            "co_1".into(),
            CreatedBy::Widget,
            "T-shirt".into(),
            Price {
                amount: "25".parse().unwrap(),
                currency: "USDT".into(),
            },
        )
    }
}

/// The transaction whose hash is `n` 32 times over.
fn tx(n: u8) -> TxHash {
    TxHash::from_bytes([n; 32])
}

/// The transaction the gateway names.
const GATEWAYS: u8 = 0xee;

fn said(mut checkout: Checkout, status: GatewayStatus, paid: u128) -> Checkout {
    checkout.gateway = checkout
        .gateway
        .merged(status, Some(paid), Some(&tx(GATEWAYS)), 1);
    checkout
}

fn mined(mut checkout: Checkout, amount: u128, block: u64, at: u64) -> Checkout {
    let terms = checkout.terms.clone().unwrap();
    checkout.chain_payments.push(ChainPayment {
        tx_id: tx(block as u8),
        log_index: 0,
        block_number: block,
        block_hash: format!("0xb{block}"),
        from: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            .parse()
            .unwrap(),
        to: terms.to_address,
        token: terms.token_contract,
        value: amount,
        kind: usdt_checkout_chain::PaymentKind::Transfer,
        order_no: None,
        timestamp_ms: at,
    });
    checkout
}

/// A chain read to `head`, by a read begun after everything the tests say.
fn watched(head: u64) -> Option<Watched> {
    Some(Watched {
        head,
        read_at: u64::MAX,
    })
}

/// The state at `now` with the chain's head at `head` (`None`: not watched).
fn state(checkout: &Checkout, head: Option<u64>, now: u64) -> OrderStatus {
    match checkout
        .settled(head.and_then(watched), now)
        .unwrap()
        .checkout
        .state
    {
        CheckoutState::Order(state) => state,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_gateway_alone_says_what_it_documents() {
    let waiting = ordered(Waiting);
    assert_eq!(state(&waiting, None, 1), Waiting);
    assert_eq!(
        state(&said(waiting.clone(), Pending, 10), None, 1),
        PartiallyPaid
    );
    assert_eq!(
        state(&said(waiting.clone(), Pending, DUE), None, 1),
        Confirming
    );
    let paid = said(waiting.clone(), Success, DUE)
        .settled(None, 1)
        .unwrap();
    assert_eq!(paid.checkout.state, CheckoutState::Order(Paid));
    assert!(paid.fulfil);
    assert_eq!(paid.checkout.tx_hashes, [tx(GATEWAYS)]);
    // V1's -1 is read as expired, whatever the clock: a late payment can still be credited.
    let minus_one = said(waiting.clone(), GatewayStatus::Failed, 0);
    assert_eq!(state(&minus_one, None, 1), Expired);
    assert_eq!(state(&minus_one, None, EXPIRES), Expired);
    assert_eq!(state(&said(waiting.clone(), Cancelled, 0), None, 1), Failed);
    assert_eq!(
        state(&waiting, None, EXPIRES),
        Expired,
        "the server's own clock"
    );
}

#[test]
fn the_chain_tells_what_the_gateway_does_not_and_paid_waits_for_the_gateway() {
    let waiting = ordered(Waiting);
    let partly = mined(waiting.clone(), 10_000_000, 100, 1);
    let settled = partly.settled(watched(100), 2).unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(PartiallyPaid));
    assert_eq!(settled.checkout.remaining_atomic, Some(15_000_000));
    assert_eq!(settled.checkout.confirmations, Some(1));

    let full = mined(partly, 15_000_000, 101, 2);
    let seen = full.settled(watched(101), 3).unwrap();
    assert_eq!(seen.checkout.state, CheckoutState::Order(Confirming));
    assert_eq!(seen.checkout.confirmations, Some(1), "confirming 1 of 2");
    assert_eq!(seen.checkout.disagreement, None);

    let confirmed = full.settled(watched(110), 4).unwrap();
    assert_eq!(
        confirmed.checkout.state,
        CheckoutState::Order(Confirming),
        "confirmed on chain, but paid is the gateway's word"
    );
    assert!(!confirmed.fulfil);
    assert_eq!(
        confirmed.checkout.confirmations,
        Some(2),
        "confirming 2 of 2"
    );
    let note = confirmed.checkout.disagreement.unwrap();
    assert!(note.contains("full amount confirmed"), "{note}");

    let paid = said(full, Success, DUE).settled(watched(110), 5).unwrap();
    assert_eq!(paid.checkout.state, CheckoutState::Order(Paid));
    assert!(paid.fulfil);
    assert_eq!(paid.checkout.disagreement, None);
    assert_eq!(paid.checkout.tx_hashes, [tx(100), tx(101), tx(GATEWAYS)]);
}

#[test]
fn a_payment_the_shopper_attached_is_settled_by_the_chain_alone() {
    let mut claimed = mined(ordered(Waiting), 10_000_000, 100, 1);
    claimed.claimed = true;
    let full = mined(claimed, 15_000_000, 101, 2);
    let seen = full.settled(watched(101), 3).unwrap();
    assert_eq!(seen.checkout.state, CheckoutState::Order(Confirming));
    assert!(!seen.fulfil, "not before it is confirmed");
    let confirmed = full.settled(watched(102), 4).unwrap();
    assert_eq!(confirmed.checkout.state, CheckoutState::Order(Paid));
    assert!(confirmed.fulfil, "the gateway will never say it");
    let note = confirmed.checkout.disagreement.unwrap();
    assert!(note.contains("attached"), "the merchant sees why: {note}");
    let later = said(full, Success, DUE).settled(watched(102), 5).unwrap();
    assert_eq!(later.checkout.state, CheckoutState::Order(Paid));
    assert_eq!(
        later.checkout.disagreement, None,
        "the gateway agreed after all"
    );
}

#[test]
fn a_gateway_ahead_of_the_watcher_is_believed_for_what_it_saw() {
    let waiting = said(ordered(Waiting), Pending, DUE);
    let settled = waiting.settled(watched(100), 1).unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(Confirming));
    assert_eq!(settled.checkout.remaining_atomic, Some(0));
}

#[test]
fn a_gateway_amount_the_chain_never_shows_stops_counting_once_it_had_time() {
    // Said at 1 ms; a reorg took the payment back, and no report lowers an amount.
    let taken_back = said(ordered(Confirming), Pending, DUE);
    let soon = taken_back.settled(watched(100), DISAGREEMENT_MS).unwrap();
    assert_eq!(soon.checkout.state, CheckoutState::Order(Confirming));
    assert_eq!(soon.checkout.disagreement, None);
    let later = taken_back
        .settled(watched(100), 1 + DISAGREEMENT_MS)
        .unwrap();
    assert_eq!(later.checkout.state, CheckoutState::Order(Waiting));
    assert_eq!(later.checkout.paid_atomic, 0);
    assert!(
        later
            .checkout
            .disagreement
            .as_deref()
            .is_some_and(|d| d.contains("reorg")),
        "{:?}",
        later.checkout.disagreement
    );
    let unwatched = taken_back.settled(None, 1 + DISAGREEMENT_MS).unwrap();
    assert_eq!(
        unwatched.checkout.paid_atomic, DUE,
        "without the chain, the gateway's word is all there is"
    );
    let paid = said(ordered(Paid), Success, DUE);
    let paid = paid.settled(watched(100), 1 + DISAGREEMENT_MS).unwrap();
    assert_eq!(
        paid.checkout.state,
        CheckoutState::Order(Paid),
        "paid is final"
    );
}

#[test]
fn a_stuck_watcher_never_lowers_what_the_gateway_reported_paid() {
    // The gateway reported 3 USDT paid at 1 ms; the watcher's last read began before that
    // and it has read nothing since (a provider refusing every call).
    let part = said(ordered(PartiallyPaid), Pending, 3_000_000);
    let stuck = Some(Watched {
        head: 100,
        read_at: 0,
    });
    for now in [2, 1 + DISAGREEMENT_MS, 10 * DISAGREEMENT_MS] {
        let settled = part.settled(stuck, now).unwrap();
        assert_eq!(
            settled.checkout.state,
            CheckoutState::Order(PartiallyPaid),
            "at {now}"
        );
        assert_eq!(settled.checkout.paid_atomic, 3_000_000, "at {now}");
    }
    // A read begun well after the report, which shows nothing: the chain's word.
    let caught_up = Some(Watched {
        head: 130,
        read_at: 1 + PROVIDER_LAG_MS,
    });
    let settled = part.settled(caught_up, 1 + DISAGREEMENT_MS).unwrap();
    assert_eq!(settled.checkout.paid_atomic, 0);
}

#[test]
fn the_gateways_paid_pays_no_more_than_the_chain_shows() {
    // A genuine "paid" about another order with our order number, or one whose payment a
    // reorg took back: the watched chain shows nothing paid into this order.
    let said_paid = said(ordered(Waiting), Success, DUE);
    for now in [2, 1 + DISAGREEMENT_MS] {
        let settled = said_paid.settled(watched(100), now).unwrap();
        assert_ne!(
            settled.checkout.state,
            CheckoutState::Order(Paid),
            "at {now}"
        );
        assert!(!settled.fulfil, "at {now}");
    }
    let later = said_paid
        .settled(watched(100), 1 + DISAGREEMENT_MS)
        .unwrap();
    assert_eq!(later.checkout.state, CheckoutState::Order(Waiting));
    assert_eq!(later.checkout.paid_atomic, 0);
    let part = mined(said(ordered(Waiting), Success, DUE), DUE / 2, 90, 1);
    let part = part.settled(watched(100), 1 + DISAGREEMENT_MS).unwrap();
    assert_eq!(part.checkout.state, CheckoutState::Order(PartiallyPaid));
    // Once the chain shows the full amount, the gateway's word makes it paid.
    let full = mined(said(ordered(Waiting), Success, DUE), DUE, 90, 1);
    let full = full.settled(watched(100), 2).unwrap();
    assert_eq!(full.checkout.state, CheckoutState::Order(Paid));
    assert!(full.fulfil);
    // Without a watched chain, the gateway's word is all there is.
    let unwatched = said_paid.settled(None, 2).unwrap();
    assert_eq!(unwatched.checkout.state, CheckoutState::Order(Paid));
}

#[test]
fn a_disagreement_is_said_once_each_side_had_time_to_catch_up() {
    let full = mined(ordered(Waiting), DUE, 100, 1);
    let disagreement = |checkout: &Checkout, head, now| {
        checkout
            .settled(watched(head), now)
            .unwrap()
            .checkout
            .disagreement
    };
    assert_eq!(
        disagreement(&full, 101, 2),
        None,
        "confirmed, the webhook on its way"
    );
    assert!(
        disagreement(&full, 104, 3).is_some(),
        "three blocks past required"
    );

    let paid = said(ordered(Waiting), Success, DUE);
    assert_eq!(
        disagreement(&paid, 100, 2),
        None,
        "the watcher a block behind"
    );
    let note = disagreement(&paid, 100, 1 + DISAGREEMENT_MS).unwrap();
    assert!(note.contains("0 of 25000000"), "{note}");
}

#[test]
fn a_reorg_takes_back_what_the_chain_showed() {
    let confirming = ordered(Confirming);
    let settled = confirming.settled(watched(120), 5).unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(Waiting));
    assert!(settled.changed);
}

#[test]
fn a_payment_mined_after_expiry_is_paid_late() {
    let expired = ordered(Expired);
    let late = mined(expired.clone(), DUE, 200, EXPIRES + 5_000);
    assert_eq!(
        state(
            &said(late.clone(), GatewayStatus::Expired, 0),
            Some(200),
            EXPIRES + 6_000
        ),
        Confirming,
        "the full amount arrived after the gateway expired it: shown, not hidden"
    );
    assert_eq!(
        state(&said(late, Success, DUE), Some(210), EXPIRES + 9_000),
        PaidLate
    );
    assert_eq!(
        state(&said(expired, Success, DUE), None, EXPIRES + 9_000),
        PaidLate,
        "without the chain, success after expiry is late"
    );
    let in_time = mined(ordered(Confirming), DUE, 200, EXPIRES - 1);
    assert_eq!(
        state(&said(in_time, Success, DUE), Some(210), EXPIRES + 9_000),
        Paid,
        "mined in time, learned of late: paid in time"
    );
}

#[test]
fn a_payment_after_the_gateway_expired_the_order_early_is_late() {
    let mut expired = ordered(Waiting);
    expired.gateway = expired
        .gateway
        .merged(GatewayStatus::Expired, Some(0), None, 100_000);
    assert_eq!(state(&expired, Some(10), 100_001), Expired);
    let late = mined(expired, DUE, 11, 200_000);
    assert_eq!(
        state(&said(late, Success, DUE), Some(20), 300_000),
        PaidLate
    );
}

#[test]
fn final_states_are_sticky() {
    for done in [Paid, PaidLate, Failed] {
        let later = said(ordered(done), Pending, 0);
        let settled = later.settled(None, 1).unwrap();
        assert_eq!(settled.checkout.state, CheckoutState::Order(done));
        assert!(!settled.fulfil, "a paid checkout is fulfilled once");
    }
    let refused = said(ordered(Paid), Cancelled, 0).settled(None, 1).unwrap();
    assert_eq!(refused.refused, Some((Paid, Failed)));
}

#[test]
fn gateway_reports_merge_whatever_their_order() {
    let facts = GatewayFacts::default()
        .merged(Success, Some(DUE), Some(&tx(0xa)), 1)
        .merged(Pending, Some(10), Some(&tx(0xa)), 2)
        .merged(Pending, None, Some(&tx(0xb)), 3);
    assert_eq!(facts.status, Some(Success), "success is final");
    assert_eq!(facts.paid_atomic, DUE, "the amount only grows");
    assert_eq!(facts.tx_hashes, [tx(0xa), tx(0xb)]);
}

#[test]
fn a_checkout_without_an_order_has_nothing_to_settle() {
    let open = Checkout::open(
        "co_1".into(),
        CreatedBy::Storefront,
        "Cart".into(),
        Price {
            amount: "40".parse().unwrap(),
            currency: "USD".into(),
        },
    );
    assert_eq!(open.settled(watched(1), 1), None);
}

#[test]
fn prices_must_be_chargeable_in_their_currency() {
    let registry = ChainRegistry::builtin();
    let price = |amount, currency| Price::parse(amount, currency, &registry);
    assert_eq!(
        price("25.00", "USD"),
        Ok(Price {
            amount: "25.00".parse().unwrap(),
            currency: "USD".into()
        })
    );
    assert!(price("12.123456", "USDT").is_ok());
    let seven = price("12.1234567", "USDT").unwrap_err();
    assert!(
        matches!(&seven, PriceError::Token { decimals: 6, .. }),
        "USDT has 6 decimals on most chains: {seven}"
    );
    assert!(seven.to_string().contains("6 decimals"), "{seven}");
    assert!(matches!(price("0", "USD"), Err(PriceError::Amount(_))));
    assert!(matches!(price("-1", "USD"), Err(PriceError::Amount(_))));
    assert!(matches!(price("1", ""), Err(PriceError::Currency(_))));
    assert!(matches!(
        price("1", "DOLLARS-OF-AMERICA"),
        Err(PriceError::Currency(_))
    ));
}

#[test]
fn who_created_a_checkout_reads_back_from_its_name() {
    for by in [CreatedBy::Widget, CreatedBy::Storefront] {
        assert_eq!(CreatedBy::from_name(by.as_str()), Some(by));
    }
    assert_eq!(CreatedBy::from_name("admin"), None);
}
