//! Real processes for integration tests: anvil from the project's npm tools, a PostgreSQL
//! database ([`postgres::fresh_database`]), the sandbox gateway binary, a signing gateway client,
//! a webhook receiver and a headless browser. Every process is killed when its handle is dropped,
//! a failing test included; PostgreSQL's cluster, shared by the test process, when that process
//! ends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use usdt_checkout_protocol::Address;
use usdt_checkout_protocol::gateway::{
    HEADER_API_KEY, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1, HEADER_SIGNATURE_V2,
};
use usdt_checkout_protocol::signature::{V1PrivateKey, V2SecretKey};
use usdt_checkout_protocol::signed_string;

pub mod browser;
pub mod postgres;
pub mod provider;

pub use postgres::fresh_database;

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A port free on loopback now, for a process that must be told its port before it starts.
///
/// Taken below the kernel's ephemeral range (32768 and up on Linux): a port there, once
/// released, is also what the next outgoing connection or `--port 0` may be given, and with
/// many tests side by side one was, before the server it was meant for could listen. Each
/// process walks its own stretch from a start drawn from its id and the clock.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let start = std::process::id().wrapping_mul(1_009)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_micros();
    let _ = NEXT.compare_exchange(
        u32::MAX,
        start % COUNT,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    (0..COUNT)
        .map(|_| FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port as u16)).is_ok())
        .map_or_else(
            || {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            },
            |port| port as u16,
        )
}

/// A child process killed on drop.
pub struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The sandbox binary built in this workspace's target directory (`cargo xtask test` builds it
/// first; so does `cargo build -p blockatm-sandbox`).
pub fn built_sandbox() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let binary = target.join("debug/blockatm-sandbox");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p blockatm-sandbox` first",
        binary.display()
    );
    binary
}

/// Reads a child's stdout until `wanted` finds what it waits for.
fn read_until<T>(child: &mut Child, what: &str, mut wanted: impl FnMut(&str) -> Option<T>) -> T {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let found = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(found) = wanted(&line) {
                    break found;
                }
            }
            _ => panic!("{what} exited before it was ready"),
        }
    };
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    found
}

pub struct Anvil {
    pub rpc_url: String,
    pub chain_id: u64,
    _process: Process,
}

impl Anvil {
    /// A fresh chain with anvil's default id (31337), where the test USDT has 6 decimals.
    pub fn start() -> Self {
        Self::start_as(31337)
    }

    /// A fresh chain with id `chain_id` (31338: the local chain whose USDT has 18 decimals).
    pub fn start_as(chain_id: u64) -> Self {
        let binary = std::env::var("ANVIL")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_root().join("node_modules/.bin/anvil"));
        let id = chain_id.to_string();
        let mut child = Command::new(&binary)
            .args(["--port", "0", "--host", "127.0.0.1", "--chain-id", &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (run `cargo xtask setup`)",
                    binary.display()
                )
            });
        let address = read_until(&mut child, "anvil", |line| {
            line.strip_prefix("Listening on ").map(str::to_owned)
        });
        Self {
            rpc_url: format!("http://{}", address.trim()),
            chain_id,
            _process: Process { child },
        }
    }
}

/// A merchant's credentials, as the sandbox's configuration and a client need them.
#[derive(Clone)]
pub struct MerchantKeys {
    pub api_key: String,
    pub v1: V1PrivateKey,
    pub v2: V2SecretKey,
    pub v2_text: String,
    /// V2's webhook secret, apart from the API secret: V2 webhooks are signed with it.
    pub webhook_secret: V2SecretKey,
    pub webhook_secret_text: String,
}

impl MerchantKeys {
    pub fn new(api_key: &str) -> Self {
        let v2_text = format!("sk_test_{api_key}");
        let webhook_secret_text = format!("whsec_test_{api_key}");
        Self {
            api_key: api_key.into(),
            v1: V1PrivateKey::generate(),
            v2: V2SecretKey::new(&v2_text).unwrap(),
            v2_text,
            webhook_secret: V2SecretKey::new(&webhook_secret_text).unwrap(),
            webhook_secret_text,
        }
    }
}

/// Which of BlockATM's documented APIs the sandbox speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    #[default]
    V1,
    V2,
}

impl Api {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// How [`Sandbox::start_with`] starts the sandbox.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// More chains to watch beside the first anvil's, by RPC URL.
    pub more_chains: Vec<String>,
    /// The gateway's is 100; tests that poll often raise it.
    pub rate_limit_per_minute: usize,
    /// The dialect (`--api`).
    pub api: Api,
    /// How long the gateway's orders last (its `expireTime`); the gateway's default when `None`.
    pub order_lifetime_seconds: Option<u64>,
    /// Blocks the gateway waits for before it reports a payment paid.
    pub confirmations: u32,
    /// The ledger in memory only (no `--data`): for a long run that never restarts the sandbox,
    /// which would otherwise rewrite its whole file on every change.
    pub ledger_in_memory: bool,
    /// V1's answers in the envelope (`--v1-envelope`), as a merchant whose client expects it
    /// would have them.
    pub v1_envelope: bool,
    /// Where the gateway reads the first chain, when not from its anvil itself: a hosted
    /// provider's stand-in in front of it (see [`provider`]).
    pub first_chain_through: Option<String>,
    /// The public lists with only `chainId` and a token's `symbol` (`--minimal-lists`), as a
    /// gateway written from BlockATM's documents alone may serve them.
    pub minimal_lists: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            more_chains: vec![],
            rate_limit_per_minute: 100,
            api: Api::V1,
            order_lifetime_seconds: None,
            confirmations: 2,
            ledger_in_memory: false,
            v1_envelope: false,
            first_chain_through: None,
            minimal_lists: false,
        }
    }
}

pub struct Sandbox {
    pub url: String,
    pub ready: Value,
    process: Option<Process>,
    binary: PathBuf,
    args: Vec<String>,
}

impl Sandbox {
    /// Starts the sandbox on `anvil` with one merchant, deploying the contracts, in test mode,
    /// speaking V1. `rate_limit_per_minute`: the gateway's is 100; tests that poll often raise it.
    pub fn start(
        binary: PathBuf,
        anvil: &Anvil,
        merchant: &MerchantKeys,
        webhook_url: &str,
        dir: &tempdir::Dir,
        rate_limit_per_minute: usize,
    ) -> Self {
        let options = SandboxOptions {
            rate_limit_per_minute,
            ..SandboxOptions::default()
        };
        Self::start_with(binary, anvil, merchant, webhook_url, dir, options)
    }

    /// [`Sandbox::start`], with the dialect and rate limit of `options`.
    pub fn start_with(
        binary: PathBuf,
        anvil: &Anvil,
        merchant: &MerchantKeys,
        webhook_url: &str,
        dir: &tempdir::Dir,
        options: SandboxOptions,
    ) -> Self {
        let SandboxOptions {
            more_chains,
            rate_limit_per_minute,
            api,
            order_lifetime_seconds,
            confirmations,
            ledger_in_memory,
            v1_envelope,
            first_chain_through,
            minimal_lists,
        } = options;
        let lifetime = order_lifetime_seconds
            .map(|s| format!("order_lifetime_seconds = {s}\n"))
            .unwrap_or_default();
        let config = dir.path.join("sandbox.toml");
        std::fs::write(
            &config,
            format!(
                r#"[gateway]
api = "{api}"
confirmations = {confirmations}
poll_interval_ms = 100
webhook_retry_base_ms = 200
block_seconds = 2
rate_limit_per_minute = {rate_limit_per_minute}
{lifetime}
[[merchants]]
api_key = "{key}"
v1_public_key = "{public}"
v2_secret = "{secret}"
webhook_secret = "{webhook_secret}"
webhook_url = "{webhook_url}"

[[rates]]
base = "USDT"
quote = "USD"
rate = "1.0002"
"#,
                key = merchant.api_key,
                public = merchant.v1.public_key().to_base64_spki(),
                secret = merchant.v2_text,
                webhook_secret = merchant.webhook_secret_text,
                api = api.as_str(),
            ),
        )
        .unwrap();
        let mut rpc_urls = vec![first_chain_through.unwrap_or_else(|| anvil.rpc_url.clone())];
        rpc_urls.extend(more_chains);
        let mut args: Vec<String> = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--rpc-url".into(),
            rpc_urls.join(","),
            "--config".into(),
            config.display().to_string(),
            "--deploy".into(),
            "--test-mode".into(),
        ];
        if v1_envelope {
            args.push("--v1-envelope".into());
        }
        if minimal_lists {
            args.push("--minimal-lists".into());
        }
        if !ledger_in_memory {
            args.extend([
                "--data".into(),
                dir.path.join("ledger.json").display().to_string(),
            ]);
        }
        let mut sandbox = Self {
            url: String::new(),
            ready: Value::Null,
            process: None,
            binary,
            args,
        };
        sandbox.spawn();
        sandbox
    }

    fn spawn(&mut self) {
        let mut child = Command::new(&self.binary)
            .args(&self.args)
            // What the test's own RUST_LOG asks, else warnings.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "blockatm_sandbox=warn".into()),
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("the sandbox binary starts");
        let ready: Value = read_until(&mut child, "the sandbox", |line| {
            serde_json::from_str(line).ok()
        });
        self.url = format!("http://{}", ready["listen"].as_str().unwrap());
        self.ready = ready;
        self.process = Some(Process { child });
    }

    /// Stops the process (as a crash would: no chance to tidy up) and starts it again on the
    /// same data, chain and port-picking.
    pub fn restart(&mut self) {
        self.process = None;
        self.spawn();
    }

    /// The receiving address of the merchant with `api_key` on the first chain, from the ready
    /// line's `receivers`: what a V2 merchant configures (V2's creation does not answer it).
    pub fn receiving_address(&self, api_key: &str) -> Address {
        self.receiving_address_on(self.ready["chainId"].as_u64().unwrap(), api_key)
    }

    /// [`Sandbox::receiving_address`] on the watched chain `chain_id`.
    pub fn receiving_address_on(&self, chain_id: u64, api_key: &str) -> Address {
        self.ready["chains"]
            .as_array()
            .and_then(|chains| chains.iter().find(|c| c["chainId"] == chain_id))
            .and_then(|chain| chain["receivers"][api_key].as_str())
            .unwrap_or_else(|| {
                panic!(
                    "the sandbox has no receiver for {api_key} on chain {chain_id}: {}",
                    self.ready
                )
            })
            .parse()
            .unwrap()
    }

    pub fn gateway_public_key(&self) -> String {
        self.ready["gatewayPublicKey"].as_str().unwrap().to_owned()
    }

    /// The gateway's own webhook signing key, read from its ledger: lets a test sign a webhook
    /// exactly as the gateway does, to replay or vary one.
    pub fn gateway_private_key(&self) -> V1PrivateKey {
        let ledger_path = self
            .args
            .iter()
            .skip_while(|a| *a != "--data")
            .nth(1)
            .expect("the sandbox runs with --data");
        let ledger: Value =
            serde_json::from_str(&std::fs::read_to_string(ledger_path).unwrap()).unwrap();
        V1PrivateKey::from_base64_pkcs8(ledger["gateway_key"].as_str().unwrap()).unwrap()
    }
}

pub mod tempdir {
    use std::path::PathBuf;

    /// A directory removed on drop.
    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "sandbox-test-{name}-{}-{}",
                std::process::id(),
                super::now_ms()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// How a test signs (or fails to sign) a request.
#[derive(Clone, Copy)]
pub enum Signing {
    V1,
    V2,
    None,
}

pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// A server-to-server POST, signed at `time` (now by default).
    pub async fn post_signed(
        &self,
        path: &str,
        body: &str,
        keys: &MerchantKeys,
        signing: Signing,
        time: Option<u64>,
    ) -> Reply {
        let time = time.unwrap_or_else(now_ms);
        let signed = signed_string::for_json_body(body, time).unwrap();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header(HEADER_API_KEY, &keys.api_key)
            .header(HEADER_REQUEST_TIME, time.to_string());
        request = match signing {
            Signing::V1 => request.header(HEADER_SIGNATURE_V1, keys.v1.sign(&signed)),
            Signing::V2 => request.header(HEADER_SIGNATURE_V2, keys.v2.sign(&signed)),
            Signing::None => request,
        };
        reply(request.body(body.to_owned()).send().await.unwrap()).await
    }

    /// A server-to-server GET, signed with V1.
    pub async fn get_signed(&self, path: &str, query: &str, keys: &MerchantKeys) -> Reply {
        self.get_with(path, query, keys, Signing::V1).await
    }

    /// A server-to-server GET with the API key, signed as `signing` says (queries need only the
    /// key).
    pub async fn get_with(
        &self,
        path: &str,
        query: &str,
        keys: &MerchantKeys,
        signing: Signing,
    ) -> Reply {
        let time = now_ms();
        let signed = signed_string::for_query(query, time).unwrap();
        let request = self
            .http
            .get(format!("{}{path}?{query}", self.base))
            .header(HEADER_API_KEY, &keys.api_key);
        let request = match signing {
            Signing::V1 => request
                .header(HEADER_REQUEST_TIME, time.to_string())
                .header(HEADER_SIGNATURE_V1, keys.v1.sign(&signed)),
            Signing::V2 => request
                .header(HEADER_REQUEST_TIME, time.to_string())
                .header(HEADER_SIGNATURE_V2, keys.v2.sign(&signed)),
            Signing::None => request,
        };
        reply(request.send().await.unwrap()).await
    }

    /// A GET with no credentials (test mode, public API).
    pub async fn get(&self, path: &str) -> Reply {
        reply(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        reply(
            self.http
                .post(format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry_after,
    }
}

/// A POST as received: its headers and raw body.
#[derive(Clone, Debug)]
pub struct ReceivedWebhook {
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When it arrived, Unix milliseconds.
    pub received_at: u64,
}

impl ReceivedWebhook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// An HTTP server that records every POST to `/hook` and answers with `status` (200 unless
/// changed), so tests can also play a receiver that is down.
pub struct WebhookReceiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<ReceivedWebhook>>>,
    pub status: Arc<std::sync::atomic::AtomicU16>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        use axum::http::{HeaderMap, StatusCode};
        let received: Arc<Mutex<Vec<ReceivedWebhook>>> = Arc::default();
        let status = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let (store, answer) = (received.clone(), status.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (store, answer) = (store.clone(), answer.clone());
                async move {
                    let status = answer.load(std::sync::atomic::Ordering::Relaxed);
                    if status == 200 {
                        store.lock().unwrap().push(ReceivedWebhook {
                            headers: headers
                                .iter()
                                .map(|(n, v)| {
                                    (n.to_string(), v.to_str().unwrap_or_default().to_owned())
                                })
                                .collect(),
                            body,
                            received_at: now_ms(),
                        });
                    }
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            received,
            status,
        }
    }

    pub fn all(&self) -> Vec<ReceivedWebhook> {
        self.received.lock().unwrap().clone()
    }
}

/// Waits for `condition` to hold, checking every 100 ms, for at most `limit`; panics with
/// `what` if it never does. A bound on waiting, not a timing assertion.
pub async fn eventually<F, Fut, T>(what: &str, limit: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        if start.elapsed() > limit {
            panic!("gave up waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_differ() {
        let ports: Vec<u16> = (0..20).map(|_| super::free_port()).collect();
        assert!(
            ports.iter().all(|&p| (20_000..32_000).contains(&p)),
            "{ports:?}"
        );
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        }
    }
}
