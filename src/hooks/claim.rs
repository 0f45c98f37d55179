//! "I already paid": the transaction the shopper names, looked up by the merchant server.

use std::rc::Rc;

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::client;
use crate::model::{Action, Model, Phase};
use crate::options::Settings;

/// The callback that claims the transaction hash it is given for the checkout on screen: the
/// server's answer is the checkout's view (applied as a status poll's) or why not. An empty hash,
/// or a claim while one is under way, is ignored.
#[hook]
pub fn use_claim(model: &UseReducerHandle<Model>, settings: &Rc<Settings>) -> Callback<String> {
    let (model, settings) = (model.clone(), settings.clone());
    Callback::from(move |hash: String| {
        let Phase::Paying(view) = &model.phase else {
            return;
        };
        if hash.is_empty() || model.claim.busy {
            return;
        }
        model.dispatch(Action::Claim);
        let (model, settings, id) = (model.clone(), settings.clone(), view.id.clone());
        spawn_local(async move {
            let answer = client::claim(&settings.merchant_url, &id, &hash).await;
            // Found, the form closes with the button the shopper pressed in it.
            let found = answer.is_ok();
            crate::keep_focus(&model.heading, found, || {
                model.dispatch(Action::Claimed(id, answer))
            });
        });
    })
}
