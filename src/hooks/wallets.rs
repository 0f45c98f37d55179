//! The browser's wallets: those that announce themselves (EIP-6963; several can coexist), else
//! `window.ethereum`. Paying ([`crate::components::wallet_pay`]) and proving a payment ("I already paid")
//! each list them.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::wallet::{self, Wallet};

/// The wallets found so far, each once.
#[derive(Default, PartialEq)]
pub struct Wallets(pub Vec<Wallet>);

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

/// The wallets the browser has, found when the calling component mounts and as they announce
/// themselves later.
#[hook]
pub fn use_wallets() -> UseReducerHandle<Wallets> {
    let wallets = use_reducer(Wallets::default);
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
    wallets
}
