//! The gateway's rate limit: at most `limit` accepted requests per API key in any 60 seconds.
//! The first request over it gets 429 with `Retry-After`; a key that keeps calling while limited
//! gets 418 and is blocked for `block` (the gateway's "temporary block"), which ends by itself.
//! Refused requests do not count toward the window.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 429: wait this long before calling again.
    Limited {
        retry_after: Duration,
    },
    /// 418: blocked; this long remains.
    Blocked {
        retry_after: Duration,
    },
}

#[derive(Default)]
struct KeyState {
    /// Times (ms) of accepted requests in the current window, oldest first.
    accepted: VecDeque<u64>,
    /// Set by the first 429; a further request while still over the limit is blocked.
    warned: bool,
    blocked_until: u64,
}

pub struct RateLimiter {
    limit: usize,
    block: Duration,
    keys: HashMap<String, KeyState>,
}

impl RateLimiter {
    pub fn new(limit_per_minute: usize, block: Duration) -> Self {
        Self {
            limit: limit_per_minute,
            block,
            keys: HashMap::new(),
        }
    }

    pub fn check(&mut self, key: &str, now_ms: u64) -> Decision {
        let window_ms = WINDOW.as_millis() as u64;
        let state = self.keys.entry(key.to_owned()).or_default();
        if now_ms < state.blocked_until {
            return Decision::Blocked {
                retry_after: Duration::from_millis(state.blocked_until - now_ms),
            };
        }
        while state
            .accepted
            .front()
            .is_some_and(|&t| t + window_ms <= now_ms)
        {
            state.accepted.pop_front();
        }
        if state.accepted.len() < self.limit {
            state.warned = false;
            state.accepted.push_back(now_ms);
            return Decision::Allow;
        }
        if state.warned {
            state.blocked_until = now_ms + self.block.as_millis() as u64;
            state.warned = false;
            state.accepted.clear();
            return Decision::Blocked {
                retry_after: self.block,
            };
        }
        state.warned = true;
        let oldest = *state.accepted.front().expect("the window is full");
        Decision::Limited {
            retry_after: Duration::from_millis(oldest + window_ms - now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: Duration = Duration::from_secs(300);

    #[test]
    fn the_101st_request_in_a_minute_is_limited_and_the_next_blocked() {
        let mut limiter = RateLimiter::new(100, BLOCK);
        for i in 0..100 {
            assert_eq!(limiter.check("k", 1_000 + i * 10), Decision::Allow);
        }
        assert_eq!(
            limiter.check("k", 5_000),
            Decision::Limited {
                retry_after: Duration::from_millis(1_000 + 60_000 - 5_000)
            }
        );
        assert_eq!(
            limiter.check("k", 5_001),
            Decision::Blocked { retry_after: BLOCK }
        );
        assert_eq!(
            limiter.check("k", 5_001 + 299_000),
            Decision::Blocked {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            limiter.check("k", 5_001 + 300_000),
            Decision::Allow,
            "the block ends by itself"
        );
    }

    #[test]
    fn keys_are_limited_separately() {
        let mut limiter = RateLimiter::new(2, BLOCK);
        assert_eq!(limiter.check("a", 0), Decision::Allow);
        assert_eq!(limiter.check("a", 1), Decision::Allow);
        assert!(matches!(limiter.check("a", 2), Decision::Limited { .. }));
        assert_eq!(limiter.check("b", 3), Decision::Allow);
    }

    #[test]
    fn waiting_out_the_retry_after_clears_the_warning() {
        let mut limiter = RateLimiter::new(2, BLOCK);
        limiter.check("a", 0);
        limiter.check("a", 10);
        let Decision::Limited { retry_after } = limiter.check("a", 20) else {
            panic!("expected a 429")
        };
        let later = 20 + retry_after.as_millis() as u64;
        assert_eq!(limiter.check("a", later), Decision::Allow);
        assert!(
            matches!(limiter.check("a", later + 1), Decision::Limited { .. }),
            "a fresh 429, not a block: the client honoured Retry-After"
        );
    }
}
