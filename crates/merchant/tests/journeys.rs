//! The product as a shopper and a merchant meet it, every part real: a storefront page embedding
//! the built widget from the checkout server (cross-origin, as merchants deploy it), the checkout
//! server, the sandbox gateway on anvil, and headless Chromium driven through WebDriver. Each
//! journey saves a screenshot of each state it reaches in `screenshots/journeys/<journey>/`.
//!
//! Needs the built widget: `cargo xtask widget` (`cargo xtask test` builds it first).

mod common;

use std::time::Duration;

use common::shop::*;
use common::storefront::{Embed, storefront_page};
use common::*;
use serde_json::{Value, json};
use usdt_checkout_chain::ChainClient;
use usdt_checkout_protocol::Address;
use usdt_checkout_testkit::browser::{Browser, keys};
use usdt_checkout_testkit::{Api, eventually, workspace_root};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn paying_the_full_amount_goes_waiting_confirming_paid_and_fulfills_once() {
    full_payment(Shop::open("full-payment", Embed::Element, 1280, None).await).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v2_paying_the_full_amount_goes_waiting_confirming_paid_and_fulfills_once() {
    let shop = Shop::open_in(Api::V2, "v2-full-payment", Embed::Element, 1280, None).await;
    full_payment(shop).await;
}

async fn full_payment(mut shop: Shop) {
    shop.start_payment().await;
    assert_eq!(
        shop.text(".usdt-checkout__amount").await,
        format!("{TEE_IN_USDT} USDT")
    );
    // The countdown runs while nothing else changes: once the widget's first status poll has
    // brought a view (the first change may be that), the order's view stays the same.
    let mut time_left = shop.text(".usdt-checkout__countdown").await;
    assert!(time_left.starts_with("Time left: 1"), "{time_left}");
    for _ in 0..2 {
        time_left = eventually("the countdown to move", WAIT, || async {
            let now = shop.text(".usdt-checkout__countdown").await;
            (now != time_left).then_some(now)
        })
        .await;
    }

    shop.pay(json!({})).await;
    shop.status("Confirming (1 of 2)").await;
    // The full amount is seen: nothing asks for money any more, what was received and the order
    // reference show instead.
    shop.wait_for(".usdt-checkout__receipt", &shop.order).await;
    for gone in [
        "figure[role=img]",
        ".usdt-checkout__countdown",
        ".usdt-checkout__facts",
        "button.usdt-checkout__wallet",
    ] {
        assert!(
            shop.browser.find(&shop.widget, gone).await.is_none(),
            "no {gone} while confirming"
        );
    }
    shop.snap("confirming").await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    shop.wait_for(".usdt-checkout__receipt", "Transaction")
        .await;
    shop.snap("paid").await;

    let paid = shop.events("paid").await;
    assert_eq!(paid.len(), 1, "{paid:?}");
    assert!(paid[0]["txHash"].as_str().unwrap().starts_with("0x"));
    let event = shop.fulfilled_once().await;
    assert_eq!(event["type"], "checkout.paid");
    assert_eq!(event["amountPaid"], TEE_IN_USDT);
    shop.console_is_clean().await;
}

/// A reload while the widget waits for the payment shows the same order again (same amount,
/// same address), not the chooser and a new order; once paid, a reload starts afresh.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_reload_mid_payment_resumes_the_same_order_and_reaches_paid() {
    let mut shop = Shop::open("reload-resumes", Embed::Element, 1280, None).await;
    shop.start_payment().await;
    let amount = shop.text(".usdt-checkout__amount").await;
    let address = shop.text(".usdt-checkout__address").await;

    let url = shop.browser.script("return location.href;", vec![]).await;
    shop.browser.goto(url.as_str().unwrap()).await;
    shop.widget = shop.browser.shadow_root("usdt-checkout").await;
    shop.status("Waiting for your payment").await;
    assert_eq!(shop.text(".usdt-checkout__amount").await, amount);
    assert_eq!(shop.text(".usdt-checkout__address").await, address);
    shop.wait_for("button.usdt-checkout__primary", "Start again")
        .await;
    assert!(
        shop.browser
            .find(&shop.widget, "input[name=usdt-checkout-network]")
            .await
            .is_none(),
        "not the chooser"
    );
    eventually("the widget to announce the same order", WAIT, || async {
        let status = shop.events("status").await;
        (status.first()?["orderId"] == shop.order.as_str()).then_some(())
    })
    .await;
    assert!(shop.events("created").await.is_empty(), "no new order");
    shop.snap("resumed").await;

    shop.pay(json!({})).await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    shop.snap("paid").await;
    assert_eq!(
        shop.fulfilled_once().await["checkoutId"],
        shop.order.as_str()
    );

    // Paid is over: the next visit starts a new purchase.
    shop.browser.goto(url.as_str().unwrap()).await;
    shop.widget = shop.browser.shadow_root("usdt-checkout").await;
    shop.wait_for("button[type=submit]", "Continue").await;
    shop.console_is_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn paying_part_shows_what_remains_then_the_rest_completes_it() {
    // On a phone-wide screen.
    let mut shop = Shop::open("partial-payment", Embed::Element, 390, None).await;
    shop.record_announcements().await;
    shop.start_payment().await;

    shop.pay(json!({"amount": "10", "method": "deposit"})).await;
    shop.status("Partly paid. 14.995001 USDT still to pay.")
        .await;
    shop.wait_for(".usdt-checkout__facts", "Send the rest")
        .await;
    assert_eq!(shop.text(".usdt-checkout__amount").await, "14.995001 USDT");
    assert_eq!(
        shop.qr_label().await,
        "QR code: send 14.995001 USDT on Local chain"
    );
    shop.snap("partially-paid").await;

    shop.pay(json!({"method": "deposit"})).await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    shop.snap("paid").await;
    // A screen reader hears each state once, in order, and never the countdown's every second.
    // The last deposit may be seen confirming before the next block makes it paid, or not.
    let said = shop.announced().await;
    let confirming = "Payment received. Confirming (1 of 2)…";
    let expected: &[&str] = if said.iter().any(|s| s == confirming) {
        &[
            "Waiting for your payment",
            "Partly paid. 14.995001 USDT still to pay.",
            confirming,
            "Paid. Thank you!",
        ]
    } else {
        &[
            "Waiting for your payment",
            "Partly paid. 14.995001 USDT still to pay.",
            "Paid. Thank you!",
        ]
    };
    assert_eq!(said, expected);
    let event = shop.fulfilled_once().await;
    assert_eq!(event["amountPaid"], TEE_IN_USDT);
    assert_eq!(event["transactions"].as_array().unwrap().len(), 2);
    shop.console_is_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_payment_after_expiry_is_shown_as_paid_late_and_the_merchant_sees_it() {
    paid_late(Shop::open("expired-then-paid-late", Embed::Element, 1280, None).await).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v2_a_payment_after_expiry_is_shown_as_paid_late_and_the_merchant_sees_it() {
    let shop = Shop::open_in(
        Api::V2,
        "v2-expired-then-paid-late",
        Embed::Element,
        1280,
        None,
    );
    paid_late(shop.await).await;
}

async fn paid_late(mut shop: Shop) {
    shop.start_payment().await;

    shop.sandbox(&format!("/sandbox/orders/{}/expire", shop.order), json!({}))
        .await;
    shop.status("This payment request has expired").await;
    shop.wait_for("button.usdt-checkout__primary", "Start again")
        .await;
    assert_eq!(shop.events("expired").await.len(), 1);
    shop.snap("expired").await;

    shop.pay(json!({})).await;
    shop.mine().await;
    shop.status("Paid after the time ran out").await;
    shop.snap("paid-late").await;
    assert_eq!(shop.merchant_sees().await["state"], "paid_late");
    let event = shop.fulfilled_once().await;
    assert_eq!(event["type"], "checkout.paid_late");
    shop.console_is_clean().await;
}

/// What the chain shows reaches the shopper before the gateway says anything: its webhooks held
/// back and its API failing, the widget still shows the part paid, what remains, and the full
/// amount confirming; paid waits for the gateway's word.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_chain_shows_the_payment_before_the_gateways_webhook() {
    let mut shop = Shop::open("chain-first", Embed::Element, 1280, None).await;
    shop.start_payment().await;
    shop.sandbox(
        "/sandbox/faults",
        json!({"webhookDelayMs": 600_000, "errorRate": 1.0}),
    )
    .await;
    shop.pay(json!({"amount": "20"})).await;
    shop.status("Partly paid. 4.995001 USDT still to pay.")
        .await;
    shop.snap("partly-paid-from-chain").await;
    shop.pay(json!({})).await;
    shop.status("Confirming (1 of 2)").await;
    shop.snap("confirming-from-chain").await;
    assert!(
        shop.world.fulfilled().is_empty(),
        "nothing is fulfilled on the chain's word alone"
    );
    shop.sandbox("/sandbox/faults", json!({})).await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    shop.fulfilled_once().await;
}

/// In V2, which tells a cancellation (`CANCELLED`) from an expiry; V1's -1 is both, and the
/// server reads it as an expiry.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_cancelled_order_offers_to_start_again_with_a_new_order() {
    let shop = Shop::open_in(Api::V2, "cancelled-then-again", Embed::Element, 1280, None);
    let mut shop = shop.await;
    shop.start_payment().await;
    let first = shop.order.clone();

    shop.sandbox(&format!("/sandbox/orders/{first}/cancel"), json!({}))
        .await;
    shop.status("This payment was cancelled.").await;
    assert_eq!(shop.events("failed").await.len(), 1);
    shop.snap("cancelled").await;

    let again = shop
        .browser
        .wait_for(&shop.widget, "button.usdt-checkout__primary", "Start again")
        .await;
    shop.browser.click(&again).await;
    let button = shop
        .browser
        .wait_for(&shop.widget, "button[type=submit]", "Continue")
        .await;
    shop.browser.click(&button).await;
    shop.status("Waiting for your payment").await;
    let created = shop.events("created").await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert_ne!(
        created[1]["orderId"],
        first.as_str(),
        "a new order, not the old one again"
    );
    shop.snap("new-order").await;
    shop.console_is_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_browser_wallet_connects_switches_chain_and_pays() {
    let mut shop = Shop::open(
        "browser-wallet",
        Embed::Element,
        1280,
        Some(|world| wallet_extension(&[(31337, &world.anvil.rpc_url)])),
    )
    .await;
    shop.start_payment().await;

    shop.pay_from_wallet().await;
    shop.snap("sent-from-wallet").await;
    let calls = shop
        .browser
        .script("return walletCalls.map((c) => c.method);", vec![])
        .await;
    let calls: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        calls.starts_with(&[
            "eth_requestAccounts",
            "eth_chainId",
            "wallet_switchEthereumChain"
        ]),
        "{calls:?}"
    );
    assert!(calls.contains(&"eth_sendTransaction"), "{calls:?}");

    shop.status("Confirming (1 of 2)").await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    shop.snap("paid").await;
    shop.fulfilled_once().await;
    shop.console_is_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn rate_limits_blocks_and_dropped_webhooks_are_weathered_to_paid() {
    let mut shop = Shop::open("rate-limited", Embed::Element, 1280, None).await;
    shop.start_payment().await;

    // Every webhook is lost and every gateway call refused: the shopper sees the payment from
    // the chain, and the merchant learns it is paid only once the gateway answers again, by
    // reconciling.
    shop.sandbox(
        "/sandbox/faults",
        json!({"forceStatus": 429, "dropWebhooks": true}),
    )
    .await;
    shop.pay(json!({})).await;
    shop.mine().await;
    shop.wait_for(".usdt-checkout__notice", "Busy right now")
        .await;
    shop.status("Confirming (2 of 2)").await;
    shop.snap("rate-limited").await;

    shop.sandbox(
        "/sandbox/faults",
        json!({"forceStatus": 418, "dropWebhooks": true}),
    )
    .await;
    eventually("the checkout server to be blocked", WAIT, || async {
        let view = shop.world.status(&shop.order).await;
        (view["gateway"]["state"] == "blocked").then_some(())
    })
    .await;
    shop.wait_for(".usdt-checkout__notice", "Busy right now")
        .await;
    shop.snap("blocked").await;

    shop.sandbox("/sandbox/faults", json!({"dropWebhooks": true}))
        .await;
    shop.status("Paid. Thank you!").await;
    eventually("the notice to go", WAIT, || async {
        shop.browser
            .find(&shop.widget, ".usdt-checkout__notice")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    shop.snap("paid").await;
    shop.fulfilled_once().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_widget_rides_out_a_checkout_server_restart_and_reaches_paid() {
    let mut shop = Shop::open("server-restart", Embed::Element, 1280, None).await;
    shop.start_payment().await;

    shop.world.server.stop();
    shop.wait_for(".usdt-checkout__notice", "Can't reach the shop")
        .await;
    shop.snap("server-down").await;
    // Paid while the server is down: its webhook is retried, and the server reconciles.
    shop.pay(json!({})).await;
    shop.mine().await;
    shop.world.server.restart();

    shop.status("Paid. Thank you!").await;
    shop.snap("paid").await;
    shop.fulfilled_once().await;
}

/// The shopper's browser adds price fields to the widget's order request, however `fetch` is
/// called (a URL and options, or a `Request`).
const TAMPER: &str = r#"(() => {
  const send = window.fetch;
  window.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (request.url.endsWith("/api/checkouts") && request.method === "POST") {
      const body = JSON.parse(await request.clone().text());
      Object.assign(body, { amount: "0.01", price: "0.01", currency: "USDT", priceAmount: "0.01" });
      window.tamperedBody = JSON.stringify(body);
      return send(new Request(request, { body: window.tamperedBody }));
    }
    return send(request);
  };
})();"#;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_tampered_price_from_the_browser_is_ignored() {
    let mut shop = Shop::open(
        "tampered-price",
        Embed::Script,
        1280,
        Some(|_| TAMPER.to_owned()),
    )
    .await;
    shop.start_payment().await;

    let sent = shop
        .browser
        .script("return window.tamperedBody;", vec![])
        .await;
    assert!(
        sent.as_str().unwrap().contains("\"amount\":\"0.01\""),
        "the tampered request was sent: {sent}"
    );
    assert_eq!(
        shop.text(".usdt-checkout__amount").await,
        format!("{TEE_IN_USDT} USDT")
    );
    let order = shop.merchant_sees().await;
    assert_eq!(order["price"]["amount"], "25.00", "{order}");
    assert_eq!(order["payment"]["amount"], TEE_IN_USDT, "{order}");
    shop.snap("server-price").await;
    shop.console_is_clean().await;
}

/// The payment screen's layout, on a phone and a desktop, light and dark (screenshots of each):
/// two widgets on one page are two landmarks with their own names; the chooser has no blank
/// status line; Continue leaves focus on the new screen's heading, not on the page's body; a
/// transfer that no order can take is told to both shoppers waiting at that address, and counted
/// to neither; the network line never breaks inside the token's address; and the paid screen,
/// whose transaction can be copied whole, is no wider than a phone.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_payment_screen_on_phones_and_desktops_light_and_dark() {
    let mut shop = Shop::open("screens", Embed::TwoElements, 1280, None).await;
    let mug = shop.browser.shadow_root("usdt-checkout[item=mug]").await;
    let mug_continue = shop
        .browser
        .wait_for(&mug, "button[type=submit]", "Continue")
        .await;
    let names = shop
        .browser
        .script(
            "return [...document.querySelectorAll('usdt-checkout')]
               .map((e) => e.shadowRoot.querySelector('section').getAttribute('aria-label'));",
            vec![],
        )
        .await;
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1], "two landmarks, two names");
    assert!(
        names.iter().all(|n| n.starts_with("Pay with USDT")),
        "{names:?}"
    );
    let status = shop
        .browser
        .find(&shop.widget, ".usdt-checkout__status")
        .await
        .unwrap();
    let height = shop
        .browser
        .script(
            "return arguments[0].getBoundingClientRect().height;",
            vec![Browser::arg(&status)],
        )
        .await;
    assert_eq!(height, 0, "the chooser has no blank status line");
    shop.snap_everywhere("choose").await;

    shop.start_payment().await;
    let focused = shop
        .browser
        .script(
            "return document.querySelector('usdt-checkout').shadowRoot.activeElement?.className ?? null;",
            vec![],
        )
        .await;
    assert_eq!(
        focused, "usdt-checkout__title",
        "focus on the new screen's heading"
    );
    shop.browser.click(&mug_continue).await;
    shop.browser
        .wait_for(&mug, ".usdt-checkout__status", "Waiting for your payment")
        .await;
    let token_lines = shop
        .browser
        .script_at(
            375,
            "return arguments[0].getClientRects().length;",
            vec![Browser::arg(
                &shop
                    .browser
                    .find(&shop.widget, ".usdt-checkout__token")
                    .await
                    .unwrap(),
            )],
        )
        .await;
    assert_eq!(token_lines, 1, "the token's address stays on one line");

    // Part of an amount while two orders wait at the same address: neither can claim it.
    shop.pay(json!({"amount": "5"})).await;
    for widget in [&shop.widget, &mug] {
        shop.browser
            .wait_for(
                widget,
                ".usdt-checkout__note",
                "5 USDT arrived at this address",
            )
            .await;
    }
    assert!(
        shop.text(".usdt-checkout__status")
            .await
            .contains("Waiting for your payment"),
        "not counted"
    );
    let unmatched = shop.world.admin_get("/api/admin/unmatched").await;
    assert_eq!(unmatched.as_array().map(Vec::len), Some(1), "{unmatched}");
    shop.snap_everywhere("waiting-unmatched").await;

    shop.pay(json!({})).await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    assert!(
        shop.browser
            .find(
                &shop.widget,
                ".usdt-checkout__receipt button[aria-label='Copy transaction hash']"
            )
            .await
            .is_some(),
        "the receipt's transaction can be copied"
    );
    let overflow = shop
        .browser
        .script_at(
            375,
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await;
    assert_eq!(overflow, 0, "the paid screen fits a phone");
    shop.snap_everywhere("paid").await;
    shop.fulfilled_once().await;
    shop.console_is_clean().await;
}

/// With only a keyboard: Tab into the widget, choose with Space, Continue with Enter, land on the
/// payment screen's heading, copy the amount and the address, and once the order has expired,
/// Start again; every control reached shows where focus is, and Shift-Tab goes back.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_shopper_with_only_a_keyboard_chooses_continues_copies_and_starts_again() {
    let shop = Shop::open("keyboard", Embed::Element, 1280, None).await;
    shop.record_announcements().await;
    let network = shop.tab_to("the network", |f| f["tag"] == "input").await;
    assert_eq!(network["ring"], true, "focus shows: {network}");
    shop.browser.press(&[keys::SPACE]).await;
    let next = shop.tab_to("the token", |f| f["tag"] == "input").await;
    assert_eq!(next["ring"], true, "{next}");
    shop.browser.press(&[keys::SHIFT, keys::TAB]).await;
    assert_eq!(shop.browser.focused().await, network, "Shift-Tab goes back");
    let cont = shop.tab_to("Continue", |f| f["text"] == "Continue").await;
    assert_eq!(cont["ring"], true, "{cont}");
    shop.browser.press(&[keys::ENTER]).await;
    shop.status("Waiting for your payment").await;
    assert_eq!(
        shop.browser.focused().await["class"],
        "usdt-checkout__title",
        "the new screen's heading"
    );

    for (label, key) in [("Copy amount", keys::ENTER), ("Copy address", keys::SPACE)] {
        let copy = shop.tab_to(label, |f| f["label"] == label).await;
        assert_eq!(copy["ring"], true, "{copy}");
        shop.browser.press(&[key]).await;
        eventually(&format!("{label} to say so"), WAIT, || async {
            (shop.browser.focused().await["text"] == "Copied").then_some(())
        })
        .await;
    }
    shop.snap("keyboard-copied").await;

    let order = eventually("the widget to announce its order", WAIT, || async {
        shop.events("created")
            .await
            .first()
            .and_then(|event| event["orderId"].as_str().map(str::to_owned))
    })
    .await;
    shop.sandbox(&format!("/sandbox/orders/{order}/expire"), json!({}))
        .await;
    shop.status("This payment request has expired").await;
    // The copy button the shopper was on is gone with the screen: focus is on the heading, not
    // lost to the page.
    let focused = eventually("focus to reach the heading", WAIT, || async {
        let focused = shop.browser.focused().await;
        (focused["class"] == "usdt-checkout__title").then_some(focused)
    })
    .await;
    assert_eq!(focused["tag"], "h1");
    let again = shop
        .tab_to("Start again", |f| f["text"] == "Start again")
        .await;
    assert_eq!(again["ring"], true, "{again}");
    shop.browser.press(&[keys::ENTER]).await;
    shop.wait_for("button[type=submit]", "Continue").await;
    assert_eq!(
        shop.browser.focused().await["class"],
        "usdt-checkout__title",
        "back on the chooser's heading"
    );
    let said = shop.announced().await;
    assert_eq!(
        said[..2],
        [
            "Waiting for your payment",
            "This payment request has expired. Nothing more can be paid to it."
        ],
        "{said:?}"
    );
    shop.console_is_clean().await;
}

/// The waiting screen in each of the ten languages, on a phone (`screenshots/locales/<tag>.png`):
/// the table is fetched beside the widget, the status reads in the language, Arabic lays out
/// right to left with the amount and the address left to right, and each passes the
/// accessibility check.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_waiting_screen_in_each_of_ten_languages() {
    const LOCALES: [&str; 10] = [
        "en", "zh-CN", "es", "fr", "de", "pt-BR", "ja", "ko", "ru", "ar",
    ];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let world = world_with(
        "locales",
        Storefront {
            origin: origin.clone(),
            widget_dir: Some(workspace_root().join("dist/checkout")),
            ..Storefront::default()
        },
    )
    .await;
    let page = storefront_page(
        Embed::Element,
        &world.server.url,
        &world.sandbox.url,
        Api::V1,
    );
    let app = axum::Router::new().route(
        "/{locale}",
        axum::routing::get(
            move |axum::extract::Path(locale): axum::extract::Path<String>| {
                let page = page.replace(r#"locale="en""#, &format!(r#"locale="{locale}""#));
                async move { axum::response::Html(page) }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let browser = Browser::start(375, 900).await;
    let shots = workspace_root().join("screenshots/locales");
    for locale in LOCALES {
        let table: Value = serde_json::from_str(
            &std::fs::read_to_string(workspace_root().join(format!("www/locales/{locale}.json")))
                .unwrap(),
        )
        .unwrap();
        let text = |key: &str| table[key].as_str().unwrap().to_owned();
        browser.goto(&format!("{origin}/{locale}")).await;
        let widget = browser.shadow_root("usdt-checkout").await;
        let button = browser
            .wait_for(&widget, "button[type=submit]", &text("continue"))
            .await;
        browser.click(&button).await;
        browser
            .wait_for(&widget, ".usdt-checkout__status", &text("waiting"))
            .await;
        let direction = browser
            .script(
                "const root = document.querySelector('usdt-checkout').shadowRoot;
                 const dir = (css) => getComputedStyle(root.querySelector(css)).direction;
                 return [dir('.usdt-checkout'), dir('.usdt-checkout__amount'), dir('.usdt-checkout__address')];",
                vec![],
            )
            .await;
        let expected = if locale == "ar" { "rtl" } else { "ltr" };
        assert_eq!(direction, json!([expected, "ltr", "ltr"]), "{locale}");
        browser
            .screenshot(&shots.join(format!("{locale}.png")))
            .await;
        let violations = browser.accessibility_violations(375, false).await;
        assert!(violations.is_empty(), "{locale}: {violations:?}");
        // The next page is a new shopper, not this one's payment resumed.
        browser.script("localStorage.clear();", vec![]).await;
    }
}

/// The expiry race: a payment mined ten seconds before the order runs out is shown as seen
/// (confirming, the countdown gone) and ends paid, never expired or late, though its
/// confirmation comes after the time is up.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_payment_mined_just_before_expiry_is_never_shown_late() {
    let gateway = Storefront {
        order_lifetime_seconds: Some(25),
        ..Storefront::default()
    };
    let mut shop = Shop::open_on(gateway, "expiry-race", Embed::Element, 1280, None).await;
    shop.start_payment().await;
    shop.browser
        .script(
            "const section = document.querySelector('usdt-checkout').shadowRoot.querySelector('section');
             window.states = [section.dataset.state];
             new MutationObserver(() => window.states.push(section.dataset.state))
               .observe(section, {attributes: true, attributeFilter: ['data-state']});",
            vec![],
        )
        .await;
    eventually("ten seconds left", WAIT, || async {
        let left = shop.text(".usdt-checkout__countdown").await;
        let seconds: u64 = left.rsplit(':').next()?.trim().parse().ok()?;
        (left.contains(" 0:") && seconds <= 10).then_some(())
    })
    .await;
    shop.pay(json!({})).await;
    shop.status("Confirming (1 of 2)").await;
    assert!(
        shop.browser
            .find(&shop.widget, ".usdt-checkout__countdown")
            .await
            .is_none(),
        "no countdown once the payment is seen"
    );
    // Past the order's time, then the confirmation.
    tokio::time::sleep(Duration::from_secs(12)).await;
    shop.status("Confirming (1 of 2)").await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    shop.snap("paid-in-time").await;
    let states = shop.browser.script("return window.states;", vec![]).await;
    for never in ["expired", "paid_late"] {
        assert!(
            !states.as_array().unwrap().iter().any(|s| s == never),
            "never {never}: {states}"
        );
    }
    assert_eq!(shop.merchant_sees().await["state"], "paid");
    assert_eq!(shop.fulfilled_once().await["type"], "checkout.paid");
}

/// USDT on the 18-decimal chain (as on BNB Smart Chain): the amount reads as on the other chain
/// (at most six decimals), the QR code's and the wallet link's URI carry its 18-decimal atomic
/// units, and a browser wallet switched to that chain pays it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_shopper_pays_on_the_18_decimal_chain_from_a_browser_wallet() {
    let mut shop = two_chain_shop("bnb-chain").await;
    shop.choose_network(31338).await;
    shop.start_payment().await;
    assert_eq!(
        shop.text(".usdt-checkout__amount").await,
        format!("{TEE_IN_USDT} USDT")
    );
    let network = shop.text(".usdt-checkout__facts").await;
    assert!(network.contains("Local BNB chain"), "{network}");
    let label = shop.qr_label().await;
    assert!(label.contains("Local BNB chain"), "{label}");
    let link = shop
        .browser
        .script(
            "return document.querySelector('usdt-checkout').shadowRoot
               .querySelector('a.usdt-checkout__deeplink').href;",
            vec![],
        )
        .await;
    let link = link.as_str().unwrap();
    assert!(
        link.contains("@31338") && link.contains("uint256=24995001000000000000"),
        "the QR's transfer, in 18-decimal units: {link}"
    );

    shop.pay_from_wallet().await;
    let switched = shop
        .browser
        .script(
            "return walletCalls.filter((c) => c.method === 'wallet_switchEthereumChain')
               .map((c) => c.params[0].chainId);",
            vec![],
        )
        .await;
    assert_eq!(switched, json!(["0x7a6a"]), "to chain 31338");
    shop.status("Confirming (1 of 2)").await;
    shop.mine_on(31338).await;
    shop.status("Paid. Thank you!").await;
    shop.snap("paid").await;
    let event = shop.fulfilled_once().await;
    assert_eq!(event["amountPaid"], TEE_IN_USDT);
    shop.console_is_clean().await;
}

/// A gateway whose public lists carry only chain ids and symbols, speaking V2 (BlockATM
/// documents none of the lists' fields; the sandbox with `--minimal-lists`): the widget offers
/// each chain by the built-in registry's name, and a shopper pays on the 18-decimal one, its
/// decimals the registry's too. Nothing is skipped, so nothing is said on the console.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v2_lists_of_chain_ids_and_symbols_alone_are_offered_and_paid() {
    let gateway = Storefront {
        api: Api::V2,
        second_chain: true,
        minimal_lists: true,
        ..Storefront::default()
    };
    let mut shop = Shop::open_on(gateway, "v2-minimal-lists", Embed::Element, 1280, None).await;
    shop.wait_for(".usdt-checkout__chooser", "Local BNB chain")
        .await;
    let chooser = shop.text(".usdt-checkout__chooser").await;
    assert!(
        chooser.contains("Local chain") && chooser.contains("USDT"),
        "{chooser}"
    );
    shop.choose_network(31338).await;
    shop.start_payment().await;
    assert_eq!(
        shop.text(".usdt-checkout__amount").await,
        format!("{TEE_IN_USDT} USDT")
    );
    let facts = shop.text(".usdt-checkout__facts").await;
    assert!(facts.contains("Local BNB chain"), "{facts}");
    shop.pay(json!({})).await;
    shop.status("Confirming (1 of 2)").await;
    shop.mine_on(31338).await;
    shop.status("Paid. Thank you!").await;
    assert_eq!(shop.fulfilled_once().await["amountPaid"], TEE_IN_USDT);
    shop.console_is_clean().await;
}

/// The order's amount sent to the order's address on the other chain: named in the widget
/// ("arrived on Local BNB chain, but this order asked for Local chain"), listed for the
/// merchant with its hash, and never counted.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_payment_on_the_wrong_network_is_named_and_not_counted() {
    let mut shop = two_chain_shop("wrong-network").await;
    shop.start_payment().await;
    shop.pay(json!({"chainId": 31338})).await;
    shop.wait_for(".usdt-checkout__note", "arrived on Local BNB chain")
        .await;
    let note = shop.text(".usdt-checkout__note").await;
    assert!(
        note.contains(&format!("{TEE_IN_USDT} USDT")) && note.contains("asked for Local chain"),
        "{note}"
    );
    shop.snap("wrong-network").await;
    let listed = shop.world.admin_get("/api/admin/unmatched").await;
    assert_eq!(listed[0]["chainId"], 31338, "{listed}");
    assert_eq!(listed[0]["wrongNetworkFor"], json!([shop.order]));
    shop.mine_on(31338).await;
    shop.status("Waiting for your payment").await;
    assert_eq!(shop.merchant_sees().await["state"], "waiting");
    shop.console_is_clean().await;
}

/// "I already paid": a part sent (from the shopper's browser wallet's account) while another
/// shopper's order waits at the same address matches neither, so the widget says it is not
/// counted. The shopper pastes hashes: a foreign one, one that sent another token, one that paid
/// someone else, each told why; then the part's, which the server keeps for review without
/// proof that the shopper sent it: the widget says so calmly and offers the wallet to prove it.
/// With another account in the wallet it is told that this wallet did not send it, and nothing
/// is signed; with the sending one, the wallet signs and the part is attached (partly paid). The
/// rest completes it; the signed receipt downloaded from the widget's link verifies with the CLI
/// (and fails after one changed byte), and prints alone.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_shopper_who_already_paid_pastes_the_hash_and_sees_it_attached_or_why_not() {
    let mut shop = Shop::open(
        "already-paid",
        Embed::Element,
        1280,
        Some(|world| wallet_extension(&[(31337, &world.anvil.rpc_url)])),
    )
    .await;
    shop.start_payment().await;
    shop.world.checkout("mug", "key-another-shopper").await;
    let view = shop.world.status(&shop.order).await;
    let to: Address = view["payment"]["toAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let usdt: Address = view["payment"]["tokenContract"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let chain = ChainClient::connect(&shop.world.anvil.rpc_url).unwrap();
    let accounts = chain.accounts().await.unwrap();
    // The shopper pays from the account their browser wallet holds.
    let (minter, shopper) = (accounts[0], WALLET_ACCOUNT.parse::<Address>().unwrap());
    assert!(accounts.contains(&shopper), "anvil's account");
    let send = |token: Address, to: Address, amount: u128| {
        let chain = chain.clone();
        async move {
            chain.mint(token, minter, shopper, amount).await.unwrap();
            chain.transfer(token, shopper, to, amount).await.unwrap()
        }
    };
    let part = send(usdt, to, 5_000_000).await;
    shop.wait_for(".usdt-checkout__note", "5 USDT arrived at this address")
        .await;

    shop.click_on(".usdt-checkout__claim-toggle", "I already paid")
        .await;
    let input = shop
        .browser
        .find(&shop.widget, "input[name=txHash]")
        .await
        .expect("the hash field");
    let claim = |hash: String| {
        let (shop, input) = (&shop, &input);
        async move {
            shop.browser.clear(input).await;
            shop.browser.type_into(input, &hash).await;
            let submit = shop
                .browser
                .find(&shop.widget, ".usdt-checkout__claim-submit")
                .await
                .unwrap();
            shop.browser.click(&submit).await;
        }
    };
    let other_token = chain.deploy_token(minter, 6).await.unwrap();
    let reasons = [
        (
            format!("0x{}", "ab".repeat(32)),
            "No transaction with this hash on Local chain".to_owned(),
        ),
        (
            send(other_token, to, 5_000_000).await,
            "sent another token, not USDT".to_owned(),
        ),
        (
            send(usdt, minter, 5_000_000).await,
            format!("paid {minter}, not this order"),
        ),
    ];
    for (hash, reason) in reasons {
        claim(hash).await;
        shop.wait_for(".usdt-checkout__claim-error", &reason).await;
    }
    shop.snap("claim-refused").await;

    // The hash is public: without the sender's proof, the payment is kept for the merchant.
    shop.record_announcements().await;
    claim(part.clone()).await;
    shop.wait_for(
        ".usdt-checkout__claim-review",
        "This payment is recorded, and the merchant will check it. There is no need to pay again.",
    )
    .await;
    assert_eq!(shop.text(".usdt-checkout__claim-error").await, "");
    shop.wait_for(".usdt-checkout__prove", "Prove it with Test Wallet")
        .await;
    shop.status("Waiting for your payment").await;
    assert_eq!(shop.merchant_sees().await["state"], "waiting");
    let listed = shop.world.admin_get("/api/admin/unmatched").await;
    let kept = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|payment| {
            payment["txHash"]
                .as_str()
                .is_some_and(|hash| hash.eq_ignore_ascii_case(&part))
        })
        .unwrap_or_else(|| panic!("{part} listed as unmatched: {listed}"));
    assert_eq!(
        kept["claims"][0]["checkoutId"],
        shop.order.as_str(),
        "{kept}"
    );
    let said = shop.announced().await;
    assert!(
        said.iter()
            .any(|text| text.contains("the merchant will check it")),
        "announced politely: {said:?}"
    );
    shop.snap("claim-under-review").await;

    // Proven with another account: this wallet did not send it, and is not asked to sign.
    let other = accounts[3];
    shop.browser
        .script(
            "window.walletAccount = arguments[0];",
            vec![json!(other.to_string())],
        )
        .await;
    shop.click_on(".usdt-checkout__prove", "Prove it with Test Wallet")
        .await;
    shop.wait_for(
        ".usdt-checkout__claim-error",
        &format!("This wallet did not send that payment: it came from {WALLET_ACCOUNT}."),
    )
    .await;
    shop.wait_for(".usdt-checkout__claim-review", "the merchant will check it")
        .await;
    let signed = shop
        .browser
        .script(
            "return walletCalls.filter((c) => c.method === 'personal_sign').length;",
            vec![],
        )
        .await;
    assert_eq!(signed, 0, "nothing signed");
    shop.snap("claim-not-this-wallet").await;

    // With the wallet that sent it: signed (by anvil's unlocked account), and attached.
    shop.browser
        .script("window.walletAccount = null;", vec![])
        .await;
    shop.click_on(".usdt-checkout__prove", "Prove it with Test Wallet")
        .await;
    shop.wait_for(".usdt-checkout__claim-found", "Found it")
        .await;
    let signed = shop
        .browser
        .script(
            "return walletCalls.filter((c) => c.method === 'personal_sign').map((c) => c.params);",
            vec![],
        )
        .await;
    let message = usdt_checkout_protocol::wallet_proof::claim_message(&shop.order, &part);
    assert_eq!(
        signed,
        json!([[
            format!(
                "0x{}",
                usdt_checkout_protocol::hex::encode(message.as_bytes())
            ),
            WALLET_ACCOUNT
        ]]),
        "the server's message, signed by the sender"
    );
    shop.status("Partly paid. 19.995001 USDT still to pay.")
        .await;
    shop.snap("claim-attached").await;
    assert_eq!(shop.merchant_sees().await["state"], "partially_paid");

    send(usdt, to, 19_995_001).await;
    shop.status("Confirming (1 of 2)").await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    let event = shop.fulfilled_once().await;
    assert_eq!(event["amountPaid"], TEE_IN_USDT);

    let link = shop
        .browser
        .script(
            "const a = document.querySelector('usdt-checkout').shadowRoot
               .querySelector('a.usdt-checkout__download');
             return [a.href, a.hasAttribute('download')];",
            vec![],
        )
        .await;
    assert_eq!(link[1], true, "{link}");
    let receipt = shop
        .world
        .http
        .get(link[0].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = shop.world.receipt_key().await;
    let key = key["publicKey"].as_str().unwrap();
    let printed = verify_receipt(&receipt, key).unwrap();
    assert!(
        printed.contains(&format!("paid {TEE_IN_USDT} USDT")),
        "{printed}"
    );
    assert!(
        receipt.contains(&part),
        "both transactions on the receipt: {receipt}"
    );
    let changed = receipt.replacen(TEE_IN_USDT, "24.995002", 1);
    assert!(verify_receipt(&changed, key).is_err(), "one changed byte");

    shop.browser.emulate_print(true).await;
    let shown = shop
        .browser
        .script(
            "const root = document.querySelector('usdt-checkout').shadowRoot;
             const shown = (css) => getComputedStyle(root.querySelector(css)).display !== 'none';
             return [shown('.usdt-checkout__receipt'), shown('.usdt-checkout__print'), shown('.usdt-checkout__download')];",
            vec![],
        )
        .await;
    shop.browser.emulate_print(false).await;
    assert_eq!(
        shown,
        json!([true, false, false]),
        "printed: the receipt alone"
    );
    shop.browser
        .screenshot_printed(&shop.shots.join("paid-printed.png"))
        .await;
    // The three refusals, which the widget told.
    shop.console_is_clean_but(&[
        "/claims - Failed to load resource: the server responded with a status of 422",
    ])
    .await;
}
