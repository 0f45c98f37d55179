//! How often one key (a checkout, a client) may do something: at most `limit` times in any
//! sliding window, in memory. Each server limits the requests it receives.

use std::collections::{HashMap, VecDeque};

pub struct SlidingWindow {
    limit: usize,
    window_ms: u64,
    recent: HashMap<String, VecDeque<u64>>,
}

/// Keys held at most before those whose every use is old are forgotten.
const KEYS_KEPT: usize = 10_000;

impl SlidingWindow {
    pub fn new(limit: usize, window_ms: u64) -> Self {
        Self {
            limit,
            window_ms,
            recent: HashMap::new(),
        }
    }

    /// Counts a use by `key` at `now`, or says in how many milliseconds one is allowed.
    pub fn allow(&mut self, key: &str, now: u64) -> Result<(), u64> {
        let since = now.saturating_sub(self.window_ms);
        if self.recent.len() > KEYS_KEPT {
            self.recent
                .retain(|_, times| times.back().is_some_and(|t| *t > since));
        }
        let times = self.recent.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| *t <= since) {
            times.pop_front();
        }
        if times.len() >= self.limit {
            let oldest = times.front().copied().unwrap_or(now);
            return Err((oldest + self.window_ms).saturating_sub(now).max(1));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_may_act_so_often_in_any_window() {
        let mut limiter = SlidingWindow::new(5, 60_000);
        for i in 0..5 {
            assert_eq!(limiter.allow("co_1", 1_000 + i), Ok(()));
        }
        assert_eq!(limiter.allow("co_1", 2_000), Err(59_000));
        assert_eq!(limiter.allow("co_2", 2_000), Ok(()), "each key its own");
        assert_eq!(limiter.allow("co_1", 61_000), Ok(()));
    }

    #[test]
    fn old_keys_are_forgotten_past_the_keys_kept() {
        let mut limiter = SlidingWindow::new(1, 1_000);
        for i in 0..=KEYS_KEPT {
            limiter.allow(&format!("k{i}"), 0).unwrap();
        }
        limiter.allow("late", 5_000).unwrap();
        assert_eq!(limiter.recent.len(), 1);
    }
}
