//! Attacks on the running servers, as an attacker makes them: reports about another merchant's
//! order, claims of another shopper's payment, and requests built to exhaust the server. Every
//! test is named `hostile_*`, so `cargo test hostile` runs them all.

mod common;

use common::*;
use std::time::Duration;

use serde_json::{Value, json};
use usdt_checkout_protocol::Address;
use usdt_checkout_protocol::gateway::{HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_testkit::{eventually, now_ms};

on_both!(
    processes:
    hostile_a_genuine_callback_about_another_merchants_order_pays_nothing,
    hostile_nobody_takes_another_shoppers_payment_by_its_hash,
    hostile_twelve_shoppers_at_once_on_a_slow_gateway_each_get_an_order,
);

/// A V1 callback as the gateway signs every merchant's (one platform key), sent by whoever
/// holds it: answered with the HTTP status.
async fn forward(w: &World, event: &Value) -> u16 {
    let body = event.to_string();
    let time = now_ms();
    let signature = w
        .sandbox
        .gateway_private_key()
        .sign(&signed_string::for_json_body(&body, time).unwrap());
    w.http
        .post(format!("{}/webhooks/blockatm", w.server.url))
        .header("content-type", "application/json")
        .header(HEADER_REQUEST_TIME, time.to_string())
        .header(HEADER_SIGNATURE_V1, signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn hostile_a_genuine_callback_about_another_merchants_order_pays_nothing(db: Db) {
    let w = world_on("foreign-report", db).await;
    let view = w.checkout("tee", "key-foreign-0001").await;
    let id = view["id"].as_str().unwrap();
    let order_no = view["payment"]["orderNo"].as_str().unwrap();
    let ours = w.admin_orders().await[0]["gatewayOrderId"]
        .as_str()
        .expect("the gateway's id for our order, from its creation answer")
        .to_owned();

    // Another merchant at the same gateway made an order with our order number, paid it a
    // millionth of a USDT, and forwards the gateway's genuine "paid" callback to us.
    let theirs = json!({
        "platOrderNo": "8219999999", "orderNo": order_no, "amount": "0.000001", "fee": "0",
        "chainId": "31337", "network": "Local chain", "symbol": "USDT",
        "txId": format!("0x{}", "ab".repeat(32)), "type": 2, "status": 1, "createTime": 1,
    });
    assert_eq!(
        forward(&w, &theirs).await,
        200,
        "answered, so the gateway stops"
    );
    let after = w.status(id).await;
    assert_eq!(after["state"], "waiting", "{after}");
    assert_eq!(after["version"], view["version"], "nothing changed");
    let refused = w.admin_get("/api/admin/refused-reports").await;
    assert_eq!(refused.as_array().unwrap().len(), 1, "{refused}");
    assert_eq!(refused[0]["platOrderNo"], "8219999999");
    assert_eq!(refused[0]["orderNo"], order_no);
    assert!(
        refused[0]["reason"].as_str().unwrap().contains(&ours),
        "{refused}"
    );

    // Our own order's id, the full amount and "paid", with nothing on the chain it is watched
    // on: the gateway's word pays no more than the chain shows.
    let unbacked = json!({
        "platOrderNo": ours, "orderNo": order_no, "amount": view["payment"]["amount"],
        "fee": "0", "chainId": "31337", "network": "Local chain", "symbol": "USDT",
        "txId": format!("0x{}", "cd".repeat(32)), "type": 2, "status": 1, "createTime": 1,
    });
    assert_eq!(forward(&w, &unbacked).await, 200);
    let unbacked = w.status(id).await;
    assert_ne!(unbacked["state"], "paid", "{unbacked}");
    let receipt = w
        .http
        .get(format!("{}/api/checkouts/{id}/receipt", w.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(receipt.status(), 409, "no receipt for an unpaid order");

    // Paid for real: the gateway's word and the chain agree.
    w.pay(&view, json!({})).await;
    w.wait_state(id, "paid").await;
    let event = w.fulfilled_once(id).await;
    assert_eq!(event["checkoutId"], id);
}

async fn hostile_nobody_takes_another_shoppers_payment_by_its_hash(db: Db) {
    let w = world_on("hostile-claims", db).await;
    let victims = w.checkout("tee", "key-victim-0001").await;
    let attackers = w.checkout("tee", "key-attack-0001").await;
    let (victim_id, attacker_id) = (
        victims["id"].as_str().unwrap(),
        attackers["id"].as_str().unwrap(),
    );
    let to: Address = victims["payment"]["toAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let usdt: Address = victims["payment"]["tokenContract"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let victim = Wallet::on(&w.anvil.rpc_url, 5).await;
    let attacker = Wallet::on(&w.anvil.rpc_url, 7).await;

    // The victim sends the wrong amount (13.495 of 24.995001): it matches no order, and its
    // hash is on chain for anyone watching the receiving address to read.
    let wrong = victim.send(usdt, to, 13_495_000).await;
    let kept = tokio::time::timeout(WAIT, async {
        loop {
            let view = w.status(victim_id).await;
            if view["payment"]["unmatched"].as_array().map(Vec::len) == Some(1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    if kept.is_err() {
        panic!(
            "gave up waiting for the wrong amount to be kept unmatched\n{}\nthe victim's view: {}",
            w.what_the_server_knew().await,
            w.status(victim_id).await
        );
    }

    // The attacker names it for their own 24.995002 USDT order: kept for the merchant, never
    // credited.
    let (status, body) = w
        .post(
            &format!("/api/checkouts/{attacker_id}/claims"),
            json!({"txHash": wrong}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (202, Some("claim_under_review")),
        "{body}"
    );
    let mug = w.status(attacker_id).await;
    assert_eq!(
        (mug["state"].as_str(), mug["payment"]["paid"].as_str()),
        (Some("waiting"), Some("0"))
    );
    // Signed by the attacker's own wallet: not the sender's.
    let (status, body) = proven_claim(&w, &attacker, attacker_id, &wrong).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("claim_not_sender")),
        "{body}"
    );
    // The victim's own signature, made for the victim's checkout, proves nothing for another.
    let signature = victim
        .sign(&usdt_checkout_protocol::wallet_proof::claim_message(
            victim_id, &wrong,
        ))
        .await;
    let (status, body) = w
        .post(
            &format!("/api/checkouts/{attacker_id}/claims"),
            json!({"txHash": wrong, "signature": signature}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("claim_not_sender")),
        "{body}"
    );
    assert_eq!(w.status(attacker_id).await["payment"]["paid"], "0");

    // The victim proves it theirs: attached to the victim's checkout.
    let (status, view) = proven_claim(&w, &victim, victim_id, &wrong).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["payment"]["paid"], "13.495");

    // A payment of exactly what an open order asks is that order's, never a claim's: not even
    // its own sender's, for another checkout.
    let second = w.checkout("mug", "key-second-0001").await;
    let second_id = second["id"].as_str().unwrap();
    let exact: u128 = second["payment"]["amountAtomic"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let paid_twice = Wallet::on(&w.anvil.rpc_url, 6).await;
    let exact_tx = paid_twice.send(usdt, to, exact).await;
    let (status, body) = proven_claim(&w, &paid_twice, attacker_id, &exact_tx).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("tx_pays_another_order")),
        "{body}"
    );
    w.mine().await;
    w.wait_state(second_id, "paid").await;

    // Every payment counts for exactly one order.
    let orders = w.admin_orders().await;
    let holding = |tx: &str| -> Vec<String> {
        orders
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                o["chainPayments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["txHash"] == tx)
            })
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(holding(&wrong), [victim_id]);
    assert_eq!(holding(&exact_tx), [second_id]);
    assert_eq!(w.status(attacker_id).await["payment"]["paid"], "0");
}

async fn hostile_twelve_shoppers_at_once_on_a_slow_gateway_each_get_an_order(db: Db) {
    let w = world_on("slow-gateway", db).await;
    // A gateway that takes 2.5 s to answer: creations that took turns for the whole call
    // queued behind each other, and the twelfth shopper's request timed out.
    w.sandbox_faults(json!({"latencyMs": 2500})).await;
    let mut shoppers = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (http, url) = (w.http.clone(), format!("{}/api/checkouts", w.server.url));
        shoppers.spawn(async move {
            let response = http
                .post(url)
                .json(&json!({"item": "tee", "chainId": 31337, "symbol": "USDT",
                              "idempotencyKey": format!("key-slow-{i:04}")}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
    }
    let answers = shoppers.join_all().await;
    let mut amounts: Vec<&str> = answers
        .iter()
        .map(|(status, view)| {
            assert_eq!(*status, 201, "{view}");
            view["payment"]["amountAtomic"].as_str().unwrap()
        })
        .collect();
    amounts.sort_unstable();
    amounts.dedup();
    assert_eq!(
        amounts.len(),
        12,
        "each order asks its own amount: {amounts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn hostile_a_body_nested_2000_levels_deep_kills_neither_server() {
    use usdt_checkout_protocol::gateway::{HEADER_API_KEY, v1::PATH_CREATE_ORDER};
    let w = world("deep-bodies").await;
    let deep = format!(
        r#"{{"orderNo":"co_x","amount":"1",{}"x":1{}}}"#,
        r#""a":{"#.repeat(2_000),
        "}".repeat(2_000)
    );
    let send = |url: String, extra: (&'static str, String)| {
        w.http
            .post(url)
            .header("content-type", "application/json")
            .header(HEADER_REQUEST_TIME, now_ms().to_string())
            .header(HEADER_SIGNATURE_V1, "MEUCIQD")
            .header(extra.0, extra.1)
            .body(deep.clone())
            .send()
    };
    // A webhook, whatever its signature: the signed string was walked before the signature
    // was checked, one recursion a level, and the checkout server aborted.
    let webhook = send(
        format!("{}/webhooks/blockatm", w.server.url),
        ("x-anything", "1".into()),
    )
    .await
    .unwrap();
    assert_eq!(webhook.status(), 400, "{}", webhook.text().await.unwrap());
    let health = w.get_json(&format!("{}/healthz", w.server.url)).await;
    assert_eq!(health["status"], "ok", "{health}");
    // Any merchant's API key took the gateway down the same way.
    let gateway = send(
        format!("{}{PATH_CREATE_ORDER}", w.sandbox.url),
        (HEADER_API_KEY, w.keys.api_key.clone()),
    )
    .await
    .unwrap();
    assert_eq!(gateway.status(), 400, "{}", gateway.text().await.unwrap());
    let networks = w
        .http
        .get(format!(
            "{}{}",
            w.sandbox.url,
            usdt_checkout_protocol::gateway::v1::PATH_NETWORKS
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(networks.status(), 200, "the gateway still answers");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn hostile_a_stuck_watcher_shows_in_healthz_within_a_minute() {
    let mut w = world("stuck-watcher").await;
    let health = format!("{}/healthz", w.server.url);
    let following = eventually("the watcher to read the chain", WAIT, || async {
        let report = w.get_json(&health).await;
        (report["chains"]["31337"]["state"] == "following"
            && report["chains"]["31337"]["head"].is_u64())
        .then_some(report)
    })
    .await;
    assert_eq!(following["status"], "ok", "{following}");

    // The node goes away for good (a provider that refuses every call): the watcher retries
    // quietly, and /healthz says so, then says it is stuck.
    drop(std::mem::replace(
        &mut w.anvil,
        usdt_checkout_testkit::Anvil::start(),
    ));
    let stuck = eventually(
        "the watcher to show as stuck",
        std::time::Duration::from_secs(60),
        || async {
            let report = w.get_json(&health).await;
            (report["chains"]["31337"]["state"] == "stuck").then_some(report)
        },
    )
    .await;
    assert_eq!(stuck["status"], "degraded", "{stuck}");
    assert!(
        stuck["chains"]["31337"]["lastError"]["error"].is_string(),
        "{stuck}"
    );
    assert!(
        stuck["chains"]["31337"]["secondsSinceProgress"]
            .as_u64()
            .unwrap()
            >= 30
    );
}
