//! The HTTP surface in-process: the router called with tower's `oneshot` on a real database
//! (each test on SQLite and on PostgreSQL), with no gateway, chain or server process. What must
//! be refused is refused here, and changes nothing.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::Db;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::ServiceExt;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::gateway::{
    HEADER_RECV_WINDOW, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1,
};
use usdt_checkout_protocol::signature::V1PrivateKey;
use usdt_checkout_protocol::signed_string;
use usdt_checkout_server::app::App;
use usdt_checkout_server::checkouts::{Checkouts, Source};
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::domain::{Checkout, CreatedBy, Price};
use usdt_checkout_server::gateway::GatewayReport;
use usdt_checkout_server::long_polls::LongPolls;
use usdt_checkout_server::store::Store;
use usdt_checkout_server::{api, config, server};

const ADMIN: &str = "admin-token-for-api-tests";

on_both!(
    a_database_that_cannot_be_reached_refuses_writes_and_polls_go_on,
    the_admin_api_takes_only_its_bearer_token,
    the_admin_api_is_off_without_a_token,
    every_admin_route_takes_only_its_bearer_token,
    a_storefront_price_its_currency_cannot_carry_is_refused,
    webhooks_that_are_unsigned_forged_or_stale_change_nothing,
    a_webhook_cannot_widen_the_servers_freshness_window,
    one_ipv6_network_is_one_client_for_the_checkout_limit,
    behind_a_trusted_proxy_the_client_is_the_address_it_forwards,
    a_webhook_for_an_order_this_server_never_made_is_acknowledged,
    bodies_over_the_limit_are_refused_before_a_handler_reads_them,
    bad_requests_and_an_unreachable_gateway_map_to_clear_errors,
    a_poll_past_what_the_server_can_hold_is_answered_at_once,
    status_polls_carry_etags_and_an_unchanged_view_is_304,
    every_held_poll_is_woken_by_its_checkouts_change,
    only_configured_origins_may_call_and_responses_carry_security_headers,
    the_widget_is_served_from_the_merchants_own_domain,
);

struct Harness {
    app: Arc<App>,
    store: Store,
    /// The gateway's webhook key: the server trusts its public half.
    gateway_key: V1PrivateKey,
    dir: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn harness(db: Db, name: &str, extra: &str) -> Harness {
    harness_with(db, name, extra, |_| {}).await
}

/// [`harness`], its app changed by `adjust` first.
async fn harness_with(db: Db, name: &str, extra: &str, adjust: impl FnOnce(&mut App)) -> Harness {
    let dir = std::env::temp_dir().join(format!(
        "checkout-api-{name}-{}-{}-{}",
        db.name(),
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let gateway_key = V1PrivateKey::generate();
    let merchant_key = V1PrivateKey::generate();
    let toml = format!(
        r#"
database = "{db}"
{extra}
[gateway]
# Nothing listens here: a call to the gateway fails at once.
url = "http://127.0.0.1:1"
api_key = "pk_test"
private_key = "{private}"
webhook_public_key = "{public}"
[rates]
fixed = {{ "USDT/USD" = "1" }}
[[items]]
id = "tee"
name = "T-shirt"
price = "25.00"
currency = "USD"
"#,
        db = db.create(name, &dir).await,
        private = merchant_key.to_base64_pkcs8(),
        public = gateway_key.public_key().to_base64_spki(),
    );
    let config = config::parse(&toml, "test.toml", |_| None).unwrap();
    let store = Store::open(&config.database).await.unwrap();
    let checkouts = Arc::new(
        Checkouts::from_store(store.clone(), Arc::new(Notify::new()))
            .await
            .unwrap(),
    );
    let gateway = Arc::new(config.gateway_client());
    let mut app = App::new(config, checkouts, gateway);
    adjust(&mut app);
    Harness {
        app: Arc::new(app),
        store,
        gateway_key,
        dir,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = server::router(self.app.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: impl Into<Body>) -> Reply {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(body.into()).unwrap()).await
    }

    /// A widget's `POST /api/checkouts` over a connection from `peer`, with `forwarded` as its
    /// `X-Forwarded-For`: whether the per-client limit refused it (the gateway, unreachable
    /// here, refuses every one it lets through).
    async fn limited(&self, peer: &str, forwarded: Option<&str>, key: &str) -> bool {
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        let mut request =
            Request::post("/api/checkouts").header(header::CONTENT_TYPE, "application/json");
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        let mut request = request
            .body(Body::from(
                json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": key})
                    .to_string(),
            ))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let reply = self.send(request).await;
        match reply.status {
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.body["code"], "too_many_checkouts", "{}", reply.body);
                true
            }
            StatusCode::SERVICE_UNAVAILABLE => false,
            other => panic!("{other}: {}", reply.body),
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// A checkout waiting for 12 USDT, with its gateway order as the gateway would have made it.
    async fn waiting_checkout(&self) -> Checkout {
        common::fixtures::waiting_checkout(&self.app.checkouts, "co_api_1").await
    }

    fn paid_event(&self, order_no: &str) -> String {
        // BlockATM's documented V1 callback fields, with the types of its examples.
        json!({
            "platOrderNo": "P0000000001", "orderNo": order_no, "amount": "12", "fee": "0",
            "chainId": "31337", "network": "Local chain", "symbol": "USDT", "txId": "0xfeed",
            "type": 2, "status": 1, "createTime": 1,
        })
        .to_string()
    }

    async fn webhook(&self, body: &str, key: &V1PrivateKey, time: u64) -> Reply {
        // A body that is not a JSON object has no signed string: sign anything, it is refused
        // before its signature is looked at.
        let signed = signed_string::for_json_body(body, time).unwrap_or_default();
        let signature = key.sign(&signed);
        self.webhook_with(
            body,
            &[
                (HEADER_REQUEST_TIME, time.to_string()),
                (HEADER_SIGNATURE_V1, signature),
            ],
        )
        .await
    }

    async fn webhook_with(&self, body: &str, headers: &[(&str, String)]) -> Reply {
        let mut request =
            Request::post("/webhooks/blockatm").header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap())
            .await
    }
}

async fn the_admin_api_takes_only_its_bearer_token(db: Db) {
    let h = harness(db, "admin", &format!("[admin]\ntoken = \"{ADMIN}\"")).await;
    let cart = json!({"amount": "40.00", "currency": "USD", "description": "Cart #88"}).to_string();
    // Compared exactly: a space or tab around the token is another token. (Over a socket,
    // HTTP itself takes whitespace around a header's value away before anyone reads it.)
    let (spaced, tabbed) = (format!("{ADMIN} "), format!("\t{ADMIN}"));
    for token in [
        None,
        Some("wrong"),
        Some(&ADMIN[..ADMIN.len() - 1]),
        Some(spaced.as_str()),
        Some(tabbed.as_str()),
    ] {
        let reply = h.post("/api/admin/checkouts", token, cart.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.body["code"], "unauthorized");
        assert_eq!(
            h.get("/api/admin/orders", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(
        h.get("/api/admin/orders", Some(ADMIN))
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty(),
        "refused requests made nothing"
    );

    let made = h.post("/api/admin/checkouts", Some(ADMIN), cart).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["state"], "open");
    assert_eq!(
        made.body["price"],
        json!({"amount": "40.00", "currency": "USD"})
    );
    let listed = h.get("/api/admin/orders?state=open", Some(ADMIN)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["id"], made.body["id"]);
    let bad_state = h.get("/api/admin/orders?state=sold", Some(ADMIN)).await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
    assert!(bad_state.body["message"].as_str().unwrap().contains("sold"));
}

async fn the_admin_api_is_off_without_a_token(db: Db) {
    let h = harness(db, "admin-off", "").await;
    let reply = h.get("/api/admin/orders", Some("anything")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("admin.token")
    );
    // Every admin route, with any token or none.
    for (method, path) in admin_endpoints() {
        for authorization in [None, Some("Bearer anything"), Some("Bearer ")] {
            let reply = h.admin_request(&method, path, authorization).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{method} {path} {authorization:?}"
            );
            assert_eq!(reply.body["code"], "not_found", "{method} {path}");
            assert_eq!(
                reply.body["message"], "the admin API is off: set admin.token",
                "{method} {path}"
            );
        }
    }
}

/// The admin routes as the router is built from them (`api::admin::endpoints`): a route added
/// there is walked here without anyone listing it.
fn admin_endpoints() -> Vec<(axum::http::Method, &'static str)> {
    let endpoints = api::admin::endpoints();
    let known = [
        (axum::http::Method::POST, "/api/admin/checkouts"),
        (axum::http::Method::GET, "/api/admin/orders"),
        (axum::http::Method::GET, api::PATH_ADMIN_UNMATCHED),
        (axum::http::Method::GET, api::PATH_ADMIN_REFUSED_REPORTS),
    ];
    for route in &known {
        assert!(endpoints.contains(route), "{route:?} in {endpoints:?}");
    }
    endpoints
}

impl Harness {
    /// `method path` with `authorization` as the header, a JSON body of `{}`.
    async fn admin_request(
        &self,
        method: &axum::http::Method,
        path: &str,
        authorization: Option<&str>,
    ) -> Reply {
        // A path parameter, if a route ever has one, named by anything.
        let path = path
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        self.send(request.body(Body::from("{}")).unwrap()).await
    }
}

/// Each admin route, walked from the router's own table, refuses a request without the token
/// or with another (the same 401, no `WWW-Authenticate`) before its handler runs, and lets the
/// right one through.
async fn every_admin_route_takes_only_its_bearer_token(db: Db) {
    let h = harness(db, "admin-walk", &format!("[admin]\ntoken = \"{ADMIN}\"")).await;
    let (lowered, basic, bare) = (
        format!("bearer {ADMIN}"),
        format!("Basic {ADMIN}"),
        ADMIN.to_owned(),
    );
    let wrong = format!("Bearer {}", &ADMIN[..ADMIN.len() - 1]);
    let right = format!("Bearer {ADMIN}");
    let mut answered = 0;
    for (method, path) in admin_endpoints() {
        assert!(path.starts_with("/api/admin/"), "{path}");
        for authorization in [
            None,
            Some("Bearer "),
            Some("Bearer wrong"),
            Some(wrong.as_str()),
            Some(lowered.as_str()),
            Some(basic.as_str()),
            Some(bare.as_str()),
        ] {
            let reply = h.admin_request(&method, path, authorization).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {authorization:?}: {}",
                reply.body
            );
            assert_eq!(reply.body["code"], "unauthorized", "{method} {path}");
            assert_eq!(
                reply.body["message"], "a valid admin bearer token is required",
                "{method} {path}"
            );
            assert!(!reply.headers.contains_key(header::WWW_AUTHENTICATE));
        }
        // Through the gate to the handler: `{}` is no storefront checkout (400), a listing
        // answers.
        let reply = h.admin_request(&method, path, Some(&right)).await;
        assert!(
            ![
                StatusCode::UNAUTHORIZED,
                StatusCode::NOT_FOUND,
                StatusCode::METHOD_NOT_ALLOWED
            ]
            .contains(&reply.status),
            "{method} {path}: {} {}",
            reply.status,
            reply.body
        );
        if reply.status == StatusCode::OK {
            answered += 1;
        }
    }
    assert!(answered > 0, "the right token is accepted");
    assert!(
        h.get("/api/admin/orders", Some(ADMIN))
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty(),
        "refused requests made nothing"
    );
}

async fn a_storefront_price_its_currency_cannot_carry_is_refused(db: Db) {
    let h = harness(
        db,
        "storefront-price",
        &format!("[admin]\ntoken = \"{ADMIN}\""),
    )
    .await;
    let cases = [
        (
            json!({"amount": "12.1234567", "currency": "USDT", "description": "x"}),
            "6 decimals",
        ),
        (
            json!({"amount": "0", "currency": "USD", "description": "x"}),
            "price",
        ),
        (
            json!({"amount": "5", "currency": "", "description": "x"}),
            "currency",
        ),
        (
            json!({"amount": "5", "currency": "USD", "description": " "}),
            "description",
        ),
        (json!({"amount": "5", "currency": "USD"}), "description"),
        // No rate: it could never be paid.
        (
            json!({"amount": "5", "currency": "XYZ", "description": "x"}),
            "never be paid",
        ),
        (
            json!({"amount": "5", "currency": "usd", "description": "x"}),
            "never be paid",
        ),
    ];
    for (body, needle) in cases {
        let reply = h
            .post("/api/admin/checkouts", Some(ADMIN), body.to_string())
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    assert!(
        h.get("/api/admin/orders", Some(ADMIN))
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn webhooks_that_are_unsigned_forged_or_stale_change_nothing(db: Db) {
    let h = harness(db, "webhooks", "").await;
    let checkout = h.waiting_checkout().await;
    let event = h.paid_event(&checkout.id);
    let now = now_ms();

    let unsigned = h
        .webhook_with(&event, &[(HEADER_REQUEST_TIME, now.to_string())])
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert!(
        unsigned.body["message"]
            .as_str()
            .unwrap()
            .contains("missing header"),
        "{}",
        unsigned.body
    );
    let forged = h.webhook(&event, &V1PrivateKey::generate(), now).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(
        forged.body["message"]
            .as_str()
            .unwrap()
            .contains("does not match")
    );
    assert!(
        !forged.body["message"].as_str().unwrap().contains("time="),
        "the sender is not told what this side signed"
    );
    let stale = h.webhook(&event, &h.gateway_key, now - 120_000).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert!(stale.body["message"].as_str().unwrap().contains("window"));
    let future = h.webhook(&event, &h.gateway_key, now + 120_000).await;
    assert_eq!(future.status, StatusCode::UNAUTHORIZED);
    let tampered = {
        let signature = h
            .gateway_key
            .sign(&signed_string::for_json_body(&event, now).unwrap());
        h.webhook_with(
            &event.replace("\"12\"", "\"1200\""),
            &[
                (HEADER_REQUEST_TIME, now.to_string()),
                (HEADER_SIGNATURE_V1, signature),
            ],
        )
        .await
    };
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
    let not_json = h.webhook("[1, 2]", &h.gateway_key, now).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let not_an_event = h.webhook(r#"{"orderNo": "x"}"#, &h.gateway_key, now).await;
    assert_eq!(not_an_event.status, StatusCode::BAD_REQUEST);

    let kept = h.store.get(&checkout.id).await.unwrap().unwrap();
    assert_eq!(kept, checkout, "refused webhooks changed nothing");
    assert_eq!(h.store.fulfillment_events(&checkout.id).await.unwrap(), 0);

    // Signed as the gateway signs: applied once, however often it arrives.
    for _ in 0..3 {
        let genuine = h.webhook(&event, &h.gateway_key, now_ms()).await;
        assert_eq!(genuine.status, StatusCode::OK, "{}", genuine.body);
    }
    let paid = h.app.checkouts.cached(&checkout.id).unwrap();
    assert_eq!(paid.state.as_str(), "paid");
    assert_eq!(paid.version, checkout.version + 1);
    assert_eq!(h.store.fulfillment_events(&checkout.id).await.unwrap(), 1);
}

/// `BlockATM-Rec_Window` is not signed: whoever replays a callback can write any window in it.
/// The server's own window (30 s) is the most it grants; a sender may only narrow it.
async fn a_webhook_cannot_widen_the_servers_freshness_window(db: Db) {
    let h = harness(db, "webhook-window", "").await;
    let checkout = h.waiting_checkout().await;
    let event = h.paid_event(&checkout.id);
    let signed = |time: u64, window: &str| {
        let signature = h
            .gateway_key
            .sign(&signed_string::for_json_body(&event, time).unwrap());
        vec![
            (HEADER_REQUEST_TIME, time.to_string()),
            (HEADER_SIGNATURE_V1, signature),
            (HEADER_RECV_WINDOW, window.to_owned()),
        ]
    };
    for window in ["60000", "45001", "600000", "18446744073709551615"] {
        let replayed = h
            .webhook_with(&event, &signed(now_ms() - 45_000, window))
            .await;
        assert_eq!(
            replayed.status,
            StatusCode::UNAUTHORIZED,
            "45 s old with a window of {window}: {}",
            replayed.body
        );
        assert!(
            replayed.body["message"]
                .as_str()
                .unwrap()
                .contains("30000 ms window"),
            "{}",
            replayed.body
        );
    }
    let narrowed = h
        .webhook_with(&event, &signed(now_ms() - 10_000, "5000"))
        .await;
    assert_eq!(
        narrowed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        narrowed.body
    );
    let kept = h.store.get(&checkout.id).await.unwrap().unwrap();
    assert_eq!(kept, checkout, "refused webhooks changed nothing");

    let fresh = h
        .webhook_with(&event, &signed(now_ms() - 20_000, "60000"))
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(
        h.app.checkouts.cached(&checkout.id).unwrap().state.as_str(),
        "paid"
    );
}

/// The attack: the limit was keyed by the full IPv6 address, and one /64 (what a single
/// subscriber gets) holds 2^64 of them. A /64 is one client; an IPv4 address is one client.
async fn one_ipv6_network_is_one_client_for_the_checkout_limit(db: Db) {
    let h = harness(db, "per-client-v6", "checkouts_per_client_per_minute = 2").await;
    assert!(
        !h.limited("[2001:db8:1:2::1]:50000", None, "v6-key-0001")
            .await
    );
    assert!(
        !h.limited("[2001:db8:1:2::2]:50001", None, "v6-key-0002")
            .await
    );
    assert!(
        h.limited("[2001:db8:1:2:ffff:ffff:ffff:9]:50002", None, "v6-key-0003")
            .await,
        "a third address of the same /64 is the same client"
    );
    assert!(
        !h.limited("[2001:db8:1:3::1]:50003", None, "v6-key-0004")
            .await,
        "another /64"
    );

    assert!(!h.limited("192.0.2.1:40000", None, "v4-key-0001").await);
    assert!(!h.limited("192.0.2.1:40001", None, "v4-key-0002").await);
    assert!(h.limited("192.0.2.1:40002", None, "v4-key-0003").await);
    assert!(
        h.limited("[::ffff:192.0.2.1]:40003", None, "v4-key-0004")
            .await,
        "the same IPv4 address, mapped into IPv6"
    );
    assert!(
        !h.limited("192.0.2.2:40004", None, "v4-key-0005").await,
        "its neighbour"
    );

    // A peer that is no trusted proxy says what it likes in X-Forwarded-For: ignored.
    for (n, claimed) in ["203.0.113.1", "203.0.113.2", "2001:db8:9::1"]
        .iter()
        .enumerate()
    {
        let refused = h
            .limited(
                "198.51.100.7:1000",
                Some(claimed),
                &format!("spoof-key-000{n}"),
            )
            .await;
        assert_eq!(refused, n >= 2, "{claimed}");
    }
}

/// Behind a balancer every shopper connects from its address: with it listed in
/// `trusted_proxies`, the client is the rightmost X-Forwarded-For address that is not a trusted
/// proxy itself, whatever a client wrote to the left of it.
async fn behind_a_trusted_proxy_the_client_is_the_address_it_forwards(db: Db) {
    let h = harness(
        db,
        "per-client-proxy",
        "checkouts_per_client_per_minute = 2\ntrusted_proxies = [\"10.0.0.0/8\", \"fd00::1\"]",
    )
    .await;
    let balancer = "10.1.2.3:443";
    assert!(
        !h.limited(balancer, Some("203.0.113.9"), "proxy-key-0001")
            .await
    );
    assert!(
        !h.limited(balancer, Some("1.1.1.1, 203.0.113.9"), "proxy-key-0002")
            .await,
        "what the client wrote is ignored"
    );
    assert!(
        h.limited(balancer, Some("8.8.8.8,203.0.113.9"), "proxy-key-0003")
            .await
    );
    assert!(
        h.limited(
            "10.9.9.9:443",
            Some("203.0.113.9, 10.0.0.7"),
            "proxy-key-0004"
        )
        .await,
        "two trusted hops: the client is still 203.0.113.9"
    );
    assert!(
        !h.limited(balancer, Some("203.0.113.10"), "proxy-key-0005")
            .await,
        "another shopper behind the same balancer"
    );
    assert!(
        !h.limited(
            "[fd00::1]:443",
            Some("[2001:db8:5:6::1]:5000"),
            "proxy-key-0006"
        )
        .await
    );
    assert!(
        !h.limited("[fd00::1]:443", Some("2001:db8:5:6::2"), "proxy-key-0007")
            .await
    );
    assert!(
        h.limited("[fd00::1]:443", Some("2001:db8:5:6:7::3"), "proxy-key-0008")
            .await,
        "a forwarded IPv6 address is keyed by its /64 too"
    );
    assert!(
        !h.limited("[fd00::2]:443", Some("203.0.113.10"), "proxy-key-0009")
            .await,
        "fd00::2 is not trusted: it is the client"
    );
    // A trusted proxy that forwards no address: the proxy itself is the client.
    assert!(!h.limited(balancer, None, "proxy-key-0010").await);
    assert!(!h.limited(balancer, None, "proxy-key-0011").await);
    assert!(h.limited(balancer, None, "proxy-key-0012").await);
}

async fn a_webhook_for_an_order_this_server_never_made_is_acknowledged(db: Db) {
    let h = harness(db, "webhook-unknown", "").await;
    let reply = h
        .webhook(&h.paid_event("co_elsewhere"), &h.gateway_key, now_ms())
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the gateway must stop retrying it"
    );
}

async fn bodies_over_the_limit_are_refused_before_a_handler_reads_them(db: Db) {
    let h = harness(db, "limit", "").await;
    let big = "x".repeat(server::MAX_BODY_BYTES + 1);
    let reply = h.post("/api/checkouts", None, big.clone()).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.body["code"], "too_large", "in the API's error shape");
    let reply = h
        .webhook_with(&big, &[(HEADER_REQUEST_TIME, now_ms().to_string())])
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn bad_requests_and_an_unreachable_gateway_map_to_clear_errors(db: Db) {
    let h = harness(db, "errors", "").await;
    let create = |body: Value| h.post("/api/checkouts", None, body.to_string());
    let reply = create(
        json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "short"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("idempotencyKey")
    );
    let reply = create(json!({"item": "yacht", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-api-00001"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body["message"].as_str().unwrap().contains("yacht"));
    for (body, needle) in [
        (
            json!({"item": "tee", "symbol": "USDT", "idempotencyKey": "key-api-00004"}),
            "chainId",
        ),
        // Refused as it is, before the gateway (unreachable here) is asked anything.
        (
            json!({"chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-api-00003"}),
            "either an item",
        ),
        (
            json!({"item": "tee", "checkoutId": "co_x", "chainId": 31337, "symbol": "USDT",
                   "idempotencyKey": "key-api-00005"}),
            "either an item",
        ),
    ] {
        let reply = create(body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message} should say {needle}");
    }
    let reply = h.post("/api/checkouts", None, "{not json").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["code"], "invalid_request");
    // A cross-site form or `text/plain` fetch (no CORS preflight) makes nothing.
    let plain = Request::post("/api/checkouts")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(
            json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-api-plain1"})
                .to_string(),
        ))
        .unwrap();
    let reply = h.send(plain).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.body["code"], "unsupported_media_type");
    let reply = h.get("/api/checkouts/co_nope?wait=soon", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["code"], "invalid_request", "{}", reply.body);
    let reply = h.get("/api/nowhere", None).await;
    assert_eq!(reply.body["code"], "not_found", "{}", reply.body);
    assert_eq!(
        h.get("/api/checkouts/co_nope", None).await.status,
        StatusCode::NOT_FOUND
    );

    // The gateway cannot be reached: the shopper is told to retry, and when.
    let reply = create(json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-api-00002"})).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["code"], "gateway_unavailable");
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    // Nothing could be checked, so nothing was written: a retry with the same key starts anew.
    let listed = h.store.list(None, 10, None).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

/// With its database gone, the server changes nothing and says so (503, retry later), while the
/// shoppers already paying still get their status from memory.
async fn a_database_that_cannot_be_reached_refuses_writes_and_polls_go_on(db: Db) {
    let h = harness(
        db,
        "database-gone",
        &format!("[admin]\ntoken = \"{ADMIN}\""),
    )
    .await;
    let waiting = h.waiting_checkout().await;
    h.store.close().await;

    // A storefront's checkout: nothing but the database is needed to make it.
    let created = h
        .post(
            "/api/admin/checkouts",
            Some(ADMIN),
            json!({"amount": "40.00", "currency": "USD", "description": "Cart #88"}).to_string(),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        created.body
    );
    assert_eq!(created.body["code"], "database_unavailable");
    assert_eq!(created.headers[header::RETRY_AFTER], "5");

    let webhook = h
        .webhook(&h.paid_event(&waiting.id), &h.gateway_key, now_ms())
        .await;
    assert_eq!(
        webhook.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the gateway retries later: {}",
        webhook.body
    );

    let poll = h.get(&format!("/api/checkouts/{}", waiting.id), None).await;
    assert_eq!(poll.status, StatusCode::OK);
    assert_eq!(poll.body["state"], "waiting");
}

/// Held polls are open connections: past its share of the open-files limit the server holds no
/// more, and answers at once with when to ask again, instead of hanging or failing.
async fn a_poll_past_what_the_server_can_hold_is_answered_at_once(db: Db) {
    let h = harness_with(db, "long-polls", "", |app| {
        app.long_polls = LongPolls::new(0);
    })
    .await;
    let waiting = h.waiting_checkout().await;
    let path = format!("/api/checkouts/{}", waiting.id);
    let first = h.get(&path, None).await;
    let tag = first.headers[header::ETAG].clone();
    let poll = Request::get(format!("{path}?wait=25"))
        .header(header::IF_NONE_MATCH, tag)
        .body(Body::empty())
        .unwrap();
    let reply = h.send(poll).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert_eq!(reply.headers[header::RETRY_AFTER], "2");
    assert_eq!(
        reply.headers[header::CONNECTION],
        "close",
        "its connection is not kept either"
    );
    let held = h.get(&format!("{path}?wait=25"), None).await;
    assert!(
        held.headers.get(header::CONNECTION).is_none(),
        "a poll answered for a reason of its own keeps its connection"
    );
}

async fn status_polls_carry_etags_and_an_unchanged_view_is_304(db: Db) {
    let h = harness(db, "etags", "").await;
    let waiting = h.waiting_checkout().await;
    let path = format!("/api/checkouts/{}", waiting.id);
    let first = h.get(&path, None).await;
    assert_eq!(first.status, StatusCode::OK);
    let tag = first.headers[header::ETAG].clone();
    let again = |tag| {
        Request::get(&path)
            .header(header::IF_NONE_MATCH, tag)
            .body(Body::empty())
            .unwrap()
    };
    let unchanged = h.send(again(tag.clone())).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers[header::ETAG], tag);
    let other = h.send(again("\"stale\"".parse().unwrap())).await;
    assert_eq!(other.status, StatusCode::OK, "another tag gets the view");
    assert_eq!(other.body["state"], "waiting");
}

/// Each checkout wakes its own held polls: every one of them answers with the change, none
/// sleeps through it to its wait's end (a 304 then), and a poll on another checkout stays held.
async fn every_held_poll_is_woken_by_its_checkouts_change(db: Db) {
    let h = harness(db, "wake-ups", "").await;
    let waiting = h.waiting_checkout().await;
    let other = Checkout::open(
        "co_api_other".into(),
        CreatedBy::Storefront,
        "Tee".into(),
        Price {
            amount: "5".parse().unwrap(),
            currency: "USDT".into(),
        },
    );
    h.app.checkouts.open(&other).await.unwrap();
    let poll = |id: &str| {
        let (h_app, path) = (h.app.clone(), format!("/api/checkouts/{id}"));
        async move {
            let first = server::router(h_app.clone())
                .oneshot(Request::get(&path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let tag = first.headers()[header::ETAG].clone();
            let held = Request::get(format!("{path}?wait=25"))
                .header(header::IF_NONE_MATCH, tag)
                .body(Body::empty())
                .unwrap();
            let answer = server::router(h_app).oneshot(held).await.unwrap();
            let status = answer.status();
            let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20).await;
            (
                status,
                serde_json::from_slice::<Value>(&bytes.unwrap()).ok(),
            )
        }
    };
    let other_poll = tokio::spawn(poll(&other.id));
    let polls: Vec<_> = (0..40).map(|_| tokio::spawn(poll(&waiting.id))).collect();
    while h.app.long_polls.held() < 41 {
        tokio::task::yield_now().await;
    }
    let paid = GatewayReport {
        order_no: Some(waiting.id.clone()),
        plat_order_no: Some("P0000000001".into()),
        status: GatewayStatus::Success,
        amount: Some("12".parse().unwrap()),
        tx_id: Some(usdt_checkout_protocol::TxHash::from_bytes([0xab; 32])),
        chain_id: None,
        symbol: None,
        account: None,
    };
    h.app
        .checkouts
        .apply_report(&paid, Source::Reconciler)
        .await
        .unwrap();
    for poll in polls {
        let (status, view) = poll.await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "woken, not answered at the wait's end"
        );
        assert_eq!(view.unwrap()["state"], "paid");
    }
    assert_eq!(
        h.app.long_polls.held(),
        1,
        "the other checkout's poll is held"
    );
    other_poll.abort();
}

async fn only_configured_origins_may_call_and_responses_carry_security_headers(db: Db) {
    let h = harness(db, "cors", r#"allowed_origins = ["http://shop.test"]"#).await;
    let preflight = |origin: &str| {
        Request::options("/api/checkouts")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = h.send(preflight("http://shop.test")).await;
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://shop.test"
    );
    let other = h.send(preflight("http://evil.test")).await;
    assert!(
        other
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    let health = h.get("/healthz", None).await;
    assert_eq!(health.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(health.headers[header::X_FRAME_OPTIONS], "DENY");
    let poll = h.get("/api/checkouts/co_nope", None).await;
    assert_eq!(
        poll.headers[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff",
        "on errors too"
    );
}

async fn the_widget_is_served_from_the_merchants_own_domain(db: Db) {
    let widget = std::env::temp_dir().join(format!(
        "checkout-api-widget-{}-{}-{}",
        db.name(),
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&widget).unwrap();
    // Stand-ins for the built widget's files: only how they are served is under test here.
    std::fs::write(widget.join("usdt-checkout_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(widget.join("usdt-checkout_bg.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(widget.join("usdt-checkout_bg.wasm.gz"), b"gzip bytes").unwrap();
    std::fs::write(widget.join("usdt-checkout.js"), "export default {};").unwrap();
    std::fs::write(widget.with_extension("toml"), "secret = 1").unwrap();
    let h = harness_with(db, "widget", "", |app| {
        app.config.widget_dir = Some(widget.clone());
    })
    .await;
    let get = |file: &str, encoding: Option<&str>| {
        let mut request = Request::get(format!("/checkout/{file}"));
        if let Some(encoding) = encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        let request = request.body(Body::empty()).unwrap();
        async {
            let response = server::router(h.app.clone())
                .oneshot(request)
                .await
                .unwrap();
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            (parts.status, parts.headers, bytes)
        }
    };
    let (status, headers, bytes) = get("usdt-checkout_bg.wasm", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert!(
        headers.get(header::CONTENT_ENCODING).is_none(),
        "without Accept-Encoding, the file as it is"
    );
    assert_eq!(bytes.as_ref(), b"\0asm\x01\0\0\0");
    let (_, headers, _) = get("usdt-checkout.js", None).await;
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let outside = format!(
        "../{}",
        widget
            .with_extension("toml")
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
    );
    let (status, _, bytes) = get(&outside, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing outside the widget's folder"
    );
    assert!(!bytes.starts_with(b"secret"));

    // Compressed at build time, served to browsers that accept it.
    let (_, headers, bytes) = get("usdt-checkout_bg.wasm", Some("gzip, deflate, br")).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "br");
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    assert!(
        headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("accept-encoding")),
        "{headers:?}"
    );
    assert_eq!(bytes.as_ref(), b"brotli bytes");
    let (_, headers, bytes) = get("usdt-checkout_bg.wasm", Some("gzip")).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(bytes.as_ref(), b"gzip bytes");
    let _ = std::fs::remove_dir_all(&widget);
    let _ = std::fs::remove_file(widget.with_extension("toml"));
}
