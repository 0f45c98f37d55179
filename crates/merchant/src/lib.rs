//! The merchant's checkout server: it holds the gateway credentials, decides prices, creates
//! gateway orders with signed calls, verifies the gateway's webhooks, keeps orders in SQLite and
//! answers the widget without spending the gateway's rate limit.

pub mod api;
pub mod app;
pub mod backup;
pub mod budget;
pub mod catalog;
pub mod chain_health;
pub mod check_config;
pub mod checkouts;
pub mod claim;
pub mod clock;
pub mod config;
pub mod console;
pub mod domain;
pub mod error;
pub mod fulfillment;
pub mod gateway;
pub mod limiter;
pub mod links;
pub mod log_format;
pub mod long_polls;
pub mod matching;
pub mod metrics;
pub mod payment;
pub mod reconcile;
pub mod refund_transfer;
pub mod refunds;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod staff;
pub mod store;
pub mod supervisor;
pub mod tolerance;
pub mod watcher;
pub mod widget_files;
