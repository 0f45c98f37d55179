//! The merchant server's own limit on calls to the gateway, kept below the gateway's (100 a
//! minute per key) so the gateway never has a reason to answer 429. It counts calls in any 60
//! seconds, as the gateway does. Order creation, which a shopper waits for, may use the whole
//! budget; reconciliation, which can wait, leaves a reserve for it. A 429 or 418 from the
//! gateway pauses every call until the time it gave.

use std::collections::VecDeque;
use std::time::Duration;

const WINDOW_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A shopper is waiting: creating a gateway order.
    Creation,
    /// Background work: asking the gateway about open orders.
    Reconciliation,
}

#[derive(Debug)]
pub struct Budget {
    per_minute: usize,
    reserve: usize,
    sent: VecDeque<u64>,
    paused_until: u64,
}

impl Budget {
    /// `per_minute` calls at most; reconciliation leaves half (at least one) for creation. With
    /// a tenth, a shop with many open orders had its reconciler take nine tenths of every
    /// minute, and new shoppers queued for the tenth left ("Busy right now" at 20 checkouts a
    /// minute); webhooks are what reports payments, the reconciler only makes up for lost ones.
    pub fn new(per_minute: usize) -> Self {
        Self {
            per_minute,
            reserve: (per_minute / 2).max(1).min(per_minute.saturating_sub(1)),
            sent: VecDeque::with_capacity(per_minute),
            paused_until: 0,
        }
    }

    /// The budget as kept between calls: the times of the calls sent, and the pause.
    pub fn kept(&self) -> (Vec<u64>, u64) {
        (self.sent.iter().copied().collect(), self.paused_until)
    }

    /// A budget of `per_minute` calls as it was [`Budget::kept`].
    pub fn restore(per_minute: usize, sent: Vec<u64>, paused_until: u64) -> Self {
        let mut budget = Self::new(per_minute);
        budget.sent = sent.into();
        budget.paused_until = paused_until;
        budget
    }

    /// Takes a call from the budget, or says how long to wait before asking again.
    pub fn try_take(&mut self, priority: Priority, now_ms: u64) -> Result<(), Duration> {
        if now_ms < self.paused_until {
            return Err(Duration::from_millis(self.paused_until - now_ms));
        }
        while self.sent.front().is_some_and(|&t| t + WINDOW_MS <= now_ms) {
            self.sent.pop_front();
        }
        let limit = match priority {
            Priority::Creation => self.per_minute,
            Priority::Reconciliation => self.per_minute - self.reserve,
        };
        if self.sent.len() < limit {
            self.sent.push_back(now_ms);
            return Ok(());
        }
        // Wait until enough of the oldest calls leave the window.
        let oldest_to_leave = self.sent[self.sent.len() - limit];
        Err(Duration::from_millis(oldest_to_leave + WINDOW_MS - now_ms))
    }

    /// The gateway said to stop (429 `Retry-After`, or a 418 block): every call waits.
    pub fn pause_until(&mut self, until_ms: u64) {
        self.paused_until = self.paused_until.max(until_ms);
    }

    pub fn paused_until(&self) -> u64 {
        self.paused_until
    }

    /// Calls in the current window, for the status of the gateway connection.
    pub fn used(&self, now_ms: u64) -> usize {
        self.sent
            .iter()
            .filter(|&&t| t + WINDOW_MS > now_ms)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_budget_in_any_minute() {
        let mut budget = Budget::new(90);
        let mut sent = Vec::new();
        let mut now = 0;
        while now < 180_000 {
            if budget.try_take(Priority::Creation, now).is_ok() {
                sent.push(now);
            }
            now += 100;
        }
        for (i, &t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|&&u| u < t + WINDOW_MS).count();
            assert!(in_window <= 90, "{in_window} calls in the minute from {t}");
        }
        assert_eq!(sent.len(), 270, "the whole budget is usable");
    }

    #[test]
    fn reconciliation_leaves_a_reserve_for_creation() {
        let mut budget = Budget::new(90);
        for i in 0..45 {
            assert_eq!(budget.try_take(Priority::Reconciliation, i), Ok(()));
        }
        assert!(budget.try_take(Priority::Reconciliation, 45).is_err());
        for i in 0..45 {
            assert_eq!(
                budget.try_take(Priority::Creation, 100 + i),
                Ok(()),
                "reserved"
            );
        }
        assert_eq!(
            budget.try_take(Priority::Creation, 200),
            Err(Duration::from_millis(60_000 - 200))
        );
    }

    #[test]
    fn a_kept_budget_restores_to_the_same_decisions() {
        let mut budget = Budget::new(3);
        budget.try_take(Priority::Creation, 10).unwrap();
        budget.try_take(Priority::Creation, 20).unwrap();
        budget.pause_until(500);
        let (sent, paused) = budget.kept();
        let mut again = Budget::restore(3, sent, paused);
        assert_eq!(
            again.try_take(Priority::Creation, 100),
            Err(Duration::from_millis(400))
        );
        assert_eq!(again.try_take(Priority::Creation, 500), Ok(()));
        assert_eq!(
            again.try_take(Priority::Creation, 600),
            Err(Duration::from_millis(59_410)),
            "three calls in the minute, the first leaving at 60 010"
        );
    }

    #[test]
    fn a_pause_from_the_gateway_stops_every_call() {
        let mut budget = Budget::new(90);
        budget.pause_until(5_000);
        assert_eq!(
            budget.try_take(Priority::Creation, 1_000),
            Err(Duration::from_millis(4_000))
        );
        budget.pause_until(2_000);
        assert_eq!(
            budget.paused_until(),
            5_000,
            "a shorter pause never shortens a longer one"
        );
        assert_eq!(budget.try_take(Priority::Creation, 5_000), Ok(()));
    }
}
