//! What `/metrics` counts as it happens (a poll answered, a gateway call, a webhook, a
//! delivery, a database write), each by one call at the one place it happens. The figures the
//! server keeps anyway are read when scraped, by the `/metrics` handler (`api::metrics`). These
//! counters are the process's: every server sharing a database counts its own, as Prometheus
//! expects of each scraped target.
//!
//! Every label is bounded: an endpoint, an outcome from a fixed set, never an order, an
//! address or an error text.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// A series' labels: each bounded (see the module's note).
pub type Labels = Vec<(&'static str, String)>;

/// The events counted as they happen (see the module's note).
struct Events {
    polls_answered: Counter,
    gateway_calls: Family<Labels, Counter>,
    webhooks: Family<Labels, Counter>,
    deliveries: Family<Labels, Counter>,
    write_seconds: Histogram,
    write_failures: Counter,
}

static EVENTS: LazyLock<Events> = LazyLock::new(|| Events {
    polls_answered: Counter::default(),
    gateway_calls: Family::default(),
    webhooks: Family::default(),
    deliveries: Family::default(),
    // 0.5 ms to about 16 s: a local SQLite commit is well under a millisecond, a Postgres one
    // across a network a few, and one that queued behind a long transaction far more.
    write_seconds: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
    write_failures: Counter::default(),
});

/// A held status poll was answered: its checkout changed, or its wait ran out.
pub fn poll_answered() {
    EVENTS.polls_answered.inc();
}

/// A call was sent to the gateway's `endpoint` (a path of its API, without the query), with
/// this `outcome` (`ok`, or the gateway error's kind).
pub fn gateway_call(endpoint: &str, outcome: &'static str) {
    EVENTS
        .gateway_calls
        .get_or_create(&vec![
            ("endpoint", endpoint.to_owned()),
            ("outcome", outcome.to_owned()),
        ])
        .inc();
}

/// A webhook arrived: its signature and freshness `verified`, or refused.
pub fn webhook(verified: bool) {
    let outcome = if verified { "verified" } else { "refused" };
    EVENTS
        .webhooks
        .get_or_create(&vec![("outcome", outcome.to_owned())])
        .inc();
}

/// A fulfillment event was sent to the shop, and `delivered` (a 2xx) or not.
pub fn delivery(delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    EVENTS
        .deliveries
        .get_or_create(&vec![("outcome", outcome.to_owned())])
        .inc();
}

/// A database write committed, having taken `took`.
pub fn write_committed(took: Duration) {
    EVENTS.write_seconds.observe(took.as_secs_f64());
}

/// A database write failed.
pub fn write_failed() {
    EVENTS.write_failures.inc();
}

/// Registers every counter of events, as they stand, for one scrape.
pub fn register(registry: &mut Registry) {
    let e = &*EVENTS;
    registry.register(
        "long_polls_answered",
        "Status polls held and then answered (a change, or the end of their wait)",
        e.polls_answered.clone(),
    );
    registry.register(
        "gateway_calls",
        "Calls sent to the gateway, by endpoint and outcome",
        e.gateway_calls.clone(),
    );
    registry.register(
        "webhooks",
        "Gateway webhooks received, by outcome (verified or refused)",
        e.webhooks.clone(),
    );
    registry.register(
        "fulfillment_deliveries",
        "Fulfillment events sent to the shop, by outcome (delivered or failed)",
        e.deliveries.clone(),
    );
    registry.register_with_unit(
        "database_write",
        "Database writes, from their start to their commit",
        Unit::Seconds,
        e.write_seconds.clone(),
    );
    registry.register(
        "database_write_failures",
        "Database writes that failed",
        e.write_failures.clone(),
    );
}
