//! Shoppers long-polling their checkouts' status, at scale: one checkout server on SQLite, then
//! three servers sharing one PostgreSQL database, each with the sandbox gateway on anvil, all on
//! this machine. Prints figures; asserts nothing.
//!
//! `cargo bench -p usdt-checkout-server --bench status_load -- [--shoppers N] [--seconds S]`
//! (defaults: 10,000 shoppers for 60 s on each setup).
//!
//! Each shopper holds one long poll at a time (`?wait=20` with the last ETag), as the widget
//! does, on a server of its own (shoppers are dealt to servers in turn, as a load balancer
//! would). Every 3 s a payment of 1 USDT arrives for one of the checkouts, so the shoppers
//! polling it are woken. Measured:
//! - a poll answered at once (a shopper's first, with no ETag): latency p50/p99;
//! - a payment to each of its shoppers seeing it: p50/p99, the chain, the watcher and the wake
//!   of every server's long polls included (on three servers, through Postgres's NOTIFY);
//! - polls answered a second, all kinds; failed polls;
//! - gateway calls a minute (all servers together, the most seen) and 429s;
//! - each server's resident memory at the end.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Checkouts the shoppers share: within a minute's gateway budget to create.
const CHECKOUTS: usize = 40;
const LONG_POLL_SECONDS: u64 = 20;

struct Figures {
    setup: String,
    immediate: Vec<u64>,
    seen: Vec<u64>,
    answered: u64,
    failed: u64,
    seconds: f64,
    gateway_calls: u64,
    refusals: u64,
    rss_kib: Vec<u64>,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn run(db: Db, servers: usize, shoppers: usize, seconds: u64) -> Figures {
    let name = format!("bench-{servers}");
    let world = Arc::new(
        world_with(
            &name,
            Storefront {
                db,
                ..Storefront::default()
            },
        )
        .await,
    );
    let replicas: Vec<CheckoutServer> = (1..servers).map(|_| world.replica()).collect();
    let urls: Vec<String> = std::iter::once(world.server.url.clone())
        .chain(replicas.iter().map(|r| r.url.clone()))
        .collect();
    let mut views = vec![];
    for i in 0..CHECKOUTS {
        let item = if i % 2 == 0 { "tee" } else { "mug" };
        views.push(
            world
                .checkout(item, &format!("bench-{servers}-{i:03}"))
                .await,
        );
    }
    let ids: Vec<String> = views
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(shoppers)
        .timeout(Duration::from_secs(LONG_POLL_SECONDS + 15))
        .build()
        .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    // When each checkout last changed (the payment's return), by its id.
    let paid_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tasks = Vec::with_capacity(shoppers);
    for shopper in 0..shoppers {
        let server = urls[shopper % urls.len()].clone();
        let id = ids[shopper % CHECKOUTS].clone();
        let (http, paid_at) = (http.clone(), paid_at.clone());
        tasks.push(tokio::spawn(async move {
            // Arriving over the first five seconds.
            tokio::time::sleep(Duration::from_millis((shopper as u64 * 7919) % 5_000)).await;
            let url = format!("{server}/api/checkouts/{id}?wait={LONG_POLL_SECONDS}");
            let (mut immediate, mut seen, mut answered, mut failed) = (vec![], vec![], 0u64, 0u64);
            let mut etag: Option<String> = None;
            // The payment last timed: a later change (its confirmations) is not its news.
            let mut counted: Option<Instant> = None;
            while Instant::now() < deadline {
                let mut request = http.get(&url);
                if let Some(tag) = &etag {
                    request = request.header("if-none-match", tag);
                }
                let sent = Instant::now();
                match request.send().await {
                    Ok(answer) if answer.status() == 200 || answer.status() == 304 => {
                        answered += 1;
                        if answer.status() == 200 {
                            etag = answer
                                .headers()
                                .get("etag")
                                .map(|v| v.to_str().unwrap().to_owned());
                            let _ = answer.bytes().await;
                            if etag.is_some() && immediate.is_empty() {
                                immediate.push(sent.elapsed().as_micros() as u64);
                            } else if let Some(&at) = paid_at.lock().unwrap().get(&id)
                                && counted != Some(at)
                            {
                                seen.push(at.elapsed().as_micros() as u64);
                                counted = Some(at);
                            }
                        }
                    }
                    _ => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            (immediate, seen, answered, failed)
        }));
    }

    // Payments arrive, and the gateway's view of the servers is sampled.
    let (mut gateway_calls, mut refusals) = (0u64, 0u64);
    let mut next = 0;
    while Instant::now() + Duration::from_secs(3) < deadline {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let view = &views[next % CHECKOUTS];
        next += 1;
        world.pay(view, json!({"amount": "1"})).await;
        paid_at
            .lock()
            .unwrap()
            .insert(view["id"].as_str().unwrap().to_owned(), Instant::now());
        let mut calls = 0;
        for url in &urls {
            let health: Value = world
                .http
                .get(format!("{url}/healthz"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            calls += health["gatewayCallsInLastMinute"].as_u64().unwrap_or(0);
            refusals += health["gatewayRateLimitRefusals"].as_u64().unwrap_or(0);
        }
        gateway_calls = gateway_calls.max(calls);
    }

    let mut figures = Figures {
        setup: match db {
            Db::Sqlite => format!("{servers} server on SQLite"),
            Db::Postgres => format!("{servers} servers on one Postgres"),
        },
        immediate: vec![],
        seen: vec![],
        answered: 0,
        failed: 0,
        seconds: 0.0,
        gateway_calls,
        refusals,
        rss_kib: std::iter::once(world.server.pid())
            .chain(replicas.iter().map(CheckoutServer::pid))
            .map(|pid| pid.map(rss_kib).unwrap_or(0))
            .collect(),
    };
    for task in tasks {
        let (immediate, seen, answered, failed) = task.await.unwrap();
        figures.immediate.extend(immediate);
        figures.seen.extend(seen);
        figures.answered += answered;
        figures.failed += failed;
    }
    figures.seconds = started.elapsed().as_secs_f64();
    figures.immediate.sort_unstable();
    figures.seen.sort_unstable();
    figures
}

fn print(all: &[Figures], shoppers: usize) {
    println!(
        "\n{shoppers} shoppers long-polling ({LONG_POLL_SECONDS} s) {CHECKOUTS} checkouts; a 1 USDT payment every 3 s\n"
    );
    println!(
        "| setup | first poll p50 / p99 (ms) | payment seen p50 / p99 (ms) | polls/s | failed | gateway calls/min (most) | 429s | RSS per server (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for f in all {
        let rss: Vec<String> = f
            .rss_kib
            .iter()
            .map(|k| format!("{:.0}", *k as f64 / 1024.0))
            .collect();
        println!(
            "| {} | {:.1} / {:.1} | {:.0} / {:.0} | {:.0} | {} | {} | {} | {} |",
            f.setup,
            percentile(&f.immediate, 0.5),
            percentile(&f.immediate, 0.99),
            percentile(&f.seen, 0.5),
            percentile(&f.seen, 0.99),
            f.answered as f64 / f.seconds,
            f.failed,
            f.gateway_calls,
            f.refusals,
            rss.join(", "),
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let shoppers = option("--shoppers", 10_000) as usize;
    let seconds = option("--seconds", 60);
    let one = run(Db::Sqlite, 1, shoppers, seconds).await;
    let three = run(Db::Postgres, 3, shoppers, seconds).await;
    print(&[one, three], shoppers);
}
