//! `/healthz`: what the server's workers, database, chains and gateway say of themselves, for a
//! person. `/livez` and `/readyz`: what a balancer or an orchestrator asks, answered by status
//! alone: is the process answering (restart it if not), and can it take shoppers' writes (send
//! it none if not).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::clock::now_ms;
use crate::store::NotWritable;

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

/// `/livez`: 200 whenever the process answers HTTP. It asks nothing else on purpose: a database
/// or gateway outage is no reason to restart the server, which would only lose its held polls.
pub(super) async fn live() -> &'static str {
    "live\n"
}

/// Why `/readyz` says not ready: a 503 with `{"status": "not_ready", "reason", "error"}`.
#[derive(Debug)]
pub enum NotReady {
    /// This server was started without a database (only tests build one so).
    NoDatabase,
    /// The database's schema lacks a migration this server needs.
    MigrationsBehind(String),
    /// A write did not commit: the database is unreachable, full, read-only, or locked.
    DatabaseUnwritable(String),
}

impl IntoResponse for NotReady {
    fn into_response(self) -> Response {
        let (reason, error) = match self {
            NotReady::NoDatabase => ("no_database", "this server has no database".to_owned()),
            NotReady::MigrationsBehind(e) => ("migrations_behind", e),
            NotReady::DatabaseUnwritable(e) => ("database_unwritable", e),
        };
        let body = serde_json::json!({"status": "not_ready", "reason": reason, "error": error});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// `/readyz`: 200 when this server can take writes now: its configuration was valid (it would
/// not have started otherwise), its database is migrated as far as it needs, and a write
/// commits within 2 s ([`crate::store::Store::writable`]). A replica that lost its database
/// says 503 with why, so the balancer sends its shoppers to another until it is back.
pub(super) async fn ready(
    State(app): State<Arc<App>>,
) -> Result<Json<serde_json::Value>, NotReady> {
    let store = app.store.as_ref().ok_or(NotReady::NoDatabase)?;
    match tokio::time::timeout(HEALTH_PING, store.writable()).await {
        Ok(Ok(())) => Ok(Json(serde_json::json!({
            "status": "ready",
            "database": "writable",
            "config": "valid",
        }))),
        Ok(Err(e @ NotWritable::Behind { .. })) => Err(NotReady::MigrationsBehind(e.to_string())),
        Ok(Err(NotWritable::Store(e))) => Err(NotReady::DatabaseUnwritable(e.to_string())),
        Err(_) => Err(NotReady::DatabaseUnwritable(format!(
            "no write committed within {} s",
            HEALTH_PING.as_secs()
        ))),
    }
}
