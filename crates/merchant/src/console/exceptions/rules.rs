//! What is an exception, of which kind, by which key it is resolved, and which orders a payment
//! may be attached to: pure rules over what the store keeps, each tested here.

use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::{ChainId, OrderStatus, TxHash};

use crate::domain::{ChainPayment, Checkout, mined_since};

/// The longest note a member of staff gives (as an order's note may be).
pub const MAX_NOTE_CHARS: usize = 2000;

/// The kinds of exception, each a section of the queue, in the order the queue shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A payment into a receiving address that matches no order.
    Unmatched,
    /// An unmatched payment on one watched chain, to an address an order on another chain was
    /// waiting at when it was mined: its shopper paid on the wrong network.
    WrongNetwork,
    /// An order that expired with part of its amount received.
    UnderpaidExpired,
    /// An order paid late: completed after its time ran out, or money received after it.
    Late,
    /// An order paid more than it asked.
    Overpaid,
    /// An order paid in full at least twice, by more than one transaction.
    PaidTwice,
    /// The gateway and the chain tell different stories of an order.
    Disagreement,
    /// A fulfillment event the merchant's endpoint has not acknowledged, after trying.
    FailedDelivery,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Unmatched,
        Kind::WrongNetwork,
        Kind::UnderpaidExpired,
        Kind::Late,
        Kind::Overpaid,
        Kind::PaidTwice,
        Kind::Disagreement,
        Kind::FailedDelivery,
    ];

    /// Its name in keys, ids and the resolutions table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Unmatched => "unmatched",
            Kind::WrongNetwork => "wrong_network",
            Kind::UnderpaidExpired => "underpaid_expired",
            Kind::Late => "late",
            Kind::Overpaid => "overpaid",
            Kind::PaidTwice => "paid_twice",
            Kind::Disagreement => "disagreement",
            Kind::FailedDelivery => "failed_delivery",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The section's heading.
    pub const fn title(self) -> &'static str {
        match self {
            Kind::Unmatched => "Unmatched payments",
            Kind::WrongNetwork => "Wrong-network payments",
            Kind::UnderpaidExpired => "Underpaid, then expired",
            Kind::Late => "Late payments",
            Kind::Overpaid => "Overpaid orders",
            Kind::PaidTwice => "Paid twice",
            Kind::Disagreement => "Gateway and chain disagree",
            Kind::FailedDelivery => "Failed fulfillment deliveries",
        }
    }

    /// What the section holds, and what resolves a row.
    pub const fn explained(self) -> &'static str {
        match self {
            Kind::Unmatched => {
                "Payments the chain showed into a receiving address that match no order: kept, \
                 counted toward no order, until someone decides whose each is. Attach one to its \
                 order, or mark it resolved with a note."
            }
            Kind::WrongNetwork => {
                "Payments on one network into an address where an order on another network was \
                 waiting: its shopper likely paid on the wrong network. The money is in your \
                 address on that network; it cannot pay the order."
            }
            Kind::UnderpaidExpired => {
                "Orders whose time ran out with part of the amount received: the shopper is owed \
                 either the rest of the goods or their money back."
            }
            Kind::Late => {
                "Orders paid after their time ran out, or that received money after it: decide \
                 whether to honour them."
            }
            Kind::Overpaid => "Orders paid more than they asked: the difference is the shopper's.",
            Kind::PaidTwice => {
                "Orders paid in full more than once, by separate transactions: the shopper is \
                 likely owed one of them back."
            }
            Kind::Disagreement => {
                "Orders where the gateway's word and what the chain shows differ, once each had \
                 time to catch up: check the transactions before fulfilling."
            }
            Kind::FailedDelivery => {
                "Fulfillment events your endpoint has not acknowledged, an order paid or a \
                 refund sent: each is retried on its own; resend it now once the endpoint is \
                 fixed."
            }
        }
    }
}

/// The key an unmatched payment is resolved by: which chain, transaction and log.
pub fn payment_key(chain: ChainId, tx: &TxHash, log_index: u64) -> String {
    format!("payment:{}:{}:{log_index}", chain.0, tx.as_str())
}

/// The key an order's exception of `kind` is resolved by.
pub fn order_key(kind: Kind, checkout_id: &str) -> String {
    format!("{}:{checkout_id}", kind.as_str())
}

/// The key a failed delivery is resolved by: its event's id.
pub fn delivery_key(event_id: &str) -> String {
    format!("{}:{event_id}", Kind::FailedDelivery.as_str())
}

/// What an exception's key names (see [`payment_key`], [`order_key`], [`delivery_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Payment(ChainId, TxHash, u64),
    Order(Kind, String),
    Delivery(String),
}

/// What `key` names, if it is one the queue makes.
pub fn parse_key(key: &str) -> Option<Key> {
    let (kind, rest) = key.split_once(':')?;
    if rest.is_empty() {
        return None;
    }
    match kind {
        "payment" => {
            let mut parts = rest.split(':');
            let chain = parts.next()?.parse().ok().map(ChainId)?;
            let tx = parts.next()?.parse().ok()?;
            let log = parts.next()?.parse().ok()?;
            parts
                .next()
                .is_none()
                .then_some(Key::Payment(chain, tx, log))
        }
        _ => match Kind::from_name(kind)? {
            Kind::FailedDelivery => Some(Key::Delivery(rest.to_owned())),
            Kind::Unmatched | Kind::WrongNetwork => None,
            kind => Some(Key::Order(kind, rest.to_owned())),
        },
    }
}

/// Whether some payment of `checkout` was mined at or after its time ran out.
fn money_after_expiry(checkout: &Checkout) -> bool {
    checkout.terms.as_ref().is_some_and(|terms| {
        checkout
            .chain_payments
            .iter()
            .any(|p| p.timestamp_ms >= terms.expires_at)
    })
}

/// The kinds of exception `checkout` is, from its facts: none for an order that went as asked.
/// An expired order with money is late when some came after its time, else underpaid; one paid
/// at least twice over is that, not merely overpaid.
pub fn order_kinds(checkout: &Checkout) -> Vec<Kind> {
    let CheckoutState::Order(state) = checkout.state else {
        return vec![];
    };
    let Some(terms) = &checkout.terms else {
        return vec![];
    };
    let mut kinds = vec![];
    let expired_with_money = state == OrderStatus::Expired && checkout.paid_atomic > 0;
    if state == OrderStatus::PaidLate || (expired_with_money && money_after_expiry(checkout)) {
        kinds.push(Kind::Late);
    } else if expired_with_money {
        kinds.push(Kind::UnderpaidExpired);
    }
    let due = terms.pay_amount_atomic;
    let twice =
        due > 0 && checkout.paid_atomic >= due.saturating_mul(2) && checkout.tx_hashes.len() >= 2;
    if twice {
        kinds.push(Kind::PaidTwice);
    } else if checkout.overpaid_atomic > 0 {
        kinds.push(Kind::Overpaid);
    }
    // A payment attached on a claim (the shopper's, or staff's) is one the gateway did not
    // match, and the order is settled by the chain by design until the gateway says paid: the
    // order says so, but nothing is left to decide.
    let settled_on_a_claim =
        checkout.claimed && checkout.gateway.status != Some(GatewayStatus::Success);
    if checkout.disagreement.is_some() && !settled_on_a_claim {
        kinds.push(Kind::Disagreement);
    }
    kinds
}

/// An order waiting at a receiving address: its id, chain, and when it was made and expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub id: String,
    pub chain: ChainId,
    pub created_at: u64,
    pub expires_at: u64,
}

/// The orders among `at_address` (waiting at the address `payment` went to) on another chain
/// than `chain` whose shoppers were waiting when it was mined: made before, their time not yet
/// run out. Its shopper likely paid one of them on the wrong network.
pub fn waiting_elsewhere<'a>(
    chain: ChainId,
    payment: &ChainPayment,
    at_address: &'a [Waiting],
) -> Vec<&'a Waiting> {
    at_address
        .iter()
        .filter(|order| {
            order.chain != chain
                && mined_since(payment.timestamp_ms, order.created_at)
                && payment.timestamp_ms <= order.expires_at
        })
        .collect()
}

/// The window of creation and expiry (Unix ms) that finds every order [`waiting_elsewhere`]
/// may name for any of `payments`: made by the last one's block's second, expiring no earlier
/// than the first one. `None` for no payment.
pub fn waiting_window<'a>(
    payments: impl IntoIterator<Item = &'a ChainPayment>,
) -> Option<(u64, u64)> {
    let times = payments.into_iter().map(|p| p.timestamp_ms);
    let (first, last) = times.fold(None, |window: Option<(u64, u64)>, at| {
        Some(window.map_or((at, at), |(a, b)| (a.min(at), b.max(at))))
    })?;
    // A block's time is in whole seconds: an order of the same second counts.
    Some((first, last / 1000 * 1000 + 999))
}

/// The orders an unmatched `payment` on `chain` may be attached to, to offer first: those
/// whose shoppers claimed it (`claimants`, in their order), then the orders on its chain whose
/// payments go to its address, in its token, made before it was mined and still asking
/// (`at_address`, newest first). Each once. The claim's rule still decides when one is picked.
pub fn attach_candidates<'a>(
    chain: ChainId,
    payment: &ChainPayment,
    claimants: &'a [Checkout],
    at_address: &'a [Checkout],
) -> Vec<&'a Checkout> {
    let asking = |order: &&Checkout| {
        !matches!(
            order.state,
            CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate | OrderStatus::Failed)
        ) && order.terms.as_ref().is_some_and(|terms| {
            terms.chain_id == chain
                && terms.to_address == payment.to
                && terms.token_contract == payment.token
                && mined_since(payment.timestamp_ms, order.created_at)
        })
    };
    let mut candidates: Vec<&Checkout> = claimants.iter().collect();
    for order in at_address.iter().filter(asking) {
        if !candidates.iter().any(|c| c.id == order.id) {
            candidates.push(order);
        }
    }
    candidates
}

/// A note as given: trimmed, 1 to [`MAX_NOTE_CHARS`] characters; or what is wrong with it.
pub fn note(text: &str) -> Result<&str, String> {
    let note = text.trim();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(format!(
            "A note has 1 to {MAX_NOTE_CHARS} characters: say what you decided and why."
        ));
    }
    Ok(note)
}

/// Which order an attach form names: the one picked among those offered, or, with "another
/// order" picked (or nothing offered), the id typed. `None` when it names none.
pub fn picked_order<'a>(pick: &'a str, typed: &'a str) -> Option<&'a str> {
    let order = match pick.trim() {
        "" | OTHER => typed.trim(),
        picked => picked,
    };
    (!order.is_empty()).then_some(order)
}

/// The attach form's choice of an order that is not offered: typed in.
pub const OTHER: &str = "other";

#[cfg(test)]
mod tests {
    use usdt_checkout_chain::PaymentKind;
    use usdt_checkout_protocol::Address;

    use super::*;
    use crate::domain::{CreatedBy, PaymentTerms, Price};

    const CHAIN: ChainId = ChainId(31337);
    const CREATED: u64 = 1_800_000_000_000;

    fn order(id: &str, chain: ChainId, state: OrderStatus) -> Checkout {
        let mut checkout = Checkout::open(
            id.into(),
            CreatedBy::Storefront,
            "Mug".into(),
            Price {
                amount: "25".parse().unwrap(),
                currency: "USD".into(),
            },
        );
        checkout.created_at = CREATED;
        checkout.state = CheckoutState::Order(state);
        checkout.terms = Some(PaymentTerms {
            chain_id: chain,
            symbol: "USDT".into(),
            token_contract: Address::from_bytes([0xaa; 20]),
            decimals: 6,
            amount_atomic: 25_000_000,
            gateway_order_no: format!("{id}-a"),
            plat_order_no: "P1".into(),
            pay_amount_atomic: 25_000_000,
            to_address: Address::from_bytes([0x55; 20]),
            cashier_url: String::new(),
            expires_at: CREATED + 900_000,
            required_confirmations: 2,
        });
        checkout
    }

    fn payment(tx: u8, value: u128, at: u64) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([tx; 32]),
            log_index: 0,
            block_number: 7,
            block_hash: "0x07".into(),
            from: Address::from_bytes([0x11; 20]),
            to: Address::from_bytes([0x55; 20]),
            token: Address::from_bytes([0xaa; 20]),
            value,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: at,
        }
    }

    fn paid(mut checkout: Checkout, payments: Vec<ChainPayment>) -> Checkout {
        checkout.paid_atomic = payments.iter().map(|p| p.value).sum();
        checkout.overpaid_atomic = checkout.paid_atomic.saturating_sub(25_000_000);
        checkout.tx_hashes = payments.iter().map(|p| p.tx_id.clone()).collect();
        checkout.chain_payments = payments;
        checkout
    }

    #[test]
    fn an_order_that_went_as_asked_is_no_exception() {
        let in_time = payment(1, 25_000_000, CREATED + 10_000);
        assert!(order_kinds(&paid(order("a", CHAIN, OrderStatus::Paid), vec![in_time])).is_empty());
        assert!(order_kinds(&order("b", CHAIN, OrderStatus::Waiting)).is_empty());
        assert!(
            order_kinds(&order("c", CHAIN, OrderStatus::Expired)).is_empty(),
            "nothing came"
        );
    }

    #[test]
    fn expired_with_money_is_underpaid_or_late_by_when_it_came() {
        let early = payment(1, 5_000_000, CREATED + 10_000);
        let after = payment(2, 5_000_000, CREATED + 900_000);
        let expired = order("a", CHAIN, OrderStatus::Expired);
        assert_eq!(
            order_kinds(&paid(expired.clone(), vec![early.clone()])),
            [Kind::UnderpaidExpired]
        );
        assert_eq!(
            order_kinds(&paid(expired, vec![early, after])),
            [Kind::Late]
        );
        let late = order("b", CHAIN, OrderStatus::PaidLate);
        assert_eq!(
            order_kinds(&paid(
                late,
                vec![payment(3, 25_000_000, CREATED + 1_000_000)]
            )),
            [Kind::Late]
        );
    }

    #[test]
    fn overpaid_paid_twice_and_disagreements_are_told_apart() {
        let at = CREATED + 10_000;
        let paid_order = order("a", CHAIN, OrderStatus::Paid);
        let over = paid(paid_order.clone(), vec![payment(1, 26_000_000, at)]);
        assert_eq!(order_kinds(&over), [Kind::Overpaid]);
        let twice = paid(
            paid_order.clone(),
            vec![payment(1, 25_000_000, at), payment(2, 25_000_000, at)],
        );
        assert_eq!(order_kinds(&twice), [Kind::PaidTwice]);
        // Twice the amount in one transaction: overpaid, not paid twice.
        let one = paid(paid_order.clone(), vec![payment(1, 50_000_000, at)]);
        assert_eq!(order_kinds(&one), [Kind::Overpaid]);
        let mut disputed = paid(paid_order, vec![payment(1, 25_000_000, at)]);
        disputed.disagreement = Some("the gateway reports it paid; the chain shows 0".into());
        assert_eq!(order_kinds(&disputed), [Kind::Disagreement]);
        // Attached on a claim, settled by the chain while the gateway says nothing: as decided.
        disputed.claimed = true;
        disputed.disagreement =
            Some("a payment was attached that the gateway did not match".into());
        assert!(order_kinds(&disputed).is_empty());
        disputed.gateway.status = Some(GatewayStatus::Failed);
        assert!(order_kinds(&disputed).is_empty());
        disputed.gateway.status = Some(GatewayStatus::Success);
        assert_eq!(order_kinds(&disputed), [Kind::Disagreement]);
    }

    #[test]
    fn a_payment_is_on_the_wrong_network_where_another_chains_order_waited_then() {
        let waiting = |id: &str, chain| Waiting {
            id: id.into(),
            chain,
            created_at: CREATED,
            expires_at: CREATED + 900_000,
        };
        let orders = [waiting("bsc", ChainId(56)), waiting("local", CHAIN)];
        let ids = |p: &ChainPayment| -> Vec<String> {
            waiting_elsewhere(CHAIN, p, &orders)
                .iter()
                .map(|o| o.id.clone())
                .collect()
        };
        assert_eq!(ids(&payment(1, 5, CREATED + 10_000)), ["bsc"]);
        // The block of the order's own second counts; one before, or after it expired, not.
        assert_eq!(ids(&payment(1, 5, CREATED / 1000 * 1000)), ["bsc"]);
        assert!(
            ids(&payment(1, 5, CREATED - 5_000)).is_empty(),
            "before the order"
        );
        assert!(
            ids(&payment(1, 5, CREATED + 901_000)).is_empty(),
            "after it stopped waiting"
        );
        let (a, b) = (payment(1, 5, 7_000), payment(2, 5, 3_000));
        assert_eq!(waiting_window([&a, &b]), Some((3_000, 7_999)));
        assert_eq!(waiting_window([]), None);
    }

    #[test]
    fn candidates_are_the_claimants_then_the_orders_still_asking_there() {
        let sent = payment(1, 5, CREATED + 10_000);
        let claimant = order("claimed", CHAIN, OrderStatus::Waiting);
        let waiting = order("waiting", CHAIN, OrderStatus::Waiting);
        let expired = order("expired", CHAIN, OrderStatus::Expired);
        let done = order("done", CHAIN, OrderStatus::Paid);
        let other_chain = order("bsc", ChainId(56), OrderStatus::Waiting);
        let mut later = order("later", CHAIN, OrderStatus::Waiting);
        later.created_at = CREATED + 60_000;
        let at_address = [
            waiting.clone(),
            claimant.clone(),
            expired,
            done,
            other_chain,
            later,
        ];
        let claimants = [claimant];
        let ids: Vec<&str> = attach_candidates(CHAIN, &sent, &claimants, &at_address)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["claimed", "waiting", "expired"]);
    }

    #[test]
    fn keys_name_what_they_resolve_and_forms_name_one_order() {
        let tx = TxHash::from_bytes([0xab; 32]);
        assert_eq!(
            payment_key(CHAIN, &tx, 3),
            format!("payment:31337:0x{}:3", "ab".repeat(32))
        );
        assert_eq!(order_key(Kind::Overpaid, "co_1"), "overpaid:co_1");
        assert_eq!(delivery_key("ful_co_1"), "failed_delivery:ful_co_1");
        assert_eq!(
            parse_key(&payment_key(CHAIN, &tx, 3)),
            Some(Key::Payment(CHAIN, tx.clone(), 3))
        );
        assert_eq!(
            parse_key("overpaid:co_1"),
            Some(Key::Order(Kind::Overpaid, "co_1".into()))
        );
        assert_eq!(
            parse_key("failed_delivery:ful_co_1"),
            Some(Key::Delivery("ful_co_1".into()))
        );
        for made_up in [
            "",
            "overpaid:",
            "refund:co_1",
            "unmatched:co_1",
            "payment:31337:0xab:3",
            "payment:x:y:z",
            &format!("{}:9", payment_key(CHAIN, &tx, 3)),
        ] {
            assert_eq!(parse_key(made_up), None, "{made_up}");
        }
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(picked_order("co_1", "co_2"), Some("co_1"));
        assert_eq!(picked_order(OTHER, " co_2 "), Some("co_2"));
        assert_eq!(picked_order("", "co_2"), Some("co_2"));
        assert_eq!(picked_order(OTHER, "  "), None);
        assert_eq!(note("  why  "), Ok("why"));
        assert!(note(" ").is_err());
        assert!(note(&"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
    }
}
