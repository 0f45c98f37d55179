//! The checkout server's configuration: a TOML file, then environment variables over it (for
//! secrets, which belong in the environment or a secrets file, not in a file under version
//! control). Every setting is checked at startup; a missing or malformed one stops the server with
//! a message naming it.

mod chains;
mod console;
mod effective;
mod file;
mod gateway;
mod rates;
mod secret_files;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use usdt_checkout_protocol::ChainId;
use usdt_checkout_protocol::ChainRegistry;
use usdt_checkout_protocol::signature::V2SecretKey;

use crate::domain::Price;
use crate::fulfillment::Delivery;
use crate::gateway::GatewayApi;
use crate::limiter::Network;
pub use crate::log_format::LogFormat;
pub use crate::store::Database;

pub use chains::{WatchedChain, chain_clients, default_poll_interval};
pub use console::ConsoleConfig;
pub use effective::Setting;
use file::File;
pub use rates::RateSource;

/// Something a shopper can buy, at a price the server decides.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub price: Price,
}

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where `/metrics` is also served, without the admin token, for a private network's
    /// Prometheus (see [`crate::metrics`]); none: only on `listen`, behind the token.
    pub metrics_listen: Option<SocketAddr>,
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
    /// Where shoppers reach this server, without a trailing slash: a payment link is
    /// `{public_url}/pay/{id}`. `http://{listen}` unless set.
    pub public_url: String,
    /// How long a client has to send a request's headers (an idle kept-alive connection, the
    /// next request's) before its connection is closed.
    pub header_timeout: Duration,
    /// How long a stopping server waits for its requests in flight before it exits anyway.
    pub shutdown_timeout: Duration,
    pub gateway_url: String,
    /// The gateway is this product's sandbox in test mode (`gateway.sandbox`), so the console
    /// offers paying a refund from its test account.
    pub gateway_sandbox: bool,
    pub api_key: String,
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
    /// The staff console's sessions and sign-in limits (`[console]`).
    pub console: ConsoleConfig,
    /// How log lines are written (`log_format`).
    pub log_format: LogFormat,
}

/// The gateway allows 100 calls a minute per key; staying at 90 leaves room for clock skew and
/// for a person using the same key by hand.
/// The calls a minute BlockATM allows a key.
const GATEWAY_LIMIT_PER_MINUTE: usize = 100;

/// Reads the file (if any), then the environment, as `lookup` gives it (each variable `X` also
/// as the contents of the file `X_FILE` names, see [`secret_files`]).
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
    // Each CHECKOUT_X may instead be read from the file CHECKOUT_X_FILE names.
    let unreadable = std::cell::RefCell::new(None);
    let parsed = parse(
        &text,
        &source,
        secret_files::with_files(lookup, &unreadable),
    );
    match unreadable.into_inner() {
        Some(error) => Err(error),
        None => parsed,
    }
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
    let api = env("CHECKOUT_GATEWAY_API").or(g.api);

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

    let gateway_api = gateway::gateway_api(
        api.as_deref(),
        gateway::Keys {
            private_key: env("CHECKOUT_GATEWAY_PRIVATE_KEY").or(g.private_key),
            private_key_file: g.private_key_file,
            v2_secret: env("CHECKOUT_GATEWAY_V2_SECRET").or(g.v2_secret),
            webhook_public_key: env("CHECKOUT_WEBHOOK_PUBLIC_KEY").or(g.webhook_public_key),
            webhook_secret: env("CHECKOUT_WEBHOOK_SECRET").or(g.webhook_secret),
        },
        g.cashier_id,
        &g.receiving_addresses,
    )?;
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
    let described = chains::described_chains(&file.chains, &registry)?;
    registry
        .set(described)
        .map_err(|e| format!("chains: {e}"))?;
    let rates = rates::rate_source(file.rates)?;
    let chains = chains::watched_chains(file.chains, &registry)?;
    let mut items = BTreeMap::new();
    for item in file.items {
        if item.id.is_empty() || item.name.is_empty() {
            return Err("every item needs an id and a name".into());
        }
        // Checked now, so a bad price stops the server instead of a shopper's checkout.
        let price = Price::parse(&item.price, &item.currency, &registry)
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
        let item = Item {
            id: item.id,
            name: item.name,
            price,
        };
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
        metrics_listen: match env("CHECKOUT_METRICS_LISTEN") {
            Some(text) => Some(text.parse().map_err(|_| {
                format!("CHECKOUT_METRICS_LISTEN {text:?} is not an address such as 10.0.0.5:9420")
            })?),
            None => file.metrics_listen,
        },
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
        public_url: public_url(env("CHECKOUT_PUBLIC_URL").or(file.public_url), listen)?,
        header_timeout: Duration::from_secs(match file.header_timeout_seconds {
            None => DEFAULT_HEADER_TIMEOUT_SECONDS,
            Some(seconds @ 1..=300) => seconds,
            Some(_) => return Err("header_timeout_seconds must be from 1 to 300".into()),
        }),
        shutdown_timeout: Duration::from_secs(match file.shutdown_timeout_seconds {
            None => DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
            Some(seconds @ 1..=300) => seconds,
            Some(_) => return Err("shutdown_timeout_seconds must be from 1 to 300".into()),
        }),
        gateway_url,
        gateway_sandbox: g.sandbox,
        api_key,
        requests_per_minute,
        reconcile_interval: Duration::from_secs(g.reconcile_interval_seconds.unwrap_or(15).max(1)),
        gateway_timeout: Duration::from_secs(g.timeout_seconds.unwrap_or(10).max(1)),
        admin_token,
        fulfillment,
        items,
        registry,
        console: console::console(file.console)?,
        log_format: env("CHECKOUT_LOG_FORMAT")
            .or(file.log_format)
            .map_or(Ok(LogFormat::Text), |text| LogFormat::parse(&text))?,
    })
}

/// `public_url` as set, else this server's own address; checked: an http(s) URL of a host, with
/// at most a path (a proxy's prefix), no query, fragment, credentials or trailing slash, so that
/// `{public_url}/pay/{id}` is the page and nothing else.
fn public_url(set: Option<String>, listen: SocketAddr) -> Result<String, String> {
    let Some(url) = set else {
        return Ok(format!("http://{listen}"));
    };
    let refused = |why: &str| Err(format!("public_url {url:?} {why}"));
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return refused("must be an http(s) URL such as https://pay.shop.example");
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return refused("must name a host, without credentials");
    }
    if url.ends_with('/') {
        return refused("must not end with '/'");
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '"' | '<' | '>'))
    {
        return refused("must have no query, fragment, spaces or quotes");
    }
    Ok(url)
}

/// How long a client has to send a request's headers, unless configured: a shopper's browser
/// sends them at once; a client that trickles them holds a connection (slowloris).
const DEFAULT_HEADER_TIMEOUT_SECONDS: u64 = 20;
/// A write takes well under a second, and held polls are answered at once: only a stalled
/// client waits this long, and a process manager's stop timeout (Docker's is 10 s) is above it.
const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 8;

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

#[cfg(test)]
mod tests {
    use super::*;
    use usdt_checkout_protocol::signature::V1PrivateKey;

    pub(super) fn with(file: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(file, "checkout.toml", |name| env.get(name).cloned())
    }

    pub(super) fn keys() -> (String, String) {
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
        assert_eq!(config.items["tee"].price.amount.as_str(), "25.00");
        assert!(matches!(config.gateway_api, GatewayApi::BlockatmV1(_)));
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
        for bad in [0, 301] {
            let setting = format!("shutdown_timeout_seconds = {bad}");
            assert!(
                error(&setting, &base).contains("shutdown_timeout_seconds"),
                "{bad}"
            );
        }
        assert_eq!(
            with("", &base).unwrap().shutdown_timeout,
            Duration::from_secs(8)
        );
        let set = with("shutdown_timeout_seconds = 30", &base).unwrap();
        assert_eq!(set.shutdown_timeout, Duration::from_secs(30));
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

    pub(super) fn with_base(file: &str) -> Result<Config, String> {
        let env = base_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with(file, &env)
    }
}
