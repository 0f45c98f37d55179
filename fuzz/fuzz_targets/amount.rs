//! Amounts and prices from decimal strings: `parse_units`, `parse_positive_units`,
//! `format_units` (prices, rates, what a gateway says was paid), and the fiat pricing that reads a
//! price and a rate (a rate endpoint's answer is outside input).
//!
//! Input: the first byte is the token's decimals (any byte: above 38 must be refused, not
//! panic); the rest is the text. The same bytes, read as a little-endian number, are the units of
//! the format-then-parse round trip. A text holding `/` is also read as `price/rate`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usdt_checkout_protocol::amount::MAX_DECIMALS;
use usdt_checkout_protocol::pricing::{
    PRICE_DECIMALS, ask_step, fiat_to_token, token_to_fiat_cents,
};
use usdt_checkout_protocol::{AmountError, format_units, parse_positive_units, parse_units};

fuzz_target!(|data: &[u8]| {
    let Some((&decimals, rest)) = data.split_first() else {
        return;
    };
    let mut word = [0u8; 16];
    let n = rest.len().min(16);
    word[..n].copy_from_slice(&rest[..n]);
    let units = u128::from_le_bytes(word);
    round_trip(units, decimals);

    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    parse(text, decimals);
    if let Some((price, rate)) = text.split_once('/') {
        pricing(price, rate, decimals, units);
    }
});

/// Any units format to the canonical string, which parses back to the same units.
fn round_trip(units: u128, decimals: u8) {
    if decimals > MAX_DECIMALS {
        return;
    }
    let text = format_units(units, decimals);
    assert_eq!(parse_units(&text, decimals), Ok(units), "{text:?}");
    assert_eq!(canonical(&text), text, "format_units is canonical");
}

/// Whatever parses reformats to the canonical spelling of the same text; whatever does not is an
/// error that says why, the same one for a positive amount.
fn parse(text: &str, decimals: u8) {
    let parsed = parse_units(text, decimals);
    let positive = parse_positive_units(text, decimals);
    if decimals > MAX_DECIMALS {
        assert_eq!(parsed, Err(AmountError::UnsupportedDecimals(decimals)));
        return;
    }
    match parsed {
        Ok(units) => {
            assert!(
                text.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
                "accepted {text:?}"
            );
            assert_eq!(format_units(units, decimals), canonical(text), "{text:?}");
            let expected = if units == 0 {
                Err(AmountError::Zero)
            } else {
                Ok(units)
            };
            assert_eq!(positive, expected);
        }
        Err(error) => {
            assert_eq!(positive, Err(error.clone()));
            assert!(!error.to_string().is_empty());
        }
    }
}

/// The canonical spelling of an accepted decimal: no leading zeros, no trailing fraction zeros, no
/// point without a fraction. Written independently of `format_units`, to check it.
fn canonical(text: &str) -> String {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// A fiat price at a rate never panics, and what it asks pays at least the price, in whole steps.
fn pricing(price: &str, rate: &str, decimals: u8, units: u128) {
    // Any decimals: the gateway's token list gives them, unchecked.
    let asked = fiat_to_token(price, rate, decimals);
    let _ = token_to_fiat_cents(units, rate, decimals);
    let Ok(atomic) = asked else { return };
    assert!(
        decimals <= MAX_DECIMALS,
        "priced in a token of {decimals} decimals"
    );
    assert!(
        rate.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
        "{rate:?} is no rate"
    );
    assert_eq!(atomic % ask_step(decimals), 0, "whole steps");
    // A rate with no more than PRICE_DECIMALS decimals is read exactly: then the token amount
    // times the rate is at least the price.
    let (Ok(price), Ok(rate)) = (
        parse_positive_units(price, PRICE_DECIMALS),
        parse_positive_units(rate, PRICE_DECIMALS),
    ) else {
        return;
    };
    let paid = atomic.checked_mul(rate);
    let owed = price.checked_mul(10u128.pow(u32::from(decimals)));
    if let (Some(paid), Some(owed)) = (paid, owed) {
        assert!(paid >= owed, "{atomic} at {rate} pays less than {price}");
    }
}
