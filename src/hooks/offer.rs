//! Loading what can be paid with, or taking up a checkout already under way: a storefront's, or
//! the one this browser started before a reload.

use std::rc::Rc;

use usdt_checkout_protocol::OrderStatus;
use usdt_checkout_protocol::checkout::CheckoutState;
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::client;
use crate::model::{Action, Model};
use crate::options::{Purchase, Settings};

/// Whether a checkout with a payment screen is worth coming back to after a reload: it can
/// still end paid by this shopper. Paid, paid late and cancelled are over; an expiry with
/// nothing paid is too (the shopper starts a new order).
pub fn resumes(state: CheckoutState, paid_atomic: &str) -> bool {
    match state {
        CheckoutState::Order(status) if status.is_final() => false,
        CheckoutState::Order(OrderStatus::Expired) => paid_atomic != "0",
        _ => true,
    }
}

/// This purchase's checkout id as remembered across reloads (`write` is `None`); or remembers
/// `write` in its place, where "" forgets it. Kept per merchant and item in `localStorage` (a
/// storefront's checkout is its own id). One function, not three: every shopper downloads it.
pub fn memory(settings: &Settings, write: Option<&str>) -> Option<String> {
    let Purchase::Item(item) = &settings.purchase else {
        return None;
    };
    let storage = web_sys::window()?.local_storage().ok()??;
    let key = crate::cat(&["usdt-checkout ", &settings.merchant_url, " ", item]);
    match write {
        Some(id) => storage.set_item(&key, id).ok().and(None),
        None => storage.get_item(&key).ok()?.filter(|id| !id.is_empty()),
    }
}

/// Loads the networks and tokens on mount; a checkout already under way (a storefront's, or
/// the one remembered from before a reload) is taken up instead.
#[hook]
pub fn use_offer(model: &UseReducerHandle<Model>, settings: &Rc<Settings>) {
    let (model, settings) = (model.clone(), settings.clone());
    use_effect_with((), move |_| {
        let storefront = matches!(settings.purchase, Purchase::Checkout(_));
        let id = match &settings.purchase {
            Purchase::Checkout(id) => Some(id.clone()),
            Purchase::Item(_) => memory(&settings, None),
        };
        spawn_local(async move {
            if let Some(id) = id
                && let Ok(poll) = client::poll_status(&settings.merchant_url, &id, None).await
                && let Some(view) = poll.view
                && let Some(payment) = &view.payment
            {
                let resumes = resumes(view.state, &payment.paid_atomic);
                if storefront {
                    model.dispatch(Action::Started(Ok(view)));
                    return;
                }
                if resumes {
                    model.dispatch(Action::Resumed(view));
                    return;
                }
                // Over (paid, cancelled, expired unpaid): forgotten, and a new order can start.
                memory(&settings, Some(""));
            }
            let offer = client::offer(&settings).await;
            model.dispatch(Action::Offered(offer, settings.default_chain));
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_order_resumes_and_an_ended_one_does_not() {
        use OrderStatus::*;
        let order = CheckoutState::Order;
        for status in [Waiting, PartiallyPaid, Confirming] {
            assert!(resumes(order(status), "0"), "{status}");
        }
        for status in [Paid, PaidLate, Failed] {
            assert!(!resumes(order(status), "24995001"), "{status}");
        }
        assert!(!resumes(order(Expired), "0"), "expired, nothing paid");
        assert!(resumes(order(Expired), "10000000"), "expired, part paid");
    }
}
