//! What a shopper waits for, measured in headless Chromium against the whole stack on this
//! machine: the checkout server as built for benchmarks, the sandbox gateway, anvil, and the
//! built widget embedded in a storefront page. Prints Markdown; asserts nothing.
//!
//! `cargo bench -p usdt-checkout-server --bench checkout_timings -- [--loads N] [--payments N]`
//! (defaults: 20 loads at each CPU speed, 10 payments).
//!
//! - **Time to QR.** Every load is a first visit: the browser's cache and the page's storage are
//!   forgotten before it. Measured in the page (`performance.now()`, from navigation start): the
//!   chooser offering its networks, then Continue pressed to the QR code shown, which includes
//!   the order's creation at the gateway. At full speed, and with the CPU slowed 4x through the
//!   DevTools protocol, as a mid-range phone; then with DevTools' "Fast 3G" network besides, as
//!   that phone on a mobile network, held to a first paint's goals (`support/slow_phone.rs`).
//! - **Detection.** A payment mined to the widget showing it seen (confirming); then the block
//!   that confirms it mined to the widget showing paid. With anvil mining each transaction as it
//!   arrives (it answers `eth_sendTransaction` once mined), and with a block every 2 s and every
//!   12 s (`evm_setIntervalMining`; a block's arrival is when its receipt is first read, every
//!   5 ms). The transfer is sent 2 s after the QR code shows, as a shopper scanning it would:
//!   the widget's first poll is a second after the order. Clocks are the machine's one wall
//!   clock, read in the page (`Date.now()`) and here.
//!
//! Each figure is printed beside the previous run's (BENCHMARKS.md), with the budget it is held
//! to.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/previous.rs"]
mod previous;

use std::time::Duration;

use common::storefront::{Embed, world_with_storefront};
use common::*;
use serde_json::{Value, json};
use usdt_checkout_testkit::browser::Browser;
use usdt_checkout_testkit::{Client, eventually, now_ms};

/// Installed in every page before its own scripts: notes when the chooser, the QR code and each
/// state first show, once a frame.
const PROBE: &str = r#"(() => {
  window.timing = {};
  const tick = () => {
    const root = document.querySelector("usdt-checkout")?.shadowRoot;
    if (root) {
      if (!timing.chooser && root.querySelector("input[name=usdt-checkout-network]")
          && root.querySelector("button[type=submit]")) {
        timing.chooser = performance.now();
        root.addEventListener("click", (e) => {
          if (!timing.pressed && e.target.closest("button[type=submit]")) timing.pressed = performance.now();
        }, { capture: true });
      }
      if (timing.pressed && !timing.qr && root.querySelector("figure[role=img]")) timing.qr = performance.now();
      const state = root.querySelector("section")?.dataset.state;
      if (state && timing[state] === undefined) timing[state] = Date.now();
    }
    requestAnimationFrame(tick);
  };
  tick();
})();"#;

/// The detection budgets, p50 beyond the block (ms): the payment seen, and paid shown once the
/// block that confirms it is mined.
const SEEN_MS: f64 = 300.0;
const PAID_MS: f64 = 1_000.0;

/// How the chain mines: each transaction as it arrives, or a block every so many seconds.
#[derive(Clone, Copy)]
enum Mining {
    Each,
    Every(u64),
}

impl Mining {
    fn label(self) -> String {
        match self {
            Self::Each => "anvil mines each transaction".into(),
            Self::Every(seconds) => format!("a block every {seconds} s"),
        }
    }
}

/// One load: navigation to the chooser, and Continue to the QR code, in milliseconds.
struct Load {
    chooser: f64,
    qr: f64,
}

struct Stand {
    world: World,
    browser: Browser,
    origin: String,
}

impl Stand {
    async fn open() -> Self {
        // A shop's own settings: the tests' reconciler, every second, would spend the gateway's
        // budget the orders of fifty first visits need.
        let shop = Storefront {
            reconcile_interval_seconds: Some(15),
            ..Storefront::default()
        };
        let (world, origin) = world_with_storefront("timings", shop, Embed::Element).await;
        let browser = Browser::start(1280, 900).await;
        browser.before_each_page(PROBE).await;
        Self {
            world,
            browser,
            origin,
        }
    }

    async fn timing(&self, key: &str) -> f64 {
        let started = std::time::Instant::now();
        loop {
            let noted = self
                .browser
                .script(
                    &format!("return window.timing && window.timing.{key};"),
                    vec![],
                )
                .await;
            if let Some(at) = noted.as_f64() {
                return at;
            }
            if started.elapsed() > WAIT {
                let shown = self
                    .browser
                    .script(
                        "return document.querySelector('usdt-checkout')?.shadowRoot?.textContent;",
                        vec![],
                    )
                    .await;
                panic!("the page never noted {key}; it shows: {shown}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A first visit, to the QR code; returns its timings and the order the widget made.
    async fn load(&self) -> (Load, String) {
        self.browser.forget(&self.origin).await;
        self.browser.goto(&format!("{}/", self.origin)).await;
        let widget = self.browser.shadow_root("usdt-checkout").await;
        let chooser = self.timing("chooser").await;
        let go = self
            .browser
            .wait_for(&widget, "button[type=submit]", "Continue")
            .await;
        self.browser.click(&go).await;
        let qr = self.timing("qr").await - self.timing("pressed").await;
        let order = eventually("the widget to announce its order", WAIT, || async {
            let events = self
                .browser
                .script(
                    "return checkoutEvents.filter((e) => e.name === 'created');",
                    vec![],
                )
                .await;
            events[0]["orderId"].as_str().map(str::to_owned)
        })
        .await;
        (Load { chooser, qr }, order)
    }

    /// Sends the order's amount to its address from anvil's first test account, by a raw
    /// `eth_sendTransaction`: anvil mines it before it answers, so the answer is the moment it
    /// was mined (Unix ms).
    async fn transfer(&self, order: &str) -> (u64, String) {
        // The widget's order is the checkout's id.
        let view = self.world.status(order).await;
        let payment = &view["payment"];
        let word = |hex: &str| format!("{:0>64}", hex.trim_start_matches("0x").to_lowercase());
        let amount: u128 = payment["amountAtomic"].as_str().unwrap().parse().unwrap();
        let data = format!(
            "0xa9059cbb{}{}",
            word(payment["toAddress"].as_str().unwrap()),
            word(&format!("{amount:x}"))
        );
        // anvil's account 1, given test USDT by the sandbox's deployment.
        let from = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
        let reply: Value = reqwest::Client::new()
            .post(&self.world.anvil.rpc_url)
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction",
                "params": [{"from": from, "to": payment["tokenContract"], "data": data}]}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reply["result"].is_string(), "{reply}");
        (now_ms(), reply["result"].as_str().unwrap().to_owned())
    }

    async fn rpc(&self, method: &str, params: Value) -> Value {
        let reply: Value = reqwest::Client::new()
            .post(&self.world.anvil.rpc_url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    async fn mine_as(&self, mining: Mining) {
        match mining {
            Mining::Each => {
                self.rpc("evm_setIntervalMining", json!([0])).await;
                self.rpc("evm_setAutomine", json!([true])).await;
            }
            Mining::Every(seconds) => {
                self.rpc("evm_setAutomine", json!([false])).await;
                self.rpc("evm_setIntervalMining", json!([seconds])).await;
            }
        }
    }

    /// When transaction `tx` was mined (Unix ms, as first read), and its block's number.
    async fn mined(&self, tx: &str) -> (u64, u64) {
        loop {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([tx])).await;
            if let Some(block) = receipt["blockNumber"].as_str() {
                let block = u64::from_str_radix(block.trim_start_matches("0x"), 16).unwrap();
                return (now_ms(), block);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// When a block past `block` was mined (Unix ms, as first read).
    async fn block_after(&self, block: u64) -> u64 {
        loop {
            let head = self.rpc("eth_blockNumber", json!([])).await;
            let head = u64::from_str_radix(head.as_str().unwrap().trim_start_matches("0x"), 16);
            if head.unwrap() > block {
                return now_ms();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// One payment's detection under `mining`: its block to the widget showing it seen, and
    /// the block that confirms it to the widget showing paid (ms).
    async fn detect(&self, mining: Mining) -> (f64, f64) {
        let (_, order) = self.load().await;
        // A shopper scans the QR code, and the widget holds its poll by then.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (sent, tx) = self.transfer(&order).await;
        let (mined, block) = match mining {
            Mining::Each => (sent, 0),
            Mining::Every(_) => self.mined(&tx).await,
        };
        let seen = self.timing("confirming").await - mined as f64;
        let confirmed = match mining {
            Mining::Each => {
                let mined = now_ms();
                self.sandbox("/sandbox/mine", json!({"blocks": 1})).await;
                mined
            }
            Mining::Every(_) => self.block_after(block).await,
        };
        (seen, self.timing("paid").await - confirmed as f64)
    }

    async fn sandbox(&self, path: &str, body: Value) {
        let reply = Client::new(&self.world.sandbox.url).post(path, body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// `min / p50 / p95` of `values`, in whole milliseconds.
fn spread(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| values[((values.len() as f64 - 1.0) * p).round() as usize];
    format!("{:.0} / {:.0} / {:.0}", values[0], at(0.5), at(0.95))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (loads, payments) = (option("--loads", 20), option("--payments", 10));
    let stand = Stand::open().await;
    // One load to warm the servers (their first order, the gateway's catalog), not counted.
    stand.load().await;

    let mut rows = vec![];
    for (rate, label) in [(1, "full speed"), (4, "4x slower (a mid-range phone)")] {
        stand.browser.throttle_cpu(rate).await;
        let (mut chooser, mut qr) = (vec![], vec![]);
        for _ in 0..loads {
            let (load, order) = stand.load().await;
            chooser.push(load.chooser);
            qr.push(load.qr);
            // Each visit leaves an order the reconciler would keep asking the gateway about, in
            // the budget the next visit's order needs: the gateway cancels it (a shopper who
            // left). Visits come a second apart.
            stand
                .sandbox(&format!("/sandbox/orders/{order}/cancel"), json!({}))
                .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        rows.push([label.to_owned(), spread(&mut chooser), spread(&mut qr)]);
    }
    stand.browser.throttle_cpu(1).await;
    let slow_phone = slow_phone::run(&stand, loads).await;

    // Detection under each way of mining: 12 s blocks take half a minute a payment, so fewer.
    let mut detection = vec![];
    for mining in [Mining::Each, Mining::Every(2), Mining::Every(12)] {
        stand.mine_as(mining).await;
        let count = match mining {
            Mining::Every(12) => payments.div_ceil(2),
            _ => payments,
        };
        let (mut seen, mut paid) = (vec![], vec![]);
        for _ in 0..count {
            let (s, p) = stand.detect(mining).await;
            seen.push(s);
            paid.push(p);
        }
        detection.push((mining, count, seen, paid));
    }
    stand.mine_as(Mining::Each).await;

    println!("### Time to QR\n");
    println!(
        "{loads} first visits at each speed (cache and storage forgotten), headless Chromium \
         at 1280 px, everything on localhost. Milliseconds, min / p50 / p95. In brackets, the \
         run before.\n"
    );
    let columns = [
        "CPU",
        "navigation → chooser",
        "Continue → QR code (order created at the gateway)",
    ];
    println!("| {} |", columns.join(" | "));
    println!("|{}", "---|".repeat(columns.len()));
    for row in rows {
        let before = previous::row("### Time to QR", &row[0]);
        let cells: Vec<String> = row
            .into_iter()
            .zip(columns)
            .enumerate()
            .map(|(i, (now, column))| match i {
                0 => now,
                _ => previous::beside(now, before.get(column)),
            })
            .collect();
        println!("| {} |", cells.join(" | "));
    }
    // A row of the table above, then its goals.
    print!("{slow_phone}");
    println!("\n### Detection\n");
    println!(
        "Payments of the full amount by plain transfer, sent 2 s after the QR code shows, with \
         anvil mining each transaction as it arrives, then a block every 2 s and every 12 s \
         ({}). The gateway and the checkout server require 2 confirmations \
         (the payment's block and one more); the checkout server reads the chain every 200 ms \
         and the widget holds a long poll. From the block's arrival (its receipt first read), \
         milliseconds, min / p50 / p95. In brackets, the run before.\n",
        detection
            .iter()
            .map(|(mining, count, ..)| format!("{count} payments with {}", mining.label()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let seen_row = "payment mined → widget shows it seen";
    let paid_row = "confirming block mined → widget shows paid";
    let labels: Vec<String> = detection
        .iter()
        .map(|(mining, ..)| mining.label())
        .collect();
    println!("| from → to | {} |", labels.join(" | "));
    println!("|---|{}", "---|".repeat(labels.len()));
    let mut verdicts = vec![];
    for (name, budget, pick) in [(seen_row, SEEN_MS, 0), (paid_row, PAID_MS, 1)] {
        let before = previous::row("### Detection", name);
        let cells: Vec<String> = detection
            .iter_mut()
            .zip(&labels)
            .map(|((mining, _, seen, paid), label)| {
                let values = if pick == 0 { seen } else { paid };
                let now = spread(values);
                let p50 = values[((values.len() as f64 - 1.0) * 0.5).round() as usize];
                verdicts.push(format!(
                    "- {name}, {}: p50 {p50:.0} ms, budget {budget:.0} ms: {}.",
                    mining.label(),
                    previous::verdict(p50 <= budget)
                ));
                // The run before measured with each transaction mined at once, as "time".
                let was = before.get(label.as_str()).or(match mining {
                    Mining::Each => before.get("time"),
                    Mining::Every(_) => None,
                });
                previous::beside(now, was)
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
    for verdict in verdicts {
        println!("{verdict}");
    }
}

#[path = "support/slow_phone.rs"]
mod slow_phone;
