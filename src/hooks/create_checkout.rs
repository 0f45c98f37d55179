//! Creating the checkout for the shopper's choice.

use std::rc::Rc;

use usdt_checkout_protocol::checkout::CreateCheckout;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::{dispatch, memory};
use crate::client;
use crate::model::{Action, Model};
use crate::options::{Purchase, Settings};

/// A fresh key per purchase: retries of one purchase share it, a new purchase gets another.
fn idempotency_key() -> String {
    format!(
        "w{:016x}{:016x}",
        (js_sys::Math::random() * 2f64.powi(53)) as u64,
        js_sys::Date::now() as u64
    )
}

/// The callback that creates the checkout for the chosen network and token, and tells the host
/// page once it is created.
#[hook]
pub fn use_create_checkout(
    model: &UseReducerHandle<Model>,
    settings: &Rc<Settings>,
    host: &Option<web_sys::Element>,
) -> Callback<()> {
    let key = use_memo(model.attempt, |_| idempotency_key());
    let (model, settings, host) = (model.clone(), settings.clone(), host.clone());
    Callback::from(move |()| {
        let (Some(chain), Some(symbol)) = (model.chain, model.symbol.clone()) else {
            return;
        };
        model.dispatch(Action::Start);
        let (model, settings, key, host) = (
            model.clone(),
            settings.clone(),
            (*key).clone(),
            host.clone(),
        );
        spawn_local(async move {
            let (item, checkout_id) = match &settings.purchase {
                Purchase::Item(item) => (Some(item.clone()), None),
                Purchase::Checkout(id) => (None, Some(id.clone())),
            };
            let request = CreateCheckout {
                item,
                checkout_id,
                chain_id: chain,
                symbol,
                idempotency_key: key,
            };
            let created = client::create_checkout(&settings.merchant_url, &request).await;
            if let Ok(view) = &created {
                // Taken up again if the page is reloaded (see `use_offer`).
                memory(&settings, Some(&view.id));
                dispatch(&host, "created", view);
                // The chooser, Continue with it, gives way to the payment screen.
                crate::focus(&model.heading);
            }
            model.dispatch(Action::Started(created));
        });
    })
}
