//! The chain watcher against a hosted RPC provider's limits and faults (a provider stand-in in
//! front of anvil, `usdt_checkout_testkit::provider`): every payment is read, none is taken
//! back or misfiled, and no shopper's view goes backwards.

mod common;

use common::*;
use serde_json::{Value, json};
use usdt_checkout_chain::ChainClient;
use usdt_checkout_testkit::provider::ProviderFaults;

async fn behind_a_provider(name: &str, faults: ProviderFaults) -> World {
    world_with(
        name,
        Storefront {
            provider: Some(faults),
            ..Storefront::default()
        },
    )
    .await
}

/// The transactions the watcher attached to checkout `id`, as the merchant sees them.
async fn attached(w: &World, id: &str) -> Vec<String> {
    let orders = w.admin_orders().await;
    orders
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .map(|o| {
            o["chainPayments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["txHash"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Pays `view` in full from the gateway's test mode and waits for it to be paid: with the chain
/// watched, paid needs the watcher to have read the payment.
async fn paid_and_read(w: &World, view: &Value) {
    let id = view["id"].as_str().unwrap();
    w.pay(view, json!({})).await;
    w.mine().await;
    let paid = w.wait_state(id, "paid").await;
    assert_eq!(paid["payment"]["paid"], view["payment"]["amount"], "{paid}");
    assert_eq!(attached(w, id).await.len(), 1, "read by the watcher");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ten_block_cap_from_the_first_checkout() {
    // A new address is read back 64 blocks, six times the cap.
    let w = behind_a_provider(
        "ten-block-cap",
        ProviderFaults {
            range_cap: Some(10),
            ..ProviderFaults::default()
        },
    )
    .await;
    ChainClient::connect(&w.anvil.rpc_url)
        .unwrap()
        .mine(100)
        .await
        .unwrap();
    let view = w.checkout("tee", "key-cap-10-0001").await;
    paid_and_read(&w, &view).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_3000_block_gap_under_a_500_block_cap() {
    let mut w = behind_a_provider(
        "gap-under-cap",
        ProviderFaults {
            range_cap: Some(500),
            ..ProviderFaults::default()
        },
    )
    .await;
    let first = w.checkout("tee", "key-gap-0000001").await;
    paid_and_read(&w, &first).await;
    let second = w.checkout("mug", "key-gap-0000002").await;
    // Down while 3,000 blocks pass, with the second order's payment among the first of them.
    w.server.stop();
    w.pay(&second, json!({})).await;
    ChainClient::connect(&w.anvil.rpc_url)
        .unwrap()
        .mine(3_000)
        .await
        .unwrap();
    w.server.restart();
    let id = second["id"].as_str().unwrap();
    w.wait_state(id, "paid").await;
    assert_eq!(attached(&w, id).await.len(), 1, "read by the watcher");
}

#[tokio::test(flavor = "multi_thread")]
async fn five_requests_a_second() {
    // Past it, 429 with Retry-After: each step's calls back off and are asked again.
    let w = behind_a_provider(
        "five-a-second",
        ProviderFaults {
            per_second: Some(5),
            ..ProviderFaults::default()
        },
    )
    .await;
    let view = w.checkout("tee", "key-rate-5-0001").await;
    paid_and_read(&w, &view).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_call_in_twenty_fails() {
    let w = behind_a_provider(
        "one-in-twenty",
        ProviderFaults {
            fail_one_in: Some(20),
            slow: Some((7, std::time::Duration::from_millis(800))),
            ..ProviderFaults::default()
        },
    )
    .await;
    // A chain with history: a new address's look-back reads 64 blocks' hashes in one step.
    ChainClient::connect(&w.anvil.rpc_url)
        .unwrap()
        .mine(200)
        .await
        .unwrap();
    for (item, key) in [("tee", "key-flaky-00001"), ("mug", "key-flaky-00002")] {
        let view = w.checkout(item, key).await;
        paid_and_read(&w, &view).await;
    }
}
