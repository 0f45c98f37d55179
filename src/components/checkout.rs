//! The root component: its state in a reducer (see [`crate::model`]), its I/O in custom hooks
//! (see [`crate::hooks`]): loading what can be paid with, creating the checkout, polling its
//! status by the policy in [`crate::poll`], and telling the host page what happened.

use std::rc::Rc;

use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{ChainId, OrderStatus};
use yew::prelude::*;

use super::{
    Choice, Payment, RefundPanel, asks_for_payment, chooser, claim_form, connection_notice,
    refund_panel, status_text,
};
use crate::clock::ServerClock;
use crate::hooks::{
    memory, use_claim, use_create_checkout, use_host_events, use_offer, use_refunds,
    use_status_poll, use_strings, use_wallets,
};
use crate::i18n::{Strings, Text};
use crate::model::{Action, Asking, Model, Phase};
use crate::options::{Settings, Theme};
use crate::refusal;
use crate::wallet::Wallet;

#[derive(Properties, PartialEq, Clone)]
pub struct CheckoutProps {
    /// Shared, not copied: each hook keeps it.
    pub settings: Rc<Settings>,
    /// Where DOM events are dispatched (the element the widget is mounted in).
    #[prop_or_default]
    pub host: Option<web_sys::Element>,
}

#[function_component]
pub fn Checkout(props: &CheckoutProps) -> Html {
    let settings = &props.settings;
    let model = use_reducer(Model::default);
    // The shopper's language, fetched beside the offer; until it is here, the widget is loading.
    let loaded = use_strings(settings);
    let clock = use_mut_ref(ServerClock::default);
    // The countdown runs on the server's clock, right on a shopper's wrong clock.
    if let Phase::Paying(view) = &model.phase {
        clock
            .borrow_mut()
            .observe(view.server_time, js_sys::Date::now());
    }

    // What can be paid with; a storefront checkout may already be under way.
    use_offer(&model, settings);
    // Poll while an order is open; tell the host about every change.
    use_status_poll(&model, settings);
    use_host_events(&props.host, &model.phase);
    let on_continue = use_create_checkout(&model, settings, &props.host);
    let (on_claim, on_prove) = use_claim(&model, settings);
    // The wallets that can prove a payment under review, or ask for a refund.
    let wallets = use_wallets();
    // The refunds, once the server says money is refundable.
    let on_ask = use_refunds(&model, settings);
    let on_destination = {
        let model = model.clone();
        Callback::from(move |typed| model.dispatch(Action::RefundDestination(typed)))
    };

    let on_choose = {
        let model = model.clone();
        Callback::from(move |(chain, symbol): (ChainId, String)| {
            model.dispatch(Action::Choose { chain, symbol })
        })
    };
    let on_start_again = {
        let (model, settings) = (model.clone(), settings.clone());
        Callback::from(move |()| {
            memory(&settings, Some(""));
            crate::focus(&model.heading);
            model.dispatch(Action::StartAgain)
        })
    };
    let clock = *clock.borrow();
    screen(&Screen {
        strings: loaded.unwrap_or(Strings::ENGLISH),
        model: &model,
        phase: match loaded {
            Some(_) => &model.phase,
            None => &Phase::Loading,
        },
        settings,
        clock,
        wallets: &wallets.0,
        on_choose,
        on_continue,
        on_start_again,
        on_claim,
        on_prove,
        on_ask,
        on_destination,
    })
}

/// What the widget shows, and what its controls call.
pub struct Screen<'a> {
    pub strings: Strings,
    pub model: &'a Model,
    /// The model's, or loading while the shopper's language is fetched.
    pub phase: &'a Phase,
    pub settings: &'a Settings,
    /// The countdown's clock: the server's, as this browser knows it.
    pub clock: ServerClock,
    /// The wallets that can prove a payment under review.
    pub wallets: &'a [Wallet],
    pub on_choose: Callback<(ChainId, String)>,
    pub on_continue: Callback<()>,
    pub on_start_again: Callback<()>,
    pub on_claim: Callback<String>,
    pub on_prove: Callback<Wallet>,
    /// Asks for a refund; the address typed for it.
    pub on_ask: Callback<Asking>,
    pub on_destination: Callback<String>,
}

/// The widget, rendered from its state alone: every screen a shopper can reach is a [`Model`]
/// rendered here (the tests render each, in each language).
pub fn screen(screen: &Screen) -> Html {
    let Screen {
        strings,
        model,
        phase,
        settings,
        ..
    } = *screen;
    let theme = match settings.theme {
        Theme::Light => "light",
        Theme::Dark => "dark",
        Theme::Auto => "auto",
    };
    let status = match phase {
        Phase::Loading => strings.text(Text::Loading, &[]),
        Phase::Choosing | Phase::Creating => String::new(),
        Phase::Paying(view) => status_text(strings, view),
        Phase::NoNetwork => strings.text(Text::NoNetwork, &[]),
    };
    let gateway = match phase {
        Phase::Paying(view) => Some(view.gateway),
        _ => None,
    };
    let title = strings.text(Text::Title, &[]);
    // The first widget is named by its title, any other also by its number: "Pay with USDT (2)".
    let name = match model.instance {
        1 => title.clone(),
        n => crate::cat(&[&title, " (", &n.to_string(), ")"]),
    };
    html! {
        <section class="usdt-checkout" data-theme={theme} data-state={model.status().map(|s| s.as_str())} lang={strings.tag()} dir={strings.dir()} aria-label={name}>
            <h1 class="usdt-checkout__title" ref={model.heading.clone()} tabindex="-1">{ title }</h1>
            <p class="usdt-checkout__status" role="status" aria-live="polite">{ status }</p>
            { connection_notice(strings, model.notice, gateway) }
            if let Some(error) = &model.error {
                <p class="usdt-checkout__error" role="alert">{ refusal::creation(strings, error) }</p>
            }
            { match phase {
                Phase::Loading | Phase::NoNetwork => html! {},
                Phase::Choosing | Phase::Creating => chooser(&Choice {
                    strings,
                    offer: &model.offer,
                    chain: model.chain,
                    symbol: model.symbol.as_deref(),
                    allowed_chains: settings.chains.as_deref(),
                    allowed_tokens: settings.tokens.as_deref(),
                    busy: matches!(model.phase, Phase::Creating),
                    on_choose: screen.on_choose.clone(),
                    on_continue: screen.on_continue.clone(),
                }),
                Phase::Paying(view) => {
                    let offered = asks_for_payment(view.state)
                        || view.state == CheckoutState::Order(OrderStatus::Expired);
                    html! {
                        <>
                            <Payment {strings} view={view.clone()} clock={screen.clock} resumed={model.resumed} merchant_url={settings.merchant_url.clone()} on_start_again={screen.on_start_again.clone()} />
                            { claim_form(strings, &model.claim, offered, screen.wallets, &screen.on_claim, &screen.on_prove) }
                            if view.refundable {
                                { refund_panel(&RefundPanel {
                                    strings,
                                    refunds: &model.refunds,
                                    instance: model.instance,
                                    wallets: screen.wallets,
                                    merchant_url: &settings.merchant_url,
                                    on_ask: &screen.on_ask,
                                    on_destination: &screen.on_destination,
                                }) }
                            }
                        </>
                    }
                }
            } }
        </section>
    }
}
