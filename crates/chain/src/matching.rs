//! Which order a payment belongs to. Every order of a merchant on a chain pays the same receiving
//! contract, so:
//! - a `deposit(token, amount, orderNo)` names its order;
//! - a plain transfer is matched by amount. Each order asks exactly the amount the merchant set
//!   (BlockATM: a scan payment must match the order's amount), so two open orders to one address
//!   may wait for the same amount; the first such transfer then pays the oldest, the next the
//!   one after. In order, a transfer goes to:
//!   1. the open order whose remaining amount it equals exactly (should two tie, the one this
//!      sender already paid part of, else the oldest): an exact amount is the strongest evidence;
//!   2. the unfinished order this sender already paid part of (the rest, paid in pieces);
//!   3. the expired order whose remaining amount it equals exactly (a late payment; the most
//!      recently expired);
//!   4. the only open order to that address, if there is just one (a wrong amount, partial or
//!      over, that cannot be anyone else's);
//!   5. otherwise no order: it is kept as unmatched, never dropped.

use usdt_checkout_protocol::Address;

use crate::payment::{ChainPayment, PaymentKind};

/// A payment seen on chain, as matching needs it.
pub struct Incoming<'a> {
    pub kind: PaymentKind,
    pub token: Address,
    pub to: Address,
    pub from: Address,
    pub value: u128,
    /// What a deposit names.
    pub order_no: Option<&'a str>,
}

impl<'a> From<&'a ChainPayment> for Incoming<'a> {
    fn from(payment: &'a ChainPayment) -> Self {
        Self {
            kind: payment.kind,
            token: payment.token,
            to: payment.to,
            from: payment.from,
            value: payment.value,
            order_no: payment.order_no.as_deref(),
        }
    }
}

/// An order, as matching needs it.
pub struct Candidate<'a> {
    pub order_no: &'a str,
    pub token: Address,
    pub to: Address,
    pub remaining: u128,
    pub expired: bool,
    pub finished: bool,
    pub payers: Vec<Address>,
    pub create_time: u64,
    pub expire_time: u64,
}

impl Candidate<'_> {
    fn open(&self) -> bool {
        !self.finished && !self.expired
    }
}

/// The index of the order `incoming` pays, if any.
pub fn match_payment(candidates: &[Candidate], incoming: &Incoming) -> Option<usize> {
    let same_place = |c: &&Candidate| c.token == incoming.token && c.to == incoming.to;
    let indexed = || candidates.iter().enumerate().filter(|(_, c)| same_place(c));

    if incoming.kind == PaymentKind::Deposit {
        let named = incoming.order_no?;
        return indexed().find(|(_, c)| c.order_no == named).map(|(i, _)| i);
    }
    let oldest = |filter: &dyn Fn(&Candidate) -> bool| {
        indexed()
            .filter(|(_, c)| filter(c))
            .min_by_key(|(_, c)| c.create_time)
            .map(|(i, _)| i)
    };
    let exact = |c: &Candidate| c.open() && c.remaining == incoming.value;
    let paid_part = |c: &Candidate| c.payers.contains(&incoming.from);
    oldest(&|c| exact(c) && paid_part(c))
        .or_else(|| oldest(&exact))
        .or_else(|| oldest(&|c| !c.finished && c.remaining > 0 && paid_part(c)))
        .or_else(|| {
            indexed()
                .filter(|(_, c)| c.expired && !c.finished && c.remaining == incoming.value)
                .max_by_key(|(_, c)| c.expire_time)
                .map(|(i, _)| i)
        })
        .or_else(|| {
            let mut open = indexed().filter(|(_, c)| c.open());
            match (open.next(), open.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(byte: u8) -> Address {
        Address::from_bytes([byte; 20])
    }

    const TOKEN: u8 = 0xaa;
    const SHOP: u8 = 0x55;

    fn order(order_no: &str, remaining: u128, create_time: u64) -> Candidate<'_> {
        Candidate {
            order_no,
            token: address(TOKEN),
            to: address(SHOP),
            remaining,
            expired: false,
            finished: false,
            payers: vec![],
            create_time,
            expire_time: create_time + 900,
        }
    }

    fn transfer(from: u8, value: u128) -> Incoming<'static> {
        Incoming {
            kind: PaymentKind::Transfer,
            token: address(TOKEN),
            to: address(SHOP),
            from: address(from),
            value,
            order_no: None,
        }
    }

    #[test]
    fn exact_amounts_tell_open_orders_apart() {
        let orders = [order("A", 10_000_000, 1), order("B", 10_000_001, 2)];
        assert_eq!(match_payment(&orders, &transfer(1, 10_000_001)), Some(1));
        assert_eq!(match_payment(&orders, &transfer(1, 10_000_000)), Some(0));
        assert_eq!(
            match_payment(&orders, &transfer(1, 5)),
            None,
            "a wrong amount with two open orders is nobody's"
        );
    }

    #[test]
    fn the_rest_of_a_partial_payment_follows_its_sender() {
        let mut a = order("A", 4_000_000, 1);
        a.payers.push(address(7));
        let orders = [a, order("B", 10_000_000, 2)];
        assert_eq!(match_payment(&orders, &transfer(7, 1_000_000)), Some(0));
    }

    #[test]
    fn an_exact_amount_beats_a_senders_earlier_partial_payment() {
        let mut a = order("A", 4_000_000, 1);
        a.payers.push(address(7));
        let orders = [a, order("B", 10_000_000, 2)];
        assert_eq!(
            match_payment(&orders, &transfer(7, 10_000_000)),
            Some(1),
            "B's exact amount"
        );
        let mut tied = order("C", 10_000_000, 3);
        tied.payers.push(address(7));
        let orders = [order("B", 10_000_000, 2), tied];
        assert_eq!(
            match_payment(&orders, &transfer(7, 10_000_000)),
            Some(1),
            "a tie goes to the sender's own"
        );
    }

    #[test]
    fn a_wrong_amount_goes_to_the_only_open_order() {
        let mut expired = order("OLD", 3, 0);
        expired.expired = true;
        let orders = [expired, order("A", 10_000_000, 1)];
        assert_eq!(match_payment(&orders, &transfer(1, 9_000_000)), Some(1));
    }

    #[test]
    fn late_exact_payments_find_their_expired_order() {
        let mut old = order("OLD", 10_000_000, 0);
        old.expired = true;
        let mut older = order("OLDER", 10_000_000, 0);
        older.expired = true;
        older.expire_time = 1;
        let orders = [
            older,
            old,
            order("A", 20_000_000, 1),
            order("B", 30_000_000, 1),
        ];
        assert_eq!(match_payment(&orders, &transfer(1, 10_000_000)), Some(1));
    }

    #[test]
    fn other_tokens_and_addresses_never_match() {
        let orders = [order("A", 10, 1)];
        let mut other_token = transfer(1, 10);
        other_token.token = address(0xbb);
        assert_eq!(match_payment(&orders, &other_token), None);
        let mut other_shop = transfer(1, 10);
        other_shop.to = address(0x66);
        assert_eq!(match_payment(&orders, &other_shop), None);
    }

    #[test]
    fn deposits_go_to_the_order_they_name_whatever_its_state() {
        let mut paid = order("A", 0, 1);
        paid.finished = true;
        let orders = [paid, order("B", 10, 2)];
        let deposit = |name| Incoming {
            kind: PaymentKind::Deposit,
            order_no: Some(name),
            ..transfer(1, 10)
        };
        assert_eq!(match_payment(&orders, &deposit("A")), Some(0));
        assert_eq!(match_payment(&orders, &deposit("B")), Some(1));
        assert_eq!(match_payment(&orders, &deposit("C")), None);
    }

    #[test]
    fn open_orders_of_one_amount_are_paid_oldest_first() {
        let mut orders = [order("NEW", 10_000_000, 2), order("OLD", 10_000_000, 1)];
        assert_eq!(match_payment(&orders, &transfer(1, 10_000_000)), Some(1));
        orders[1].remaining = 0;
        assert_eq!(
            match_payment(&orders, &transfer(2, 10_000_000)),
            Some(0),
            "the next transfer of that amount pays the next order"
        );
    }
}
