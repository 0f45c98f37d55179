//! Underpayment tolerance: how far short of the amount asked a payment may fall and still count
//! as paid. Exchanges keep a withdrawal fee, so a shopper sends 24.0 where 25.0 was asked; the
//! merchant may forgive that much, per token, as an absolute amount, a percentage of the amount
//! asked, or both. Pure: the rule as configured ([`Tolerance`]), what it forgives of one order
//! ([`Tolerance::allowance`], fixed with the order's terms) and what a payment then counts as
//! ([`accepted`], [`shortfall`]). Money is integers here: atomic units, and hundredths of a
//! percent.

use std::fmt;

use usdt_checkout_protocol::{AmountError, Decimal, TokenAmount};

/// Decimals a percentage may have: "2.5" or "0.25", not "0.125" (finer than any fee).
const PERCENT_DECIMALS: u8 = 2;
/// Hundredths of a percent in the whole.
const WHOLE: u128 = 100 * 100;
/// The most any order is forgiven, in hundredths of a percent (10%), whatever the configuration
/// says: a percentage over it is refused at startup, and an absolute amount meant for a 25.00
/// order's withdrawal fee never gives away most of a 0.50 one.
pub const MAX_HUNDREDTHS: u32 = 10 * 100;

/// A token's underpayment tolerance, as configured: none by default. With both an amount and a
/// percentage, the smaller applies (both limits hold), so that neither a large order nor a small
/// one is forgiven more than the merchant wrote; and never more than 10% (see
/// [`MAX_HUNDREDTHS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tolerance {
    /// At most this much short, in the token's units.
    pub amount: Option<TokenAmount>,
    /// At most this share of the amount asked.
    pub percent: Option<Percent>,
}

/// A percentage, in hundredths of a percent: 2.5% is 250.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percent(u32);

impl Percent {
    pub const fn hundredths(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}%",
            TokenAmount::new(u128::from(self.0), PERCENT_DECIMALS)
        )
    }
}

/// Why a configured tolerance is refused, naming what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToleranceError {
    #[error("give amount, percent or both (a token without a tolerance needs no entry)")]
    Empty,
    #[error("amount {0:?} is negative: a tolerance forgives a shortfall, it adds nothing")]
    NegativeAmount(String),
    #[error("amount {text:?}: {reason}")]
    Amount { text: String, reason: AmountError },
    #[error("percent {0:?} is negative: a tolerance forgives a shortfall, it adds nothing")]
    NegativePercent(String),
    #[error("percent {text:?}: {reason} (a percentage has at most 2 decimals)")]
    Percent { text: String, reason: AmountError },
    #[error("percent {0} is over the 10% any order may be short by")]
    PercentTooLarge(Percent),
}

impl Tolerance {
    /// Reads a tolerance as written (decimal strings, never floats): `amount` in a token of
    /// `decimals` decimals (no finer than the token), `percent` of the amount asked (at most 10,
    /// to 2 decimals).
    pub fn parse(
        amount: Option<&str>,
        percent: Option<&str>,
        decimals: u8,
    ) -> Result<Self, ToleranceError> {
        if amount.is_none() && percent.is_none() {
            return Err(ToleranceError::Empty);
        }
        let amount = amount
            .map(|text| {
                if text.trim_start().starts_with('-') {
                    return Err(ToleranceError::NegativeAmount(text.into()));
                }
                text.parse::<Decimal>()
                    .and_then(|d| d.to_units(decimals))
                    .map(|atomic| TokenAmount::new(atomic, decimals))
                    .map_err(|reason| ToleranceError::Amount {
                        text: text.into(),
                        reason,
                    })
            })
            .transpose()?;
        let percent = percent
            .map(|text| {
                if text.trim_start().starts_with('-') {
                    return Err(ToleranceError::NegativePercent(text.into()));
                }
                let hundredths = text
                    .parse::<Decimal>()
                    .and_then(|d| d.to_units(PERCENT_DECIMALS))
                    .map_err(|reason| ToleranceError::Percent {
                        text: text.into(),
                        reason,
                    })?;
                match u32::try_from(hundredths) {
                    Ok(h) if h <= MAX_HUNDREDTHS => Ok(Percent(h)),
                    _ => Err(ToleranceError::PercentTooLarge(Percent(
                        u32::try_from(hundredths).unwrap_or(u32::MAX),
                    ))),
                }
            })
            .transpose()?;
        Ok(Self { amount, percent })
    }

    /// Whether it forgives nothing (the default).
    pub fn is_none(&self) -> bool {
        self.amount.is_none_or(|a| a.atomic == 0) && self.percent.is_none_or(|p| p.0 == 0)
    }

    /// What an order asking `due` atomic units of a token of `decimals` decimals is forgiven:
    /// the smaller of the amount and the percentage (each rounded down to the token's units, so
    /// never more than configured is forgiven), and never over 10% of `due`.
    pub fn allowance(&self, due: u128, decimals: u8) -> u128 {
        let by_amount = self.amount.map(|a| in_decimals(a, decimals));
        let by_percent = self.percent.map(|p| share(due, p.0));
        by_amount
            .into_iter()
            .chain(by_percent)
            .min()
            .map_or(0, |forgiven| forgiven.min(share(due, MAX_HUNDREDTHS)))
    }
}

impl fmt::Display for Tolerance {
    /// As the merchant wrote it, in the token's units: "1.5", "2%", "1.5 or 2%, whichever is
    /// less", or "none".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.amount, self.percent) {
            _ if self.is_none() => f.write_str("none"),
            (Some(amount), Some(percent)) => {
                write!(f, "{amount} or {percent}, whichever is less")
            }
            (Some(amount), None) => write!(f, "{amount}"),
            (None, Some(percent)) => write!(f, "{percent}"),
            (None, None) => f.write_str("none"),
        }
    }
}

/// `hundredths` hundredths of a percent of `due`, rounded down, without overflow.
fn share(due: u128, hundredths: u32) -> u128 {
    let h = u128::from(hundredths);
    due / WHOLE * h + due % WHOLE * h / WHOLE
}

/// `amount` in atomic units of a token of `decimals` decimals, rounded down: the order's token
/// is the configured one, but its decimals are the order's own word.
fn in_decimals(amount: TokenAmount, decimals: u8) -> u128 {
    let scale = |by: u8| 10u128.checked_pow(u32::from(by));
    if decimals >= amount.decimals {
        scale(decimals - amount.decimals)
            .and_then(|s| amount.atomic.checked_mul(s))
            .unwrap_or(u128::MAX)
    } else {
        scale(amount.decimals - decimals).map_or(0, |s| amount.atomic / s)
    }
}

/// The least that counts as paying an order asking `due` and forgiving `tolerance` (as fixed
/// with its terms): never below 90% of `due`, so a tolerance kept wrongly never gives an order
/// away.
pub fn accepted(due: u128, tolerance: u128) -> u128 {
    due - tolerance.min(share(due, MAX_HUNDREDTHS))
}

/// What `received` leaves unpaid of `due` once it counts as paid under `tolerance`: `Some(0)`
/// when paid in full (or over), `None` when it does not count as paid at all.
pub fn shortfall(due: u128, tolerance: u128, received: u128) -> Option<u128> {
    (received >= accepted(due, tolerance)).then(|| due.saturating_sub(received))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USDT: u8 = 6;
    const DUE: u128 = 25_000_000;

    fn tolerance(amount: Option<&str>, percent: Option<&str>) -> Tolerance {
        Tolerance::parse(amount, percent, USDT).unwrap()
    }

    #[test]
    fn an_amount_alone_forgives_that_much() {
        let one = tolerance(Some("1"), None);
        assert_eq!(one.allowance(DUE, USDT), 1_000_000);
        assert_eq!(shortfall(DUE, 1_000_000, 24_000_000), Some(1_000_000));
        assert_eq!(shortfall(DUE, 1_000_000, 23_999_999), None);
        assert_eq!(one.to_string(), "1");
    }

    #[test]
    fn a_percentage_alone_forgives_that_share_rounded_down() {
        let two = tolerance(None, Some("2"));
        assert_eq!(two.allowance(DUE, USDT), 500_000);
        // 2.5% of 0.000039 is 0.000000975: rounded down, nothing is forgiven.
        assert_eq!(tolerance(None, Some("2.5")).allowance(39, USDT), 0);
        // 2.5% of 10.000001 is 0.250000025: 0.25.
        assert_eq!(
            tolerance(None, Some("2.5")).allowance(10_000_001, USDT),
            250_000
        );
        assert_eq!(two.to_string(), "2%");
        assert_eq!(tolerance(None, Some("0.25")).to_string(), "0.25%");
    }

    #[test]
    fn with_both_the_smaller_applies() {
        let both = tolerance(Some("1.5"), Some("2"));
        // 2% of 25 is 0.5: smaller than 1.5.
        assert_eq!(both.allowance(DUE, USDT), 500_000);
        // 2% of 1000 is 20: 1.5 is smaller.
        assert_eq!(both.allowance(1_000_000_000, USDT), 1_500_000);
        assert_eq!(both.to_string(), "1.5 or 2%, whichever is less");
    }

    #[test]
    fn none_is_the_default_and_forgives_nothing() {
        let none = Tolerance::default();
        assert!(none.is_none());
        assert_eq!(none.allowance(DUE, USDT), 0);
        assert_eq!(none.to_string(), "none");
        assert_eq!(shortfall(DUE, 0, DUE - 1), None);
        assert_eq!(shortfall(DUE, 0, DUE), Some(0));
        assert_eq!(shortfall(DUE, 0, DUE + 5), Some(0), "overpaid is not short");
        assert!(tolerance(Some("0"), Some("0")).is_none());
    }

    #[test]
    fn no_order_is_forgiven_more_than_a_tenth() {
        // 1 USDT meant for a 25 USDT order's fee, on a 0.50 order: 0.05 at most.
        assert_eq!(tolerance(Some("1"), None).allowance(500_000, USDT), 50_000);
        assert_eq!(tolerance(None, Some("10")).allowance(DUE, USDT), 2_500_000);
        // A tolerance kept wrongly (larger than the order) still asks for 90%.
        assert_eq!(accepted(DUE, u128::MAX), 22_500_000);
        assert_eq!(shortfall(1, u128::MAX, 0), None, "something must arrive");
        assert_eq!(accepted(0, 5), 0);
    }

    #[test]
    fn the_amount_follows_the_orders_decimals_rounded_down() {
        let fine = Tolerance::parse(Some("0.123456"), None, USDT).unwrap();
        assert_eq!(fine.allowance(10_000_000, 6), 123_456);
        assert_eq!(fine.allowance(10_000_000, 4), 1_234, "rounded down");
        assert_eq!(
            fine.allowance(10_000_000_000_000_000_000, 18),
            123_456_000_000_000_000
        );
        assert_eq!(share(u128::MAX, MAX_HUNDREDTHS), u128::MAX / 10);
    }

    #[test]
    fn a_tolerance_that_cannot_be_is_refused_saying_why() {
        let error = |amount, percent| Tolerance::parse(amount, percent, USDT).unwrap_err();
        assert_eq!(error(None, None), ToleranceError::Empty);
        assert!(matches!(
            error(Some("-1"), None),
            ToleranceError::NegativeAmount(_)
        ));
        assert!(matches!(
            error(None, Some("-2")),
            ToleranceError::NegativePercent(_)
        ));
        let precise = error(Some("0.0000001"), None).to_string();
        assert!(precise.contains("only 6 decimals"), "{precise}");
        let large = error(None, Some("10.01")).to_string();
        assert!(large.contains("10.01%") && large.contains("10%"), "{large}");
        assert!(matches!(
            error(None, Some("99999999999")),
            ToleranceError::PercentTooLarge(_)
        ));
        assert!(matches!(
            error(None, Some("0.125")),
            ToleranceError::Percent { .. }
        ));
        assert!(matches!(
            error(Some("1e3"), None),
            ToleranceError::Amount { .. }
        ));
        assert!(Tolerance::parse(None, Some("10"), USDT).is_ok());
    }
}
