//! The console as its staff meet it in a real browser: a world of real processes (see
//! [`super::storefront::world_with_storefront`]), a member of staff made with the real
//! `checkout-server staff add`, and headless Chromium on the console, each state it reaches
//! photographed at phone and desktop widths, light and dark, and checked by axe-core; and the
//! console's CSV exports read back, for every console test.

#![allow(dead_code)]

use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use usdt_checkout_testkit::browser::{Browser, Scope, keys};
use usdt_checkout_testkit::workspace_root;

use super::World;

/// The password every member of staff of these journeys signs in with.
pub const PASSWORD: &str = "correct horse battery staple";

/// `checkout-server staff add NAME --role ROLE` on the world's database, the password on its
/// standard input, as the merchant runs it beside the server.
pub fn add_staff(world: &World, name: &str, role: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkout-server"))
        .args(["staff", "add", name, "--role", role, "--database"])
        .arg(world.database())
        .env_remove("CHECKOUT_CONFIG")
        .env_remove("CHECKOUT_DATABASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("checkout-server runs");
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "staff add {name}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A browser on the console of `world`, keeping the screenshots of one journey.
pub struct ConsoleBrowser {
    pub browser: Browser,
    pub server: String,
    shots: PathBuf,
    shot: Cell<u32>,
}

/// The widths a page is looked at: a phone's and a desktop's.
pub const WIDTHS: [u32; 2] = [375, 1280];

impl ConsoleBrowser {
    /// Chromium at 1280 x 900 on `server`; the journey's screenshots go to
    /// `screenshots/console/<journey>/`, emptied first.
    pub async fn start(server: &str, journey: &str) -> Self {
        let shots = workspace_root().join("screenshots/console").join(journey);
        let _ = std::fs::remove_dir_all(&shots);
        Self {
            browser: Browser::start(1280, 900).await,
            server: server.to_owned(),
            shots,
            shot: Cell::new(0),
        }
    }

    /// Opens the console's `path`.
    pub async fn goto(&self, path: &str) {
        self.browser.goto(&format!("{}{path}", self.server)).await;
    }

    /// The page's path, as the address bar shows it (after redirects).
    pub async fn path(&self) -> String {
        let path = self
            .browser
            .script("return location.pathname + location.search;", vec![])
            .await;
        path.as_str().unwrap_or_default().to_owned()
    }

    /// Waits for an element matching `css` showing `text`; returns its text.
    pub async fn wait_for(&self, css: &str, text: &str) -> String {
        let element = self.browser.wait_for(&Scope::Page, css, text).await;
        self.browser.text(&element).await
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self
            .browser
            .find(&Scope::Page, css)
            .await
            .unwrap_or_else(|| panic!("{css} is on the page"));
        self.browser.text(&element).await
    }

    /// This state as phones and desktops show it, light and dark
    /// (`NN-state-375-dark.png` and so on); each must pass axe-core, and the browser's console
    /// must hold no error.
    pub async fn snap(&self, state: &str) {
        self.snap_but(state, &[]).await;
    }

    /// [`ConsoleBrowser::snap`], the console's error lines holding one of `expected` allowed
    /// (Chromium logs every answer that is not a success: a refusal page's own status).
    pub async fn snap_but(&self, state: &str, expected: &[&str]) {
        // What the page itself logged, before axe-core runs in it.
        self.console_is_clean_but(expected).await;
        let n = self.shot.get() + 1;
        self.shot.set(n);
        for width in WIDTHS {
            for (dark, scheme) in [(false, "light"), (true, "dark")] {
                let name = format!("{n:02}-{state}-{width}-{scheme}.png");
                self.browser
                    .screenshot_as(&self.shots.join(name), width, dark)
                    .await;
                let violations = self.browser.accessibility_violations(width, dark).await;
                assert!(
                    violations.is_empty(),
                    "{state} at {width} px, {scheme}: {}",
                    serde_json::to_string_pretty(&violations).unwrap()
                );
            }
        }
        self.fits(state).await;
        // axe-core reads a shadow root's stylesheets by copying them into a style element of
        // its own, which a page whose policy allows no inline style refuses, and says so.
        let axe = [expected, &["Applying inline style violates"]].concat();
        self.console_is_clean_but(&axe).await;
    }

    /// Nothing on the page is wider than a phone's screen but inside a box that scrolls
    /// sideways by design (a table's region): no page a phone has to pan.
    pub async fn fits(&self, state: &str) {
        let wider = self
            .browser
            .script_at(
                375,
                "const width = document.documentElement.clientWidth;
                 if (document.documentElement.scrollWidth <= width) return null;
                 const scrolls = (e) => e && e !== document.body
                   && (getComputedStyle(e).overflowX !== 'visible' || scrolls(e.parentElement));
                 const over = [...document.body.querySelectorAll('*')]
                   .filter((e) => e.getBoundingClientRect().right > width + 0.5
                     && (!scrolls(e.parentElement)
                         || ['absolute', 'fixed'].includes(getComputedStyle(e).position)));
                 if (over.length === 0) return ['the page, no element named'];
                 return over.slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}`
                   + ` (${Math.round(e.getBoundingClientRect().right)} px): `
                   + e.textContent.slice(0, 60));",
                vec![],
            )
            .await;
        assert_eq!(
            wider,
            Value::Null,
            "{state}: wider than a 375 px phone, no box of its own to scroll in"
        );
    }

    /// The browser's console holds no error but lines holding one of `expected`.
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

    /// The focused element: its tag, id, name, text, link, value (and whether it is checked),
    /// and whether a focus ring shows.
    pub async fn focused(&self) -> Value {
        self.browser
            .script(
                "const a = document.activeElement;
                 if (!a) return null;
                 const style = getComputedStyle(a);
                 return {tag: a.tagName.toLowerCase(), id: a.id, name: a.getAttribute('name'),
                         text: a.innerText, href: a.getAttribute('href'), value: a.value,
                         checked: a.checked === true,
                         ring: style.outlineStyle !== 'none' && style.outlineWidth !== '0px'};",
                vec![],
            )
            .await
    }

    /// Presses Tab until the focused element is one `wanted` accepts, each stop showing a
    /// focus ring; returns it.
    pub async fn tab_to(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..60 {
            self.browser.press(&[keys::TAB]).await;
            let focused = self.focused().await;
            assert_eq!(
                focused["ring"],
                json!(true),
                "a focus ring shows on {focused}"
            );
            if wanted(&focused) {
                return focused;
            }
        }
        panic!("Tab never reached {what}");
    }

    /// Presses Tab until the field with id `id` has the focus.
    pub async fn tab_to_id(&self, id: &str) -> Value {
        self.tab_to(&format!("#{id}"), |f| f["id"] == id).await
    }

    /// Types `text` on the keyboard, into whatever has the focus.
    pub async fn type_keys(&self, text: &str) {
        for c in text.chars() {
            self.browser.press(&[&c.to_string()]).await;
        }
    }

    /// Signs in as `name` with the keyboard alone: Tab to each field, type, Enter.
    pub async fn sign_in_by_keyboard(&self, name: &str) {
        self.tab_to_id("name").await;
        self.type_keys(name).await;
        self.tab_to_id("password").await;
        self.type_keys(PASSWORD).await;
        self.browser.press(&[keys::ENTER]).await;
        self.wait_for("h1", "Orders").await;
    }

    /// Signs in as `name` through the sign-in page's form.
    pub async fn sign_in(&self, name: &str) {
        self.goto("/console/sign-in").await;
        self.sign_in_by_keyboard(name).await;
    }
}

/// A CSV document's rows, each its cells (RFC 4180: quoted cells, quotes doubled, CRLF).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (vec![], vec![], String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "the last line ends: {text:?}"
    );
    rows
}

/// The rows of a CSV export, keyed by the header's names.
pub fn csv_records(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let rows = csv_rows(text);
    let (header, rows) = rows.split_first().expect("a header");
    rows.iter()
        .map(|row| {
            assert_eq!(row.len(), header.len(), "{row:?}");
            header.iter().cloned().zip(row.iter().cloned()).collect()
        })
        .collect()
}
