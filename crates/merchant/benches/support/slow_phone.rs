//! Time to QR on a slow phone: first visits with the CPU slowed 4x and DevTools' "Fast 3G"
//! network (each request 562.5 ms late, 180 kB/s down), as a mid-range phone on a mobile
//! network; held to the goals of a first paint there. A row of the time-to-QR table, then
//! whether each goal is met.

use std::time::Duration;

use serde_json::json;
use usdt_checkout_testkit::browser::Network;

use super::{Stand, spread};

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
    let (mut chooser, mut qr) = (vec![], vec![]);
    for _ in 0..loads {
        let (load, order) = stand.load().await;
        chooser.push(load.chooser);
        qr.push(load.qr);
        // As at the other speeds: the order cancelled, visits a second apart.
        stand
            .sandbox(&format!("/sandbox/orders/{order}/cancel"), json!({}))
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stand.browser.emulate_network(None).await;
    stand.browser.throttle_cpu(1).await;
    let row = format!(
        "| {LABEL} | {} | {} |",
        spread(&mut chooser),
        spread(&mut qr)
    );
    let goals = [
        ("navigation → chooser", p50(&chooser), CHOOSER_MS),
        ("Continue → QR code", p50(&qr), QR_MS),
    ]
    .map(|(what, p50, goal)| {
        format!(
            "- Slow phone, {what}: p50 {p50:.0} ms, goal {goal:.0} ms: {}.",
            if p50 <= goal { "met" } else { "missed" }
        )
    });
    format!("{row}\n\n{}\n", goals.join("\n"))
}

/// The median of sorted `values`.
fn p50(values: &[f64]) -> f64 {
    values[((values.len() as f64 - 1.0) * 0.5).round() as usize]
}
