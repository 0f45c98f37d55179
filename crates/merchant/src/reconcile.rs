//! Convergence when webhooks are late or lost: every interval, the orders the gateway may still
//! change are asked about in list queries of up to 100, at reconciliation priority (order creation
//! goes first), and what the gateway says is applied as a webhook would be. A failed round backs
//! off with jitter; nothing it could not read changes anything.

use std::sync::Arc;
use std::time::Duration;

use usdt_checkout_protocol::backoff::full_jitter;

use crate::app::App;
use crate::gateway::random;
use crate::store::Applied;

const BATCH: usize = 100;
/// Orders asked about per round at most: ten list calls.
const PER_ROUND: u32 = 1_000;

pub async fn run(app: Arc<App>) {
    let mut failures = 0u32;
    loop {
        let pause = match round(&app).await {
            Ok(()) => {
                failures = 0;
                app.config.reconcile_interval
            }
            Err(error) => {
                tracing::warn!("reconciling with the gateway: {error}");
                failures += 1;
                app.config.reconcile_interval
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

pub async fn round(app: &App) -> Result<(), String> {
    let open = app
        .store
        .unfinished_orders(PER_ROUND)
        .await
        .map_err(|e| e.to_string())?;
    for batch in open.chunks(BATCH) {
        let orders = app.gateway.orders(batch).await.map_err(|e| e.to_string())?;
        for order in orders {
            let report = match crate::report::from_order(&order) {
                Ok(report) => report,
                Err(e) => {
                    tracing::warn!("gateway order {}: {e}; skipped", order.order_no);
                    continue;
                }
            };
            match app
                .store
                .apply(&report, None)
                .await
                .map_err(|e| e.to_string())?
            {
                Applied::Changed(changed) => {
                    tracing::info!(
                        "checkout {}: {} (reconciled)",
                        changed.id,
                        changed.state.as_str()
                    );
                    app.checkouts.put(*changed);
                    app.fulfillment_due.notify_one();
                }
                Applied::Unchanged | Applied::Duplicate | Applied::UnknownOrder => {}
            }
        }
    }
    Ok(())
}
