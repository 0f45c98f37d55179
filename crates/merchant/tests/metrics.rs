//! `/metrics`: scraped in-process (tower's `oneshot` on the server's router, a real database),
//! read by a strict parser of the OpenMetrics text format, and watched move as a checkout is
//! asked for, paid by a webhook and fulfilled. Behind the admin token on the main address; on
//! `metrics_listen`, a process started for it, without.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::Db;
use serde_json::json;
use tokio::sync::Notify;
use tower::ServiceExt;
use usdt_checkout_protocol::gateway::{HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1};
use usdt_checkout_protocol::signature::V1PrivateKey;
use usdt_checkout_protocol::{ChainId, signed_string};
use usdt_checkout_server::app::App;
use usdt_checkout_server::checkouts::Checkouts;
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::domain::Checkout;
use usdt_checkout_server::store::Store;
use usdt_checkout_server::{config, fulfillment, server};

const ADMIN: &str = "admin-token-for-metrics-tests";

on_both!(
    the_series_move_as_a_checkout_is_asked_for_paid_and_fulfilled,
    each_chain_says_its_head_lag_and_rpc_calls,
);

/// The event counters are the process's: the tests that read how they moved take turns.
static COUNTED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scrape, parsed: each series (`name{label="value",...}`, labels sorted) and its value.
#[derive(Debug)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    fn has(&self, series: &str) -> bool {
        self.0.contains_key(series)
    }
}

/// The labels a series may carry: each from a small fixed set of values (an order id, an
/// address or an error text would make a series of every order).
const BOUNDED_LABELS: [&str; 6] = ["endpoint", "outcome", "chain", "method", "state", "le"];

/// Reads OpenMetrics text strictly: every line a `# HELP`, `# TYPE` or `# UNIT` of a family
/// declared once, or a sample `name{label="value",...} value` of a declared family with a name
/// its type allows; `# EOF` last; no series twice; every name `checkout_`; only bounded labels.
fn parse(text: &str) -> Result<Scrape, String> {
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("the exposition does not end with `# EOF`")?;
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut declared = BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in body.lines() {
        let fail = |why: &str| format!("{why}: {line:?}");
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let value = parts.next().ok_or_else(|| fail("a comment without text"))?;
            if !metric_name(name) || !name.starts_with("checkout_") {
                return Err(fail("not a checkout_ metric name"));
            }
            if !declared.insert((keyword.to_owned(), name.to_owned())) {
                return Err(fail("declared twice"));
            }
            match keyword {
                "HELP" if !value.is_empty() => {}
                "TYPE" if ["counter", "gauge", "histogram"].contains(&value) => {
                    types.insert(name.to_owned(), value.to_owned());
                }
                "UNIT" if name.ends_with(&format!("_{value}")) => {}
                _ => return Err(fail("not a HELP, TYPE or UNIT line")),
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| fail("a sample without a value"))?;
        let name = &line[..name_end];
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let (parsed, after) = label_set(inner).map_err(|e| fail(&e))?;
            labels = parsed;
            rest = after;
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| fail("no space before the value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .map_err(|_| fail("a value that is no number"))?,
        };
        let family = types
            .iter()
            .find(|(family, kind)| {
                let suffixes: &[&str] = match kind.as_str() {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_count", "_sum"],
                    _ => &[""],
                };
                suffixes
                    .iter()
                    .any(|suffix| name == format!("{family}{suffix}"))
            })
            .ok_or_else(|| fail("a sample of no declared family, or a name its type forbids"))?;
        if name.ends_with("_bucket") != labels.iter().any(|(k, _)| k == "le") {
            return Err(fail(
                "`le` on a sample that is not a bucket, or a bucket without it",
            ));
        }
        if let Some((key, _)) = labels
            .iter()
            .find(|(k, _)| !BOUNDED_LABELS.contains(&k.as_str()))
        {
            return Err(fail(&format!("label {key} may take unbounded values")));
        }
        if family.1 == "counter" && value < 0.0 {
            return Err(fail("a negative counter"));
        }
        labels.sort();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let series = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        if samples.insert(series, value).is_some() {
            return Err(fail("a series given twice"));
        }
    }
    Ok(Scrape(samples))
}

fn metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

type Labels = Vec<(String, String)>;

/// `label="value",...}` and what follows the `}`.
fn label_set(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = text.find('=').ok_or("a label without `=`")?;
        let key = &text[..eq];
        if !metric_name(key) || key.contains(':') {
            return Err(format!("label name {key:?}"));
        }
        let mut chars = text[eq + 1..]
            .strip_prefix('"')
            .ok_or("a label value not quoted")?
            .char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next().ok_or("a label value not closed")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("an escape at the end")?.1 {
                    c @ ('\\' | '"') => value.push(c),
                    'n' => value.push('\n'),
                    c => return Err(format!("escape \\{c}")),
                },
                (_, '\n') => return Err("a newline in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        text = &text[eq + 2 + end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

struct Harness {
    app: Arc<App>,
    gateway_key: V1PrivateKey,
    /// Fulfillment events the shop's endpoint received.
    received: Arc<AtomicUsize>,
    due: Arc<Notify>,
    store: Store,
    dir: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The app on a fresh database, its admin token set, announcing paid orders to an endpoint of
/// the test's that answers 200; its gateway at an address where nothing listens.
async fn harness(db: Db, name: &str) -> Harness {
    harness_with(db, name, |_| {}).await
}

/// [`harness`], its app changed by `adjust` first.
async fn harness_with(db: Db, name: &str, adjust: impl FnOnce(&mut App)) -> Harness {
    let dir = std::env::temp_dir().join(format!(
        "checkout-metrics-{name}-{}-{}-{}",
        db.name(),
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let shop = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop_url = format!("http://{}/fulfil", shop.local_addr().unwrap());
    let counted = received.clone();
    let endpoint = axum::Router::new().route(
        "/fulfil",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::OK }
        }),
    );
    tokio::spawn(async move { axum::serve(shop, endpoint).await });
    let gateway_key = V1PrivateKey::generate();
    let toml = format!(
        r#"
database = "{db}"
[admin]
token = "{ADMIN}"
[fulfillment]
url = "{shop_url}"
secret = "{secret}"
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
        secret = common::FULFILLMENT_SECRET,
        private = V1PrivateKey::generate().to_base64_pkcs8(),
        public = gateway_key.public_key().to_base64_spki(),
    );
    let config = config::parse(&toml, "test.toml", |_| None).unwrap();
    let store = Store::open(&config.database).await.unwrap();
    let due = Arc::new(Notify::new());
    let checkouts = Arc::new(
        Checkouts::from_store(store.clone(), due.clone())
            .await
            .unwrap(),
    );
    let gateway = Arc::new(config.gateway_client());
    let mut app = App::new(config, checkouts, gateway);
    app.store = Some(store.clone());
    adjust(&mut app);
    Harness {
        app: Arc::new(app),
        gateway_key,
        received,
        due,
        store,
        dir,
    }
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = server::router(self.app.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn scrape(&self) -> Scrape {
        let request = Request::get("/metrics")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap();
        let (status, text) = self.send(request).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// A checkout waiting for 12 USDT, its gateway order as the gateway would have made it.
    async fn waiting_checkout(&self) -> Checkout {
        common::fixtures::waiting_checkout(&self.app.checkouts, "co_metrics_1").await
    }

    /// The gateway's "paid" webhook for `order_no`, signed with `key`.
    async fn webhook(&self, order_no: &str, key: &V1PrivateKey) -> StatusCode {
        let body = json!({
            "platOrderNo": "P0000000001", "orderNo": order_no, "amount": "12", "fee": "0",
            "chainId": "31337", "network": "Local chain", "symbol": "USDT", "txId": "0xfeed",
            "type": 2, "status": 1, "createTime": 1,
        })
        .to_string();
        let time = now_ms();
        let signature = key.sign(&signed_string::for_json_body(&body, time).unwrap());
        let request = Request::post("/webhooks/blockatm")
            .header(header::CONTENT_TYPE, "application/json")
            .header(HEADER_REQUEST_TIME, time.to_string())
            .header(HEADER_SIGNATURE_V1, signature)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await.0
    }
}

/// Waits (a few seconds at most) until `done`.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen");
}

async fn the_series_move_as_a_checkout_is_asked_for_paid_and_fulfilled(db: Db) {
    let _turn = COUNTED.lock().await;
    let h = harness(db, "move").await;
    for token in [None, Some("wrong")] {
        let mut request = Request::get("/metrics");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let (status, _) = h.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let before = h.scrape().await;
    assert_eq!(before.get("checkout_long_polls_held"), 0.0);
    assert!(before.get("checkout_long_polls_cap") > 0.0);
    assert!(before.has("checkout_gateway_budget_left"));
    assert!(before.has("checkout_gateway_pauses_total"));
    assert_eq!(before.get("checkout_fulfillment_outbox_depth"), 0.0);

    // A shopper asks for a checkout: the gateway cannot be reached.
    let (status, text) = h
        .send(
            Request::post("/api/checkouts")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"item": "tee", "chainId": 31337, "symbol": "USDT",
                           "idempotencyKey": "metrics-1"})
                    .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let asked = h.scrape().await;
    let unreachable = asked
        .0
        .iter()
        .filter(|(series, _)| {
            series.starts_with("checkout_gateway_calls_total{")
                && series.contains("outcome=\"unreachable\"")
        })
        .map(|(_, calls)| calls)
        .sum::<f64>()
        - before
            .0
            .iter()
            .filter(|(series, _)| {
                series.starts_with("checkout_gateway_calls_total{")
                    && series.contains("outcome=\"unreachable\"")
            })
            .map(|(_, calls)| calls)
            .sum::<f64>();
    assert!(unreachable >= 1.0, "{asked:?}");
    assert_eq!(
        asked.get("checkout_gateway_budget_left"),
        before.get("checkout_gateway_budget_left"),
        "the catalog, which costs no budget, was asked"
    );

    // One whose order was made, and a widget polling it.
    let checkout = h.waiting_checkout().await;
    let path = format!("/api/checkouts/{}", checkout.id);
    let (_, first) = {
        let response = server::router(h.app.clone())
            .oneshot(Request::get(&path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        (response.status(), response.headers()[header::ETAG].clone())
    };
    let held = tokio::spawn({
        let app = h.app.clone();
        let poll = Request::get(format!("{path}?wait=25"))
            .header(header::IF_NONE_MATCH, first)
            .body(Body::empty())
            .unwrap();
        async move { server::router(app).oneshot(poll).await.unwrap().status() }
    });
    until("the poll is held", || h.app.long_polls.held() == 1).await;
    let holding = h.scrape().await;
    assert_eq!(holding.get("checkout_long_polls_held"), 1.0);
    let waiting = holding.get("checkout_checkouts{state=\"waiting\"}")
        + holding.get("checkout_checkouts{state=\"pending\"}");
    assert_eq!(waiting, 1.0, "{holding:?}");

    // A forged webhook, then the gateway's own.
    assert_eq!(
        h.webhook(&checkout.id, &V1PrivateKey::generate()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.webhook(&checkout.id, &h.gateway_key).await,
        StatusCode::OK
    );
    assert_eq!(held.await.unwrap(), StatusCode::OK, "the poll is answered");
    let paid = h.scrape().await;
    let moved = |series: &str| paid.get(series) - holding.get(series);
    assert_eq!(moved("checkout_webhooks_total{outcome=\"verified\"}"), 1.0);
    assert_eq!(moved("checkout_webhooks_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(moved("checkout_long_polls_answered_total"), 1.0);
    assert_eq!(paid.get("checkout_long_polls_held"), 0.0);
    assert_eq!(paid.get("checkout_checkouts{state=\"paid\"}"), 1.0);
    assert_eq!(paid.get("checkout_fulfillment_outbox_depth"), 1.0);
    assert!(paid.has("checkout_fulfillment_outbox_oldest_age_seconds"));
    assert!(
        moved("checkout_database_write_seconds_count") >= 1.0,
        "the payment's write is timed"
    );
    assert_eq!(
        paid.get("checkout_database_write_seconds_bucket{le=\"+Inf\"}"),
        paid.get("checkout_database_write_seconds_count")
    );

    // The shop is told.
    let delivery = h.app.config.fulfillment.clone().unwrap();
    let worker = tokio::spawn(fulfillment::run(delivery, h.store.clone(), h.due.clone()));
    h.due.notify_one();
    until("the shop is told", || {
        h.received.load(Ordering::SeqCst) == 1
    })
    .await;
    // Marked delivered just after it answered.
    let mut fulfilled = h.scrape().await;
    for _ in 0..100 {
        if fulfilled.get("checkout_fulfillment_outbox_depth") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        fulfilled = h.scrape().await;
    }
    worker.abort();
    assert_eq!(fulfilled.get("checkout_fulfillment_outbox_depth"), 0.0);
    assert_eq!(
        fulfilled.get("checkout_fulfillment_deliveries_total{outcome=\"delivered\"}")
            - paid.get("checkout_fulfillment_deliveries_total{outcome=\"delivered\"}"),
        1.0
    );
    assert_eq!(
        fulfilled.get("checkout_database_write_failures_total"),
        before.get("checkout_database_write_failures_total"),
        "no write failed"
    );
}

/// A node of the test's own: it answers `eth_blockNumber` (block 0x64) and refuses every other
/// method.
async fn node() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = |axum::Json(call): axum::Json<serde_json::Value>| async move {
        axum::Json(if call["method"] == "eth_blockNumber" {
            json!({"jsonrpc": "2.0", "id": call["id"], "result": "0x64"})
        } else {
            json!({"jsonrpc": "2.0", "id": call["id"],
                   "error": {"code": -32601, "message": "method not found"}})
        })
    };
    let node = axum::Router::new().route("/", axum::routing::post(answer));
    tokio::spawn(async move { axum::serve(listener, node).await });
    url
}

async fn each_chain_says_its_head_lag_and_rpc_calls(db: Db) {
    let chain = ChainId(31337);
    let client = usdt_checkout_chain::ChainClient::connect(&node().await).unwrap();
    let h = harness_with(db, "chains", |app| {
        app.chains = vec![(chain, client.clone())]
    })
    .await;
    let before = h.scrape().await;
    assert!(
        !before
            .0
            .keys()
            .any(|series| series.starts_with("checkout_chain_") && !series.contains("_rpc_")),
        "no watcher yet: {before:?}"
    );
    h.app
        .checkouts
        .chain_health
        .started(chain, now_ms(), Duration::from_secs(60));
    h.app
        .checkouts
        .chain_health
        .progressed(chain, now_ms(), 100, 3);
    assert_eq!(client.head().await.unwrap(), 100);
    assert_eq!(client.head().await.unwrap(), 100);
    assert!(client.chain_id().await.is_err(), "refused by the node");
    let after = h.scrape().await;
    assert_eq!(
        after.get("checkout_chain_head_block{chain=\"31337\"}"),
        100.0
    );
    assert_eq!(
        after.get("checkout_chain_blocks_behind{chain=\"31337\"}"),
        3.0
    );
    assert!(after.has("checkout_chain_since_progress_seconds{chain=\"31337\"}"));
    assert_eq!(
        after.get(
            "checkout_chain_rpc_calls_total{chain=\"31337\",method=\"eth_blockNumber\",outcome=\"ok\"}"
        ),
        2.0
    );
    assert_eq!(
        after.get(
            "checkout_chain_rpc_calls_total{chain=\"31337\",method=\"eth_chainId\",outcome=\"failed\"}"
        ),
        1.0
    );
}

/// A bad `metrics_listen` is refused as startup would refuse it, naming the setting.
#[test]
fn a_metrics_address_that_is_no_address_is_refused() {
    let base = format!(
        "[gateway]\napi_key = \"pk\"\nprivate_key = \"{}\"\nwebhook_public_key = \"{}\"\n",
        V1PrivateKey::generate().to_base64_pkcs8(),
        V1PrivateKey::generate().public_key().to_base64_spki(),
    );
    assert!(config::parse(&base, "test.toml", |_| None).is_ok());
    let error = config::parse(
        &format!("metrics_listen = \"nowhere\"\n{base}"),
        "test.toml",
        |_| None,
    )
    .unwrap_err();
    assert!(error.contains("metrics_listen"), "{error}");
    let error = config::parse(&base, "test.toml", |name| {
        (name == "CHECKOUT_METRICS_LISTEN").then(|| "nowhere".to_owned())
    })
    .unwrap_err();
    assert!(error.contains("CHECKOUT_METRICS_LISTEN"), "{error}");
}

#[test]
fn the_parser_refuses_what_is_not_the_format() {
    let good = "# HELP checkout_x_total An x\n# TYPE checkout_x counter\n\
                checkout_x_total{outcome=\"ok\"} 3\n# EOF\n";
    let good = good.replace("# HELP checkout_x_total", "# HELP checkout_x");
    assert_eq!(
        parse(&good)
            .unwrap()
            .get("checkout_x_total{outcome=\"ok\"}"),
        3.0
    );
    for bad in [
        good.replace("# EOF\n", ""),
        good.replace("checkout_x_total{", "checkout_x{"),
        good.replace("outcome=\"ok\"", "outcome=ok"),
        good.replace("outcome=\"ok\"", "order=\"co_1\""),
        good.replace(" 3\n", " three\n"),
        good.replace("# TYPE checkout_x counter\n", ""),
        good.replace(
            "checkout_x_total{outcome=\"ok\"} 3\n",
            "checkout_x_total{outcome=\"ok\"} 3\ncheckout_x_total{outcome=\"ok\"} 4\n",
        ),
    ] {
        assert!(parse(&bad).is_err(), "{bad}");
    }
}

/// `metrics_listen`: `/metrics` there without the token, and only `/metrics`; on the main
/// address, still behind it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn on_its_own_address_metrics_need_no_token_and_the_main_one_still_does() {
    use std::io::BufRead as _;
    let dir = std::env::temp_dir().join(format!(
        "checkout-metrics-listen-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("checkout.toml");
    std::fs::write(
        &config,
        format!(
            r#"
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
database = "{db}"
[admin]
token = "{ADMIN}"
[gateway]
url = "http://127.0.0.1:1"
api_key = "pk_test"
private_key = "{private}"
webhook_public_key = "{public}"
[rates]
fixed = {{ "USDT/USD" = "1" }}
"#,
            db = dir.join("checkout.sqlite").display(),
            private = V1PrivateKey::generate().to_base64_pkcs8(),
            public = V1PrivateKey::generate().public_key().to_base64_spki(),
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_checkout-server"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value = loop {
        let line = lines
            .next()
            .expect("the server printed its addresses")
            .unwrap();
        if let Ok(value) = serde_json::from_str(&line) {
            break value;
        }
    };
    let (main, metrics) = (
        ready["listen"].as_str().unwrap().to_owned(),
        ready["metrics"].as_str().unwrap().to_owned(),
    );
    let http = reqwest::Client::new();
    let get = |url: String, token: Option<&str>| {
        let mut request = http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, text) = get(format!("http://{metrics}/metrics"), None).await;
    assert_eq!(status, 200, "{text}");
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(get(format!("http://{metrics}/healthz"), None).await.0, 404);
    assert_eq!(
        get(format!("http://{metrics}/api/admin/orders"), Some(ADMIN))
            .await
            .0,
        404,
        "the admin API is not on the metrics address"
    );
    assert_eq!(get(format!("http://{main}/metrics"), None).await.0, 401);
    assert_eq!(
        get(format!("http://{main}/metrics"), Some(ADMIN)).await.0,
        200
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
