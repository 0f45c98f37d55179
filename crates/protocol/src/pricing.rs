//! Prices in fiat, paid in tokens. A catalog price such as 25.00 USD becomes a token amount at
//! the gateway's rate (how much fiat one token is worth), in integers only, rounded up to the
//! token's smallest unit so the merchant never receives less than the price.

use crate::amount::{AmountError, MAX_DECIMALS, parse_positive_units};

/// Fiat prices and rates are read to this many decimals. A rate given more finely is rounded
/// down to it, which can only raise the token amount.
pub const PRICE_DECIMALS: u8 = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("price: {0}")]
    Price(AmountError),
    #[error("rate: {0}")]
    Rate(AmountError),
    #[error("the price is too large to convert")]
    Overflow,
}

/// Amounts asked of a shopper have at most this many decimals, however many the token has (USDT
/// on BNB Smart Chain has 18): a shopper reads, compares and may type them, and a millionth of a
/// dollar is finer than any price needs.
pub const ASK_DECIMALS: u8 = 6;

/// The step of amounts asked in a token of `decimals`, in its atomic units: one unit, or
/// 10^(decimals − [`ASK_DECIMALS`]) for a token with more.
pub fn ask_step(decimals: u8) -> u128 {
    10u128.pow(u32::from(decimals.saturating_sub(ASK_DECIMALS)))
}

/// The token amount, in atomic units, that pays `price` (fiat) at `rate` (fiat per token),
/// rounded up to the [`ask_step`].
pub fn fiat_to_token(price: &str, rate: &str, token_decimals: u8) -> Result<u128, PricingError> {
    let price = parse_positive_units(price, PRICE_DECIMALS).map_err(PricingError::Price)?;
    let rate = rate_units(rate)?;
    // The gateway's token list may say any decimals; 10^d leaves a u128 past 38.
    if token_decimals > MAX_DECIMALS {
        let unsupported = AmountError::UnsupportedDecimals(token_decimals);
        return Err(PricingError::Price(unsupported));
    }
    // price·10^d / rate, both at PRICE_DECIMALS, so their scales cancel.
    let scaled = price
        .checked_mul(10u128.pow(u32::from(token_decimals)))
        .ok_or(PricingError::Overflow)?;
    let step = ask_step(token_decimals);
    scaled
        .div_ceil(rate)
        .div_ceil(step)
        .checked_mul(step)
        .ok_or(PricingError::Overflow)
}

/// What `atomic` units of a token are worth in fiat cents (hundredths), rounded to the nearest
/// cent: for showing a fiat value beside a token amount, never for charging.
pub fn token_to_fiat_cents(
    atomic: u128,
    rate: &str,
    token_decimals: u8,
) -> Result<u128, PricingError> {
    let rate = rate_units(rate)?;
    let numerator = atomic
        .checked_mul(rate)
        .and_then(|n| n.checked_mul(100))
        .ok_or(PricingError::Overflow)?;
    let Some(denominator) =
        10u128.checked_pow(u32::from(token_decimals) + u32::from(PRICE_DECIMALS))
    else {
        // Past 10^38: any numerator a u128 holds is less than half a cent of it.
        return Ok(0);
    };
    // Half up, without adding half the denominator to a numerator that may be near the top.
    let (cents, rest) = (numerator / denominator, numerator % denominator);
    Ok(cents + u128::from(rest >= denominator - denominator / 2))
}

fn rate_units(rate: &str) -> Result<u128, PricingError> {
    let (whole, fraction) = rate.split_once('.').unwrap_or((rate, ""));
    // Digits past the 8th decimal are dropped (rounding down); anything else there, or a
    // character that straddles the cut, leaves the rate whole for the parser to refuse.
    let truncated = match fraction.split_at_checked(usize::from(PRICE_DECIMALS)) {
        Some((kept, dropped)) if dropped.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{whole}.{kept}")
        }
        _ => rate.to_owned(),
    };
    parse_positive_units(&truncated, PRICE_DECIMALS).map_err(PricingError::Rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fiat_price_rounds_up_to_the_smallest_unit() {
        // 25 / 1.0002 = 24.99500099980003...
        assert_eq!(fiat_to_token("25.00", "1.0002", 6), Ok(24_995_001));
        assert_eq!(fiat_to_token("25.00", "1", 6), Ok(25_000_000));
        // With 18 decimals (USDT on BNB Smart Chain), to the millionth a shopper can read.
        assert_eq!(
            fiat_to_token("25.00", "1.0002", 18),
            Ok(24_995_001_000_000_000_000)
        );
        assert_eq!(fiat_to_token("25.00", "1", 18), Ok(25 * 10u128.pow(18)));
        assert_eq!(ask_step(18), 10u128.pow(12));
        assert_eq!(ask_step(6), 1);
        assert_eq!(ask_step(2), 1);
        // 1 / 3 with 6 decimals: 0.333333..., rounded up.
        assert_eq!(fiat_to_token("1", "3", 6), Ok(333_334));
    }

    #[test]
    fn a_finer_rate_is_rounded_in_the_merchants_favour() {
        let exact = fiat_to_token("100", "1.00000000", 6).unwrap();
        let finer = fiat_to_token("100", "1.000000009", 6).unwrap();
        assert_eq!(exact, finer, "the 9th decimal is dropped, never rounded up");
    }

    #[test]
    fn bad_prices_and_rates_are_errors() {
        assert!(matches!(
            fiat_to_token("-5", "1", 6),
            Err(PricingError::Price(_))
        ));
        assert!(matches!(
            fiat_to_token("5", "0", 6),
            Err(PricingError::Rate(AmountError::Zero))
        ));
        assert!(matches!(
            fiat_to_token("5", "1e3", 6),
            Err(PricingError::Rate(_))
        ));
        assert_eq!(
            fiat_to_token("340282366920938463463", "0.00000001", 18),
            Err(PricingError::Overflow)
        );
    }

    /// Found by fuzzing (fuzz/fuzz_targets/amount.rs): 10^(decimals + 8) leaves a u128 past 30
    /// decimals. Seen while fixing it: a token's decimals come from the gateway's list, any u8,
    /// and 10^decimals leaves a u128 past 38; the rounding's addition overflowed near u128::MAX.
    #[test]
    fn any_decimals_give_an_amount_or_an_error_never_a_panic() {
        assert_eq!(token_to_fiat_cents(1, "1", 38), Ok(0));
        assert_eq!(token_to_fiat_cents(10u128.pow(20), "1", 31), Ok(0));
        let near_max = u128::MAX / 10u128.pow(10);
        let numerator = near_max * 10u128.pow(10);
        let cents = numerator / 10u128.pow(14)
            + u128::from(numerator % 10u128.pow(14) >= 5 * 10u128.pow(13));
        assert_eq!(token_to_fiat_cents(near_max, "1", 6), Ok(cents));
        for decimals in [39, 45, 60, u8::MAX] {
            assert_eq!(
                fiat_to_token("1", "1", decimals),
                Err(PricingError::Price(AmountError::UnsupportedDecimals(
                    decimals
                )))
            );
        }
    }

    /// Found by fuzzing: a rate (a rates endpoint's answer) with a character of several bytes
    /// across its 8th decimal was cut inside that character, a panic. And what followed the 8th
    /// decimal was dropped unread, so `1.12345678xyz` was a rate.
    #[test]
    fn a_rate_that_is_not_a_decimal_is_an_error_wherever_its_bytes_fall() {
        for rate in [
            "1.1234567\u{e9}",
            "0.\u{20ac}12345678",
            "1.12345678xyz",
            "1.123456789.5",
        ] {
            assert!(
                matches!(fiat_to_token("1", rate, 6), Err(PricingError::Rate(_))),
                "{rate:?}"
            );
            assert!(
                matches!(token_to_fiat_cents(1, rate, 6), Err(PricingError::Rate(_))),
                "{rate:?}"
            );
        }
    }

    #[test]
    fn fiat_values_for_display_round_to_the_cent() {
        assert_eq!(token_to_fiat_cents(24_995_001, "1.0002", 6), Ok(2_500));
        assert_eq!(token_to_fiat_cents(1_004_999, "1", 6), Ok(100));
        assert_eq!(token_to_fiat_cents(1_005_000, "1", 6), Ok(101));
    }
}
