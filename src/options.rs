//! What the host page passes to the widget, checked before anything is shown: a mistake in an
//! embed is reported on the console in words that say what to change.

use serde::Deserialize;

use usdt_checkout_protocol::ChainId;

/// The options object of `UsdtCheckout.mount(element, options)` (camelCase in JavaScript).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    pub merchant_url: Option<String>,
    pub gateway_url: Option<String>,
    pub item: Option<String>,
    pub checkout_id: Option<String>,
    pub chains: Option<Vec<u64>>,
    pub tokens: Option<Vec<String>>,
    pub default_chain: Option<u64>,
    pub locale: Option<String>,
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
    pub purchase: Purchase,
    pub chains: Option<Vec<ChainId>>,
    pub tokens: Option<Vec<String>>,
    pub default_chain: Option<ChainId>,
    pub locale: Option<String>,
    pub theme: Theme,
}

fn base_url(name: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')) {
        return Err(format!(
            "{name} must be an http(s) URL or a path on this site, not {url:?}"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl Options {
    /// Every problem at once, so one reload fixes them all.
    pub fn check(self) -> Result<Settings, Vec<String>> {
        let mut problems = Vec::new();
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
                problems.push(format!("theme must be light, dark or auto, not {other:?}"));
                Theme::Auto
            }
        };
        if let (Some(chains), Some(default)) = (&self.chains, self.default_chain)
            && !chains.contains(&default)
        {
            problems.push(format!(
                "defaultChain {default} is not among chains {chains:?}"
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
                gateway_url,
                purchase,
                chains: self.chains.map(|c| c.into_iter().map(ChainId).collect()),
                tokens: self.tokens,
                default_chain: self.default_chain.map(ChainId),
                locale: self.locale,
                theme,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(json: &str) -> Options {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_minimal_embed_is_valid() {
        let settings = options(r#"{"merchantUrl": "https://shop.example/", "item": "tee"}"#)
            .check()
            .unwrap();
        assert_eq!(settings.merchant_url, "https://shop.example");
        assert_eq!(
            settings.gateway_url, "https://shop.example",
            "the gateway's public API defaults to the merchant's"
        );
        assert_eq!(settings.purchase, Purchase::Item("tee".into()));
        assert_eq!(settings.theme, Theme::Auto);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = options(
            r#"{"merchantUrl": "ftp://x", "theme": "neon", "chains": [1], "defaultChain": 56}"#,
        )
        .check()
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("merchantUrl")));
        assert!(problems.iter().any(|p| p.contains("item")));
        assert!(problems.iter().any(|p| p.contains("theme")));
        assert!(problems.iter().any(|p| p.contains("defaultChain 56")));
    }

    #[test]
    fn unknown_options_are_refused_by_name() {
        let error = serde_json::from_str::<Options>(r#"{"merchantURL": "x"}"#).unwrap_err();
        assert!(error.to_string().contains("merchantURL"));
    }
}
