//! "I already paid": the transaction the shopper names, looked up by the merchant server; and,
//! once it is kept for the merchant to check, the proof that the shopper sent it, signed by the
//! wallet that did.

use std::rc::Rc;

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::client;
use crate::model::{Action, Model, Phase};
use crate::options::Settings;
use crate::wallet::Wallet;

/// Two callbacks for the checkout on screen. The first claims the transaction hash it is given:
/// the server's answer is the checkout's view (applied as a status poll's), the payment kept for
/// review, or why not. The second asks the wallet it is given to sign for the payment under
/// review, and claims it again with the signature. An empty hash, or either while a claim or a
/// proof is under way, is ignored.
#[hook]
pub fn use_claim(
    model: &UseReducerHandle<Model>,
    settings: &Rc<Settings>,
) -> (Callback<String>, Callback<Wallet>) {
    // One task for both (each kind of task is code of its own in the download): the claim of
    // `hash`, signed first by `wallet` when it proves the payment under review.
    let claim = {
        let (model, settings) = (model.clone(), settings.clone());
        move |hash: String, wallet: Option<Wallet>| {
            let Phase::Paying(view) = &model.phase else {
                return;
            };
            let review = model.claim.review.clone();
            if hash.is_empty() || model.claim.busy || wallet.is_some() && review.is_none() {
                return;
            }
            model.dispatch(if wallet.is_some() {
                Action::Prove
            } else {
                Action::Claim
            });
            let (model, settings, id) = (model.clone(), settings.clone(), view.id.clone());
            spawn_local(async move {
                let mut signature = None;
                if let (Some(wallet), Some(review)) = (wallet, review) {
                    match wallet.sign(&review.message, &review.sender).await {
                        Ok(signed) => signature = Some(signed),
                        Err(error) => return model.dispatch(Action::Unproven(error)),
                    }
                }
                let answer =
                    client::claim(&settings.merchant_url, &id, &hash, signature.as_deref()).await;
                // Found, the form closes with the button the shopper pressed in it.
                let found = answer.is_ok();
                crate::keep_focus(&model.heading, found, || {
                    model.dispatch(Action::Claimed { id, hash, answer })
                });
            });
        }
    };
    let on_claim = {
        let claim = claim.clone();
        Callback::from(move |hash: String| claim(hash, None))
    };
    let on_prove = {
        let model = model.clone();
        Callback::from(move |wallet: Wallet| {
            let hash = model
                .claim
                .review
                .as_ref()
                .map(|review| review.tx_hash.clone())
                .unwrap_or_default();
            claim(hash, Some(wallet))
        })
    };
    (on_claim, on_prove)
}
