//! The wallet buttons: one per browser wallet the page announces (EIP-6963) or injects, each
//! paying with the provider code in [`crate::wallet`], and a line that says where the payment is.
//!
//! Finding the wallets stays an effect of this component, not a hook of its own: a hook here
//! costs the download about 50 bytes gzipped, for a dozen lines.

use std::cell::Cell;
use std::rc::Rc;

use usdt_checkout_protocol::TransferRequest;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::i18n::{Strings, Text};
use crate::wallet::{self, Step, Wallet, WalletError};

#[derive(Properties, PartialEq)]
pub struct WalletPayProps {
    pub locale: Strings,
    pub transfer: TransferRequest,
    pub network: String,
}

/// The wallets found so far, each once.
#[derive(Default, PartialEq)]
struct Wallets(Vec<Wallet>);

impl Reducible for Wallets {
    type Action = Wallet;

    fn reduce(self: Rc<Self>, wallet: Wallet) -> Rc<Self> {
        if self.0.iter().any(|known| known.id == wallet.id) {
            return self;
        }
        let mut list = self.0.clone();
        list.push(wallet);
        Rc::new(Self(list))
    }
}

#[derive(Clone, PartialEq)]
enum WalletState {
    Idle,
    Step(Step),
    Sent,
    Failed(WalletError),
}

/// Pay from a browser wallet: one button per wallet the browser has.
#[function_component]
pub fn WalletPay(props: &WalletPayProps) -> Html {
    let wallets = use_reducer(Wallets::default);
    let state = use_state(|| WalletState::Idle);
    {
        let wallets = wallets.clone();
        use_effect_with((), move |_| {
            let announced_any = Rc::new(Cell::new(false));
            let listener = web_sys::window().map(|window| {
                let (wallets, announced_any) = (wallets.clone(), announced_any.clone());
                gloo_events::EventListener::new(&window, "eip6963:announceProvider", move |event| {
                    let detail = event.dyn_ref::<web_sys::CustomEvent>().map(|e| e.detail());
                    if let Some(wallet) = detail.as_ref().and_then(wallet::announced) {
                        announced_any.set(true);
                        wallets.dispatch(wallet);
                    }
                })
            });
            wallet::request_announcements();
            if !announced_any.get()
                && let Some(wallet) = wallet::injected()
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
