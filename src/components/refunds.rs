//! The shopper's refunds, under the payment once the server says money is refundable: each
//! request with its state (asked, approved, sent with its transfer and receipt, or refused with
//! the merchant's reason, as text), a polite word when one changes, and "Ask for a refund": the
//! address it goes to (the paying wallet's, unless the shopper types another), signed by the
//! wallet that paid, or asked without a signature (paid from an exchange) with an email.
//! Rendered from the model's [`Refunds`]; [`crate::hooks::use_refunds`] reads and asks. A
//! function, not a component: it keeps no state of its own.

use usdt_checkout_protocol::refund::{RefundState, RefundView, RefundableView};
use yew::prelude::*;

use super::payment::short;
use super::wallet_pay::{wallet_name, wallet_problem};
use super::{form_value, nodes, target_value};
use crate::i18n::{Strings, Text};
use crate::model::{Asking, RefundProblem, Refunds};
use crate::refusal;
use crate::wallet::{Wallet, WalletError};

/// What the refunds' part shows, and what its controls call.
pub struct RefundPanel<'a> {
    pub strings: Strings,
    pub refunds: &'a Refunds,
    /// This widget among those on the page: its elements' ids are its own.
    pub instance: u32,
    pub wallets: &'a [Wallet],
    /// The checkout server's base URL: a receipt is downloaded from it.
    pub merchant_url: &'a str,
    pub on_ask: &'a Callback<Asking>,
    pub on_destination: &'a Callback<String>,
}

/// The refunds' part; nothing until the refunds are read, or when there is nothing to show.
pub fn refund_panel(panel: &RefundPanel) -> Html {
    let RefundPanel {
        strings, refunds, ..
    } = *panel;
    let Some(view) = &refunds.view else {
        return html! {};
    };
    if view.refunds.is_empty() && view.refundable.is_empty() {
        return html! {};
    }
    let title = id(panel, "title");
    // The refund that changed last, said once (the region is hidden: the list shows it).
    let news = refunds
        .news
        .as_ref()
        .and_then(|news| view.refunds.iter().find(|refund| &refund.id == news))
        .map(|refund| {
            let reason = refund.reason.as_deref().unwrap_or_default();
            crate::cat(&[
                &what(strings, refund),
                " ",
                &state(strings, refund),
                " ",
                reason,
            ])
        });
    let mut items = Vec::new();
    for refund in &view.refunds {
        items.push(item(strings, refund, panel.merchant_url));
    }
    let mut forms = Vec::new();
    for (index, offered) in view.refundable.iter().enumerate() {
        forms.push(form(panel, index, offered));
    }
    let (items, forms) = (nodes(items), nodes(forms));
    html! {
        <section class="usdt-checkout__refunds" aria-labelledby={title.clone()}>
            <h2 class="usdt-checkout__heading" id={title} tabindex="-1" ref={refunds.heading.clone()}>
                { strings.text(Text::RefundsTitle, &[]) }
            </h2>
            if !view.refunds.is_empty() {
                <ul class="usdt-checkout__refund-list">
                    { items }
                </ul>
            }
            <p class="usdt-checkout__announce" role="status">{ news.unwrap_or_default() }</p>
            // One request at a time: a second beside one undecided would only repeat it.
            if !crate::refunds::waiting(view) {
                { forms }
            }
        </section>
    }
}

/// An id of this widget's own.
fn id(panel: &RefundPanel, part: &str) -> String {
    crate::cat(&[
        "usdt-checkout-",
        &panel.instance.to_string(),
        "-refund-",
        part,
    ])
}

/// "2 USDT to 0x3C44…93BC".
fn what(strings: Strings, refund: &RefundView) -> String {
    let address = refund.destination.to_string();
    strings.text(
        Text::RefundOf,
        &[
            ("amount", &strings.amount(&refund.amount)),
            ("symbol", &refund.symbol),
            ("address", &short(&address)),
        ],
    )
}

/// Where a refund is, in one sentence.
fn state(strings: Strings, refund: &RefundView) -> String {
    let text = match refund.state {
        RefundState::Requested if refund.proven => Text::RefundRequested,
        RefundState::Requested => Text::RefundRequestedUnproven,
        RefundState::Approved => Text::RefundApproved,
        RefundState::Sent if refund.confirmations.is_some() => Text::RefundSentConfirmations,
        RefundState::Sent => Text::RefundSent,
        RefundState::Refused => Text::RefundRefused,
    };
    let count = refund.confirmations.unwrap_or(0).to_string();
    strings.text(text, &[("network", &refund.network), ("count", &count)])
}

fn item(strings: Strings, refund: &RefundView, merchant_url: &str) -> Html {
    let t = |key| strings.text(key, &[]);
    html! {
        <li class="usdt-checkout__refund">
            <p class="usdt-checkout__refund-what">{ what(strings, refund) }</p>
            <p class="usdt-checkout__refund-state">{ state(strings, refund) }</p>
            // The merchant's words, as text: never markup.
            if let Some(reason) = &refund.reason {
                <blockquote class="usdt-checkout__refund-reason">{ reason.clone() }</blockquote>
            }
            if let Some(tx) = &refund.sent_tx {
                <p class="usdt-checkout__refund-sent">
                    <code class="usdt-checkout__tx" dir="ltr" title={tx.clone()}>{ short(tx) }</code>
                    if let Some(url) = &refund.explorer_url {
                        { " " }<a href={url.clone()} target="_blank" rel="noopener">{ t(Text::ViewOnExplorer) }</a>
                    }
                    if let Some(path) = &refund.receipt_url {
                        { " " }<a class="usdt-checkout__refund-receipt" href={crate::cat(&[merchant_url, path])} download="">{ t(Text::RefundReceipt) }</a>
                    }
                </p>
            }
        </li>
    }
}

/// "Ask for a refund" of the `index`th payment offered: a native disclosure.
fn form(panel: &RefundPanel, index: usize, offered: &RefundableView) -> Html {
    let RefundPanel {
        strings, refunds, ..
    } = *panel;
    let t = |key| strings.text(key, &[]);
    let n = index.to_string();
    let (hint_id, error) = (
        id(panel, &crate::cat(&["hint-", &n])),
        id(panel, &crate::cat(&["error-", &n])),
    );
    let from = offered.from.to_string();
    let problem = match &refunds.problem {
        None => String::new(),
        Some(RefundProblem::BadAddress) => t(Text::RefundBadAddress),
        Some(RefundProblem::Wallet(WalletError::OtherAccount)) => {
            strings.text(Text::ClaimNotSender, &[("sender", &from)])
        }
        // Signing asks no network of the wallet.
        Some(RefundProblem::Wallet(error)) => wallet_problem(strings, *error, ""),
        Some(RefundProblem::Refused(failure)) => refusal::refund(strings, failure),
    };
    let bad_address = matches!(refunds.problem, Some(RefundProblem::BadAddress));
    let busy = refunds.busy.then_some("true");
    let onsubmit = panel.on_ask.reform(move |event: SubmitEvent| {
        event.prevent_default();
        Asking {
            index,
            wallet: None,
            email: form_value(event.target(), "email"),
        }
    });
    let oninput = panel
        .on_destination
        .reform(|event: InputEvent| target_value(event.target()));
    // One callback for every wallet's button, which carries the wallet's place in the list as
    // its value: a closure per button would be code per button.
    let on_sign = {
        let (on_ask, wallets) = (panel.on_ask.clone(), panel.wallets.to_vec());
        Callback::from(move |event: MouseEvent| {
            let place = target_value(event.target()).parse::<usize>().ok();
            if let Some(wallet) = place.and_then(|place| wallets.get(place)) {
                on_ask.emit(Asking {
                    index,
                    wallet: Some(wallet.clone()),
                    email: String::new(),
                });
            }
        })
    };
    let mut signs = Vec::new();
    for (place, wallet) in panel.wallets.iter().enumerate() {
        let name = if refunds.busy && refunds.signing {
            t(Text::SignInWallet)
        } else {
            strings.text(
                Text::RefundSignWith,
                &[("wallet", &wallet_name(strings, wallet))],
            )
        };
        signs.push(html! {
            <button type="button" class="usdt-checkout__secondary usdt-checkout__refund-sign" value={place.to_string()} aria-disabled={busy} onclick={on_sign.clone()}>
                { name }
            </button>
        });
    }
    let signs = nodes(signs);
    html! {
        // Held open while asked, when refused, and once the shopper typed an address: a render
        // that closed it would take the field from under their fingers.
        <details class="usdt-checkout__disclosure usdt-checkout__refund-ask" open={refunds.busy || refunds.problem.is_some() || refunds.destination.is_some()}>
            <summary class="usdt-checkout__claim-toggle">{ t(Text::RefundAsk) }</summary>
            <form class="usdt-checkout__claim-form" {onsubmit}>
                <p class="usdt-checkout__refund-offer">
                    { strings.text(Text::RefundOffer, &[
                        ("amount", &strings.amount(&offered.max)),
                        ("symbol", &offered.symbol),
                        ("network", &offered.network),
                        ("from", &short(&from)),
                    ]) }
                </p>
                <label class="usdt-checkout__label">
                    { t(Text::RefundTo) }
                    <input class="usdt-checkout__input" type="text" name="destination"
                        value={refunds.destination.clone().unwrap_or(from)} {oninput}
                        aria-describedby={crate::cat(&[&hint_id, " ", &error])}
                        aria-invalid={bad_address.then_some("true")}
                        autocomplete="off" spellcheck="false" autocapitalize="off" dir="ltr" />
                </label>
                <p class="usdt-checkout__prove-hint" id={hint_id}>{ t(Text::RefundToHint) }</p>
                if !panel.wallets.is_empty() {
                    { signs }
                    <p class="usdt-checkout__prove-hint">{ t(Text::RefundSignHint) }</p>
                }
                <p class="usdt-checkout__prove-hint">{ t(Text::RefundExchangeHint) }</p>
                <label class="usdt-checkout__label">
                    { t(Text::RefundEmail) }
                    <input class="usdt-checkout__input" type="email" name="email" autocomplete="email"
                        aria-describedby={error.clone()} dir="ltr" />
                </label>
                <button type="submit" class="usdt-checkout__secondary usdt-checkout__refund-unsigned" aria-disabled={busy}>
                    { if refunds.busy && !refunds.signing { t(Text::RefundSending) } else { t(Text::RefundAskUnsigned) } }
                </button>
                <p class="usdt-checkout__claim-error usdt-checkout__refund-error" id={error} role="alert">{ problem }</p>
            </form>
        </details>
    }
}
