//! The sandbox gateway against a real anvil chain: authentication, rate limits, payments seen on
//! chain through confirmations, partial and late payments, reorgs, amount matching, webhooks,
//! and restarts.

use std::time::Duration;

use serde_json::{Value, json};
use usdt_checkout_protocol::gateway::{
    HEADER_API_KEY, HEADER_RECV_WINDOW, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1,
    PATH_CREATE_ORDER, PATH_QUERY_PAYMENTS, PATH_WEBHOOK_KEY,
};
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_testkit::*;

const WAIT: Duration = Duration::from_secs(30);
const DELIVERIES: &str = "/api/v1/webhook/deliveries";

struct World {
    _anvil: Anvil,
    sandbox: Sandbox,
    client: Client,
    keys: MerchantKeys,
    hooks: WebhookReceiver,
    _dir: tempdir::Dir,
}

async fn world(name: &str) -> World {
    // Tests poll order states often; the rate limit has its own test.
    world_limited(name, 10_000).await
}

async fn world_limited(name: &str, rate_limit_per_minute: usize) -> World {
    let anvil = Anvil::start();
    let hooks = WebhookReceiver::start().await;
    let keys = MerchantKeys::new("7d0c7d4e-3c1f-4a55-9a4e-2f1a3b9c0d11");
    let dir = tempdir::Dir::new(name);
    let binary = env!("CARGO_BIN_EXE_blockatm-sandbox").into();
    let sandbox = Sandbox::start(
        binary,
        &anvil,
        &keys,
        &hooks.url,
        &dir,
        rate_limit_per_minute,
    );
    let client = Client::new(&sandbox.url);
    World {
        _anvil: anvil,
        sandbox,
        client,
        keys,
        hooks,
        _dir: dir,
    }
}

fn order_body(order_no: &str, amount: &str) -> String {
    json!({"orderNo": order_no, "chainId": 31337, "symbol": "USDT", "amount": amount}).to_string()
}

impl World {
    async fn create(&self, order_no: &str, amount: &str) -> Value {
        let reply = self
            .client
            .post_signed(
                PATH_CREATE_ORDER,
                &order_body(order_no, amount),
                &self.keys,
                Signing::V1,
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["data"].clone()
    }

    async fn order(&self, order_no: &str) -> Value {
        let reply = self
            .client
            .get_signed(
                PATH_QUERY_PAYMENTS,
                &format!("orderNo={order_no}"),
                &self.keys,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["data"]["records"][0].clone()
    }

    async fn order_count(&self) -> u64 {
        let reply = self
            .client
            .get_signed(PATH_QUERY_PAYMENTS, "", &self.keys)
            .await;
        reply.body["data"]["total"].as_u64().unwrap()
    }

    async fn wait_state(&self, order_no: &str, state: &str) -> Value {
        eventually(&format!("order {order_no} to be {state}"), WAIT, || async {
            let order = self.order(order_no).await;
            (order["state"] == state).then_some(order)
        })
        .await
    }

    async fn pay(&self, order: &Value, body: Value) -> Value {
        let plat = order["platOrderNo"].as_str().unwrap();
        let reply = self
            .client
            .post(&format!("/sandbox/orders/{plat}/pay"), body)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["data"].clone()
    }

    async fn mine(&self, blocks: u64) {
        let reply = self
            .client
            .post("/sandbox/mine", json!({"blocks": blocks}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// Webhooks received once every queued event is delivered.
    async fn delivered_webhooks(&self) -> Vec<ReceivedWebhook> {
        eventually("every webhook to be delivered", WAIT, || async {
            let reply = self.client.get_signed(DELIVERIES, "", &self.keys).await;
            let all = reply.body["data"].as_array().unwrap().clone();
            all.iter()
                .all(|d| !d["deliveredAt"].is_null())
                .then(|| self.hooks.all())
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_401_and_change_nothing() {
    let w = world("auth").await;
    let body = order_body("AUTH-1", "10");
    let unauthorized = |reply: &Reply, needle: &str| {
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.body["code"], "000401");
        assert!(
            reply.body["trace"].as_str().unwrap().starts_with("sbx-"),
            "a refusal has a trace to quote: {}",
            reply.body
        );
        let msg = reply.body["msg"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    };

    let unsigned = w
        .client
        .post_signed(PATH_CREATE_ORDER, &body, &w.keys, Signing::None, None)
        .await;
    unauthorized(&unsigned, "missing header BlockATM-Signature-V1");

    let stale = w
        .client
        .post_signed(
            PATH_CREATE_ORDER,
            &body,
            &w.keys,
            Signing::V1,
            Some(now_ms() - 31_000),
        )
        .await;
    unauthorized(&stale, "outside the 30000 ms window");

    let future = w
        .client
        .post_signed(
            PATH_CREATE_ORDER,
            &body,
            &w.keys,
            Signing::V1,
            Some(now_ms() + 10_000),
        )
        .await;
    unauthorized(&future, "ahead of the server's clock");

    let mut stranger = MerchantKeys::new(&w.keys.api_key);
    stranger.v1 = V1PrivateKey::generate();
    let wrong_key = w
        .client
        .post_signed(PATH_CREATE_ORDER, &body, &stranger, Signing::V1, None)
        .await;
    unauthorized(&wrong_key, "signature does not match");

    // Signed for one amount, sent with another.
    let time = now_ms();
    let signature = w
        .keys
        .v1
        .sign(&signed_string::for_json_body(&body, time).unwrap());
    let send = |headers: Vec<(&'static str, String)>, body: String| {
        let mut request = w
            .client
            .http
            .post(format!("{}{PATH_CREATE_ORDER}", w.client.base))
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let signed_headers = vec![
        (HEADER_API_KEY, w.keys.api_key.clone()),
        (HEADER_REQUEST_TIME, time.to_string()),
        (HEADER_SIGNATURE_V1, signature.clone()),
    ];
    let tampered = send(signed_headers.clone(), order_body("AUTH-1", "0.01"))
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);

    let mut wide = signed_headers.clone();
    wide.push((HEADER_RECV_WINDOW, "60001".into()));
    let too_wide = send(wide, body.clone()).await.unwrap();
    assert_eq!(too_wide.status(), 401);
    assert!(too_wide.text().await.unwrap().contains("at most 60000 ms"));

    let mut unknown = signed_headers.clone();
    unknown[0].1 = "not-a-key".into();
    let unknown = send(unknown, body.clone()).await.unwrap();
    assert_eq!(unknown.status(), 401);
    assert!(unknown.text().await.unwrap().contains("unknown API key"));

    assert_eq!(
        w.order_count().await,
        0,
        "no rejected request created an order"
    );

    // The same request, properly signed (V2 this time), goes through.
    let good = w
        .client
        .post_signed(PATH_CREATE_ORDER, &body, &w.keys, Signing::V2, None)
        .await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(w.order_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_101st_request_in_a_minute_is_limited_then_blocked_until_the_block_ends() {
    let w = world_limited("rate", 100).await;
    for _ in 0..100 {
        let reply = w.client.get_signed(PATH_QUERY_PAYMENTS, "", &w.keys).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let limited = w.client.get_signed(PATH_QUERY_PAYMENTS, "", &w.keys).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["code"], "000429");
    let retry_after: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));

    let blocked = w.client.get_signed(PATH_QUERY_PAYMENTS, "", &w.keys).await;
    assert_eq!(blocked.status, 418);
    assert!(blocked.retry_after.is_some());

    // The test configuration blocks for 2 s; the block then ends by itself.
    eventually("the block to end", WAIT, || async {
        let reply = w.client.get_signed(PATH_QUERY_PAYMENTS, "", &w.keys).await;
        (reply.status == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_confirms_and_exactly_one_signed_completed_webhook_arrives() {
    let w = world("paid").await;
    let order = w.create("PAID-1", "25.5").await;
    assert_eq!(order["state"], "waiting");
    assert_eq!(order["payAmountAtomic"], "25500000");

    w.pay(&order, json!({})).await;
    let confirming = w.wait_state("PAID-1", "confirming").await;
    assert_eq!(confirming["confirmations"], 1);
    assert_eq!(confirming["requiredConfirmations"], 2);
    assert_eq!(confirming["status"], 0);

    w.mine(1).await;
    let paid = w.wait_state("PAID-1", "paid").await;
    assert_eq!(paid["status"], 1);
    assert_eq!(paid["paidAmount"], "25.5");
    assert_eq!(paid["remainingAmount"], "0");
    assert_eq!(paid["payments"].as_array().unwrap().len(), 1);

    let key_reply = w
        .client
        .http
        .get(format!("{}{PATH_WEBHOOK_KEY}", w.sandbox.url))
        .send()
        .await
        .unwrap();
    let key_body: Value = key_reply.json().await.unwrap();
    let public_key = key_body["data"]["publicKey"].as_str().unwrap();
    assert_eq!(public_key, w.sandbox.gateway_public_key());
    let public_key = V1PublicKey::from_base64_spki(public_key).unwrap();

    let hooks = w.delivered_webhooks().await;
    for hook in &hooks {
        assert_eq!(hook.header("BlockATM-Event"), Some("QR-Payment"));
        let time = hook
            .header("BlockATM-Request-Time")
            .unwrap()
            .parse()
            .unwrap();
        let signed = signed_string::for_json_body(&hook.body, time).unwrap();
        public_key
            .verify(&signed, hook.header("BlockATM-Signature-V1").unwrap())
            .expect("every webhook is signed by the gateway");
    }
    let bodies: Vec<Value> = hooks
        .iter()
        .map(|h| serde_json::from_str(&h.body).unwrap())
        .collect();
    let completed: Vec<&Value> = bodies.iter().filter(|b| b["status"] == 1).collect();
    assert_eq!(
        completed.len(),
        1,
        "exactly one completed webhook: {bodies:?}"
    );
    assert_eq!(completed[0]["state"], "paid");
    assert_eq!(completed[0]["orderNo"], "PAID-1");
    assert_eq!(completed[0]["amount"], "25.5");
    let ids: std::collections::HashSet<&str> = bodies
        .iter()
        .map(|b| b["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        bodies.len(),
        "each state change is its own event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_payment_reports_what_remains_and_the_rest_completes_it() {
    let w = world("partial").await;
    let order = w.create("PART-1", "10").await;
    w.pay(&order, json!({"amount": "4"})).await;
    let partial = w.wait_state("PART-1", "partially_paid").await;
    assert_eq!(partial["paidAmount"], "4");
    assert_eq!(partial["remainingAmount"], "6");

    w.pay(&order, json!({})).await; // what remains, from the same payer
    w.wait_state("PART-1", "confirming").await;
    w.mine(1).await;
    let paid = w.wait_state("PART-1", "paid").await;
    assert_eq!(paid["paidAmount"], "10");
    assert_eq!(paid["payments"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_after_expiry_is_reported_as_late() {
    let w = world("late").await;
    let order = w.create("LATE-1", "7").await;
    let plat = order["platOrderNo"].as_str().unwrap();
    let expired = w
        .client
        .post(&format!("/sandbox/orders/{plat}/expire"), json!(null))
        .await;
    assert_eq!(expired.status, 200, "{}", expired.body);
    let expired = w.wait_state("LATE-1", "expired").await;
    assert_eq!(expired["status"], -1);

    w.pay(&order, json!({})).await;
    w.mine(1).await;
    let late = w.wait_state("LATE-1", "paid_late").await;
    assert_eq!(late["status"], 1);
    assert_eq!(late["payments"][0]["late"], true);

    let hooks = w.delivered_webhooks().await;
    let states: Vec<String> = hooks
        .iter()
        .map(|h| {
            serde_json::from_str::<Value>(&h.body).unwrap()["state"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(states.contains(&"expired".to_owned()), "{states:?}");
    assert_eq!(
        states.last().map(String::as_str),
        Some("paid_late"),
        "{states:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_removes_an_unconfirmed_payment() {
    let w = world("reorg").await;
    let order = w.create("REORG-1", "3").await;
    w.pay(&order, json!({})).await;
    let confirming = w.wait_state("REORG-1", "confirming").await;
    assert_eq!(confirming["payments"].as_array().unwrap().len(), 1);

    let reply = w.client.post("/sandbox/reorg", json!({"depth": 1})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let waiting = w.wait_state("REORG-1", "waiting").await;
    assert_eq!(waiting["payments"], json!([]));
    assert_eq!(waiting["paidAmount"], "0");

    // Paid again on the new chain, it confirms as usual.
    w.pay(&order, json!({})).await;
    w.mine(1).await;
    w.wait_state("REORG-1", "paid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_orders_of_the_same_amount_are_told_apart() {
    let w = world("same").await;
    let first = w.create("SAME-1", "10").await;
    let second = w.create("SAME-2", "10").await;
    assert_eq!(first["payAmount"], "10");
    assert_eq!(
        second["payAmount"], "10.000001",
        "made unique by the smallest unit"
    );
    assert_eq!(
        second["amount"], "10",
        "the merchant's asked amount is kept"
    );

    // Retrying a creation returns the same order; reusing its number otherwise is refused.
    let again = w.create("SAME-2", "10").await;
    assert_eq!(again["platOrderNo"], second["platOrderNo"]);
    let conflict = w
        .client
        .post_signed(
            PATH_CREATE_ORDER,
            &order_body("SAME-2", "11"),
            &w.keys,
            Signing::V1,
            None,
        )
        .await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.body["code"], "000106");

    // Plain transfers of each exact amount, from different payers.
    w.pay(&second, json!({"payer": 2})).await;
    w.wait_state("SAME-2", "confirming").await;
    assert_eq!(w.order("SAME-1").await["state"], "waiting");
    w.pay(&first, json!({"payer": 3})).await;
    w.wait_state("SAME-1", "confirming").await;
    w.mine(1).await;
    w.wait_state("SAME-1", "paid").await;
    w.wait_state("SAME-2", "paid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_names_its_order_and_a_stray_transfer_is_kept_unmatched() {
    let w = world("deposit").await;
    let a = w.create("DEP-1", "5").await;
    let b = w.create("DEP-2", "8").await;
    w.pay(&a, json!({"method": "deposit", "amount": "2"})).await;
    let partial = w.wait_state("DEP-1", "partially_paid").await;
    assert_eq!(partial["payments"][0]["kind"], "deposit");
    assert_eq!(
        partial["payments"].as_array().unwrap().len(),
        1,
        "the deposit's own transfer is not counted twice"
    );

    // 1.5 USDT by plain transfer from a fresh payer, with two open orders: nobody's.
    w.pay(&b, json!({"amount": "1.5", "payer": 4})).await;
    let unmatched = eventually("the stray transfer to be listed", WAIT, || async {
        let reply = w
            .client
            .get_signed("/api/v1/payment/unmatched", "", &w.keys)
            .await;
        let list = reply.body["data"].as_array().unwrap().clone();
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(unmatched[0]["amount"], "1.5");
    assert_eq!(w.order("DEP-2").await["state"], "waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_order_and_payment() {
    let mut w = world("restart").await;
    let order = w.create("KEEP-1", "9").await;
    w.create("KEEP-2", "1").await;
    // With two open orders, only a deposit can pay part of one.
    w.pay(&order, json!({"amount": "4", "method": "deposit"}))
        .await;
    w.wait_state("KEEP-1", "partially_paid").await;

    w.sandbox.restart();
    w.client = Client::new(&w.sandbox.url);
    assert_eq!(w.order_count().await, 2);
    let kept = w.order("KEEP-1").await;
    assert_eq!(kept["state"], "partially_paid");
    assert_eq!(kept["paidAmount"], "4");
    assert_eq!(kept["platOrderNo"], order["platOrderNo"]);

    w.pay(&order, json!({})).await;
    w.mine(1).await;
    let paid = w.wait_state("KEEP-1", "paid").await;
    assert_eq!(
        paid["payments"].as_array().unwrap().len(),
        2,
        "nothing credited twice after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_and_dropped_webhooks_are_retried_until_delivered() {
    let w = world("faults").await;
    let order = w.create("FAULT-1", "2").await;

    let set = w
        .client
        .post(
            "/sandbox/faults",
            json!({"forceStatus": 418, "dropWebhooks": true}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let blocked = w.client.get_signed(PATH_QUERY_PAYMENTS, "", &w.keys).await;
    assert_eq!(blocked.status, 418);
    assert!(blocked.retry_after.is_some());

    w.client
        .post(
            "/sandbox/faults",
            json!({"malformedRate": 1.0, "dropWebhooks": true}),
        )
        .await;
    let garbage = w.client.get_signed(PATH_QUERY_PAYMENTS, "", &w.keys).await;
    assert_eq!(garbage.status, 200);
    assert!(
        garbage.body.is_string(),
        "the body is not JSON: {}",
        garbage.body
    );

    w.client
        .post("/sandbox/faults", json!({"dropWebhooks": true}))
        .await;
    w.pay(&order, json!({})).await;
    w.mine(1).await;
    w.wait_state("FAULT-1", "paid").await;
    let failed_attempts = eventually("failed delivery attempts to be logged", WAIT, || async {
        let reply = w
            .client
            .get_signed(DELIVERIES, "orderNo=FAULT-1", &w.keys)
            .await;
        let attempts: Vec<Value> = reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["attempts"].as_array().unwrap().clone())
            .collect();
        (attempts.len() >= 2).then_some(attempts)
    })
    .await;
    assert!(
        failed_attempts
            .iter()
            .all(|a| a["outcome"] == "dropped by fault injection")
    );
    assert!(
        w.hooks.all().is_empty(),
        "nothing reached the merchant while dropped"
    );

    w.client.post("/sandbox/faults", json!({})).await;
    let hooks = w.delivered_webhooks().await;
    let states: Vec<Value> = hooks
        .iter()
        .map(|h| serde_json::from_str::<Value>(&h.body).unwrap()["state"].clone())
        .collect();
    assert!(states.contains(&json!("paid")), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_page_shows_the_exact_transfer() {
    let w = world("cashier").await;
    let order = w.create("CASH-1", "12.5").await;
    let page = w
        .client
        .http
        .get(order["cashierUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("12.5 USDT"), "{page}");
    assert!(page.contains(order["toAddress"].as_str().unwrap()));
    assert!(page.contains("<svg"), "a QR code");
    let uri = format!(
        "ethereum:{}@31337/transfer?address={}&amp;uint256=12500000",
        order["tokenContract"].as_str().unwrap(),
        order["toAddress"].as_str().unwrap()
    );
    assert!(
        page.contains(&uri),
        "the wallet link carries atomic units: {page}"
    );
    assert!(page.contains(r#"role="status""#));
}
