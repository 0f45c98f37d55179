//! `cargo xtask demo`: the whole product on this machine. Two local chains (anvil, their state
//! kept in `.demo/` so a second run goes on where the first stopped): 31337, whose test USDT has
//! 6 decimals, and 31338, whose USDT has 18 as on BNB Smart Chain. The sandbox gateway with its
//! contracts deployed and test mode on, the checkout server with generated keys and the built
//! widget at its `/checkout/` (compressed, named by content), and the demo storefront's page under
//! `trunk serve`, which loads the widget from there as a real storefront does. Ctrl-C, SIGTERM or
//! SIGHUP stops every part; so does any part stopping by itself.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::{Result, cmd, root, run, widget};

const ANVIL_PORT: u16 = 8545;
/// The second chain's: 31338, USDT with 18 decimals.
const BNB_PORT: u16 = 8546;
const GATEWAY_PORT: u16 = 4010;
const SERVER_PORT: u16 = 4020;
const STORE_PORT: u16 = 8080;
const API_KEY: &str = "demo-merchant-api-key";
/// anvil's well-known second development account: funded, and never the deployer.
const WALLET_ACCOUNT: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const WALLET_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn state_dir() -> PathBuf {
    root().join(".demo")
}

fn target_bin(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("debug")
        .join(name)
}

/// Children, stopped with SIGTERM (anvil writes its state then) when this is dropped.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for (_, child) in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// Set by SIGINT, SIGTERM or SIGHUP: the demo then stops its children and returns. Without this,
/// `kill -TERM` would end this process and leave every child running, holding its port.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn request_stop(_signal: i32) {
    // Only an atomic store: nothing else is safe in a signal handler.
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

unsafe extern "C" {
    /// POSIX `signal(2)`, from the C library every Rust program on Linux links already.
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

fn stop_on_signals() {
    const SIGHUP: i32 = 1;
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    for signum in [SIGHUP, SIGINT, SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            signal(signum, request_stop);
        }
    }
}

fn stopping() -> Result {
    if STOP.load(std::sync::atomic::Ordering::SeqCst) {
        Err("stopped by a signal; every part of the demo is stopped too".into())
    } else {
        Ok(())
    }
}

fn port_free(port: u16, what: &str) -> Result {
    TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|_| {
            format!("port {port} ({what}) is in use: stop whatever runs there and try again")
        })
}

/// Starts a child whose first JSON line on stdout says it is ready; returns that line.
fn start_ready(
    children: &mut Children,
    name: &'static str,
    mut command: std::process::Command,
    log: &Path,
) -> Result<serde_line::Line> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    children.0.push((name, child));
    let mut lines = BufReader::new(stdout).lines();
    let line = loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with('{') => break line,
            Some(Ok(_)) => continue,
            _ => {
                return Err(format!(
                    "{name} stopped while starting; see {}",
                    log.display()
                ));
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(serde_line::Line(line))
}

/// Just enough JSON reading for the ready lines, without a JSON dependency in xtask.
mod serde_line {
    pub struct Line(pub String);

    impl Line {
        /// The string value of `"key":"value"`.
        pub fn string(&self, key: &str) -> Option<String> {
            let start = self.0.find(&format!("\"{key}\":\""))? + key.len() + 4;
            let end = self.0[start..].find('"')? + start;
            Some(self.0[start..end].to_owned())
        }
    }
}

pub fn run_demo() -> Result {
    stop_on_signals();
    let dir = state_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (port, what) in [
        (ANVIL_PORT, "the local chain"),
        (BNB_PORT, "the second local chain"),
        (GATEWAY_PORT, "the sandbox gateway"),
        (SERVER_PORT, "the checkout server"),
        (STORE_PORT, "the storefront"),
    ] {
        port_free(port, what)?;
    }
    println!("demo: building the servers and the widget (the first time takes a few minutes)");
    run(cmd(crate::SERVERS_BUILD))?;
    widget::build()?;
    stopping()?;

    // The merchant's key pair, made once and kept.
    let key_file = dir.join("merchant-keys.txt");
    if !key_file.exists() {
        let output = cmd(&format!(
            "{} keygen",
            target_bin("checkout-server").display()
        ))
        .output()
        .map_err(|e| format!("keygen: {e}"))?;
        std::fs::write(&key_file, &output.stdout).map_err(|e| e.to_string())?;
    }
    let keys = std::fs::read_to_string(&key_file).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = keys.lines().collect();
    let (private_key, public_key) = match lines.as_slice() {
        [_, private, _, public, ..] => (*private, *public),
        _ => {
            return Err(format!(
                "{} is malformed: delete it to make new keys",
                key_file.display()
            ));
        }
    };

    let mut children = Children(Vec::new());
    // Block times as on Ethereum's faster L2s and on BNB Smart Chain (3 s).
    for (port, chain_id, block_time, state) in [
        (ANVIL_PORT, 31337, 2, "anvil-state.json"),
        (BNB_PORT, 31338, 3, "anvil-bnb-state.json"),
    ] {
        let mut anvil = cmd(&format!(
            "anvil --port {port} --host 127.0.0.1 --chain-id {chain_id} --state {} --block-time {block_time}",
            dir.join(state).display()
        ));
        anvil.stdout(Stdio::null()).stderr(Stdio::null());
        children.0.push((
            "anvil",
            anvil
                .spawn()
                .map_err(|e| format!("cannot start anvil: {e}"))?,
        ));
        wait_for_port(port, "anvil")?;
        stopping()?;
    }

    let sandbox_config = dir.join("sandbox.toml");
    std::fs::write(
        &sandbox_config,
        format!(
            r#"# Written by `cargo xtask demo`.
[gateway]
public_url = "http://127.0.0.1:{GATEWAY_PORT}"
confirmations = 2

[[merchants]]
api_key = "{API_KEY}"
v1_public_key = "{public_key}"
webhook_url = "http://127.0.0.1:{SERVER_PORT}/webhooks/blockatm"

[[rates]]
base = "USDT"
quote = "USD"
rate = "1.0002"

[[rates]]
base = "USDT"
quote = "EUR"
rate = "0.9215"
"#
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut sandbox = cmd(&format!(
        "{} --listen 127.0.0.1:{GATEWAY_PORT} --rpc-url http://127.0.0.1:{ANVIL_PORT},http://127.0.0.1:{BNB_PORT} --config {} --data {} --deploy --test-mode",
        target_bin("blockatm-sandbox").display(),
        sandbox_config.display(),
        dir.join("sandbox-ledger.json").display()
    ));
    sandbox.env("RUST_LOG", "blockatm_sandbox=info");
    let ready = start_ready(
        &mut children,
        "the sandbox gateway",
        sandbox,
        &dir.join("sandbox.log"),
    )?;
    let gateway_key = ready
        .string("gatewayPublicKey")
        .ok_or("the sandbox did not say its webhook key")?;

    let server_config = dir.join("checkout.toml");
    std::fs::write(
        &server_config,
        format!(
            r#"# Written by `cargo xtask demo`.
listen = "127.0.0.1:{SERVER_PORT}"
database = "{database}"
allowed_origins = ["http://127.0.0.1:{STORE_PORT}", "http://localhost:{STORE_PORT}"]
widget_dir = "{widget}"

[gateway]
url = "http://127.0.0.1:{GATEWAY_PORT}"
# The sandbox in test mode: the console may pay a refund from its test account.
sandbox = true
api_key = "{API_KEY}"
private_key = "{private_key}"
webhook_public_key = "{gateway_key}"
reconcile_interval_seconds = 5

[rates]
# BlockATM documents no rate endpoint; the sandbox has one.
url = "http://127.0.0.1:{GATEWAY_PORT}/api/v1/public/rates"

# The server reads the chains itself: a payment shows within a block, before the gateway says
# so, and one sent on the wrong chain is seen.
[[chains]]
id = 31337
rpc_url = "http://127.0.0.1:{ANVIL_PORT}"
confirmations = 2
poll_interval_ms = 500

[[chains]]
id = 31338
rpc_url = "http://127.0.0.1:{BNB_PORT}"
confirmations = 2
poll_interval_ms = 500

[admin]
token = "demo-admin-token"

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
            // A Postgres of the caller's own when `$DATABASE_URL` names one; the embedded SQLite
            // file otherwise, as one server runs by default.
            database = std::env::var("DATABASE_URL")
                .ok()
                .filter(|url| url.starts_with("postgres"))
                .unwrap_or_else(|| dir.join("checkout.sqlite").display().to_string()),
            widget = widget::out_dir().display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut server = cmd(&format!(
        "{} serve --config {}",
        target_bin("checkout-server").display(),
        server_config.display()
    ));
    server.env("RUST_LOG", "usdt_checkout_server=info");
    start_ready(
        &mut children,
        "the checkout server",
        server,
        &dir.join("checkout.log"),
    )?;

    let mut trunk = cmd("trunk serve");
    let trunk_log = std::fs::File::create(dir.join("trunk.log")).map_err(|e| e.to_string())?;
    trunk
        .stdout(trunk_log.try_clone().map_err(|e| e.to_string())?)
        .stderr(trunk_log);
    children.0.push((
        "trunk",
        trunk
            .spawn()
            .map_err(|e| format!("cannot start trunk: {e}"))?,
    ));
    wait_for_port_open(STORE_PORT, "the storefront", Duration::from_secs(600))?;

    println!(
        r#"
  Demo storefront   http://127.0.0.1:{STORE_PORT}
  Checkout server   http://127.0.0.1:{SERVER_PORT}   (admin token: demo-admin-token)
                    the widget at /checkout/usdt-checkout.js: `cargo xtask widget` rebuilds it
  Sandbox gateway   http://127.0.0.1:{GATEWAY_PORT}   (test mode)
  Local chain       http://127.0.0.1:{ANVIL_PORT}   (chain id 31337, a block every 2 s, USDT with 6 decimals)
  Local BNB chain   http://127.0.0.1:{BNB_PORT}   (chain id 31338, a block every 3 s, USDT with 18 decimals)

  To pay: choose a product, Continue, then "Open the payment page" and its test-mode button;
  or pay from a browser wallet: import the test account
  {WALLET_ACCOUNT} with its development key
  {WALLET_KEY}
  and add the networks above: it holds 10,000 test USDT on each.

  State and logs: .demo/ (delete it to start from scratch). Ctrl-C stops everything.
"#
    );

    // Until Ctrl-C (which the whole process group receives) or a part stopping by itself.
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if STOP.load(std::sync::atomic::Ordering::SeqCst) {
            println!("demo: stopping every part");
            return Ok(());
        }
        for (name, child) in &mut children.0 {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{name} stopped ({status}); see the logs in .demo/; stopping the rest"
                ));
            }
        }
    }
}

fn wait_for_port(port: u16, what: &str) -> Result {
    wait_for_port_open(port, what, Duration::from_secs(30))
}

fn wait_for_port_open(port: u16, what: &str, limit: Duration) -> Result {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        stopping()?;
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("{what} did not start listening on port {port}"))
}
