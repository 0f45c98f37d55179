//! Running the server in production, in-process: `check-config`'s checks and redaction, `/livez`
//! and `/readyz` on a database that works and on one that went, request ids (answered, logged,
//! sent on to the gateway) and `backup` of a database in use. The command line itself, and the
//! systemd unit, are checked by the tests that start processes, at the end.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::Db;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::ServiceExt;
use usdt_checkout_protocol::signature::V1PrivateKey;
use usdt_checkout_server::app::App;
use usdt_checkout_server::checkouts::Checkouts;
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::store::{Database, Store};
use usdt_checkout_server::{backup, check_config, config, request_id, server};

const ADMIN: &str = "admin-token-for-ops-tests";

on_both!(
    a_working_store_is_ready_and_one_that_went_is_not,
    a_database_missing_a_migration_is_not_ready,
);

/// A scratch directory, removed when dropped.
struct Dir(std::path::PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "checkout-ops-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A configuration that starts, with every secret set to a value the tests look for.
struct Secrets {
    private_key: String,
    webhook_key: String,
    /// The gateway's own key, whose public half is `webhook_key`: it signs webhooks.
    gateway: V1PrivateKey,
}

impl Secrets {
    fn new() -> Self {
        let gateway = V1PrivateKey::generate();
        Self {
            private_key: V1PrivateKey::generate().to_base64_pkcs8(),
            webhook_key: gateway.public_key().to_base64_spki(),
            gateway,
        }
    }

    /// The configuration file's text: `database` and `gateway_url` as given, `extra` on top.
    fn toml(&self, database: &str, gateway_url: &str, extra: &str) -> String {
        format!(
            r#"
database = "{database}"
{extra}
[admin]
token = "{ADMIN}"
[fulfillment]
url = "https://shop.example/hooks/paid"
secret = "fulfillment-secret-value-0123456789"
[gateway]
url = "{gateway_url}"
api_key = "pk_live_SECRET_API_KEY"
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
            private = self.private_key,
            public = self.webhook_key,
        )
    }
}

/// `check-config` on `text` as a file, with `env` as the environment.
fn check(dir: &Dir, text: &str, env: &[(&str, &str)]) -> Result<String, String> {
    let path = dir.0.join("checkout.toml");
    std::fs::write(&path, text).unwrap();
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    check_config::check(Some(&path), |name| env.get(name).cloned())
}

#[test]
fn check_config_prints_the_effective_settings_and_never_a_secret() {
    let dir = Dir::new("check-good");
    let secrets = Secrets::new();
    let text = secrets.toml(
        "postgres://shop:DB_PASSWORD_VALUE@db.internal/checkout",
        "https://gateway.example",
        "log_format = \"json\"",
    );
    let printed = check(
        &dir,
        &text,
        &[("CHECKOUT_WEBHOOK_PUBLIC_KEY", &secrets.webhook_key)],
    )
    .unwrap();
    for shown in [
        "[Server]\n",
        "log_format = json\n",
        "gateway.url = https://gateway.example\n",
        "admin.token = set (redacted)\n",
        "gateway.api_key = set (redacted)\n",
        "fulfillment.secret = set (redacted)\n",
        "gateway.private_key = set (redacted)\n",
        "db.internal/checkout",
    ] {
        assert!(printed.contains(shown), "{shown:?} in\n{printed}");
    }
    let private_key_body = &secrets.private_key[40..80];
    for secret in [
        ADMIN,
        "pk_live_SECRET_API_KEY",
        "fulfillment-secret-value-0123456789",
        "DB_PASSWORD_VALUE",
        private_key_body,
    ] {
        assert!(!printed.contains(secret), "{secret:?} shown in\n{printed}");
    }
}

/// Environment variables, by name.
type Env<'a> = Vec<(&'a str, &'a str)>;

#[test]
fn check_config_refuses_each_kind_of_bad_configuration_as_startup_does() {
    let dir = Dir::new("check-bad");
    let secrets = Secrets::new();
    let good = secrets.toml("checkout.sqlite", "http://127.0.0.1:4010", "");
    assert!(check(&dir, &good, &[]).is_ok());
    let chain = "[[chains]]\nid = 31337\nrpc_url = \"http://127.0.0.1:8545\"\n";
    let cases: Vec<(&str, String, Env)> = vec![
        ("TOML", format!("{good}\n[[items]\nid ="), vec![]),
        (
            "unknown field `lisen`",
            format!("lisen = \"x\"\n{good}"),
            vec![],
        ),
        ("listen", format!("listen = \"nowhere\"\n{good}"), vec![]),
        (
            "CHECKOUT_LISTEN",
            good.clone(),
            vec![("CHECKOUT_LISTEN", "256.0.0.1:80")],
        ),
        (
            "gateway.url",
            secrets.toml("checkout.sqlite", "ftp://gateway.example", ""),
            vec![],
        ),
        (
            "public_url",
            format!("public_url = \"https://pay.example/?x=1\"\n{good}"),
            vec![],
        ),
        (
            "database",
            secrets.toml("mysql://db/checkout", "http://127.0.0.1:4010", ""),
            vec![],
        ),
        ("gateway.api_key", good.replace("api_key = ", "# "), vec![]),
        (
            "gateway.private_key",
            good.replace("private_key = ", "# "),
            vec![],
        ),
        ("admin.token", good.replace(ADMIN, "short"), vec![]),
        (
            "underpaid_tolerance",
            good.replace(
                "[admin]",
                &format!(
                    "{}underpaid_tolerance = {{ USDT = {{ percent = \"150\" }} }}\n[admin]",
                    chain
                ),
            ),
            vec![],
        ),
        (
            "log_format",
            format!("log_format = \"xml\"\n{good}"),
            vec![],
        ),
        (
            "order_lifetime_seconds",
            format!("order_lifetime_seconds = 5\n{good}"),
            vec![],
        ),
    ];
    for (named, text, env) in cases {
        let refused = check(&dir, &text, &env).expect_err(named);
        assert!(refused.contains(named), "{named:?} in {refused:?}");
        assert!(!refused.contains(ADMIN), "{refused}");
        assert!(!refused.contains("pk_live_SECRET_API_KEY"), "{refused}");
    }
    let missing = check_config::check(Some(&dir.0.join("nowhere.toml")), |_| None).unwrap_err();
    assert!(missing.contains("nowhere.toml"), "{missing}");
}

/// The app on `database`, its store attached as `serve` attaches it, its gateway at
/// `gateway_url`.
async fn app(database: &str, gateway_url: &str) -> (Arc<App>, Store) {
    app_with(&Secrets::new(), database, gateway_url, None).await
}

/// [`app`] with these secrets, and the shop's fulfillment endpoint at `fulfillment_url`.
async fn app_with(
    secrets: &Secrets,
    database: &str,
    gateway_url: &str,
    fulfillment_url: Option<&str>,
) -> (Arc<App>, Store) {
    let toml = secrets.toml(database, gateway_url, "");
    let config = config::parse(&toml, "test.toml", |name| {
        (name == "CHECKOUT_FULFILLMENT_URL")
            .then(|| fulfillment_url.map(str::to_owned))
            .flatten()
    })
    .unwrap();
    let store = Store::open(&config.database).await.unwrap();
    let checkouts = Arc::new(
        Checkouts::from_store(store.clone(), Arc::new(Notify::new()))
            .await
            .unwrap(),
    );
    let gateway = Arc::new(config.gateway_client());
    let mut app = App::new(config, checkouts, gateway);
    app.store = Some(store.clone());
    (Arc::new(app), store)
}

async fn send(app: &Arc<App>, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = server::router(app.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(app: &Arc<App>, path: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(app, Request::get(path).body(Body::empty()).unwrap()).await;
    (status, body)
}

async fn a_working_store_is_ready_and_one_that_went_is_not(db: Db) {
    let dir = Dir::new(&format!("ready-{}", db.name()));
    let database = db.create("ops_ready", &dir.0).await;
    let (app, store) = app(&database, "http://127.0.0.1:1").await;
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");

    store.close().await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["reason"], "database_unwritable", "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    // Alive all the same: restarting it would not bring the database back.
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    // `/healthz` keeps its detail.
    let (_, health) = get(&app, "/healthz").await;
    assert_eq!(health["database"]["available"], false, "{health}");
}

async fn a_database_missing_a_migration_is_not_ready(db: Db) {
    let dir = Dir::new(&format!("behind-{}", db.name()));
    let database = db.create("ops_behind", &dir.0).await;
    let (app, _store) = app(&database, "http://127.0.0.1:1").await;
    // As if an older backup had been put back under the running server.
    sqlx::any::install_default_drivers();
    let url = match db {
        Db::Sqlite => format!("sqlite://{database}"),
        Db::Postgres => database.clone(),
    };
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)")
        .execute(&mut conn)
        .await
        .unwrap();
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["reason"], "migrations_behind", "{body}");
}

/// What a stand-in gateway was sent: each request's headers.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

/// A gateway on a loopback port of this process that notes each request's headers and refuses
/// it (500): what the server sent is all these tests look at.
async fn recording_gateway() -> (String, Seen) {
    let seen = Seen::default();
    let noted = seen.clone();
    let router = axum::Router::new().fallback(move |headers: HeaderMap| {
        let noted = noted.clone();
        async move {
            noted.0.lock().unwrap().push(headers);
            StatusCode::INTERNAL_SERVER_ERROR
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// A widget's `POST /api/checkouts` for a T-shirt, with `id` as its `X-Request-Id` if any.
fn new_checkout(id: Option<&str>) -> Request<Body> {
    let mut request =
        Request::post("/api/checkouts").header(header::CONTENT_TYPE, "application/json");
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    let mut request = request
        .body(Body::from(
            json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": format!("k-{}", now_ms())})
                .to_string(),
        ))
        .unwrap();
    let peer: std::net::SocketAddr = "192.0.2.7:5000".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    request
}

#[tokio::test]
async fn a_requests_id_is_answered_and_sent_on_to_the_gateway() {
    let dir = Dir::new("request-id");
    let (gateway, seen) = recording_gateway().await;
    let database = dir.0.join("checkout.sqlite").display().to_string();
    let (app, _store) = app(&database, &gateway).await;

    let (_, headers, body) = send(&app, new_checkout(Some("shop-7f3a.1"))).await;
    assert_eq!(headers["x-request-id"], "shop-7f3a.1", "{body}");
    let sent = seen.0.lock().unwrap().clone();
    assert!(!sent.is_empty(), "the gateway was asked: {body}");
    for headers in &sent {
        assert_eq!(headers["x-request-id"], "shop-7f3a.1");
    }

    // An id that could forge a log line is not taken: one is made instead, and sent on.
    seen.0.lock().unwrap().clear();
    let (_, headers, _) = send(&app, new_checkout(Some("a\"b c"))).await;
    let made = headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 32, "{made}");
    assert_eq!(request_id::sane(&made), Some(made.as_str()));
    assert!(
        seen.0
            .lock()
            .unwrap()
            .iter()
            .all(|h| h["x-request-id"] == made.as_str())
    );
    let (_, headers, _) = send(&app, Request::get("/livez").body(Body::empty()).unwrap()).await;
    let other = headers["x-request-id"].to_str().unwrap();
    assert_ne!(other, made, "each request its own");
}

#[tokio::test]
async fn outside_a_request_the_gateway_is_sent_no_id() {
    let dir = Dir::new("no-request-id");
    let (gateway, seen) = recording_gateway().await;
    let database = dir.0.join("checkout.sqlite").display().to_string();
    let (app, _store) = app(&database, &gateway).await;
    // The reconciler asks from no request.
    let _ = app.gateway.order_status("co_1").await;
    let _ = request_id::scope("r-9".into(), app.gateway.order_status("co_2")).await;
    let sent = seen.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].get("x-request-id").is_none());
    assert_eq!(sent[1]["x-request-id"], "r-9");
}

/// What the log subscriber wrote, shared with the test.
#[derive(Clone, Default)]
struct Written(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Written {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_id() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let dir = Dir::new("request-logs");
    let (gateway, _seen) = recording_gateway().await;
    let database = dir.0.join("checkout.sqlite").display().to_string();
    let (app, _store) = app(&database, &gateway).await;
    let written = Written::default();
    let sink = written.clone();
    let subscriber = tracing_subscriber::registry()
        .with(usdt_checkout_server::log_format::SpanFields)
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(usdt_checkout_server::log_format::JsonLines)
                .with_writer(move || sink.clone()),
        );
    // This test's runtime has one thread: the request is served on it, under this subscriber.
    let _logging = tracing::subscriber::set_default(subscriber);
    let (status, _, _) = send(&app, new_checkout(Some("trace-42"))).await;
    assert!(status.is_server_error(), "the gateway refused: {status}");
    drop(_logging);
    let text = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    // The server's own lines (the stand-in gateway's, on this thread too, are no request's):
    // at least the failure the error layer logs, and the trace layer's.
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["target"].as_str().is_some_and(|t| {
                t.starts_with("usdt_checkout_server") || t.starts_with("tower_http")
            })
        })
        .collect();
    assert!(
        ours.iter()
            .any(|l| l["level"] == "ERROR" || l["level"] == "WARN"),
        "{text}"
    );
    assert!(
        ours.iter()
            .any(|l| l["target"] == "tower_http::trace::on_request"),
        "{text}"
    );
    for line in ours {
        assert_eq!(line["request_id"], "trace-42", "{line}");
    }
}

#[tokio::test]
async fn a_backup_of_a_database_in_use_opens_and_holds_its_orders() {
    let dir = Dir::new("backup");
    let database = dir.0.join("checkout.sqlite").display().to_string();
    let (app, _store) = app(&database, "http://127.0.0.1:1").await;
    let mut ids = Vec::new();
    for cart in ["Cart #1", "Cart #2"] {
        let request = Request::post("/api/admin/checkouts")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .body(Body::from(
                json!({"amount": "40.00", "currency": "USD", "description": cart}).to_string(),
            ))
            .unwrap();
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let copy = dir.0.join("backup.sqlite");
    let backed = backup::backup(&Database::Sqlite(database.clone().into()), &copy)
        .await
        .unwrap();
    assert_eq!(backed.checkouts, 2);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the copy holds keys: its owner's only ({mode:o})"
        );
    }

    // The copy opens as a server's database, and holds the orders made before it.
    let restored = Store::open(&Database::Sqlite(copy.clone())).await.unwrap();
    let checkouts = Checkouts::from_store(restored, Arc::new(Notify::new()))
        .await
        .unwrap();
    for id in &ids {
        assert!(
            checkouts.load(id).await.unwrap().is_some(),
            "{id} in the copy"
        );
    }

    // Never over a file, which is left as it was.
    std::fs::write(dir.0.join("kept"), "kept").unwrap();
    let refused = backup::backup(&Database::Sqlite(database.into()), &dir.0.join("kept"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("exists"), "{refused}");
    assert_eq!(std::fs::read_to_string(dir.0.join("kept")).unwrap(), "kept");

    let missing = backup::backup(
        &Database::Sqlite(dir.0.join("nowhere.sqlite")),
        &dir.0.join("b2"),
    )
    .await
    .unwrap_err();
    assert!(
        missing.to_string().contains("no such database"),
        "{missing}"
    );
    assert!(!dir.0.join("nowhere.sqlite").exists(), "none made");

    let postgres = backup::backup(
        &Database::Postgres("postgres://shop:PW_VALUE@db/checkout".into()),
        &dir.0.join("b3"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(postgres.contains("pg_dump"), "{postgres}");
    assert!(!postgres.contains("PW_VALUE"), "{postgres}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhooks_id_goes_with_the_fulfillment_it_causes() {
    use usdt_checkout_protocol::gateway::{HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1};

    let dir = Dir::new("fulfillment-id");
    let (shop, delivered) = recording_gateway().await;
    let secrets = Secrets::new();
    let database = dir.0.join("checkout.sqlite").display().to_string();
    let (app, store) = app_with(&secrets, &database, "http://127.0.0.1:1", Some(&shop)).await;
    let open = common::fixtures::waiting_checkout(&app.checkouts, "co_ops_1").await;

    // The gateway says it is paid, its request carrying an id of its own.
    let body = json!({
        "platOrderNo": "P0000000001", "orderNo": open.id, "amount": "12", "fee": "0",
        "chainId": "31337", "network": "Local chain", "symbol": "USDT", "txId": "0xfeed",
        "type": 2, "status": 1, "createTime": 1,
    })
    .to_string();
    let time = now_ms();
    let signed = usdt_checkout_protocol::signed_string::for_json_body(&body, time).unwrap();
    let request = Request::post("/webhooks/blockatm")
        .header(header::CONTENT_TYPE, "application/json")
        .header(HEADER_REQUEST_TIME, time.to_string())
        .header(HEADER_SIGNATURE_V1, secrets.gateway.sign(&signed))
        .header("x-request-id", "gw-hook-77")
        .body(Body::from(body))
        .unwrap();
    let (status, _, answer) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // The fulfillment worker delivers it to the shop, saying which request caused it.
    let delivery = app.config.fulfillment.clone().unwrap();
    let worker = tokio::spawn(usdt_checkout_server::fulfillment::run(
        delivery,
        store,
        Arc::new(Notify::new()),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while delivered.0.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing delivered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    worker.abort();
    let sent = delivered.0.lock().unwrap().clone();
    assert_eq!(sent[0]["x-request-id"], "gw-hook-77");
}
