//! The server's stop, said to whoever must act on it (the HTTP loop, the leases, the held
//! polls) as a value passed to each, not a global: a test's server, or two in one process, each
//! stop on their own.

use tokio::sync::watch;

/// Says the server stops; kept by whoever receives the signal.
pub struct Stop(watch::Sender<bool>);

/// Learns the server stops; cloned for each part that acts on it.
#[derive(Clone)]
pub struct Stopping(watch::Receiver<bool>);

/// A stop and what learns of it.
pub fn channel() -> (Stop, Stopping) {
    let (stop, stopping) = watch::channel(false);
    (Stop(stop), Stopping(stopping))
}

impl Stop {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Another part that learns of this stop.
    pub fn stopping(&self) -> Stopping {
        Stopping(self.0.subscribe())
    }
}

impl Stopping {
    /// Resolves once the server stops (at once if it has), or once its [`Stop`] is gone: no
    /// one is left to say otherwise.
    pub async fn stopped(&mut self) {
        // The borrow `wait_for` gives is not kept: it is not `Send`.
        let _ = self.0.wait_for(|stopping| *stopping).await.map(|_| ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_part_learns_the_stop_even_one_that_asks_after() {
        let (stop, mut early) = channel();
        let waiting = tokio::spawn(async move { early.stopped().await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        stop.stop();
        waiting.await.unwrap();
        stop.stopping().stopped().await;
    }
}
