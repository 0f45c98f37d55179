//! `cargo xtask bench`: the product's published figures, measured on this machine, printed and
//! written to `BENCHMARKS.md`. Release builds (the benches' profile); nothing asserts a time.
//! Every figure's row says how it was measured; the two benches print their own Markdown.

use std::process::Stdio;
use std::time::Instant;

use crate::{Result, cmd, root, run, setup, widget};

/// Competitors' payloads as measured on 2026-11-24: esbuild production bundles of each
/// package's documented minimal use, gzipped, static initial load.
const COMPETITORS: [(&str, u64); 5] = [
    ("Reown AppKit with Pay", 465),
    ("Coinbase OnchainKit Checkout", 544),
    ("RainbowKit", 411),
    ("Daimo Pay", 1_044),
    ("Request Network's payment widget", 3_170),
];

/// The budgets besides the payload's, as the README states them.
pub const BUDGETS: [&str; 4] = [
    "Time to QR, p50 at full speed on localhost: the chooser within 250 ms of navigation, the \
     QR code within 100 ms of Continue (the order made at the gateway included).",
    "Detection, p50 beyond the block's arrival, on 2 s and 12 s blocks: the payment seen within \
     300 ms of its block; paid shown within 1 s of the block that confirms it.",
    "Status serving, 10,000 shoppers woken by one change, on one server and on three servers on \
     one Postgres: all answered within 500 ms p99, at least 20,000 answers a second on the 2 \
     cores, at most 10 KiB of resident memory per held poll; at most 90 gateway calls a minute \
     and no 429.",
    "Following a chain: at most 100,000 RPC calls a day a chain (a provider's free tier), with \
     100 checkouts open, on 12-second and 3-second blocks.",
];

pub fn bench() -> Result {
    let started = Instant::now();
    setup::for_tests()?;
    // The worlds run the sandbox gateway's binary; the benches build the checkout server.
    run(cmd(crate::SERVERS_BUILD))?;
    let sizes = widget::sizes()?;
    let timings = captured(
        "cargo bench -p usdt-checkout-server --bench checkout_timings -- --loads 20 --payments 10",
    )?;
    let status = captured(
        "cargo bench -p usdt-checkout-server --bench status_load -- \
         --shoppers 1000,10000 --seconds 60 --replicas --baseline",
    )?;
    let rpc_calls = captured("cargo bench -p usdt-checkout-server --bench rpc_calls")?;

    let mut page = String::new();
    let mut line = |text: &str| {
        page.push_str(text);
        page.push('\n');
    };
    line("# Benchmarks");
    line("");
    line(&format!(
        "Measured by `cargo xtask bench` on {} ({}), in {:.0} min. Everything runs on this \
         machine: the sandbox gateway on anvil, the checkout server built with the benches' \
         release profile, headless Chromium. Rerun it to measure yours.",
        today(),
        machine(),
        started.elapsed().as_secs_f64() / 60.0
    ));
    line("");
    line("## Budgets");
    line("");
    line("What the product promises; each figure below is measured against one.");
    line("");
    line(&format!(
        "- Payload: at most {} KB gzipped for everything a storefront downloads (now {:.1} KB; \
         `cargo xtask size` fails past it).",
        widget::BUDGET_BYTES / 1000,
        sizes.gzip() as f64 / 1000.0
    ));
    for budget in BUDGETS {
        line(&format!("- {budget}"));
    }
    line("");
    line("## Payload");
    line("");
    line(
        "What a storefront downloads for an English shopper, per file (as `cargo xtask size`); \
         another language adds its table, fetched by its readers only.",
    );
    line("");
    line("| file | bytes | gzip -9 | brotli |");
    line("|---|---|---|---|");
    for f in &sizes.files {
        line(&format!(
            "| `{}` | {} | {} | {} |",
            f.name, f.raw, f.gzip, f.brotli
        ));
    }
    line(&format!(
        "| **total** | | **{:.1} KB** | {:.1} KB |",
        sizes.gzip() as f64 / 1000.0,
        sizes.brotli() as f64 / 1000.0
    ));
    let largest = sizes.tables.iter().map(|t| t.gzip).max().unwrap_or(0);
    line(&format!(
        "| a language's table (largest) | | {:.1} KB | |",
        largest as f64 / 1000.0
    ));
    line("");
    if let Some(table) = widget::breakdown()? {
        line(
            "Who owns the wasm's bytes: twiggy's size of each function and data segment, summed \
             by owner (as `cargo xtask size` prints it); before gzip, and before the imports' and \
             exports' names are shortened.",
        );
        line("");
        line(&table);
    }
    line(
        "Beside other crypto checkouts, as measured on 2026-11-24 (esbuild production bundles of \
         each package's documented minimal use, gzipped, static initial load; not remeasured \
         here):",
    );
    line("");
    line("| checkout | gzip |");
    line("|---|---|");
    line(&format!(
        "| **usdt-checkout** (this build) | **{:.0} KB** |",
        sizes.gzip() as f64 / 1000.0
    ));
    for (name, kb) in COMPETITORS {
        line(&format!("| {name} | {kb} KB |"));
    }
    line("");
    line("## What a shopper waits for");
    line("");
    line(&timings);
    line("## Status serving");
    line("");
    line(&status);
    line("## Following a chain: RPC calls a day");
    line("");
    line(
        "The checkout server's calls to its RPC provider at the product's defaults (a budget \
         of 100,000 calls a day, a poll every 3.5 s), counted by a provider stand-in in front \
         of anvil mining a block every 12 s or 3 s, over two minutes after a warm-up, scaled to \
         a day.",
    );
    line("");
    line(&rpc_calls);
    std::fs::write(root().join("BENCHMARKS.md"), &page)
        .map_err(|e| format!("BENCHMARKS.md: {e}"))?;
    println!("{page}");
    println!(
        "cargo xtask bench took {:.1} min; written to BENCHMARKS.md",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// What `line` prints on stdout (its stderr goes to the terminal), or why it failed.
fn captured(line: &str) -> Result<String> {
    println!("xtask: {line}");
    let output = cmd(line)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{line}: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{line}` failed ({})", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{text}");
    Ok(text)
}

fn today() -> String {
    cmd("date -u +%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The CPU and its cores, as /proc/cpuinfo says.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {cores} cores")
}
