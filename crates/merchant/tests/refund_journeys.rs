//! Refunds as a shopper meets them in the widget, every part real (see `journeys.rs`): the
//! shopper asks in the widget, proven by the wallet that paid or unproven from an exchange; an
//! operator decides in the console (real Chromium, the console's own forms); the merchant's
//! wallet pays (the sandbox's test account, or a plain transfer on the chain the money came
//! on); the watcher marks the refund sent, and the widget says so by itself, with its receipt.
//! Each state is photographed and checked by axe-core (375 and 1280 px, light and dark), the
//! shopper's part done with the keyboard.
//!
//! Needs the built widget: `cargo xtask widget` (`cargo xtask test` builds it first).

mod common;

use common::console_world::{ConsoleBrowser, add_staff};
use common::shop::*;
use common::storefront::Embed;
use common::*;
use serde_json::{Value, json};
use usdt_checkout_chain::{ChainClient, TxLookup};
use usdt_checkout_protocol::refund::refund_message;
use usdt_checkout_protocol::{Address, ChainId, TxHash, hex};
use usdt_checkout_testkit::browser::{Scope, keys};
use usdt_checkout_testkit::eventually;

/// `GET /api/checkouts/{id}/refunds`, as the widget reads it.
async fn shoppers_refunds(world: &World, order: &str) -> Value {
    world
        .get_json(&format!(
            "{}/api/checkouts/{order}/refunds",
            world.server.url
        ))
        .await
}

/// The refund the shopper of `order` asked last, once the server has it.
async fn asked(world: &World, order: &str) -> Value {
    let refunds = shoppers_refunds(world, order).await;
    refunds["refunds"]
        .as_array()
        .and_then(|all| all.last())
        .cloned()
        .unwrap_or_else(|| panic!("a refund asked: {refunds}"))
}

/// An operator, signed in to the console in a browser of their own.
async fn operator(world: &World, journey: &str) -> ConsoleBrowser {
    add_staff(world, "oli", "operator");
    let console = ConsoleBrowser::start(&world.server.url, journey).await;
    console.sign_in("oli").await;
    console
}

/// The operator opens refund `id` and approves it.
async fn approve(console: &ConsoleBrowser, id: &str) {
    console.goto(&format!("/console/refunds/{id}")).await;
    console.wait_for("h2", "Decide").await;
    console
        .browser
        .click_on(&Scope::Page, "form[action$='/approve'] button", "Approve")
        .await;
    console.wait_for("h2", "Pay this refund").await;
}

/// The operator opens refund `id` and refuses it for `reason`.
async fn refuse(console: &ConsoleBrowser, id: &str, reason: &str) {
    console.goto(&format!("/console/refunds/{id}")).await;
    console.wait_for("h2", "Decide").await;
    let field = console
        .browser
        .find(&Scope::Page, "#refuse-reason")
        .await
        .expect("the reason's field");
    console.browser.type_into(&field, reason).await;
    console
        .browser
        .click_on(&Scope::Page, "form[action$='/refuse'] button", "Refuse")
        .await;
    console.wait_for("dl.facts", "Refused").await;
}

/// Blocks are mined (by `mine`) until the shopper's refund `id` reads sent; returns it.
async fn mined_until_sent<F, Fut>(world: &World, order: &str, id: &str, mine: F) -> Value
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    eventually("the watcher to mark the refund sent", WAIT, || async {
        mine().await;
        let refund = shoppers_refunds(world, order).await["refunds"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == id)
            .cloned()?;
        (refund["state"] == "sent").then_some(refund)
    })
    .await
}

impl Shop {
    /// Opens "Ask for a refund" with the keyboard: Tab to it, Enter.
    async fn open_refund_form(&self) {
        let summary = self
            .tab_to("Ask for a refund", |f| {
                f["tag"] == "summary" && f["text"] == "Ask for a refund"
            })
            .await;
        assert_eq!(summary["ring"], true, "a visible focus: {summary}");
        self.browser.press(&[keys::ENTER]).await;
        self.wait_for(".usdt-checkout__refund-offer", "You can ask for")
            .await;
    }

    /// What the wallet extension was asked to sign with `personal_sign`: each message's text
    /// and the account.
    async fn signed(&self) -> Vec<(String, String)> {
        let calls = self
            .browser
            .script(
                "return walletCalls.filter((c) => c.method === 'personal_sign').map((c) => c.params);",
                vec![],
            )
            .await;
        calls
            .as_array()
            .unwrap()
            .iter()
            .map(|params| {
                let data = params[0].as_str().unwrap().trim_start_matches("0x");
                let text = String::from_utf8(hex::decode(data).unwrap()).unwrap();
                (text, params[1].as_str().unwrap().to_owned())
            })
            .collect()
    }

    /// The newest refund's state, as the widget's list says it, once it says `text`.
    async fn refund_says(&self, text: &str) {
        self.wait_for(
            ".usdt-checkout__refund:last-child .usdt-checkout__refund-state",
            text,
        )
        .await;
    }

    /// An attribute of the first element matching `css` in the widget.
    async fn attribute(&self, css: &str, name: &str) -> Value {
        self.browser
            .script(
                "const e = document.querySelector('usdt-checkout').shadowRoot.querySelector(arguments[0]);
                 return e && e.getAttribute(arguments[1]);",
                vec![json!(css), json!(name)],
            )
            .await
    }
}

/// An order paid 2 USDT over, from the wallet in the shopper's browser. Once paid, the widget
/// offers the excess back; the shopper, by keyboard, opens the form (the address is the paying
/// wallet's) and signs with that wallet exactly the protocol's message, and the request shows
/// as asked, the focus on the refunds' heading and the change said politely. An operator
/// approves it and the sandbox's test account pays it: the widget says approved, then sent,
/// with the transfer and a receipt that `checkout-server receipt verify` accepts.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn an_overpaid_order_is_refunded_to_the_wallet_that_signed_for_it() {
    let gateway = Storefront {
        sandbox: true,
        ..Storefront::default()
    };
    let mut shop = Shop::open_on(
        gateway,
        "refund-overpaid",
        Embed::Element,
        1280,
        Some(|world| wallet_extension(&[(31337, &world.anvil.rpc_url)])),
    )
    .await;
    shop.start_payment().await;
    let view = shop.world.status(&shop.order).await;
    let address =
        |field: &str| -> Address { view["payment"][field].as_str().unwrap().parse().unwrap() };
    let (to, usdt) = (address("toAddress"), address("tokenContract"));
    let wallet = Wallet::on(&shop.world.anvil.rpc_url, 2).await;
    let account: Address = WALLET_ACCOUNT.parse().unwrap();
    assert_eq!(wallet.shopper, account, "the browser wallet's account");
    assert_eq!(
        view.get("refundable"),
        None,
        "nothing refundable: the flag is not written, the poll stays small"
    );
    let paid = wallet.send(usdt, to, 24_995_001 + 2_000_000).await;
    shop.status("Confirming").await;
    shop.mine().await;
    shop.status("Paid. Thank you!").await;
    let view = shop.world.status(&shop.order).await;
    assert_eq!(view["refundable"], true, "overpaid: {view}");
    shop.wait_for(".usdt-checkout__refunds", "Ask for a refund")
        .await;
    shop.snap("paid-refundable").await;

    shop.record_announcements().await;
    shop.open_refund_form().await;
    let offer = shop.text(".usdt-checkout__refund-offer").await;
    assert!(
        offer.contains("2 USDT back, sent on Local chain from 0x3C44"),
        "{offer}"
    );
    let typed = shop
        .browser
        .script(
            "return document.querySelector('usdt-checkout').shadowRoot
               .querySelector('input[name=destination]').value;",
            vec![],
        )
        .await;
    assert_eq!(typed, WALLET_ACCOUNT, "the paying wallet's address");
    shop.snap("refund-form").await;
    let button = shop
        .tab_to("the wallet's button", |f| {
            f["text"] == "Sign and ask with Test Wallet"
        })
        .await;
    assert_eq!(button["ring"], true, "{button}");
    shop.browser.press(&[keys::ENTER]).await;
    shop.refund_says("Asked. The merchant will decide.").await;
    let message = refund_message(
        &shop.order,
        &paid.to_lowercase(),
        ChainId(31337),
        "2",
        "USDT",
        &account,
    );
    assert_eq!(
        shop.signed().await,
        vec![(message, WALLET_ACCOUNT.to_owned())],
        "the protocol's message, signed by the paying wallet"
    );
    let focused = shop.browser.focused().await;
    assert_eq!(
        (focused["tag"].as_str(), focused["text"].as_str()),
        (Some("h2"), Some("Refunds")),
        "the form gone, focus on the refunds' heading: {focused}"
    );
    assert!(
        shop.browser
            .find(&shop.widget, ".usdt-checkout__refund-ask")
            .await
            .is_none(),
        "not asked twice while one waits"
    );
    shop.snap("refund-asked").await;
    let refund = asked(&shop.world, &shop.order).await;
    assert_eq!(refund["proven"], true, "{refund}");
    assert_eq!(refund["amount"], "2", "{refund}");
    let id = refund["id"].as_str().unwrap().to_owned();

    let console = operator(&shop.world, "widget-refund-overpaid").await;
    approve(&console, &id).await;
    shop.refund_says("Approved. The merchant is sending it.")
        .await;
    shop.snap("refund-approved").await;
    console
        .browser
        .click_on(
            &Scope::Page,
            "form[action$='/sandbox-pay'] button",
            "Pay from the sandbox's test account",
        )
        .await;
    let sent = mined_until_sent(&shop.world, &shop.order, &id, || shop.mine()).await;
    shop.refund_says("Sent on Local chain").await;
    let tx = sent["sentTx"].as_str().unwrap();
    let shown = shop
        .attribute(".usdt-checkout__refund-sent code", "title")
        .await;
    assert_eq!(shown, tx, "the transfer's hash");
    let href = shop
        .attribute(".usdt-checkout__refund-receipt", "href")
        .await;
    let href = href.as_str().expect("the receipt's link");
    assert_eq!(
        href,
        format!("{}/api/refunds/{id}/receipt", shop.world.server.url)
    );
    let receipt = shop.world.http.get(href).send().await.unwrap();
    assert_eq!(receipt.status(), 200);
    let receipt = receipt.text().await.unwrap();
    let key = shop.world.receipt_key().await;
    let verified = verify_receipt(&receipt, key["publicKey"].as_str().unwrap()).unwrap();
    assert!(verified.starts_with("valid refund: "), "{verified}");
    shop.snap_everywhere("refund-sent").await;
    let said = shop.announced().await;
    for news in ["Asked.", "Approved.", "Sent on Local chain"] {
        assert!(
            said.iter()
                .any(|s| s.starts_with("2 USDT to 0x3C44") && s.contains(news)),
            "{news} said politely: {said:?}"
        );
    }
    shop.console_is_clean().await;
}

/// An exchange paid part of an order from an account of its own, and the order expired. The
/// shopper, with no wallet to sign, opens the form by keyboard: an address mistyped is refused
/// at once in words tied to the field; with their own address and an email the request is
/// asked unproven. The operator refuses it with a reason holding markup, which the widget
/// shows as the merchant wrote it, as text; the shopper asks again, the operator approves, the
/// sandbox pays, and the widget says sent.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn an_exchange_payers_unproven_request_is_refused_with_a_reason_then_approved_and_paid() {
    let gateway = Storefront {
        sandbox: true,
        order_lifetime_seconds: Some(15),
        ..Storefront::default()
    };
    let mut shop = Shop::open_on(gateway, "refund-unproven", Embed::Element, 375, None).await;
    shop.start_payment().await;
    let view = shop.world.status(&shop.order).await;
    let address =
        |field: &str| -> Address { view["payment"][field].as_str().unwrap().parse().unwrap() };
    let exchange = Wallet::on(&shop.world.anvil.rpc_url, 6).await;
    exchange
        .send(address("tokenContract"), address("toAddress"), 5_000_000)
        .await;
    shop.mine().await;
    shop.status("Partly paid").await;
    shop.status("This payment request has expired").await;
    shop.wait_for(".usdt-checkout__refunds", "Ask for a refund")
        .await;
    shop.snap("expired-refundable").await;

    shop.record_announcements().await;
    shop.open_refund_form().await;
    let offer = shop.text(".usdt-checkout__refund-offer").await;
    assert!(offer.contains("5 USDT back"), "{offer}");
    assert!(
        shop.browser
            .find(&shop.widget, ".usdt-checkout__refund-sign")
            .await
            .is_none(),
        "no wallet, nothing to sign with"
    );
    let field = shop.tab_to("the address", |f| f["tag"] == "input").await;
    assert_eq!(field["ring"], true, "{field}");
    let input = shop
        .browser
        .find(&shop.widget, "input[name=destination]")
        .await
        .unwrap();
    shop.browser.clear(&input).await;
    // EIP-55: one letter's case changed is no address.
    let own = Wallet::on(&shop.world.anvil.rpc_url, 7)
        .await
        .shopper
        .to_string();
    let mistyped = own.replacen('a', "A", 1).replacen('c', "C", 1);
    assert_ne!(mistyped, own);
    shop.browser.type_into(&input, &mistyped).await;
    shop.browser.press(&[keys::ENTER]).await;
    shop.wait_for(".usdt-checkout__refund-error", "This is not an address")
        .await;
    assert_eq!(
        shop.attribute("input[name=destination]", "aria-invalid")
            .await,
        "true"
    );
    let described = shop
        .attribute("input[name=destination]", "aria-describedby")
        .await;
    let error_id = shop.attribute(".usdt-checkout__refund-error", "id").await;
    assert!(
        described
            .as_str()
            .unwrap()
            .split(' ')
            .any(|id| Some(id) == error_id.as_str()),
        "the error tied to the field: {described} {error_id}"
    );
    assert!(
        shoppers_refunds(&shop.world, &shop.order).await["refunds"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing asked"
    );
    shop.snap("refund-bad-address").await;
    shop.browser.clear(&input).await;
    shop.browser.type_into(&input, &own).await;
    shop.tab_to("the email", |f| f["tag"] == "input").await;
    for c in "first@shopper.example".chars() {
        shop.browser.press(&[&c.to_string()]).await;
    }
    shop.browser.press(&[keys::ENTER]).await;
    shop.refund_says("Asked without a signature. The merchant will check it and decide.")
        .await;
    let first = asked(&shop.world, &shop.order).await;
    assert_eq!(
        (&first["proven"], &first["amount"], &first["destination"]),
        (&json!(false), &json!("5"), &json!(own)),
        "{first}"
    );
    shop.snap("refund-asked-unproven").await;

    let console = operator(&shop.world, "widget-refund-unproven").await;
    let facts = {
        console
            .goto(&format!(
                "/console/refunds/{}",
                first["id"].as_str().unwrap()
            ))
            .await;
        console.text("dl.facts").await
    };
    assert!(facts.contains("first@shopper.example"), "{facts}");
    let reason = "<b>Not yours</b>: the exchange says this withdrawal & its address differ.";
    refuse(&console, first["id"].as_str().unwrap(), reason).await;
    shop.refund_says("Refused. The merchant says:").await;
    shop.wait_for(".usdt-checkout__refund-reason", reason).await;
    let markup = shop
        .browser
        .script(
            "return document.querySelector('usdt-checkout').shadowRoot
               .querySelector('.usdt-checkout__refund-reason').children.length;",
            vec![],
        )
        .await;
    assert_eq!(markup, 0, "the reason is text, never markup");
    shop.snap("refund-refused").await;

    // Asked again: the form open again with the address typed, no email this time.
    shop.wait_for(
        ".usdt-checkout__refund-offer",
        "You can ask for 5 USDT back",
    )
    .await;
    let kept = shop
        .browser
        .script(
            "return document.querySelector('usdt-checkout').shadowRoot
               .querySelector('input[name=destination]').value;",
            vec![],
        )
        .await;
    assert_eq!(kept, own.as_str(), "the address typed is kept");
    shop.tab_to("Ask without signing", |f| {
        f["tag"] == "button" && f["text"] == "Ask without signing"
    })
    .await;
    shop.browser.press(&[keys::ENTER]).await;
    let second = eventually("the second request", WAIT, || async {
        let refund = asked(&shop.world, &shop.order).await;
        (refund["id"] != first["id"]).then_some(refund)
    })
    .await;
    assert_eq!(second["destination"], own.as_str(), "{second}");
    let id = second["id"].as_str().unwrap().to_owned();
    approve(&console, &id).await;
    shop.refund_says("Approved. The merchant is sending it.")
        .await;
    console
        .browser
        .click_on(
            &Scope::Page,
            "form[action$='/sandbox-pay'] button",
            "Pay from the sandbox's test account",
        )
        .await;
    mined_until_sent(&shop.world, &shop.order, &id, || shop.mine()).await;
    shop.refund_says("Sent on Local chain").await;
    shop.snap_everywhere("refund-sent").await;
    let said = shop.announced().await;
    assert!(
        said.iter()
            .any(|s| s.contains("Refused.") && s.contains("Not yours")),
        "the refusal said politely, with its reason: {said:?}"
    );
    shop.console_is_clean().await;
}

/// The order's amount sent on the other chain (the wrong network) by the sandbox's test payer.
/// The widget names it and offers all of it back, on that chain: the shopper's wallet, holding
/// the paying account, signs for it, the operator approves, and the merchant pays it with a
/// plain transfer of that chain's USDT (18 decimals); the widget says it is sent on Local BNB
/// chain.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_payment_on_the_wrong_network_is_refunded_on_that_network() {
    let mut shop = two_chain_shop("refund-wrong-network").await;
    shop.start_payment().await;
    shop.pay(json!({"chainId": 31338})).await;
    shop.wait_for(".usdt-checkout__note", "arrived on Local BNB chain")
        .await;
    shop.wait_for(".usdt-checkout__refunds", "Ask for a refund")
        .await;
    let offered = shoppers_refunds(&shop.world, &shop.order).await;
    let refundable = &offered["refundable"][0];
    assert_eq!(refundable["chainId"], 31338, "{offered}");
    assert_eq!(refundable["max"], TEE_IN_USDT, "{offered}");
    let payer: Address = refundable["from"].as_str().unwrap().parse().unwrap();
    // The shopper's wallet holds the account that paid.
    shop.browser
        .script(
            "window.walletAccount = arguments[0];",
            vec![json!(payer.to_string())],
        )
        .await;
    shop.open_refund_form().await;
    let offer = shop.text(".usdt-checkout__refund-offer").await;
    assert!(
        offer.contains(&format!("{TEE_IN_USDT} USDT back, sent on Local BNB chain")),
        "{offer}"
    );
    shop.snap("wrong-network-refundable").await;
    shop.click_on(
        ".usdt-checkout__refund-sign",
        "Sign and ask with Test Wallet",
    )
    .await;
    shop.refund_says("Asked. The merchant will decide.").await;
    let source = refundable["sourceTx"].as_str().unwrap();
    let message = refund_message(
        &shop.order,
        source,
        ChainId(31338),
        TEE_IN_USDT,
        "USDT",
        &payer,
    );
    assert_eq!(shop.signed().await, vec![(message, payer.to_string())]);
    let refund = asked(&shop.world, &shop.order).await;
    assert_eq!(
        (&refund["chainId"], &refund["proven"]),
        (&json!(31338), &json!(true)),
        "{refund}"
    );
    let id = refund["id"].as_str().unwrap().to_owned();

    let console = operator(&shop.world, "widget-refund-wrong-network").await;
    approve(&console, &id).await;
    shop.refund_says("Approved.").await;
    // The merchant's wallet pays on the chain the money came on, in its token.
    let second = shop.world.second_anvil.as_ref().unwrap().rpc_url.clone();
    let chain = ChainClient::connect(&second).unwrap();
    let tx: TxHash = source.parse().unwrap();
    let TxLookup::Mined(transfers) = chain.lookup(&tx).await.unwrap() else {
        panic!("the wrong-network payment is mined");
    };
    let token = transfers[0].token;
    Wallet::on(&second, 4)
        .await
        .send(token, payer, 24_995_001 * 10u128.pow(12))
        .await;
    mined_until_sent(&shop.world, &shop.order, &id, || shop.mine_on(31338)).await;
    shop.refund_says("Sent on Local BNB chain").await;
    shop.status("Waiting for your payment").await;
    shop.snap_everywhere("wrong-network-refund-sent").await;
    shop.console_is_clean().await;
}
