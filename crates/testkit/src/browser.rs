//! A real browser for journeys: Debian's headless Chromium driven through chromedriver's W3C
//! WebDriver API. Clicks are WebDriver element clicks (real input events), and elements inside a
//! shadow root are reached the way WebDriver defines it, so a test goes where a shopper can.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::{Process, free_port};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const SHADOW: &str = "shadow-6066-11e4-a52e-4f735466cecf";
/// How long to wait for the page to show something before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One Chromium, closed on drop.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    width: u32,
    height: u32,
    _driver: Process,
}

/// Where to look for elements: the page, or the open shadow root of a custom element.
#[derive(Debug, Clone)]
pub enum Scope {
    Page,
    Shadow(String),
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// A headless Chromium whose pages are `width` x `height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (cargo xtask setup installs Debian's chromium-driver)");
        let driver = Process { child };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        crate::eventually("chromedriver to listen", PATIENCE, || async {
            http.get(format!("{base}/status")).send().await.ok()
        })
        .await;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let reply: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {reply}"));
        let browser = Self {
            http,
            session: format!("{base}/session/{id}"),
            width,
            height,
            _driver: driver,
        };
        browser.viewport(width, height).await;
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.unwrap().json().await.unwrap();
        reply["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let value = self.call(reqwest::Method::POST, path, Some(body)).await;
        if let Some(error) = value.get("error") {
            panic!("WebDriver {path}: {error} {}", value["message"]);
        }
        value
    }

    /// Runs `source` in every page before the page's own scripts (a wallet extension does this).
    pub async fn before_each_page(&self, source: &str) {
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": source}}),
        )
        .await;
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Runs a function body in the page; `arguments` are `args` (elements as [`Element`]s).
    pub async fn script(&self, body: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({"script": body, "args": args}))
            .await
    }

    pub fn arg(element: &Element) -> Value {
        json!({ ELEMENT: element.0 })
    }

    /// The first element matching `css` in `scope`, if there is one now.
    pub async fn find(&self, scope: &Scope, css: &str) -> Option<Element> {
        let path = match scope {
            Scope::Page => "/element".to_owned(),
            Scope::Shadow(root) => format!("/shadow/{root}/element"),
        };
        let value = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        value[ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// The shadow root of the custom element matching `css`, once it has one.
    pub async fn shadow_root(&self, css: &str) -> Scope {
        crate::eventually(&format!("{css} to render"), PATIENCE, || async {
            let host = self.find(&Scope::Page, css).await?;
            let value = self
                .call(
                    reqwest::Method::GET,
                    &format!("/element/{}/shadow", host.0),
                    None,
                )
                .await;
            value[SHADOW]
                .as_str()
                .map(|id| Scope::Shadow(id.to_owned()))
        })
        .await
    }

    pub async fn text(&self, element: &Element) -> String {
        self.script("return arguments[0].innerText;", vec![Self::arg(element)])
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until an element matching `css` shows text containing `text`; returns it.
    pub async fn wait_for(&self, scope: &Scope, css: &str, text: &str) -> Element {
        crate::eventually(&format!("{css} to show {text:?}"), PATIENCE, || async {
            let element = self.find(scope, css).await?;
            // Found, then re-rendered away before it was read: "stale element reference", an
            // answer to look again, not a failure.
            let shown = self
                .call(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({"script": "return arguments[0].innerText;",
                                "args": [Self::arg(&element)]})),
                )
                .await;
            shown
                .as_str()
                .is_some_and(|shown| shown.contains(text))
                .then_some(element)
        })
        .await
    }

    /// Clicks the element the way a person does: WebDriver scrolls it into view and sends real
    /// pointer events to its centre (refused if something covers it or it is disabled).
    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Clicks the element matching `css` once it shows `text`, looking for it again if it is
    /// re-rendered away between being found and clicked (WebDriver's "stale element reference").
    pub async fn click_on(&self, scope: &Scope, css: &str, text: &str) {
        crate::eventually(
            &format!("{css} showing {text:?} to click"),
            PATIENCE,
            || async {
                let element = self.wait_for(scope, css, text).await;
                let path = format!("/element/{}/click", element.0);
                let answer = self
                    .call(reqwest::Method::POST, &path, Some(json!({})))
                    .await;
                match answer.get("error").and_then(Value::as_str) {
                    None => Some(()),
                    Some("stale element reference") => None,
                    Some(error) => panic!("WebDriver {path}: {error} {}", answer["message"]),
                }
            },
        )
        .await
    }

    /// Types `text` into the element, as a person typing (or pasting) into it.
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({"text": text}),
        )
        .await;
    }

    /// Empties a text field.
    pub async fn clear(&self, element: &Element) {
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await;
    }

    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    /// The viewport as a device of `width` x `height` CSS pixels (a phone below 600 wide).
    async fn viewport(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
    }

    /// What the page wrote to the console as errors (uncaught exceptions and failed loads too)
    /// since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self.post("/se/log", json!({"type": "browser"})).await;
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Runs an async function body: it ends by calling `arguments[arguments.length - 1]` with
    /// its result.
    pub async fn script_async(&self, body: &str, args: Vec<Value>) -> Value {
        self.post("/execute/async", json!({"script": body, "args": args}))
            .await
    }

    /// The WCAG 2.1 A and AA violations axe-core finds in the page (open shadow roots
    /// included) as a device `width` pixels wide shows it, its colour scheme preference dark or
    /// light. axe-core is the pinned npm package (`node_modules/axe-core`).
    pub async fn accessibility_violations(&self, width: u32, dark: bool) -> Vec<Value> {
        let loaded = self
            .script("return typeof window.axe === 'object';", vec![])
            .await;
        if loaded != json!(true) {
            let path = crate::workspace_root().join("node_modules/axe-core/axe.min.js");
            let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: {e} (cargo xtask setup installs it)", path.display())
            });
            self.script(&source, vec![]).await;
        }
        self.cdp("Emulation.setEmulatedMedia", color_scheme(dark))
            .await;
        self.viewport(width, self.height).await;
        let found = self
            .script_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                   .then((r) => done(r.violations.map((v) => ({
                      id: v.id, impact: v.impact, help: v.help,
                      nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary})) }))))
                   .catch((e) => done({error: String(e)}));",
                vec![],
            )
            .await;
        self.viewport(self.width, self.height).await;
        self.cdp("Emulation.setEmulatedMedia", color_scheme(false))
            .await;
        match found {
            Value::Array(violations) => violations,
            other => panic!("axe-core did not run: {other}"),
        }
    }

    /// Presses keys as a keyboard does (WebDriver actions): each of `keys` down, then all up in
    /// reverse order, so `[SHIFT, TAB]` is Shift-Tab.
    pub async fn press(&self, keys: &[&str]) {
        let mut actions: Vec<Value> = keys
            .iter()
            .map(|k| json!({"type": "keyDown", "value": k}))
            .collect();
        actions.extend(
            keys.iter()
                .rev()
                .map(|k| json!({"type": "keyUp", "value": k})),
        );
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
        self.call(reqwest::Method::DELETE, "/actions", None).await;
    }

    /// The focused element, inside shadow roots too: its tag, class, text and accessible label,
    /// and whether a focus ring shows.
    pub async fn focused(&self) -> Value {
        self.script(
            "let a = document.activeElement;
             while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
             if (!a) return null;
             const style = getComputedStyle(a);
             return {tag: a.tagName.toLowerCase(), class: a.className, text: a.innerText,
                     label: a.getAttribute('aria-label'),
                     ring: style.outlineStyle !== 'none' && style.outlineWidth !== '0px'};",
            vec![],
        )
        .await
    }

    /// [`Browser::script`], run while the page is shown on a device `width` pixels wide.
    pub async fn script_at(&self, width: u32, body: &str, args: Vec<Value>) -> Value {
        self.viewport(width, self.height).await;
        let value = self.script(body, args).await;
        self.viewport(self.width, self.height).await;
        value
    }

    /// A PNG of the whole page, below the fold too: the viewport is stretched to the page's
    /// height for the picture, then put back.
    pub async fn screenshot(&self, path: &Path) {
        self.screenshot_as(path, self.width, false).await;
    }

    /// [`Browser::screenshot`] as a device `width` pixels wide would show the page, its colour
    /// scheme preference dark or light; the browser is put back as it was.
    pub async fn screenshot_as(&self, path: &Path, width: u32, dark: bool) {
        self.capture(path, width, color_scheme(dark)).await;
    }

    /// [`Browser::screenshot`] of the page as it prints (CSS `@media print`).
    pub async fn screenshot_printed(&self, path: &Path) {
        self.capture(path, self.width, json!({"media": "print"}))
            .await;
    }

    /// A full-page PNG at `width`, with the media `emulated` (`Emulation.setEmulatedMedia`).
    async fn capture(&self, path: &Path, width: u32, emulated: Value) {
        self.cdp("Emulation.setEmulatedMedia", emulated).await;
        self.viewport(width, self.height).await;
        let height = self
            .script("return document.documentElement.scrollHeight;", vec![])
            .await
            .as_u64()
            .unwrap_or(900) as u32;
        self.viewport(width, height.max(self.height)).await;
        let shot = self
            .cdp("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        self.viewport(self.width, self.height).await;
        self.cdp("Emulation.setEmulatedMedia", color_scheme(false))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("a screenshot"))
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Browser {
    /// Slows the page's CPU `rate` times (4: a mid-range phone, as Lighthouse assumes); 1 is
    /// full speed.
    pub async fn throttle_cpu(&self, rate: u32) {
        self.cdp("Emulation.setCPUThrottlingRate", json!({"rate": rate}))
            .await;
    }

    /// Emulates `network` for every request the page makes (DevTools' network throttling, by
    /// request: each waits the latency, then comes at the throughput); `None` is no throttling.
    pub async fn emulate_network(&self, network: Option<Network>) {
        self.cdp("Network.enable", json!({})).await;
        let (latency, download, upload) = network.map_or((0.0, -1.0, -1.0), |n| {
            (
                n.latency_ms,
                n.download_bytes_per_second,
                n.upload_bytes_per_second,
            )
        });
        self.cdp(
            "Network.emulateNetworkConditions",
            json!({"offline": false, "latency": latency, "downloadThroughput": download, "uploadThroughput": upload}),
        )
        .await;
    }

    /// Forgets every cached response and the page origin's storage, so the next load is a
    /// first visit.
    pub async fn forget(&self, origin: &str) {
        self.cdp("Network.clearBrowserCache", json!({})).await;
        self.cdp(
            "Storage.clearDataForOrigin",
            json!({"origin": origin, "storageTypes": "all"}),
        )
        .await;
    }

    /// Files the pages download (an attachment, a `download` link) are saved into `dir`, under
    /// the names their servers give them, as a browser asked to save them does.
    pub async fn download_into(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        self.cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.display().to_string()}),
        )
        .await;
    }

    /// Shows the page as it prints (CSS `@media print`) until called again with `false`.
    pub async fn emulate_print(&self, on: bool) {
        let media = if on { "print" } else { "" };
        self.cdp("Emulation.setEmulatedMedia", json!({"media": media}))
            .await;
    }
}

/// A network to emulate, as Chrome DevTools' throttling presets describe one.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    /// Added to every request.
    pub latency_ms: f64,
    pub download_bytes_per_second: f64,
    pub upload_bytes_per_second: f64,
}

impl Network {
    /// DevTools' "Fast 3G" preset (renamed "Slow 4G" in May 2024, crbug.com/342406608; the same
    /// figures, `Slow4GConditions` in devtools-frontend's `front_end/core/sdk/NetworkManager.ts`):
    /// 1.6 Mbps down and 750 kbps up, each at 90%, and a 150 ms round trip times 3.75 as each
    /// request's latency; the network Lighthouse's mobile runs assume.
    pub const FAST_3G: Self = Self {
        latency_ms: 150.0 * 3.75,
        download_bytes_per_second: 1.6 * 1000.0 * 1000.0 / 8.0 * 0.9,
        upload_bytes_per_second: 750.0 * 1000.0 / 8.0 * 0.9,
    };
}

/// Keys for [`Browser::press`], as WebDriver names them.
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SHIFT: &str = "\u{E008}";
    pub const SPACE: &str = " ";
    pub const ARROW_RIGHT: &str = "\u{E014}";
}

/// The colour scheme a page is told the device prefers.
fn color_scheme(dark: bool) -> Value {
    json!({"features": [{"name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" }}]})
}

impl Drop for Browser {
    /// Ends the session, so chromedriver closes Chromium before `Process` kills chromedriver
    /// (killed first, it would leave Chromium running). Drop cannot await: plain HTTP/1.1.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let Some((host, path)) = self
            .session
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
        else {
            return;
        };
        if let Ok(mut stream) = std::net::TcpStream::connect(host) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}
