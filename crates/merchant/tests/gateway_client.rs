//! The merchant's gateway client against the real sandbox gateway on anvil, including the
//! sandbox's injected faults.

use std::time::Duration;

use serde_json::json;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::{ChainId, TokenAmount};
use usdt_checkout_server::gateway::{
    BlockatmV1, BlockatmV2, GatewayApi, GatewayClient, GatewayError, GatewayHealth, NewOrder,
};
use usdt_checkout_testkit::*;

struct World {
    _anvil: Anvil,
    sandbox: Sandbox,
    keys: MerchantKeys,
    _dir: tempdir::Dir,
    _hooks: WebhookReceiver,
}

async fn world(name: &str) -> World {
    world_in(name, Api::V1).await
}

async fn world_in(name: &str, api: Api) -> World {
    let anvil = Anvil::start();
    let hooks = WebhookReceiver::start().await;
    let keys = MerchantKeys::new("0b7f3c2e-5d1a-4e8b-9c6f-1a2b3c4d5e6f");
    let dir = tempdir::Dir::new(name);
    let options = SandboxOptions {
        api,
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::start_with(built_sandbox(), &anvil, &keys, &hooks.url, &dir, options);
    World {
        _anvil: anvil,
        sandbox,
        keys,
        _dir: dir,
        _hooks: hooks,
    }
}

fn client(w: &World, per_minute: usize) -> GatewayClient {
    GatewayClient::new(
        w.sandbox.url.clone(),
        w.keys.api_key.clone(),
        per_minute,
        Duration::from_secs(2),
        v1(&w.keys),
    )
}

/// V1 signed with the merchant's key (no webhook comes to these clients: any key checks them).
fn v1(keys: &MerchantKeys) -> GatewayApi {
    GatewayApi::BlockatmV1(BlockatmV1 {
        key: keys.v1.clone(),
        webhook_key: keys.v1.public_key(),
    })
}

fn order(order_no: &str) -> NewOrder {
    NewOrder {
        order_no: order_no.into(),
        chain_id: ChainId::LOCAL,
        symbol: "USDT".into(),
        amount: TokenAmount::new(19_990_000, 6),
    }
}

async fn faults(w: &World, faults: serde_json::Value) {
    let reply = Client::new(&w.sandbox.url)
        .post("/sandbox/faults", faults)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn creates_and_reads_orders_with_signed_calls() {
    let w = world("client-ok").await;
    let gateway = client(&w, 90);
    let created = gateway.create_order(&order("CO-1")).await.unwrap();
    assert_eq!(
        created.to_address,
        w.sandbox.receiving_address(&w.keys.api_key)
    );
    let again = gateway.create_order(&order("CO-1")).await.unwrap();
    assert_eq!(
        again.plat_order_no, created.plat_order_no,
        "a retried creation is the same order"
    );
    let read = gateway.order_status("CO-1").await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].order_no.as_deref(), Some("CO-1"));
    assert_eq!(read[0].status, GatewayStatus::Pending);
    assert_eq!(gateway.health(), GatewayHealth::Available);
    assert_eq!(gateway.calls_in_last_minute(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn speaks_v2_with_the_configured_receiving_address() {
    let w = world_in("client-v2", Api::V2).await;
    let receiver = w.sandbox.receiving_address(&w.keys.api_key);
    let gateway = GatewayClient::new(
        w.sandbox.url.clone(),
        w.keys.api_key.clone(),
        90,
        Duration::from_secs(2),
        GatewayApi::BlockatmV2(BlockatmV2 {
            secret: w.keys.v2.clone(),
            webhook_secret: w.keys.webhook_secret.clone(),
            // The sandbox's first merchant's.
            cashier_id: "86100021".into(),
            receiving_addresses: [(ChainId::LOCAL, receiver)].into(),
        }),
    );
    let created = gateway.create_order(&order("CO-V2")).await.unwrap();
    assert_eq!(created.to_address, receiver);
    assert!(created.cashier_url.is_some(), "V2 answers its payUrl");
    let read = gateway.order_status("CO-V2").await.unwrap();
    assert_eq!(read[0].status, GatewayStatus::Pending);
    let missing = gateway.order_status("CO-NONE").await.unwrap_err();
    assert!(
        matches!(missing, GatewayError::Rejected { .. }),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn rate_limits_blocks_outages_and_garbage_are_errors_that_say_so() {
    let w = world("client-faults").await;
    let gateway = client(&w, 90);

    faults(&w, json!({"forceStatus": 429})).await;
    let limited = gateway.create_order(&order("CO-2")).await.unwrap_err();
    assert!(matches!(limited, GatewayError::RateLimited(_)), "{limited}");
    assert!(matches!(
        gateway.health(),
        GatewayHealth::RateLimited { .. }
    ));

    faults(&w, json!({"errorRate": 1.0})).await;
    // The injected 429's one-second pause is short enough for a creation to wait out.
    let down = gateway.create_order(&order("CO-2")).await.unwrap_err();
    assert!(matches!(down, GatewayError::Unreachable(_)), "{down}");
    assert!(matches!(
        gateway.health(),
        GatewayHealth::Unreachable { .. }
    ));

    faults(&w, json!({"malformedRate": 1.0})).await;
    let garbage = gateway.order_status("CO-2").await.unwrap_err();
    assert!(matches!(garbage, GatewayError::Garbage(_)), "{garbage}");

    faults(&w, json!({"forceStatus": 418})).await;
    let blocked = gateway.order_status("CO-2").await.unwrap_err();
    assert!(matches!(blocked, GatewayError::Blocked(_)), "{blocked}");
    assert!(matches!(gateway.health(), GatewayHealth::Blocked { .. }));

    faults(&w, json!({})).await;
    // The block the gateway gave (5 s when injected) pauses every call, creations included.
    let waiting = gateway.create_order(&order("CO-2")).await.unwrap_err();
    assert!(matches!(waiting, GatewayError::Blocked(_)), "{waiting}");
    let created = eventually("the block to pass", Duration::from_secs(30), || async {
        gateway.create_order(&order("CO-2")).await.ok()
    })
    .await;
    assert!(created.plat_order_no.is_some());
    assert_eq!(gateway.health(), GatewayHealth::Available);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_budget_refuses_what_would_exceed_it() {
    let w = world("client-budget").await;
    let gateway = client(&w, 2);
    gateway.create_order(&order("CO-3")).await.unwrap();
    gateway.create_order(&order("CO-3")).await.unwrap();
    let over = gateway.create_order(&order("CO-3")).await.unwrap_err();
    assert!(matches!(over, GatewayError::OverBudget(_)), "{over}");
    assert_eq!(
        gateway.calls_in_last_minute(),
        2,
        "the refused call never left the server"
    );
}

/// The real gateway is `https://`: the client opens a TLS handshake (a ClientHello record), where
/// a client built without TLS would refuse the URL before connecting.
#[tokio::test]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn speaks_https_to_an_https_gateway() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = GatewayClient::new(
        format!("https://{}", listener.local_addr().unwrap()),
        "key".into(),
        90,
        Duration::from_secs(2),
        v1(&MerchantKeys::new("5e0f7a51-9a0b-4c55-8d2e-6b7c8d9e0f12")),
    );
    let call = tokio::spawn(async move { gateway.order_status("ord_1").await });
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .expect("the client connects to an https:// gateway")
        .unwrap();
    let mut record = [0u8; 3];
    socket.read_exact(&mut record).await.unwrap();
    assert_eq!(record[0], 0x16, "a TLS handshake record");
    assert_eq!(record[1], 0x03, "TLS version 3.x");
    drop(socket);
    assert!(call.await.unwrap().is_err(), "no certificate, no answer");
}
