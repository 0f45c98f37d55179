//! The effective configuration as people read it: every setting the server runs with, after the
//! file, the environment and the defaults, each secret said set or not and never shown. The
//! console's Settings page lists it, and so can a command line; both read this one list, so
//! neither can show what the other hides.
//!
//! What counts as secret: the gateway's API key and signing keys, the webhook secret, the
//! fulfillment secret, the admin token, a database URL's password, and the parts of a URL that
//! commonly carry a key (a node provider's path, such as `/v3/KEY`, and any URL's query).

use std::time::Duration;

use crate::gateway::GatewayApi;

use super::{Config, RateSource};

/// One setting, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Where it belongs: "Server", "Gateway", "Chain 1 (Ethereum)", …
    pub section: String,
    pub name: String,
    /// The value to show: for a secret, only whether it is set.
    pub value: String,
    /// Whether the value is withheld (a secret, said set or not).
    pub secret: bool,
}

/// What a secret that is set shows.
pub const SET: &str = "set (redacted)";
/// What a secret that is not set shows.
pub const NOT_SET: &str = "not set";

/// The list being made, section by section.
struct Settings {
    section: String,
    list: Vec<Setting>,
}

impl Settings {
    fn section(&mut self, section: impl Into<String>) -> &mut Self {
        self.section = section.into();
        self
    }

    fn plain(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.list.push(Setting {
            section: self.section.clone(),
            name: name.to_owned(),
            value: value.into(),
            secret: false,
        });
        self
    }

    fn secret(&mut self, name: &str, set: bool) -> &mut Self {
        self.list.push(Setting {
            section: self.section.clone(),
            name: name.to_owned(),
            value: if set { SET } else { NOT_SET }.to_owned(),
            secret: true,
        });
        self
    }
}

impl Config {
    /// Every setting the server runs with, secrets redacted (see the module's note).
    pub fn effective(&self) -> Vec<Setting> {
        let mut s = Settings {
            section: String::new(),
            list: Vec::new(),
        };
        self.server(&mut s);
        self.gateway(&mut s);
        self.chains(&mut s);
        self.rates_and_items(&mut s);
        self.console_settings(&mut s);
        s.list
    }

    fn server(&self, s: &mut Settings) {
        s.section("Server")
            .plain("listen", self.listen.to_string())
            .plain(
                "metrics_listen",
                self.metrics_listen
                    .map_or_else(|| "none".to_owned(), |a| a.to_string()),
            )
            .plain("public_url", redacted_url(&self.public_url, false))
            .plain("database", database(&self.database))
            .plain("merchant_name", or_none(&self.merchant_name))
            .plain("allowed_origins", list(&self.allowed_origins))
            .plain(
                "trusted_proxies",
                list(
                    &self
                        .trusted_proxies
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                ),
            )
            .plain("order_lifetime", duration(self.order_lifetime))
            .plain(
                "checkouts_per_client_per_minute",
                self.checkouts_per_client_per_minute.to_string(),
            )
            .plain("header_timeout", duration(self.header_timeout))
            .plain("shutdown_timeout", duration(self.shutdown_timeout))
            .plain("log_format", self.log_format.name())
            .plain(
                "widget_dir",
                self.widget_dir
                    .as_ref()
                    .map_or("none (the widget is served elsewhere)".into(), |d| {
                        d.display().to_string()
                    }),
            )
            .secret("admin.token", self.admin_token.is_some());
        s.section("Fulfillment");
        match &self.fulfillment {
            Some(delivery) => s
                .plain("fulfillment.url", redacted_url(&delivery.url, false))
                .secret("fulfillment.secret", true),
            None => s
                .plain("fulfillment.url", "none (paid orders are not announced)")
                .secret("fulfillment.secret", false),
        };
    }

    fn gateway(&self, s: &mut Settings) {
        s.section("Gateway")
            .plain("gateway.api", self.gateway_api.dialect().name())
            .plain("gateway.url", redacted_url(&self.gateway_url, false))
            .plain("gateway.sandbox", self.gateway_sandbox.to_string())
            .secret("gateway.api_key", !self.api_key.is_empty())
            .plain(
                "gateway.requests_per_minute",
                self.requests_per_minute.to_string(),
            )
            .plain(
                "gateway.reconcile_interval",
                duration(self.reconcile_interval),
            )
            .plain("gateway.timeout", duration(self.gateway_timeout));
        match &self.gateway_api {
            GatewayApi::BlockatmV1(v1) => {
                s.secret("gateway.private_key", true)
                    // The public half is what the gateway's console must hold: shown, to compare.
                    .plain(
                        "gateway.private_key (its public key)",
                        v1.key.public_key().to_base64_spki(),
                    )
                    .plain(
                        "gateway.webhook_public_key",
                        v1.webhook_key.to_base64_spki(),
                    );
            }
            GatewayApi::BlockatmV2(v2) => {
                s.secret("gateway.v2_secret", true)
                    .secret("gateway.webhook_secret", true)
                    .plain("gateway.cashier_id", v2.cashier_id.clone());
                for (chain, address) in &v2.receiving_addresses {
                    s.plain(
                        &format!("gateway.receiving_addresses.{chain}"),
                        address.to_string(),
                    );
                }
            }
        }
    }

    fn chains(&self, s: &mut Settings) {
        let tokens = |chain: &usdt_checkout_protocol::Chain| {
            chain
                .tokens
                .iter()
                .map(|t| format!("{} {} ({} decimals)", t.symbol, t.contract, t.decimals))
                .collect::<Vec<_>>()
        };
        // The chains this server reads, each in full.
        for chain in self.registry.chains() {
            let Some(watched) = self.chains.get(&chain.id) else {
                continue;
            };
            s.section(format!("Chain {} ({})", chain.id, chain.name))
                .plain(
                    "explorer_url",
                    chain.explorer_url.clone().unwrap_or_else(|| "none".into()),
                );
            for token in tokens(chain) {
                s.plain("token", token);
            }
            if watched.rpc_urls.is_empty() {
                s.plain("rpc_urls", "none (not read by this server)");
            }
            for (n, url) in watched.rpc_urls.iter().enumerate() {
                s.plain(&format!("rpc_urls[{n}]"), redacted_url(url, true));
            }
            s.plain("rpc_calls_per_day", watched.rpc_calls_per_day.to_string())
                .plain("confirmations", watched.confirmations.to_string())
                .plain("poll_interval", duration(watched.poll_interval));
            s.plain(
                "refund_wallets",
                if watched.refund_wallets.is_empty() {
                    "any (a transfer from any wallet pays a refund)".into()
                } else {
                    watched
                        .refund_wallets
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            );
            for token in &chain.tokens {
                s.plain(
                    &format!("underpaid_tolerance {}", token.symbol),
                    watched
                        .underpaid_tolerance
                        .get(&token.symbol)
                        .map_or("none (the amount asked, in full)".into(), |t| t.to_string()),
                );
            }
        }
        // The others the product knows, one line each: the gateway may still take payments on
        // them, and the console links their transactions to their explorers.
        s.section("Other chains (not in [[chains]])");
        for chain in self.registry.chains() {
            if self.chains.contains_key(&chain.id) {
                continue;
            }
            let explorer = chain.explorer_url.as_deref().unwrap_or("no explorer");
            s.plain(
                &format!("{} ({})", chain.id, chain.name),
                format!("{}; {explorer}", tokens(chain).join(", ")),
            );
        }
    }

    fn rates_and_items(&self, s: &mut Settings) {
        s.section("Rates");
        match &self.rates {
            RateSource::None => {
                s.plain("rates", "none (prices in tokens only)");
            }
            RateSource::Url { url, refresh } => {
                s.plain("rates.url", redacted_url(url, false))
                    .plain("rates.refresh", duration(*refresh));
            }
            RateSource::Fixed(fixed) => {
                for ((base, quote), rate) in fixed {
                    s.plain(&format!("rates.fixed.{base}/{quote}"), rate.clone());
                }
            }
        }
        s.section("Items");
        if self.items.is_empty() {
            s.plain("items", "none");
        }
        for item in self.items.values() {
            s.plain(
                &format!("item {}", item.id),
                format!(
                    "{}: {} {}",
                    item.name, item.price.amount, item.price.currency
                ),
            );
        }
    }

    fn console_settings(&self, s: &mut Settings) {
        let c = &self.console;
        let ms = |ms: u64| duration(Duration::from_millis(ms));
        s.section("Console")
            .plain("console.idle_timeout", ms(c.sessions.idle_ms))
            .plain("console.session_lifetime", ms(c.sessions.lifetime_ms))
            .plain(
                "console.max_failed_sign_ins",
                c.lockout.max_failures.to_string(),
            )
            .plain("console.lockout", ms(c.lockout.lock_ms))
            .plain(
                "console.sign_ins_per_client_per_minute",
                c.sign_ins_per_client_per_minute.to_string(),
            )
            .plain(
                "console.secure_cookies",
                if c.secure_cookies {
                    "always"
                } else {
                    "over TLS (a trusted proxy's X-Forwarded-Proto)"
                },
            );
    }
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "none".into()
    } else {
        text.to_owned()
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// A duration as people read it: `15 min`, `2 h`, `1.5 s`.
fn duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms {
        0 => "0 s".into(),
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{} s", ms / 1_000),
        ms => format!("{ms} ms"),
    }
}

/// Where the data is: an SQLite file's path, or a PostgreSQL URL with its password (and any
/// query, which may carry one too) redacted.
fn database(database: &super::Database) -> String {
    match database {
        super::Database::Sqlite(path) => format!("SQLite, {}", path.display()),
        super::Database::Postgres(url) => format!("PostgreSQL, {}", redacted_url(url, false)),
    }
}

/// `url` with its password, its query and its fragment redacted, and its path too when
/// `path_is_secret` (a node provider's key is commonly its path, as in `/v3/KEY`). What is left
/// names the place: scheme, user, host and port.
pub fn redacted_url(url: &str, path_is_secret: bool) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    // Whatever comes before the last `@` is taken for credentials, whatever it holds (a
    // password with an unescaped `/`, `?` or `@` of its own): kept is only a plain user name
    // before a `:`. A path or query holding an `@` is redacted with it, which errs safe.
    let (credentials, rest) = match rest.rsplit_once('@') {
        Some((userinfo, place)) => {
            let user = userinfo
                .split_once(':')
                .map(|(user, _)| user)
                .filter(|user| !user.is_empty() && !user.contains(['/', '?', '#']));
            let credentials = match user {
                Some(user) => format!("{user}:(redacted)@"),
                None => "(redacted)@".to_owned(),
            };
            (credentials, place)
        }
        None => (String::new(), rest),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let (path, after) = tail.split_at(path_end);
    let mut shown = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    shown.push_str(&credentials);
    shown.push_str(host);
    if path_is_secret && !matches!(path, "" | "/") {
        shown.push_str("/(path redacted)");
    } else {
        shown.push_str(path);
    }
    if !after.is_empty() {
        shown.push_str(if after.starts_with('?') {
            "?(query redacted)"
        } else {
            "#(redacted)"
        });
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{keys, with};

    const ADMIN: &str = "adm1nTokenSecretValue-0001";
    const FULFILMENT: &str = "fu1fillSecretValue-0002";
    const API_KEY: &str = "ap1KeySecretValue-0003";
    const DB_PASSWORD: &str = "dbPa55w0rd@Secret-0004";
    const DB_QUERY_PASSWORD: &str = "qPa55Secret-0005";
    const RPC_KEY: &str = "rpcKeySecretValue0006";
    const RATES_KEY: &str = "ratesKeySecret0007";
    const V2_SECRET: &str = "v2SecretValue-0008";
    const WEBHOOK_SECRET: &str = "whSecretValue-0009";
    const RPC_PASSWORD: &str = "rpcPa55Secret0010";

    fn shows_none_of(config: &Config, secrets: &[&str]) {
        let settings = config.effective();
        for secret in secrets {
            let prefix: String = secret.chars().take(6).collect();
            for setting in &settings {
                let shown = format!("{} {} {}", setting.section, setting.name, setting.value);
                assert!(
                    !shown.contains(&prefix),
                    "{secret:?} (its first 6 characters) shown in {setting:?}"
                );
            }
        }
    }

    #[test]
    fn no_secret_nor_its_first_characters_is_shown_with_v1_keys() {
        let (private, public) = keys();
        let file = format!(
            "database = \"postgres://shop:{DB_PASSWORD}@db.internal:5432/checkout?sslmode=require&password={DB_QUERY_PASSWORD}\"\n\
             allowed_origins = [\"https://shop.example\"]\n\
             [admin]\ntoken = \"{ADMIN}\"\n\
             [fulfillment]\nurl = \"https://shop.example/paid\"\nsecret = \"{FULFILMENT}\"\n\
             [rates]\nurl = \"https://rates.example/v1?key={RATES_KEY}\"\n\
             [[chains]]\nid = 1\nrpc_urls = [\"https://mainnet.infura.io/v3/{RPC_KEY}\", \
             \"https://node:{RPC_PASSWORD}@rpc.example/\"]\nconfirmations = 3\n\
             underpaid_tolerance = {{ USDT = {{ amount = \"1.5\", percent = \"2\" }} }}"
        );
        let config = with(
            &file,
            &[
                ("CHECKOUT_GATEWAY_API_KEY", API_KEY),
                ("CHECKOUT_GATEWAY_PRIVATE_KEY", &private),
                ("CHECKOUT_WEBHOOK_PUBLIC_KEY", &public),
            ],
        )
        .unwrap();
        // The private key's text, and its base64 body past the PKCS#8 header every key shares.
        let body = &private[private.len() - 24..];
        shows_none_of(
            &config,
            &[
                ADMIN,
                FULFILMENT,
                API_KEY,
                DB_PASSWORD,
                DB_QUERY_PASSWORD,
                RPC_KEY,
                RPC_PASSWORD,
                RATES_KEY,
                body,
            ],
        );
        let settings = config.effective();
        let value = |name: &str| {
            settings
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("{name} in {settings:#?}"))
                .value
                .clone()
        };
        assert_eq!(value("admin.token"), SET);
        assert_eq!(value("fulfillment.secret"), SET);
        assert_eq!(value("gateway.api_key"), SET);
        assert_eq!(value("gateway.private_key"), SET);
        assert_eq!(value("gateway.webhook_public_key"), public, "public: shown");
        assert_eq!(
            value("database"),
            "PostgreSQL, postgres://shop:(redacted)@db.internal:5432/checkout?(query redacted)"
        );
        assert_eq!(
            value("rpc_urls[0]"),
            "https://mainnet.infura.io/(path redacted)"
        );
        assert_eq!(value("rpc_urls[1]"), "https://node:(redacted)@rpc.example/");
        assert_eq!(value("confirmations"), "3");
        assert_eq!(
            value("underpaid_tolerance USDT"),
            "1.5 or 2%, whichever is less"
        );
        assert_eq!(value("fulfillment.url"), "https://shop.example/paid");
        assert_eq!(value("order_lifetime"), "15 min");
    }

    #[test]
    fn no_secret_nor_its_first_characters_is_shown_with_v2_secrets() {
        let file = "[gateway]\napi = \"blockatm-v2\"\ncashier_id = \"91\"\n\
                    receiving_addresses = { 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }";
        let config = with(
            file,
            &[
                ("CHECKOUT_GATEWAY_API_KEY", API_KEY),
                ("CHECKOUT_GATEWAY_V2_SECRET", V2_SECRET),
                ("CHECKOUT_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ],
        )
        .unwrap();
        shows_none_of(&config, &[API_KEY, V2_SECRET, WEBHOOK_SECRET]);
        let settings = config.effective();
        let secrets: Vec<_> = settings.iter().filter(|s| s.secret).collect();
        assert!(
            secrets
                .iter()
                .any(|s| s.name == "gateway.v2_secret" && s.value == SET)
        );
        assert!(
            secrets
                .iter()
                .any(|s| s.name == "admin.token" && s.value == NOT_SET)
        );
        assert!(
            settings
                .iter()
                .any(|s| s.name == "gateway.cashier_id" && s.value == "91")
        );
    }

    #[test]
    fn a_url_keeps_its_place_and_loses_what_may_carry_a_key() {
        assert_eq!(
            redacted_url("http://127.0.0.1:4010", false),
            "http://127.0.0.1:4010"
        );
        assert_eq!(
            redacted_url("https://u:p@ss@h.example:1/x?k=v#f", false),
            "https://u:(redacted)@h.example:1/x?(query redacted)"
        );
        assert_eq!(
            redacted_url("https://h.example/v2/KEY#f", true),
            "https://h.example/(path redacted)#(redacted)"
        );
        assert_eq!(
            redacted_url("postgres://u:pa/ss?x@h/db", false),
            "postgres://u:(redacted)@h/db"
        );
        assert_eq!(
            redacted_url("https://TOKEN@h/x", false),
            "https://(redacted)@h/x",
            "a user name alone may be a token"
        );
        assert_eq!(
            redacted_url("https://h/x?key=SECRET&to=a:b@c", false),
            "https://(redacted)@c",
            "an @ in the query redacts it all"
        );
        assert_eq!(duration(Duration::from_millis(1_500)), "1500 ms");
        assert_eq!(duration(Duration::from_secs(7_200)), "2 h");
    }
}
