//! The sandbox gateway against a real anvil chain, in BlockATM's documented dialects:
//! authentication, rate limits, payments seen on chain through confirmations, partial and late
//! payments, reorgs, amount matching, webhooks with only the documented fields, test mode, and
//! restarts. The orders' detailed states are read from test mode's `/sandbox/orders/{id}`, as the
//! documented API has no such thing.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use usdt_checkout_protocol::gateway::{
    HEADER_API_KEY, HEADER_RECV_WINDOW, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1, PATH_RATES, v1,
    v2,
};
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_testkit::*;

const WAIT: Duration = Duration::from_secs(30);

/// The fields of readme.io's "Field description for payment webhook" (docs/blockatm-api.md §3):
/// what a merchant written from BlockATM's docs binds a callback to.
const V1_CALLBACK_FIELDS: [&str; 12] = [
    "amount",
    "chainId",
    "custNo",
    "orderNo",
    "fee",
    "network",
    "platOrderNo",
    "symbol",
    "txId",
    "type",
    "status",
    "createTime",
];

/// The fields of V2's PaymentEvent table (docs/blockatm-api.md §4.9).
const V2_EVENT_FIELDS: [&str; 13] = [
    "id",
    "orderNo",
    "chainId",
    "cashierId",
    "amount",
    "custNo",
    "network",
    "symbol",
    "txId",
    "orderType",
    "status",
    "fromAddress",
    "blockTime",
];

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
    world_with(
        name,
        SandboxOptions {
            rate_limit_per_minute: 10_000,
            api: Api::V1,
            ..SandboxOptions::default()
        },
    )
    .await
}

async fn world_with(name: &str, options: SandboxOptions) -> World {
    let anvil = Anvil::start();
    let hooks = WebhookReceiver::start().await;
    let keys = MerchantKeys::new("7d0c7d4e-3c1f-4a55-9a4e-2f1a3b9c0d11");
    let dir = tempdir::Dir::new(name);
    let binary = env!("CARGO_BIN_EXE_blockatm-sandbox").into();
    let sandbox = Sandbox::start_with(binary, &anvil, &keys, &hooks.url, &dir, options);
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
    json!({"orderNo": order_no, "chainId": "31337", "symbol": "USDT", "amount": amount}).to_string()
}

fn keys_of(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// A V1 callback's signed string as a merchant that binds the documented fields would build it
/// (BlockATM's Java demo binds a `DemoObj` class): those fields only, nulls skipped, each value's
/// JSON text (strings unquoted), sorted by key, joined with `&`, then `&time=`. Written here from
/// the docs, not with the protocol crate, so it checks the sandbox independently.
fn documented_v1_signed_string(body: &str, time: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap();
    let mut pairs: Vec<String> = V1_CALLBACK_FIELDS
        .iter()
        .filter_map(|field| match body.get(*field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(format!("{field}={text}")),
            Some(Value::Number(number)) => Some(format!("{field}={number}")),
            Some(other) => panic!("{field} is neither a string nor a number: {other}"),
        })
        .collect();
    pairs.sort();
    pairs.push(format!("time={time}"));
    pairs.join("&")
}

impl World {
    /// The payments matching no order, as test mode lists them.
    async fn unmatched(&self) -> Vec<Value> {
        let reply = self
            .client
            .get(&format!("/sandbox/unmatched?apiKey={}", self.keys.api_key))
            .await;
        reply.body["data"].as_array().unwrap().clone()
    }

    async fn create(&self, order_no: &str, amount: &str) -> Value {
        let reply = self
            .client
            .post_signed(
                v1::PATH_CREATE_ORDER,
                &order_body(order_no, amount),
                &self.keys,
                Signing::V1,
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// The order in the sandbox's own detail (test mode).
    async fn view(&self, order_no: &str) -> Value {
        let reply = self
            .client
            .get(&format!("/sandbox/orders/{order_no}"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["data"].clone()
    }

    /// The order's V1 payment record, as BlockATM's query answers it.
    async fn record(&self, order_no: &str) -> Value {
        let reply = self
            .client
            .get_signed(
                v1::PATH_QUERY_QR_PAYMENT,
                &format!("orderNo={order_no}"),
                &self.keys,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    async fn order_count(&self) -> usize {
        let reply = self
            .client
            .get_signed(v1::PATH_QUERY_CONTRACT_PAYMENT, "pageSize=100", &self.keys)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body.as_array().unwrap().len()
    }

    async fn wait_state(&self, order_no: &str, state: &str) -> Value {
        eventually(&format!("order {order_no} to be {state}"), WAIT, || async {
            let order = self.view(order_no).await;
            (order["state"] == state).then_some(order)
        })
        .await
    }

    async fn pay(&self, id: &str, body: Value) -> Value {
        let reply = self
            .client
            .post(&format!("/sandbox/orders/{id}/pay"), body)
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

    async fn set_faults(&self, faults: Value) {
        let reply = self.client.post("/sandbox/faults", faults).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// Test mode's list of queued webhooks and their deliveries.
    async fn deliveries(&self, query: &str) -> Vec<Value> {
        let reply = self.client.get(&format!("/sandbox/webhooks?{query}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["data"].as_array().unwrap().clone()
    }

    /// Webhooks received once every queued one is delivered.
    async fn delivered_webhooks(&self) -> Vec<ReceivedWebhook> {
        eventually("every webhook to be delivered", WAIT, || async {
            let all = self.deliveries("").await;
            all.iter()
                .all(|d| !d["deliveredAt"].is_null())
                .then(|| self.hooks.all())
        })
        .await
    }

    /// The bodies of the webhooks received, parsed.
    fn bodies(hooks: &[ReceivedWebhook]) -> Vec<Value> {
        hooks.iter().map(ReceivedWebhook::json).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn bad_requests_get_401_and_change_nothing() {
    let w = world("auth").await;
    let body = order_body("AUTH-1", "10");
    let unauthorized = |reply: &Reply, needle: &str| {
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.body["code"], "000401");
        assert_eq!(reply.body["success"], false);
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
        .post_signed(v1::PATH_CREATE_ORDER, &body, &w.keys, Signing::None, None)
        .await;
    unauthorized(&unsigned, "missing header BlockATM-Signature-V1");

    let stale = w
        .client
        .post_signed(
            v1::PATH_CREATE_ORDER,
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
            v1::PATH_CREATE_ORDER,
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
        .post_signed(v1::PATH_CREATE_ORDER, &body, &stranger, Signing::V1, None)
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
            .post(format!("{}{}", w.client.base, v1::PATH_CREATE_ORDER))
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
        "no rejected request made an order"
    );

    // The same request, properly signed (V2 this time), goes through.
    let good = w
        .client
        .post_signed(v1::PATH_CREATE_ORDER, &body, &w.keys, Signing::V2, None)
        .await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(w.order_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_101st_request_in_a_minute_is_limited_then_blocked_until_the_block_ends() {
    let w = world_with(
        "rate",
        SandboxOptions {
            rate_limit_per_minute: 100,
            api: Api::V1,
            ..SandboxOptions::default()
        },
    )
    .await;
    let path = v1::PATH_QUERY_CONTRACT_PAYMENT;
    for _ in 0..100 {
        let reply = w.client.get_with(path, "", &w.keys, Signing::None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let limited = w.client.get_signed(path, "", &w.keys).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["code"], "000429");
    let retry_after: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));

    let blocked = w.client.get_signed(path, "", &w.keys).await;
    assert_eq!(blocked.status, 418);
    assert_eq!(blocked.body["code"], "000418");
    assert!(blocked.retry_after.is_some());

    // The test configuration blocks for 2 s; the block then ends by itself.
    eventually("the block to end", WAIT, || async {
        let reply = w.client.get_signed(path, "", &w.keys).await;
        (reply.status == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v1_creation_takes_chain_ids_as_strings_or_numbers_and_answers_bare() {
    let w = world("create").await;
    let receiver = w.sandbox.receiving_address(&w.keys.api_key);
    for (order_no, chain_id) in [("STR-1", json!("31337")), ("NUM-1", json!(31337))] {
        // As a merchant would send it, with a field the sandbox does not know.
        let body = json!({
            "orderNo": order_no, "chainId": chain_id, "symbol": "USDT", "amount": 12.50,
            "custNo": "C-7", "redirectUrl": "https://shop.example/back"
        })
        .to_string();
        let reply = w
            .client
            .post_signed(v1::PATH_CREATE_ORDER, &body, &w.keys, Signing::V1, None)
            .await;
        assert_eq!(reply.status, 200, "{order_no}: {}", reply.body);
        assert_eq!(
            keys_of(&reply.body),
            BTreeSet::from(["toAddress", "cashierUrl", "platOrderNo", "expireTime"]),
            "bare, and only the creation's fields: {}",
            reply.body
        );
        let created: v1::CreatedOrder = serde_json::from_value(reply.body.clone()).unwrap();
        assert_eq!(created.to_address, receiver);
        let plat = created.plat_order_no.unwrap().0;
        assert!(plat.bytes().all(|b| b.is_ascii_digit()), "{plat}");
        assert!(
            created
                .cashier_url
                .unwrap()
                .ends_with(&format!("/cashier/{plat}"))
        );
        assert!(created.expire_time.unwrap() > now_ms());
        let record = w.record(order_no).await;
        assert_eq!(record["custNo"], "C-7");
        assert_eq!(w.view(order_no).await["amount"], "12.5");
    }

    // A retry is the same order; the number reused for other terms is refused.
    let first = w.create("AGAIN-1", "10").await;
    assert_eq!(w.create("AGAIN-1", "10").await, first);
    let conflict = w
        .client
        .post_signed(
            v1::PATH_CREATE_ORDER,
            &order_body("AGAIN-1", "11"),
            &w.keys,
            Signing::V1,
            None,
        )
        .await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.body["code"], "000106");
    assert_eq!(conflict.body["data"], Value::Null);

    let missing = w
        .client
        .post_signed(
            v1::PATH_CREATE_ORDER,
            r#"{"orderNo":"X","chainId":"31337","symbol":"USDT"}"#,
            &w.keys,
            Signing::V1,
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["code"].clone()),
        (400, json!("000103"))
    );
    let bad_chain = w
        .client
        .post_signed(
            v1::PATH_CREATE_ORDER,
            &json!({"orderNo": "X", "chainId": "ETH", "symbol": "USDT", "amount": "1"}).to_string(),
            &w.keys,
            Signing::V1,
            None,
        )
        .await;
    assert_eq!(
        (bad_chain.status, bad_chain.body["code"].clone()),
        (400, json!("000104"))
    );
}

/// `--v1-envelope`: V1's successes come in V2's envelope `{code: "200", success, data, msg,
/// trace}` (V1 documents no answer shape), the same data inside; refusals are as ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v1_answers_in_the_envelope_when_asked() {
    let w = world_with(
        "v1-envelope",
        SandboxOptions {
            rate_limit_per_minute: 10_000,
            api: Api::V1,
            v1_envelope: true,
            ..SandboxOptions::default()
        },
    )
    .await;
    assert_eq!(w.sandbox.ready["enveloped"], true);
    let enveloped = |body: &Value| {
        assert_eq!(body["code"], "200", "{body}");
        assert_eq!(body["success"], true, "{body}");
        assert!(body["trace"].is_string(), "{body}");
        body["data"].clone()
    };
    let created = enveloped(&w.create("ENV-1", "10").await);
    assert_eq!(
        keys_of(&created),
        BTreeSet::from(["toAddress", "cashierUrl", "platOrderNo", "expireTime"])
    );
    let record = enveloped(&w.record("ENV-1").await);
    assert_eq!(record["platOrderNo"], created["platOrderNo"]);
    assert_eq!(record["status"], 0);
    let records = w
        .client
        .get_signed(v1::PATH_QUERY_QR_PAYMENT, "page=1", &w.keys)
        .await;
    assert_eq!(enveloped(&records.body)[0]["orderNo"], "ENV-1");
    for path in [v1::PATH_NETWORKS, v1::PATH_TOKENS, PATH_RATES] {
        let list = w.client.get(path).await;
        assert!(enveloped(&list.body).is_array(), "{path}");
    }
    let conflict = w
        .client
        .post_signed(
            v1::PATH_CREATE_ORDER,
            &order_body("ENV-1", "11"),
            &w.keys,
            Signing::V1,
            None,
        )
        .await;
    assert_eq!(
        (conflict.status, conflict.body["code"].clone()),
        (409, json!("000106"))
    );
    assert_eq!(conflict.body["success"], false);
}

/// `--minimal-lists`: the public lists say only which chains and tokens are enabled, `chainId`
/// (a string, as BlockATM's examples write it) and a token's `symbol`, the nothing more BlockATM
/// documents of them; the `chainId` filter still applies. The default lists stay described.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_public_lists_carry_only_chain_ids_and_symbols_when_asked() {
    let w = world_with(
        "minimal-lists",
        SandboxOptions {
            rate_limit_per_minute: 10_000,
            minimal_lists: true,
            ..SandboxOptions::default()
        },
    )
    .await;
    let networks = w.client.get(v1::PATH_NETWORKS).await;
    assert_eq!(networks.status, 200, "{}", networks.body);
    assert_eq!(networks.body, json!([{"chainId": "31337"}]));
    let tokens = w.client.get(v1::PATH_TOKENS).await;
    assert_eq!(tokens.body, json!([{"chainId": "31337", "symbol": "USDT"}]));
    let filtered = w
        .client
        .get(&format!("{}?chainId=1", v1::PATH_TOKENS))
        .await;
    assert_eq!(filtered.body, json!([]));
    let described = world("lists-described").await;
    let tokens = described.client.get(v1::PATH_TOKENS).await;
    assert_eq!(tokens.body[0]["decimals"], 6, "{}", tokens.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_documented_v1_queries_and_public_lists_answer_and_nothing_else_is_there() {
    let w = world("queries").await;
    let created = w.create("Q-1", "3").await;
    w.create("Q-2", "4").await;

    let qr = w.record("Q-1").await;
    let contract = w
        .client
        .get_with(
            v1::PATH_QUERY_CONTRACT_PAYMENT,
            "orderNo=Q-1",
            &w.keys,
            Signing::None,
        )
        .await;
    assert_eq!(contract.status, 200, "{}", contract.body);
    assert_eq!(contract.body, qr, "both queries answer the same record");
    let record: v1::Payment = serde_json::from_value(qr.clone()).unwrap();
    assert_eq!(
        record.plat_order_no.0,
        created["platOrderNo"].as_str().unwrap()
    );
    assert_eq!(qr["chainId"], "31337");
    assert_eq!(
        (qr["status"].clone(), qr["type"].clone()),
        (json!(0), json!(2))
    );
    assert_eq!(qr["amount"], "0", "nothing received yet");
    assert!(qr.get("txId").is_none());

    let unknown = w
        .client
        .get_signed(v1::PATH_QUERY_QR_PAYMENT, "orderNo=NOPE", &w.keys)
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "000202");

    let page = w
        .client
        .get_signed(v1::PATH_QUERY_QR_PAYMENT, "page=2&pageSize=1", &w.keys)
        .await;
    let page = page.body.as_array().unwrap().clone();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["orderNo"], "Q-2", "oldest first");
    let pending = w
        .client
        .get_signed(v1::PATH_QUERY_QR_PAYMENT, "status=0", &w.keys)
        .await;
    assert_eq!(pending.body.as_array().unwrap().len(), 2);
    let bad = w
        .client
        .get_signed(v1::PATH_QUERY_QR_PAYMENT, "status=PENDING", &w.keys)
        .await;
    assert_eq!(bad.status, 400, "V1's statuses are numbers");

    let networks = w.client.get(v1::PATH_NETWORKS).await;
    assert_eq!(networks.status, 200);
    assert_eq!(
        networks.body[0]["chainId"], 31337,
        "bare: {}",
        networks.body
    );
    let tokens = w
        .client
        .get(&format!("{}?chainId=31337&apiKey=pk_any", v1::PATH_TOKENS))
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body[0]["symbol"], "USDT");
    let rates = w.client.get(PATH_RATES).await;
    assert_eq!(rates.body[0]["rate"], "1.0002");

    for gone in [
        "/api/v1/public/webhookKey",
        "/api/v1/payment/unmatched",
        "/api/v1/webhook/deliveries",
        v2::PATH_ORDER_DETAIL,
    ] {
        let reply = w.client.get_signed(gone, "", &w.keys).await;
        assert_eq!(reply.status, 404, "{gone} is not BlockATM's V1 API");
    }
    let key = w.client.get("/sandbox/webhookKey").await;
    assert_eq!(
        key.body["data"]["publicKey"],
        w.sandbox.gateway_public_key()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_payment_confirms_and_documented_callbacks_verify_independently() {
    let w = world("paid").await;
    let body = json!({"orderNo": "PAID-1", "chainId": "31337", "symbol": "USDT",
                      "amount": "25.5", "custNo": "C-1"})
    .to_string();
    let reply = w
        .client
        .post_signed(v1::PATH_CREATE_ORDER, &body, &w.keys, Signing::V1, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let created = reply.body;
    let view = w.view("PAID-1").await;
    assert_eq!(view["state"], "waiting");
    assert_eq!(view["amountAtomic"], "25500000");

    let paid_tx = w.pay("PAID-1", json!({})).await["txId"].clone();
    let confirming = w.wait_state("PAID-1", "confirming").await;
    assert_eq!(confirming["confirmations"], 1);
    assert_eq!(confirming["requiredConfirmations"], 2);
    assert_eq!(w.record("PAID-1").await["status"], 0);

    w.mine(1).await;
    let paid = w.wait_state("PAID-1", "paid").await;
    assert_eq!(paid["paidAmount"], "25.5");
    assert_eq!(paid["remainingAmount"], "0");
    assert_eq!(paid["payments"].as_array().unwrap().len(), 1);
    let record = w.record("PAID-1").await;
    assert_eq!(
        (record["status"].clone(), record["amount"].clone()),
        (json!(1), json!("25.5"))
    );

    let public_key = V1PublicKey::from_base64_spki(&w.sandbox.gateway_public_key()).unwrap();
    let hooks = w.delivered_webhooks().await;
    assert_eq!(hooks.len(), 2, "the payment seen, then paid");
    let documented: BTreeSet<&str> = V1_CALLBACK_FIELDS.into();
    for hook in &hooks {
        assert_eq!(hook.header("BlockATM-Event"), Some("QR-Payment"));
        let body = hook.json();
        let keys = keys_of(&body);
        assert!(keys.is_subset(&documented), "undocumented fields in {body}");
        assert_eq!(
            keys, documented,
            "every documented field, the order given: {body}"
        );
        assert_eq!(body["chainId"], "31337");
        assert_eq!(body["type"], 2);
        assert_eq!(body["platOrderNo"], created["platOrderNo"]);
        let time = hook.header("BlockATM-Request-Time").unwrap();
        public_key
            .verify(
                &documented_v1_signed_string(&hook.body, time),
                hook.header("BlockATM-Signature-V1").unwrap(),
            )
            .expect("a merchant binding the documented fields verifies the callback");
        // And the protocol crate's reading of the whole body agrees.
        let whole = signed_string::for_json_body(&hook.body, time.parse().unwrap()).unwrap();
        assert_eq!(whole, documented_v1_signed_string(&hook.body, time));
    }
    let bodies = World::bodies(&hooks);
    assert_eq!(
        (bodies[0]["status"].clone(), bodies[0]["amount"].clone()),
        (json!(0), json!("25.5")),
        "seen: processing, with what came"
    );
    assert_eq!(bodies[0]["txId"], paid_tx);
    assert_eq!(bodies[1]["status"], 1);
    assert_eq!(bodies[1]["orderNo"], "PAID-1");
    assert_eq!(bodies[1]["custNo"], "C-1");
    assert_eq!(bodies[1]["fee"], "0");
    let distinct: BTreeSet<&str> = hooks.iter().map(|h| h.body.as_str()).collect();
    assert_eq!(distinct.len(), hooks.len(), "never the same body twice");

    // The internal delivery id stays internal.
    let deliveries = w.deliveries("orderNo=PAID-1").await;
    assert!(
        deliveries
            .iter()
            .all(|d| d["id"].as_str().unwrap().starts_with("evt_"))
    );
    assert!(hooks.iter().all(|h| !h.body.contains("evt_")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_partial_payment_reports_what_came_and_the_rest_completes_it() {
    let w = world("partial").await;
    w.create("PART-1", "10").await;
    w.pay("PART-1", json!({"amount": "4"})).await;
    let partial = w.wait_state("PART-1", "partially_paid").await;
    assert_eq!(partial["paidAmount"], "4");
    assert_eq!(partial["remainingAmount"], "6");
    let record = w.record("PART-1").await;
    assert_eq!(
        (record["status"].clone(), record["amount"].clone()),
        (json!(0), json!("4"))
    );

    w.pay("PART-1", json!({})).await; // what remains, from the same payer
    w.wait_state("PART-1", "confirming").await;
    w.mine(1).await;
    let paid = w.wait_state("PART-1", "paid").await;
    assert_eq!(paid["paidAmount"], "10");
    assert_eq!(paid["payments"].as_array().unwrap().len(), 2);

    let bodies = World::bodies(&w.delivered_webhooks().await);
    let seen: Vec<(Value, Value)> = bodies
        .iter()
        .map(|b| (b["status"].clone(), b["amount"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!(0), json!("4")),
            (json!(0), json!("10")),
            (json!(1), json!("10"))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_payment_after_expiry_is_paid_late() {
    let w = world("late").await;
    w.create("LATE-1", "7").await;
    let expired = w
        .client
        .post("/sandbox/orders/LATE-1/expire", json!(null))
        .await;
    assert_eq!(expired.status, 200, "{}", expired.body);
    w.wait_state("LATE-1", "expired").await;
    assert_eq!(w.record("LATE-1").await["status"], -1);

    // Block times are whole seconds: a payment mined in the second the order expired counts as
    // in time (a flake under load, where the two fell in one second).
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    w.pay("LATE-1", json!({})).await;
    w.mine(1).await;
    let late = w.wait_state("LATE-1", "paid_late").await;
    assert_eq!(late["payments"][0]["late"], true);
    assert_eq!(w.record("LATE-1").await["status"], 1);

    let statuses: Vec<Value> = World::bodies(&w.delivered_webhooks().await)
        .iter()
        .map(|b| b["status"].clone())
        .collect();
    assert_eq!(statuses.first(), Some(&json!(-1)), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&json!(1)), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_cancelled_order_is_reported_as_failed() {
    let w = world("cancel").await;
    w.create("CANCEL-1", "2").await;
    let reply = w
        .client
        .post("/sandbox/orders/CANCEL-1/cancel", json!(null))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["data"]["state"], "failed");
    let bodies = World::bodies(&w.delivered_webhooks().await);
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        (bodies[0]["status"].clone(), bodies[0]["amount"].clone()),
        (json!(-1), json!("0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_reorg_removes_an_unconfirmed_payment() {
    let w = world("reorg").await;
    w.create("REORG-1", "3").await;
    w.pay("REORG-1", json!({})).await;
    let confirming = w.wait_state("REORG-1", "confirming").await;
    assert_eq!(confirming["payments"].as_array().unwrap().len(), 1);

    let reply = w.client.post("/sandbox/reorg", json!({"depth": 1})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let waiting = w.wait_state("REORG-1", "waiting").await;
    assert_eq!(waiting["payments"], json!([]));
    assert_eq!(waiting["paidAmount"], "0");
    assert_eq!(w.record("REORG-1").await["amount"], "0");

    // Paid again on the new chain, it confirms as usual.
    w.pay("REORG-1", json!({})).await;
    w.mine(1).await;
    w.wait_state("REORG-1", "paid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn open_orders_of_the_same_amount_ask_it_exactly_and_are_paid_oldest_first() {
    let w = world("same").await;
    w.create("SAME-1", "10").await;
    w.create("SAME-2", "10").await;
    assert_eq!(w.view("SAME-1").await["amount"], "10");
    assert_eq!(
        w.view("SAME-2").await["amount"],
        "10",
        "not raised to tell it apart"
    );

    // Plain transfers of the exact amount, from different payers: the first pays the oldest.
    w.pay("SAME-2", json!({"payer": 2})).await;
    w.wait_state("SAME-1", "confirming").await;
    assert_eq!(w.view("SAME-2").await["state"], "waiting");
    w.pay("SAME-2", json!({"payer": 3})).await;
    w.wait_state("SAME-2", "confirming").await;
    w.mine(1).await;
    w.wait_state("SAME-1", "paid").await;
    w.wait_state("SAME-2", "paid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_deposit_names_its_order_and_a_stray_transfer_is_kept_unmatched() {
    let w = world("deposit").await;
    w.create("DEP-1", "5").await;
    w.create("DEP-2", "8").await;
    w.pay("DEP-1", json!({"method": "deposit", "amount": "2"}))
        .await;
    let partial = w.wait_state("DEP-1", "partially_paid").await;
    assert_eq!(partial["payments"][0]["kind"], "deposit");
    assert_eq!(
        partial["payments"].as_array().unwrap().len(),
        1,
        "the deposit's own transfer is not counted twice"
    );
    let record = w.record("DEP-1").await;
    assert_eq!(record["type"], 1, "a contract payment");

    // 1.5 USDT by plain transfer from a fresh payer, with two open orders: nobody's.
    w.pay("DEP-2", json!({"amount": "1.5", "payer": 4})).await;
    let unmatched = eventually("the stray transfer to be listed", WAIT, || async {
        let reply = w
            .client
            .get(&format!("/sandbox/unmatched?apiKey={}", w.keys.api_key))
            .await;
        let list = reply.body["data"].as_array().unwrap().clone();
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(unmatched[0]["amount"], "1.5");
    assert_eq!(w.view("DEP-2").await["state"], "waiting");

    let hooks = w.delivered_webhooks().await;
    assert_eq!(hooks.len(), 1, "only DEP-1 changed");
    assert_eq!(hooks[0].header("BlockATM-Event"), Some("Payment"));
    assert_eq!(hooks[0].json()["type"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_restart_keeps_every_order_and_payment() {
    let mut w = world("restart").await;
    let created = w.create("KEEP-1", "9").await;
    w.create("KEEP-2", "1").await;
    // With two open orders, only a deposit can pay part of one.
    w.pay("KEEP-1", json!({"amount": "4", "method": "deposit"}))
        .await;
    w.wait_state("KEEP-1", "partially_paid").await;
    // A stray transfer nobody's order claims is kept in the ledger too: a ledger holding one
    // could not be read back ("u128 is not supported"), and the sandbox would not start.
    w.pay("KEEP-2", json!({"amount": "1.5", "payer": 4})).await;
    eventually("the stray transfer to be kept", WAIT, || async {
        (w.unmatched().await.len() == 1).then_some(())
    })
    .await;

    w.sandbox.restart();
    w.client = Client::new(&w.sandbox.url);
    assert_eq!(w.order_count().await, 2);
    let kept = w.unmatched().await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["amount"], "1.5");
    let kept = w.view("KEEP-1").await;
    assert_eq!(kept["state"], "partially_paid");
    assert_eq!(kept["paidAmount"], "4");
    assert_eq!(kept["platOrderNo"], created["platOrderNo"]);

    w.pay("KEEP-1", json!({})).await;
    w.mine(1).await;
    let paid = w.wait_state("KEEP-1", "paid").await;
    assert_eq!(
        paid["payments"].as_array().unwrap().len(),
        2,
        "nothing credited twice after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn injected_faults_and_dropped_webhooks_are_retried_until_delivered() {
    let w = world("faults").await;
    w.create("FAULT-1", "2").await;
    let query = v1::PATH_QUERY_QR_PAYMENT;

    w.set_faults(json!({"forceStatus": 418, "dropWebhooks": true}))
        .await;
    let blocked = w.client.get_signed(query, "", &w.keys).await;
    assert_eq!(blocked.status, 418);
    assert!(blocked.retry_after.is_some());

    w.set_faults(json!({"malformedRate": 1.0, "dropWebhooks": true}))
        .await;
    let garbage = w.client.get_signed(query, "", &w.keys).await;
    assert_eq!(garbage.status, 200);
    assert!(
        garbage.body.is_string(),
        "the body is not JSON: {}",
        garbage.body
    );

    w.set_faults(json!({"dropWebhooks": true})).await;
    w.pay("FAULT-1", json!({})).await;
    w.mine(1).await;
    w.wait_state("FAULT-1", "paid").await;
    let failed_attempts = eventually("failed delivery attempts to be logged", WAIT, || async {
        let attempts: Vec<Value> = w
            .deliveries("orderNo=FAULT-1")
            .await
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

    w.set_faults(json!({})).await;
    let statuses: Vec<Value> = World::bodies(&w.delivered_webhooks().await)
        .iter()
        .map(|b| b["status"].clone())
        .collect();
    assert!(statuses.contains(&json!(1)), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_delayed_webhook_lets_the_chain_tell_first() {
    let w = world("delay").await;
    w.create("SLOW-1", "3").await;
    let delay = 3_000;
    w.set_faults(json!({"webhookDelayMs": delay})).await;
    w.pay("SLOW-1", json!({})).await;
    w.wait_state("SLOW-1", "confirming").await;
    assert!(
        w.hooks.all().is_empty(),
        "the chain shows the payment while its webhook is held"
    );
    let hooks = eventually("the held webhook", WAIT, || async {
        let hooks = w.hooks.all();
        (!hooks.is_empty()).then_some(hooks)
    })
    .await;
    let queued = w.deliveries("orderNo=SLOW-1").await[0]["created"]
        .as_u64()
        .unwrap();
    assert!(
        hooks[0].received_at >= queued + delay,
        "held {} ms, not {delay}",
        hooks[0].received_at - queued
    );
    assert_eq!(hooks[0].json()["amount"], "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v2_creates_by_pay_order_and_sends_hmac_signed_payment_events() {
    let w = world_with(
        "v2",
        SandboxOptions {
            rate_limit_per_minute: 10_000,
            api: Api::V2,
            ..SandboxOptions::default()
        },
    )
    .await;
    assert_eq!(w.sandbox.ready["api"], "v2");
    let receiver = w.sandbox.receiving_address(&w.keys.api_key);

    let body = json!({"cashierId": "86100021", "orderNo": "V2-1", "amount": "19.99",
                      "symbol": "USDT", "chainId": "31337", "custNo": "C-2",
                      "redirectUrl": "https://shop.example/back"})
    .to_string();
    let v1_signed = w
        .client
        .post_signed(v2::PATH_CREATE_ORDER, &body, &w.keys, Signing::V1, None)
        .await;
    assert_eq!(
        v1_signed.status, 401,
        "V2 is signed with the secret: {}",
        v1_signed.body
    );
    let reply = w
        .client
        .post_signed(v2::PATH_CREATE_ORDER, &body, &w.keys, Signing::V2, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["code"], "200");
    assert_eq!(reply.body["success"], true);
    let created = &reply.body["data"];
    assert_eq!(
        keys_of(created),
        BTreeSet::from(["orderNo", "payUrl", "expireTime"]),
        "no receiving address: the merchant has it from its cashier settings"
    );
    assert_eq!(created["orderNo"], "V2-1");
    let pay_page = w
        .client
        .http
        .get(created["payUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pay_page.contains(&receiver.to_string()), "{pay_page}");

    let other_cashier = body.replace("86100021", "1");
    let refused = w
        .client
        .post_signed(
            v2::PATH_CREATE_ORDER,
            &other_cashier,
            &w.keys,
            Signing::V2,
            None,
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // An order number used before is "Data Already Exists", with the same terms or others:
    // the merchant reads the order with payorder/detail. Nothing is made.
    for again in [body.clone(), body.replace("19.99", "20")] {
        let exists = w
            .client
            .post_signed(v2::PATH_CREATE_ORDER, &again, &w.keys, Signing::V2, None)
            .await;
        assert_eq!(
            (exists.status, exists.body["code"].clone()),
            (409, json!("000201")),
            "{}",
            exists.body
        );
        assert_eq!(exists.body["success"], false);
    }

    let networks = w
        .client
        .get(&format!("{}?apiKey=pk_any", v2::PATH_NETWORKS))
        .await;
    assert_eq!(
        networks.body["data"][0]["chainId"], 31337,
        "{}",
        networks.body
    );
    let tokens = w.client.get(v2::PATH_TOKENS).await;
    assert_eq!(tokens.body["data"][0]["symbol"], "USDT", "{}", tokens.body);
    let v1_path = w.client.get(v1::PATH_NETWORKS).await;
    assert_eq!(v1_path.status, 404, "one dialect per process");

    w.pay("V2-1", json!({})).await;
    w.wait_state("V2-1", "confirming").await;
    w.mine(1).await;
    w.wait_state("V2-1", "paid").await;

    let detail = w
        .client
        .get_with(
            v2::PATH_ORDER_DETAIL,
            "orderNo=V2-1",
            &w.keys,
            Signing::None,
        )
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    let detail: v2::OrderDetail = serde_json::from_value(detail.body["data"].clone()).unwrap();
    assert_eq!(detail.status.v2_name(), "SUCCESS");
    assert_eq!(detail.amount.0, "19.99");
    let missing = w
        .client
        .get_with(
            v2::PATH_ORDER_DETAIL,
            "orderNo=NOPE",
            &w.keys,
            Signing::None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["code"].clone()),
        (404, json!("000202"))
    );
    let list = w
        .client
        .get_with(
            v2::PATH_ORDER_LIST,
            "status=SUCCESS&page=1&pageSize=10",
            &w.keys,
            Signing::None,
        )
        .await;
    let list: v2::OrderList = serde_json::from_value(list.body["data"].clone()).unwrap();
    assert_eq!((list.total, list.list[0].order_no.as_str()), (1, "V2-1"));

    let hooks = w.delivered_webhooks().await;
    let documented: BTreeSet<&str> = V2_EVENT_FIELDS.into();
    for hook in &hooks {
        assert_eq!(hook.header("BlockATM-Event"), Some("Payment"));
        assert!(hook.header("BlockATM-Signature-V1").is_none());
        let time: u64 = hook
            .header("BlockATM-Request-Time")
            .unwrap()
            .parse()
            .unwrap();
        w.keys
            .webhook_secret
            .verify(
                &signed_string::for_json_body(&hook.body, time).unwrap(),
                hook.header("BlockATM-Signature-V2").unwrap(),
            )
            .expect("signed with the webhook secret");
        let body = hook.json();
        assert!(
            keys_of(&body).is_subset(&documented),
            "undocumented fields in {body}"
        );
        assert!(
            body["id"].is_u64(),
            "a number, as V2's examples write it: {body}"
        );
        assert_eq!(body["cashierId"], 86_100_021);
        assert_eq!(body["chainId"], "31337");
    }
    let events: Vec<v2::PaymentEvent> = hooks
        .iter()
        .map(|h| serde_json::from_str(&h.body).unwrap())
        .collect();
    let statuses: Vec<&str> = events.iter().map(|e| e.status.v2_name()).collect();
    assert_eq!(statuses, ["PENDING", "SUCCESS"]);
    let success = &events[1];
    assert_eq!(success.amount.0, "19.99");
    assert_eq!(success.order_no.as_deref(), Some("V2-1"));
    assert_eq!(success.cust_no.as_deref(), Some("C-2"));
    assert!(success.from_address.is_some() && success.block_time.is_some());
    assert_eq!(success.order_type.map(|t| t.number()), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_cashier_page_shows_the_exact_transfer() {
    let w = world("cashier").await;
    let created = w.create("CASH-1", "12.5").await;
    let page = w
        .client
        .http
        .get(created["cashierUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("12.5 USDT"), "{page}");
    assert!(page.contains(created["toAddress"].as_str().unwrap()));
    assert!(page.contains("<svg"), "a QR code");
    let uri = format!(
        "ethereum:{}@31337/transfer?address={}&amp;uint256=12500000",
        w.view("CASH-1").await["tokenContract"].as_str().unwrap(),
        created["toAddress"].as_str().unwrap()
    );
    assert!(
        page.contains(&uri),
        "the wallet link carries atomic units: {page}"
    );
    assert!(page.contains(r#"role="status""#));
}

/// One gateway watches several networks, as BlockATM does: here two chains, whose USDT has 6
/// decimals on one and 18 (as on BNB Smart Chain) on the other. An order on the 18-decimal chain
/// asks and is paid in that token's units; the same amount sent on the other chain to the same
/// receiving address pays nothing there and is kept unmatched, with the chain it came on.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn two_chains_each_order_is_paid_on_its_own_chain_and_in_its_decimals() {
    let second = Anvil::start_as(31338);
    let w = world_with(
        "two-chains",
        SandboxOptions {
            more_chains: vec![second.rpc_url.clone()],
            rate_limit_per_minute: 10_000,
            ..SandboxOptions::default()
        },
    )
    .await;
    let chains: Vec<u64> = w.sandbox.ready["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chainId"].as_u64().unwrap())
        .collect();
    assert_eq!(chains, [31337, 31338]);
    let tokens = w
        .client
        .get(&format!("{}?chainId=31338&apiKey=pk_any", v1::PATH_TOKENS))
        .await;
    assert_eq!(tokens.body[0]["decimals"], 18, "{}", tokens.body);

    let body =
        json!({"orderNo": "bnb-1", "chainId": "31338", "symbol": "USDT", "amount": "24.995001"});
    let reply = w
        .client
        .post_signed(
            v1::PATH_CREATE_ORDER,
            &body.to_string(),
            &w.keys,
            Signing::V1,
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let sent = w.pay("bnb-1", json!({})).await;
    assert_eq!(sent["chainId"], 31338);
    assert_eq!(sent["amount"], "24.995001");
    let seen = w.wait_state("bnb-1", "confirming").await;
    assert_eq!(seen["payments"][0]["amountAtomic"], "24995001000000000000");
    w.client
        .post("/sandbox/mine", json!({"blocks": 1, "chainId": 31338}))
        .await;
    w.wait_state("bnb-1", "paid").await;

    // The 6-decimal chain's order, paid on the wrong network.
    w.create("eth-1", "5").await;
    let sent = w.pay("eth-1", json!({"chainId": 31338})).await;
    assert_eq!(sent["chainId"], 31338);
    let unmatched = eventually("the wrong-network transfer to be listed", WAIT, || async {
        let reply = w.client.get("/sandbox/unmatched").await;
        let list = reply.body["data"].as_array().cloned().unwrap_or_default();
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["chainId"], 31338);
    assert_eq!(unmatched[0]["amountAtomic"], "5000000000000000000");
    assert_eq!(unmatched[0]["txId"], sent["txId"]);
    w.mine(3).await;
    assert_eq!(
        w.view("eth-1").await["state"],
        "waiting",
        "not paid by another chain's transfer"
    );
}

/// Test mode's refund (the sandbox's own, not BlockATM's): a plain transfer from the merchant's
/// test account of exactly the amount, to the address asked, on chain, which pays no order;
/// an amount, address or chain that cannot be is refused and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn test_mode_pays_a_refund_from_the_merchants_account() {
    let w = world("refund").await;
    let chain = usdt_checkout_chain::ChainClient::connect(&w._anvil.rpc_url).unwrap();
    let accounts = w.client.get("/sandbox/accounts").await.body["data"].clone();
    let token: usdt_checkout_protocol::Address =
        accounts["tokens"][0].as_str().unwrap().parse().unwrap();
    let to: usdt_checkout_protocol::Address =
        accounts["accounts"][7].as_str().unwrap().parse().unwrap();
    let before = chain.token_balance(token, to).await.unwrap();

    let reply = w
        .client
        .post("/sandbox/refund", json!({"to": to, "amount": "1.25"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let paid = &reply.body["data"];
    assert_eq!(
        paid["from"], accounts["accounts"][0],
        "the merchant's test account"
    );
    assert_eq!(paid["amount"], "1.25");
    assert_eq!(paid["chainId"], 31337);
    assert_eq!(paid["token"], accounts["tokens"][0]);
    assert_eq!(
        chain.token_balance(token, to).await.unwrap(),
        before + 1_250_000
    );

    for body in [
        json!({"to": to, "amount": "0"}),
        json!({"to": to, "amount": "1.0000001"}),
        json!({"to": to, "amount": "1", "chainId": 999}),
        json!({"to": to, "amount": "1", "symbol": "DAI"}),
        json!({"to": "0x1234", "amount": "1"}),
    ] {
        let reply = w.client.post("/sandbox/refund", body.clone()).await;
        assert!((400..500).contains(&reply.status), "{body}: {}", reply.body);
    }
    assert_eq!(
        chain.token_balance(token, to).await.unwrap(),
        before + 1_250_000,
        "nothing more sent"
    );
    let unmatched = w
        .client
        .get(&format!("/sandbox/unmatched?apiKey={}", w.keys.api_key))
        .await;
    assert_eq!(
        unmatched.body["data"],
        json!([]),
        "no payment to the merchant"
    );
}
