//! Convergence when webhooks are late or lost: every interval, the orders the gateway may still
//! change are asked about one by one with the gateway's documented order query, at
//! reconciliation priority (order creation goes first, and the budget keeps the calls under the
//! gateway's limit), and what the gateway says is applied as a webhook would be. Each round also
//! settles unfinished checkouts by the clock. A failed round backs off with jitter; nothing it
//! could not read changes anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use usdt_checkout_protocol::backoff::full_jitter;

use crate::checkouts::{Checkouts, Source};
use crate::gateway::{GatewayClient, GatewayError, random};

/// Orders asked about per round at most: the documented queries take one order each (see
/// [`choose`] for which).
const PER_ROUND: usize = 30;
/// The orders a round chooses among, newest first: far more than any shop has open at once.
const CANDIDATES: u32 = 20_000;

/// The orders a round asks about, from `candidates` (each with whether it is still open):
/// two thirds of the round for open orders (a shopper waits, and the gateway may pay them any
/// moment), the rest for those past their time (watched for late payments), either share
/// taking what the other leaves; within each, never asked first, then least recently asked
/// (`asked`: when each was last asked), so a new order is asked in the next round and every
/// order is reached in turn, however many there are.
pub fn choose(
    candidates: &[(String, bool)],
    asked: &HashMap<String, u64>,
    n: usize,
) -> Vec<String> {
    let by_turn = |open: bool| {
        let mut group: Vec<&String> = candidates
            .iter()
            .filter(|(_, o)| *o == open)
            .map(|(order, _)| order)
            .collect();
        // Stable: among orders never asked, the newest (first in `candidates`) first.
        group.sort_by_key(|order| asked.get(*order).copied().unwrap_or(0));
        group
    };
    let (open, late) = (by_turn(true), by_turn(false));
    let late_share = (n / 3).min(late.len());
    let open_share = (n - late_share).min(open.len());
    let late_share = (n - open_share).min(late.len());
    open.into_iter()
        .take(open_share)
        .chain(late.into_iter().take(late_share))
        .cloned()
        .collect()
}

/// Reconciles every `interval` until the process stops.
pub async fn run(checkouts: Arc<Checkouts>, gateway: Arc<GatewayClient>, interval: Duration) {
    let mut failures = 0u32;
    let mut asked = HashMap::new();
    loop {
        let pause = match round(&checkouts, &gateway, &mut asked).await {
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
pub async fn round(
    checkouts: &Checkouts,
    gateway: &GatewayClient,
    asked: &mut HashMap<String, u64>,
) -> Result<(), String> {
    checkouts.settle_due().await.map_err(|e| e.to_string())?;
    let candidates = checkouts
        .unfinished_orders(CANDIDATES)
        .await
        .map_err(|e| e.to_string())?;
    // Forget what no longer needs asking.
    let current: std::collections::HashSet<&String> = candidates.iter().map(|(o, _)| o).collect();
    asked.retain(|order, _| current.contains(order));
    // What the chain or a webhook says needs the gateway's word goes first.
    let urgent: Vec<String> = checkouts
        .take_urgent()
        .into_iter()
        .filter(|order| current.contains(order))
        .collect();
    let rest = choose(&candidates, asked, PER_ROUND.saturating_sub(urgent.len()));
    for order_no in urgent
        .iter()
        .chain(rest.iter().filter(|o| !urgent.contains(o)))
    {
        asked.insert(order_no.clone(), crate::clock::now_ms());
        ask(checkouts, gateway, order_no).await?;
    }
    Ok(())
}

/// Asks the gateway about one order and applies what it says of it.
pub async fn ask(
    checkouts: &Checkouts,
    gateway: &GatewayClient,
    order_no: &str,
) -> Result<(), String> {
    let reports = match gateway.order_status(order_no).await {
        Ok(reports) => reports,
        // An order the gateway does not know (yet) is not an error.
        Err(GatewayError::Rejected { status: 404, .. }) => return Ok(()),
        // An answer that cannot be read skips this order, not the round's others.
        Err(GatewayError::Garbage(e)) => {
            tracing::warn!("the gateway's answer about {order_no} cannot be read: {e}");
            return Ok(());
        }
        Err(e) => return Err(e.to_string()),
    };
    for report in reports
        .iter()
        .filter(|r| r.order_no.as_deref() == Some(order_no))
    {
        checkouts
            .apply_report(report, Source::Reconciler)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders(open: usize, late: usize) -> Vec<(String, bool)> {
        (0..open)
            .map(|i| (format!("open-{i}"), true))
            .chain((0..late).map(|i| (format!("late-{i}"), false)))
            .collect()
    }

    #[test]
    fn a_new_order_is_asked_in_the_next_round_however_many_wait() {
        let mut candidates = orders(1_400, 100);
        let mut asked: HashMap<String, u64> = candidates
            .iter()
            .map(|(order, _)| (order.clone(), 1))
            .collect();
        candidates.insert(0, ("new".into(), true));
        let round = choose(&candidates, &asked, 30);
        assert_eq!(round[0], "new");
        assert_eq!(round.len(), 30);
        assert_eq!(round.iter().filter(|o| o.starts_with("late")).count(), 10);
        asked.insert("new".into(), 2);
        assert!(!choose(&candidates, &asked, 30).contains(&"new".to_string()));
    }

    #[test]
    fn every_order_is_reached_in_turn() {
        let candidates = orders(100, 0);
        let mut asked = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for round in 1..=4 {
            for order in choose(&candidates, &asked, 30) {
                asked.insert(order.clone(), round);
                seen.insert(order);
            }
        }
        assert_eq!(seen.len(), 100, "four rounds of 30 reach all 100");
    }

    #[test]
    fn a_share_unused_by_one_group_goes_to_the_other() {
        assert_eq!(choose(&orders(5, 100), &HashMap::new(), 30).len(), 30);
        let only_late = choose(&orders(0, 100), &HashMap::new(), 30);
        assert_eq!(only_late.len(), 30);
        assert_eq!(choose(&orders(100, 2), &HashMap::new(), 30).len(), 30);
    }
}
