//! What the host page passes to the widget, checked before anything is shown: a mistake in an
//! embed is reported on the console in words that say what to change.

use usdt_checkout_protocol::ChainId;
use usdt_checkout_protocol::gateway::{v1, v2};
use wasm_bindgen::{JsCast, JsValue};

/// Integers above this lose precision in a JavaScript number.
pub(crate) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// `name` of `object`; `undefined` when it has none, or is no object.
pub(crate) fn field(object: &JsValue, name: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// A whole number from 0 to 2^53 - 1, the largest a JavaScript number holds exactly.
pub(crate) fn whole_number(value: &JsValue) -> Option<u64> {
    value
        .as_f64()
        .filter(|n| n.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(n))
        .map(|n| n as u64)
}

fn list<T>(value: &JsValue, read: impl Fn(&JsValue) -> Option<T>) -> Option<Vec<T>> {
    if !js_sys::Array::is_array(value) {
        return None;
    }
    // A loop, not an iterator collected into an Option: every shopper downloads the adapter's
    // code, once per list type.
    let mut items = Vec::new();
    for item in js_sys::Array::from(value).iter() {
        items.push(read(&item)?);
    }
    Some(items)
}

/// The options object of `UsdtCheckout.mount(element, options)` (camelCase in JavaScript).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub merchant_url: Option<String>,
    pub gateway_url: Option<String>,
    pub gateway_api: Option<String>,
    pub gateway_key: Option<String>,
    pub item: Option<String>,
    pub checkout_id: Option<String>,
    pub chains: Option<Vec<u64>>,
    pub tokens: Option<Vec<String>>,
    pub default_chain: Option<u64>,
    pub locale: Option<String>,
    /// Where the locale tables are (`<localesUrl><tag>.json`); the embed module fills it.
    pub locales_url: Option<String>,
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
    /// Follows the shopper's system setting.
    Auto,
}

/// What the widget buys: a catalog item, or a checkout the storefront's backend created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purchase {
    Item(String),
    Checkout(String),
}

/// Options, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub merchant_url: String,
    pub gateway_url: String,
    /// The gateway's public lists, as its dialect names them, with the query each needs.
    pub networks_url: String,
    pub tokens_url: String,
    pub purchase: Purchase,
    pub chains: Option<Vec<ChainId>>,
    pub tokens: Option<Vec<String>>,
    pub default_chain: Option<ChainId>,
    pub locale: Option<String>,
    /// The folder of the locale tables, ending in `/`; without it the widget speaks English.
    pub locales_url: Option<String>,
    pub theme: Theme,
}

fn base_url(name: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')) {
        return Err(format!(
            "{name} must be an http(s) URL or a path on this site, not \"{url}\""
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// [`NAMES`] as a problem lists them (written out: `join` on them would be code of its own).
const NAMES_LISTED: &str = "merchantUrl, gatewayUrl, gatewayApi, gatewayKey, item, checkoutId, chains, tokens, defaultChain, locale, localesUrl, theme";

/// Each option's name in JavaScript.
const NAMES: [&str; 12] = [
    "merchantUrl",
    "gatewayUrl",
    "gatewayApi",
    "gatewayKey",
    "item",
    "checkoutId",
    "chains",
    "tokens",
    "defaultChain",
    "locale",
    "localesUrl",
    "theme",
];

/// The option `name` of `object`, if given; given with the wrong type, it is a problem (`kind`
/// says what it must be), not a silent default.
fn typed<T>(
    object: &JsValue,
    name: &str,
    kind: &str,
    read: impl Fn(&JsValue) -> Option<T>,
    problems: &mut Vec<String>,
) -> Option<T> {
    let value = field(object, name);
    if value.is_undefined() || value.is_null() {
        return None;
    }
    let read = read(&value);
    if read.is_none() {
        problems.push(format!("{name} must be {kind}"));
    }
    read
}

impl Options {
    /// Reads the host page's options object; unknown names (a typo such as `merchantURL`) and
    /// values of the wrong type are problems, reported with the rest by [`Options::check`].
    pub fn from_js(value: &JsValue) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        if !value.is_object() {
            problems.push("options must be an object such as { merchantUrl, item }".into());
            return (Self::default(), problems);
        }
        for name in js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>()).iter() {
            let name = name.as_string().unwrap_or_default();
            if !NAMES.contains(&name.as_str()) {
                problems.push(format!(
                    "unknown option \"{name}\"; the options are {}",
                    NAMES_LISTED
                ));
            }
        }
        let mut text = |name| typed(value, name, "a string", JsValue::as_string, &mut problems);
        let (gateway_api, gateway_key) = (text("gatewayApi"), text("gatewayKey"));
        let locales_url = text("localesUrl");
        let (merchant_url, gateway_url, item, checkout_id, locale, theme) = (
            text("merchantUrl"),
            text("gatewayUrl"),
            text("item"),
            text("checkoutId"),
            text("locale"),
            text("theme"),
        );
        let options = Self {
            merchant_url,
            gateway_url,
            gateway_api,
            gateway_key,
            item,
            checkout_id,
            chains: typed(
                value,
                "chains",
                "an array of chain ids such as [1, 56]",
                |v| list(v, whole_number),
                &mut problems,
            ),
            tokens: typed(
                value,
                "tokens",
                "an array of token symbols such as [\"USDT\"]",
                |v| list(v, JsValue::as_string),
                &mut problems,
            ),
            default_chain: typed(
                value,
                "defaultChain",
                "a chain id such as 1",
                whole_number,
                &mut problems,
            ),
            locale,
            locales_url,
            theme,
        };
        (options, problems)
    }

    /// Every problem at once, so one reload fixes them all.
    pub fn check(self) -> Result<Settings, Vec<String>> {
        self.check_with(Vec::new())
    }

    /// As [`Options::check`], adding to problems found while reading the options.
    pub fn check_with(self, mut problems: Vec<String>) -> Result<Settings, Vec<String>> {
        let merchant_url = match self.merchant_url.as_deref() {
            None | Some("") => {
                problems
                    .push("merchantUrl is required: the base URL of your checkout server".into());
                String::new()
            }
            Some(url) => base_url("merchantUrl", url).unwrap_or_else(|e| {
                problems.push(e);
                String::new()
            }),
        };
        let gateway_url = match self.gateway_url.as_deref() {
            None | Some("") => merchant_url.clone(),
            Some(url) => base_url("gatewayUrl", url).unwrap_or_else(|e| {
                problems.push(e);
                String::new()
            }),
        };
        // BlockATM V2's public API takes the merchant's public API key as `apiKey`.
        let (networks_path, tokens_path, query) = match self.gateway_api.as_deref() {
            None | Some("blockatm-v1") => (v1::PATH_NETWORKS, v1::PATH_TOKENS, String::new()),
            Some("blockatm-v2") => (
                v2::PATH_NETWORKS,
                v2::PATH_TOKENS,
                self.gateway_key
                    .as_deref()
                    .map(|key| format!("?apiKey={}", js_sys::encode_uri_component(key)))
                    .unwrap_or_default(),
            ),
            Some(other) => {
                problems.push(format!(
                    "gatewayApi must be blockatm-v1 or blockatm-v2, not \"{other}\""
                ));
                ("", "", String::new())
            }
        };
        let purchase = match (self.item, self.checkout_id) {
            (Some(item), None) if !item.is_empty() => Some(Purchase::Item(item)),
            (None, Some(id)) if !id.is_empty() => Some(Purchase::Checkout(id)),
            (Some(_), Some(_)) => {
                problems.push("give item or checkoutId, not both".into());
                None
            }
            _ => {
                problems.push(
                    "item (a catalog item id) or checkoutId (from your backend) is required".into(),
                );
                None
            }
        };
        let theme = match self.theme.as_deref() {
            None | Some("auto") => Theme::Auto,
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            Some(other) => {
                problems.push(format!(
                    "theme must be light, dark or auto, not \"{other}\""
                ));
                Theme::Auto
            }
        };
        let locales_url = match self.locales_url.as_deref() {
            None | Some("") => None,
            Some(url) => base_url("localesUrl", url)
                .map_err(|e| problems.push(e))
                .ok()
                .map(|url| crate::cat(&[&url, "/"])),
        };
        if let (Some(chains), Some(default)) = (&self.chains, self.default_chain)
            && !chains.contains(&default)
        {
            let mut listed = String::new();
            for chain in chains {
                if !listed.is_empty() {
                    listed.push_str(", ");
                }
                listed.push_str(&chain.to_string());
            }
            problems.push(format!(
                "defaultChain {default} is not among chains [{listed}]"
            ));
        }
        if self.chains.as_ref().is_some_and(Vec::is_empty)
            || self.tokens.as_ref().is_some_and(Vec::is_empty)
        {
            problems.push("chains and tokens, when given, must list at least one".into());
        }
        match (problems.is_empty(), purchase) {
            (true, Some(purchase)) => Ok(Settings {
                merchant_url,
                networks_url: format!("{gateway_url}{networks_path}{query}"),
                tokens_url: format!("{gateway_url}{tokens_path}{query}"),
                gateway_url,
                purchase,
                chains: self.chains.map(|c| c.into_iter().map(ChainId).collect()),
                tokens: self.tokens,
                default_chain: self.default_chain.map(ChainId),
                locale: self.locale,
                locales_url,
                theme,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listed_names_are_the_names() {
        assert_eq!(NAMES_LISTED, NAMES.join(", "));
    }

    #[test]
    fn a_minimal_embed_is_valid() {
        let settings = Options {
            merchant_url: Some("https://shop.example/".into()),
            item: Some("tee".into()),
            ..Options::default()
        }
        .check()
        .unwrap();
        assert_eq!(settings.merchant_url, "https://shop.example");
        assert_eq!(
            settings.gateway_url, "https://shop.example",
            "the gateway's public API defaults to the merchant's"
        );
        assert_eq!(settings.purchase, Purchase::Item("tee".into()));
        assert_eq!(settings.theme, Theme::Auto);
        assert_eq!(
            settings.networks_url,
            "https://shop.example/api/v1/public/networklist"
        );
    }

    #[test]
    fn the_locale_tables_are_a_folder() {
        let with = |url: &str| {
            Options {
                merchant_url: Some("/".into()),
                item: Some("tee".into()),
                locales_url: Some(url.into()),
                ..Options::default()
            }
            .check()
        };
        assert_eq!(
            with("https://shop.example/checkout/locales")
                .unwrap()
                .locales_url
                .as_deref(),
            Some("https://shop.example/checkout/locales/")
        );
        assert_eq!(
            with("/checkout/locales/").unwrap().locales_url.as_deref(),
            Some("/checkout/locales/")
        );
        assert_eq!(with("").unwrap().locales_url, None, "English only");
        assert!(with("ftp://x/").unwrap_err()[0].contains("localesUrl"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = Options {
            merchant_url: Some("ftp://x".into()),
            theme: Some("neon".into()),
            chains: Some(vec![1]),
            default_chain: Some(56),
            ..Options::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("merchantUrl")));
        assert!(problems.iter().any(|p| p.contains("item")));
        assert!(problems.iter().any(|p| p.contains("theme")));
        assert!(problems.iter().any(|p| p.contains("defaultChain 56")));
    }
}
