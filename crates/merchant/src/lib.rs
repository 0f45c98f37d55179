//! The merchant's checkout server: it holds the gateway credentials, decides prices, creates
//! gateway orders with signed calls, verifies the gateway's webhooks, keeps orders in SQLite and
//! answers the widget without spending the gateway's rate limit.

pub mod budget;
pub mod config;
pub mod fulfillment;
pub mod gateway;
pub mod store;
