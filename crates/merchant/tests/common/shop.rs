//! A shopper's browser on a storefront that embeds the built widget: the journeys' shop (see
//! `journeys.rs` and `refund_journeys.rs`), with the steps and checks they share (screenshots
//! that must pass axe-core, announcements, the keyboard, the test wallet extension).

use std::cell::Cell;
use std::path::PathBuf;

use serde_json::{Value, json};
use usdt_checkout_testkit::browser::{Browser, Scope, keys};
use usdt_checkout_testkit::{Api, Client, eventually, workspace_root};

use super::storefront::{Embed, world_with_storefront};
use super::{Storefront, WAIT, World};

/// What a T-shirt (25.00 USD) costs in test USDT at the sandbox's rate of 1.0002, rounded up.
pub const TEE_IN_USDT: &str = "24.995001";
/// Anvil's account 2: funded with test USDT by the sandbox, and not the test-mode payer.
pub const WALLET_ACCOUNT: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

pub struct Shop {
    pub world: World,
    pub browser: Browser,
    pub widget: Scope,
    pub order: String,
    pub shots: PathBuf,
    pub shot: Cell<u32>,
}

impl Shop {
    /// A world with a storefront, and a browser on it at the chooser; `before_page` gives a
    /// script to run first on every page, as a browser extension does.
    pub async fn open(
        journey: &str,
        embed: Embed,
        width: u32,
        before_page: Option<fn(&World) -> String>,
    ) -> Self {
        Self::open_in(Api::V1, journey, embed, width, before_page).await
    }

    /// [`Shop::open`], with the gateway speaking `api`.
    pub async fn open_in(
        api: Api,
        journey: &str,
        embed: Embed,
        width: u32,
        before_page: Option<fn(&World) -> String>,
    ) -> Self {
        let gateway = Storefront {
            api,
            ..Storefront::default()
        };
        Self::open_on(gateway, journey, embed, width, before_page).await
    }

    /// [`Shop::open`], with the gateway (its dialect, its orders' lifetime) as `gateway` says.
    pub async fn open_on(
        gateway: Storefront,
        journey: &str,
        embed: Embed,
        width: u32,
        before_page: Option<fn(&World) -> String>,
    ) -> Self {
        let (world, origin) = world_with_storefront(journey, gateway, embed).await;
        let browser = Browser::start(width, 900).await;
        if let Some(script) = before_page {
            browser.before_each_page(&script(&world)).await;
        }
        browser.goto(&format!("{origin}/")).await;
        let widget = match embed {
            Embed::Element | Embed::TwoElements => browser.shadow_root("usdt-checkout").await,
            Embed::Script => Scope::Page,
        };
        let shots = workspace_root().join("screenshots/journeys").join(journey);
        let _ = std::fs::remove_dir_all(&shots);
        let shop = Self {
            world,
            browser,
            widget,
            order: String::new(),
            shots,
            shot: Cell::new(0),
        };
        shop.wait_for("button[type=submit]", "Continue").await;
        shop
    }

    pub async fn wait_for(&self, css: &str, text: &str) {
        self.browser.wait_for(&self.widget, css, text).await;
    }

    pub async fn status(&self, text: &str) {
        self.wait_for(".usdt-checkout__status", text).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self
            .browser
            .find(&self.widget, css)
            .await
            .unwrap_or_else(|| panic!("{css} is on the page"));
        self.browser.text(&element).await
    }

    /// A screenshot of this state, which must also pass the accessibility check.
    pub async fn snap(&self, state: &str) {
        let n = self.shot.get() + 1;
        self.shot.set(n);
        self.browser
            .screenshot(&self.shots.join(format!("{n:02}-{state}.png")))
            .await;
        self.accessible(state).await;
    }

    /// axe-core finds no WCAG 2.1 A or AA violation in this state, on a phone and a desktop,
    /// light and dark.
    pub async fn accessible(&self, state: &str) {
        for width in [375, 1280] {
            for (dark, scheme) in [(false, "light"), (true, "dark")] {
                let violations = self.browser.accessibility_violations(width, dark).await;
                assert!(
                    violations.is_empty(),
                    "{state} at {width} px, {scheme}: {}",
                    serde_json::to_string_pretty(&violations).unwrap()
                );
            }
        }
    }

    /// The page as phones and desktops show it, light and dark: `NN-state-375-dark.png` and so on;
    /// each must pass the accessibility check.
    pub async fn snap_everywhere(&self, state: &str) {
        let n = self.shot.get() + 1;
        self.shot.set(n);
        for width in [375, 1280] {
            for (dark, scheme) in [(false, "light"), (true, "dark")] {
                let name = format!("{n:02}-{state}-{width}-{scheme}.png");
                self.browser
                    .screenshot_as(&self.shots.join(name), width, dark)
                    .await;
            }
        }
        self.accessible(state).await;
    }

    /// From now on, keeps what the widget's live regions say (`role=status`, `role=alert`,
    /// `aria-live`), as a screen reader announces it: each new text once, in order.
    pub async fn record_announcements(&self) {
        self.browser
            .script(
                "const root = document.querySelector('usdt-checkout').shadowRoot;
                 window.announced = [];
                 const last = new Map();
                 const read = () => root.querySelectorAll('[aria-live], [role=status], [role=alert]')
                   .forEach((region) => {
                     if (region.getAttribute('aria-live') === 'off') return;
                     const text = region.textContent.trim();
                     if (text && last.get(region) !== text) { window.announced.push(text); }
                     last.set(region, text);
                   });
                 new MutationObserver(read).observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
                 read();",
                vec![],
            )
            .await;
    }

    /// What the live regions announced since [`Shop::record_announcements`].
    pub async fn announced(&self) -> Vec<String> {
        let said = self
            .browser
            .script("return window.announced;", vec![])
            .await;
        serde_json::from_value(said).unwrap()
    }

    /// Presses Tab until the focused element is one `wanted` accepts; returns it.
    pub async fn tab_to(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..40 {
            self.browser.press(&[keys::TAB]).await;
            let focused = self.browser.focused().await;
            if wanted(&focused) {
                return focused;
            }
        }
        panic!("Tab never reached {what}");
    }

    /// Continue with the network and token the chooser offers (the local chain's test USDT), to
    /// the payment screen; remembers the order the widget announced.
    pub async fn start_payment(&mut self) {
        self.snap("choose").await;
        let button = self
            .browser
            .wait_for(&self.widget, "button[type=submit]", "Continue")
            .await;
        self.browser.click(&button).await;
        self.status("Waiting for your payment").await;
        self.order = eventually("the widget to announce its order", WAIT, || async {
            self.events("created")
                .await
                .first()
                .and_then(|event| event["orderId"].as_str().map(str::to_owned))
        })
        .await;
        self.snap("waiting").await;
    }

    /// What the QR code says to a screen reader.
    pub async fn qr_label(&self) -> String {
        let qr = self
            .browser
            .find(&self.widget, "figure[role=img]")
            .await
            .expect("a QR code");
        let label = self
            .browser
            .script(
                "return arguments[0].getAttribute('aria-label');",
                vec![Browser::arg(&qr)],
            )
            .await;
        label.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the element matching `css` once it shows `text`.
    pub async fn click_on(&self, css: &str, text: &str) {
        self.browser.click_on(&self.widget, css, text).await;
    }

    /// Pays with the browser wallet the page has (the test wallet), to "sent".
    pub async fn pay_from_wallet(&self) {
        self.click_on("button.usdt-checkout__wallet", "Pay with Test Wallet")
            .await;
        // "Sent" shows until the server has seen the payment: on a busy machine the checkout can
        // be confirming (the wallet's line gone with the payment panel) before it is looked at.
        tokio::select! {
            () = self.wait_for(".usdt-checkout__wallet-status", "Sent from your wallet") => {}
            () = self.status("Confirming") => {}
        }
    }

    /// The widget's DOM events named `name`, as the storefront received them.
    pub async fn events(&self, name: &str) -> Vec<Value> {
        let events = self
            .browser
            .script(
                "return checkoutEvents.filter((e) => e.name === arguments[0]);",
                vec![json!(name)],
            )
            .await;
        events.as_array().cloned().unwrap_or_default()
    }

    /// Nothing went wrong that only the console would tell: no exception, no failed load.
    pub async fn console_is_clean(&self) {
        self.console_is_clean_but(&[]).await;
    }

    /// [`Shop::console_is_clean`], but for lines holding one of `expected` (the browser logs
    /// every answer that is not a success, a refusal the widget shows included).
    pub async fn console_is_clean_but(&self, expected: &[&str]) {
        let errors: Vec<String> = self
            .browser
            .console_errors()
            .await
            .into_iter()
            .filter(|line| !expected.iter().any(|e| line.contains(e)))
            .collect();
        assert!(errors.is_empty(), "the console stays clean: {errors:?}");
    }

    /// Pays on chain through the sandbox's test mode.
    pub async fn pay(&self, body: Value) {
        let reply = Client::new(&self.world.sandbox.url)
            .post(&format!("/sandbox/orders/{}/pay", self.order), body)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    pub async fn sandbox(&self, path: &str, body: Value) {
        let reply = Client::new(&self.world.sandbox.url).post(path, body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    pub async fn mine(&self) {
        self.sandbox("/sandbox/mine", json!({"blocks": 1})).await;
    }

    /// The checkout as the merchant's admin API lists it.
    pub async fn merchant_sees(&self) -> Value {
        let orders = self.world.admin_orders().await;
        orders
            .as_array()
            .and_then(|all| all.iter().find(|o| o["id"] == self.order.as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("order {} listed in {orders}", self.order))
    }

    /// The merchant's fulfillment events, once there is one; then a few reconciliation rounds
    /// and webhook retries later, still exactly that one.
    pub async fn fulfilled_once(&self) -> Value {
        self.world.fulfilled_once(&self.order).await
    }
}

/// A wallet extension as a page sees it: an EIP-1193 provider, announced by EIP-6963, that starts
/// on Ethereum mainnet and forwards requests to the anvil of the chain it is switched to (by
/// id, to its RPC URL), whose account is unlocked (anvil signs `personal_sign` with it). Every
/// request is kept in `window.walletCalls`. It shares [`WALLET_ACCOUNT`], or
/// `window.walletAccount` once the page sets one (another wallet, for the shopper).
pub fn wallet_extension(chains: &[(u64, &str)]) -> String {
    let rpcs: String = chains
        .iter()
        .map(|(id, url)| format!("\"0x{id:x}\": \"{url}\","))
        .collect();
    format!(
        r#"(() => {{
  let chainId = "0x1";
  const rpcs = {{ {rpcs} }};
  window.walletCalls = [];
  const rpc = async (method, params) => {{
    const reply = await fetch(rpcs[chainId] || Object.values(rpcs)[0], {{
      method: "POST", headers: {{ "content-type": "application/json" }},
      body: JSON.stringify({{ jsonrpc: "2.0", id: 1, method, params }}),
    }});
    const body = await reply.json();
    if (body.error) throw body.error;
    return body.result;
  }};
  const provider = {{
    async request({{ method, params }}) {{
      walletCalls.push({{ method, params }});
      switch (method) {{
        case "eth_requestAccounts": case "eth_accounts": return [window.walletAccount || "{WALLET_ACCOUNT}"];
        case "eth_chainId": return chainId;
        case "wallet_switchEthereumChain": chainId = params[0].chainId; return null;
        case "eth_sendTransaction":
          if (!rpcs[chainId]) throw {{ code: 4901, message: "wrong chain" }};
          return rpc(method, params);
        default: return rpc(method, params || []);
      }}
    }},
    on() {{}}, removeListener() {{}},
  }};
  const info = {{ uuid: "5c1f4bbd-1f0b-4ad4-9c5e-3ad2a1d50c6f", name: "Test Wallet", icon: "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'/>", rdns: "test.wallet" }};
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", {{ detail: Object.freeze({{ info, provider }}) }}));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
}})();"#
    )
}

/// A shop on two chains: the storefront's widget offers both, and the wallet knows both.
pub async fn two_chain_shop(journey: &str) -> Shop {
    let gateway = Storefront {
        second_chain: true,
        ..Storefront::default()
    };
    Shop::open_on(
        gateway,
        journey,
        Embed::Element,
        1280,
        Some(|world| {
            let second = world.second_anvil.as_ref().expect("the second chain");
            wallet_extension(&[(31337, &world.anvil.rpc_url), (31338, &second.rpc_url)])
        }),
    )
    .await
}

impl Shop {
    /// Chooses the network with chain id `chain` in the chooser.
    pub async fn choose_network(&self, chain: u64) {
        let radio = self
            .browser
            .find(
                &self.widget,
                &format!("input[name=usdt-checkout-network][value='{chain}']"),
            )
            .await
            .unwrap_or_else(|| panic!("the chooser offers chain {chain}"));
        self.browser.click(&radio).await;
    }

    pub async fn mine_on(&self, chain: u64) {
        self.sandbox("/sandbox/mine", json!({"blocks": 1, "chainId": chain}))
            .await;
    }
}
