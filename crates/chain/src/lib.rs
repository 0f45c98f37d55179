//! Watching an EVM chain for token payments, shared by the sandbox gateway and the merchant's
//! checkout server:
//! - [`ChainClient`] reads the chain over JSON-RPC: its id, head, blocks, and token payments into
//!   a set of addresses ([`rpc`]); in test mode it also deploys and drives the test contracts
//!   ([`contracts`]);
//! - [`step`] follows the chain one read at a time, noticing reorgs by changed block hashes, and
//!   returns what it read without writing anything: the caller applies it, with the [`Cursor`] it
//!   persists, in its own transaction ([`follow`]);
//! - [`match_payment`] tells which order a payment pays ([`matching`]).

mod abi;
pub mod budget;
pub mod contracts;
pub mod follow;
pub mod matching;
pub mod payment;
pub mod rpc;

pub use budget::{CallBudget, DEFAULT_CALLS_PER_DAY};
pub use follow::{Cursor, KEEP_HASHES, Step, find_fork, forgotten, rewind, step};
pub use matching::{Candidate, Incoming, match_payment};
pub use payment::{ChainPayment, PaymentKind, assess_payments, confirmations};
pub use rpc::{
    BlockStamp, ChainClient, ChainError, ChainResult, MAX_RANGE, TxLookup, range_after_refusal,
};
