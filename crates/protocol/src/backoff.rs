//! Exponential backoff with full jitter: the n-th retry waits a uniformly random time between zero
//! and `min(cap, base · 2^n)`. Randomness spreads out clients that failed together, so they do
//! not retry together. The random draw is a parameter: the policy stays a pure function.

use std::time::Duration;

/// The longest the n-th retry (counting from 0) may wait.
pub fn ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(31));
    base.saturating_mul(factor).min(cap)
}

/// The n-th retry's wait, for a `random` draw in `[0, 1)`, to the millisecond. Worked in whole
/// milliseconds, not with `Duration::mul_f64`, whose exact float conversion (and its panics) the
/// widget would carry.
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration, random: f64) -> Duration {
    let ceiling = ceiling(attempt, base, cap).as_millis() as u64;
    Duration::from_millis((ceiling as f64 * random.clamp(0.0, 1.0)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);
    const CAP: Duration = Duration::from_secs(15);

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let ceilings: Vec<u64> = (0..6).map(|n| ceiling(n, BASE, CAP).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 15, 15]);
        assert_eq!(
            ceiling(u32::MAX, BASE, CAP),
            CAP,
            "no overflow on long outages"
        );
    }

    #[test]
    fn jitter_spans_zero_to_the_ceiling() {
        assert_eq!(full_jitter(3, BASE, CAP, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(3, BASE, CAP, 0.5), Duration::from_secs(4));
        assert!(full_jitter(3, BASE, CAP, 0.999_999) < Duration::from_secs(8));
        assert_eq!(
            full_jitter(3, BASE, CAP, 7.0),
            Duration::from_secs(8),
            "a bad draw is clamped"
        );
    }
}
