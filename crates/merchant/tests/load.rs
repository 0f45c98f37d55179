//! A thousand widgets polling for a minute: every poll answered, and the gateway sees only the
//! server's own budgeted calls, never a 429. Poll latency percentiles are printed as figures (a
//! measurement, not an assertion). `LOAD_SECONDS` shortens or lengthens the run.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const POLLERS: usize = 1_000;
const CHECKOUTS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_thousand_pollers_for_a_minute_never_reach_the_gateway() {
    let w = Arc::new(world("load").await);
    let mut ids = Vec::new();
    let mut views = Vec::new();
    for i in 0..CHECKOUTS {
        let item = if i % 2 == 0 { "tee" } else { "mug" };
        let view = w.checkout(item, &format!("key-load-{i:05}")).await;
        ids.push(view["id"].as_str().unwrap().to_owned());
        views.push(view);
    }
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let run = Duration::from_secs(seconds);
    let deadline = Instant::now() + run;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(POLLERS)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let failures = Arc::new(AtomicU64::new(0));

    let mut pollers = Vec::new();
    for i in 0..POLLERS {
        let url = format!("{}/api/checkouts/{}", w.server.url, ids[i % CHECKOUTS]);
        let (http, failures) = (http.clone(), failures.clone());
        pollers.push(tokio::spawn(async move {
            // Spread the start, and poll about once a second, as the widget's first polls do.
            tokio::time::sleep(Duration::from_millis((i as u64 * 7) % 1_000)).await;
            let mut etag: Option<String> = None;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let mut request = http.get(&url);
                if let Some(tag) = &etag {
                    request = request.header("if-none-match", tag);
                }
                let started = Instant::now();
                match request.send().await {
                    Ok(response) if response.status() == 200 || response.status() == 304 => {
                        etag = response
                            .headers()
                            .get("etag")
                            .map(|v| v.to_str().unwrap().to_owned());
                        let _ = response.bytes().await;
                        latencies.push(started.elapsed().as_micros() as u64);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let pause = 900 + (i as u64 * 37) % 200;
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            latencies
        }));
    }

    // Meanwhile: payments change states, and the gateway's view of this server is sampled.
    let monitor = {
        let w = w.clone();
        tokio::spawn(async move {
            let (mut most_calls, mut refusals) = (0u64, 0u64);
            while Instant::now() < deadline {
                let health: Value = w
                    .http
                    .get(format!("{}/healthz", w.server.url))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                most_calls = most_calls.max(health["gatewayCallsInLastMinute"].as_u64().unwrap());
                refusals = refusals.max(health["gatewayRateLimitRefusals"].as_u64().unwrap());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            (most_calls, refusals)
        })
    };
    tokio::time::sleep(run / 6).await;
    for view in views.iter().take(10) {
        w.pay(view, json!({})).await;
    }
    w.mine().await;

    let mut latencies: Vec<u64> = Vec::new();
    for poller in pollers {
        latencies.extend(poller.await.unwrap());
    }
    let (most_calls, refusals) = monitor.await.unwrap();
    latencies.sort_unstable();
    let percentile =
        |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "load: {POLLERS} pollers on {CHECKOUTS} checkouts for {seconds} s: {} polls answered ({:.0}/s), \
         latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         gateway calls in any minute at most {most_calls} (budget 90); 429/418 received {refusals}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(1.0),
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "every poll is answered"
    );
    assert!(
        latencies.len() >= POLLERS * seconds as usize / 2,
        "pollers kept polling"
    );
    assert!(
        most_calls <= 90,
        "the gateway saw {most_calls} calls in a minute"
    );
    assert_eq!(refusals, 0, "the gateway never had to say 429 or 418");
    let paid = w.status(&ids[0]).await;
    assert_ne!(paid["state"], "waiting", "payments went through under load");
}
