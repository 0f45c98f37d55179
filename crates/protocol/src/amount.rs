//! Money as integers. A token amount is a count of the token's smallest unit ("atomic units",
//! e.g. 1 USDT = 1_000_000 on Ethereum, 10^18 on BNB Smart Chain). Decimal strings exist only at
//! the edges: they are parsed here, strictly, and formatted here, canonically. No float ever
//! touches an amount.

use std::fmt;

/// The largest number of decimals an amount can have: 10^38 is the largest power of ten a
/// `u128` holds.
pub const MAX_DECIMALS: u8 = 38;

/// Why a decimal string is not an amount. Each says exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount contains whitespace")]
    Whitespace,
    #[error("amount must not have a sign")]
    Sign,
    #[error("amount must be a plain decimal, not an exponent form such as 1e6")]
    Exponent,
    #[error("amount contains '{found}', which is not a digit")]
    InvalidCharacter { found: char },
    #[error("amount must have digits on both sides of its decimal point")]
    MisplacedPoint,
    #[error(
        "amount has {found} digits after the point, but the token has only {decimals} decimals"
    )]
    TooPrecise { found: usize, decimals: u8 },
    #[error("amount is too large")]
    Overflow,
    #[error("amount must be greater than zero")]
    Zero,
    #[error("a token cannot have {0} decimals (at most {MAX_DECIMALS})")]
    UnsupportedDecimals(u8),
}

/// Parses a decimal string such as `"13.41"` into atomic units of a token with `decimals`
/// decimals. Strict: digits with at most one point, digits on both sides of it, no sign, no
/// exponent, no whitespace, and no more fraction digits than the token has (trailing zeros
/// included: `"1.5000000"` is over-precise for a 6-decimal token, because the sender claims a
/// precision the token cannot represent). Zero is accepted; see [`parse_positive_units`].
pub fn parse_units(text: &str, decimals: u8) -> Result<u128, AmountError> {
    if decimals > MAX_DECIMALS {
        return Err(AmountError::UnsupportedDecimals(decimals));
    }
    text.parse::<Decimal>()?.to_units(decimals)
}

/// A decimal amount as written, read before its token is known (a price, what a gateway says
/// was paid): [`parse_units`]'s rules but the token's precision, which
/// [`Decimal::to_units`] checks once the token's decimals are. Displayed as written.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// Its atomic units in a token of `decimals` decimals.
    pub fn to_units(&self, decimals: u8) -> Result<u128, AmountError> {
        if decimals > MAX_DECIMALS {
            return Err(AmountError::UnsupportedDecimals(decimals));
        }
        let (whole, fraction) = self.0.split_once('.').unwrap_or((&self.0, ""));
        if fraction.len() > usize::from(decimals) {
            return Err(AmountError::TooPrecise {
                found: fraction.len(),
                decimals,
            });
        }
        let padding = usize::from(decimals) - fraction.len();
        whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding))
            .try_fold(0u128, |acc, digit| {
                acc.checked_mul(10)?.checked_add(u128::from(digit - b'0'))
            })
            .ok_or(AmountError::Overflow)
    }

    /// [`Decimal::to_units`], and the amount must be greater than zero.
    pub fn to_positive_units(&self, decimals: u8) -> Result<u128, AmountError> {
        match self.to_units(decimals)? {
            0 => Err(AmountError::Zero),
            units => Ok(units),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Decimal {
    type Err = AmountError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(AmountError::Whitespace);
        }
        if text.starts_with(['+', '-']) {
            return Err(AmountError::Sign);
        }
        if text.contains(['e', 'E']) {
            return Err(AmountError::Exponent);
        }
        if let Some(found) = text.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
            return Err(AmountError::InvalidCharacter { found });
        }
        if let Some((whole, fraction)) = text.split_once('.')
            && (whole.is_empty() || fraction.is_empty() || fraction.contains('.'))
        {
            return Err(AmountError::MisplacedPoint);
        }
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({})", self.0)
    }
}

impl serde::Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// [`parse_units`], and the amount must be greater than zero: what a price or an order needs.
pub fn parse_positive_units(text: &str, decimals: u8) -> Result<u128, AmountError> {
    match parse_units(text, decimals)? {
        0 => Err(AmountError::Zero),
        units => Ok(units),
    }
}

/// Formats atomic units as the canonical decimal string: no leading zeros, no trailing fraction
/// zeros, no point when the fraction is zero (`1_500_000` with 6 decimals is `"1.5"`).
///
/// # Panics
/// If `decimals` exceeds [`MAX_DECIMALS`]; decimals come from the validated token registry.
pub fn format_units(units: u128, decimals: u8) -> String {
    TokenAmount::new(units, decimals).to_string()
}

/// An amount of one token: atomic units and the token's decimals, displayed canonically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenAmount {
    pub atomic: u128,
    pub decimals: u8,
}

impl TokenAmount {
    /// # Panics
    /// If `decimals` exceeds [`MAX_DECIMALS`]; decimals come from the validated token registry.
    pub fn new(atomic: u128, decimals: u8) -> Self {
        assert!(decimals <= MAX_DECIMALS, "unsupported decimals {decimals}");
        Self { atomic, decimals }
    }

    pub fn parse(text: &str, decimals: u8) -> Result<Self, AmountError> {
        Ok(Self::new(parse_units(text, decimals)?, decimals))
    }
}

impl fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10u128.pow(u32::from(self.decimals));
        let whole = self.atomic / scale;
        let fraction = self.atomic % scale;
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:0width$}", width = usize::from(self.decimals));
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_decimals_into_atomic_units() {
        assert_eq!(parse_units("13.41", 6), Ok(13_410_000));
        assert_eq!(parse_units("0.000001", 6), Ok(1));
        assert_eq!(parse_units("1", 6), Ok(1_000_000));
        assert_eq!(parse_units("1.5", 18), Ok(1_500_000_000_000_000_000));
        assert_eq!(parse_units("0", 6), Ok(0));
        assert_eq!(parse_units("007.10", 2), Ok(710));
        assert_eq!(parse_units("42", 0), Ok(42));
    }

    #[test]
    fn rejects_each_malformed_form_with_its_own_error() {
        use AmountError::*;
        let cases = [
            ("", 6, Empty),
            (" 1", 6, Whitespace),
            ("1 ", 6, Whitespace),
            ("1\u{a0}0", 6, Whitespace),
            ("-1", 6, Sign),
            ("+1", 6, Sign),
            ("1e6", 6, Exponent),
            ("1E-6", 6, Exponent),
            ("1,5", 6, InvalidCharacter { found: ',' }),
            ("0x10", 6, InvalidCharacter { found: 'x' }),
            ("NaN", 6, InvalidCharacter { found: 'N' }),
            ("\u{661}", 6, InvalidCharacter { found: '\u{661}' }),
            (".5", 6, MisplacedPoint),
            ("1.", 6, MisplacedPoint),
            ("1.2.3", 6, MisplacedPoint),
            (".", 6, MisplacedPoint),
            (
                "1.0000001",
                6,
                TooPrecise {
                    found: 7,
                    decimals: 6,
                },
            ),
            (
                "1.5000000",
                6,
                TooPrecise {
                    found: 7,
                    decimals: 6,
                },
            ),
            (
                "1.5",
                0,
                TooPrecise {
                    found: 1,
                    decimals: 0,
                },
            ),
        ];
        for (text, decimals, expected) in cases {
            assert_eq!(parse_units(text, decimals), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn rejects_overflow_instead_of_wrapping() {
        let max = u128::MAX.to_string();
        assert_eq!(parse_units(&max, 0), Ok(u128::MAX));
        assert_eq!(
            parse_units(&format!("{max}0"), 0),
            Err(AmountError::Overflow)
        );
        // Fits as an integer, overflows once scaled to 18 decimals.
        assert_eq!(
            parse_units("1000000000000000000000", 18),
            Err(AmountError::Overflow)
        );
    }

    #[test]
    fn positive_amounts_reject_zero_in_any_spelling() {
        for zero in ["0", "0.0", "000.000000"] {
            assert_eq!(parse_positive_units(zero, 6), Err(AmountError::Zero));
        }
        assert_eq!(parse_positive_units("0.000001", 6), Ok(1));
    }

    #[test]
    fn rejects_decimals_beyond_u128() {
        assert_eq!(
            parse_units("1", 39),
            Err(AmountError::UnsupportedDecimals(39))
        );
        assert_eq!(parse_units("1", 38), Ok(10u128.pow(38)));
    }

    #[test]
    fn a_decimal_is_read_before_its_token_and_counted_in_it_after() {
        let paid: Decimal = "2000.00".parse().unwrap();
        assert_eq!(paid.to_string(), "2000.00", "as written");
        assert_eq!(paid.to_units(6), Ok(2_000_000_000));
        assert_eq!(
            paid.to_units(1),
            Err(AmountError::TooPrecise {
                found: 2,
                decimals: 1
            })
        );
        assert_eq!(
            "0.0".parse::<Decimal>().unwrap().to_positive_units(6),
            Err(AmountError::Zero)
        );
        assert_eq!("1.".parse::<Decimal>(), Err(AmountError::MisplacedPoint));
        assert_eq!("1e3".parse::<Decimal>(), Err(AmountError::Exponent));
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_units(13_410_000, 6), "13.41");
        assert_eq!(format_units(1, 6), "0.000001");
        assert_eq!(format_units(0, 6), "0");
        assert_eq!(format_units(1_000_000, 6), "1");
        assert_eq!(format_units(42, 0), "42");
        assert_eq!(
            format_units(u128::MAX, 18),
            "340282366920938463463.374607431768211455"
        );
    }

    fn canonical_decimal() -> impl Strategy<Value = (String, u8)> {
        (0u8..=18).prop_flat_map(|decimals| {
            let fraction = if decimals == 0 {
                Just(String::new()).boxed()
            } else {
                proptest::string::string_regex(&format!("(\\.[0-9]{{0,{}}}[1-9])?", decimals - 1))
                    .unwrap()
                    .boxed()
            };
            ("(0|[1-9][0-9]{0,15})", fraction)
                .prop_map(move |(whole, fraction)| (format!("{whole}{fraction}"), decimals))
        })
    }

    proptest! {
        #[test]
        fn format_of_parse_round_trips_canonical_strings((text, decimals) in canonical_decimal()) {
            let units = parse_units(&text, decimals).unwrap();
            prop_assert_eq!(format_units(units, decimals), text);
        }

        #[test]
        fn parse_of_format_round_trips_units(units: u128, decimals in 0u8..=MAX_DECIMALS) {
            prop_assert_eq!(parse_units(&format_units(units, decimals), decimals), Ok(units));
        }
    }
}
