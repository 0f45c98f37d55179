//! The server's clock, as this browser can know it: the countdown must be right on a shopper
//! whose clock is wrong, so it runs on the server's time, learnt from each new status view.

/// Offset of the server's clock from this browser's, in milliseconds; until a view is seen, none.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ServerClock {
    /// The `server_time` the offset was learnt from.
    learnt_from: Option<u64>,
    offset: f64,
}

impl ServerClock {
    /// Learns from a view's `server_time`, received when this browser's clock read `local_now`.
    /// The same view seen again (every render shows it) teaches nothing: its time is old by then.
    pub fn observe(&mut self, server_time: u64, local_now: f64) {
        if self.learnt_from != Some(server_time) {
            self.learnt_from = Some(server_time);
            self.offset = server_time as f64 - local_now;
        }
    }

    /// The server's time when this browser's clock reads `local_now`.
    pub fn now(&self, local_now: f64) -> f64 {
        local_now + self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_the_servers_time_and_keeps_running_between_views() {
        let mut clock = ServerClock::default();
        // This browser's clock is 5 minutes slow.
        clock.observe(1_000_000, 700_000.0);
        assert_eq!(clock.now(700_000.0), 1_000_000.0);
        // Seconds later, the same view is rendered again: the clock has moved on.
        clock.observe(1_000_000, 703_000.0);
        assert_eq!(clock.now(703_000.0), 1_003_000.0);
        // A new view sets it again.
        clock.observe(1_010_000, 709_500.0);
        assert_eq!(clock.now(710_000.0), 1_010_500.0);
    }
}
