//! Where fiat prices get their rate.

use std::collections::BTreeMap;
use std::time::Duration;

use super::file::RatesFile;

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

/// How long a fetched rate list is used by default, and the range a merchant may set: a price
/// is fixed when an order is made, so a fresher rate only matters for the orders made next.
const RATE_REFRESH_SECONDS: (u64, std::ops::RangeInclusive<u64>) = (60, 1..=3600);

pub(super) fn rate_source(file: RatesFile) -> Result<RateSource, String> {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::tests::with_base;

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
}
