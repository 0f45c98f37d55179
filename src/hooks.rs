//! The widget's effects, one custom hook each, as in Yew's `function_todomvc` example: the
//! components keep their state in reducers (the root's in [`crate::model`]) and leave their I/O to
//! these. For the root component, `Checkout`: loading what can be paid with, creating the
//! checkout, polling its status and telling the host page what happened; for the wallet buttons,
//! `WalletPay`: finding the browser's wallets.

mod create_checkout;
mod host_events;
mod offer;
mod status_poll;
mod wallets;

pub use create_checkout::use_create_checkout;
pub use host_events::{dispatch, use_host_events};
pub use offer::use_offer;
pub use status_poll::use_status_poll;
pub use wallets::{Wallets, use_wallets};
