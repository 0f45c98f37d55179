//! The status line: where the payment is, in one sentence.

use usdt_checkout_protocol::OrderStatus;
use usdt_checkout_protocol::checkout::CheckoutView;

use crate::i18n::{Strings, Text};

/// The one line that says where the payment is; read out by screen readers as it changes.
pub fn status_text(strings: Strings, view: &CheckoutView) -> String {
    let Some(payment) = &view.payment else {
        return strings.text(Text::Waiting, &[]);
    };
    use usdt_checkout_protocol::checkout::CheckoutState::Order;
    match view.state {
        Order(OrderStatus::Waiting) | usdt_checkout_protocol::checkout::CheckoutState::Open(_) => {
            strings.text(Text::Waiting, &[])
        }
        Order(OrderStatus::PartiallyPaid) => strings.text(
            Text::PartiallyPaid,
            &[
                ("amount", &strings.amount(&payment.remaining)),
                ("symbol", &payment.symbol),
            ],
        ),
        Order(OrderStatus::Confirming) => strings.text(
            Text::Confirming,
            &[
                ("count", &payment.confirmations.unwrap_or(0).to_string()),
                ("required", &payment.required_confirmations.to_string()),
            ],
        ),
        Order(OrderStatus::Paid) => strings.text(Text::Paid, &[]),
        Order(OrderStatus::Expired) => {
            strings.text(super::note(Text::Expired, view.refundable), &[])
        }
        Order(OrderStatus::PaidLate) => strings.text(Text::PaidLate, &[]),
        Order(OrderStatus::Failed) => strings.text(super::note(Text::Failed, view.refundable), &[]),
    }
}
