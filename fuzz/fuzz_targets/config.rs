//! The checkout server's configuration: `config::parse`, a TOML file's text and then the
//! environment, as the server reads them at startup (`load` only adds reading the file).
//!
//! Input: the file's text, read twice: with no environment (the file must name every secret),
//! and with the secrets in the environment (so settings past them are reached whatever the file
//! says of keys).
//!
//! Beyond not panicking: a refusal is a message; an accepted configuration holds the limits the
//! server relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usdt_checkout_server::config::{self, Config};
use usdt_checkout_server::domain::Price;

/// A V1 key pair made by openssl (the protocol's interoperability test).
const PRIVATE_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9mrrjasg7oWYLKo6bWIBZk9AH8gtCrsaKBeZCWtP/EehRANCAAQufiSi21LDW+MFvgyVCDtKSe93F3dwvNcHP7O0ozbn9UBJQVZnzTYBxa5YotKzQt9ScP9yYaSnV8nWnCVk1+vb";
const PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELn4kottSw1vjBb4MlQg7Sknvdxd3cLzXBz+ztKM25/VASUFWZ802AcWuWKLSs0LfUnD/cmGkp1fJ1pwlZNfr2w==";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `gateway.private_key_file` makes the parser read that file: a fuzzer's path could be
    // /dev/zero. The file itself is no outside input; everything else is fuzzed.
    let names_a_file = toml::from_str::<toml::Table>(text).is_ok_and(|table| {
        table
            .get("gateway")
            .and_then(toml::Value::as_table)
            .is_some_and(|gateway| gateway.contains_key("private_key_file"))
    });
    if names_a_file {
        return;
    }
    check(config::parse(text, "fuzz.toml", |_| None));
    check(config::parse(text, "fuzz.toml", |name| {
        let value = match name {
            "CHECKOUT_GATEWAY_API_KEY" => "api-key",
            "CHECKOUT_GATEWAY_PRIVATE_KEY" => PRIVATE_KEY,
            "CHECKOUT_WEBHOOK_PUBLIC_KEY" => PUBLIC_KEY,
            _ => return None,
        };
        Some(value.to_owned())
    }));
});

fn check(result: Result<Config, String>) {
    let config = match result {
        Ok(config) => config,
        Err(message) => {
            assert!(!message.trim().is_empty(), "an empty refusal");
            return;
        }
    };
    assert!((2..=100).contains(&config.requests_per_minute));
    assert!((60..=86_400).contains(&config.order_lifetime.as_secs()));
    assert!(config.checkouts_per_client_per_minute >= 1);
    assert!(
        config.gateway_url.starts_with("http://") || config.gateway_url.starts_with("https://")
    );
    for origin in &config.allowed_origins {
        assert!(origin.starts_with("http://") || origin.starts_with("https://"));
        assert!(!origin.ends_with('/'));
    }
    for (id, item) in &config.items {
        assert_eq!(id, &item.id);
        assert!(!item.id.is_empty() && !item.name.is_empty());
        let (amount, currency) = (item.price.amount.as_str(), &item.price.currency);
        assert!(Price::parse(amount, currency, &config.registry).is_ok());
    }
    for chain in config.chains.values() {
        assert!(chain.confirmations >= 1);
        assert!(chain.poll_interval.as_millis() >= 100);
    }
    assert!(config.reconcile_interval.as_secs() >= 1);
    assert!(config.gateway_timeout.as_secs() >= 1);
}
