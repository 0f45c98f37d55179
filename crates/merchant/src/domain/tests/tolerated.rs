//! A payment short of the amount asked, within the tolerance fixed with the order's terms: the
//! chain's confirmations settle it, as they settle a claimed payment, since the gateway reports
//! it partly paid and never paid.

use super::*;

/// 1 USDT of the 25 forgiven.
const ONE: u128 = 1_000_000;

fn tolerating(state: OrderStatus) -> Checkout {
    Checkout {
        tolerance_atomic: ONE,
        ..ordered(state)
    }
}

#[test]
fn twenty_four_of_twenty_five_within_one_confirms_then_is_paid_short_by_one() {
    let short = mined(tolerating(Waiting), DUE - ONE, 100, 1);
    let seen = short.settled(watched(100), 2).unwrap();
    assert_eq!(seen.checkout.state, CheckoutState::Order(Confirming));
    assert_eq!(
        seen.checkout.remaining_atomic,
        Some(0),
        "nothing left to send"
    );
    assert_eq!(seen.checkout.shortfall_atomic, ONE);
    assert!(!seen.fulfil, "not before it is confirmed");

    let confirmed = short.settled(watched(101), 3).unwrap();
    assert_eq!(confirmed.checkout.state, CheckoutState::Order(Paid));
    assert!(confirmed.fulfil, "the gateway will never say it");
    assert_eq!(confirmed.checkout.shortfall_atomic, ONE);
    assert_eq!(confirmed.checkout.overpaid_atomic, 0);
    assert_eq!(
        confirmed.checkout.disagreement, None,
        "the merchant chose it"
    );

    // The gateway's partly paid, then expired, changes nothing the chain settled.
    let partly = said(short.clone(), Pending, DUE - ONE);
    assert_eq!(state(&partly, Some(101), 3), Paid);
    let mut expired = partly;
    expired.gateway =
        expired
            .gateway
            .merged(GatewayStatus::Expired, Some(DUE - ONE), None, EXPIRES);
    assert_eq!(state(&expired, Some(101), EXPIRES + 1), Paid);
    // A gateway that forgives as much says paid: paid, the same shortfall.
    let agreed = said(short, Success, DUE - ONE)
        .settled(watched(101), 3)
        .unwrap();
    assert_eq!(agreed.checkout.state, CheckoutState::Order(Paid));
    assert_eq!(agreed.checkout.shortfall_atomic, ONE);
    assert_eq!(agreed.checkout.disagreement, None);
}

#[test]
fn more_than_the_tolerance_short_is_still_partly_paid() {
    let short = mined(tolerating(Waiting), DUE - ONE - 100_000, 100, 1);
    let settled = short.settled(watched(110), 2).unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(PartiallyPaid));
    assert_eq!(
        settled.checkout.remaining_atomic,
        Some(ONE + 100_000),
        "the rest is asked in full, the tolerance is not offered"
    );
    assert_eq!(settled.checkout.shortfall_atomic, 0);
    assert_eq!(state(&short, Some(110), EXPIRES), Expired);
    // Without a tolerance (the default), 24 of 25 is partly paid.
    let strict = mined(ordered(Waiting), DUE - ONE, 100, 1);
    assert_eq!(state(&strict, Some(110), 2), PartiallyPaid);
}

#[test]
fn partial_payments_within_the_tolerance_add_up() {
    let first = mined(tolerating(Waiting), 20 * ONE, 100, 1);
    assert_eq!(state(&first, Some(110), 2), PartiallyPaid);
    let both = mined(first, 4 * ONE + 500_000, 105, 2);
    let settled = both.settled(watched(110), 3).unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(Paid));
    assert_eq!(settled.checkout.shortfall_atomic, 500_000);
    // The rest arrives after all: paid in full, nothing short.
    let rest = mined(both, 500_000, 108, 4);
    let settled = rest.settled(watched(110), 5).unwrap();
    assert_eq!(settled.checkout.shortfall_atomic, 0);
    assert_eq!(settled.checkout.overpaid_atomic, 0);
}

#[test]
fn a_tolerated_amount_in_time_is_paid_and_after_expiry_paid_late() {
    // Mined before expiry, confirmed after it: paid.
    let in_time = mined(tolerating(Waiting), DUE - ONE, 100, EXPIRES - 1);
    assert_eq!(state(&in_time, Some(100), EXPIRES - 1), Confirming);
    assert_eq!(state(&in_time, Some(105), EXPIRES + 9_000), Paid);
    // Mined after the gateway expired the order: paid late, still short by one.
    let expired = said(tolerating(Expired), GatewayStatus::Expired, 0);
    let late = mined(expired, DUE - ONE, 200, EXPIRES + 5_000);
    let settled = late.settled(watched(210), EXPIRES + 9_000).unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(PaidLate));
    assert!(settled.fulfil);
    assert_eq!(settled.checkout.shortfall_atomic, ONE);
}

#[test]
fn overpaid_is_as_before() {
    let over = mined(tolerating(Waiting), DUE + ONE, 100, 1);
    let settled = said(over, Success, DUE + ONE)
        .settled(watched(110), 2)
        .unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(Paid));
    assert_eq!(settled.checkout.overpaid_atomic, ONE);
    assert_eq!(settled.checkout.shortfall_atomic, 0);
}

#[test]
fn without_the_chain_a_short_payment_is_partly_paid_whatever_the_tolerance() {
    // The gateway's amount may be unconfirmed, and it never says a short one paid.
    let partly = said(tolerating(Waiting), Pending, DUE - ONE);
    let settled = partly.settled(None, 2).unwrap();
    assert_eq!(settled.checkout.state, CheckoutState::Order(PartiallyPaid));
    assert_eq!(settled.checkout.remaining_atomic, Some(ONE));
    assert_eq!(settled.checkout.shortfall_atomic, 0);
}

#[test]
fn the_tolerance_is_the_one_fixed_with_the_terms() {
    // However large a tolerance was kept, no more than a tenth is forgiven.
    let generous = Checkout {
        tolerance_atomic: DUE,
        ..ordered(Waiting)
    };
    let nothing = mined(generous.clone(), 1, 100, 1);
    assert_eq!(state(&nothing, Some(110), 2), PartiallyPaid);
    let ninety = mined(generous, DUE / 10 * 9, 100, 1);
    assert_eq!(state(&ninety, Some(110), 2), Paid);
}

#[test]
fn a_payment_the_chain_shows_is_no_disagreement_however_late_it_is_settled() {
    // The gateway's amount stops counting once the chain had time to show it; the chain shows
    // it, so nothing disagrees (a reorg is said only when the chain shows less).
    let full = said(mined(ordered(Waiting), DUE, 100, 1), Success, DUE);
    let later = full.settled(watched(110), 10 * DISAGREEMENT_MS).unwrap();
    assert_eq!(later.checkout.disagreement, None, "full");
    let short = said(
        mined(tolerating(Waiting), DUE - ONE, 100, 1),
        Pending,
        DUE - ONE,
    );
    let later = short.settled(watched(110), 10 * DISAGREEMENT_MS).unwrap();
    assert_eq!(later.checkout.disagreement, None, "short");
}
