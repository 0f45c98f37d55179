//! The console's live updates in-process: its event stream (`/console/events`) read from the
//! router as a browser's script reads it, frame by frame, on a real database (SQLite and
//! PostgreSQL). A change reaches an open stream; no session, no stream; a stream ends with its
//! session; and streams are bounded per session, per member of staff and per server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::http::{Request, StatusCode, header};
use common::Db;
use common::console::*;
use futures_util::StreamExt;
use tower::ServiceExt;
use usdt_checkout_server::console::live::Limits;
use usdt_checkout_server::console::{self, Console};
use usdt_checkout_server::staff::Role;

on_both!(
    a_change_made_while_the_page_was_drawn_is_said_when_its_stream_opens,
    a_change_reaches_an_open_stream,
    without_a_session_there_is_no_stream,
    a_stream_ends_when_its_session_does,
    streams_are_bounded_per_session_member_and_server,
);

/// How many frames a test reads for what it waits for before it gives up: each heartbeat is
/// one, so a stream that never says it fails the test instead of hanging it.
const FRAMES: usize = 200;

/// The console's routes on a console of its own, built once as a server builds them, so the
/// streams it counts are counted across requests.
fn console_of(harness: &Harness, limits: Limits) -> (Arc<Console>, Router) {
    let console = Arc::new(Console::with_live_limits(harness.app.clone(), limits));
    (console.clone(), console::router(console))
}

/// Quick heartbeats, so a test reads its session's end soon.
fn quick() -> Limits {
    Limits {
        heartbeat: Duration::from_millis(100),
        ..Limits::default()
    }
}

/// An open stream, read one event (or comment) at a time.
struct Events {
    body: BodyDataStream,
    buffer: String,
}

impl Events {
    /// The next event's text, or `None` once the stream has ended.
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                return Some(event);
            }
            let bytes = self.body.next().await?.expect("the stream reads");
            self.buffer.push_str(std::str::from_utf8(&bytes).unwrap());
        }
    }

    /// Reads until an event named `name`; panics if the stream ends or says nothing of it in
    /// [`FRAMES`] frames.
    async fn until(&mut self, name: &str) -> String {
        let line = format!("event: {name}");
        for _ in 0..FRAMES {
            let event = self
                .next()
                .await
                .unwrap_or_else(|| panic!("the stream ended before {name}"));
            if event.lines().any(|l| l == line) {
                return event;
            }
        }
        panic!("no {name} in {FRAMES} frames")
    }
}

/// `GET /console/events` as `browser`: the response, its body not read.
async fn open(router: &Router, browser: &Browser) -> axum::response::Response {
    open_at(router, browser, "/console/events").await
}

/// [`open`], at `path` (the events' path, with its query).
async fn open_at(router: &Router, browser: &Browser, path: &str) -> axum::response::Response {
    let request = browser
        .request(Request::get(path))
        .body(Body::empty())
        .unwrap();
    router.clone().oneshot(request).await.unwrap()
}

/// A stream opened as `browser`, past its opening event.
async fn stream(router: &Router, browser: &Browser) -> Events {
    stream_at(router, browser, "/console/events").await
}

/// [`stream`], at `path`.
async fn stream_at(router: &Router, browser: &Browser, path: &str) -> Events {
    let response = open_at(router, browser, path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream",
        "{:?}",
        response.headers()
    );
    let mut events = Events {
        body: response.into_body().into_data_stream(),
        buffer: String::new(),
    };
    assert_eq!(
        events.next().await.as_deref(),
        Some("event: open\ndata: 1800000"),
        "open, with the session's idle timeout (30 minutes)"
    );
    events
}

/// A refused stream's status, with the Retry-After it says.
async fn refused(router: &Router, browser: &Browser) -> (StatusCode, String) {
    let response = open(router, browser).await;
    let retry = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status(), retry)
}

async fn a_change_reaches_an_open_stream(db: Db) {
    let h = harness(db, "live-change", "").await;
    let (browser, _) = h.signed_in("vera", Role::Viewer).await;
    let (_, router) = console_of(&h, quick());
    let mut events = stream(&router, &browser).await;
    let id = h.order("25.00", "USD", "Tee", "ref-1").await;
    let event = events.until("change").await;
    assert_eq!(
        event, "event: change\ndata: changed",
        "says only that something did"
    );
    // The page it then fetches again shows the new order, in the live part the script replaces.
    let page = h.get(&mut browser.clone(), "/console/orders").await;
    assert!(
        page.body.contains(r#"<tbody data-live="orders">"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(r#"<tr data-key="{id}">"#)),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"id="live-status""#), "{}", page.body);
    let order = h
        .get(&mut browser.clone(), &format!("/console/orders/{id}"))
        .await;
    for part in [r#"data-live="order-facts""#, r#"data-live="timeline""#] {
        assert!(order.body.contains(part), "{part} in {}", order.body);
    }
}

async fn without_a_session_there_is_no_stream(db: Db) {
    let h = harness(db, "live-no-session", "").await;
    let (_, router) = console_of(&h, Limits::default());
    let nobody = Browser::default();
    let response = open(&router, &nobody).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/console/sign-in");
    let mut forged = Browser::default();
    forged
        .cookies
        .push(("console_session".into(), "0".repeat(64)));
    let response = open(&router, &forged).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/console/sign-in");
    // Through the whole server too, where the page's script may fetch from this origin only.
    let reply = h.get(&mut Browser::default(), "/console/events").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = h.get(&mut Browser::default(), "/console/sign-in").await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

async fn a_stream_ends_when_its_session_does(db: Db) {
    let h = harness(db, "live-session-end", "").await;
    let (mut browser, csrf) = h.signed_in("otto", Role::Operator).await;
    let (console, router) = console_of(&h, quick());
    let mut events = stream(&router, &browser).await;
    assert_eq!(console.live.open(), 1);
    let reply = h
        .post(&mut browser, "/console/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let end = events.until("end").await;
    assert_eq!(end, "event: end\ndata: signed out");
    assert_eq!(events.next().await, None, "and then it closes");
    drop(events);
    assert_eq!(console.live.open(), 0, "its place given back");
}

async fn streams_are_bounded_per_session_member_and_server(db: Db) {
    let h = harness(db, "live-bounds", "").await;
    let limits = Limits {
        server: 3,
        member: 2,
        session: 1,
        ..Limits::default()
    };
    let (console, router) = console_of(&h, limits);
    let (ana, _) = h.signed_in("ana", Role::Viewer).await;
    let first = stream(&router, &ana).await;
    assert_eq!(
        refused(&router, &ana).await,
        (StatusCode::TOO_MANY_REQUESTS, "30".into()),
        "one session, past its bound"
    );
    // Signing in again makes another session, but not streams past the member's bound.
    let mut ana_again = Browser::default();
    let reply = h.sign_in_as(&mut ana_again, "ana", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let second = stream(&router, &ana_again).await;
    let mut ana_third = Browser::default();
    h.sign_in_as(&mut ana_third, "ana", PASSWORD).await;
    assert_eq!(
        refused(&router, &ana_third).await,
        (StatusCode::TOO_MANY_REQUESTS, "30".into()),
        "one member, past theirs"
    );
    let (ben, _) = h.signed_in("ben", Role::Owner).await;
    let third = stream(&router, &ben).await;
    let (cy, _) = h.signed_in("cy", Role::Operator).await;
    assert_eq!(
        refused(&router, &cy).await,
        (StatusCode::SERVICE_UNAVAILABLE, "30".into()),
        "the server, past its own"
    );
    assert_eq!(console.live.open(), 3);
    // A stream closed (its page gone) gives its place back.
    drop(third);
    let _fourth = stream(&router, &cy).await;
    drop((first, second));
    assert_eq!(console.live.open(), 1);
}

/// In real Chromium, on a real server: an order made while the orders page is open appears in
/// it, said once in the polite status region, and the search being typed keeps its text and the
/// keyboard's focus. The page after passes axe-core at 375 and 1280 px, light and dark. Then the
/// server, stopped with the page open, exits.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn in_a_browser_a_new_order_appears_live_and_the_search_being_typed_stays() {
    use common::console_world::{ConsoleBrowser, add_staff};
    use serde_json::json;

    let world = common::world("console-live").await;
    add_staff(&world, "lena", "viewer");
    let console = ConsoleBrowser::start(&world.server.url, "live").await;
    console.sign_in("lena").await;
    console.wait_for("main", "No orders match.").await;
    console.tab_to_id("q").await;
    console.type_keys("INV-").await;
    let made = world
        .http
        .post(format!("{}/api/admin/checkouts", world.server.url))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(
            &json!({"amount": "19.99", "currency": "USD", "description": "Mug",
                      "reference": "LIVE-0001"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    console
        .wait_for("tbody[data-live=orders]", "LIVE-0001")
        .await;
    console
        .wait_for("#live-status", "Updated: 1 order changed.")
        .await;
    let focused = console.focused().await;
    assert_eq!(
        focused["id"], "q",
        "the focus stays in the search: {focused}"
    );
    let typed = console
        .browser
        .script("return document.getElementById('q').value;", vec![])
        .await;
    assert_eq!(typed, "INV-", "what was typed stays");
    console.snap("orders-updated-live").await;
    // The configuration, as a viewer reads it, at every width and scheme.
    console.goto("/console/settings").await;
    console.wait_for("main", "set (redacted)").await;
    console.snap("settings").await;

    // Stopped as a deploy stops it (SIGTERM) with the page's stream open, the server finishes
    // its requests in flight and exits: the stream ends with it rather than hold it up.
    let pid = world.server.pid().expect("the server runs");
    // SAFETY: a signal to the test's own child process.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    usdt_checkout_testkit::eventually("the server to exit", common::WAIT, || async {
        // Exited and not yet reaped: a zombie, state Z.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let state = stat.rsplit_once(") ")?.1.chars().next()?;
        (state == 'Z').then_some(())
    })
    .await;
}

/// In real Chromium, on a real server: a shopper's refund request, asked while the refunds page
/// is open, appears in its list and is said in the polite status region with the navigation's
/// count ("1 refund request to decide"), as the exceptions' are.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn in_a_browser_a_refund_request_is_announced_with_the_count_to_decide() {
    use common::console_world::{ConsoleBrowser, add_staff};
    use serde_json::{Value, json};
    use usdt_checkout_protocol::format_units;

    let world = common::world("console-live-refunds").await;
    add_staff(&world, "ana", "operator");
    // An order paid a unit too much: the unit may be asked back.
    let view = world.checkout("tee", "live-refund").await;
    let id = view["id"].as_str().unwrap().to_owned();
    let amount: u128 = view["payment"]["amountAtomic"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    world
        .pay(
            &view,
            json!({"amount": format_units(amount + 1_000_000, 6), "payer": 1}),
        )
        .await;
    let refunds = format!("{}/api/checkouts/{id}/refunds", world.server.url);
    let offered =
        usdt_checkout_testkit::eventually("the payment offered back", common::WAIT, || async {
            world.mine().await;
            let view = world.get_json(&refunds).await;
            view["refundable"].as_array()?.first().cloned()
        })
        .await;

    let console = ConsoleBrowser::start(&world.server.url, "live-refunds").await;
    console.sign_in("ana").await;
    console.goto("/console/refunds").await;
    console.wait_for("main", "No refunds match.").await;
    let asked = world
        .http
        .post(&refunds)
        .json(&json!({
            "chainId": offered["chainId"],
            "sourceTx": offered["sourceTx"],
            "sourceLogIndex": offered["sourceLogIndex"],
            "amount": offered["max"],
            "destination": offered["from"],
            "email": "shopper@example.com",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 201, "{:?}", asked.json::<Value>().await);
    console
        .wait_for("#live-status", "1 refund request to decide")
        .await;
    let said = console.text("#live-status").await;
    assert_eq!(
        said, "Updated: 1 refund changed; 1 refund request to decide.",
        "said once, each part in words"
    );
    console.wait_for("#nav-refunds", "1").await;
    console.wait_for("tbody[data-live=refunds]", &id).await;
}

/// A page says the change feed's count it was drawn at (`data-feed`); its stream, opened from
/// there, says at once a change made in between, which no stream was open to hear.
async fn a_change_made_while_the_page_was_drawn_is_said_when_its_stream_opens(db: Db) {
    let h = harness(db, "live-since", "").await;
    let (browser, _) = h.signed_in("vera", Role::Viewer).await;
    let (_, router) = console_of(&h, quick());
    let page = h.get(&mut browser.clone(), "/console/orders").await;
    let at = page.body.find(r#"data-feed=""#).expect("the page's count") + r#"data-feed=""#.len();
    let feed = &page.body[at..at + page.body[at..].find('"').unwrap()];
    h.order("25.00", "USD", "Tee", "ref-1").await;
    let mut events = stream_at(&router, &browser, &format!("/console/events?since={feed}")).await;
    assert_eq!(events.until("change").await, "event: change\ndata: changed");
}
