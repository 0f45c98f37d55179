//! The configuration file as written: what serde reads, before anything is checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use usdt_checkout_protocol::Token;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) listen: Option<SocketAddr>,
    /// A second address serving `/metrics` alone, without the admin token.
    pub(super) metrics_listen: Option<SocketAddr>,
    pub(super) database: Option<String>,
    /// The merchant's name on receipts.
    pub(super) merchant_name: Option<String>,
    #[serde(default)]
    pub(super) allowed_origins: Vec<String>,
    pub(super) order_lifetime_seconds: Option<u64>,
    /// New checkouts one client (by its address) may ask for a minute.
    pub(super) checkouts_per_client_per_minute: Option<usize>,
    /// The merchant's own balancers and proxies: only from them is `X-Forwarded-For` believed.
    #[serde(default)]
    pub(super) trusted_proxies: Vec<String>,
    /// Where the built widget is, to serve under `/checkout/`.
    pub(super) widget_dir: Option<PathBuf>,
    /// Where shoppers reach this server (`https://pay.shop.example`): payment links point there.
    pub(super) public_url: Option<String>,
    /// How long a client may take to send a request's headers.
    pub(super) header_timeout_seconds: Option<u64>,
    /// How long a stopping server waits for its requests in flight.
    pub(super) shutdown_timeout_seconds: Option<u64>,
    /// `text` (the default) or `json`: one JSON object a line, for a log pipeline.
    pub(super) log_format: Option<String>,
    #[serde(default)]
    pub(super) gateway: GatewayFile,
    #[serde(default)]
    pub(super) admin: AdminFile,
    #[serde(default)]
    pub(super) fulfillment: FulfillmentFile,
    #[serde(default)]
    pub(super) items: Vec<ItemFile>,
    #[serde(default)]
    pub(super) rates: RatesFile,
    #[serde(default)]
    pub(super) chains: Vec<ChainFile>,
    #[serde(default)]
    pub(super) console: super::console::ConsoleFile,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RatesFile {
    pub(super) url: Option<String>,
    /// How long a fetched rate list is used (with `url`): a minute unless said.
    pub(super) refresh_seconds: Option<u64>,
    #[serde(default)]
    pub(super) fixed: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChainFile {
    pub(super) id: u64,
    /// One node; `rpc_urls` for several.
    pub(super) rpc_url: Option<String>,
    /// Nodes in the order they are asked: the next when one refuses for now.
    #[serde(default)]
    pub(super) rpc_urls: Vec<String>,
    /// RPC calls a day the watcher and the claims may spend on this chain.
    pub(super) rpc_calls_per_day: Option<u64>,
    pub(super) confirmations: Option<u32>,
    pub(super) poll_interval_ms: Option<u64>,
    /// The chain as shoppers see it, when the product does not know it (or is to see it
    /// otherwise): its name, explorer and tokens. The gateway's public lists say only which
    /// chains and tokens are enabled (BlockATM documents none of their fields), so what the
    /// built-in registry lacks comes from here.
    pub(super) name: Option<String>,
    pub(super) explorer_url: Option<String>,
    pub(super) tokens: Option<Vec<Token>>,
    /// How far short of the amount asked a payment in each token (by symbol) may fall and still
    /// count as paid: `{ USDT = { amount = "1", percent = "2" } }`.
    #[serde(default)]
    pub(super) underpaid_tolerance: BTreeMap<String, ToleranceFile>,
    /// The merchant's wallets that pay refunds on this chain: when named, only a transfer from
    /// one of them marks a refund sent. None: any wallet's.
    #[serde(default)]
    pub(super) refund_wallets: Vec<String>,
}

/// A token's underpayment tolerance as written: decimal strings, never floats.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToleranceFile {
    pub(super) amount: Option<String>,
    pub(super) percent: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GatewayFile {
    pub(super) api: Option<String>,
    pub(super) url: Option<String>,
    pub(super) cashier_id: Option<String>,
    #[serde(default)]
    pub(super) receiving_addresses: BTreeMap<String, String>,
    pub(super) api_key: Option<String>,
    pub(super) private_key: Option<String>,
    pub(super) private_key_file: Option<PathBuf>,
    pub(super) v2_secret: Option<String>,
    pub(super) webhook_public_key: Option<String>,
    pub(super) webhook_secret: Option<String>,
    pub(super) requests_per_minute: Option<usize>,
    pub(super) limit_per_minute: Option<usize>,
    pub(super) reconcile_interval_seconds: Option<u64>,
    pub(super) timeout_seconds: Option<u64>,
    /// The gateway is this product's sandbox in test mode: the console may have it pay a refund
    /// from the merchant's test account.
    #[serde(default)]
    pub(super) sandbox: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminFile {
    pub(super) token: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FulfillmentFile {
    pub(super) url: Option<String>,
    pub(super) secret: Option<String>,
}

/// `[[items]]`: something a shopper can buy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemFile {
    pub(super) id: String,
    pub(super) name: String,
    /// A decimal string.
    pub(super) price: String,
    /// A fiat currency (converted at the gateway's rate) or a token symbol (charged as is).
    pub(super) currency: String,
}
