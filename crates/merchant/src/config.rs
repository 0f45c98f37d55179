//! The checkout server's configuration: a TOML file, then environment variables over it (for
//! secrets, which belong in the environment or a secrets file, not in a file under version
//! control). Every setting is checked at startup; a missing or malformed one stops the server with
//! a message naming it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use usdt_checkout_chain::ChainClient;
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey, V2SecretKey, Verifier};
use usdt_checkout_protocol::{Address, Chain, ChainId, ChainRegistry, Token};

use crate::domain::check_price;
use crate::fulfillment::Delivery;
use crate::limiter::Network;
pub use crate::store::Database;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    database: Option<String>,
    /// The merchant's name on receipts.
    merchant_name: Option<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    order_lifetime_seconds: Option<u64>,
    /// New checkouts one client (by its address) may ask for a minute.
    checkouts_per_client_per_minute: Option<usize>,
    /// The merchant's own balancers and proxies: only from them is `X-Forwarded-For` believed.
    #[serde(default)]
    trusted_proxies: Vec<String>,
    /// Where the built widget is, to serve under `/checkout/`.
    widget_dir: Option<PathBuf>,
    /// How long a client may take to send a request's headers.
    header_timeout_seconds: Option<u64>,
    #[serde(default)]
    gateway: GatewayFile,
    #[serde(default)]
    admin: AdminFile,
    #[serde(default)]
    fulfillment: FulfillmentFile,
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    rates: RatesFile,
    #[serde(default)]
    chains: Vec<ChainFile>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RatesFile {
    url: Option<String>,
    /// How long a fetched rate list is used (with `url`): a minute unless said.
    refresh_seconds: Option<u64>,
    #[serde(default)]
    fixed: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainFile {
    id: u64,
    /// One node; `rpc_urls` for several.
    rpc_url: Option<String>,
    /// Nodes in the order they are asked: the next when one refuses for now.
    #[serde(default)]
    rpc_urls: Vec<String>,
    /// RPC calls a day the watcher and the claims may spend on this chain.
    rpc_calls_per_day: Option<u64>,
    confirmations: Option<u32>,
    poll_interval_ms: Option<u64>,
    /// The chain as shoppers see it, when the product does not know it (or is to see it
    /// otherwise): its name, explorer and tokens. The gateway's public lists say only which
    /// chains and tokens are enabled (BlockATM documents none of their fields), so what the
    /// built-in registry lacks comes from here.
    name: Option<String>,
    explorer_url: Option<String>,
    tokens: Option<Vec<Token>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GatewayFile {
    api: Option<String>,
    url: Option<String>,
    cashier_id: Option<String>,
    #[serde(default)]
    receiving_addresses: BTreeMap<String, String>,
    api_key: Option<String>,
    private_key: Option<String>,
    private_key_file: Option<PathBuf>,
    v2_secret: Option<String>,
    webhook_public_key: Option<String>,
    webhook_secret: Option<String>,
    requests_per_minute: Option<usize>,
    limit_per_minute: Option<usize>,
    reconcile_interval_seconds: Option<u64>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    token: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FulfillmentFile {
    url: Option<String>,
    secret: Option<String>,
}

/// Something a shopper can buy, at a price the server decides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub name: String,
    /// A decimal string.
    pub price: String,
    /// A fiat currency (converted at the gateway's rate) or a token symbol (charged as is).
    pub currency: String,
}

/// Which gateway, and which of its documented dialects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayApi {
    BlockatmV1,
    BlockatmV2 {
        /// The cashier orders are made for: V2's `pay/order` names it (`cashierId`).
        cashier_id: String,
        receiving_addresses: BTreeMap<ChainId, Address>,
    },
}

/// Where fiat prices get their rate: the gateway documents no rate endpoint, so it is the
/// merchant's choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateSource {
    /// None configured: only token prices can be charged.
    None,
    /// An endpoint answering `[{base, quote, rate}]` (the sandbox has one, at
    /// `/api/v1/public/rates`), read again once its list is `refresh` old.
    Url { url: String, refresh: Duration },
    /// Fixed rates, `(base, quote) -> rate`: `USDT/USD = "1"` charges a dollar as one USDT.
    Fixed(BTreeMap<(String, String), String>),
}

/// A chain the server reads itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedChain {
    pub id: ChainId,
    /// JSON-RPC nodes, the first first; none: the server knows only what the gateway says.
    pub rpc_urls: Vec<String>,
    /// Calls a day this server may make to them (a provider's free tier is about 100,000).
    pub rpc_calls_per_day: u64,
    /// Blocks, the payment's own included, before a payment counts as settled.
    pub confirmations: u32,
    /// How often the chain is read (see [`default_poll_interval`]).
    pub poll_interval: Duration,
    /// The tokens the product knows on this chain: read even before a checkout on this chain
    /// exists, so a transfer sent here for an order on another chain is seen.
    pub tokens: Vec<usdt_checkout_protocol::Address>,
}

impl WatchedChain {
    /// Whether this server reads the chain itself.
    pub fn is_read(&self) -> bool {
        !self.rpc_urls.is_empty()
    }

    /// A client of the chain's nodes, within its budget (sends nothing yet); none when the
    /// chain is not read.
    pub fn client(&self) -> Option<Result<ChainClient, usdt_checkout_chain::ChainError>> {
        self.is_read()
            .then(|| ChainClient::connect_all(&self.rpc_urls, Some(self.rpc_calls_per_day)))
    }
}

/// A client of each chain read: the watcher and the claims share it, and its budget.
pub fn chain_clients(chains: &BTreeMap<ChainId, WatchedChain>) -> Vec<(ChainId, ChainClient)> {
    chains
        .values()
        .filter_map(|chain| match chain.client()? {
            Ok(client) => Some((chain.id, client)),
            Err(e) => {
                tracing::error!("chain {}: {e}; not read", chain.id);
                None
            }
        })
        .collect()
}

/// How often a chain is read where the configuration does not say: as often as leaves half the
/// day's budget to a step's two calls (the latest block, the log query), the other half to
/// catching up, checks after a reorg, retries and claims. 100,000 calls a day poll every 3.5 s:
/// a payment is seen within a block on a 3-second chain, and within a third of one on a
/// 12-second chain.
pub fn default_poll_interval(calls_per_day: u64) -> Duration {
    const CALLS_A_POLL: u64 = 2;
    let polls_a_day = (calls_per_day / 2 / CALLS_A_POLL).max(1);
    Duration::from_millis(86_400_000_u64.div_ceil(polls_a_day))
        .clamp(Duration::from_millis(100), Duration::from_secs(60))
}

/// How requests to the gateway are signed.
#[derive(Debug, Clone)]
pub enum Credentials {
    V1(V1PrivateKey),
    V2(V2SecretKey),
}

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub gateway_api: GatewayApi,
    pub rates: RateSource,
    pub chains: BTreeMap<ChainId, WatchedChain>,
    pub database: Database,
    /// Who issues the receipts: `merchant_name`, else the storefront's first origin.
    pub merchant_name: String,
    pub allowed_origins: Vec<String>,
    pub order_lifetime: Duration,
    /// New checkouts one client (by its address) may ask for a minute: a shopper makes one or
    /// two; a script that made more would spend the gateway's budget and lock shoppers out.
    pub checkouts_per_client_per_minute: usize,
    /// Addresses and networks of the merchant's own proxies in front of this server: a request
    /// from one is the client's its `X-Forwarded-For` names (see [`crate::limiter::client_key`]).
    pub trusted_proxies: Vec<Network>,
    pub widget_dir: Option<PathBuf>,
    /// How long a client has to send a request's headers (an idle kept-alive connection, the
    /// next request's) before its connection is closed.
    pub header_timeout: Duration,
    pub gateway_url: String,
    pub api_key: String,
    pub credentials: Credentials,
    /// Checks the gateway's webhooks: the gateway's V1 public key, or the V2 shared secret.
    pub webhook_verifier: Verifier,
    pub requests_per_minute: usize,
    pub reconcile_interval: Duration,
    pub gateway_timeout: Duration,
    pub admin_token: Option<String>,
    /// Where paid orders are announced, if anywhere.
    pub fulfillment: Option<Delivery>,
    pub items: BTreeMap<String, Item>,
    /// The chains and tokens the product knows: prices are checked against their decimals, and
    /// transactions link to their explorers.
    pub registry: ChainRegistry,
}

/// How old a webhook may be, at most, whatever `BlockATM-Rec_Window` it declares: the header is
/// not signed, so a replayed callback could name any window. V1's default request window.
pub const WEBHOOK_WINDOW_MS: u64 = usdt_checkout_protocol::signed_string::DEFAULT_RECV_WINDOW_MS;

/// The gateway allows 100 calls a minute per key; staying at 90 leaves room for clock skew and
/// for a person using the same key by hand.
/// The calls a minute BlockATM allows a key.
const GATEWAY_LIMIT_PER_MINUTE: usize = 100;

/// Reads the file (if any), then the environment, as `lookup` gives it.
pub fn load(
    path: Option<&Path>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, String> {
    let (text, source) = match path {
        None => (String::new(), String::new()),
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
    };
    parse(&text, &source, lookup)
}

/// Reads a configuration file's text (`source` names it in errors), then the environment.
pub fn parse(
    text: &str,
    source: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("{source}: {e}"))?;
    let env = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let g = file.gateway;

    let listen = match env("CHECKOUT_LISTEN") {
        Some(text) => text.parse().map_err(|_| {
            format!("CHECKOUT_LISTEN {text:?} is not an address such as 127.0.0.1:4020")
        })?,
        None => file
            .listen
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 4020))),
    };
    let gateway_url = env("CHECKOUT_GATEWAY_URL")
        .or(g.url)
        .unwrap_or_else(|| "http://127.0.0.1:4010".into())
        .trim_end_matches('/')
        .to_owned();
    if !(gateway_url.starts_with("http://") || gateway_url.starts_with("https://")) {
        return Err(format!(
            "gateway.url {gateway_url:?} must be an http(s) URL"
        ));
    }
    let api_key = env("CHECKOUT_GATEWAY_API_KEY").or(g.api_key).ok_or(
        "gateway.api_key (or CHECKOUT_GATEWAY_API_KEY) is required: the gateway's API key",
    )?;

    let private_key = match (
        env("CHECKOUT_GATEWAY_PRIVATE_KEY").or(g.private_key),
        g.private_key_file,
    ) {
        (Some(key), _) => Some(key),
        (None, Some(file)) => Some(
            std::fs::read_to_string(&file)
                .map_err(|e| format!("gateway.private_key_file {}: {e}", file.display()))?,
        ),
        (None, None) => None,
    };
    let credentials = match (
        private_key,
        env("CHECKOUT_GATEWAY_V2_SECRET").or(g.v2_secret),
    ) {
        (Some(key), _) => {
            Credentials::V1(V1PrivateKey::from_base64_pkcs8(&key).map_err(|e| {
                format!("gateway.private_key (or CHECKOUT_GATEWAY_PRIVATE_KEY): {e}")
            })?)
        }
        (None, Some(secret)) => Credentials::V2(
            V2SecretKey::new(&secret).map_err(|e| format!("gateway.v2_secret: {e}"))?,
        ),
        (None, None) => {
            return Err(
                "gateway.private_key (V1, base64 PKCS#8; or CHECKOUT_GATEWAY_PRIVATE_KEY) or \
                        gateway.v2_secret is required to sign calls to the gateway; \
                        `checkout-server keygen` makes a V1 key pair"
                    .into(),
            );
        }
    };
    let webhook_verifier = match (
        env("CHECKOUT_WEBHOOK_PUBLIC_KEY").or(g.webhook_public_key),
        env("CHECKOUT_WEBHOOK_SECRET").or(g.webhook_secret),
    ) {
        (Some(key), _) => Verifier::new(
            Some(
                V1PublicKey::from_base64_spki(&key)
                    .map_err(|e| format!("gateway.webhook_public_key: {e}"))?,
            ),
            None,
        )
        .with_max_window_ms(WEBHOOK_WINDOW_MS),
        (None, Some(secret)) => Verifier::new(
            None,
            Some(V2SecretKey::new(&secret).map_err(|e| format!("gateway.webhook_secret: {e}"))?),
        )
        .with_max_window_ms(WEBHOOK_WINDOW_MS),
        (None, None) => {
            return Err(
                "gateway.webhook_public_key (the gateway's, from its console) or \
                        gateway.webhook_secret is required to verify webhooks"
                    .into(),
            );
        }
    };
    // BlockATM documents 100 calls a minute per key; a sandbox's may be set higher, for a load
    // test. This server keeps a tenth of it spare by default (another tool on the same key).
    let limit = g.limit_per_minute.unwrap_or(GATEWAY_LIMIT_PER_MINUTE);
    if !(2..=1_000_000).contains(&limit) {
        return Err("gateway.limit_per_minute must be from 2 to 1000000".into());
    }
    let requests_per_minute = g.requests_per_minute.unwrap_or(limit * 9 / 10);
    if !(2..=limit).contains(&requests_per_minute) {
        return Err(format!(
            "gateway.requests_per_minute must be from 2 to {limit} (the gateway's limit)"
        ));
    }

    let mut registry = ChainRegistry::builtin();
    let described = described_chains(&file.chains, &registry)?;
    registry
        .set(described)
        .map_err(|e| format!("chains: {e}"))?;
    let gateway_api = gateway_api(
        env("CHECKOUT_GATEWAY_API").or(g.api).as_deref(),
        g.cashier_id,
        &g.receiving_addresses,
    )?;
    let rates = rate_source(file.rates)?;
    let chains = watched_chains(file.chains, &registry)?;
    let mut items = BTreeMap::new();
    for item in file.items {
        if item.id.is_empty() || item.name.is_empty() {
            return Err("every item needs an id and a name".into());
        }
        // Checked now, so a bad price stops the server instead of a shopper's checkout.
        check_price(&item.price, &item.currency, &registry)
            .map_err(|e| format!("items {:?}: {e}", item.id))?;
        if rates == RateSource::None
            && !registry.chains().any(|c| c.token(&item.currency).is_some())
        {
            return Err(format!(
                "items {:?} is priced in {} and needs a rate: set rates.url or rates.fixed \
                 (the gateway documents no rate endpoint)",
                item.id, item.currency
            ));
        }
        if items.insert(item.id.clone(), item).is_some() {
            return Err("two items have the same id".into());
        }
    }
    for origin in &file.allowed_origins {
        if !(origin.starts_with("http://") || origin.starts_with("https://"))
            || origin.ends_with('/')
        {
            return Err(format!(
                "allowed_origins: {origin:?} must be an origin such as https://shop.example (no path)"
            ));
        }
    }
    let fulfillment = match (
        env("CHECKOUT_FULFILLMENT_URL").or(file.fulfillment.url),
        env("CHECKOUT_FULFILLMENT_SECRET").or(file.fulfillment.secret),
    ) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(
                "fulfillment.secret is required with fulfillment.url: the events are signed".into(),
            );
        }
        (Some(url), Some(secret)) => Some(Delivery {
            url,
            secret: V2SecretKey::new(strong("fulfillment.secret", &secret)?)
                .map_err(|e| format!("fulfillment.secret: {e}"))?,
        }),
    };
    let admin_token = env("CHECKOUT_ADMIN_TOKEN")
        .or(file.admin.token)
        .map(|token| strong("admin.token", &token).map(str::to_owned))
        .transpose()?;
    let order_lifetime = file.order_lifetime_seconds.unwrap_or(900);
    if !(MIN_ORDER_LIFETIME_SECONDS..=MAX_ORDER_LIFETIME_SECONDS).contains(&order_lifetime) {
        return Err(format!(
            "order_lifetime_seconds must be from {MIN_ORDER_LIFETIME_SECONDS} to \
             {MAX_ORDER_LIFETIME_SECONDS} (the gateway makes no shorter orders)"
        ));
    }

    Ok(Config {
        listen,
        gateway_api,
        rates,
        chains,
        database: Database::parse(
            &env("CHECKOUT_DATABASE")
                .or(file.database)
                .unwrap_or_else(|| "checkout.sqlite".into()),
        )?,
        merchant_name: file
            .merchant_name
            .or_else(|| file.allowed_origins.first().cloned())
            .unwrap_or_default(),
        allowed_origins: file.allowed_origins,
        order_lifetime: Duration::from_secs(order_lifetime),
        checkouts_per_client_per_minute: match file.checkouts_per_client_per_minute {
            Some(0) => return Err("checkouts_per_client_per_minute must be at least 1".into()),
            Some(n) => n,
            None => 10,
        },
        trusted_proxies: file
            .trusted_proxies
            .iter()
            .map(|text| text.parse().map_err(|e| format!("trusted_proxies: {e}")))
            .collect::<Result<_, String>>()?,
        widget_dir: file.widget_dir,
        header_timeout: Duration::from_secs(match file.header_timeout_seconds {
            None => DEFAULT_HEADER_TIMEOUT_SECONDS,
            Some(seconds @ 1..=300) => seconds,
            Some(_) => return Err("header_timeout_seconds must be from 1 to 300".into()),
        }),
        gateway_url,
        api_key,
        credentials,
        webhook_verifier,
        requests_per_minute,
        reconcile_interval: Duration::from_secs(g.reconcile_interval_seconds.unwrap_or(15).max(1)),
        gateway_timeout: Duration::from_secs(g.timeout_seconds.unwrap_or(10).max(1)),
        admin_token,
        fulfillment,
        items,
        registry,
    })
}

/// How long a client has to send a request's headers, unless configured: a shopper's browser
/// sends them at once; a client that trickles them holds a connection (slowloris).
const DEFAULT_HEADER_TIMEOUT_SECONDS: u64 = 20;

/// The fewest characters a secret of this server's own (the admin token, the fulfillment
/// secret) may have: an empty or short one would turn authentication off or make it guessable.
const MIN_SECRET_CHARS: usize = 16;
/// What an order may last: the gateway makes none shorter than a minute (a shorter setting
/// failed every checkout), and a day is longer than any shopper waits (the longest is the
/// domain's, which the store reads by).
const MIN_ORDER_LIFETIME_SECONDS: u64 = 60;
pub use crate::domain::MAX_ORDER_LIFETIME_SECONDS;

/// `secret`, if it is long enough and has no surrounding whitespace; else why not, naming
/// `setting`.
fn strong<'a>(setting: &str, secret: &'a str) -> Result<&'a str, String> {
    if secret.trim() != secret {
        return Err(format!("{setting} has surrounding whitespace"));
    }
    if secret.chars().count() < MIN_SECRET_CHARS {
        return Err(format!(
            "{setting} must have at least {MIN_SECRET_CHARS} characters (an empty or short one \
             is no protection)"
        ));
    }
    Ok(secret)
}

fn gateway_api(
    name: Option<&str>,
    cashier_id: Option<String>,
    addresses: &BTreeMap<String, String>,
) -> Result<GatewayApi, String> {
    match name.unwrap_or("blockatm-v1") {
        "blockatm-v1" => Ok(GatewayApi::BlockatmV1),
        "blockatm-v2" => {
            let mut receiving_addresses = BTreeMap::new();
            for (chain, address) in addresses {
                let chain = chain.parse().map(ChainId).map_err(|_| {
                    format!("gateway.receiving_addresses: {chain:?} is not a chain id")
                })?;
                let address = address.parse().map_err(|e| {
                    format!("gateway.receiving_addresses.{chain}: {address:?}: {e}")
                })?;
                receiving_addresses.insert(chain, address);
            }
            if receiving_addresses.is_empty() {
                return Err("gateway.receiving_addresses is required with blockatm-v2: \
                    the cashier's receiving contract per chain id, from the BlockATM console"
                    .into());
            }
            // V2's order creation names the cashier (S11's `pay/order`: `cashierId`); without
            // it the server started, and every checkout failed.
            let cashier_id = match cashier_id.as_deref().map(str::trim) {
                Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) => id.to_owned(),
                Some(id) => {
                    return Err(format!(
                        "gateway.cashier_id {id:?} must be the cashier's id, from the BlockATM \
                         console, such as \"86100021\""
                    ));
                }
                None => {
                    return Err("gateway.cashier_id is required with blockatm-v2: the \
                        cashier's id, from the BlockATM console (order creation sends it as \
                        cashierId)"
                        .into());
                }
            };
            Ok(GatewayApi::BlockatmV2 {
                cashier_id,
                receiving_addresses,
            })
        }
        other => Err(format!(
            "gateway.api {other:?} must be \"blockatm-v1\" or \"blockatm-v2\""
        )),
    }
}

/// How long a fetched rate list is used by default, and the range a merchant may set: a price
/// is fixed when an order is made, so a fresher rate only matters for the orders made next.
const RATE_REFRESH_SECONDS: (u64, std::ops::RangeInclusive<u64>) = (60, 1..=3600);

fn rate_source(file: RatesFile) -> Result<RateSource, String> {
    if file.refresh_seconds.is_some() && file.url.is_none() {
        return Err("rates.refresh_seconds applies to rates.url only".into());
    }
    match (file.url, file.fixed.is_empty()) {
        (Some(_), false) => Err("rates: set url or fixed, not both".into()),
        (Some(url), true) if url.starts_with("http://") || url.starts_with("https://") => {
            let (default, range) = RATE_REFRESH_SECONDS;
            let seconds = file.refresh_seconds.unwrap_or(default);
            if !range.contains(&seconds) {
                return Err(format!(
                    "rates.refresh_seconds = {seconds}: must be from {} to {}",
                    range.start(),
                    range.end()
                ));
            }
            Ok(RateSource::Url {
                url,
                refresh: Duration::from_secs(seconds),
            })
        }
        (Some(url), true) => Err(format!("rates.url {url:?} must be an http(s) URL")),
        (None, true) => Ok(RateSource::None),
        (None, false) => {
            let mut fixed = BTreeMap::new();
            for (pair, rate) in file.fixed {
                let Some((base, quote)) = pair.split_once('/') else {
                    return Err(format!(
                        "rates.fixed: {pair:?} must be BASE/QUOTE, such as \"USDT/USD\""
                    ));
                };
                usdt_checkout_protocol::parse_positive_units(&rate, 18)
                    .map_err(|e| format!("rates.fixed.\"{pair}\": {e}"))?;
                fixed.insert((base.to_owned(), quote.to_owned()), rate);
            }
            Ok(RateSource::Fixed(fixed))
        }
    }
}

/// The chains `[[chains]]` describes (a `name`, an `explorer_url`, `tokens`), each to replace
/// the built-in chain of its id: what it does not say is the built-in chain's. A chain the
/// product does not know needs at least its name.
fn described_chains(file: &[ChainFile], registry: &ChainRegistry) -> Result<Vec<Chain>, String> {
    let mut chains = Vec::new();
    for chain in file {
        if chain.name.is_none() && chain.explorer_url.is_none() && chain.tokens.is_none() {
            continue;
        }
        let known = registry.get(ChainId(chain.id));
        let name = match (&chain.name, known) {
            (Some(name), _) if !name.trim().is_empty() => name.clone(),
            (Some(_), _) => return Err(format!("chains {}: name is empty", chain.id)),
            (None, Some(known)) => known.name.clone(),
            (None, None) => {
                return Err(format!(
                    "chains {}: name is required: the product does not know this chain, so its \
                     name and tokens (symbol, contract, decimals) come from here",
                    chain.id
                ));
            }
        };
        chains.push(Chain {
            id: ChainId(chain.id),
            name,
            explorer_url: chain
                .explorer_url
                .clone()
                .or_else(|| known.and_then(|c| c.explorer_url.clone())),
            tokens: chain
                .tokens
                .clone()
                .or_else(|| known.map(|c| c.tokens.clone()))
                .unwrap_or_default(),
        });
    }
    Ok(chains)
}

fn watched_chains(
    file: Vec<ChainFile>,
    registry: &ChainRegistry,
) -> Result<BTreeMap<ChainId, WatchedChain>, String> {
    let mut chains = BTreeMap::new();
    for chain in file {
        let confirmations = chain.confirmations.unwrap_or(DEFAULT_CONFIRMATIONS);
        if confirmations == 0 {
            return Err(format!(
                "chains {}: confirmations must be at least 1 (the payment's own block)",
                chain.id
            ));
        }
        let mut rpc_urls = chain.rpc_url.into_iter().collect::<Vec<_>>();
        rpc_urls.extend(chain.rpc_urls);
        for url in &rpc_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "chains {}: rpc_url {url:?} must be an http(s) URL",
                    chain.id
                ));
            }
        }
        let rpc_calls_per_day = chain
            .rpc_calls_per_day
            .unwrap_or(usdt_checkout_chain::DEFAULT_CALLS_PER_DAY);
        if rpc_calls_per_day < 1_000 {
            return Err(format!(
                "chains {}: rpc_calls_per_day {rpc_calls_per_day} is under 1000, a call every \
                 86 s: too few to follow a chain",
                chain.id
            ));
        }
        let id = ChainId(chain.id);
        let watched = WatchedChain {
            id,
            rpc_urls,
            rpc_calls_per_day,
            confirmations,
            poll_interval: chain.poll_interval_ms.map_or_else(
                || default_poll_interval(rpc_calls_per_day),
                |ms| Duration::from_millis(ms.max(100)),
            ),
            tokens: registry
                .chain(id)
                .map(|c| c.tokens.iter().map(|t| t.contract).collect())
                .unwrap_or_default(),
        };
        if chains.insert(id, watched).is_some() {
            return Err(format!("chains: {} is listed twice", chain.id));
        }
    }
    Ok(chains)
}

/// Blocks before a payment counts as settled, where the configuration does not say.
const DEFAULT_CONFIRMATIONS: u32 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    fn with(file: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(file, "checkout.toml", |name| env.get(name).cloned())
    }

    fn keys() -> (String, String) {
        let private = V1PrivateKey::generate();
        (
            private.to_base64_pkcs8(),
            private.public_key().to_base64_spki(),
        )
    }

    #[test]
    fn secrets_come_from_the_environment_over_the_file() {
        let (private, public) = keys();
        let config = with(
            "[gateway]\napi_key = \"file-key\"\n[rates]\nfixed = { \"USDT/USD\" = \"1\" }\n[[items]]\nid = \"tee\"\nname = \"T-shirt\"\nprice = \"25.00\"\ncurrency = \"USD\"",
            &[
                ("CHECKOUT_GATEWAY_API_KEY", "env-key"),
                ("CHECKOUT_GATEWAY_PRIVATE_KEY", &private),
                ("CHECKOUT_WEBHOOK_PUBLIC_KEY", &public),
            ],
        )
        .unwrap();
        assert_eq!(config.api_key, "env-key");
        assert_eq!(config.requests_per_minute, 90);
        assert_eq!(config.items["tee"].price, "25.00");
        assert!(matches!(config.credentials, Credentials::V1(_)));
    }

    #[test]
    fn missing_and_malformed_settings_are_named() {
        let (private, public) = keys();
        let base = [
            ("CHECKOUT_GATEWAY_API_KEY", "k"),
            ("CHECKOUT_GATEWAY_PRIVATE_KEY", private.as_str()),
            ("CHECKOUT_WEBHOOK_PUBLIC_KEY", public.as_str()),
        ];
        let error = |file: &str, env: &[(&str, &str)]| with(file, env).unwrap_err();
        assert!(error("", &[]).contains("gateway.api_key"));
        assert!(error("", &base[..1]).contains("gateway.private_key"));
        assert!(error("", &base[..2]).contains("gateway.webhook_public_key"));
        assert!(
            error(
                "",
                &[
                    base[0],
                    ("CHECKOUT_GATEWAY_PRIVATE_KEY", "bm9wZQ=="),
                    base[2]
                ]
            )
            .contains("PKCS#8")
        );
        assert!(
            error("[gateway]\nrequests_per_minute = 150", &base).contains("requests_per_minute")
        );
        let raised = with(
            "[gateway]\nlimit_per_minute = 6000\nrequests_per_minute = 5000",
            &base,
        );
        assert_eq!(
            raised.unwrap().requests_per_minute,
            5000,
            "a sandbox's own limit"
        );
        let default = with("[gateway]\nlimit_per_minute = 1000", &base);
        assert_eq!(
            default.unwrap().requests_per_minute,
            900,
            "nine tenths of it"
        );
        assert!(error("[gateway]\nlimit_per_minute = 1", &base).contains("limit_per_minute"));
        assert!(error("lisen = \"x\"", &base).contains("unknown field"));
        assert!(
            error(
                "[[items]]\nid = \"x\"\nname = \"X\"\nprice = \"-1\"\ncurrency = \"USD\"",
                &base
            )
            .contains("items \"x\"")
        );
        assert!(
            error("allowed_origins = [\"https://shop.example/\"]", &base)
                .contains("allowed_origins")
        );
        assert!(error("[fulfillment]\nurl = \"http://x\"", &base).contains("fulfillment.secret"));
        for weak in ["", " ", "short", " admin-token-for-tests"] {
            let admin = format!("[admin]\ntoken = \"{weak}\"");
            assert!(error(&admin, &base).contains("admin.token"), "{weak:?}");
            let fulfillment = format!("[fulfillment]\nurl = \"http://x\"\nsecret = \"{weak}\"");
            assert!(
                error(&fulfillment, &base).contains("fulfillment.secret"),
                "{weak:?}"
            );
        }
        for lifetime in [0, 30, 59, 86_401] {
            let setting = format!("order_lifetime_seconds = {lifetime}");
            assert!(
                error(&setting, &base).contains("order_lifetime_seconds"),
                "{lifetime}"
            );
        }
        assert!(error("", &[("CHECKOUT_LISTEN", "nowhere"), base[1]]).contains("CHECKOUT_LISTEN"));
        let proxies = error("trusted_proxies = [\"10.0.0.0/8\", \"lb.internal\"]", &base);
        assert!(proxies.contains("trusted_proxies"), "{proxies}");
        assert!(proxies.contains("lb.internal"), "{proxies}");
        let trusted = with("trusted_proxies = [\"10.0.0.0/8\", \"fd00::1\"]", &base).unwrap();
        assert_eq!(trusted.trusted_proxies.len(), 2);
        assert!(with("", &base).unwrap().trusted_proxies.is_empty());
        for bad in [0, 301] {
            let setting = format!("header_timeout_seconds = {bad}");
            assert!(
                error(&setting, &base).contains("header_timeout_seconds"),
                "{bad}"
            );
        }
        assert_eq!(
            with("", &base).unwrap().header_timeout,
            Duration::from_secs(20)
        );
        let set = with("header_timeout_seconds = 65", &base).unwrap();
        assert_eq!(set.header_timeout, Duration::from_secs(65));
    }

    #[test]
    fn a_price_its_token_cannot_carry_stops_startup_naming_the_item() {
        let (private, public) = keys();
        let env = [
            ("CHECKOUT_GATEWAY_API_KEY", "k"),
            ("CHECKOUT_GATEWAY_PRIVATE_KEY", private.as_str()),
            ("CHECKOUT_WEBHOOK_PUBLIC_KEY", public.as_str()),
        ];
        let item = |price: &str, currency: &str| {
            format!(
                "[rates]\nurl = \"http://127.0.0.1:4010/api/v1/public/rates\"\n\
                 [[items]]\nid = \"sticker\"\nname = \"Sticker\"\nprice = \"{price}\"\ncurrency = \"{currency}\""
            )
        };
        let error = with(&item("1.1234567", "USDT"), &env).unwrap_err();
        assert!(error.contains("items \"sticker\""), "{error}");
        assert!(error.contains("USDT has 6 decimals"), "{error}");
        assert!(with(&item("1.123456", "USDT"), &env).is_ok());
        assert!(
            with(&item("1.1234567", "USD"), &env).is_ok(),
            "a fiat price is converted at the rate and rounded up to the token's unit"
        );
        let error = with(&item("1.123456789", "USD"), &env).unwrap_err();
        assert!(error.contains("items \"sticker\""), "{error}");
    }

    fn base_env() -> Vec<(&'static str, String)> {
        let (private, public) = keys();
        vec![
            ("CHECKOUT_GATEWAY_API_KEY", "k".into()),
            ("CHECKOUT_GATEWAY_PRIVATE_KEY", private),
            ("CHECKOUT_WEBHOOK_PUBLIC_KEY", public),
        ]
    }

    fn with_base(file: &str) -> Result<Config, String> {
        let env = base_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with(file, &env)
    }

    #[test]
    fn the_gateway_dialect_is_chosen_and_v2_needs_its_receiving_addresses_and_cashier() {
        assert_eq!(with_base("").unwrap().gateway_api, GatewayApi::BlockatmV1);
        let error = with_base("[gateway]\napi = \"blockatm-v2\"").unwrap_err();
        assert!(error.contains("gateway.receiving_addresses"), "{error}");
        let v2 = with_base(
            "[gateway]\napi = \"blockatm-v2\"\ncashier_id = \"91\"\n\
             receiving_addresses = { 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }",
        )
        .unwrap();
        let GatewayApi::BlockatmV2 {
            cashier_id,
            receiving_addresses,
        } = v2.gateway_api
        else {
            panic!("v2")
        };
        assert_eq!(cashier_id, "91");
        assert!(receiving_addresses.contains_key(&ChainId(31337)));
        let error = with_base(
            "[gateway]\napi = \"blockatm-v2\"\nreceiving_addresses = { 31337 = \"0x12\" }",
        )
        .unwrap_err();
        assert!(error.contains("receiving_addresses.31337"), "{error}");
        let addresses =
            "receiving_addresses = { 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }";
        let error =
            with_base(&format!("[gateway]\napi = \"blockatm-v2\"\n{addresses}")).unwrap_err();
        assert!(
            error.contains("gateway.cashier_id is required with blockatm-v2"),
            "{error}"
        );
        for bad in ["", " ", "86 100021"] {
            let file =
                format!("[gateway]\napi = \"blockatm-v2\"\ncashier_id = \"{bad}\"\n{addresses}");
            let error = with_base(&file).unwrap_err();
            assert!(error.contains("gateway.cashier_id"), "{bad:?}: {error}");
        }
        let error = with_base("[gateway]\napi = \"stripe\"").unwrap_err();
        assert!(error.contains("blockatm-v1"), "{error}");
    }

    #[test]
    fn a_fiat_price_needs_a_rate_source_and_a_token_price_does_not() {
        let item = |currency: &str| {
            format!(
                "[[items]]\nid = \"tee\"\nname = \"T\"\nprice = \"25\"\ncurrency = \"{currency}\""
            )
        };
        assert!(with_base(&item("USDT")).is_ok());
        let error = with_base(&item("EUR")).unwrap_err();
        assert!(error.contains("needs a rate"), "{error}");
        let fixed = with_base(&format!(
            "[rates]\nfixed = {{ \"USDT/EUR\" = \"0.92\" }}\n{}",
            item("EUR")
        ))
        .unwrap();
        assert_eq!(
            fixed.rates,
            RateSource::Fixed([(("USDT".into(), "EUR".into()), "0.92".into())].into())
        );
        let error = with_base("[rates]\nfixed = { \"USDT\" = \"1\" }").unwrap_err();
        assert!(error.contains("BASE/QUOTE"), "{error}");
        let error = with_base("[rates]\nfixed = { \"USDT/USD\" = \"-1\" }").unwrap_err();
        assert!(error.contains("USDT/USD"), "{error}");
        let error = with_base("[rates]\nurl = \"ftp://x\"").unwrap_err();
        assert!(error.contains("rates.url"), "{error}");
        let url = |extra: &str| with_base(&format!("[rates]\nurl = \"http://r\"\n{extra}"));
        assert_eq!(
            url("").unwrap().rates,
            RateSource::Url {
                url: "http://r".into(),
                refresh: Duration::from_secs(60)
            }
        );
        assert!(url("refresh_seconds = 5").is_ok());
        for bad in ["refresh_seconds = 0", "refresh_seconds = 3601"] {
            let error = url(bad).unwrap_err();
            assert!(error.contains("rates.refresh_seconds"), "{error}");
        }
        let error = with_base("[rates]\nrefresh_seconds = 5").unwrap_err();
        assert!(error.contains("rates.url only"), "{error}");
    }

    #[test]
    fn a_chain_the_product_does_not_know_is_described_here_and_watched_with_its_tokens() {
        let op = "[[chains]]\nid = 10\nname = \"OP Mainnet\"\n\
                  explorer_url = \"https://optimistic.etherscan.io\"\n\
                  tokens = [{ symbol = \"USDT\", contract = \"0x94b008aA00579c1307B0EF2c499aD98a8ce58e58\", decimals = 6 }]";
        let config = with_base(op).unwrap();
        let chain = config.registry.chain(ChainId(10)).unwrap();
        assert_eq!(chain.name, "OP Mainnet");
        let usdt = config.registry.token(ChainId(10), "USDT").unwrap();
        assert_eq!(usdt.decimals, 6);
        assert_eq!(
            config.chains[&ChainId(10)].tokens,
            [usdt.contract],
            "watched"
        );
        // What the gateway's lists say of it is described from here.
        let listed = usdt_checkout_protocol::gateway::Listed::token("10", "USDT");
        let described = usdt_checkout_protocol::gateway::describe(
            &[usdt_checkout_protocol::gateway::Listed::chain("10")],
            &[listed],
            &config.registry,
        );
        assert_eq!(described.skipped, []);
        assert_eq!(described.networks[0].name, "OP Mainnet");
        assert_eq!(described.tokens[0].contract, usdt.contract);

        // A known chain keeps what is not said; an unknown one needs its name.
        let renamed = with_base("[[chains]]\nid = 1\nname = \"Ethereum mainnet\"").unwrap();
        let ethereum = renamed.registry.chain(ChainId(1)).unwrap();
        assert_eq!(ethereum.name, "Ethereum mainnet");
        assert_eq!(
            ethereum.explorer_url.as_deref(),
            Some("https://etherscan.io")
        );
        assert_eq!(ethereum.tokens.len(), 1);
        assert!(
            with_base("[[chains]]\nid = 10").is_ok(),
            "watched, not described"
        );
        let error = with_base("[[chains]]\nid = 10\ntokens = []").unwrap_err();
        assert!(error.contains("chains 10: name is required"), "{error}");
        let error = with_base(&op.replace("decimals = 6", "decimals = 39")).unwrap_err();
        assert!(
            error.contains("chains:") && error.contains("39 decimals"),
            "{error}"
        );
        let error = with_base(&op.replace("0x94b0", "0x94B0")).unwrap_err();
        assert!(error.contains("checksum"), "{error}");
    }

    #[test]
    fn watched_chains_are_read_with_their_confirmations() {
        let config = with_base(
            "[[chains]]\nid = 31337\nrpc_url = \"http://127.0.0.1:8545\"\nconfirmations = 2\n\
             [[chains]]\nid = 1",
        )
        .unwrap();
        assert_eq!(config.chains[&ChainId(31337)].confirmations, 2);
        assert!(!config.chains[&ChainId(1)].is_read());
        assert_eq!(
            config.chains[&ChainId(1)].confirmations,
            DEFAULT_CONFIRMATIONS
        );
        let error = with_base("[[chains]]\nid = 1\nconfirmations = 0").unwrap_err();
        assert!(error.contains("confirmations"), "{error}");
        let error = with_base("[[chains]]\nid = 1\nrpc_url = \"localhost\"").unwrap_err();
        assert!(error.contains("rpc_url"), "{error}");
        let error = with_base("[[chains]]\nid = 1\n[[chains]]\nid = 1").unwrap_err();
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn a_chain_has_several_nodes_and_a_budget_its_polls_fit() {
        let config = with_base(
            "[[chains]]\nid = 1\nrpc_url = \"https://a.example\"\n\
             rpc_urls = [\"https://b.example\", \"http://127.0.0.1:8545\"]\n\
             [[chains]]\nid = 56\nrpc_url = \"https://bsc.example\"\nrpc_calls_per_day = 300000",
        )
        .unwrap();
        let ethereum = &config.chains[&ChainId(1)];
        assert_eq!(
            ethereum.rpc_urls,
            [
                "https://a.example",
                "https://b.example",
                "http://127.0.0.1:8545"
            ]
        );
        assert_eq!(ethereum.rpc_calls_per_day, 100_000);
        assert_eq!(ethereum.poll_interval, Duration::from_millis(3_456));
        let bsc = &config.chains[&ChainId(56)];
        assert_eq!(bsc.poll_interval, Duration::from_millis(1_152));
        let error = with_base("[[chains]]\nid = 1\nrpc_urls = [\"wss://a.example\"]").unwrap_err();
        assert!(error.contains("http(s)"), "{error}");
        let error = with_base("[[chains]]\nid = 1\nrpc_calls_per_day = 10").unwrap_err();
        assert!(error.contains("rpc_calls_per_day"), "{error}");
    }

    #[test]
    fn polls_spend_half_the_budget_at_two_calls_a_poll() {
        for calls_per_day in [100_000, 1_000_000, 30_000] {
            let polls = 86_400_000 / default_poll_interval(calls_per_day).as_millis() as u64;
            assert!(
                polls * 2 <= calls_per_day / 2,
                "{calls_per_day}: {polls} polls"
            );
        }
        assert_eq!(default_poll_interval(u64::MAX), Duration::from_millis(100));
        assert_eq!(default_poll_interval(1_000), Duration::from_secs(60));
    }
}
