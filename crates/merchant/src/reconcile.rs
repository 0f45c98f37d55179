//! Convergence when webhooks are late or lost: every interval, the orders the gateway may still
//! change are asked about in list queries of up to 100, at reconciliation priority (order creation
//! goes first), and what the gateway says is applied as a webhook would be. A failed round backs
//! off with jitter; nothing it could not read changes anything.

use std::sync::Arc;
use std::time::Duration;

use usdt_checkout_protocol::backoff::full_jitter;

use crate::checkouts::{Checkouts, Source};
use crate::gateway::{GatewayClient, random};

const BATCH: usize = 100;
/// Orders asked about per round at most: ten list calls.
const PER_ROUND: u32 = 1_000;

/// Reconciles every `interval` until the process stops.
pub async fn run(checkouts: Arc<Checkouts>, gateway: Arc<GatewayClient>, interval: Duration) {
    let mut failures = 0u32;
    loop {
        let pause = match round(&checkouts, &gateway).await {
            Ok(()) => {
                failures = 0;
                interval
            }
            Err(error) => {
                tracing::warn!("reconciling with the gateway: {error}");
                failures += 1;
                interval
                    + full_jitter(
                        failures,
                        Duration::from_secs(1),
                        Duration::from_secs(60),
                        random(),
                    )
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// One pass over the orders the gateway may still change.
pub async fn round(checkouts: &Checkouts, gateway: &GatewayClient) -> Result<(), String> {
    let open = checkouts
        .unfinished_orders(PER_ROUND)
        .await
        .map_err(|e| e.to_string())?;
    for batch in open.chunks(BATCH) {
        let orders = gateway.orders(batch).await.map_err(|e| e.to_string())?;
        for order in orders {
            match crate::report::from_order(&order) {
                Ok(report) => {
                    checkouts
                        .apply(&report, Source::Reconciler)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Err(e) => tracing::warn!("gateway order {}: {e}; skipped", order.order_no),
            }
        }
    }
    Ok(())
}
