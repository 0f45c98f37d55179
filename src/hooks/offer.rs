//! Loading what can be paid with.

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::client;
use crate::model::{Action, Model};
use crate::options::{Purchase, Settings};

/// Loads the networks and tokens on mount; a storefront checkout already under way is taken up
/// instead.
#[hook]
pub fn use_offer(model: &UseReducerHandle<Model>, settings: &Settings) {
    let (model, settings) = (model.clone(), settings.clone());
    use_effect_with((), move |_| {
        spawn_local(async move {
            if let Purchase::Checkout(id) = &settings.purchase
                && let Ok(poll) = client::poll_status(&settings.merchant_url, id, None).await
                && let Some(view) = poll.view
                && view.payment.is_some()
            {
                model.dispatch(Action::Started(Ok(view)));
                return;
            }
            let offer = client::offer(&settings).await;
            model.dispatch(Action::Offered(offer, settings.default_chain));
        });
    });
}
