//! The sandbox's configuration file (TOML). Everything has a default but the merchants; every
//! value is checked at startup, and a bad one stops it with a message naming the setting.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::signature::{V1PublicKey, V2SecretKey, Verifier};
use usdt_checkout_protocol::{Address, Chain, ChainId, ChainRegistry};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub gateway: GatewaySettings,
    /// Chains and tokens (replacing the built-in entry of the same id).
    #[serde(default)]
    pub chains: Vec<Chain>,
    #[serde(default)]
    pub merchants: Vec<MerchantFile>,
    #[serde(default)]
    pub rates: Vec<RateFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Which of BlockATM's documented APIs this gateway speaks: "v1" or "v2".
    pub api: Option<Api>,
    /// The base URL shoppers and merchants reach this gateway at (for `cashierUrl`); by default
    /// `http://<listen address>`.
    pub public_url: Option<String>,
    pub order_lifetime_seconds: u64,
    pub confirmations: u32,
    pub poll_interval_ms: u64,
    pub rate_limit_per_minute: usize,
    /// How long a key that kept calling while rate-limited is blocked (HTTP 418).
    pub block_seconds: u64,
    /// First webhook retry delay; each later one is three times the one before, up to an hour.
    pub webhook_retry_base_ms: u64,
    pub webhook_max_attempts: u32,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            api: None,
            public_url: None,
            order_lifetime_seconds: 900,
            confirmations: 2,
            poll_interval_ms: 500,
            rate_limit_per_minute: 100,
            block_seconds: 300,
            webhook_retry_base_ms: 2_000,
            webhook_max_attempts: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantFile {
    pub api_key: String,
    /// The merchant's V1 public key, base64 X.509 SubjectPublicKeyInfo DER.
    pub v1_public_key: Option<String>,
    /// The merchant's V2 secret: checks its V2-signed requests.
    pub v2_secret: Option<String>,
    /// V2: the separate secret its webhooks are signed with (HMAC).
    pub webhook_secret: Option<String>,
    /// V2: the merchant's cashier id, a number, sent as `cashierId`.
    pub cashier_id: Option<u64>,
    /// Where payment webhooks go.
    pub webhook_url: Option<String>,
    /// V1: how webhooks are signed, "v1" (with the gateway's key pair, the default) or "v2"
    /// (HMAC with `v2_secret`). V2 webhooks are always HMAC with `webhook_secret`.
    pub webhook_signature: Option<String>,
    /// The merchant's receiving contract on the watched chain; `--deploy` deploys one.
    pub receiving_address: Option<Address>,
}

/// The first merchant's default cashier id (BlockATM's example's); the next get the following
/// numbers.
pub const DEFAULT_CASHIER_ID: u64 = 86_100_021;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateFile {
    pub base: String,
    pub quote: String,
    pub rate: String,
}

/// The dialect: one of BlockATM's documented APIs. One process speaks one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// readme.io's V1: bare answers, ECDSA-signed callbacks with V1's fields.
    #[default]
    V1,
    /// The V2 GitBook: the `{code, success, data, msg, trace}` envelope, HMAC-signed payment
    /// events.
    V2,
}

/// How a merchant's webhooks are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookSignature {
    /// ECDSA with the gateway's key pair.
    V1,
    /// HMAC-SHA256 with the merchant's V2 secret (V1 dialect) or webhook secret (V2).
    V2,
}

/// A merchant, checked.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub api_key: String,
    /// Checks the merchant's signed requests, with its V1 public key and V2 secret.
    pub verifier: Verifier,
    /// Signs its webhooks when they are HMAC-signed: the V2 secret in V1, the webhook secret
    /// in V2.
    pub webhook_key: Option<V2SecretKey>,
    pub webhook_url: Option<String>,
    pub webhook_signature: WebhookSignature,
    /// V2's `cashierId`.
    pub cashier_id: u64,
    /// The configured receiving address, the same on every chain; `--deploy` replaces it.
    pub receiving_address: Option<Address>,
    /// Where its shoppers pay, per watched chain: the configured address, or the contract
    /// `--deploy` made on each chain. Filled at startup.
    pub receivers: std::collections::BTreeMap<ChainId, Address>,
}

impl Merchant {
    /// Its receiving address on `chain`.
    pub fn receiver(&self, chain: ChainId) -> Option<Address> {
        self.receivers.get(&chain).copied()
    }
}

/// Timing and limits, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub order_lifetime: Duration,
    pub confirmations: u32,
    pub poll_interval: Duration,
    pub rate_limit_per_minute: usize,
    pub block: Duration,
    pub webhook_retry_base: Duration,
    pub webhook_max_attempts: u32,
}

#[derive(Debug)]
pub struct Config {
    pub api: Api,
    /// V1's answers in V2's envelope, as `--v1-envelope` asks (V1 documents no answer shape).
    pub v1_envelope: bool,
    /// The public lists with only what BlockATM's documents let a reader rely on, as
    /// `--minimal-lists` asks: `chainId` for a network, `chainId` and `symbol` for a token.
    pub minimal_lists: bool,
    pub public_url: Option<String>,
    pub settings: Settings,
    pub registry: ChainRegistry,
    pub merchants: Vec<Merchant>,
    pub rates: Vec<RateFile>,
}

impl Config {
    /// Whether the API's successes come in the envelope `{code, success, data, msg, trace}`:
    /// always in V2 (§4.5), in V1 with `--v1-envelope`.
    pub fn enveloped(&self) -> bool {
        self.api == Api::V2 || self.v1_envelope
    }
}

/// Each rate is a positive decimal with at most 18 decimals.
pub fn check_rates(rates: &[RateFile]) -> Result<(), String> {
    for (i, rate) in rates.iter().enumerate() {
        if usdt_checkout_protocol::parse_positive_units(&rate.rate, 18).is_err() {
            return Err(format!(
                "rates[{i}].rate {:?} must be a positive decimal with at most 18 decimals",
                rate.rate
            ));
        }
    }
    Ok(())
}

/// Reads the file at `path` (defaults without one); `api`, when given, overrides its dialect.
pub fn load(path: Option<&Path>, api: Option<Api>) -> Result<Config, String> {
    let file: ConfigFile = match path {
        None => ConfigFile::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    check(file, api)
}

fn check(file: ConfigFile, api: Option<Api>) -> Result<Config, String> {
    let g = file.gateway;
    let api = api.or(g.api).unwrap_or_default();
    let positive = |value: u64, name: &str| {
        if value == 0 {
            Err(format!("gateway.{name} must be greater than zero"))
        } else {
            Ok(value)
        }
    };
    positive(g.order_lifetime_seconds, "order_lifetime_seconds")?;
    positive(g.confirmations.into(), "confirmations")?;
    positive(g.poll_interval_ms, "poll_interval_ms")?;
    positive(g.rate_limit_per_minute as u64, "rate_limit_per_minute")?;
    positive(g.webhook_max_attempts.into(), "webhook_max_attempts")?;
    if let Some(url) = &g.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!("gateway.public_url {url:?} must be an http(s) URL"));
    }
    let mut registry = ChainRegistry::builtin();
    registry
        .set(file.chains)
        .map_err(|e| format!("chains: {e}"))?;

    let mut merchants: Vec<Merchant> = Vec::new();
    for (i, m) in file.merchants.into_iter().enumerate() {
        let at = format!("merchants[{i}]");
        if m.api_key.trim().is_empty() {
            return Err(format!("{at}.api_key is empty"));
        }
        if merchants.iter().any(|other| other.api_key == m.api_key) {
            return Err(format!("{at}.api_key is used by another merchant"));
        }
        let v1_public_key = m
            .v1_public_key
            .as_deref()
            .map(V1PublicKey::from_base64_spki)
            .transpose()
            .map_err(|e| format!("{at}.v1_public_key: {e}"))?;
        let v2_secret = m
            .v2_secret
            .as_deref()
            .map(V2SecretKey::new)
            .transpose()
            .map_err(|e| format!("{at}.v2_secret: {e}"))?;
        let webhook_secret = m
            .webhook_secret
            .as_deref()
            .map(V2SecretKey::new)
            .transpose()
            .map_err(|e| format!("{at}.webhook_secret: {e}"))?;
        let (verifier, webhook_signature, webhook_key) = match api {
            Api::V1 => {
                if v1_public_key.is_none() && v2_secret.is_none() {
                    return Err(format!(
                        "{at} needs v1_public_key or v2_secret to verify its requests"
                    ));
                }
                let signature = match m.webhook_signature.as_deref().unwrap_or("v1") {
                    "v1" => WebhookSignature::V1,
                    "v2" if v2_secret.is_some() => WebhookSignature::V2,
                    "v2" => {
                        return Err(format!(
                            "{at}.webhook_signature is v2 but there is no v2_secret"
                        ));
                    }
                    other => {
                        return Err(format!("{at}.webhook_signature {other:?} is not v1 or v2"));
                    }
                };
                let key = (signature == WebhookSignature::V2)
                    .then(|| v2_secret.clone())
                    .flatten();
                (Verifier::new(v1_public_key, v2_secret), signature, key)
            }
            Api::V2 => {
                // V2 signs requests with the secret only, and webhooks with a key of their own.
                if v2_secret.is_none() {
                    return Err(format!(
                        "{at}.v2_secret is required with api = \"v2\": V2 requests are signed with it"
                    ));
                }
                if m.webhook_signature.is_some() {
                    return Err(format!(
                        "{at}.webhook_signature is for api = \"v1\"; V2 webhooks are signed with webhook_secret"
                    ));
                }
                if m.webhook_url.is_some() && webhook_secret.is_none() {
                    return Err(format!(
                        "{at}.webhook_secret is required with api = \"v2\" and a webhook_url: V2 webhooks are signed with it"
                    ));
                }
                (
                    Verifier::new(None, v2_secret),
                    WebhookSignature::V2,
                    webhook_secret,
                )
            }
        };
        let cashier_id = m.cashier_id.unwrap_or(DEFAULT_CASHIER_ID + i as u64);
        if merchants.iter().any(|other| other.cashier_id == cashier_id) {
            return Err(format!(
                "{at}.cashier_id {cashier_id} is used by another merchant"
            ));
        }
        if let Some(url) = &m.webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!("{at}.webhook_url {url:?} must be an http(s) URL"));
        }
        merchants.push(Merchant {
            api_key: m.api_key,
            verifier,
            webhook_key,
            webhook_url: m.webhook_url,
            webhook_signature,
            cashier_id,
            receiving_address: m.receiving_address,
            receivers: Default::default(),
        });
    }
    check_rates(&file.rates)?;
    Ok(Config {
        api,
        v1_envelope: false,
        minimal_lists: false,
        public_url: g.public_url.map(|url| url.trim_end_matches('/').to_owned()),
        settings: Settings {
            order_lifetime: Duration::from_secs(g.order_lifetime_seconds),
            confirmations: g.confirmations,
            poll_interval: Duration::from_millis(g.poll_interval_ms),
            rate_limit_per_minute: g.rate_limit_per_minute,
            block: Duration::from_secs(g.block_seconds),
            webhook_retry_base: Duration::from_millis(g.webhook_retry_base_ms),
            webhook_max_attempts: g.webhook_max_attempts,
        },
        registry,
        merchants,
        rates: file.rates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        check(toml::from_str(text).map_err(|e| e.to_string())?, None)
    }

    #[test]
    fn defaults_need_no_file() {
        let config = parse("").unwrap();
        assert_eq!(config.api, Api::V1);
        assert_eq!(config.settings.confirmations, 2);
        assert_eq!(config.settings.rate_limit_per_minute, 100);
        assert!(config.merchants.is_empty());
    }

    #[test]
    fn bad_settings_name_themselves() {
        let key = usdt_checkout_protocol::signature::V1PrivateKey::generate()
            .public_key()
            .to_base64_spki();
        assert!(
            parse("[gateway]\nconfirmations = 0")
                .unwrap_err()
                .contains("gateway.confirmations")
        );
        assert!(
            parse("[gateway]\nconfirmatons = 2")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            parse("[[merchants]]\napi_key = \"k\"")
                .unwrap_err()
                .contains("merchants[0] needs v1_public_key or v2_secret")
        );
        assert!(
            parse("[[merchants]]\napi_key = \"k\"\nv1_public_key = \"bm9wZQ==\"")
                .unwrap_err()
                .contains("merchants[0].v1_public_key")
        );
        let two = format!(
            "[[merchants]]\napi_key = \"k\"\nv1_public_key = \"{key}\"\n[[merchants]]\napi_key = \"k\"\nv1_public_key = \"{key}\""
        );
        assert!(
            parse(&two)
                .unwrap_err()
                .contains("merchants[1].api_key is used")
        );
        assert!(
            parse("[[rates]]\nbase = \"USDT\"\nquote = \"USD\"\nrate = \"-1\"")
                .unwrap_err()
                .contains("rates[0].rate")
        );
    }

    #[test]
    fn the_dialect_is_v1_unless_the_file_or_the_flag_says_v2() {
        let v2 = "[gateway]\napi = \"v2\"";
        assert_eq!(parse(v2).unwrap().api, Api::V2);
        let file = toml::from_str(v2).unwrap();
        assert_eq!(
            check(file, Some(Api::V1)).unwrap().api,
            Api::V1,
            "the flag wins"
        );
        assert!(
            parse("[gateway]\napi = \"v3\"")
                .unwrap_err()
                .contains("unknown variant")
        );
    }

    #[test]
    fn v2_merchants_sign_with_their_secret_and_get_webhooks_signed_with_another() {
        let merchant = |extra: &str| {
            format!("[gateway]\napi = \"v2\"\n[[merchants]]\napi_key = \"k\"\n{extra}")
        };
        let key = usdt_checkout_protocol::signature::V1PrivateKey::generate()
            .public_key()
            .to_base64_spki();
        assert!(
            parse(&merchant(&format!("v1_public_key = \"{key}\"")))
                .unwrap_err()
                .contains("merchants[0].v2_secret is required")
        );
        let hooked = "v2_secret = \"sk_a\"\nwebhook_url = \"http://127.0.0.1:1/hook\"";
        assert!(
            parse(&merchant(hooked))
                .unwrap_err()
                .contains("merchants[0].webhook_secret is required")
        );
        assert!(
            parse(&merchant(&format!(
                "{hooked}\nwebhook_secret = \"wh\"\nwebhook_signature = \"v1\""
            )))
            .unwrap_err()
            .contains("webhook_signature is for api = \"v1\"")
        );
        let config = parse(&merchant(&format!("{hooked}\nwebhook_secret = \"wh\""))).unwrap();
        let m = &config.merchants[0];
        assert_eq!(m.webhook_signature, WebhookSignature::V2);
        assert_eq!(m.cashier_id, DEFAULT_CASHIER_ID);
        let hmac = usdt_checkout_protocol::signature::V2SecretKey::new("wh").unwrap();
        assert_eq!(m.webhook_key.as_ref().unwrap().sign("x"), hmac.sign("x"));
    }

    #[test]
    fn cashier_ids_are_numbered_from_the_default_and_never_shared() {
        let two = "[[merchants]]\napi_key = \"a\"\nv2_secret = \"s\"\n\
                   [[merchants]]\napi_key = \"b\"\nv2_secret = \"s\"";
        let ids: Vec<u64> = parse(two)
            .unwrap()
            .merchants
            .iter()
            .map(|m| m.cashier_id)
            .collect();
        assert_eq!(ids, [DEFAULT_CASHIER_ID, DEFAULT_CASHIER_ID + 1]);
        let clash = format!("{two}\ncashier_id = {DEFAULT_CASHIER_ID}");
        assert!(
            parse(&clash)
                .unwrap_err()
                .contains("merchants[1].cashier_id 86100021 is used")
        );
    }
}
