//! The chooser: network and token, before the checkout is created. Pure rendering from
//! arguments; the root component owns the state and the I/O.

use usdt_checkout_protocol::ChainId;
use yew::prelude::*;

use super::nodes;
use crate::client::Offer;
use crate::i18n::{Strings, Text};

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
    let mut network_options = Vec::new();
    for network in networks {
        let chain = network.chain_id;
        let symbol = props
            .offer
            .tokens
            .iter()
            .find(|tok| tok.chain_id == chain)
            .map(|tok| tok.symbol.clone())
            .unwrap_or_default();
        let onchange = props.on_choose.reform(move |_| (chain, symbol.clone()));
        network_options.push(html! {
            <label class="usdt-checkout__option">
                <input type="radio" name="usdt-checkout-network" value={chain.to_string()}
                    checked={props.chain == Some(chain)} {onchange} disabled={props.busy} />
                <span>{ &network.name }</span>
            </label>
        });
    }
    let mut token_options = Vec::new();
    for token in &tokens {
        let (chain, symbol) = (token.chain_id, token.symbol.clone());
        let onchange = props.on_choose.reform(move |_| (chain, symbol.clone()));
        token_options.push(html! {
            <label class="usdt-checkout__option">
                <input type="radio" name="usdt-checkout-token" value={token.symbol.clone()}
                    checked={props.symbol == Some(token.symbol.as_str())} {onchange} disabled={props.busy} />
                <span>{ &token.symbol }</span>
            </label>
        });
    }
    let (network_options, token_options) = (nodes(network_options), nodes(token_options));
    html! {
        <form class="usdt-checkout__chooser" onsubmit={props.on_continue.reform(|e: SubmitEvent| e.prevent_default())}>
            <h2 class="usdt-checkout__heading">{ t(Text::ChooseNetwork) }</h2>
            <fieldset>
                <legend>{ t(Text::Network) }</legend>
                { network_options }
            </fieldset>
            <fieldset>
                <legend>{ t(Text::Token) }</legend>
                { token_options }
            </fieldset>
            <button type="submit" class="usdt-checkout__primary" disabled={props.busy || props.symbol.is_none()} aria-busy={props.busy.to_string()}>
                { if props.busy { t(Text::Loading) } else { t(Text::Continue) } }
            </button>
        </form>
    }
}
