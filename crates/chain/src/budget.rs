//! A chain's call budget: hosted RPC providers sell calls by the day (a free tier is about
//! 100,000), and rate-limit by the second. Every call a [`crate::ChainClient`] makes, retries
//! included, takes one from a token bucket refilled at the day's rate; a call with none left
//! waits for one. The bucket holds a second of calls, and at least a step's two (the latest
//! block, the log query), so a step goes at once, while a catch-up after downtime, or a
//! provider's refusals asked again, slow down to the rate rather than spend tomorrow's calls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a chain's watcher may spend where its configuration does not say: a free tier's day.
pub const DEFAULT_CALLS_PER_DAY: u64 = 100_000;

const DAY: f64 = 86_400.0;

/// Calls the bucket holds, at least: a step's two go without waiting.
const MIN_BURST: f64 = 2.0;

pub struct CallBudget {
    per_second: f64,
    burst: f64,
    /// Calls left, and when that was counted.
    bucket: Mutex<(f64, Instant)>,
}

impl CallBudget {
    pub fn per_day(calls: u64) -> Self {
        let per_second = calls.max(1) as f64 / DAY;
        let burst = per_second.max(MIN_BURST);
        Self {
            per_second,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one call, waiting until there is one.
    pub async fn take(&self) {
        loop {
            let wait = {
                let mut bucket = self.bucket.lock().expect("budget lock");
                let (left, wait) =
                    take_one(bucket.0, bucket.1.elapsed(), self.per_second, self.burst);
                *bucket = (left, Instant::now());
                wait
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

/// The bucket after `elapsed` since it held `left` calls and one is asked for: the calls left
/// and no wait, or the calls left (none taken) and how long until one is there.
pub fn take_one(
    left: f64,
    elapsed: Duration,
    per_second: f64,
    burst: f64,
) -> (f64, Option<Duration>) {
    let left = (left + elapsed.as_secs_f64() * per_second).min(burst);
    if left >= 1.0 {
        (left - 1.0, None)
    } else {
        (
            left,
            Some(Duration::from_secs_f64((1.0 - left) / per_second)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_at_once_an_empty_one_says_how_long_to_wait() {
        assert_eq!(take_one(5.0, Duration::ZERO, 1.0, 5.0), (4.0, None));
        let (left, wait) = take_one(0.5, Duration::ZERO, 2.0, 5.0);
        assert_eq!(left, 0.5, "nothing taken while waiting");
        assert_eq!(wait, Some(Duration::from_millis(250)));
    }

    #[test]
    fn the_bucket_refills_at_the_rate_up_to_its_size() {
        assert_eq!(take_one(0.0, Duration::from_secs(2), 1.0, 5.0), (1.0, None));
        assert_eq!(
            take_one(0.0, Duration::from_secs(3_600), 1.0, 5.0),
            (4.0, None),
            "an idle hour holds no more than the burst"
        );
    }

    #[test]
    fn a_day_of_calls_is_the_budget() {
        let budget = CallBudget::per_day(DEFAULT_CALLS_PER_DAY);
        let spent_in_a_day = budget.burst + budget.per_second * DAY;
        assert!(
            (100_000.0..=100_002.0).contains(&spent_in_a_day),
            "{spent_in_a_day}"
        );
    }
}
