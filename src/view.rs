//! What the shopper sees on each screen. Pure rendering from props; the root component owns the
//! state and the I/O.

use gloo_timers::callback::Interval;
use usdt_checkout_protocol::checkout::{CheckoutView, GatewayHealth, PaymentView};
use usdt_checkout_protocol::{ChainId, OrderStatus, TransferRequest};
use yew::prelude::*;

use crate::client::Offer;
use crate::clock::ServerClock;
use crate::i18n::{Locale, Text};
use crate::model::Notice;

/// What the chooser shows: the offer, the shopper's choice so far, and what to do with it.
pub struct Choice<'a> {
    pub locale: Locale,
    pub offer: &'a Offer,
    pub chain: Option<ChainId>,
    pub symbol: Option<&'a str>,
    pub allowed_chains: Option<&'a [ChainId]>,
    pub allowed_tokens: Option<&'a [String]>,
    pub busy: bool,
    pub on_choose: Callback<(ChainId, String)>,
    pub on_continue: Callback<()>,
}

// Only stateful parts are components (the payment panel, the wallet buttons): every component
// costs the download its own copy of Yew's lifecycle code, so the rest are functions.

/// Network and token, as radio groups (arrow keys move within a group, as shoppers expect).
pub fn chooser(props: &Choice) -> Html {
    let t = |key| props.locale.text(key, &[]);
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
pub fn status_text(locale: Locale, view: &CheckoutView) -> String {
    let Some(payment) = &view.payment else {
        return locale.text(Text::Waiting, &[]);
    };
    use usdt_checkout_protocol::checkout::CheckoutState::Order;
    match view.state {
        Order(OrderStatus::Waiting) | usdt_checkout_protocol::checkout::CheckoutState::Open(_) => {
            locale.text(Text::Waiting, &[])
        }
        Order(OrderStatus::PartiallyPaid) => locale.text(
            Text::PartiallyPaid,
            &[("amount", &payment.remaining), ("symbol", &payment.symbol)],
        ),
        Order(OrderStatus::Confirming) => locale.text(
            Text::Confirming,
            &[
                ("count", &payment.confirmations.unwrap_or(0).to_string()),
                ("required", &payment.required_confirmations.to_string()),
            ],
        ),
        Order(OrderStatus::Paid) => locale.text(Text::Paid, &[]),
        Order(OrderStatus::Expired) => locale.text(Text::Expired, &[]),
        Order(OrderStatus::PaidLate) => locale.text(Text::PaidLate, &[]),
        Order(OrderStatus::Failed) => locale.text(Text::Failed, &[]),
    }
}

#[derive(Properties, PartialEq)]
pub struct PaymentProps {
    pub locale: Locale,
    pub view: std::rc::Rc<CheckoutView>,
    /// The countdown's clock: the server's, as this browser knows it.
    pub clock: ServerClock,
    pub on_start_again: Callback<()>,
}

#[function_component]
pub fn Payment(props: &PaymentProps) -> Html {
    let locale = props.locale;
    let t = |key| locale.text(key, &[]);
    let view = &props.view;
    let status = match view.state {
        usdt_checkout_protocol::checkout::CheckoutState::Order(s) => Some(s),
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
    // Each new view renders the panel again; the QR code changes only with the amount.
    let qr = use_memo(request.map(|r| r.eip681()), |uri| {
        uri.as_deref().and_then(crate::qr::svg).unwrap_or_default()
    });
    let copied = use_state(|| None);
    let (Some(payment), Some(request)) = (&view.payment, request) else {
        return html! { <p>{ t(Text::Loading) }</p> };
    };
    let finished = status.is_some_and(|s| s.is_final() || s == OrderStatus::Expired);
    let amount = if partial {
        payment.remaining.clone()
    } else {
        payment.amount.clone()
    };
    let qr_label = locale.text(
        Text::QrLabel,
        &[
            ("amount", &amount),
            ("symbol", &payment.symbol),
            ("network", &payment.network),
        ],
    );

    html! {
        <div class="usdt-checkout__payment">
            if !finished {
                <figure class="usdt-checkout__qr" role="img" aria-label={qr_label}>
                    { Html::from_html_unchecked(AttrValue::from((*qr).clone())) }
                </figure>
                <dl class="usdt-checkout__facts">
                    <dt>{ if partial { t(Text::PayTheRest) } else { t(Text::SendExactly) } }</dt>
                    <dd>
                        <span class="usdt-checkout__amount">{ format!("{amount} {}", payment.symbol) }</span>
                        { copy_button(locale, Text::CopyAmount, &amount, &copied) }
                        if view.price.currency != payment.symbol && !partial {
                            <span class="usdt-checkout__fiat">
                                { locale.text(Text::FiatValue, &[("amount", &view.price.amount), ("currency", &view.price.currency)]) }
                            </span>
                        }
                    </dd>
                    <dt>{ t(Text::Network) }</dt>
                    <dd>{ format!("{} ({} {})", payment.network, payment.symbol, short(&payment.token_contract.to_string())) }</dd>
                    <dt>{ t(Text::ToAddress) }</dt>
                    <dd>
                        <code class="usdt-checkout__address">{ payment.to_address.to_string() }</code>
                        { copy_button(locale, Text::CopyAddress, &payment.to_address.to_string(), &copied) }
                    </dd>
                </dl>
                <a class="usdt-checkout__secondary usdt-checkout__deeplink" href={request.metamask_link()} rel="noopener">
                    { t(Text::OpenInWallet) }
                </a>
                <WalletPay {locale} transfer={request} network={payment.network.clone()} />
                <a class="usdt-checkout__link" href={payment.cashier_url.clone()} target="_blank" rel="noopener">
                    { t(Text::OpenPaymentPage) }
                </a>
                if let Some(expires_at) = view.expires_at {
                    <Countdown {locale} {expires_at} clock={props.clock} />
                }
            }
            if status == Some(OrderStatus::Paid) || status == Some(OrderStatus::PaidLate) {
                { receipt(locale, payment, &view.id) }
            }
            if payment.overpaid != "0" {
                <p class="usdt-checkout__note">{ locale.text(Text::Overpaid, &[("amount", &payment.overpaid), ("symbol", &payment.symbol)]) }</p>
            }
            if matches!(status, Some(OrderStatus::Expired | OrderStatus::Failed)) {
                <button type="button" class="usdt-checkout__primary" onclick={props.on_start_again.reform(|_| ())}>
                    { t(Text::StartAgain) }
                </button>
            }
        </div>
    }
}

fn short(address: &str) -> String {
    format!("{}…{}", &address[..6], &address[address.len() - 4..])
}

fn receipt(locale: Locale, payment: &PaymentView, order: &str) -> Html {
    let t = |key| locale.text(key, &[]);
    html! {
        <dl class="usdt-checkout__receipt">
            <dt>{ t(Text::Order) }</dt>
            <dd><code>{ order }</code></dd>
            <dt>{ t(Text::Amount) }</dt>
            <dd>{ format!("{} {}", payment.paid, payment.symbol) }</dd>
            { for payment.transactions.iter().map(|tx| html! {
                <>
                    <dt>{ t(Text::Transaction) }</dt>
                    <dd>
                        <code class="usdt-checkout__tx">{ short(&tx.hash) }</code>
                        if let Some(url) = &tx.explorer_url {
                            { " " }<a href={url.clone()} target="_blank" rel="noopener">{ t(Text::ViewOnExplorer) }</a>
                        }
                    </dd>
                </>
            }) }
        </dl>
    }
}

#[derive(Properties, PartialEq)]
pub struct CountdownProps {
    pub locale: Locale,
    pub expires_at: u64,
    pub clock: ServerClock,
}

/// Time left by the server's clock, whatever the shopper's clock says. A component of its own
/// with its own timer: its tick renders this line only, not the payment panel around it.
#[function_component]
pub fn Countdown(props: &CountdownProps) -> Html {
    let now = use_state(js_sys::Date::now);
    {
        let now = now.clone();
        use_effect_with((), move |_| {
            let ticker = Interval::new(1_000, move || now.set(js_sys::Date::now()));
            move || drop(ticker)
        });
    }
    let left_ms = (props.expires_at as f64 - props.clock.now(*now)).max(0.0);
    let seconds = (left_ms / 1000.0).floor() as u64;
    let time = format!("{}:{:02}", seconds / 60, seconds % 60);
    html! {
        <p class="usdt-checkout__countdown">
            <time datetime={format!("PT{seconds}S")}>{ props.locale.text(Text::TimeLeft, &[("time", &time)]) }</time>
        </p>
    }
}

/// Copies `value` to the clipboard and says so, for two seconds; `copied` remembers which
/// button (by its label) was pressed last.
fn copy_button(
    locale: Locale,
    label: Text,
    value: &str,
    copied: &UseStateHandle<Option<Text>>,
) -> Html {
    let onclick = {
        let (copied, value) = (copied.clone(), value.to_owned());
        Callback::from(move |_| {
            if let Some(window) = web_sys::window() {
                let _ = window.navigator().clipboard().write_text(&value);
            }
            copied.set(Some(label));
            let copied = copied.clone();
            gloo_timers::callback::Timeout::new(2_000, move || copied.set(None)).forget();
        })
    };
    let text = if **copied == Some(label) {
        Text::Copied
    } else {
        Text::Copy
    };
    html! {
        <button type="button" class="usdt-checkout__copy" aria-label={locale.text(label, &[])} {onclick}>
            { locale.text(text, &[]) }
        </button>
    }
}

/// Trouble with a connection: shown, never fatal; polling goes on behind it.
pub fn connection_notice(
    locale: Locale,
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
            html! { <p class="usdt-checkout__notice" role="alert">{ locale.text(text, &[]) }</p> }
        }
        None => html! {},
    }
}

#[derive(Properties, PartialEq)]
pub struct WalletPayProps {
    pub locale: Locale,
    pub transfer: TransferRequest,
    pub network: String,
}

#[derive(Default, PartialEq)]
struct Wallets(Vec<crate::wallet::Wallet>);

impl Reducible for Wallets {
    type Action = crate::wallet::Wallet;

    fn reduce(self: std::rc::Rc<Self>, wallet: Self::Action) -> std::rc::Rc<Self> {
        if self.0.iter().any(|known| known.id == wallet.id) {
            return self;
        }
        let mut list = self.0.clone();
        list.push(wallet);
        std::rc::Rc::new(Self(list))
    }
}

#[derive(Clone, PartialEq)]
enum WalletState {
    Idle,
    Step(crate::wallet::Step),
    Sent,
    Failed(crate::wallet::WalletError),
}

/// Pay from a browser wallet: one button per wallet the browser has.
#[function_component]
pub fn WalletPay(props: &WalletPayProps) -> Html {
    use crate::wallet::{Step, WalletError};
    let wallets = use_reducer(Wallets::default);
    let state = use_state(|| WalletState::Idle);
    {
        let wallets = wallets.clone();
        use_effect_with((), move |_| {
            let announced_any = std::rc::Rc::new(std::cell::Cell::new(false));
            let listener = web_sys::window().map(|window| {
                let (wallets, announced_any) = (wallets.clone(), announced_any.clone());
                gloo_events::EventListener::new(&window, "eip6963:announceProvider", move |event| {
                    use wasm_bindgen::JsCast;
                    let detail = event.dyn_ref::<web_sys::CustomEvent>().map(|e| e.detail());
                    if let Some(wallet) = detail.as_ref().and_then(crate::wallet::announced) {
                        announced_any.set(true);
                        wallets.dispatch(wallet);
                    }
                })
            });
            crate::wallet::request_announcements();
            if !announced_any.get()
                && let Some(wallet) = crate::wallet::injected()
            {
                wallets.dispatch(wallet);
            }
            move || drop(listener)
        });
    }
    let locale = props.locale;
    let message = match &*state {
        WalletState::Idle => None,
        WalletState::Step(Step::Connecting) => Some(locale.text(Text::ConnectingWallet, &[])),
        WalletState::Step(Step::Switching) => {
            Some(locale.text(Text::SwitchNetwork, &[("network", &props.network)]))
        }
        WalletState::Step(Step::Confirming) => Some(locale.text(Text::ConfirmInWallet, &[])),
        WalletState::Sent => Some(locale.text(Text::WalletSent, &[])),
        WalletState::Failed(WalletError::Rejected) => Some(locale.text(Text::WalletRejected, &[])),
        WalletState::Failed(WalletError::WrongNetwork) => {
            Some(locale.text(Text::WalletWrongNetwork, &[("network", &props.network)]))
        }
        WalletState::Failed(WalletError::Failed(why)) => Some(why.clone()),
    };
    let busy = matches!(&*state, WalletState::Step(_) | WalletState::Sent);
    html! {
        <div class="usdt-checkout__wallets">
            { for wallets.0.iter().map(|wallet| {
                let (wallet, state, transfer) = (wallet.clone(), state.clone(), props.transfer);
                let name = wallet.name.clone();
                let onclick = Callback::from(move |_| {
                    let (wallet, state) = (wallet.clone(), state.clone());
                    yew::platform::spawn_local(async move {
                        let stepping = state.clone();
                        let outcome = wallet.pay(&transfer, move |step| stepping.set(WalletState::Step(step))).await;
                        state.set(match outcome {
                            Ok(_) => WalletState::Sent,
                            Err(error) => WalletState::Failed(error),
                        });
                    });
                });
                html! {
                    <button type="button" class="usdt-checkout__secondary usdt-checkout__wallet" {onclick} disabled={busy}>
                        { locale.text(Text::PayWithWallet, &[("wallet", &name)]) }
                    </button>
                }
            }) }
            if let Some(message) = message {
                <p class="usdt-checkout__wallet-status" role="status" aria-live="polite">{ message }</p>
            }
        </div>
    }
}
