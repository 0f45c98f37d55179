//! Telling the host page what happened, through DOM events on the element the widget is
//! mounted in.

use usdt_checkout_protocol::OrderStatus;
use usdt_checkout_protocol::checkout::{CheckoutState, CheckoutView};
use wasm_bindgen::JsValue;
use yew::prelude::*;

use crate::model::Phase;

/// `usdt-checkout:<name>` on the host, with `{orderId, state, txHash}` as its detail.
pub fn dispatch(host: &Option<web_sys::Element>, name: &str, view: &CheckoutView) {
    let Some(host) = host else { return };
    let detail = js_sys::Object::new();
    let tx = view
        .payment
        .as_ref()
        .and_then(|p| p.transactions.last())
        .map(|t| JsValue::from_str(&t.hash))
        .unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&detail, &"orderId".into(), &view.id.as_str().into());
    let _ = js_sys::Reflect::set(&detail, &"state".into(), &view.state.as_str().into());
    let _ = js_sys::Reflect::set(&detail, &"txHash".into(), &tx);
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    init.set_bubbles(true);
    init.set_composed(true);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(
        &crate::cat(&["usdt-checkout:", name]),
        &init,
    ) {
        let _ = host.dispatch_event(&event);
    }
}

/// Tells the host about every change of the order's state: `status` always, and `paid`,
/// `expired` or `failed` when it ends so.
#[hook]
pub fn use_host_events(host: &Option<web_sys::Element>, phase: &Phase) {
    let host = host.clone();
    let state = match phase {
        Phase::Paying(view) => Some((view.state, view.clone())),
        _ => None,
    };
    use_effect_with(state.as_ref().map(|(s, _)| *s), move |changed| {
        if let (Some(_), Some((state, view))) = (changed, state) {
            dispatch(&host, "status", &view);
            match state {
                CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate) => {
                    dispatch(&host, "paid", &view)
                }
                CheckoutState::Order(OrderStatus::Expired) => dispatch(&host, "expired", &view),
                CheckoutState::Order(OrderStatus::Failed) => dispatch(&host, "failed", &view),
                _ => {}
            }
        }
    });
}
