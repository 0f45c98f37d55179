//! Background workers (the reconciler, each chain's watcher, the fulfillment delivery, the
//! change feed) run for as long as the server does. A worker that panics or returns is
//! restarted after a pause that grows with its failures, and `/healthz` says so: a server whose
//! reconciler died silently would otherwise leave paid orders waiting while it reports `ok`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use usdt_checkout_protocol::backoff::full_jitter;

use crate::clock::now_ms;

/// How long after a worker's failure `/healthz` reports the server degraded.
pub const DEGRADED_FOR_MS: u64 = 5 * 60 * 1000;

/// What is known of each worker, by name.
#[derive(Default)]
pub struct Workers {
    state: Mutex<BTreeMap<String, WorkerState>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerState {
    /// Times it was restarted.
    pub restarts: u32,
    /// When it last failed (Unix ms), and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl Workers {
    fn failed(&self, name: &str, why: String) {
        let mut state = self.state.lock().expect("workers lock");
        let worker = state.entry(name.to_owned()).or_default();
        worker.restarts += 1;
        worker.failed_at = Some(now_ms());
        worker.failure = Some(why);
    }

    fn started(&self, name: &str) {
        self.state
            .lock()
            .expect("workers lock")
            .entry(name.to_owned())
            .or_default();
    }

    /// Every worker's state, by name.
    pub fn report(&self) -> BTreeMap<String, WorkerState> {
        self.state.lock().expect("workers lock").clone()
    }

    /// Whether a worker failed within [`DEGRADED_FOR_MS`] of `now`.
    pub fn degraded(&self, now: u64) -> bool {
        self.state
            .lock()
            .expect("workers lock")
            .values()
            .any(|w| w.failed_at.is_some_and(|at| now < at + DEGRADED_FOR_MS))
    }
}

/// Runs the worker `make` makes, as a task of its own, for as long as the server runs: when it
/// panics or returns, it is counted, logged and made again after a pause (one second, growing
/// with its consecutive failures to a minute).
pub async fn supervise<F, W>(workers: Arc<Workers>, name: String, make: F)
where
    F: Fn() -> W,
    W: Future<Output = ()> + Send + 'static,
{
    workers.started(&name);
    let mut failures = 0u32;
    loop {
        let why = match tokio::spawn(make()).await {
            Ok(()) => "stopped".to_owned(),
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let text = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into());
                format!("panicked: {text}")
            }
            Err(e) => e.to_string(),
        };
        failures = failures.saturating_add(1);
        tracing::error!("worker {name} {why}; restarting it");
        workers.failed(&name, why);
        let pause = full_jitter(
            failures,
            Duration::from_secs(1),
            Duration::from_secs(60),
            crate::gateway::random(),
        )
        .max(Duration::from_millis(200));
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_worker_that_panics_is_restarted_and_reported() {
        let workers = Arc::new(Workers::default());
        let runs = Arc::new(AtomicU32::new(0));
        let (counted, supervised) = (runs.clone(), workers.clone());
        let supervisor = tokio::spawn(supervise(supervised, "reconciler".into(), move || {
            let runs = counted.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the first run fails");
                }
                std::future::pending::<()>().await;
            }
        }));
        while runs.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let report = workers.report();
        assert_eq!(report["reconciler"].restarts, 1);
        assert_eq!(
            report["reconciler"].failure.as_deref(),
            Some("panicked: the first run fails")
        );
        assert!(workers.degraded(now_ms()));
        assert!(!workers.degraded(now_ms() + DEGRADED_FOR_MS + 1));
        supervisor.abort();
    }

    #[test]
    fn a_worker_never_failed_is_not_degraded() {
        let workers = Workers::default();
        workers.started("watcher 31337");
        assert!(!workers.degraded(now_ms()));
        assert_eq!(workers.report()["watcher 31337"], WorkerState::default());
    }
}
