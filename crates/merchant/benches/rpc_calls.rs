//! What following a chain costs at a hosted RPC provider, which sells calls by the day (a free
//! tier is about 100,000): the calls the checkout server makes to its provider, at the
//! product's default poll and budget, on a chain mining a block every 12 s (Ethereum) and every
//! 3 s, idle and with 100 checkouts open. Counted by a provider stand-in in front of anvil
//! (`usdt_checkout_testkit::provider`), over a window after a warm-up, and scaled to a day.
//! Prints Markdown; asserts nothing.
//!
//! `cargo bench -p usdt-checkout-server --bench rpc_calls -- [--seconds N]` (default 120 a run).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use usdt_checkout_chain::ChainClient;
use usdt_checkout_testkit::provider::ProviderFaults;

struct Run {
    block_seconds: u64,
    open: usize,
    calls: u64,
    seconds: u64,
}

impl Run {
    fn per_day(&self) -> u64 {
        self.calls * 86_400 / self.seconds
    }
}

async fn run(block_seconds: u64, open: usize, seconds: u64) -> Run {
    let w = world_with(
        &format!("rpc-calls-{block_seconds}s-{open}"),
        Storefront {
            provider: Some(ProviderFaults::default()),
            chain_defaults: true,
            gateway_limit: Some(10_000),
            checkouts_per_client_per_minute: Some(10_000),
            order_lifetime_seconds: Some(3_600),
            ..Storefront::default()
        },
    )
    .await;
    for n in 0..open {
        w.checkout(["tee", "mug"][n % 2], &format!("key-rpc-calls-{n:05}"))
            .await;
    }
    let chain = ChainClient::connect(&w.anvil.rpc_url).unwrap();
    let mining = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(block_seconds)).await;
            chain.mine(1).await.unwrap();
        }
    });
    // The new addresses' first reads done.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let provider = w.provider.as_ref().unwrap();
    let before = provider.calls.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let calls = provider.calls.load(Ordering::Relaxed) - before;
    mining.abort();
    Run {
        block_seconds,
        open,
        calls,
        seconds,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let mut runs = vec![];
    for block_seconds in [12, 3] {
        for open in [0, 100] {
            runs.push(run(block_seconds, open, seconds).await);
        }
    }
    println!("| Blocks | Checkouts open | Calls in {seconds} s | Calls a day |");
    println!("|---|---|---|---|");
    for r in &runs {
        println!(
            "| every {} s | {} | {} | {} |",
            r.block_seconds,
            r.open,
            r.calls,
            r.per_day()
        );
    }
}
