//! The staff console in-process: its router called with tower's `oneshot` on a real database, as
//! a browser would call it (cookies, forms and their CSRF tokens, redirects).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use tokio::sync::Notify;
use tower::ServiceExt;
use usdt_checkout_protocol::signature::V1PrivateKey;
use usdt_checkout_server::app::App;
use usdt_checkout_server::checkouts::Checkouts;
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::console::accounts;
use usdt_checkout_server::staff::Role;
use usdt_checkout_server::store::Store;
use usdt_checkout_server::{config, server};

use super::Db;

pub const ADMIN: &str = "admin-token-for-console-tests";
pub const PASSWORD: &str = "correct horse battery";

pub struct Harness {
    pub app: Arc<App>,
    pub store: Store,
    pub dir: std::path::PathBuf,
    /// The configuration, for another server on the same database.
    pub toml: String,
    /// Whether dropping it removes `dir` (another server's harness leaves it to the first).
    pub owns_dir: bool,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A server made from `toml`, on its database.
pub async fn server_of(toml: &str) -> (Arc<App>, Store) {
    let config = config::parse(toml, "test.toml", |_| None).unwrap();
    let store = Store::open(&config.database).await.unwrap();
    let checkouts = Arc::new(
        Checkouts::from_store(store.clone(), Arc::new(Notify::new()))
            .await
            .unwrap(),
    );
    let gateway = Arc::new(config.gateway_client());
    (Arc::new(App::new(config, checkouts, gateway)), store)
}

pub async fn harness(db: Db, name: &str, extra: &str) -> Harness {
    let dir = std::env::temp_dir().join(format!(
        "checkout-console-{name}-{}-{}-{}",
        db.name(),
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = format!(
        r#"
database = "{db}"
merchant_name = "Test shop"
trusted_proxies = ["10.0.0.1"]
[admin]
token = "{ADMIN}"
[gateway]
# Nothing listens here: a call to the gateway fails at once.
url = "http://127.0.0.1:1"
api_key = "pk_test"
private_key = "{private}"
webhook_public_key = "{public}"
[rates]
fixed = {{ "USDT/USD" = "1" }}
{extra}
"#,
        db = db.create(name, &dir).await,
        private = V1PrivateKey::generate().to_base64_pkcs8(),
        public = V1PrivateKey::generate().public_key().to_base64_spki(),
    );
    let (app, store) = server_of(&toml).await;
    Harness {
        app,
        store,
        dir,
        toml,
        owns_dir: true,
    }
}

impl Harness {
    /// Another server on the same database, as a replica behind the same balancer.
    pub async fn another_server(&self) -> Harness {
        let (app, store) = server_of(&self.toml).await;
        Harness {
            app,
            store,
            dir: self.dir.clone(),
            toml: self.toml.clone(),
            owns_dir: false,
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value the response sets cookie `name` to, with its attributes.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the first `name="csrf"` field in the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body));
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A browser's cookie jar for the console, reduced to what the tests need.
#[derive(Clone, Default)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
    /// The address the requests come from, when the test says.
    pub peer: Option<SocketAddr>,
    /// `X-Forwarded-Proto`, as a proxy in front would send it.
    pub forwarded_proto: Option<&'static str>,
}

impl Browser {
    pub fn from(peer: &str) -> Self {
        Self {
            peer: Some(peer.parse().unwrap()),
            ..Self::default()
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Keeps (or, given an empty value, forgets) what the reply sets.
    pub fn keep(&mut self, reply: &Reply) {
        for set in reply.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub fn request(&self, request: axum::http::request::Builder) -> axum::http::request::Builder {
        let mut request = request;
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            request = request.header(header::COOKIE, jar.join("; "));
        }
        if let Some(proto) = self.forwarded_proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request
    }
}

/// `application/x-www-form-urlencoded`, as a browser writes a form.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let encode = |s: &str| {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!("{}={}", encode(k), encode(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Harness {
    pub async fn send(&self, browser: &Browser, request: Request<Body>) -> Reply {
        let mut request = request;
        if let Some(peer) = browser.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = server::router(self.app.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, browser: &mut Browser, path: &str) -> Reply {
        let request = browser.request(Request::get(path)).body(Body::empty());
        let reply = self.send(browser, request.unwrap()).await;
        browser.keep(&reply);
        reply
    }

    pub async fn post(&self, browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
        let request = browser
            .request(Request::post(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(fields)));
        let reply = self.send(browser, request.unwrap()).await;
        browser.keep(&reply);
        reply
    }

    pub async fn add_staff(&self, name: &str, role: Role) {
        accounts::add(&self.store, name, role, PASSWORD)
            .await
            .unwrap();
    }

    /// Opens the sign-in page, then signs in with `password`.
    pub async fn sign_in_as(&self, browser: &mut Browser, name: &str, password: &str) -> Reply {
        let page = self.get(browser, "/console/sign-in").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let token = page.csrf();
        self.post(
            browser,
            "/console/sign-in",
            &[("name", name), ("password", password), ("csrf", &token)],
        )
        .await
    }

    /// A browser signed in as `name`, a member of staff with `role`, and a CSRF token of its
    /// session.
    pub async fn signed_in(&self, name: &str, role: Role) -> (Browser, String) {
        self.add_staff(name, role).await;
        let mut browser = Browser::default();
        let reply = self.sign_in_as(&mut browser, name, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert_eq!(reply.location(), "/console/orders");
        let page = self.get(&mut browser, "/console/orders").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.csrf();
        (browser, csrf)
    }

    /// An order made through the admin API, as a storefront's backend makes one.
    pub async fn order(
        &self,
        amount: &str,
        currency: &str,
        description: &str,
        reference: &str,
    ) -> String {
        let request = Request::post("/api/admin/checkouts")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .body(Body::from(
                json!({"amount": amount, "currency": currency, "description": description,
                       "reference": reference})
                .to_string(),
            ))
            .unwrap();
        let reply = self.send(&Browser::default(), request).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let created: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    pub async fn actions(&self) -> Vec<String> {
        self.store
            .audit_page(1000, None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.entry.action)
            .collect()
    }
}
