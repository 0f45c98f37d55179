//! The payment panel: what to pay and where, by QR code, deep link, browser wallet or by hand,
//! then the receipt, or a way to start again.

use usdt_checkout_protocol::checkout::{
    CheckoutState, CheckoutView, PATH_CHECKOUTS, PaymentView, TransactionView,
};
use usdt_checkout_protocol::{OrderStatus, TransferRequest};
use yew::prelude::*;

use super::{Countdown, WalletPay, nodes};
use crate::clock::ServerClock;
use crate::i18n::{Strings, Text};

#[derive(Properties)]
pub struct PaymentProps {
    pub strings: Strings,
    pub view: std::rc::Rc<CheckoutView>,
    /// The countdown's clock: the server's, as this browser knows it.
    pub clock: ServerClock,
    /// Taken up again after a reload: the shopper may leave it for a new order.
    pub resumed: bool,
    /// The checkout server's base URL: the receipt is downloaded from it.
    pub merchant_url: AttrValue,
    pub on_start_again: Callback<()>,
}

/// A new view is a new `Rc` (see [`crate::model`]): comparing pointers, not every field, is
/// enough, and a fraction of the code.
impl PartialEq for PaymentProps {
    fn eq(&self, other: &Self) -> bool {
        self.strings == other.strings
            && std::rc::Rc::ptr_eq(&self.view, &other.view)
            && self.clock == other.clock
            && self.resumed == other.resumed
            && self.merchant_url == other.merchant_url
            && self.on_start_again == other.on_start_again
    }
}

/// Whether the screen asks for money: only while the full amount is not yet seen. Once it is
/// (confirming), or the order is over, no QR code, amount to send or time left is shown.
pub fn asks_for_payment(state: CheckoutState) -> bool {
    matches!(
        state,
        CheckoutState::Order(OrderStatus::Waiting | OrderStatus::PartiallyPaid)
    )
}

#[function_component]
pub fn Payment(props: &PaymentProps) -> Html {
    let strings = props.strings;
    let t = |key| strings.text(key, &[]);
    let view = &props.view;
    let status = match view.state {
        CheckoutState::Order(s) => Some(s),
        _ => None,
    };
    let partial = status == Some(OrderStatus::PartiallyPaid);
    // What to pay now: the rest, once part is paid.
    let request = view.payment.as_ref().map(|payment| TransferRequest {
        chain: payment.chain_id,
        token: payment.token_contract,
        to: payment.to_address,
        atomic_units: if partial {
            &payment.remaining_atomic
        } else {
            &payment.amount_atomic
        }
        .parse()
        .unwrap_or_default(),
    });
    // The server's links are for the full amount; once part is paid, for the rest (their amount
    // is last). Not written here from `request`: formatting a 128-bit amount is code every
    // shopper would download for it.
    let (uri, metamask) = view
        .payment
        .as_ref()
        .map(|p| {
            let rest = |link: &str| match link.strip_suffix(p.amount_atomic.as_str()) {
                Some(head) if partial => crate::cat(&[head, &p.remaining_atomic]),
                _ => link.to_owned(),
            };
            (rest(&p.payment_uri), rest(&p.metamask_link))
        })
        .unwrap_or_default();
    // Each new view renders the panel again; the QR code changes only with the amount.
    let qr = use_memo(uri, |uri| crate::qr::svg(uri).unwrap_or_default());
    let copied = use_state(|| None);
    let (Some(payment), Some(request)) = (&view.payment, request) else {
        return html! { <p>{ t(Text::Loading) }</p> };
    };
    let asks = asks_for_payment(view.state);
    let amount = if partial {
        payment.remaining.clone()
    } else {
        payment.amount.clone()
    };
    // Shown in the shopper's number format; copied, and in the QR code, as the wallet takes it.
    let shown = strings.amount(&amount);
    let qr_label = strings.text(
        Text::QrLabel,
        &[
            ("amount", &shown),
            ("symbol", &payment.symbol),
            ("network", &payment.network),
        ],
    );

    let note = |text| super::note(text, view.refundable);
    let mut unmatched = Vec::new();
    for tx in &payment.unmatched {
        let amount = strings.amount(tx.amount.as_deref().unwrap_or_default());
        let values = [("amount", amount.as_str()), ("symbol", &payment.symbol)];
        // Each class written out: a class computed at run time brings Yew's class-set
        // code, which every shopper would download for it.
        unmatched.push(match &tx.network {
            Some(network) => html! {
                <p class="usdt-checkout__note usdt-checkout__wrong-network">
                    { strings.text(note(Text::WrongNetwork), &[values[0], values[1], ("network", network), ("expected", &payment.network)]) }
                    { " " }{ transaction(strings, tx, &copied) }
                </p>
            },
            None => html! {
                <p class="usdt-checkout__note">
                    { strings.text(note(Text::Unmatched), &values) }
                    { " " }{ transaction(strings, tx, &copied) }
                </p>
            },
        });
    }
    let unmatched = nodes(unmatched);
    html! {
        <div class="usdt-checkout__payment">
            if asks {
                <figure class="usdt-checkout__qr" role="img" aria-label={qr_label}>
                    { Html::from_html_unchecked(AttrValue::from((*qr).clone())) }
                </figure>
                <dl class="usdt-checkout__facts">
                    <dt>{ if partial { t(Text::PayTheRest) } else { t(Text::SendExactly) } }</dt>
                    <dd>
                        <span class="usdt-checkout__amount" dir="ltr">{ crate::cat(&[&shown, " ", &payment.symbol]) }</span>
                        { copy_button(strings, Text::CopyAmount, &amount, &copied) }
                        if view.price.currency != payment.symbol && !partial {
                            <span class="usdt-checkout__fiat" dir="ltr">
                                { strings.text(Text::FiatValue, &[("amount", &strings.amount(&view.price.amount)), ("currency", &view.price.currency)]) }
                            </span>
                        }
                    </dd>
                    <dt>{ t(Text::Network) }</dt>
                    <dd>
                        { crate::cat(&[&payment.network, " "]) }
                        // The token and its contract stay on one line: a phone breaks before them,
                        // never inside the shortened address.
                        <span class="usdt-checkout__token" dir="ltr">{ crate::cat(&["(", &payment.symbol, " ", &short(&payment.token_contract.to_string()), ")"]) }</span>
                    </dd>
                    <dt>{ t(Text::ToAddress) }</dt>
                    <dd>
                        <code class="usdt-checkout__address" dir="ltr">{ payment.to_address.to_string() }</code>
                        { copy_button(strings, Text::CopyAddress, &payment.to_address.to_string(), &copied) }
                    </dd>
                </dl>
                <a class="usdt-checkout__secondary usdt-checkout__deeplink" href={metamask} rel="noopener">
                    { t(Text::OpenInWallet) }
                </a>
                <WalletPay {strings} transfer={request} network={payment.network.clone()} />
                // Not every gateway answer gives a payment page (one read back after its answer was
                // lost has none): no link rather than one to nowhere.
                if !payment.cashier_url.is_empty() {
                    <a class="usdt-checkout__link" href={payment.cashier_url.clone()} target="_blank" rel="noopener">
                        { t(Text::OpenPaymentPage) }
                    </a>
                }
                if let Some(expires_at) = view.expires_at {
                    <Countdown {strings} {expires_at} clock={props.clock} />
                }
            }
            // Said while the shopper may still be sending: what arrived here that no order took,
            // and what arrived at this address on another network than the order's.
            if asks || status == Some(OrderStatus::Expired) {
                { unmatched }
            }
            if matches!(status, Some(OrderStatus::Confirming | OrderStatus::Paid | OrderStatus::PaidLate)) {
                { receipt(strings, payment, &view.id, &copied) }
            }
            // Once paid: the server's signed receipt to keep, and this one on paper (the
            // stylesheet prints the receipt alone, black on white, every hash in full).
            if matches!(status, Some(OrderStatus::Paid | OrderStatus::PaidLate)) {
                <div class="usdt-checkout__receipt-actions">
                    <a class="usdt-checkout__secondary usdt-checkout__download" href={crate::cat(&[&props.merchant_url, PATH_CHECKOUTS, "/", &view.id, "/receipt"])} download="">
                        { t(Text::DownloadReceipt) }
                    </a>
                    <button type="button" class="usdt-checkout__secondary usdt-checkout__print" onclick={Callback::from(|_| {
                        if let Some(window) = web_sys::window() {
                            let _ = window.print();
                        }
                    })}>
                        { t(Text::Print) }
                    </button>
                </div>
            }
            if payment.overpaid != "0" {
                <p class="usdt-checkout__note">{ strings.text(note(Text::Overpaid), &[("amount", &strings.amount(&payment.overpaid)), ("symbol", &payment.symbol)]) }</p>
            }
            if matches!(status, Some(OrderStatus::Expired | OrderStatus::Failed))
                || props.resumed && status == Some(OrderStatus::Waiting)
            {
                <button type="button" class="usdt-checkout__primary" onclick={props.on_start_again.reform(|_| ())}>
                    { t(Text::StartAgain) }
                </button>
            }
        </div>
    }
}

/// An address or hash shortened to its first six and last four characters.
pub(crate) fn short(address: &str) -> String {
    crate::cat(&[&address[..6], "…", &address[address.len() - 4..]])
}

fn receipt(strings: Strings, payment: &PaymentView, order: &str, copied: &Copied) -> Html {
    let t = |key| strings.text(key, &[]);
    let mut rows = Vec::new();
    for tx in &payment.transactions {
        rows.push(html! {
            <>
                <dt>{ t(Text::Transaction) }</dt>
                <dd>{ transaction(strings, tx, copied) }</dd>
            </>
        });
    }
    let rows = nodes(rows);
    html! {
        <dl class="usdt-checkout__receipt">
            <dt>{ t(Text::Order) }</dt>
            <dd><code dir="ltr">{ order }</code></dd>
            <dt>{ t(Text::Amount) }</dt>
            <dd><span class="usdt-checkout__paid" dir="ltr">{ crate::cat(&[&strings.amount(&payment.paid), " ", &payment.symbol]) }</span></dd>
            { rows }
        </dl>
    }
}

/// A transaction: shortened, with a button copying it whole and a link to the chain's explorer.
fn transaction(strings: Strings, tx: &TransactionView, copied: &Copied) -> Html {
    html! {
        <>
            <code class="usdt-checkout__tx" dir="ltr" title={tx.hash.clone()}>{ short(&tx.hash) }</code>
            { " " }{ copy_button(strings, Text::CopyTransaction, &tx.hash, copied) }
            if let Some(url) = &tx.explorer_url {
                { " " }<a href={url.clone()} target="_blank" rel="noopener">{ strings.text(Text::ViewOnExplorer, &[]) }</a>
            }
        </>
    }
}

/// The value copied last, for two seconds.
type Copied = UseStateHandle<Option<String>>;

/// Copies `value` to the clipboard and says so on its button, for two seconds.
fn copy_button(strings: Strings, label: Text, value: &str, copied: &Copied) -> Html {
    let onclick = {
        let (copied, value) = (copied.clone(), value.to_owned());
        Callback::from(move |_| {
            if let Some(window) = web_sys::window() {
                let _ = window.navigator().clipboard().write_text(&value);
            }
            copied.set(Some(value.clone()));
            let copied = copied.clone();
            gloo_timers::callback::Timeout::new(2_000, move || copied.set(None)).forget();
        })
    };
    // Once pressed, its name is what it shows, "Copied": a name that does not contain the
    // visible text fails WCAG 2.5.3 (label in name), and speech users say what they see.
    let (text, name) = if copied.as_deref() == Some(value) {
        (Text::Copied, Text::Copied)
    } else {
        (Text::Copy, label)
    };
    html! {
        <button type="button" class="usdt-checkout__copy" aria-label={strings.text(name, &[])} {onclick}>
            { strings.text(text, &[]) }
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_waiting_and_partly_paid_ask_for_payment() {
        use OrderStatus::*;
        for (status, asks) in [
            (Waiting, true),
            (PartiallyPaid, true),
            (Confirming, false),
            (Paid, false),
            (PaidLate, false),
            (Expired, false),
            (Failed, false),
        ] {
            assert_eq!(
                asks_for_payment(CheckoutState::Order(status)),
                asks,
                "{status}"
            );
        }
        assert!(!asks_for_payment(CheckoutState::OPEN));
    }
}
