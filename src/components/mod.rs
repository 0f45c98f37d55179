//! What the widget shows, one part a file, as in Yew's `function_todomvc` example: the root
//! ([`checkout`]), which keeps the state and leaves its I/O to [`crate::hooks`], and the parts it
//! renders. Only the parts with state of their own are `#[function_component]`s ([`Payment`],
//! [`Countdown`], [`WalletPay`]): each costs the download its own copy of Yew's lifecycle code,
//! so the rest are functions of what the root passes them.

pub mod checkout;
pub mod chooser;
pub mod claim;
pub mod countdown;
pub mod notice;
pub mod payment;
pub mod refunds;
pub mod status;
pub mod wallet_pay;

pub use checkout::{Checkout, CheckoutProps, Screen, screen};
pub use chooser::{Choice, chooser};
pub use claim::claim_form;
pub use countdown::Countdown;
pub use notice::connection_notice;
pub use payment::{Payment, PaymentProps, asks_for_payment};
pub use refunds::{RefundPanel, refund_panel};
pub use status::status_text;
pub use wallet_pay::WalletPay;

use wasm_bindgen::JsValue;
use yew::Html;

use crate::i18n::Text;

/// The note to show for `text` when the server says money is `refundable`: the refunds' form is
/// then below it, so a note that would send the shopper to the merchant points there instead
/// (the unmatched one still names the merchant: a payment to the shared address is offered only
/// when tied to this shopper). Any other text, or nothing refundable, is left as it is.
pub(crate) fn note(text: Text, refundable: bool) -> Text {
    match (text, refundable) {
        (Text::Overpaid, true) => Text::OverpaidRefundable,
        (Text::Unmatched, true) => Text::UnmatchedRefundable,
        (Text::WrongNetwork, true) => Text::WrongNetworkRefundable,
        (Text::Expired, true) => Text::ExpiredRefundable,
        (Text::Failed, true) => Text::FailedRefundable,
        _ => text,
    }
}

/// Markup made in a loop, as one list. Lists are built by plain loops into this one shape: each
/// `for` in `html!` collects its own iterator's type, which is code per list in the download.
pub(crate) fn nodes(children: Vec<Html>) -> Html {
    yew::virtual_dom::VList::with_children(children, None).into()
}

/// `key` of `object`, if it has one.
fn property(object: &JsValue, key: &str) -> Option<JsValue> {
    js_sys::Reflect::get(object, &key.into()).ok()
}

/// The `value` of the element an event happened on: an input's text, a button's value.
pub(crate) fn target_value(target: Option<web_sys::EventTarget>) -> String {
    let target: JsValue = target.map(Into::into).unwrap_or_default();
    property(&target, "value")
        .and_then(|value| value.as_string())
        .unwrap_or_default()
}

/// `name`'s value in the form `target` is (a form sent): read as the form is sent, nothing
/// kept while typing.
pub(crate) fn form_value(target: Option<web_sys::EventTarget>, name: &str) -> String {
    let form: JsValue = target.map(Into::into).unwrap_or_default();
    target_value(property(&form, name).map(Into::into))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_points_to_the_refunds_only_when_money_is_refundable() {
        for (text, refundable) in [
            (Text::Overpaid, Text::OverpaidRefundable),
            (Text::Unmatched, Text::UnmatchedRefundable),
            (Text::WrongNetwork, Text::WrongNetworkRefundable),
            (Text::Expired, Text::ExpiredRefundable),
            (Text::Failed, Text::FailedRefundable),
        ] {
            assert_eq!(note(text, false), text);
            assert_eq!(note(text, true), refundable);
        }
        assert_eq!(note(Text::Paid, true), Text::Paid, "nothing to ask back");
        assert_eq!(note(Text::PaidLate, true), Text::PaidLate);
    }
}
