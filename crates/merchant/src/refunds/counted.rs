//! What of an order's payments still counts toward what it was paid, once money was given back:
//! a payment counts less what was refunded of it, approved or sent (promised is as good as
//! gone: the merchant's wallet pays it). Without this, an order whose payment was refunded and
//! that was then paid again (an expired order paid late, say) would count the refunded money
//! twice: paid in full while the merchant holds less, and its "excess" askable back again.

use usdt_checkout_protocol::ChainId;

use super::{Refund, committed};
use crate::domain::Checkout;

/// `checkout` as its payments count, its order being on `chain` and `refunds` being refunds of
/// its payments (others are ignored): each payment's value less what was refunded of it (kept
/// at zero when all of it was, so its transaction is still the order's), and the gateway's
/// amount less all of that, as the gateway counted those payments too.
pub fn counted(checkout: &Checkout, chain: ChainId, refunds: &[Refund]) -> Checkout {
    let mut counted = checkout.clone();
    let mut given_back = 0u128;
    for payment in &mut counted.chain_payments {
        let of_it = refunds.iter().filter(|r| r.is_of(chain, payment));
        let back = committed(of_it, None).min(payment.value);
        payment.value -= back;
        given_back += back;
    }
    counted.gateway.paid_atomic = counted.gateway.paid_atomic.saturating_sub(given_back);
    counted
}
