//! When the widget asks the merchant server for the order's status: a pure policy, so every rule
//! is tested natively, and the component around it only keeps time.
//!
//! - The first poll is a second after the order is created.
//! - An unchanged answer backs off exponentially with full jitter, up to about 12 s; a change
//!   resets the backoff (things tend to happen together: confirmations follow a payment).
//! - When the server held the request as a long poll, the next poll follows at once: the waiting
//!   already happened on the server.
//! - 429 waits at least its `Retry-After`; 418 waits out the block; errors back off like no change.
//! - While the page is hidden nothing is polled; when it is shown again, a poll goes out at once.
//! - A final state stops polling. There is never more than one poll in flight.

use std::time::Duration;

use usdt_checkout_protocol::backoff::full_jitter;

pub const FIRST_POLL: Duration = Duration::from_secs(1);
const BASE: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(12);
/// Even a lucky jitter draw waits this long.
const FLOOR: Duration = Duration::from_millis(500);

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The status changed.
    Changed,
    /// Nothing new; `held` when the server kept the request open as a long poll.
    Unchanged { held: bool },
    /// The order reached a final state.
    Final,
    /// 429 from the merchant server (or its gateway).
    RateLimited { retry_after: Option<Duration> },
    /// 418: a block.
    Blocked { retry_after: Option<Duration> },
    /// The server could not be reached, or answered with an error.
    Failed,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    PollAfter(Duration),
    PollNow,
    /// Nothing until something changes (the page is shown again).
    Idle,
    Stop,
}

#[derive(Debug, Default, Clone)]
pub struct Poller {
    unchanged: u32,
    hidden: bool,
    in_flight: bool,
    stopped: bool,
    /// A poll came due while hidden: send it when shown.
    owed: bool,
}

impl Poller {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a poll may be sent now; if so, it is counted as in flight.
    pub fn start(&mut self) -> bool {
        if self.stopped || self.in_flight {
            return false;
        }
        if self.hidden {
            self.owed = true;
            return false;
        }
        self.in_flight = true;
        true
    }

    /// A poll ended; `random` is a draw in [0, 1) for the jitter.
    pub fn finish(&mut self, outcome: Outcome, random: f64) -> Next {
        self.in_flight = false;
        if self.stopped {
            return Next::Stop;
        }
        let backoff = |unchanged: u32| full_jitter(unchanged, BASE, CAP, random).max(FLOOR);
        match outcome {
            Outcome::Final => {
                self.stopped = true;
                Next::Stop
            }
            Outcome::Changed => {
                self.unchanged = 0;
                Next::PollAfter(backoff(0))
            }
            Outcome::Unchanged { held: true } => Next::PollNow,
            Outcome::Unchanged { held: false } | Outcome::Failed => {
                self.unchanged = self.unchanged.saturating_add(1);
                Next::PollAfter(backoff(self.unchanged))
            }
            Outcome::RateLimited { retry_after } => {
                self.unchanged = self.unchanged.saturating_add(1);
                Next::PollAfter(backoff(self.unchanged).max(retry_after.unwrap_or(Duration::ZERO)))
            }
            Outcome::Blocked { retry_after } => {
                Next::PollAfter(retry_after.unwrap_or(CAP).max(FLOOR))
            }
        }
    }

    /// The page was hidden or shown.
    pub fn visibility(&mut self, visible: bool) -> Next {
        self.hidden = !visible;
        if self.stopped {
            return Next::Stop;
        }
        if visible && !self.in_flight {
            self.owed = false;
            self.unchanged = 0;
            Next::PollNow
        } else {
            Next::Idle
        }
    }

    /// The widget is done with this order (unmounted, or the shopper started again).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(next: Next) -> Duration {
        match next {
            Next::PollAfter(d) => d,
            other => panic!("expected a delay, got {other:?}"),
        }
    }

    #[test]
    fn backs_off_with_jitter_up_to_the_cap_and_resets_on_change() {
        let mut poller = Poller::new();
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            assert!(poller.start());
            ceilings.push(after(
                poller.finish(Outcome::Unchanged { held: false }, 0.999_999),
            ));
        }
        let secs: Vec<u64> = ceilings
            .iter()
            .map(|d| d.as_secs_f64().round() as u64)
            .collect();
        assert_eq!(secs, [2, 4, 8, 12, 12, 12, 12, 12]);
        assert!(poller.start());
        assert_eq!(
            after(poller.finish(Outcome::Changed, 0.999_999))
                .as_secs_f64()
                .round(),
            1.0
        );
        assert!(poller.start());
        assert_eq!(
            after(poller.finish(Outcome::Unchanged { held: false }, 0.999_999))
                .as_secs_f64()
                .round(),
            2.0
        );
    }

    #[test]
    fn jitter_never_goes_below_the_floor() {
        let mut poller = Poller::new();
        poller.start();
        assert_eq!(
            after(poller.finish(Outcome::Unchanged { held: false }, 0.0)),
            FLOOR
        );
    }

    #[test]
    fn a_held_long_poll_is_followed_at_once_without_growing_the_backoff() {
        let mut poller = Poller::new();
        poller.start();
        assert_eq!(
            poller.finish(Outcome::Unchanged { held: true }, 0.5),
            Next::PollNow
        );
        poller.start();
        let next = after(poller.finish(Outcome::Unchanged { held: false }, 0.999_999));
        assert_eq!(
            next.as_secs_f64().round(),
            2.0,
            "the backoff did not grow while held"
        );
    }

    #[test]
    fn rate_limits_and_blocks_are_waited_out() {
        let mut poller = Poller::new();
        poller.start();
        let limited = poller.finish(
            Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            },
            0.1,
        );
        assert_eq!(after(limited), Duration::from_secs(30));
        poller.start();
        let blocked = poller.finish(
            Outcome::Blocked {
                retry_after: Some(Duration::from_secs(300)),
            },
            0.1,
        );
        assert_eq!(after(blocked), Duration::from_secs(300));
    }

    #[test]
    fn never_two_polls_in_flight() {
        let mut poller = Poller::new();
        assert!(poller.start());
        assert!(!poller.start(), "the first is still in flight");
        poller.finish(Outcome::Changed, 0.5);
        assert!(poller.start());
    }

    #[test]
    fn hidden_pages_do_not_poll_and_shown_ones_poll_at_once() {
        let mut poller = Poller::new();
        assert_eq!(poller.visibility(false), Next::Idle);
        assert!(!poller.start(), "no poll while hidden");
        assert_eq!(poller.visibility(true), Next::PollNow);
        assert!(poller.start());
        assert_eq!(
            poller.visibility(true),
            Next::Idle,
            "one is already in flight"
        );
    }

    #[test]
    fn a_final_state_stops_everything() {
        let mut poller = Poller::new();
        poller.start();
        assert_eq!(poller.finish(Outcome::Final, 0.5), Next::Stop);
        assert!(!poller.start());
        assert_eq!(poller.visibility(true), Next::Stop);
        assert!(poller.is_stopped());
    }
}
