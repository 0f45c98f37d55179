//! The root component's effects, one custom hook each, as in Yew's `function_todomvc` example:
//! `Checkout` keeps its state in a reducer ([`crate::model`]) and leaves its I/O to these:
//! loading the shopper's language and what can be paid with, creating the checkout, polling its
//! status, finding the browser's wallets, claiming a transaction the shopper already sent (and
//! proving it with the wallet that sent it), reading and asking for refunds, and telling the host
//! page what happened.

mod claim;
mod create_checkout;
mod host_events;
mod offer;
mod refunds;
mod status_poll;
mod strings;
mod wallets;

pub use claim::use_claim;
pub use create_checkout::use_create_checkout;
pub use host_events::{dispatch, use_host_events};
pub use offer::{memory, use_offer};
pub use refunds::use_refunds;
pub use status_poll::use_status_poll;
pub use strings::use_strings;
pub use wallets::{Wallets, use_wallets};
