//! A checkout server world of real processes: anvil, the sandbox gateway, `checkout-server`, and
//! a fulfillment receiver.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use usdt_checkout_chain::ChainClient;
use usdt_checkout_protocol::Address;
use usdt_checkout_server::fulfillment;
use usdt_checkout_testkit::provider::RpcProvider;
use usdt_checkout_testkit::*;

pub mod console;
pub mod console_world;
pub mod fixtures;
pub mod shop;
pub mod storefront;

/// `checkout-server receipt verify` on a receipt's text, with the server's public key: what it
/// printed if it verified, what it said if not.
pub fn verify_receipt(text: &str, public_key: &str) -> Result<String, String> {
    let file =
        std::env::temp_dir().join(format!("receipt-{}-{}.json", std::process::id(), now_ms()));
    std::fs::write(&file, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_checkout-server"))
        .args(["receipt", "verify"])
        .arg(&file)
        .args(["--public-key", public_key])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

pub const WAIT: Duration = Duration::from_secs(60);

/// Which database a test runs on; [`on_both!`] runs a test on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Db {
    #[default]
    Sqlite,
    Postgres,
}

impl Db {
    /// Its name, for what a test makes on it: the same test runs on both at once, and must not
    /// share a directory with itself.
    pub fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    }

    /// A database of the test's own, as `database =` names it: an SQLite file in `dir`, or a
    /// fresh database on the tests' PostgreSQL.
    pub async fn create(self, name: &str, dir: &std::path::Path) -> String {
        match self {
            Db::Sqlite => dir.join("checkout.sqlite").display().to_string(),
            Db::Postgres => usdt_checkout_testkit::postgres::fresh_database(name).await,
        }
    }
}

/// Runs each named test, an `async fn(Db)`, twice: as `<name>::sqlite` and `<name>::postgres`.
///
/// Tests come in tiers. The plain `cargo test` starts no process: an SQLite variant runs there,
/// and a PostgreSQL one, which needs the tests' PostgreSQL server, is `#[ignore]`d there. With
/// `processes:` first, the tests start anvil, the sandbox or servers, and both variants are
/// ignored. `cargo xtask test` runs every tier (`--include-ignored`).
#[macro_export]
macro_rules! on_both {
    (processes: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "starts processes: cargo xtask test runs it"]
            async fn sqlite() {
                super::$name($crate::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "starts processes: cargo xtask test runs it"]
            async fn postgres() {
                super::$name($crate::common::Db::Postgres).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$name($crate::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "starts PostgreSQL: cargo xtask test runs it"]
            async fn postgres() {
                super::$name($crate::common::Db::Postgres).await
            }
        }
    )*};
}
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// The sandbox's first merchant's cashier id (its default), as the console would show it.
pub const SANDBOX_CASHIER_ID: &str = "86100021";
pub const FULFILLMENT_SECRET: &str = "fulfillment-secret-for-tests";

/// The checkout server process, killed on drop.
pub struct CheckoutServer {
    pub url: String,
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
            // What the test's own RUST_LOG asks, else warnings.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "usdt_checkout_server=warn".into()),
            )
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

    /// The process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Killed, as by a crash, and started again on the same database and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn stop(&mut self) {
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

pub struct World {
    pub anvil: Anvil,
    /// The second chain (31338, USDT with 18 decimals), when the storefront takes it.
    pub second_anvil: Option<Anvil>,
    /// The provider the checkout server reads the first chain through, when the storefront
    /// asked for one.
    pub provider: Option<RpcProvider>,
    /// The provider the gateway reads the first chain through, likewise.
    pub gateways_provider: Option<RpcProvider>,
    pub sandbox: Sandbox,
    pub server: CheckoutServer,
    pub fulfillment: WebhookReceiver,
    /// The merchant's gateway credentials, as its console gave them.
    pub keys: MerchantKeys,
    pub http: reqwest::Client,
    _dir: tempdir::Dir,
}

/// Where the widget is embedded from, for the checkout server's CORS and `/checkout/` assets,
/// and which of the gateway's dialects the world speaks.
pub struct Storefront {
    pub origin: String,
    /// The built widget (`dist/checkout`); stand-in files when `None`.
    pub widget_dir: Option<std::path::PathBuf>,
    pub api: Api,
    /// Whether the checkout server reads the chain itself (an RPC URL), or knows only what the
    /// gateway says.
    pub watch_chain: bool,
    pub db: Db,
    /// The gateway's limit of calls a minute, and the checkout server's budget within it.
    pub gateway_limit: Option<usize>,
    /// How long the gateway's orders last, when not its default.
    pub order_lifetime_seconds: Option<u64>,
    /// How often the reconciler asks the gateway, when not every second (the tests', so lost
    /// webhooks are made up for at once; a shop's default is 15 s).
    pub reconcile_interval_seconds: Option<u64>,
    /// New checkouts a client may ask for a minute, when not the tests' (every shopper of a
    /// test comes from 127.0.0.1).
    pub checkouts_per_client_per_minute: Option<usize>,
    /// A second chain beside the first: chain 31338, whose USDT has 18 decimals (as on BNB
    /// Smart Chain), watched by the gateway and the checkout server alike.
    pub second_chain: bool,
    /// Blocks a payment needs, at the gateway and the checkout server alike, when not 2.
    pub confirmations: Option<u32>,
    /// How long the checkout server uses a fetched rate list, when not a minute.
    pub rates_refresh_seconds: Option<u64>,
    /// The gateway keeps its ledger in memory (see `SandboxOptions::ledger_in_memory`).
    pub ledger_in_memory: bool,
    /// The gateway answers V1 in the envelope (see `SandboxOptions::v1_envelope`).
    pub v1_envelope: bool,
    /// The checkout server and the gateway each read the first chain through a hosted
    /// provider's limits and faults (see `usdt_checkout_testkit::provider`), each its own.
    pub provider: Option<usdt_checkout_testkit::provider::ProviderFaults>,
    /// RPC calls a day the checkout server may spend on each chain, when not the tests' (a
    /// hundred a second: their chains are read every 200 ms).
    pub rpc_calls_per_day: Option<u64>,
    /// The checkout server's first node for the first chain is one that is down: it reads
    /// through the next (`rpc_urls`).
    pub dead_node_first: bool,
    /// The checkout server reads the chains at the product's default poll and budget, not the
    /// tests' 200 ms (for measurements).
    pub chain_defaults: bool,
    /// The gateway's public lists carry only chain ids and symbols (see
    /// `SandboxOptions::minimal_lists`): the checkout server describes them from its registry.
    pub minimal_lists: bool,
    /// The first chain's `underpaid_tolerance`, as the configuration writes it
    /// (`USDT = { amount = "1" }`): none unless said.
    pub underpaid_tolerance: Option<&'static str>,
    /// The gateway is the sandbox in test mode (`gateway.sandbox = true`): the console offers
    /// to pay an approved refund from the merchant's test account. Off unless said.
    pub sandbox: bool,
}

impl Default for Storefront {
    fn default() -> Self {
        Self {
            origin: "http://shop.test".into(),
            widget_dir: None,
            api: Api::V1,
            watch_chain: true,
            db: Db::Sqlite,
            gateway_limit: None,
            order_lifetime_seconds: None,
            second_chain: false,
            reconcile_interval_seconds: None,
            checkouts_per_client_per_minute: None,
            confirmations: None,
            rates_refresh_seconds: None,
            ledger_in_memory: false,
            v1_envelope: false,
            provider: None,
            rpc_calls_per_day: None,
            dead_node_first: false,
            chain_defaults: false,
            minimal_lists: false,
            underpaid_tolerance: None,
            sandbox: false,
        }
    }
}

pub async fn world(name: &str) -> World {
    world_with(name, Storefront::default()).await
}

/// [`world`], its checkout server keeping checkouts on `db`.
pub async fn world_on(name: &str, db: Db) -> World {
    world_with(
        name,
        Storefront {
            db,
            ..Storefront::default()
        },
    )
    .await
}

pub async fn world_with(name: &str, storefront: Storefront) -> World {
    let name = &format!("{name}-{}", storefront.db.name());
    let anvil = Anvil::start();
    let second_anvil = storefront.second_chain.then(|| Anvil::start_as(31338));
    let fulfillment = WebhookReceiver::start().await;
    let keys = MerchantKeys::new("5e0f7a51-9a0b-4c55-8d2e-6b7c8d9e0f12");
    let dir = tempdir::Dir::new(name);
    let port = free_port();
    let webhook_url = format!("http://127.0.0.1:{port}/webhooks/blockatm");
    let provider = match storefront.provider.clone() {
        Some(faults) => Some(RpcProvider::start(&anvil.rpc_url, faults).await),
        None => None,
    };
    let gateways_provider = match storefront.provider.clone() {
        Some(faults) => Some(RpcProvider::start(&anvil.rpc_url, faults).await),
        None => None,
    };
    let options = SandboxOptions {
        first_chain_through: gateways_provider.as_ref().map(|p| p.url.clone()),
        more_chains: second_anvil.iter().map(|a| a.rpc_url.clone()).collect(),
        api: storefront.api,
        rate_limit_per_minute: storefront.gateway_limit.unwrap_or(100),
        order_lifetime_seconds: storefront.order_lifetime_seconds,
        confirmations: storefront.confirmations.unwrap_or(2),
        ledger_in_memory: storefront.ledger_in_memory,
        v1_envelope: storefront.v1_envelope,
        minimal_lists: storefront.minimal_lists,
    };
    let sandbox = Sandbox::start_with(built_sandbox(), &anvil, &keys, &webhook_url, &dir, options);
    // The merchant's gateway settings, as its BlockATM console gives them.
    let gateway = match storefront.api {
        Api::V1 => format!(
            "private_key = \"{}\"\nwebhook_public_key = \"{}\"",
            keys.v1.to_base64_pkcs8(),
            sandbox.gateway_public_key()
        ),
        Api::V2 => format!(
            "api = \"blockatm-v2\"\nv2_secret = \"{}\"\nwebhook_secret = \"{}\"\n\
             cashier_id = \"{SANDBOX_CASHIER_ID}\"\nreceiving_addresses = {{ {} }}",
            keys.v2_text,
            keys.webhook_secret_text,
            std::iter::once(&anvil)
                .chain(&second_anvil)
                .map(|a| format!(
                    "{} = \"{}\"",
                    a.chain_id,
                    sandbox.receiving_address_on(a.chain_id, &keys.api_key)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let chains: String = std::iter::once(&anvil)
        .chain(&second_anvil)
        .map(|a| {
            let url = match &provider {
                Some(provider) if a.chain_id == anvil.chain_id => &provider.url,
                _ => &a.rpc_url,
            };
            let urls = if storefront.dead_node_first && a.chain_id == anvil.chain_id {
                format!("\"http://127.0.0.1:{}/\", \"{url}\"", free_port())
            } else {
                format!("\"{url}\"")
            };
            let rpc = match (storefront.watch_chain, storefront.chain_defaults) {
                (false, _) => String::new(),
                (true, true) => format!("rpc_urls = [{urls}]\n"),
                (true, false) => format!(
                    "rpc_urls = [{urls}]\npoll_interval_ms = 200\nrpc_calls_per_day = {}\n",
                    storefront.rpc_calls_per_day.unwrap_or(8_640_000)
                ),
            };
            let tolerance = match storefront.underpaid_tolerance {
                Some(tolerance) if a.chain_id == anvil.chain_id => {
                    format!("underpaid_tolerance = {{ {tolerance} }}\n")
                }
                _ => String::new(),
            };
            format!(
                "[[chains]]\nid = {}\nconfirmations = {}\n{rpc}{tolerance}\n",
                a.chain_id,
                storefront.confirmations.unwrap_or(2)
            )
        })
        .collect();
    let widget = storefront.widget_dir.unwrap_or_else(|| {
        let widget = dir.path.join("widget");
        std::fs::create_dir_all(&widget).unwrap();
        // Stand-ins for the built widget's files: only how they are served is under test here.
        std::fs::write(widget.join("usdt-checkout_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(widget.join("usdt-checkout_bg.wasm.br"), b"brotli bytes").unwrap();
        std::fs::write(widget.join("usdt-checkout_bg.wasm.gz"), b"gzip bytes").unwrap();
        std::fs::write(widget.join("usdt-checkout.js"), "export default {};").unwrap();
        widget
    });
    let config = dir.path.join("checkout.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"
database = "{database}"
# Every shopper of a test comes from 127.0.0.1.
checkouts_per_client_per_minute = {per_client}
allowed_origins = ["{origin}"]
widget_dir = "{widget}"

[gateway]
url = "{gateway_url}"
api_key = "{api_key}"
{gateway}
reconcile_interval_seconds = {reconcile}
{budget}
{sandbox}

[rates]
# The sandbox's own rate list: BlockATM documents none.
url = "{gateway_url}/api/v1/public/rates"
{rates_refresh}

{chains}
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
            database = storefront.db.create(name, &dir.path).await,
            origin = storefront.origin,
            per_client = storefront
                .checkouts_per_client_per_minute
                .unwrap_or(100_000),
            reconcile = storefront.reconcile_interval_seconds.unwrap_or(1),
            sandbox = if storefront.sandbox {
                "sandbox = true"
            } else {
                ""
            },
            rates_refresh = storefront
                .rates_refresh_seconds
                .map(|s| format!("refresh_seconds = {s}"))
                .unwrap_or_default(),
            widget = widget.display(),
            gateway_url = sandbox.url,
            api_key = keys.api_key,
            fulfillment = fulfillment.url,
            budget = storefront
                .gateway_limit
                .map(|limit| format!("limit_per_minute = {limit}\nrequests_per_minute = {limit}"))
                .unwrap_or_default(),
        ),
    )
    .unwrap();
    let server = CheckoutServer::start(config);
    World {
        anvil,
        second_anvil,
        provider,
        gateways_provider,
        sandbox,
        server,
        fulfillment,
        keys,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        _dir: dir,
    }
}

impl World {
    /// Another checkout server on this world's database: the same configuration, another port.
    pub fn replica(&self) -> CheckoutServer {
        let text = std::fs::read_to_string(&self.server.config).unwrap();
        let port = free_port();
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("listen = ") {
                    format!("listen = \"127.0.0.1:{port}\"\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let config = self._dir.path.join(format!("checkout-{port}.toml"));
        std::fs::write(&config, text).unwrap();
        CheckoutServer::start(config)
    }

    /// The database the checkout server keeps checkouts in, as `database =` names it.
    pub fn database(&self) -> String {
        std::fs::read_to_string(&self.server.config)
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("database = \"")?.strip_suffix('"'))
            .expect("the configuration names its database")
            .to_owned()
    }

    /// Runs `sql` on the checkout server's database, beside the server, as an operator would.
    pub async fn run_sql(&self, sql: &str) {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let database = self.database();
        let url = if database.starts_with("postgres") {
            database
        } else {
            format!("sqlite://{database}")
        };
        let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
        connection.execute(sqlx::raw_sql(sql)).await.unwrap();
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
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

    pub async fn checkout(&self, item: &str, key: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/checkouts",
                json!({"item": item, "chainId": 31337, "symbol": "USDT", "idempotencyKey": key}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn status(&self, id: &str) -> Value {
        self.status_at(&self.server.url, id).await
    }

    /// A checkout's status as the checkout server at `server` answers it.
    pub async fn status_at(&self, server: &str, id: &str) -> Value {
        self.get_json(&format!("{server}/api/checkouts/{id}")).await
    }

    /// The JSON body of a `GET` of `url`.
    pub async fn get_json(&self, url: &str) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn wait_state(&self, id: &str, state: &str) -> Value {
        self.wait_state_at(&self.server.url, id, state).await
    }

    /// Polls `id` at `server` (a checkout server, or a balancer in front of several) until its
    /// state is `state`.
    pub async fn wait_state_at(&self, server: &str, id: &str, state: &str) -> Value {
        eventually(&format!("checkout {id} to be {state}"), WAIT, || async {
            let view = self.status_at(server, id).await;
            (view["state"] == state).then_some(view)
        })
        .await
    }

    /// The one fulfillment event of `checkout`, once there is one; a few reconciliation rounds
    /// (every second) and webhook retries later, still exactly that one.
    pub async fn fulfilled_once(&self, checkout: &str) -> Value {
        eventually("the fulfillment event", WAIT, || async {
            (!self.fulfilled().is_empty()).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let events = self.fulfilled();
        assert_eq!(events.len(), 1, "exactly one fulfillment event: {events:?}");
        assert_eq!(events[0]["checkoutId"], checkout);
        events[0].clone()
    }

    pub async fn pay(&self, view: &Value, body: Value) {
        let order_no = view["payment"]["orderNo"].as_str().unwrap();
        let reply = Client::new(&self.sandbox.url)
            .post(&format!("/sandbox/orders/{order_no}/pay"), body)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    pub async fn mine(&self) {
        let reply = Client::new(&self.sandbox.url)
            .post("/sandbox/mine", json!({"blocks": 1}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// The checkout server's receipt key, from its well-known path.
    pub async fn receipt_key(&self) -> Value {
        let url = format!("{}/.well-known/usdt-checkout/receipt-key", self.server.url);
        self.get_json(&url).await
    }

    /// What the checkout server knew, for a test that gives up waiting to say why: its health
    /// (each watcher's head and errors, the roles it holds) and the unmatched payments it kept.
    pub async fn what_the_server_knew(&self) -> String {
        let health = self.get_json(&format!("{}/healthz", self.server.url)).await;
        let unmatched = self.admin_get("/api/admin/unmatched").await;
        format!("healthz: {health}\nunmatched payments: {unmatched}")
    }

    /// The checkouts as the merchant's admin API lists them, newest first.
    pub async fn admin_orders(&self) -> Value {
        self.admin_get("/api/admin/orders").await
    }

    /// A `GET` of the merchant's admin API, as the merchant's tools make it.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.server.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sandbox_faults(&self, faults: Value) {
        let reply = Client::new(&self.sandbox.url)
            .post("/sandbox/faults", faults)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// Fulfillment events received, each checked for its signature.
    pub fn fulfilled(&self) -> Vec<Value> {
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
                    fulfillment::sign(
                        &usdt_checkout_protocol::signature::V2SecretKey::new(FULFILLMENT_SECRET)
                            .unwrap(),
                        time,
                        &hook.body
                    )
                );
                hook.json()
            })
            .collect()
    }
}

/// A wallet on one chain: one of anvil's unlocked accounts, the first being the minter of the
/// test USDT.
pub struct Wallet {
    pub chain: ChainClient,
    pub minter: Address,
    pub shopper: Address,
}

impl Wallet {
    pub async fn on(rpc_url: &str, account: usize) -> Self {
        let chain = ChainClient::connect(rpc_url).unwrap();
        let accounts = chain.accounts().await.unwrap();
        Self {
            chain,
            minter: accounts[0],
            shopper: accounts[account],
        }
    }

    pub async fn send(&self, token: Address, to: Address, amount: u128) -> String {
        self.chain
            .mint(token, self.minter, self.shopper, amount)
            .await
            .unwrap();
        self.chain
            .transfer(token, self.shopper, to, amount)
            .await
            .unwrap()
    }

    /// Signs `message` as the wallet's `personal_sign` does.
    pub async fn sign(&self, message: &str) -> String {
        self.chain
            .sign_message(self.shopper, message)
            .await
            .unwrap()
    }
}

/// `POST /api/checkouts/{id}/claims`, proven by `wallet`'s signature as the widget makes it:
/// the status and the body.
pub async fn proven_claim(w: &World, wallet: &Wallet, id: &str, tx_hash: &str) -> (u16, Value) {
    let message = usdt_checkout_protocol::wallet_proof::claim_message(id, tx_hash);
    w.post(
        &format!("/api/checkouts/{id}/claims"),
        json!({"txHash": tx_hash, "signature": wallet.sign(&message).await}),
    )
    .await
}
