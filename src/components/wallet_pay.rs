//! The wallet buttons: one per browser wallet the page announces (EIP-6963) or injects, each
//! paying with the provider code in [`crate::wallet`], and a line that says where the payment is.

use usdt_checkout_protocol::TransferRequest;
use yew::prelude::*;

use super::nodes;
use crate::hooks::use_wallets;
use crate::i18n::{Strings, Text};
use crate::wallet::{Step, Wallet, WalletError};

#[derive(Properties, PartialEq)]
pub struct WalletPayProps {
    pub strings: Strings,
    pub transfer: TransferRequest,
    pub network: String,
}

/// Where paying from a wallet is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WalletState {
    Idle,
    Step(Step),
    Sent,
    Failed(WalletError),
}

/// A wallet's name: its own, else "your browser wallet" in the shopper's language.
pub fn wallet_name(strings: Strings, wallet: &Wallet) -> String {
    match &wallet.name {
        Some(name) => name.clone(),
        None => strings.text(Text::BrowserWallet, &[]),
    }
}

/// Why a wallet did not do what it was asked, in the shopper's words (never the wallet's own);
/// `network` is the order's.
pub fn wallet_problem(strings: Strings, error: WalletError, network: &str) -> String {
    let text = match error {
        WalletError::Rejected => Text::WalletRejected,
        WalletError::Unauthorized => Text::WalletUnauthorized,
        WalletError::UnknownNetwork => Text::WalletUnknownNetwork,
        WalletError::WrongNetwork => Text::WalletWrongNetwork,
        WalletError::Pending => Text::WalletPending,
        WalletError::OtherAccount | WalletError::Failed => Text::WalletFailed,
    };
    strings.text(text, &[("network", network)])
}

/// The line under the wallet buttons: where the payment is, or why it stopped.
pub fn wallet_status(strings: Strings, state: WalletState, network: &str) -> Option<String> {
    let text = match state {
        WalletState::Idle => return None,
        WalletState::Step(Step::Connecting) => Text::ConnectingWallet,
        WalletState::Step(Step::Switching) => Text::SwitchNetwork,
        WalletState::Step(Step::Confirming) => Text::ConfirmInWallet,
        WalletState::Sent => Text::WalletSent,
        WalletState::Failed(error) => return Some(wallet_problem(strings, error, network)),
    };
    Some(strings.text(text, &[("network", network)]))
}

/// Pay from a browser wallet: one button per wallet the browser has.
#[function_component]
pub fn WalletPay(props: &WalletPayProps) -> Html {
    let wallets = use_wallets();
    let state = use_state(|| WalletState::Idle);
    let strings = props.strings;
    let message = wallet_status(strings, *state, &props.network);
    let busy = matches!(&*state, WalletState::Step(_) | WalletState::Sent);
    let mut buttons = Vec::new();
    for wallet in &wallets.0 {
        let (wallet, state, transfer) = (wallet.clone(), state.clone(), props.transfer);
        let name = wallet_name(strings, &wallet);
        let onclick = Callback::from(move |_| {
            let (wallet, state) = (wallet.clone(), state.clone());
            yew::platform::spawn_local(async move {
                let stepping = state.clone();
                let outcome = wallet
                    .pay(&transfer, move |step| stepping.set(WalletState::Step(step)))
                    .await;
                state.set(match outcome {
                    Ok(_) => WalletState::Sent,
                    Err(error) => WalletState::Failed(error),
                });
            });
        });
        buttons.push(html! {
            <button type="button" class="usdt-checkout__secondary usdt-checkout__wallet" {onclick} disabled={busy}>
                { strings.text(Text::PayWithWallet, &[("wallet", &name)]) }
            </button>
        });
    }
    let buttons = nodes(buttons);
    html! {
        <div class="usdt-checkout__wallets">
            { buttons }
            if let Some(message) = message {
                <p class="usdt-checkout__wallet-status" role="status" aria-live="polite">{ message }</p>
            }
        </div>
    }
}
