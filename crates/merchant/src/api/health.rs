//! `/healthz`: what the server's workers, database, chains and gateway say of themselves.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;

use crate::app::App;
use crate::clock::now_ms;

/// How long `/healthz` waits for the database to answer before it says it is unavailable.
const HEALTH_PING: Duration = Duration::from_secs(2);

/// `ok`, or `degraded` while a background worker failed in the last minutes (it is being
/// restarted; `workers` says which, how often, and why), while the database does not answer
/// (`database.available`) or refuses writes, or a watched chain is stuck.
pub(super) async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let failing = app.checkouts.write_health().failing();
    let now = now_ms();
    let chains = app.checkouts.chain_health.report(now);
    let stuck = chains
        .values()
        .any(|c| c.state == crate::chain_health::State::Stuck);
    // Asked now, briefly: a database that stopped shows here even while nothing is written.
    let unavailable = match &app.store {
        None => None,
        Some(store) => match tokio::time::timeout(HEALTH_PING, store.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} s", HEALTH_PING.as_secs())),
        },
    };
    let degraded = app.workers.degraded(now) || failing.is_some() || stuck || unavailable.is_some();
    let mut database = match failing {
        // Failing until a write succeeds again.
        None => serde_json::json!({"writes": "ok"}),
        Some((at, error)) => serde_json::json!({
            "writes": "failing",
            "lastFailure": {"at": at, "error": error},
        }),
    };
    database["available"] = unavailable.is_none().into();
    if let Some(error) = unavailable {
        database["error"] = error.into();
    }
    Json(serde_json::json!({
        "status": if degraded { "degraded" } else { "ok" },
        "database": database,
        "workers": app.workers.report(),
        // The chains this server watches (another server may watch the others: `roles`).
        "chains": chains
            .iter()
            .map(|(chain, report)| (chain.0.to_string(), report))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "gateway": app.gateway.health(),
        // Every gateway call paused after a 429 or 418 (new checkouts refused), until when.
        "gatewayPause": app.gateway.paused_until().map(|until| serde_json::json!({
            "until": until,
            "reason": match app.gateway.health() {
                usdt_checkout_protocol::checkout::GatewayHealth::Blocked { .. } => "blocked",
                _ => "rate_limited",
            },
        })),
        "gatewayCallsInLastMinute": app.gateway.calls_in_last_minute(),
        "gatewayRateLimitRefusals": app.gateway.rate_limit_refusals(),
        "roles": app.roles.held(),
        // Status polls held open now, and how many may be (past it, answered at once).
        "longPolls": {"held": app.long_polls.held(), "cap": app.long_polls.cap()},
    }))
}
