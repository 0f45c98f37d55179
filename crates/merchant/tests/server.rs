//! The checkout server as a merchant runs it, against the real sandbox gateway on a real anvil
//! chain: checkouts priced by the server, paid on chain, seen through webhooks or the reconciler,
//! stored durably, and fulfilled once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use usdt_checkout_protocol::gateway::{HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_server::fulfillment;
use usdt_checkout_testkit::*;

const WAIT: Duration = Duration::from_secs(60);
const ADMIN_TOKEN: &str = "admin-token-for-tests";
const FULFILLMENT_SECRET: &str = "fulfillment-secret-for-tests";

/// The checkout server process, killed on drop.
struct CheckoutServer {
    url: String,
    child: Option<Child>,
    config: std::path::PathBuf,
}

impl CheckoutServer {
    fn start(config: std::path::PathBuf) -> Self {
        let mut server = Self {
            url: String::new(),
            child: None,
            config,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_checkout-server"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "usdt_checkout_server=warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the checkout server starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready: Value = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Ok(value) = serde_json::from_str(&line) {
                        break value;
                    }
                }
                _ => panic!("the checkout server exited before it was ready"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        self.url = format!("http://{}", ready["listen"].as_str().unwrap());
        self.child = Some(child);
    }

    /// Killed, as by a crash, and started again on the same database and port.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for CheckoutServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct World {
    _anvil: Anvil,
    sandbox: Sandbox,
    server: CheckoutServer,
    fulfillment: WebhookReceiver,
    http: reqwest::Client,
    _dir: tempdir::Dir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn world(name: &str) -> World {
    let anvil = Anvil::start();
    let fulfillment = WebhookReceiver::start().await;
    let keys = MerchantKeys::new("5e0f7a51-9a0b-4c55-8d2e-6b7c8d9e0f12");
    let dir = tempdir::Dir::new(name);
    let port = free_port();
    let webhook_url = format!("http://127.0.0.1:{port}/webhooks/blockatm");
    let sandbox = Sandbox::start(built_sandbox(), &anvil, &keys, &webhook_url, &dir, 100);
    let config = dir.path.join("checkout.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"
database = "{database}"
allowed_origins = ["http://shop.test"]

[gateway]
url = "{gateway}"
api_key = "{api_key}"
private_key = "{private_key}"
webhook_public_key = "{webhook_key}"
reconcile_interval_seconds = 1

[admin]
token = "{ADMIN_TOKEN}"

[fulfillment]
url = "{fulfillment}"
secret = "{FULFILLMENT_SECRET}"

[[items]]
id = "tee"
name = "T-shirt"
price = "25.00"
currency = "USD"

[[items]]
id = "mug"
name = "Mug"
price = "12"
currency = "USDT"
"#,
            database = dir.path.join("checkout.sqlite").display(),
            gateway = sandbox.url,
            api_key = keys.api_key,
            private_key = keys.v1.to_base64_pkcs8(),
            webhook_key = sandbox.gateway_public_key(),
            fulfillment = fulfillment.url,
        ),
    )
    .unwrap();
    let server = CheckoutServer::start(config);
    World {
        _anvil: anvil,
        sandbox,
        server,
        fulfillment,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        _dir: dir,
    }
}

impl World {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.server.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn checkout(&self, item: &str, key: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/checkouts",
                json!({"item": item, "chainId": 31337, "symbol": "USDT", "idempotencyKey": key}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn status(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/api/checkouts/{id}", self.server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn wait_state(&self, id: &str, state: &str) -> Value {
        eventually(&format!("checkout {id} to be {state}"), WAIT, || async {
            let view = self.status(id).await;
            (view["state"] == state).then_some(view)
        })
        .await
    }

    async fn pay(&self, view: &Value, body: Value) {
        let order_no = view["payment"]["orderNo"].as_str().unwrap();
        let reply = Client::new(&self.sandbox.url)
            .post(&format!("/sandbox/orders/{order_no}/pay"), body)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    async fn mine(&self) {
        let reply = Client::new(&self.sandbox.url)
            .post("/sandbox/mine", json!({"blocks": 1}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    async fn sandbox_faults(&self, faults: Value) {
        let reply = Client::new(&self.sandbox.url)
            .post("/sandbox/faults", faults)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// Fulfillment events received, each checked for its signature.
    fn fulfilled(&self) -> Vec<Value> {
        self.fulfillment
            .all()
            .iter()
            .map(|hook| {
                let header = hook.header(fulfillment::SIGNATURE_HEADER).unwrap();
                let time: u64 = header
                    .strip_prefix("t=")
                    .and_then(|rest| rest.split(',').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(
                    header,
                    fulfillment::sign(FULFILLMENT_SECRET, time, &hook.body)
                );
                hook.json()
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_priced_by_the_server_is_paid_on_chain_and_fulfilled_once() {
    let w = world("paid").await;
    // The browser sends a price of a cent; the server charges the catalog's 25.00 USD.
    let (status, view) = w
        .post(
            "/api/checkouts",
            json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-paid-0001",
                   "amount": "0.01", "price": "0.01", "payAmount": "0.01"}),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["state"], "waiting");
    assert_eq!(view["price"], json!({"amount": "25.00", "currency": "USD"}));
    assert_eq!(
        view["payment"]["amount"], "24.995001",
        "25 USD at 1.0002 USD per USDT, rounded up"
    );
    assert_eq!(view["payment"]["amountAtomic"], "24995001");
    let uri = view["payment"]["paymentUri"].as_str().unwrap();
    assert!(
        uri.contains("@31337/transfer?address=") && uri.ends_with("&uint256=24995001"),
        "{uri}"
    );
    assert!(view["expiresAt"].as_u64().unwrap() > view["serverTime"].as_u64().unwrap());

    // The same idempotency key (a double click, a retry) is the same checkout.
    let again = w.checkout("tee", "key-paid-0001").await;
    assert_eq!(again["id"], view["id"]);
    assert_eq!(again["payment"]["orderNo"], view["payment"]["orderNo"]);

    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    let confirming = w.wait_state(id, "confirming").await;
    assert_eq!(confirming["payment"]["requiredConfirmations"], 2);
    w.mine().await;
    let paid = w.wait_state(id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    assert_eq!(paid["payment"]["remaining"], "0");
    assert_eq!(paid["payment"]["transactions"].as_array().unwrap().len(), 1);

    eventually("the fulfillment event", WAIT, || async {
        (!w.fulfilled().is_empty()).then_some(())
    })
    .await;
    // Give later reconciliation rounds (every second) and webhooks the chance to add a second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = w.fulfilled();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "checkout.paid");
    assert_eq!(events[0]["checkoutId"], id);
    assert_eq!(events[0]["amountPaid"], "24.995001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_webhooks_dropped_the_reconciler_still_converges() {
    let w = world("reconcile").await;
    w.sandbox_faults(json!({"dropWebhooks": true})).await;
    let view = w.checkout("mug", "key-reconcile-01").await;
    assert_eq!(
        view["payment"]["amount"], "12",
        "priced in USDT: charged as is"
    );
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_replayed_webhooks_change_nothing_more_than_once() {
    let w = world("webhooks").await;
    let view = w.checkout("mug", "key-webhooks-01").await;
    let id = view["id"].as_str().unwrap();
    let order_no = view["payment"]["orderNo"].as_str().unwrap();
    let event = json!({
        "eventId": "evt_test_0001", "platOrderNo": "P0000000001", "orderNo": order_no, "custNo": null,
        "amount": "12", "fee": "0", "chainId": 31337, "network": "Local chain", "symbol": "USDT",
        "txId": "0xfeed", "type": "QR-Payment", "status": 1, "createTime": 1, "state": "paid",
        "payAmount": "12", "remainingAmount": "0", "overpaidAmount": "0", "confirmations": null,
        "requiredConfirmations": 2, "expireTime": 9_999_999_999_999u64, "eventTime": now_ms(),
    })
    .to_string();
    let send = |key: usdt_checkout_protocol::signature::V1PrivateKey, time: u64| {
        let signature = key.sign(&signed_string::for_json_body(&event, time).unwrap());
        w.http
            .post(format!("{}/webhooks/blockatm", w.server.url))
            .header("content-type", "application/json")
            .header(HEADER_REQUEST_TIME, time.to_string())
            .header(HEADER_SIGNATURE_V1, signature)
            .body(event.clone())
            .send()
    };
    let before = w.status(id).await;

    let forged = send(
        usdt_checkout_protocol::signature::V1PrivateKey::generate(),
        now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let stale = send(w.sandbox.gateway_private_key(), now_ms() - 120_000)
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    let after = w.status(id).await;
    assert_eq!(after["state"], "waiting");
    assert_eq!(
        after["version"], before["version"],
        "rejected webhooks changed nothing"
    );

    // Signed as the gateway signs: applied once, however often it arrives.
    for _ in 0..3 {
        let genuine = send(w.sandbox.gateway_private_key(), now_ms())
            .await
            .unwrap();
        assert_eq!(genuine.status(), 200);
    }
    let paid = w.status(id).await;
    assert_eq!(paid["state"], "paid");
    assert_eq!(
        paid["version"].as_i64().unwrap(),
        before["version"].as_i64().unwrap() + 1
    );
    let events = eventually("the fulfillment event", WAIT, || async {
        let events = w.fulfilled();
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_checkout_loses_nothing() {
    let mut w = world("restart").await;
    let view = w.checkout("tee", "key-restart-001").await;
    let id = view["id"].as_str().unwrap().to_owned();
    w.pay(&view, json!({"amount": "10"})).await;
    w.wait_state(&id, "partially_paid").await;

    // Down while the rest is paid: the gateway's webhooks fail and are retried.
    w.server.stop();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.server.restart();

    let paid = w.wait_state(&id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    assert_eq!(paid["payment"]["transactions"].as_array().unwrap().len(), 2);
    let again = w.checkout("tee", "key-restart-001").await;
    assert_eq!(
        again["id"],
        id.as_str(),
        "the idempotency key survives the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_reasons() {
    let w = world("bad").await;
    let cases = [
        (
            json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "short"}),
            400,
            "idempotencyKey",
        ),
        (
            json!({"item": "yacht", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-bad-00001"}),
            400,
            "yacht",
        ),
        (
            json!({"item": "tee", "chainId": 5, "symbol": "USDT", "idempotencyKey": "key-bad-00002"}),
            400,
            "not accepted",
        ),
        (
            json!({"item": "tee", "chainId": 31337, "symbol": "DOGE", "idempotencyKey": "key-bad-00003"}),
            400,
            "not accepted",
        ),
        (
            json!({"chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-bad-00004"}),
            400,
            "either an item",
        ),
        (
            json!({"item": "tee", "symbol": "USDT", "idempotencyKey": "key-bad-00005"}),
            400,
            "chainId",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, reply) = w.post("/api/checkouts", body.clone()).await;
        assert_eq!(got, status, "{body} -> {reply}");
        assert!(
            reply["message"].as_str().unwrap().contains(needle),
            "{reply} should mention {needle}"
        );
    }
    let unknown = w
        .http
        .get(format!("{}/api/checkouts/co_nope", w.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let no_token = w
        .post(
            "/api/admin/checkouts",
            json!({"amount": "5", "currency": "USD", "description": "x"}),
        )
        .await;
    assert_eq!(no_token.0, 401);
    let storefront = w
        .http
        .post(format!("{}/api/admin/checkouts", w.server.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"amount": "40.00", "currency": "USD", "description": "Cart #88", "reference": "cart-88"}))
        .send()
        .await
        .unwrap();
    assert_eq!(storefront.status(), 201);
    let storefront: Value = storefront.json().await.unwrap();
    assert_eq!(storefront["state"], "open");
    let (status, started) = w
        .post(
            "/api/checkouts",
            json!({"checkoutId": storefront["id"], "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-cart-0088"}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(
        started["payment"]["amount"], "39.992002",
        "40 USD at 1.0002, rounded up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_polls_use_etags_and_long_polls() {
    let w = world("poll").await;
    let view = w.checkout("mug", "key-poll-000001").await;
    let id = view["id"].as_str().unwrap();
    let url = format!("{}/api/checkouts/{id}", w.server.url);
    let first = w.http.get(&url).send().await.unwrap();
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let unchanged = w
        .http
        .get(&url)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);

    // A long poll answers as soon as the payment is seen.
    let poll = w
        .http
        .get(format!("{url}?wait=25"))
        .header("if-none-match", &tag)
        .send();
    let pay = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        w.pay(&view, json!({})).await;
    };
    let (answer, ()) = tokio::join!(poll, pay);
    let answer = answer.unwrap();
    assert_eq!(answer.status(), 200);
    assert_ne!(answer.headers()["etag"].to_str().unwrap(), tag);
    let body: Value = answer.json().await.unwrap();
    assert_ne!(body["state"], "waiting");
}
