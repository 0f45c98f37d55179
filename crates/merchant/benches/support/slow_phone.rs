//! Time to QR on a slow phone: first visits with the CPU slowed 4x and DevTools' "Fast 3G"
//! network (each request 562.5 ms late, 180 kB/s down), as a mid-range phone on a mobile
//! network; held to the goals of a first paint there. A row of the time-to-QR table, then
//! whether each goal is met.

use std::time::Duration;

use serde_json::json;
use usdt_checkout_testkit::browser::Network;

use super::{Stand, previous, spread};

const LABEL: &str = "4x slower and Fast 3G (a mid-range phone on a mobile network)";
/// The goals, p50: the chooser shown within this of navigation, the QR code within this of
/// Continue (ms).
const CHOOSER_MS: f64 = 1_500.0;
const QR_MS: f64 = 300.0;

/// `loads` first visits on the slow phone; returns the table's row, a blank line, and the
/// goals met or missed. Leaves the browser at full speed.
pub async fn run(stand: &Stand, loads: usize) -> String {
    stand.browser.throttle_cpu(4).await;
    stand.browser.emulate_network(Some(Network::FAST_3G)).await;
    let (mut chooser, mut qr, mut last) = (vec![], vec![], String::new());
    for _ in 0..loads {
        let (load, order) = stand.load().await;
        chooser.push(load.chooser);
        qr.push(load.qr);
        last = waterfall(stand, load.chooser).await;
        // As at the other speeds: the order cancelled, visits a second apart.
        stand
            .sandbox(&format!("/sandbox/orders/{order}/cancel"), json!({}))
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stand.browser.emulate_network(None).await;
    stand.browser.throttle_cpu(1).await;
    // Each figure beside the previous run's, under the time-to-QR table's column names.
    let before = previous::row("### Time to QR", LABEL);
    let row = format!(
        "| {LABEL} | {} | {} |",
        previous::beside(spread(&mut chooser), before.get("navigation → chooser")),
        previous::beside(
            spread(&mut qr),
            before.get("Continue → QR code (order created at the gateway)")
        )
    );
    let goals = [
        ("navigation → chooser", p50(&chooser), CHOOSER_MS),
        ("Continue → QR code", p50(&qr), QR_MS),
    ]
    .map(|(what, p50, goal)| {
        format!(
            "- Slow phone, {what}: p50 {p50:.0} ms, goal {goal:.0} ms: {}.",
            previous::verdict(p50 <= goal)
        )
    });
    format!("{row}\n\n{}\n\n{last}", goals.join("\n"))
}

/// Where the last visit's time went: the page and each request it made, from navigation to its
/// last byte (ms), in the order they started, and when the chooser showed.
async fn waterfall(stand: &Stand, chooser: f64) -> String {
    let entries = stand
        .browser
        .script(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
               .map((e) => [e.name, e.startTime, e.responseEnd]);",
            vec![],
        )
        .await;
    let mut steps: Vec<(f64, String)> = entries
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let (url, start, end) = (entry[0].as_str()?, entry[1].as_f64()?, entry[2].as_f64()?);
            Some((start, format!("`{}` {start:.0} → {end:.0}", shown(url))))
        })
        .collect();
    steps.push((chooser, format!("**chooser shown** {chooser:.0}")));
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let steps: Vec<String> = steps.into_iter().map(|(_, step)| step).collect();
    format!(
        "Where a slow phone's visit waits (the last one; ms from navigation, each request from its \
         start to its last byte): {}.\n",
        steps.join("; ")
    )
}

/// A request's URL as the waterfall names it: its path and query, the hashes in the widget's
/// file names said as `[hash]`.
fn shown(url: &str) -> String {
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
        .unwrap_or(url);
    path.split('.')
        .map(|part| {
            let hashed = part.len() == 16 && part.bytes().all(|b| b.is_ascii_hexdigit());
            if hashed { "[hash]" } else { part }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The median of sorted `values`.
fn p50(values: &[f64]) -> f64 {
    values[((values.len() as f64 - 1.0) * 0.5).round() as usize]
}
