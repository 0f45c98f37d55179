//! `/metrics`: what an operator's Prometheus scrapes, in the OpenMetrics text format, through
//! `prometheus-client`. Served behind the admin token ([`routes`]), and without it on
//! `metrics_listen` when that is set, an address on a private network ([`private_router`]).
//!
//! What the server already keeps (the long polls held, each chain's watcher and RPC calls, the
//! gateway budget and its pauses, the checkouts in memory, the outbox in the database) is read
//! here when scraped, never counted twice; events nothing kept are counted by
//! [`crate::metrics`]. Every label is bounded: a chain, a method, an outcome or a state.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::app::App;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::metrics::Labels;

/// OpenMetrics' content type, which Prometheus asks for and reads.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scrape waits for the database (the outbox's figures) before it goes without
/// them: well within Prometheus' default scrape timeout of 10 s.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// `GET /metrics`: every series, as of now.
pub async fn scrape(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let mut registry = Registry::with_prefix("checkout");
    crate::metrics::register(&mut registry);
    register_state(&mut registry, &app).await;
    let mut text = String::new();
    // Writing into a String fails only on a label that cannot be written: a bug, said so.
    encode(&mut text, &registry).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// `GET /metrics` behind the admin API's gate: off (404) without `admin.token`, 401 without it.
pub fn routes(app: Arc<App>) -> axum::Router<Arc<App>> {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .route_layer(axum::middleware::from_fn_with_state(
            app,
            super::admin::require_admin,
        ))
}

/// `/metrics` alone, without the admin token: for `metrics_listen`, an address only the
/// operator's network reaches.
pub fn private_router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(app)
}

/// The figures the server keeps anyway, read now.
async fn register_state(registry: &mut Registry, app: &App) {
    registry.register(
        "long_polls_held",
        "Status polls held open now",
        gauge(app.long_polls.held()),
    );
    registry.register(
        "long_polls_cap",
        "Status polls that may be held at once",
        gauge(app.long_polls.cap()),
    );

    let used = app.gateway.calls_in_last_minute();
    registry.register(
        "gateway_budget_left",
        "Gateway calls this server may still make in the current minute",
        gauge(app.config.requests_per_minute.saturating_sub(used)),
    );
    registry.register(
        "gateway_pauses",
        "Times the gateway paused this server (429 or 418)",
        ConstCounter::new(app.gateway.rate_limit_refusals()),
    );
    let paused_for = app
        .gateway
        .paused_until()
        .map_or(0.0, |until| until.saturating_sub(now_ms()) as f64 / 1000.0);
    registry.register_with_unit(
        "gateway_paused",
        "How long every gateway call is still paused for (0: not paused)",
        Unit::Seconds,
        seconds(paused_for),
    );

    register_chains(registry, app);

    let by_state: Family<Labels, Gauge> = Family::default();
    for (state, count) in app.checkouts.held_by_state() {
        by_state
            .get_or_create(&vec![("state", state.to_owned())])
            .set(count as i64);
    }
    registry.register(
        "checkouts",
        "Checkouts held in memory (the current ones), by state",
        by_state,
    );

    if let Some(store) = &app.store {
        match tokio::time::timeout(DATABASE_WAIT, store.outbox_backlog()).await {
            Ok(Ok((depth, oldest))) => {
                registry.register(
                    "fulfillment_outbox_depth",
                    "Fulfillment events not yet delivered",
                    gauge(depth),
                );
                registry.register_with_unit(
                    "fulfillment_outbox_oldest_age",
                    "Age of the oldest fulfillment event not yet delivered (0: none)",
                    Unit::Seconds,
                    gauge(oldest.map_or(0, |at| now_ms().saturating_sub(at) / 1000)),
                );
            }
            // Left out of this scrape (Prometheus sees the series go stale); the write
            // failures and `/readyz` say why.
            Ok(Err(e)) => tracing::warn!("metrics: reading the outbox: {e}"),
            Err(_) => tracing::warn!("metrics: the outbox not read within {DATABASE_WAIT:?}"),
        }
    }
}

/// Each watched chain: its watcher's head and lag (from [`crate::chain_health`]), and its
/// client's RPC calls.
fn register_chains(registry: &mut Registry, app: &App) {
    let head: Family<Labels, Gauge> = Family::default();
    let behind: Family<Labels, Gauge> = Family::default();
    let since_progress: Family<Labels, Gauge> = Family::default();
    for (chain, report) in app.checkouts.chain_health.report(now_ms()) {
        let labels = vec![("chain", chain.0.to_string())];
        if let Some(block) = report.head {
            head.get_or_create(&labels).set(block as i64);
        }
        if let Some(blocks) = report.blocks_behind {
            behind.get_or_create(&labels).set(blocks as i64);
        }
        since_progress
            .get_or_create(&labels)
            .set(report.seconds_since_progress as i64);
    }
    registry.register(
        "chain_head_block",
        "The highest block each chain's watcher has read",
        head,
    );
    registry.register(
        "chain_blocks_behind",
        "Blocks between each chain's head and what its watcher read, at its last read",
        behind,
    );
    registry.register_with_unit(
        "chain_since_progress",
        "Time since each chain's watcher last made progress",
        Unit::Seconds,
        since_progress,
    );
    // Fresh each scrape: the count added once is the count the client keeps.
    let rpc: Family<Labels, Counter> = Family::default();
    for (chain, client) in &app.chains {
        for ((method, outcome), calls) in client.calls_by_outcome() {
            rpc.get_or_create(&vec![
                ("chain", chain.0.to_string()),
                ("method", method.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc_by(calls);
        }
    }
    registry.register(
        "chain_rpc_calls",
        "JSON-RPC calls to each chain's nodes, by method and outcome, retries included",
        rpc,
    );
}

fn gauge(value: impl TryInto<i64>) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value.try_into().unwrap_or(i64::MAX));
    gauge
}

fn seconds(value: f64) -> Gauge<f64, std::sync::atomic::AtomicU64> {
    let gauge = Gauge::default();
    gauge.set(value);
    gauge
}
