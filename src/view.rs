//! What the shopper sees around the payment panel: the chooser, the status line and notices.
//! Pure rendering from arguments; the root component owns the state and the I/O.

use usdt_checkout_protocol::checkout::{CheckoutView, GatewayHealth};
use usdt_checkout_protocol::{ChainId, OrderStatus};
use yew::prelude::*;

use crate::client::Offer;
use crate::i18n::{Strings, Text};
use crate::model::Notice;

/// What the chooser shows: the offer, the shopper's choice so far, and what to do with it.
pub struct Choice<'a> {
    pub strings: Strings,
    pub offer: &'a Offer,
    pub chain: Option<ChainId>,
    pub symbol: Option<&'a str>,
    pub allowed_chains: Option<&'a [ChainId]>,
    pub allowed_tokens: Option<&'a [String]>,
    pub busy: bool,
    pub on_choose: Callback<(ChainId, String)>,
    pub on_continue: Callback<()>,
}

// Only stateful parts are components, each in its own module ([`crate::payment`],
// [`crate::countdown`], [`crate::wallet_pay`]): every component costs the download its own copy
// of Yew's lifecycle code, so the rest are functions.

/// Network and token, as radio groups (arrow keys move within a group, as shoppers expect).
pub fn chooser(props: &Choice) -> Html {
    let t = |key| props.strings.text(key, &[]);
    let networks = props.offer.networks.iter().filter(|n| {
        props
            .allowed_chains
            .as_ref()
            .is_none_or(|a| a.contains(&n.chain_id))
    });
    let tokens: Vec<_> = props
        .offer
        .tokens
        .iter()
        .filter(|tok| Some(tok.chain_id) == props.chain)
        .filter(|tok| {
            props
                .allowed_tokens
                .as_ref()
                .is_none_or(|a| a.contains(&tok.symbol))
        })
        .collect();
    html! {
        <form class="usdt-checkout__chooser" onsubmit={props.on_continue.reform(|e: SubmitEvent| e.prevent_default())}>
            <h2 class="usdt-checkout__heading">{ t(Text::ChooseNetwork) }</h2>
            <fieldset>
                <legend>{ t(Text::Network) }</legend>
                { for networks.map(|network| {
                    let chain = network.chain_id;
                    let symbol = props.offer.tokens.iter().find(|tok| tok.chain_id == chain).map(|tok| tok.symbol.clone()).unwrap_or_default();
                    let onchange = props.on_choose.reform(move |_| (chain, symbol.clone()));
                    html! {
                        <label class="usdt-checkout__option">
                            <input type="radio" name="usdt-checkout-network" value={chain.to_string()}
                                checked={props.chain == Some(chain)} {onchange} disabled={props.busy} />
                            <span>{ &network.name }</span>
                        </label>
                    }
                }) }
            </fieldset>
            <fieldset>
                <legend>{ t(Text::Token) }</legend>
                { for tokens.iter().map(|token| {
                    let (chain, symbol) = (token.chain_id, token.symbol.clone());
                    let onchange = props.on_choose.reform(move |_| (chain, symbol.clone()));
                    html! {
                        <label class="usdt-checkout__option">
                            <input type="radio" name="usdt-checkout-token" value={token.symbol.clone()}
                                checked={props.symbol == Some(token.symbol.as_str())} {onchange} disabled={props.busy} />
                            <span>{ &token.symbol }</span>
                        </label>
                    }
                }) }
            </fieldset>
            <button type="submit" class="usdt-checkout__primary" disabled={props.busy || props.symbol.is_none()} aria-busy={props.busy.to_string()}>
                { if props.busy { t(Text::Loading) } else { t(Text::Continue) } }
            </button>
        </form>
    }
}

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
        Order(OrderStatus::Expired) => strings.text(Text::Expired, &[]),
        Order(OrderStatus::PaidLate) => strings.text(Text::PaidLate, &[]),
        Order(OrderStatus::Failed) => strings.text(Text::Failed, &[]),
    }
}

/// Trouble with a connection: shown, never fatal; polling goes on behind it.
pub fn connection_notice(
    strings: Strings,
    notice: Option<Notice>,
    gateway: Option<GatewayHealth>,
) -> Html {
    let text = match (notice, gateway) {
        (Some(Notice::MerchantUnreachable), _) => Some(Text::MerchantUnreachable),
        (Some(Notice::RateLimited), _) => Some(Text::RateLimited),
        (None, Some(GatewayHealth::RateLimited { .. } | GatewayHealth::Blocked { .. })) => {
            Some(Text::RateLimited)
        }
        (None, Some(GatewayHealth::Unreachable { .. })) => Some(Text::GatewayUnavailable),
        _ => None,
    };
    match text {
        Some(text) => {
            html! { <p class="usdt-checkout__notice" role="alert">{ strings.text(text, &[]) }</p> }
        }
        None => html! {},
    }
}
