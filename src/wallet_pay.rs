//! The wallet buttons: one per browser wallet the page announces (EIP-6963) or injects, each
//! paying with the provider code in [`crate::wallet`], and a line that says where the payment is.

use usdt_checkout_protocol::TransferRequest;
use yew::prelude::*;

use crate::hooks::use_wallets;
use crate::i18n::{Strings, Text};
use crate::wallet::{Step, WalletError};

#[derive(Properties, PartialEq)]
pub struct WalletPayProps {
    pub locale: Strings,
    pub transfer: TransferRequest,
    pub network: String,
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
    let wallets = use_wallets();
    let state = use_state(|| WalletState::Idle);
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
        // Only a signature asks for an account.
        WalletState::Failed(WalletError::OtherAccount) => None,
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
