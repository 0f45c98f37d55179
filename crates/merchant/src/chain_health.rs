//! How each chain's watcher is doing, for `/healthz` and the log: the head it has read, how far
//! behind the chain it is, when it last made progress, and its last error. A watcher whose node
//! refuses every call keeps retrying quietly; this is where that shows. The rule that calls a
//! watcher stuck is [`state`], pure; the watcher reports, [`ChainHealth`] keeps.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use serde::Serialize;
use usdt_checkout_protocol::ChainId;

/// A watcher that has made no progress this long is stuck, at the least (see [`stuck_after`]).
const STUCK_AFTER_AT_LEAST: Duration = Duration::from_secs(30);

/// How long without progress makes a watcher polling every `poll_interval` stuck: ten polls,
/// and never less than half a minute, so a slow chain or a provider's brief refusal is not.
pub fn stuck_after(poll_interval: Duration) -> Duration {
    (poll_interval * 10).max(STUCK_AFTER_AT_LEAST)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Reading, and its last read succeeded.
    Following,
    /// Its last read failed, but it made progress recently.
    Retrying,
    /// No progress for longer than it may take: what it shows is out of date.
    Stuck,
}

/// A watcher's state at `now` (Unix ms), given when it last made progress (or started), whether
/// its last read failed, and how long it may go without progress.
pub fn state(now: u64, progress_at: u64, failing: bool, stuck_after: Duration) -> State {
    if now.saturating_sub(progress_at) > stuck_after.as_millis() as u64 {
        State::Stuck
    } else if failing {
        State::Retrying
    } else {
        State::Following
    }
}

/// One watcher's report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watcher {
    head: Option<u64>,
    behind: Option<u64>,
    progress_at: u64,
    last_error: Option<(u64, String)>,
    failing: bool,
    stuck_after: Duration,
    /// The state last logged.
    logged: State,
}

/// What `/healthz` says of one watcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub state: State,
    /// The highest block read.
    pub head: Option<u64>,
    /// Blocks between the chain's head and what was read, at the last read.
    pub blocks_behind: Option<u64>,
    pub seconds_since_progress: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub at: u64,
    pub error: String,
}

/// Every watcher this server runs.
#[derive(Default)]
pub struct ChainHealth(RwLock<BTreeMap<ChainId, Watcher>>);

impl ChainHealth {
    /// A watcher starts on `chain` at `now`.
    pub fn started(&self, chain: ChainId, now: u64, stuck_after: Duration) {
        self.0.write().expect("chain health lock").insert(
            chain,
            Watcher {
                head: None,
                behind: None,
                progress_at: now,
                last_error: None,
                failing: false,
                stuck_after,
                logged: State::Following,
            },
        );
    }

    /// A read of `chain` succeeded at `now`, up to `head`, `behind` blocks short of the chain's.
    pub fn progressed(&self, chain: ChainId, now: u64, head: u64, behind: u64) {
        self.change(chain, now, |w| {
            w.head = Some(head);
            w.behind = Some(behind);
            w.progress_at = now;
            w.failing = false;
        });
    }

    /// A read of `chain` failed at `now`.
    pub fn failed(&self, chain: ChainId, now: u64, error: &str) {
        self.change(chain, now, |w| {
            w.failing = true;
            w.last_error = Some((now, error.to_owned()));
        });
    }

    /// Applies `change`, and logs the watcher's state when it changes (also when it turns
    /// stuck, which [`ChainHealth::report`] may be the first to see).
    fn change(&self, chain: ChainId, now: u64, change: impl FnOnce(&mut Watcher)) {
        let mut watchers = self.0.write().expect("chain health lock");
        let Some(watcher) = watchers.get_mut(&chain) else {
            return;
        };
        change(watcher);
        log_change(chain, watcher, now);
    }

    /// Each watcher's report at `now`, by chain.
    pub fn report(&self, now: u64) -> BTreeMap<ChainId, Report> {
        let mut watchers = self.0.write().expect("chain health lock");
        watchers
            .iter_mut()
            .map(|(chain, w)| {
                log_change(*chain, w, now);
                let report = Report {
                    state: state(now, w.progress_at, w.failing, w.stuck_after),
                    head: w.head,
                    blocks_behind: w.behind,
                    seconds_since_progress: now.saturating_sub(w.progress_at) / 1000,
                    last_error: w.last_error.as_ref().map(|(at, error)| LastError {
                        at: *at,
                        error: error.clone(),
                    }),
                };
                (*chain, report)
            })
            .collect()
    }
}

fn log_change(chain: ChainId, watcher: &mut Watcher, now: u64) {
    let now_state = state(
        now,
        watcher.progress_at,
        watcher.failing,
        watcher.stuck_after,
    );
    if now_state == watcher.logged {
        return;
    }
    let error = watcher.last_error.as_ref().map_or("", |(_, e)| e.as_str());
    match now_state {
        State::Following => tracing::info!("chain {chain}: watcher following again"),
        State::Retrying => tracing::warn!("chain {chain}: watcher retrying: {error}"),
        State::Stuck => tracing::error!(
            "chain {chain}: watcher stuck, no progress for {} s: {error}",
            now.saturating_sub(watcher.progress_at) / 1000
        ),
    }
    watcher.logged = now_state;
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_watcher_is_stuck_once_it_made_no_progress_for_longer_than_it_may() {
        assert_eq!(state(10_000, 10_000, false, MINUTE), State::Following);
        assert_eq!(state(20_000, 10_000, true, MINUTE), State::Retrying);
        assert_eq!(state(70_000, 10_000, true, MINUTE), State::Retrying);
        assert_eq!(state(70_001, 10_000, true, MINUTE), State::Stuck);
        assert_eq!(
            state(70_001, 10_000, false, MINUTE),
            State::Stuck,
            "no successful read for that long is stuck, whatever the last one said"
        );
        assert_eq!(
            stuck_after(Duration::from_millis(200)),
            STUCK_AFTER_AT_LEAST
        );
        assert_eq!(
            stuck_after(Duration::from_secs(12)),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn the_report_says_head_lag_progress_and_the_last_error() {
        let health = ChainHealth::default();
        let chain = ChainId(31337);
        health.started(chain, 0, MINUTE);
        health.progressed(chain, 1_000, 100, 2);
        health.failed(chain, 5_000, "chain RPC eth_getLogs: 429");
        let report = &health.report(6_000)[&chain];
        assert_eq!(report.state, State::Retrying);
        assert_eq!((report.head, report.blocks_behind), (Some(100), Some(2)));
        assert_eq!(report.seconds_since_progress, 5);
        assert_eq!(
            report.last_error.as_ref().map(|e| e.error.as_str()),
            Some("chain RPC eth_getLogs: 429")
        );
        let later = health.report(1_000 + MINUTE.as_millis() as u64 + 1);
        assert_eq!(later[&chain].state, State::Stuck);
    }
}
