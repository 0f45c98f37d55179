//! The checkout server's configuration: a TOML file, then environment variables over it (for
//! secrets, which belong in the environment or a secrets file, not in a file under version
//! control). Every setting is checked at startup; a missing or malformed one stops the server with
//! a message naming it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use usdt_checkout_protocol::ChainRegistry;
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey, V2SecretKey, Verifier};

use crate::domain::check_price;
use crate::fulfillment::Delivery;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    database: Option<PathBuf>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    order_lifetime_seconds: Option<u64>,
    /// Where the built widget is, to serve under `/checkout/`.
    widget_dir: Option<PathBuf>,
    #[serde(default)]
    gateway: GatewayFile,
    #[serde(default)]
    admin: AdminFile,
    #[serde(default)]
    fulfillment: FulfillmentFile,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GatewayFile {
    url: Option<String>,
    api_key: Option<String>,
    private_key: Option<String>,
    private_key_file: Option<PathBuf>,
    v2_secret: Option<String>,
    webhook_public_key: Option<String>,
    webhook_secret: Option<String>,
    requests_per_minute: Option<usize>,
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

/// How requests to the gateway are signed.
#[derive(Debug, Clone)]
pub enum Credentials {
    V1(V1PrivateKey),
    V2(V2SecretKey),
}

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: PathBuf,
    pub allowed_origins: Vec<String>,
    pub order_lifetime: Duration,
    pub widget_dir: Option<PathBuf>,
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

/// The gateway allows 100 calls a minute per key; staying at 90 leaves room for clock skew and
/// for a person using the same key by hand.
const DEFAULT_REQUESTS_PER_MINUTE: usize = 90;

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
        ),
        (None, Some(secret)) => Verifier::new(
            None,
            Some(V2SecretKey::new(&secret).map_err(|e| format!("gateway.webhook_secret: {e}"))?),
        ),
        (None, None) => {
            return Err(
                "gateway.webhook_public_key (the gateway's, from its console) or \
                        gateway.webhook_secret is required to verify webhooks"
                    .into(),
            );
        }
    };
    let requests_per_minute = g.requests_per_minute.unwrap_or(DEFAULT_REQUESTS_PER_MINUTE);
    if !(2..=100).contains(&requests_per_minute) {
        return Err(
            "gateway.requests_per_minute must be from 2 to 100 (the gateway's limit)".into(),
        );
    }

    let registry = ChainRegistry::builtin();
    let mut items = BTreeMap::new();
    for item in file.items {
        if item.id.is_empty() || item.name.is_empty() {
            return Err("every item needs an id and a name".into());
        }
        // Checked now, so a bad price stops the server instead of a shopper's checkout.
        check_price(&item.price, &item.currency, &registry)
            .map_err(|e| format!("items {:?}: {e}", item.id))?;
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
            secret: V2SecretKey::new(&secret).map_err(|e| format!("fulfillment.secret: {e}"))?,
        }),
    };

    Ok(Config {
        listen,
        database: env("CHECKOUT_DATABASE")
            .map(PathBuf::from)
            .or(file.database)
            .unwrap_or_else(|| "checkout.sqlite".into()),
        allowed_origins: file.allowed_origins,
        order_lifetime: Duration::from_secs(file.order_lifetime_seconds.unwrap_or(900)),
        widget_dir: file.widget_dir,
        gateway_url,
        api_key,
        credentials,
        webhook_verifier,
        requests_per_minute,
        reconcile_interval: Duration::from_secs(g.reconcile_interval_seconds.unwrap_or(15).max(1)),
        gateway_timeout: Duration::from_secs(g.timeout_seconds.unwrap_or(10).max(1)),
        admin_token: env("CHECKOUT_ADMIN_TOKEN").or(file.admin.token),
        fulfillment,
        items,
        registry,
    })
}

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
            "[gateway]\napi_key = \"file-key\"\n[[items]]\nid = \"tee\"\nname = \"T-shirt\"\nprice = \"25.00\"\ncurrency = \"USD\"",
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
        assert!(error("", &[("CHECKOUT_LISTEN", "nowhere"), base[1]]).contains("CHECKOUT_LISTEN"));
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
                "[[items]]\nid = \"sticker\"\nname = \"Sticker\"\nprice = \"{price}\"\ncurrency = \"{currency}\""
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
}
