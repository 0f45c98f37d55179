//! Whether a checkout's shopper has refunds to see: the widget's status view says so in one
//! flag, and only then does the widget read the refunds (what may be asked back, and the
//! requests' states). Decided here, from the checkout and the unmatched payments sent to its
//! address, by the same entitlement the requests are held to: the browser never decides money.

use usdt_checkout_protocol::ChainId;

use super::{Whose, entitlement};
use crate::domain::{ChainPayment, Checkout};

/// Whether an unmatched payment `sent_for` a checkout is tied to its shopper beyond going to
/// the same address: a receiving address is shared by many orders, and a payment anyone sent
/// there later is no order's shopper's by that alone. Tied when the paying wallet proved it
/// (signed), when it came on another network than the order's (the wrong network: what the
/// widget's status already names), or when it came from a wallet that paid this order before
/// (paid twice, or again after it was over).
pub fn tied(checkout: &Checkout, chain: ChainId, payment: &ChainPayment, proven: bool) -> bool {
    proven
        || checkout.terms.as_ref().is_some_and(|t| t.chain_id != chain)
        || checkout
            .chain_payments
            .iter()
            .any(|p| p.from == payment.from)
}

/// Whether money arrived that the shopper of `checkout` may be owed back, whatever was refunded
/// of it since: an overpaid order, an order expired or cancelled with money received, a payment
/// on the wrong network, a second payment, or one after the order was over (`unmatched`: the
/// payments sent to its address that no order took, each with its chain). True stays true once
/// all of it is refunded, so the shopper still sees their refunds.
pub fn offered(checkout: &Checkout, unmatched: &[(ChainId, ChainPayment)]) -> bool {
    let Some(terms) = &checkout.terms else {
        return false;
    };
    let owed = |chain, payment, whose| entitlement(checkout, chain, payment, whose) > 0;
    checkout
        .chain_payments
        .iter()
        .any(|p| owed(terms.chain_id, p, Whose::ThisCheckout))
        || unmatched
            .iter()
            .any(|(chain, p)| tied(checkout, *chain, p, false) && owed(*chain, p, Whose::SentFor))
}

#[cfg(test)]
mod tests {
    use usdt_checkout_protocol::checkout::CheckoutState;
    use usdt_checkout_protocol::{Address, OrderStatus};

    use super::*;
    use crate::refunds::tests::{CHAIN, DUE, OTHER_CHAIN, order, paid_with, payment};

    #[test]
    fn offered_where_money_is_the_shoppers_to_ask_back_and_nowhere_else() {
        use OrderStatus::*;
        let exact = payment(1, DUE, 10);
        let over = payment(1, DUE + 2, 10);
        let part = payment(1, DUE - 5, 10);
        assert!(!offered(&paid_with(Paid, &[exact]), &[]), "plain paid");
        assert!(
            offered(&paid_with(Paid, std::slice::from_ref(&over)), &[]),
            "overpaid"
        );
        assert!(offered(&paid_with(PaidLate, &[over]), &[]), "overpaid late");
        assert!(!offered(&paid_with(Waiting, &[]), &[]), "nothing arrived");
        assert!(
            !offered(&paid_with(PartiallyPaid, std::slice::from_ref(&part)), &[]),
            "still owed"
        );
        assert!(
            offered(&paid_with(Expired, std::slice::from_ref(&part)), &[]),
            "expired, part paid"
        );
        assert!(
            offered(&paid_with(Failed, &[part]), &[]),
            "cancelled, part paid"
        );
        assert!(
            !offered(&paid_with(Expired, &[]), &[]),
            "expired, nothing paid"
        );
    }

    #[test]
    fn an_unmatched_payment_is_offered_only_when_tied_to_this_shopper() {
        use OrderStatus::*;
        let waiting = paid_with(Waiting, &[]);
        let wrong_network = payment(2, DUE, 11);
        assert!(offered(&waiting, &[(OTHER_CHAIN, wrong_network.clone())]));
        let mut stranger = payment(3, DUE, 12);
        stranger.from = Address::from_bytes([0x77; 20]);
        assert!(
            !offered(&waiting, &[(CHAIN, stranger.clone())]),
            "someone's payment to the shared address, the order still waiting"
        );
        let paid = paid_with(Paid, &[payment(1, DUE, 10)]);
        assert!(
            !offered(&paid, &[(CHAIN, stranger.clone())]),
            "a stranger's later payment to the same address"
        );
        let again = payment(4, DUE, 13);
        assert!(
            offered(&paid, &[(CHAIN, again.clone())]),
            "paid twice from the wallet that paid"
        );
        let mut over = paid_with(Expired, &[]);
        assert!(
            !offered(&over, &[(CHAIN, stranger)]),
            "late, from no wallet of this order"
        );
        over.chain_payments = vec![payment(1, 1, 9)];
        assert!(offered(&over, &[(CHAIN, again)]), "late, from its wallet");
        assert!(tied(&waiting, CHAIN, &payment(5, 1, 1), true), "signed");
        let mut open = order(Waiting);
        open.state = CheckoutState::OPEN;
        open.terms = None;
        assert!(
            !offered(&open, &[(OTHER_CHAIN, wrong_network)]),
            "no order yet: nothing is its"
        );
    }
}
