//! Convergence when webhooks are late or lost: every interval, the orders the gateway may still
//! change are asked about one by one with the gateway's documented order query, at
//! reconciliation priority (order creation goes first, and the budget keeps the calls under the
//! gateway's limit), and what the gateway says is applied as a webhook would be. Each round also
//! settles unfinished checkouts by the clock. A failed round backs off with jitter; nothing it
//! could not read changes anything.

use std::sync::Arc;
use std::time::Duration;

use usdt_checkout_protocol::backoff::full_jitter;

use crate::checkouts::{Checkouts, Source};
use crate::gateway::{GatewayClient, GatewayError, random};

/// Orders asked about per round at most: the documented queries take one order each, and the
/// least recently changed go first, so every order is reached in turn.
const PER_ROUND: u32 = 30;

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
    checkouts.settle_due().await.map_err(|e| e.to_string())?;
    let open = checkouts
        .unfinished_orders(PER_ROUND)
        .await
        .map_err(|e| e.to_string())?;
    for order_no in open {
        let reports = match gateway.order_status(&order_no).await {
            Ok(reports) => reports,
            // An order the gateway does not know (yet) is not an error of the round.
            Err(GatewayError::Rejected { status: 404, .. }) => continue,
            Err(e) => return Err(e.to_string()),
        };
        for report in reports
            .iter()
            .filter(|r| r.order_no.as_deref() == Some(order_no.as_str()))
        {
            checkouts
                .apply_report(report, Source::Reconciler)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
