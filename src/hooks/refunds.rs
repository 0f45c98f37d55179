//! The shopper's refunds: read when the status view says money is refundable, again as the
//! view changes and, while a request is undecided or its transfer unconfirmed, every few
//! seconds (see [`refunds::read_again_in`]); and a request, signed first by the wallet that paid when the shopper proves it.

use std::cell::Cell;
use std::rc::Rc;

use usdt_checkout_protocol::Address;
use usdt_checkout_protocol::refund::{RefundAsk, refund_message};
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::model::{Action, Asking, Model, Phase, RefundProblem};
use crate::options::Settings;
use crate::refunds;

/// How long a failed read of the refunds waits before the next.
const AFTER_FAILURE_MS: u32 = 5_000;

/// Reads the refunds of the checkout on screen whenever its view says money is refundable;
/// returns what asks for one.
#[hook]
pub fn use_refunds(model: &UseReducerHandle<Model>, settings: &Rc<Settings>) -> Callback<Asking> {
    let key = match &model.phase {
        Phase::Paying(view) if view.refundable => {
            Some((view.id.clone(), view.version, model.refunds.reads))
        }
        _ => None,
    };
    {
        let (model, settings) = (model.clone(), settings.clone());
        use_effect_with(key, move |key| {
            let cancelled = Rc::new(Cell::new(false));
            if let Some((id, _, _)) = key.clone() {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    let Ok(view) = refunds::refunds(&settings.merchant_url, &id).await else {
                        // Read again later: a failed read changes nothing shown.
                        return again(&cancelled, model, AFTER_FAILURE_MS);
                    };
                    if cancelled.get() {
                        return;
                    }
                    let required = match &model.phase {
                        Phase::Paying(checkout) => checkout
                            .payment
                            .as_ref()
                            .map_or(1, |p| p.required_confirmations),
                        _ => 1,
                    };
                    let again_in = refunds::read_again_in(&view, required);
                    model.dispatch(Action::RefundsRead { id, view });
                    if let Some(ms) = again_in {
                        again(&cancelled, model, ms);
                    }
                });
            }
            move || cancelled.set(true)
        });
    }
    let (model, settings) = (model.clone(), settings.clone());
    Callback::from(move |asking: Asking| {
        let Phase::Paying(checkout) = &model.phase else {
            return;
        };
        let offered = model.refunds.view.as_ref().and_then(|view| {
            let item = view.refundable.get(asking.index)?;
            Some(item.clone())
        });
        let Some(item) = offered.filter(|_| !model.refunds.busy) else {
            return;
        };
        let typed = model.refunds.destination.as_deref();
        // The protocol's parser: EIP-55's checksum where the case is mixed.
        let destination: Address = match typed.map(|t| t.trim().parse()) {
            None => item.from,
            Some(Ok(address)) => address,
            Some(Err(_)) => {
                return model.dispatch(Action::RefundNotAsked(RefundProblem::BadAddress));
            }
        };
        model.dispatch(Action::AskRefund {
            signing: asking.wallet.is_some(),
        });
        let (model, settings) = (model.clone(), settings.clone());
        let id = checkout.id.clone();
        spawn_local(async move {
            let mut signature = None;
            if let Some(wallet) = asking.wallet {
                // Exactly what the server checks: the protocol's own message.
                let message = refund_message(
                    &id,
                    &item.source_tx,
                    item.chain_id,
                    &item.max,
                    &item.symbol,
                    &destination,
                );
                match wallet.sign(&message, &item.from.to_string()).await {
                    Ok(signed) => signature = Some(signed),
                    Err(error) => {
                        return model
                            .dispatch(Action::RefundNotAsked(RefundProblem::Wallet(error)));
                    }
                }
            }
            let email = asking.email.trim();
            let ask = RefundAsk {
                chain_id: item.chain_id,
                source_tx: item.source_tx,
                source_log_index: item.source_log_index,
                amount: item.max,
                destination: destination.to_string(),
                email: (signature.is_none() && !email.is_empty()).then(|| email.to_owned()),
                signature,
            };
            let answer = refunds::ask(&settings.merchant_url, &id, &ask).await;
            let asked = answer.is_ok();
            model.dispatch(Action::RefundAsked { id, answer });
            if asked {
                // The form gives way to the request's state: focus goes to the refunds' heading.
                let heading = model.refunds.heading.clone();
                gloo_timers::callback::Timeout::new(0, move || crate::focus(&heading)).forget();
                model.dispatch(Action::ReadRefunds);
            }
        });
    })
}

/// Reads the refunds again in `ms`, unless the reading was cancelled meanwhile; while the page
/// is hidden, not until it is shown (nobody reads it).
fn again(cancelled: &Rc<Cell<bool>>, model: UseReducerHandle<Model>, ms: u32) {
    let cancelled = cancelled.clone();
    gloo_timers::callback::Timeout::new(ms, move || {
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Hidden);
        match (cancelled.get(), hidden) {
            (true, _) => {}
            (false, true) => again(&cancelled, model, ms),
            (false, false) => model.dispatch(Action::ReadRefunds),
        }
    })
    .forget();
}
