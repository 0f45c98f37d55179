//! The sandbox's configuration file (TOML). Everything has a default but the merchants; every
//! value is checked at startup, and a bad one stops it with a message naming the setting.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use usdt_checkout_protocol::signature::{V1PublicKey, V2SecretKey, Verifier};
use usdt_checkout_protocol::{Address, Chain, ChainRegistry};

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
    /// The merchant's V2 secret.
    pub v2_secret: Option<String>,
    /// Where payment webhooks go.
    pub webhook_url: Option<String>,
    /// How webhooks are signed: "v1" (with the gateway's key pair) or "v2" (HMAC with the
    /// merchant's secret).
    #[serde(default = "default_webhook_signature")]
    pub webhook_signature: String,
    /// The merchant's receiving contract on the watched chain; `--deploy` deploys one.
    pub receiving_address: Option<Address>,
}

fn default_webhook_signature() -> String {
    "v1".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateFile {
    pub base: String,
    pub quote: String,
    pub rate: String,
}

/// How a merchant's webhooks are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookSignature {
    V1,
    V2,
}

/// A merchant, checked.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub api_key: String,
    /// Checks the merchant's signed requests, with its V1 public key and V2 secret.
    pub verifier: Verifier,
    /// Signs its webhooks when they are V2.
    pub v2_secret: Option<V2SecretKey>,
    pub webhook_url: Option<String>,
    pub webhook_signature: WebhookSignature,
    pub receiving_address: Option<Address>,
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
    pub public_url: Option<String>,
    pub settings: Settings,
    pub registry: ChainRegistry,
    pub merchants: Vec<Merchant>,
    pub rates: Vec<RateFile>,
}

pub fn load(path: Option<&Path>) -> Result<Config, String> {
    let file: ConfigFile = match path {
        None => ConfigFile::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    check(file)
}

fn check(file: ConfigFile) -> Result<Config, String> {
    let g = file.gateway;
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
        if v1_public_key.is_none() && v2_secret.is_none() {
            return Err(format!(
                "{at} needs v1_public_key or v2_secret to verify its requests"
            ));
        }
        let webhook_signature = match m.webhook_signature.as_str() {
            "v1" => WebhookSignature::V1,
            "v2" if v2_secret.is_some() => WebhookSignature::V2,
            "v2" => {
                return Err(format!(
                    "{at}.webhook_signature is v2 but there is no v2_secret"
                ));
            }
            other => return Err(format!("{at}.webhook_signature {other:?} is not v1 or v2")),
        };
        if let Some(url) = &m.webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!("{at}.webhook_url {url:?} must be an http(s) URL"));
        }
        merchants.push(Merchant {
            api_key: m.api_key,
            verifier: Verifier::new(v1_public_key, v2_secret.clone()),
            v2_secret,
            webhook_url: m.webhook_url,
            webhook_signature,
            receiving_address: m.receiving_address,
        });
    }
    for (i, rate) in file.rates.iter().enumerate() {
        if usdt_checkout_protocol::parse_positive_units(&rate.rate, 18).is_err() {
            return Err(format!(
                "rates[{i}].rate {:?} must be a positive decimal with at most 18 decimals",
                rate.rate
            ));
        }
    }
    Ok(Config {
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
        check(toml::from_str(text).map_err(|e| e.to_string())?)
    }

    #[test]
    fn defaults_need_no_file() {
        let config = parse("").unwrap();
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
}
