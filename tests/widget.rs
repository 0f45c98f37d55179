//! The widget in a real browser (headless Chromium, through wasm-bindgen-test-runner).
#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use usdt_checkout::client::{Failure, Refusal};
use usdt_checkout::components::wallet_pay::{WalletState, wallet_status};
use usdt_checkout::components::{
    Payment, PaymentProps, Screen, claim_form, connection_notice, screen, status_text,
};
use usdt_checkout::i18n::{Locale, Strings};
use usdt_checkout::model::{Claim, Model, Notice, Phase, RefundProblem, Refunds, Review};
use usdt_checkout::options::{Purchase, Settings, Theme};
use usdt_checkout::refusal;
use usdt_checkout::wallet::{Wallet, WalletError};
use usdt_checkout_protocol::checkout::{
    ApiError, CheckoutState, CheckoutView, ClaimRequest, CreateCheckout, ErrorCode, GatewayHealth,
    PaymentView, Price, TransactionView,
};
use usdt_checkout_protocol::gateway::{Cryptocurrency, ExchangeRate, Listed, Network, describe};
use usdt_checkout_protocol::{ChainId, ChainRegistry, OrderStatus, TransferRequest};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

fn host() -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let host = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&host).unwrap();
    host
}

/// Yew renders on the event loop: give it a turn before reading the DOM.
async fn rendered() {
    TimeoutFuture::new(0).await;
}

/// The element `selector` finds once effects have rendered it (wallet discovery answers on a
/// later turn of the event loop than the first render); panics naming `what` if it never does.
async fn appears(host: &web_sys::Element, selector: &str, what: &str) -> web_sys::Element {
    for _ in 0..200 {
        if let Some(found) = host.query_selector(selector).unwrap() {
            return found;
        }
        TimeoutFuture::new(10).await;
    }
    panic!("{what} never appeared")
}

fn options(json: &str) -> wasm_bindgen::JsValue {
    js_sys::JSON::parse(json).unwrap()
}

fn text(host: &web_sys::Element) -> String {
    host.text_content().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn mounts_into_a_host_element_and_unmounts_cleanly() {
    let host = host();
    let mut handle = usdt_checkout::mount(
        host.clone(),
        options(r#"{"merchantUrl": "http://127.0.0.1:9", "item": "tee", "locale": "en"}"#),
    )
    .unwrap();
    rendered().await;
    let status = host
        .query_selector("[role=status]")
        .unwrap()
        .expect("a status region");
    assert_eq!(status.get_attribute("aria-live").as_deref(), Some("polite"));
    assert!(text(&host).contains("Loading"), "{}", text(&host));

    handle.unmount();
    rendered().await;
    assert_eq!(
        host.child_element_count(),
        0,
        "unmount leaves the host empty"
    );
    host.remove();
}

#[wasm_bindgen_test]
async fn bad_options_fail_loudly_and_render_nothing() {
    let host = host();
    let result = usdt_checkout::mount(
        host.clone(),
        options(r#"{"merchantUrl": "ftp://x", "theme": "neon"}"#),
    );
    let error = result.err().expect("mount refuses");
    let message = js_sys::Error::from(error).message().as_string().unwrap();
    assert!(
        message.contains("merchantUrl") && message.contains("theme"),
        "{message}"
    );
    assert_eq!(host.child_element_count(), 0);
    host.remove();
}

#[wasm_bindgen_test]
fn options_with_unknown_names_or_wrong_types_are_refused_by_name() {
    let host = host();
    let error = usdt_checkout::mount(
        host.clone(),
        options(r#"{"merchantURL": "https://shop.example", "item": "tee", "chains": "1,56"}"#),
    )
    .err()
    .expect("mount refuses");
    let message = js_sys::Error::from(error).message().as_string().unwrap();
    assert!(
        message.contains("unknown option \"merchantURL\""),
        "{message}"
    );
    assert!(message.contains("chains must be an array"), "{message}");
    assert!(message.contains("merchantUrl is required"), "{message}");
    assert_eq!(host.child_element_count(), 0);
    host.remove();
}

/// The widget reads the servers' JSON, as the browser parses it, into the protocol crate's own
/// types: a view by hand (usdt_checkout::view::read), exactly what the servers write and what
/// the protocol's serde reader reads (through serde-wasm-bindgen), for every shape a view takes.
#[wasm_bindgen_test]
fn the_widget_reads_every_view_exactly_as_the_servers_write_it() {
    fn round_trip_view(value: &CheckoutView) {
        round_trip(value);
        let json = serde_json::to_string(value).unwrap();
        let read = usdt_checkout::view::read(&js_sys::JSON::parse(&json).unwrap());
        assert_eq!(read.as_ref(), Some(value), "{json}");
    }
    fn round_trip<T>(value: &T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        // As the servers write it, as the browser parses it, as the widget reads it.
        let json = serde_json::to_string(value).unwrap();
        let parsed = js_sys::JSON::parse(&json).unwrap();
        let read: T =
            serde_wasm_bindgen::from_value(parsed).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(&read, value, "{json}");
    }
    for state in OrderStatus::ALL {
        let mut view = view(state);
        round_trip_view(&view);
        view.refundable = true;
        round_trip_view(&view);
        if let Some(payment) = &mut view.payment {
            payment.unmatched.push(TransactionView {
                hash: "0x01".into(),
                explorer_url: None,
                amount: Some("10".into()),
                network: None,
            });
            payment.unmatched.push(TransactionView {
                hash: "0x02".into(),
                explorer_url: Some("https://bscscan.com/tx/0x02".into()),
                amount: Some("10.5".into()),
                network: Some("BNB Smart Chain".into()),
            });
        }
        round_trip_view(&view);
        view.gateway = GatewayHealth::RateLimited {
            until: 1_800_000_000_000,
        };
        view.expires_at = None;
        round_trip_view(&view);
        view.gateway = GatewayHealth::Blocked { until: 7 };
        view.payment = None;
        view.state = CheckoutState::OPEN;
        round_trip_view(&view);
        view.gateway = GatewayHealth::Unreachable { since: 9 };
        round_trip_view(&view);
    }
    // Errors are read by hand (client::Refusal), each field as the protocol's type writes it.
    for error in [
        ApiError {
            code: ErrorCode::TooManyCheckouts,
            message: "too many checkouts asked for from this address".into(),
            retry_after: Some(3),
            params: Default::default(),
        },
        ApiError {
            code: ErrorCode::TxAmountDiffers,
            message: "The transaction sent more than the order asks".into(),
            retry_after: None,
            params: [("sent", "30"), ("asked", "24.995001"), ("symbol", "USDT")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        },
    ] {
        let json = serde_json::to_string(&error).unwrap();
        let read = Refusal::read(&js_sys::JSON::parse(&json).unwrap()).expect(&json);
        assert_eq!(read.code, error.code, "{json}");
        assert_eq!(read.retry_after, error.retry_after, "{json}");
        let params: std::collections::BTreeMap<String, String> = read.params.into_iter().collect();
        assert_eq!(params, error.params, "{json}");
    }
    assert!(
        Refusal::read(&js_sys::JSON::parse(r#"{"error": "not found"}"#).unwrap()).is_none(),
        "not an ApiError"
    );
    let newer = r#"{"code": "coupon_expired", "message": "that coupon expired"}"#;
    assert_eq!(
        Refusal::read(&js_sys::JSON::parse(newer).unwrap()).map(|r| r.code),
        Some(ErrorCode::Unknown),
        "a newer server's code is read, as one this widget does not know"
    );
    let contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        .parse()
        .unwrap();
    round_trip(&vec![Network {
        chain_id: ChainId(31337),
        name: "Local".into(),
        explorer_url: None,
        required_confirmations: 2,
    }]);
    round_trip(&vec![Cryptocurrency {
        chain_id: ChainId(56),
        symbol: "USDT".into(),
        contract,
        decimals: 18,
    }]);
    round_trip(&vec![ExchangeRate {
        base: "USDT".into(),
        quote: "USD".into(),
        rate: "1.0002".into(),
        update_time: 1_800_000_000_000,
    }]);

    // Views as other servers may write them, and what is not a view (a wrong type, a missing
    // field, a number that is not a whole one): the hand reader gives serde's answer for each.
    let mut written = view(OrderStatus::PartiallyPaid);
    if let Some(payment) = &mut written.payment {
        payment.unmatched.push(TransactionView {
            hash: "0x03".into(),
            explorer_url: None,
            amount: None,
            network: Some("Polygon".into()),
        });
    }
    let written = serde_json::to_value(&written).unwrap();
    let edits: &[(&str, &[&str], serde_json::Value)] = &[
        ("a version of 1.5", &["version"], serde_json::json!(1.5)),
        ("a negative version", &["version"], serde_json::json!(-3)),
        ("a version as text", &["version"], serde_json::json!("2")),
        (
            "an address of two bytes",
            &["payment", "toAddress"],
            serde_json::json!("0x1234"),
        ),
        (
            "a contract as a number",
            &["payment", "tokenContract"],
            serde_json::json!(7),
        ),
        (
            "decimals past a byte",
            &["payment", "decimals"],
            serde_json::json!(256),
        ),
        (
            "decimals of 18",
            &["payment", "decimals"],
            serde_json::json!(18),
        ),
        (
            "no confirmations yet",
            &["payment", "confirmations"],
            serde_json::Value::Null,
        ),
        (
            "3 confirmations",
            &["payment", "confirmations"],
            serde_json::json!(3),
        ),
        (
            "confirmations negative",
            &["payment", "confirmations"],
            serde_json::json!(-1),
        ),
        (
            "confirmations as text",
            &["payment", "confirmations"],
            serde_json::json!("1"),
        ),
        ("no payment", &["payment"], serde_json::Value::Null),
        (
            "a payment that is text",
            &["payment"],
            serde_json::json!("x"),
        ),
        (
            "unmatched null",
            &["payment", "unmatched"],
            serde_json::Value::Null,
        ),
        (
            "transactions null",
            &["payment", "transactions"],
            serde_json::Value::Null,
        ),
        (
            "a transaction of a number",
            &["payment", "transactions"],
            serde_json::json!([1]),
        ),
        (
            "an explorer url of a number",
            &["payment", "unmatched"],
            serde_json::json!([{"hash": "0x1", "explorerUrl": 2}]),
        ),
        (
            "a transaction without its hash",
            &["payment", "unmatched"],
            serde_json::json!([{"amount": "1"}]),
        ),
        (
            "a chain id as text",
            &["payment", "chainId"],
            serde_json::json!("1"),
        ),
        (
            "a chain id past 2^53",
            &["payment", "chainId"],
            serde_json::json!(9_007_199_254_740_993u64),
        ),
        (
            "an unknown state",
            &["state"],
            serde_json::json!("refunded_twice"),
        ),
        ("open", &["state"], serde_json::json!("open")),
        (
            "a price without currency",
            &["price"],
            serde_json::json!({"amount": "1"}),
        ),
        (
            "rate limited without until",
            &["gateway"],
            serde_json::json!({"state": "rate_limited", "since": 4}),
        ),
        (
            "blocked until 5",
            &["gateway"],
            serde_json::json!({"state": "blocked", "until": 5}),
        ),
        (
            "available with a time",
            &["gateway"],
            serde_json::json!({"state": "available", "until": 5}),
        ),
        (
            "an unknown gateway state",
            &["gateway"],
            serde_json::json!({"state": "asleep"}),
        ),
        ("no expiry", &["expiresAt"], serde_json::Value::Null),
        ("an expiry of 1.5", &["expiresAt"], serde_json::json!(1.5)),
        (
            "a server time as text",
            &["serverTime"],
            serde_json::json!("1"),
        ),
        (
            "refundable as text",
            &["refundable"],
            serde_json::json!("true"),
        ),
        (
            "a field this widget does not know",
            &["refund"],
            serde_json::json!({"amount": "1"}),
        ),
        (
            "a description of a number",
            &["description"],
            serde_json::json!(4),
        ),
    ];
    let mut valid = 0;
    for (what, path, value) in edits {
        let mut edited = written.clone();
        let (last, parents) = path.split_last().unwrap();
        let mut object = &mut edited;
        for name in parents {
            object = &mut object[*name];
        }
        object[*last] = value.clone();
        // Absent, as well as null or another value, for each field named.
        let mut removed = written.clone();
        let mut object = &mut removed;
        for name in parents {
            object = &mut object[*name];
        }
        object.as_object_mut().unwrap().remove(*last);
        for json in [edited, removed] {
            let parsed = js_sys::JSON::parse(&json.to_string()).unwrap();
            let by_serde = serde_wasm_bindgen::from_value::<CheckoutView>(parsed.clone()).ok();
            valid += usize::from(by_serde.is_some());
            assert_eq!(
                usdt_checkout::view::read(&parsed),
                by_serde,
                "{what}: {json}"
            );
        }
    }
    assert!(
        valid >= 10,
        "the edits include views that are valid ({valid})"
    );
    assert_eq!(
        usdt_checkout::view::read(&js_sys::JSON::parse("[1]").unwrap()),
        None,
        "not an object"
    );

    // And what it sends is what the server reads, as the server writes it.
    for (item, checkout_id) in [(Some("tee"), None), (None, Some("co_storefront"))] {
        let request = CreateCheckout {
            item: item.map(Into::into),
            checkout_id: checkout_id.map(Into::into),
            chain_id: ChainId(31337),
            symbol: "USDT".into(),
            idempotency_key: "k-123456".into(),
        };
        let body = usdt_checkout::client::create_body(&request).unwrap();
        let read: CreateCheckout = serde_json::from_str(&body).unwrap();
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::to_value(&request).unwrap(),
            "{body}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::to_value(&request).unwrap(),
            "{body}"
        );
    }
    for signature in [None, Some(format!("0x{}", "5a".repeat(65)))] {
        let request = ClaimRequest {
            tx_hash: format!("0x{}", "ab".repeat(32)),
            signature,
        };
        let body =
            usdt_checkout::client::claim_body(&request.tx_hash, request.signature.as_deref())
                .unwrap();
        assert_eq!(
            serde_json::from_str::<ClaimRequest>(&body).unwrap(),
            request,
            "{body}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::to_value(&request).unwrap(),
            "{body}"
        );
    }
}

/// The gateway's public lists are read by hand (client::listed): each entry's `chainId` and
/// `symbol` the same as the protocol's `Listed` reads them with serde, whatever else the entry
/// holds, and a list that is no array refused by both.
#[wasm_bindgen_test]
fn the_gateway_lists_read_as_the_protocol_reads_them() {
    let contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let lists = [
        r#"[{"chainId": 1, "name": "Ethereum", "explorerUrl": "https://etherscan.io", "requiredConfirmations": 12}]"#.to_string(),
        r#"[{"chainId": "56"}, {"chainId": "0x7a69", "name": "Local", "explorerUrl": null, "extra": true}]"#.to_string(),
        format!(r#"[{{"chainId": 31337, "symbol": "USDT", "contract": "{contract}", "decimals": 6}}]"#),
        r#"[{"chainId": "31337", "symbol": "USDT"}, {"chainId": "TRON", "symbol": "USDT"}]"#.to_string(),
        r#"[]"#.to_string(),
        // Entries that say nothing (or not a chain id) are read, to be skipped when described.
        r#"[{"chainId": 0}, {"chainId": "0x"}, {"chainId": 1.5}, {"chainId": -1}, {"chainId": "1e3"}]"#.to_string(),
        r#"[{}, 5, "USDT", null, [1], {"chainId": {"id": 1}, "symbol": 7}]"#.to_string(),
        r#"[{"chainId": 9007199254740991}, {"chainId": 9007199254740992}, {"chainId": null, "symbol": null}]"#.to_string(),
        // Refused by both: no array.
        r#"{"chainId": 1}"#.to_string(),
        r#""networks""#.to_string(),
    ];
    for json in &lists {
        let parsed = js_sys::JSON::parse(json).unwrap();
        assert_eq!(
            usdt_checkout::client::listed(&parsed),
            serde_json::from_str::<Vec<Listed>>(json).ok(),
            "{json}"
        );
    }
}

/// The chooser offers what the built-in registry describes of the gateway's lists, as the
/// checkout server does with the same rule: a gateway listing only chain ids and symbols is
/// offered with the registry's names; a chain or token the registry cannot describe is left out
/// (said on the console), never an error.
#[wasm_bindgen_test]
fn the_offer_is_described_from_the_registry() {
    let read =
        |json: &str| usdt_checkout::client::listed(&js_sys::JSON::parse(json).unwrap()).unwrap();
    let networks = read(
        r#"[{"chainId": "31338"}, {"chainId": 1}, {"chainId": "5"}, {"chainId": "TRON"}, {"chainId": "1"}]"#,
    );
    let tokens = read(
        r#"[{"chainId": "31338", "symbol": "USDT"}, {"chainId": 1, "symbol": "USDT"},
            {"chainId": "1", "symbol": "DAI"}, {"chainId": "5", "symbol": "USDT"}, {"chainId": 1}]"#,
    );
    let offer = usdt_checkout::client::described(&networks, &tokens);
    let chains: Vec<(u64, &str)> = offer
        .networks
        .iter()
        .map(|n| (n.chain_id.0, n.name.as_str()))
        .collect();
    assert_eq!(chains, [(31338, "Local BNB chain"), (1, "Ethereum")]);
    let tokens: Vec<(u64, &str, u8)> = offer
        .tokens
        .iter()
        .map(|t| (t.chain_id.0, t.symbol.as_str(), t.decimals))
        .collect();
    assert_eq!(tokens, [(31338, "USDT", 18), (1, "USDT", 6)]);
    let known =
        read(r#"[{"chainId": "31338", "symbol": "USDT"}, {"chainId": 1, "symbol": "USDT"}]"#);
    let registry = ChainRegistry::builtin();
    assert_eq!(
        offer,
        usdt_checkout::client::Offer {
            networks: describe(&networks, &[], &registry).networks,
            tokens: describe(&[], &known, &registry).tokens,
        },
        "the protocol's rule, with the built-in registry"
    );
}

fn view(state: OrderStatus) -> CheckoutView {
    let token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        .parse()
        .unwrap();
    let to = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        .parse()
        .unwrap();
    let partial = state == OrderStatus::PartiallyPaid;
    let full = TransferRequest {
        chain: ChainId::ETHEREUM,
        token,
        to,
        atomic_units: 24_995_001,
    };
    let settled = matches!(state, OrderStatus::Paid | OrderStatus::PaidLate);
    CheckoutView {
        id: "co_test".into(),
        state: CheckoutState::Order(state),
        description: "T-shirt".into(),
        price: Price {
            amount: "25.00".into(),
            currency: "USD".into(),
        },
        payment: Some(PaymentView {
            chain_id: ChainId::ETHEREUM,
            network: "Ethereum".into(),
            symbol: "USDT".into(),
            token_contract: token,
            decimals: 6,
            amount: "24.995001".into(),
            amount_atomic: "24995001".into(),
            to_address: to,
            // As the server writes them: for the full amount.
            payment_uri: full.eip681(),
            metamask_link: full.metamask_link(),
            cashier_url: String::new(),
            order_no: "co_test".into(),
            paid: if settled {
                "24.995001"
            } else if partial {
                "10"
            } else {
                "0"
            }
            .into(),
            paid_atomic: String::new(),
            remaining: if partial {
                "14.995001"
            } else if settled {
                "0"
            } else {
                "24.995001"
            }
            .into(),
            remaining_atomic: if partial { "14995001" } else { "24995001" }.into(),
            overpaid: "0".into(),
            confirmations: (state == OrderStatus::Confirming).then_some(1),
            required_confirmations: 2,
            transactions: if settled || partial {
                vec![TransactionView {
                    hash: "0xabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
                        .into(),
                    explorer_url: Some("https://etherscan.io/tx/0xabcdef".into()),
                    amount: None,
                    network: None,
                }]
            } else {
                vec![]
            },
            unmatched: vec![],
        }),
        gateway: GatewayHealth::Available,
        expires_at: Some(js_sys::Date::now() as u64 + 600_000),
        server_time: js_sys::Date::now() as u64,
        version: 1,
        refundable: false,
    }
}

async fn render_payment(state: OrderStatus) -> (web_sys::Element, String) {
    render_payment_resumed(state, false).await
}

/// [`render_payment`], `resumed` after a reload or not.
async fn render_payment_resumed(state: OrderStatus, resumed: bool) -> (web_sys::Element, String) {
    render_view(view(state), resumed).await
}

/// The payment panel of `view`, and its status line.
async fn render_view(view: CheckoutView, resumed: bool) -> (web_sys::Element, String) {
    let host = host();
    let status = status_text(Strings::ENGLISH, &view);
    let props = PaymentProps {
        strings: Strings::ENGLISH,
        view: view.into(),
        clock: Default::default(),
        resumed,
        merchant_url: "http://shop.test".into(),
        on_start_again: Callback::noop(),
    };
    yew::Renderer::<Payment>::with_root_and_props(host.clone(), props).render();
    rendered().await;
    (host, status)
}

#[wasm_bindgen_test]
async fn waiting_shows_the_qr_the_exact_amount_the_address_and_the_time_left() {
    let (host, status) = render_payment(OrderStatus::Waiting).await;
    assert_eq!(status, "Waiting for your payment");
    let qr = host
        .query_selector("figure[role=img]")
        .unwrap()
        .expect("a QR code");
    assert!(
        qr.get_attribute("aria-label")
            .unwrap()
            .contains("24.995001 USDT on Ethereum")
    );
    assert!(qr.query_selector("svg path").unwrap().is_some());
    let page = text(&host);
    assert!(page.contains("24.995001 USDT"), "{page}");
    assert!(page.contains("≈ 25.00 USD"), "{page}");
    assert!(page.contains("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"));
    assert!(
        page.contains("Time left: 9:59") || page.contains("Time left: 10:00"),
        "{page}"
    );
    let link = host
        .query_selector("a.usdt-checkout__deeplink")
        .unwrap()
        .unwrap();
    let href = link.get_attribute("href").unwrap();
    assert!(
        href.starts_with("https://link.metamask.io/send/") && href.ends_with("&uint256=24995001"),
        "{href}"
    );
    let copies = host.query_selector_all("button[aria-label]").unwrap();
    assert_eq!(copies.length(), 2, "copy amount and copy address");
    host.remove();
}

#[wasm_bindgen_test]
async fn partially_paid_asks_for_the_rest_with_its_own_qr() {
    let (host, status) = render_payment(OrderStatus::PartiallyPaid).await;
    assert_eq!(status, "Partly paid. 14.995001 USDT still to pay.");
    let page = text(&host);
    assert!(
        page.contains("Send the rest") && page.contains("14.995001 USDT"),
        "{page}"
    );
    let qr = host.query_selector("figure[role=img]").unwrap().unwrap();
    assert!(
        qr.get_attribute("aria-label")
            .unwrap()
            .contains("14.995001")
    );
    let link = host
        .query_selector("a.usdt-checkout__deeplink")
        .unwrap()
        .unwrap()
        .get_attribute("href")
        .unwrap();
    assert!(
        link.starts_with("https://link.metamask.io/send/") && link.ends_with("&uint256=14995001"),
        "the wallet link asks for the rest: {link}"
    );
    host.remove();
}

#[wasm_bindgen_test]
async fn confirming_paid_expired_paid_late_and_failed_each_have_their_screen() {
    let (host, status) = render_payment(OrderStatus::Confirming).await;
    assert_eq!(status, "Payment received. Confirming (1 of 2)…");
    for gone in [
        "figure",
        ".usdt-checkout__countdown",
        ".usdt-checkout__facts",
        "a.usdt-checkout__deeplink",
        "button",
    ] {
        assert!(
            host.query_selector(gone).unwrap().is_none(),
            "nothing asks for money while confirming: {gone}"
        );
    }
    let receipt = host
        .query_selector(".usdt-checkout__receipt")
        .unwrap()
        .expect("what was received");
    let receipt = receipt.text_content().unwrap();
    assert!(
        receipt.contains("co_test") && receipt.contains("USDT"),
        "{receipt}"
    );
    host.remove();

    let (host, status) = render_payment(OrderStatus::Paid).await;
    assert_eq!(status, "Paid. Thank you!");
    assert!(
        host.query_selector("figure").unwrap().is_none(),
        "no QR once paid"
    );
    let receipt = host
        .query_selector(".usdt-checkout__receipt")
        .unwrap()
        .expect("a receipt");
    assert!(receipt.text_content().unwrap().contains("co_test"));
    let explorer = receipt.query_selector("a").unwrap().unwrap();
    assert_eq!(
        explorer.get_attribute("href").as_deref(),
        Some("https://etherscan.io/tx/0xabcdef")
    );
    host.remove();

    let (host, status) = render_payment(OrderStatus::Expired).await;
    assert!(status.contains("expired"));
    let again = host.query_selector("button").unwrap().unwrap();
    assert_eq!(again.text_content().as_deref(), Some("Start again"));
    host.remove();

    let (host, status) = render_payment(OrderStatus::PaidLate).await;
    assert!(status.contains("after the time ran out"));
    assert!(
        host.query_selector(".usdt-checkout__receipt")
            .unwrap()
            .is_some()
    );
    host.remove();

    let (host, status) = render_payment(OrderStatus::Failed).await;
    assert_eq!(status, "This payment was cancelled.");
    assert!(
        host.query_selector("button").unwrap().is_some(),
        "start again"
    );
    host.remove();
}

#[wasm_bindgen_test]
async fn once_paid_the_receipt_can_be_downloaded_and_printed() {
    for state in [OrderStatus::Paid, OrderStatus::PaidLate] {
        let (host, _) = render_payment(state).await;
        let link = host
            .query_selector("a.usdt-checkout__download")
            .unwrap()
            .expect("the receipt to download");
        assert_eq!(
            link.get_attribute("href").as_deref(),
            Some("http://shop.test/api/checkouts/co_test/receipt"),
            "{state}"
        );
        assert_eq!(link.get_attribute("download").as_deref(), Some(""));
        assert_eq!(link.text_content().as_deref(), Some("Download receipt"));
        let print = host
            .query_selector("button.usdt-checkout__print")
            .unwrap()
            .expect("a print button");
        assert_eq!(print.get_attribute("type").as_deref(), Some("button"));
        assert_eq!(print.text_content().as_deref(), Some("Print"));
        host.remove();
    }
    use OrderStatus::*;
    for state in [Waiting, PartiallyPaid, Confirming, Expired, Failed] {
        let (host, _) = render_payment(state).await;
        assert!(
            host.query_selector(".usdt-checkout__download, .usdt-checkout__print")
                .unwrap()
                .is_none(),
            "no receipt to keep yet: {state}"
        );
        host.remove();
    }
}

#[wasm_bindgen_test]
async fn a_payment_resumed_after_a_reload_offers_to_start_again_until_money_arrives() {
    let (host, _) = render_payment_resumed(OrderStatus::Waiting, true).await;
    assert!(host.query_selector("figure[role=img]").unwrap().is_some());
    let again = host
        .query_selector("button.usdt-checkout__primary")
        .unwrap()
        .expect("start again");
    assert_eq!(again.text_content().as_deref(), Some("Start again"));
    host.remove();

    let (host, _) = render_payment(OrderStatus::Waiting).await;
    assert!(
        !text(&host).contains("Start again"),
        "not offered on a payment started here"
    );
    host.remove();

    let (host, _) = render_payment_resumed(OrderStatus::PartiallyPaid, true).await;
    assert!(
        !text(&host).contains("Start again"),
        "not once part is paid"
    );
    host.remove();
}

#[wasm_bindgen_test]
async fn a_transfer_on_another_network_has_its_own_note_beside_the_same_network_one() {
    for state in [OrderStatus::Waiting, OrderStatus::Expired] {
        let mut view = view(state);
        view.payment.as_mut().unwrap().unmatched = vec![
            TransactionView {
                hash: format!("0x{}", "11".repeat(32)),
                explorer_url: Some("https://etherscan.io/tx/0x11".into()),
                amount: Some("5".into()),
                network: None,
            },
            TransactionView {
                hash: format!("0x{}", "22".repeat(32)),
                explorer_url: Some("https://bscscan.com/tx/0x22".into()),
                amount: Some("1234.5".into()),
                network: Some("BNB Smart Chain".into()),
            },
        ];
        let (host, _) = render_view(view, false).await;
        let notes = host.query_selector_all(".usdt-checkout__note").unwrap();
        assert_eq!(notes.length(), 2, "{state}: one note per transfer");
        let wrong = host
            .query_selector(".usdt-checkout__note.usdt-checkout__wrong-network")
            .unwrap()
            .expect("the wrong network's note");
        let said = wrong.text_content().unwrap();
        assert!(
            said.starts_with(
                "1,234.5 USDT arrived on BNB Smart Chain, but this order asked for Ethereum, so it is not counted."
            ),
            "{state}: {said}"
        );
        assert!(said.contains("0x2222…2222"), "its transaction: {said}");
        let link = wrong.query_selector("a").unwrap().unwrap();
        assert_eq!(
            link.get_attribute("href").as_deref(),
            Some("https://bscscan.com/tx/0x22"),
            "on its own chain's explorer"
        );
        let same = host
            .query_selector(".usdt-checkout__note:not(.usdt-checkout__wrong-network)")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap();
        assert!(
            same.starts_with("5 USDT arrived at this address but is not this order's amount")
                && same.contains("0x1111…1111")
                && !same.contains("BNB"),
            "{state}: {same}"
        );
        host.remove();
    }
    let (host, _) = render_view(
        {
            let mut paid = view(OrderStatus::Paid);
            paid.payment.as_mut().unwrap().unmatched = vec![TransactionView {
                hash: format!("0x{}", "22".repeat(32)),
                explorer_url: None,
                amount: Some("1".into()),
                network: Some("BNB Smart Chain".into()),
            }];
            paid
        },
        false,
    )
    .await;
    assert!(
        host.query_selector(".usdt-checkout__wrong-network")
            .unwrap()
            .is_none(),
        "not once paid"
    );
    host.remove();
}

/// Where the server offers a refund, the form is below the notes: they point there rather than
/// to the merchant, and say to contact the merchant only where nothing is refundable (the
/// unmatched one still does, for a transfer the refunds do not list).
#[wasm_bindgen_test]
async fn the_notes_point_to_the_refunds_below_only_when_money_is_refundable() {
    for (state, refundable) in [
        (OrderStatus::Expired, false),
        (OrderStatus::Expired, true),
        (OrderStatus::Failed, false),
        (OrderStatus::Failed, true),
    ] {
        let mut view = view(state);
        view.refundable = refundable;
        let payment = view.payment.as_mut().unwrap();
        payment.overpaid = "2".into();
        payment.unmatched = vec![
            TransactionView {
                hash: format!("0x{}", "11".repeat(32)),
                explorer_url: None,
                amount: Some("5".into()),
                network: None,
            },
            TransactionView {
                hash: format!("0x{}", "22".repeat(32)),
                explorer_url: None,
                amount: Some("7".into()),
                network: Some("BNB Smart Chain".into()),
            },
        ];
        let (host, status) = render_view(view, false).await;
        let notes = host.query_selector_all(".usdt-checkout__note").unwrap();
        let mut said = Vec::new();
        for i in 0..notes.length() {
            said.push(notes.get(i).unwrap().text_content().unwrap());
        }
        let has = |text: &str| said.iter().any(|note| note.contains(text));
        let case = format!("{state}, refundable {refundable}: {status} {said:?}");
        assert_eq!(
            has("USDT more than needed. You can ask for it back below."),
            refundable,
            "{case}"
        );
        assert_eq!(has("The merchant can refund it."), !refundable, "{case}");
        assert_eq!(
            status.ends_with("You can ask for what you sent back below."),
            refundable,
            "{case}"
        );
        if state == OrderStatus::Expired {
            assert_eq!(
                has(
                    "If you sent it, you can ask for it back under Refunds below. The transaction: 0x2222…2222"
                ),
                refundable,
                "{case}"
            );
            assert_eq!(
                has(
                    "If you sent it and it is listed below, you can ask for it back there; if not, contact the merchant with the transaction: 0x1111…1111"
                ),
                refundable,
                "{case}"
            );
            assert_eq!(
                said.iter()
                    .filter(|note| note.contains("If you sent it, contact the merchant"))
                    .count(),
                if refundable { 0 } else { 2 },
                "{case}"
            );
        }
        host.remove();
    }
}

/// A refusal of a claim as the client reads one: `code` and its `params`.
fn refused(code: ErrorCode, params: &[(&str, &str)]) -> Failure {
    Failure::Refused {
        status: 422,
        code,
        retry_after: None,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[wasm_bindgen_test]
fn every_refusal_of_a_claim_is_said_in_the_shoppers_words_with_what_it_names() {
    use std::time::Duration;
    let amount_differs = refused(
        ErrorCode::TxAmountDiffers,
        &[
            ("sent", "1234.5"),
            ("asked", "24.995001"),
            ("difference", "1209.504999"),
            ("symbol", "USDT"),
        ],
    );
    let mut too_many = refused(ErrorCode::TooManyClaims, &[]);
    if let Failure::Refused { retry_after, .. } = &mut too_many {
        *retry_after = Some(Duration::from_secs(12));
    }
    for (failure, said) in [
        (
            refused(ErrorCode::TxHashInvalid, &[]),
            "That is not a transaction hash. It starts with 0x and has 64 more characters.",
        ),
        (
            refused(
                ErrorCode::TxNotFound,
                &[("networks", "Ethereum, BNB Smart Chain")],
            ),
            "No transaction with this hash on Ethereum, BNB Smart Chain. Check it, or try again in a minute if you just sent it.",
        ),
        (
            refused(ErrorCode::TxNotMined, &[]),
            "This transaction is not mined yet. Try again in a minute.",
        ),
        (
            refused(ErrorCode::TxFailed, &[]),
            "This transaction failed on chain, so nothing was sent.",
        ),
        (
            refused(
                ErrorCode::TxWrongChain,
                &[("network", "BNB Smart Chain"), ("expected", "Ethereum")],
            ),
            "This transaction is on BNB Smart Chain, but this order asked for Ethereum. It is not counted; the merchant can see it.",
        ),
        (
            refused(
                ErrorCode::TxWrongToken,
                &[
                    ("token", "0x55d398326f99059fF775485246999027B3197955"),
                    ("symbol", "USDT"),
                ],
            ),
            "This transaction sent another token, not USDT.",
        ),
        (
            refused(
                ErrorCode::TxWrongRecipient,
                &[("address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")],
            ),
            "This transaction paid 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed, not this order's address.",
        ),
        (
            amount_differs.clone(),
            "This transaction sent 1,234.5 USDT, 1,209.504999 USDT more than the 24.995001 USDT this order still asks. The merchant can see it and refund the difference.",
        ),
        (
            refused(ErrorCode::TxBeforeOrder, &[]),
            "This transaction was made before this order.",
        ),
        (
            refused(ErrorCode::TxCreditedElsewhere, &[]),
            "This transaction already counts for another order.",
        ),
        (
            refused(ErrorCode::TxPaysAnotherOrder, &[]),
            "This transaction sent exactly what another order asks, so it pays that order, not this one.",
        ),
        (
            refused(
                ErrorCode::ClaimNotSender,
                &[
                    ("sender", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
                    ("signer", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
                ],
            ),
            "This wallet did not send that payment: it came from 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC. Connect the wallet that sent it and try again.",
        ),
        (
            refused(ErrorCode::ClaimSignatureInvalid, &[]),
            "Your wallet's signature could not be checked. The merchant will still check your payment.",
        ),
        (too_many, "Too many tries. Try again in 12 seconds."),
        (
            Failure::RateLimited(Some(Duration::from_secs(45))),
            "Too many tries. Try again in 45 seconds.",
        ),
        (
            refused(ErrorCode::Conflict, &[]),
            "The shop can't do this right now. Try again in a moment.",
        ),
        (
            refused(ErrorCode::Unknown, &[]),
            "The shop can't do this right now. Try again in a moment.",
        ),
        (
            Failure::Unreachable,
            "Can't reach the shop right now. Try again in a moment.",
        ),
    ] {
        assert_eq!(refusal::claim(Strings::ENGLISH, &failure), said);
    }

    // In another language, in its words and its numbers.
    let fr = Strings::install(
        Locale::Fr,
        js_sys::JSON::parse(include_str!("../www/locales/fr.json")).unwrap(),
    )
    .unwrap();
    let (sent, asked, difference) = (
        fr.amount("1234.5"),
        fr.amount("24.995001"),
        fr.amount("1209.504999"),
    );
    assert_eq!(asked, "24,995001");
    assert_eq!(
        refusal::claim(fr, &amount_differs),
        format!(
            "Cette transaction a envoyé {sent} USDT, soit {difference} USDT de plus que les {asked} USDT que cette commande demande encore. Le commerçant peut la voir et vous rembourser la différence."
        )
    );
    assert_eq!(
        refusal::claim(
            fr,
            &refused(
                ErrorCode::TxWrongChain,
                &[("network", "BNB Smart Chain"), ("expected", "Ethereum")]
            )
        ),
        "Cette transaction est sur BNB Smart Chain, mais cette commande demandait Ethereum. Elle n’est pas prise en compte\u{202f}; le commerçant peut la voir."
    );
}

#[derive(yew::Properties, PartialEq)]
struct ClaimProps {
    claim: Claim,
    offered: bool,
    wallets: Vec<Wallet>,
}

#[yew::function_component]
fn ClaimHost(props: &ClaimProps) -> yew::Html {
    claim_form(
        Strings::ENGLISH,
        &props.claim,
        props.offered,
        &props.wallets,
        &Callback::noop(),
        &Callback::noop(),
    )
}

async fn render_claim(claim: Claim, offered: bool) -> web_sys::Element {
    render_claim_with(claim, offered, vec![]).await
}

async fn render_claim_with(claim: Claim, offered: bool, wallets: Vec<Wallet>) -> web_sys::Element {
    let host = host();
    let props = ClaimProps {
        claim,
        offered,
        wallets,
    };
    yew::Renderer::<ClaimHost>::with_root_and_props(host.clone(), props).render();
    rendered().await;
    host
}

#[wasm_bindgen_test]
async fn i_already_paid_is_a_labelled_form_behind_a_disclosure_that_says_what_the_server_found() {
    let found = |host: &web_sys::Element| {
        host.query_selector(".usdt-checkout__claim-found[role=status]")
            .unwrap()
            .expect("the confirmation's polite live region, always there")
            .text_content()
            .unwrap()
    };
    let host = render_claim(Claim::default(), false).await;
    assert!(
        host.query_selector("details, form").unwrap().is_none(),
        "not offered"
    );
    assert_eq!(found(&host), "");
    host.remove();

    let host = render_claim(Claim::default(), true).await;
    let details = host
        .query_selector("details.usdt-checkout__disclosure")
        .unwrap()
        .expect("a disclosure");
    assert!(!details.has_attribute("open"), "closed at first");
    let summary = details
        .query_selector("summary.usdt-checkout__claim-toggle")
        .unwrap()
        .unwrap();
    assert_eq!(summary.text_content().as_deref(), Some("I already paid"));
    let input = details
        .query_selector("form.usdt-checkout__claim-form input.usdt-checkout__input")
        .unwrap()
        .expect("the hash's input");
    for (name, value) in [
        ("type", "text"),
        ("name", "txHash"),
        ("placeholder", "0x…"),
        ("autocomplete", "off"),
        ("spellcheck", "false"),
        ("dir", "ltr"),
    ] {
        assert_eq!(input.get_attribute(name).as_deref(), Some(value), "{name}");
    }
    let label = input
        .closest("label")
        .unwrap()
        .expect("labelled by its label");
    assert!(
        label
            .text_content()
            .unwrap()
            .starts_with("Transaction hash")
    );
    let submit = details
        .query_selector("button.usdt-checkout__claim-submit")
        .unwrap()
        .unwrap();
    assert_eq!(submit.get_attribute("type").as_deref(), Some("submit"));
    assert_eq!(submit.text_content().as_deref(), Some("Find my payment"));
    assert!(!submit.has_attribute("aria-disabled"));
    let alert = details
        .query_selector(".usdt-checkout__claim-error[role=alert]")
        .unwrap()
        .expect("the alert region, there before it speaks");
    assert_eq!(alert.text_content().as_deref(), Some(""));
    let review = details
        .query_selector(".usdt-checkout__claim-review[role=status]")
        .unwrap()
        .expect("the review's polite live region, there before it speaks");
    assert_eq!(review.text_content().as_deref(), Some(""));
    assert!(
        details
            .query_selector(".usdt-checkout__prove")
            .unwrap()
            .is_none(),
        "nothing to prove"
    );
    host.remove();

    let busy = Claim {
        busy: true,
        ..Claim::default()
    };
    let host = render_claim(busy, true).await;
    assert!(
        host.query_selector("details[open]").unwrap().is_some(),
        "held open"
    );
    let submit = host
        .query_selector(".usdt-checkout__claim-submit")
        .unwrap()
        .unwrap();
    assert_eq!(submit.text_content().as_deref(), Some("Looking…"));
    assert_eq!(
        submit.get_attribute("aria-disabled").as_deref(),
        Some("true")
    );
    assert!(
        !submit.has_attribute("disabled"),
        "a disabled button would drop the focus"
    );
    host.remove();

    let refusal = Claim {
        refused: Some(
            refused(
                ErrorCode::TxWrongChain,
                &[("network", "BNB Smart Chain"), ("expected", "Ethereum")],
            )
            .into(),
        ),
        ..Claim::default()
    };
    let host = render_claim(refusal, true).await;
    assert!(host.query_selector("details[open]").unwrap().is_some());
    assert_eq!(
        host.query_selector("[role=alert]")
            .unwrap()
            .unwrap()
            .text_content()
            .as_deref(),
        Some(
            "This transaction is on BNB Smart Chain, but this order asked for Ethereum. It is not counted; the merchant can see it."
        )
    );
    host.remove();

    let host = render_claim(
        Claim {
            found: true,
            ..Claim::default()
        },
        false,
    )
    .await;
    assert_eq!(
        found(&host),
        "Found it. This payment now counts for your order."
    );
    host.remove();
}

/// Types `hash` into the claim form of the widget in `host`, opened, and sends it.
async fn claim_in(host: &web_sys::Element, hash: &str) {
    let summary: web_sys::HtmlElement = appears(host, "summary", "I already paid")
        .await
        .dyn_into()
        .unwrap();
    if host.query_selector("details[open]").unwrap().is_none() {
        summary.click();
    }
    let input = host.query_selector("input[name=txHash]").unwrap().unwrap();
    js_sys::Reflect::set(&input, &"value".into(), &hash.into()).unwrap();
    let submit: web_sys::HtmlElement = host
        .query_selector(".usdt-checkout__claim-submit")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    submit.click();
}

/// Waits for `selector`'s text to be `expected`; panics with what it was.
async fn says(host: &web_sys::Element, selector: &str, expected: &str) {
    let mut said = String::new();
    for _ in 0..200 {
        said = host
            .query_selector(selector)
            .unwrap()
            .and_then(|e| e.text_content())
            .unwrap_or_default();
        if said == expected {
            return;
        }
        TimeoutFuture::new(10).await;
    }
    panic!("{selector} says {said:?}, not {expected:?}")
}

#[wasm_bindgen_test]
async fn a_claimed_transaction_is_sent_and_the_answer_shown_in_place() {
    let (host, mut handle) = mount_waiting_in("en").await;
    let error = serde_json::to_string(&ApiError {
        code: ErrorCode::TxNotFound,
        message: "no transaction with this hash on Ethereum".into(),
        retry_after: None,
        params: [("networks".to_owned(), "Ethereum".to_owned())].into(),
    })
    .unwrap();
    fake_answer("/api/checkouts/co_test/claims", 422, error, None);
    let hash = format!("0x{}", "ab".repeat(32));
    claim_in(&host, &format!("  {hash}  ")).await;
    says(
        &host,
        "[role=alert].usdt-checkout__claim-error",
        "No transaction with this hash on Ethereum. Check it, or try again in a minute if you just sent it.",
    )
    .await;
    let bodies = js_sys::eval("window.fetchedBodies").unwrap();
    let sent = js_sys::Array::from(&bodies).get(0).as_string().unwrap();
    assert_eq!(
        serde_json::from_str::<ClaimRequest>(&sent).unwrap(),
        ClaimRequest {
            tx_hash: hash.clone(),
            signature: None,
        },
        "the hash, trimmed, as the server reads it: {sent}"
    );
    let input = host.query_selector("input[name=txHash]").unwrap().unwrap();
    assert_eq!(
        js_sys::Reflect::get(&input, &"value".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some(format!("  {hash}  ").as_str()),
        "the input keeps what was typed"
    );
    assert!(host.query_selector("details[open]").unwrap().is_some());
    says(&host, ".usdt-checkout__claim-submit", "Find my payment").await;

    // Too many tries: the wait, from Retry-After.
    fake_answer("/api/checkouts/co_test/claims", 429, "{}".into(), Some(30));
    claim_in(&host, &hash).await;
    says(
        &host,
        "[role=alert]",
        "Too many tries. Try again in 30 seconds.",
    )
    .await;

    // Found: the checkout's view, applied as a poll's; the form closes, a polite word says so.
    let mut paid = view(OrderStatus::Paid);
    paid.version = 2;
    let paid = serde_json::to_string(&paid).unwrap();
    fake_answer("/api/checkouts/co_test", 200, paid.clone(), None);
    fake_answer("/api/checkouts/co_test/claims", 200, paid, None);
    claim_in(&host, &hash).await;
    says(
        &host,
        ".usdt-checkout__claim-found",
        "Found it. This payment now counts for your order.",
    )
    .await;
    says(&host, ".usdt-checkout__status", "Paid. Thank you!").await;
    assert!(
        host.query_selector("details").unwrap().is_none(),
        "nothing more is asked once paid"
    );
    assert!(
        host.query_selector(".usdt-checkout__receipt")
            .unwrap()
            .is_some()
    );
    handle.unmount();
    restore_fetch();
    host.remove();
}

/// The sender of the payments the tests claim, and the account a stub wallet shares by default.
const SENDER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/// A wallet as a page sees it (`window.ethereum`), that shares `window.ethereum.account` and
/// signs with it (`window.ethereum.reject`: the shopper refuses), recording every request.
fn install_signer() -> Wallet {
    js_sys::eval(&format!(
        r#"window.walletCalls = [];
        window.ethereum = {{
          isMetaMask: true,
          account: "{}",
          reject: false,
          async request({{ method, params }}) {{
            window.walletCalls.push({{ method, params }});
            switch (method) {{
              case "eth_requestAccounts": return [this.account];
              case "eth_chainId": return "0x1";
              case "personal_sign":
                if (this.reject) throw {{ code: 4001, message: "User rejected the request." }};
                return "0x" + "5a".repeat(65);
            }}
            throw {{ code: 4200, message: "unsupported" }};
          }},
        }};"#,
        SENDER.to_lowercase()
    ))
    .unwrap();
    usdt_checkout::wallet::injected().expect("the stub wallet")
}

fn remove_wallet() {
    js_sys::eval("delete window.ethereum").unwrap();
}

fn under_review(busy: bool, unproven: Option<WalletError>) -> Claim {
    Claim {
        busy,
        review: Some(
            Review {
                tx_hash: format!("0x{}", "ab".repeat(32)),
                sender: SENDER.into(),
                message: "I sent it".into(),
            }
            .into(),
        ),
        unproven,
        ..Claim::default()
    }
}

#[wasm_bindgen_test]
async fn a_payment_under_review_is_said_calmly_and_each_wallet_offers_to_prove_it() {
    const REVIEW: &str = "Thank you. This payment is recorded, and the merchant will check it. There is no need to pay again.";
    let said = |host: &web_sys::Element, selector: &str| {
        host.query_selector(selector)
            .unwrap()
            .unwrap_or_else(|| panic!("{selector}"))
            .text_content()
            .unwrap()
    };
    let wallet = install_signer();
    let host = render_claim_with(under_review(false, None), true, vec![wallet.clone()]).await;
    assert!(
        host.query_selector("details[open]").unwrap().is_some(),
        "held open"
    );
    assert_eq!(
        said(&host, ".usdt-checkout__claim-review[role=status]"),
        REVIEW
    );
    assert_eq!(
        said(&host, ".usdt-checkout__claim-error[role=alert]"),
        "",
        "not a refusal"
    );
    assert_eq!(
        said(&host, ".usdt-checkout__prove-hint"),
        "To have it counted now, sign a message with the wallet that sent it. Signing moves no money."
    );
    let prove = host
        .query_selector("form button.usdt-checkout__prove")
        .unwrap()
        .expect("a button to prove it");
    assert_eq!(prove.get_attribute("type").as_deref(), Some("button"));
    assert_eq!(
        prove.text_content().as_deref(),
        Some("Prove it with MetaMask")
    );
    assert!(!prove.has_attribute("aria-disabled"));
    host.remove();

    // Without a wallet: said all the same, nothing to press.
    let host = render_claim_with(under_review(false, None), true, vec![]).await;
    assert_eq!(
        said(&host, ".usdt-checkout__claim-review[role=status]"),
        REVIEW
    );
    assert!(
        host.query_selector(".usdt-checkout__prove, .usdt-checkout__prove-hint")
            .unwrap()
            .is_none()
    );
    host.remove();

    // While the wallet is asked: it says so, and neither button takes a second press (nor
    // drops the focus, as a disabled one would).
    let host = render_claim_with(under_review(true, None), true, vec![wallet.clone()]).await;
    let prove = host
        .query_selector(".usdt-checkout__prove")
        .unwrap()
        .unwrap();
    assert_eq!(
        prove.text_content().as_deref(),
        Some("Sign the message in your wallet…")
    );
    let submit = host
        .query_selector(".usdt-checkout__claim-submit")
        .unwrap()
        .unwrap();
    assert_eq!(submit.text_content().as_deref(), Some("Find my payment"));
    for button in [&prove, &submit] {
        assert_eq!(
            button.get_attribute("aria-disabled").as_deref(),
            Some("true")
        );
        assert!(!button.has_attribute("disabled"));
    }
    host.remove();

    // Not proven: why, in the alert; the review stays.
    for (unproven, why) in [
        (
            WalletError::OtherAccount,
            format!(
                "This wallet did not send that payment: it came from {SENDER}. Connect the wallet that sent it and try again."
            ),
        ),
        (
            WalletError::Rejected,
            "You cancelled in your wallet. You can try again.".to_owned(),
        ),
        (
            WalletError::Failed,
            "Your wallet could not do this. Try again in a moment.".to_owned(),
        ),
        (
            WalletError::Pending,
            "Your wallet already has a request waiting for you. Open your wallet to answer it, then try again.".to_owned(),
        ),
    ] {
        let claim = under_review(false, Some(unproven));
        let host = render_claim_with(claim, true, vec![wallet.clone()]).await;
        assert_eq!(said(&host, ".usdt-checkout__claim-error[role=alert]"), why);
        assert_eq!(
            said(&host, ".usdt-checkout__claim-review[role=status]"),
            REVIEW
        );
        assert!(
            host.query_selector(".usdt-checkout__prove")
                .unwrap()
                .is_some()
        );
        host.remove();
    }
    remove_wallet();
}

/// The widget, waiting, with the stub wallet, after a claim of `hash` the server kept for review.
async fn claimed_under_review(hash: &str) -> (web_sys::Element, usdt_checkout::CheckoutHandle) {
    install_signer();
    let (host, handle) = mount_waiting_in("en").await;
    let message = usdt_checkout_protocol::wallet_proof::claim_message("co_test", hash);
    let review = serde_json::to_string(&ApiError {
        code: ErrorCode::ClaimUnderReview,
        message: "kept for the merchant to check".into(),
        retry_after: None,
        params: [("sender", SENDER), ("message", message.as_str())]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
    })
    .unwrap();
    fake_answer("/api/checkouts/co_test/claims", 202, review, None);
    claim_in(&host, hash).await;
    says(
        &host,
        ".usdt-checkout__claim-review",
        "Thank you. This payment is recorded, and the merchant will check it. There is no need to pay again.",
    )
    .await;
    (host, handle)
}

async fn prove_in(host: &web_sys::Element) {
    let prove: web_sys::HtmlElement = appears(host, ".usdt-checkout__prove", "the proof's button")
        .await
        .dyn_into()
        .unwrap();
    prove.click();
}

#[wasm_bindgen_test]
async fn a_payment_under_review_is_proven_by_its_senders_signature_and_then_counts() {
    let hash = format!("0x{}", "ab".repeat(32));
    let (host, mut handle) = claimed_under_review(&hash).await;
    assert_eq!(
        host.query_selector("[role=alert].usdt-checkout__claim-error")
            .unwrap()
            .unwrap()
            .text_content()
            .as_deref(),
        Some(""),
        "nothing went wrong"
    );
    says(&host, ".usdt-checkout__status", "Waiting for your payment").await;
    says(&host, ".usdt-checkout__prove", "Prove it with MetaMask").await;

    let mut paid = view(OrderStatus::Paid);
    paid.version = 2;
    let paid = serde_json::to_string(&paid).unwrap();
    fake_answer("/api/checkouts/co_test", 200, paid.clone(), None);
    fake_answer("/api/checkouts/co_test/claims", 200, paid, None);
    prove_in(&host).await;
    says(
        &host,
        ".usdt-checkout__claim-found",
        "Found it. This payment now counts for your order.",
    )
    .await;
    says(&host, ".usdt-checkout__status", "Paid. Thank you!").await;

    // The wallet signed the server's message, as UTF-8 in hex, with the sender's account.
    let message = usdt_checkout_protocol::wallet_proof::claim_message("co_test", &hash);
    let signed: Vec<(String, String)> = wallet_calls()
        .into_iter()
        .filter(|(method, _)| method == "personal_sign")
        .collect();
    let hex = format!(
        "0x{}",
        usdt_checkout_protocol::hex::encode(message.as_bytes())
    );
    assert_eq!(
        signed,
        [(
            "personal_sign".to_owned(),
            format!(r#"["{hex}","{}"]"#, SENDER.to_lowercase())
        )],
        "[message, account], as MetaMask takes them"
    );
    // And claimed again with the signature.
    let bodies = js_sys::eval("window.fetchedBodies").unwrap();
    let bodies = js_sys::Array::from(&bodies);
    let sent = bodies.get(bodies.length() - 1).as_string().unwrap();
    assert_eq!(
        serde_json::from_str::<ClaimRequest>(&sent).unwrap(),
        ClaimRequest {
            tx_hash: hash,
            signature: Some(format!("0x{}", "5a".repeat(65))),
        },
        "{sent}"
    );
    handle.unmount();
    restore_fetch();
    remove_wallet();
    host.remove();
}

#[wasm_bindgen_test]
async fn a_wallet_that_did_not_send_the_payment_or_refuses_is_told_plainly_and_the_review_stays() {
    let hash = format!("0x{}", "cd".repeat(32));
    let (host, mut handle) = claimed_under_review(&hash).await;
    let not_sender = format!(
        "This wallet did not send that payment: it came from {SENDER}. Connect the wallet that sent it and try again."
    );
    let review = "Thank you. This payment is recorded, and the merchant will check it. There is no need to pay again.";

    // A wallet that does not have the sender's account is not asked to sign.
    js_sys::eval("window.ethereum.account = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'").unwrap();
    prove_in(&host).await;
    says(
        &host,
        "[role=alert].usdt-checkout__claim-error",
        &not_sender,
    )
    .await;
    says(&host, ".usdt-checkout__claim-review", review).await;
    assert!(
        wallet_calls()
            .iter()
            .all(|(method, _)| method != "personal_sign"),
        "{:?}",
        wallet_calls()
    );

    // The shopper refuses to sign.
    js_sys::eval(&format!(
        "window.ethereum.account = '{SENDER}'; window.ethereum.reject = true"
    ))
    .unwrap();
    prove_in(&host).await;
    says(
        &host,
        "[role=alert].usdt-checkout__claim-error",
        "You cancelled in your wallet. You can try again.",
    )
    .await;
    says(&host, ".usdt-checkout__claim-review", review).await;

    // Signed, but by another wallet than the sender, the server says.
    js_sys::eval("window.ethereum.reject = false").unwrap();
    let refusal = serde_json::to_string(&ApiError {
        code: ErrorCode::ClaimNotSender,
        message: "this transaction was sent by another address".into(),
        retry_after: None,
        params: [
            ("sender", SENDER),
            ("signer", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
    })
    .unwrap();
    fake_answer("/api/checkouts/co_test/claims", 422, refusal, None);
    prove_in(&host).await;
    says(
        &host,
        "[role=alert].usdt-checkout__claim-error",
        &not_sender,
    )
    .await;
    says(&host, ".usdt-checkout__claim-review", review).await;
    says(&host, ".usdt-checkout__prove", "Prove it with MetaMask").await;
    assert!(host.query_selector("details[open]").unwrap().is_some());
    says(&host, ".usdt-checkout__status", "Waiting for your payment").await;
    handle.unmount();
    restore_fetch();
    remove_wallet();
    host.remove();
}

#[derive(yew::Properties, PartialEq)]
struct NoticeProps {
    notice: Option<Notice>,
    gateway: Option<GatewayHealth>,
}

#[yew::function_component]
fn NoticeHost(props: &NoticeProps) -> yew::Html {
    connection_notice(Strings::ENGLISH, props.notice, props.gateway)
}

#[wasm_bindgen_test]
async fn connection_trouble_is_announced_without_ending_the_payment() {
    for (notice, gateway, expected) in [
        (
            Some(Notice::MerchantUnreachable),
            None,
            "Can't reach the shop",
        ),
        (Some(Notice::RateLimited), None, "Busy right now"),
        (
            None,
            Some(GatewayHealth::Unreachable { since: 1 }),
            "slow to answer",
        ),
        (
            None,
            Some(GatewayHealth::Blocked { until: 1 }),
            "Busy right now",
        ),
    ] {
        let host = host();
        let props = NoticeProps { notice, gateway };
        yew::Renderer::<NoticeHost>::with_root_and_props(host.clone(), props).render();
        rendered().await;
        let alert = host
            .query_selector("[role=alert]")
            .unwrap()
            .expect("an alert");
        assert!(
            alert.text_content().unwrap().contains(expected),
            "{expected}"
        );
        host.remove();
    }
}

#[wasm_bindgen_test]
async fn events_reach_the_host_page_with_the_order_state_and_transaction() {
    let host = host();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(
        Vec::<(String, String, String)>::new(),
    ));
    let record = seen.clone();
    let listener = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(
        move |event: web_sys::Event| {
            let detail = event.dyn_into::<web_sys::CustomEvent>().unwrap().detail();
            let get = |key: &str| {
                js_sys::Reflect::get(&detail, &key.into())
                    .unwrap()
                    .as_string()
                    .unwrap_or_default()
            };
            record
                .borrow_mut()
                .push((get("orderId"), get("state"), get("txHash")));
        },
    );
    host.add_event_listener_with_callback("usdt-checkout:paid", listener.as_ref().unchecked_ref())
        .unwrap();
    usdt_checkout::hooks::dispatch(&Some(host.clone()), "paid", &view(OrderStatus::Paid));
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "co_test");
    assert_eq!(seen[0].1, "paid");
    assert!(seen[0].2.starts_with("0xabcdef"));
    host.remove();
}

/// A wallet extension's provider as a page sees it: on chain 1 until asked to switch, recording
/// every request; `reject` makes it refuse the transaction as a shopper would, and
/// `window.walletFails` (a method → an EIP-1193 code) makes it fail those methods so.
fn install_wallet(reject: bool) {
    js_sys::eval(&format!(
        r#"window.walletCalls = [];
        window.ethereum = {{
          isMetaMask: true,
          chainId: "0x1",
          async request({{ method, params }}) {{
            window.walletCalls.push({{ method, params }});
            const code = (window.walletFails ?? {{}})[method];
            if (code !== undefined) throw {{ code, message: "The wallet's own words." }};
            switch (method) {{
              case "eth_requestAccounts": return ["0x70997970c51812dc3a010c7d01b50e0d17dc79c8"];
              case "eth_chainId": return this.chainId;
              case "wallet_switchEthereumChain": this.chainId = params[0].chainId; return null;
              case "eth_sendTransaction":
                if ({reject}) throw {{ code: 4001, message: "User rejected the request." }};
                return "0x" + "ab".repeat(32);
            }}
            throw {{ code: 4200, message: "unsupported" }};
          }},
        }};"#
    ))
    .unwrap();
}

fn wallet_calls() -> Vec<(String, String)> {
    let calls = js_sys::eval("window.walletCalls").unwrap();
    js_sys::Array::from(&calls)
        .iter()
        .map(|call| {
            let method = js_sys::Reflect::get(&call, &"method".into())
                .unwrap()
                .as_string()
                .unwrap();
            let params = js_sys::Reflect::get(&call, &"params".into()).unwrap();
            (
                method,
                js_sys::JSON::stringify(&params)
                    .unwrap()
                    .as_string()
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn pay_with_wallet(reject: bool) -> (web_sys::Element, Vec<(String, String)>) {
    install_wallet(reject);
    let mut waiting = view(OrderStatus::Waiting);
    waiting.payment.as_mut().unwrap().chain_id = ChainId::LOCAL;
    let host = host();
    let props = PaymentProps {
        strings: Strings::ENGLISH,
        view: waiting.into(),
        clock: Default::default(),
        resumed: false,
        merchant_url: "http://shop.test".into(),
        on_start_again: Callback::noop(),
    };
    yew::Renderer::<Payment>::with_root_and_props(host.clone(), props).render();
    let button: web_sys::HtmlElement =
        appears(&host, "button.usdt-checkout__wallet", "a wallet button")
            .await
            .dyn_into()
            .unwrap();
    assert_eq!(button.text_content().as_deref(), Some("Pay with MetaMask"));
    button.click();
    for _ in 0..20 {
        TimeoutFuture::new(10).await;
    }
    (host, wallet_calls())
}

#[wasm_bindgen_test]
async fn a_browser_wallet_switches_to_the_orders_chain_and_sends_the_exact_transfer() {
    let (host, calls) = pay_with_wallet(false).await;
    let methods: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "eth_requestAccounts",
            "eth_chainId",
            "wallet_switchEthereumChain",
            "eth_chainId",
            "eth_sendTransaction"
        ]
    );
    assert!(
        calls[2].1.contains(r#""chainId":"0x7a69""#),
        "{}",
        calls[2].1
    );
    let sent = &calls[4].1;
    assert!(
        sent.contains(r#""to":"0x5FbDB2315678afecb367f032d93F642f64180aa3""#),
        "{sent}"
    );
    assert!(
        sent.contains("0xa9059cbb000000000000000000000000e7f1725e7734ce288f8367e1bb143e90bb3f0512"),
        "a transfer to the receiving address: {sent}"
    );
    let amount_word = format!("{:064x}\",", 24_995_001u128);
    assert!(
        sent.contains(&amount_word),
        "of exactly 24995001 units: {sent}"
    );
    assert!(
        text(&host).contains("Sent from your wallet"),
        "{}",
        text(&host)
    );
    host.remove();
}

#[wasm_bindgen_test]
async fn a_shopper_cancelling_in_the_wallet_can_try_again() {
    let (host, _) = pay_with_wallet(true).await;
    assert!(
        text(&host).contains("You cancelled in your wallet"),
        "{}",
        text(&host)
    );
    let button = host
        .query_selector("button.usdt-checkout__wallet")
        .unwrap()
        .unwrap();
    assert!(
        !button.has_attribute("disabled"),
        "the shopper can try again"
    );
    host.remove();
}

/// Each answer a wallet gives is said in the shopper's words by its EIP-1193 code, never in the
/// wallet's own.
#[wasm_bindgen_test]
async fn a_wallets_answer_is_said_by_its_code() {
    for (method, code, said) in [
        (
            "eth_requestAccounts",
            4100,
            "Your wallet did not let this page use your account. Allow it in your wallet, then try again.",
        ),
        (
            "eth_requestAccounts",
            -32002,
            "Your wallet already has a request waiting for you. Open your wallet to answer it, then try again.",
        ),
        (
            "wallet_switchEthereumChain",
            4902,
            "Your wallet does not have Ethereum yet. Add it in your wallet, then try again.",
        ),
        (
            "wallet_switchEthereumChain",
            4200,
            "Your wallet is on another network. Switch to Ethereum to pay.",
        ),
        (
            "eth_sendTransaction",
            -32603,
            "Your wallet could not do this. Try again in a moment.",
        ),
    ] {
        js_sys::eval(&format!("window.walletFails = {{ {method}: {code} }}")).unwrap();
        let (host, _) = pay_with_wallet(false).await;
        let line = host
            .query_selector(".usdt-checkout__wallet-status")
            .unwrap()
            .expect("a line under the wallet buttons");
        assert_eq!(
            line.text_content().as_deref(),
            Some(said),
            "{method} {code}"
        );
        host.remove();
    }
    js_sys::eval("delete window.walletFails").unwrap();
    remove_wallet();
}

/// `fetch` answering from `routes` (a URL's ending → its JSON body; anything else 404) until
/// [`restore_fetch`]: the widget's servers and its locale tables, without a server.
fn fake_fetch(routes: &[(&str, String)]) {
    let table = js_sys::Object::new();
    for (ending, body) in routes {
        js_sys::Reflect::set(&table, &(*ending).into(), &body.as_str().into()).unwrap();
    }
    js_sys::Reflect::set(&js_sys::global(), &"fakeRoutes".into(), &table).unwrap();
    js_sys::eval(
        r#"window.realFetch ??= window.fetch;
        window.fetchedUrls = [];
        window.fetchedBodies = [];
        window.fetch = async (input) => {
          const url = typeof input === "string" ? input : input.url;
          window.fetchedUrls.push(url);
          if (typeof input !== "string" && input.method === "POST") {
            window.fetchedBodies.push(await input.clone().text());
          }
          const path = url.split("?")[0];
          for (const [ending, body] of Object.entries(window.fakeRoutes)) {
            if (path.endsWith(ending)) {
              const [status, retry] = (window.fakeStatuses ?? {})[ending] ?? [200, null];
              const headers = { "content-type": "application/json" };
              if (retry !== null) headers["retry-after"] = String(retry);
              return new Response(body, { status, headers });
            }
          }
          return new Response("{}", { status: 404, headers: { "content-type": "application/json" } });
        };"#,
    )
    .unwrap();
}

/// The route ending in `ending` answers `status` with `body` (and a `Retry-After`), the others
/// as [`fake_fetch`] set them.
fn fake_answer(ending: &str, status: u16, body: String, retry_after: Option<u32>) {
    let routes = js_sys::Reflect::get(&js_sys::global(), &"fakeRoutes".into()).unwrap();
    js_sys::Reflect::set(&routes, &ending.into(), &body.into()).unwrap();
    js_sys::eval(&format!(
        "(window.fakeStatuses ??= {{}})[{ending:?}] = [{status}, {}]",
        retry_after.map_or("null".into(), |s| s.to_string())
    ))
    .unwrap();
}

fn restore_fetch() {
    js_sys::eval("window.fetch = window.realFetch; window.fakeStatuses = {}").unwrap();
}

/// A storefront's checkout, waiting, mounted in `locale` with its table served from /locales/.
async fn mount_waiting_in(locale: &str) -> (web_sys::Element, usdt_checkout::CheckoutHandle) {
    let view = serde_json::to_string(&view(OrderStatus::Waiting)).unwrap();
    let table = match locale {
        "ar" => include_str!("../www/locales/ar.json"),
        "de" => include_str!("../www/locales/de.json"),
        _ => "{}",
    };
    fake_fetch(&[
        ("/api/checkouts/co_test", view),
        (&format!("/locales/{locale}.json"), table.to_owned()),
    ]);
    let host = host();
    let handle = usdt_checkout::mount(
        host.clone(),
        options(&format!(
            r#"{{"merchantUrl": "http://shop.test", "checkoutId": "co_test", "locale": "{locale}", "localesUrl": "http://shop.test/checkout/locales/"}}"#
        )),
    )
    .unwrap();
    appears(&host, ".usdt-checkout__amount", "the amount to send").await;
    (host, handle)
}

#[wasm_bindgen_test]
async fn arabic_lays_out_right_to_left_with_amounts_and_addresses_left_to_right() {
    let (host, mut handle) = mount_waiting_in("ar").await;
    let root = host.query_selector(".usdt-checkout").unwrap().unwrap();
    assert_eq!(root.get_attribute("dir").as_deref(), Some("rtl"));
    assert_eq!(root.get_attribute("lang").as_deref(), Some("ar"));
    let direction = |selector: &str| {
        let element = host.query_selector(selector).unwrap().unwrap();
        js_sys::Function::new_with_args("e", "return getComputedStyle(e).direction")
            .call1(&wasm_bindgen::JsValue::NULL, &element)
            .unwrap()
            .as_string()
            .unwrap()
    };
    for selector in [
        ".usdt-checkout__amount",
        ".usdt-checkout__address",
        ".usdt-checkout__token",
    ] {
        let element = host.query_selector(selector).unwrap().unwrap();
        assert_eq!(
            element.get_attribute("dir").as_deref(),
            Some("ltr"),
            "{selector}"
        );
        assert_eq!(direction(selector), "ltr", "{selector}");
    }
    assert_eq!(direction(".usdt-checkout"), "rtl");
    let page = text(&host);
    assert!(
        page.contains("في انتظار دفعتك"),
        "the status in Arabic: {page}"
    );
    assert!(page.contains("24.995001 USDT"), "Latin digits: {page}");
    handle.unmount();
    restore_fetch();
    host.remove();
}

/// Everything a shopper can read in `host`: its text, and the names and hints its elements
/// carry (`aria-label`, `title`, `placeholder`), one per line.
fn readable(host: &web_sys::Element) -> String {
    let mut said = text(host);
    let elements = host.query_selector_all("*").unwrap();
    for i in 0..elements.length() {
        let element: web_sys::Element = elements.item(i).unwrap().dyn_into().unwrap();
        for name in ["aria-label", "title", "placeholder"] {
            if let Some(value) = element.get_attribute(name) {
                said.push('\n');
                said.push_str(&value);
            }
        }
    }
    said
}

/// The words of `text` written in Latin letters (runs of ASCII letters, `_` and `-`); runs with
/// a digit in them are numbers, hashes and addresses, not words.
fn latin_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|run| {
            run.bytes().any(|b| b.is_ascii_alphabetic()) && !run.bytes().any(|b| b.is_ascii_digit())
        })
        .collect()
}

#[derive(yew::Properties, PartialEq)]
struct ScreenProps {
    strings: Strings,
    model: std::rc::Rc<Model>,
    wallets: Vec<Wallet>,
}

/// The widget's whole screen for a model, as its root renders it.
#[yew::function_component]
fn ScreenHost(props: &ScreenProps) -> yew::Html {
    let settings = Settings {
        merchant_url: "http://shop.test".into(),
        gateway_url: "http://gateway.test".into(),
        networks_url: "http://gateway.test/networks".into(),
        tokens_url: "http://gateway.test/tokens".into(),
        purchase: Purchase::Checkout("co_test".into()),
        chains: None,
        tokens: None,
        default_chain: None,
        locale: Some("ar".into()),
        locales_url: None,
        theme: Theme::Auto,
    };
    screen(&Screen {
        strings: props.strings,
        model: &props.model,
        phase: &props.model.phase,
        settings: &settings,
        clock: Default::default(),
        wallets: &props.wallets,
        on_choose: Callback::noop(),
        on_continue: Callback::noop(),
        on_start_again: Callback::noop(),
        on_claim: Callback::noop(),
        on_prove: Callback::noop(),
        on_ask: Callback::noop(),
        on_destination: Callback::noop(),
    })
}

/// Every screen a shopper can reach, and every refusal, notice and wallet answer, said in Arabic:
/// nothing of it is English. Each is checked for words in Latin letters; the only ones allowed
/// are those the Arabic table itself writes (USDT, QR, MetaMask) and the order's own data (its
/// network, token, currency and id, the wallets' names). A text left out of the tables, or the
/// server's English message shown as is, fails it.
#[wasm_bindgen_test]
async fn every_screen_in_arabic_says_only_what_the_arabic_table_says() {
    use std::rc::Rc;
    use std::time::Duration;
    let json = include_str!("../www/locales/ar.json");
    let ar = Strings::install(Locale::Ar, js_sys::JSON::parse(json).unwrap()).unwrap();
    let table: std::collections::BTreeMap<String, String> = serde_json::from_str(json).unwrap();
    let mut allowed: std::collections::BTreeSet<&str> = table
        .values()
        .flat_map(|value| latin_words(value))
        .collect();
    // The order's data: as the view names them, in every language.
    allowed.extend([
        "Ethereum", "USDT", "USD", "BNB", "Smart", "Chain", "co_test",
    ]);
    let arabic = |said: &str| said.chars().any(|c| ('\u{600}'..='\u{6ff}').contains(&c));
    let check = |what: &str, said: &str| {
        assert!(arabic(said), "{what} says nothing in Arabic: {said:?}");
        for word in latin_words(said) {
            assert!(
                allowed.contains(word),
                "{what}: {word:?} is not from the Arabic table: {said}"
            );
        }
    };

    // The whole screen, in each state.
    let wallet = install_signer();
    let unnamed = usdt_checkout::wallet::announced(
        &js_sys::JSON::parse(r#"{"info": {"uuid": "u-1"}, "provider": {}}"#).unwrap(),
    )
    .unwrap();
    let wallets = vec![wallet.clone(), unnamed];
    let read =
        |json: &str| usdt_checkout::client::listed(&js_sys::JSON::parse(json).unwrap()).unwrap();
    let listed = read(r#"[{"chainId": 1, "symbol": "USDT"}]"#);
    let offer = Rc::new(usdt_checkout::client::described(&listed, &listed));
    let choosing = Model {
        phase: Phase::Choosing,
        offer: offer.clone(),
        chain: Some(ChainId::ETHEREUM),
        symbol: Some("USDT".into()),
        ..Model::default()
    };
    let paying = |view: CheckoutView| Model {
        phase: Phase::Paying(view.into()),
        ..Model::default()
    };
    let mut screens: Vec<(String, Model)> = vec![
        ("loading".into(), Model::default()),
        ("choosing".into(), choosing.clone()),
        (
            "creating".into(),
            Model {
                phase: Phase::Creating,
                ..choosing.clone()
            },
        ),
        (
            "no network".into(),
            Model {
                phase: Phase::NoNetwork,
                ..Model::default()
            },
        ),
        (
            "the shop unreachable".into(),
            Model {
                notice: Some(Notice::MerchantUnreachable),
                ..choosing.clone()
            },
        ),
        (
            "the gateway busy".into(),
            Model {
                notice: Some(Notice::RateLimited),
                ..choosing.clone()
            },
        ),
    ];
    for code in ErrorCode::ALL.iter().chain([&ErrorCode::Unknown]) {
        screens.push((
            format!("creation refused: {code:?}"),
            Model {
                error: Some(Rc::new(refused(*code, &[]))),
                ..choosing.clone()
            },
        ));
    }
    for state in OrderStatus::ALL {
        screens.push((format!("{state}"), paying(view(state))));
        let mut resumed = paying(view(state));
        resumed.resumed = true;
        screens.push((format!("{state}, resumed"), resumed));
    }
    let mut noted = view(OrderStatus::Waiting);
    let payment = noted.payment.as_mut().unwrap();
    payment.overpaid = "1.5".into();
    for network in [None, Some("BNB Smart Chain".into())] {
        payment.unmatched.push(TransactionView {
            hash: format!("0x{}", "c4".repeat(32)),
            explorer_url: Some("https://etherscan.io/tx/0xc4".into()),
            amount: Some("10".into()),
            network,
        });
    }
    noted.gateway = GatewayHealth::Unreachable { since: 1 };
    screens.push((
        "transfers that match no order, overpaid".into(),
        paying(noted),
    ));
    let mut limited = view(OrderStatus::Waiting);
    limited.gateway = GatewayHealth::RateLimited { until: 1 };
    screens.push(("the gateway rate limited".into(), paying(limited)));
    let claims = [
        (
            "a claim looked up",
            Claim {
                busy: true,
                ..Claim::default()
            },
        ),
        (
            "a claim found",
            Claim {
                found: true,
                ..Claim::default()
            },
        ),
        (
            "a claim refused",
            Claim {
                refused: Some(refused(ErrorCode::TxNotMined, &[]).into()),
                ..Claim::default()
            },
        ),
        ("a claim under review", under_review(false, None)),
        ("a claim being proven", under_review(true, None)),
        (
            "a claim's proof by another wallet",
            under_review(false, Some(WalletError::OtherAccount)),
        ),
    ];
    for (what, claim) in claims {
        let mut model = paying(view(OrderStatus::Waiting));
        model.claim = claim;
        screens.push((what.into(), model));
    }
    // Refunds: each request's state (one just changed, said), then the form, with each reason
    // a request was not made.
    let mut refundable = view(OrderStatus::Paid);
    refundable.refundable = true;
    let every_state = refunds_view(false);
    let offered = refunds_view(true);
    let refunds = |view: &usdt_checkout_protocol::refund::RefundsView, problem| Refunds {
        view: Some(Rc::new(view.clone())),
        problem,
        news: Some("rf_sent".into()),
        ..Refunds::default()
    };
    let mut problems = vec![
        None,
        Some(RefundProblem::BadAddress),
        Some(RefundProblem::Wallet(WalletError::OtherAccount)),
        Some(RefundProblem::Wallet(WalletError::Rejected)),
    ];
    for code in ErrorCode::ALL
        .iter()
        .filter(|c| c.as_str().starts_with("refund_"))
    {
        problems.push(Some(RefundProblem::Refused(Rc::new(refused(
            *code,
            &[("max", "2"), ("symbol", "USDT"), ("sender", SENDER)],
        )))));
    }
    let mut model = paying(refundable.clone());
    model.refunds = refunds(&every_state, None);
    screens.push(("refunds in every state".into(), model));
    for problem in problems {
        let mut model = paying(refundable.clone());
        model.refunds = refunds(&offered, problem.clone());
        screens.push((format!("a refund offered: {problem:?}"), model));
    }
    for signing in [true, false] {
        let mut model = paying(refundable.clone());
        model.refunds = Refunds {
            busy: true,
            signing,
            ..refunds(&offered, None)
        };
        screens.push((format!("a refund asked, signing: {signing}"), model));
    }
    for (what, model) in screens {
        let host = host();
        let props = ScreenProps {
            strings: ar,
            model: model.into(),
            wallets: wallets.clone(),
        };
        yew::Renderer::<ScreenHost>::with_root_and_props(host.clone(), props).render();
        rendered().await;
        if what.starts_with("waiting") {
            // The wallets appear a turn later; a copy button says it copied.
            appears(&host, "button.usdt-checkout__wallet", "a wallet button").await;
            let copy: web_sys::HtmlElement = host
                .query_selector(".usdt-checkout__copy")
                .unwrap()
                .unwrap()
                .dyn_into()
                .unwrap();
            copy.click();
            rendered().await;
        }
        check(&what, &readable(&host));
        host.remove();
    }
    remove_wallet();

    // Every refusal, notice and wallet answer, whichever screen says it.
    let params = [
        ("networks", "Ethereum, BNB Smart Chain"),
        ("network", "BNB Smart Chain"),
        ("expected", "Ethereum"),
        ("symbol", "USDT"),
        ("address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        ("sent", "30"),
        ("max", "2"),
        ("sender", SENDER),
    ];
    let mut failures = vec![
        Failure::Unreachable,
        Failure::RateLimited(Some(Duration::from_secs(9))),
        Failure::Blocked(None),
    ];
    for code in ErrorCode::ALL.iter().chain([&ErrorCode::Unknown]) {
        failures.push(refused(*code, &params));
    }
    for failure in &failures {
        check(
            &format!("a claim: {failure:?}"),
            &refusal::claim(ar, failure),
        );
        check(
            &format!("a creation: {failure:?}"),
            &refusal::creation(ar, failure),
        );
        check(
            &format!("a refund: {failure:?}"),
            &refusal::refund(ar, failure),
        );
    }
    use usdt_checkout::wallet::Step;
    let mut states = vec![
        WalletState::Step(Step::Connecting),
        WalletState::Step(Step::Switching),
        WalletState::Step(Step::Confirming),
        WalletState::Sent,
    ];
    for error in [
        WalletError::Rejected,
        WalletError::Unauthorized,
        WalletError::UnknownNetwork,
        WalletError::WrongNetwork,
        WalletError::Pending,
        WalletError::OtherAccount,
        WalletError::Failed,
    ] {
        states.push(WalletState::Failed(error));
    }
    for state in states {
        let said = wallet_status(ar, state, "Ethereum").expect("a line");
        check(&format!("paying from a wallet: {state:?}"), &said);
    }
}

#[wasm_bindgen_test]
async fn german_writes_amounts_as_german_does_and_the_table_is_fetched_once() {
    let (host, mut handle) = mount_waiting_in("de").await;
    let amount = host
        .query_selector(".usdt-checkout__amount")
        .unwrap()
        .unwrap();
    assert_eq!(amount.text_content().unwrap(), "24,995001 USDT");
    let page = text(&host);
    assert!(page.contains("Warten auf Ihre Zahlung"), "{page}");
    assert!(page.contains("≈ 25,00 USD"), "{page}");
    let de = Strings::cached(Locale::De).expect("the German table, kept for the page");
    assert_eq!(de.amount("24.995001"), "24,995001");
    assert_eq!(de.amount("1234.5"), "1.234,5");
    assert_eq!(de.amount("0.000000000000000001"), "0,000000000000000001");
    assert_eq!(
        de.amount("123456789012345678.123456"),
        "123.456.789.012.345.678,123456",
        "no float in between"
    );
    assert_eq!(Strings::ENGLISH.amount("1234.5"), "1,234.5");
    assert_eq!(de.clock(605), "10:05");
    handle.unmount();
    let fetched = js_sys::eval("window.fetchedUrls.filter((u) => u.endsWith('de.json')).length")
        .unwrap()
        .as_f64();
    assert_eq!(fetched, Some(1.0));
    restore_fetch();
    host.remove();
}

#[wasm_bindgen_test]
async fn a_table_that_cannot_be_fetched_leaves_the_widget_in_english() {
    fake_fetch(&[(
        "/api/checkouts/co_test",
        serde_json::to_string(&view(OrderStatus::Waiting)).unwrap(),
    )]);
    let host = host();
    let mut handle = usdt_checkout::mount(
        host.clone(),
        options(
            r#"{"merchantUrl": "http://shop.test", "checkoutId": "co_test", "locale": "ko", "localesUrl": "http://shop.test/nowhere/"}"#,
        ),
    )
    .unwrap();
    appears(&host, ".usdt-checkout__amount", "the amount to send").await;
    let root = host.query_selector(".usdt-checkout").unwrap().unwrap();
    assert_eq!(root.get_attribute("lang").as_deref(), Some("en"));
    assert!(text(&host).contains("Waiting for your payment"));
    handle.unmount();
    restore_fetch();
    host.remove();
}

#[wasm_bindgen_test]
async fn the_countdown_ticks_silently_and_a_hidden_live_region_waits_for_a_threshold() {
    let (host, _) = render_payment(OrderStatus::Waiting).await;
    let countdown = host
        .query_selector(".usdt-checkout__countdown")
        .unwrap()
        .unwrap();
    assert!(countdown.get_attribute("aria-live").is_none());
    assert!(countdown.closest("[aria-live]").unwrap().is_none());
    let announce = host
        .query_selector(".usdt-checkout__announce[aria-live=polite]")
        .unwrap()
        .expect("the countdown's live region");
    assert_eq!(
        announce.text_content().unwrap(),
        "",
        "nothing said until a threshold is crossed"
    );
    host.remove();
}

/// The refunds as the server writes them: one in each state (a refusal's reason is the
/// merchant's own words, here in Arabic), or, `offered`, one refused and a payment offered.
fn refunds_view(offered: bool) -> usdt_checkout_protocol::refund::RefundsView {
    let refund = |id: &str, state: &str, extra: serde_json::Value| {
        let mut refund = serde_json::json!({
            "id": id, "state": state, "amount": "2", "symbol": "USDT", "network": "Ethereum",
            "chainId": 1, "destination": SENDER, "proven": state != "approved",
        });
        refund
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        refund
    };
    let refused = refund(
        "rf_refused",
        "refused",
        serde_json::json!({"reason": "ليست لك"}),
    );
    let refunds = if offered {
        vec![refused]
    } else {
        let tx = format!("0x{}", "c4".repeat(32));
        vec![
            refund("rf_asked", "requested", serde_json::json!({})),
            refund(
                "rf_unproven",
                "requested",
                serde_json::json!({"proven": false}),
            ),
            refund("rf_approved", "approved", serde_json::json!({})),
            refund(
                "rf_sent",
                "sent",
                serde_json::json!({"sentTx": tx, "explorerUrl": "https://etherscan.io/tx/0xc4",
                                   "confirmations": 3, "receiptUrl": "/api/refunds/rf_sent/receipt"}),
            ),
            refund("rf_seen", "sent", serde_json::json!({"sentTx": tx})),
            refused,
        ]
    };
    serde_json::from_value(serde_json::json!({
        "refundable": if offered {
            serde_json::json!([{
                "chainId": 1, "network": "Ethereum", "symbol": "USDT", "decimals": 6,
                "sourceTx": format!("0x{}", "ab".repeat(32)), "sourceLogIndex": 0,
                "from": SENDER, "max": "2", "message": "I ask for a refund",
            }])
        } else {
            serde_json::json!([])
        },
        "refunds": refunds,
    }))
    .unwrap()
}

/// The widget reads the refunds as the servers write them, as the protocol's serde reader
/// does: every state, every optional field present and absent; and refuses what is no view.
#[wasm_bindgen_test]
fn the_widget_reads_the_refunds_exactly_as_the_servers_write_them() {
    for view in [refunds_view(false), refunds_view(true)] {
        let json = serde_json::to_string(&view).unwrap();
        let parsed = js_sys::JSON::parse(&json).unwrap();
        assert_eq!(usdt_checkout::refunds::read(&parsed), Some(view), "{json}");
    }
    for broken in [
        r#"{"refundable": [], "refunds": [{"id": "rf_1", "state": "paid"}]}"#,
        r#"{"refundable": [{"chainId": "1"}], "refunds": []}"#,
        r#"{"refundable": []}"#,
        r#"[1]"#,
    ] {
        let parsed = js_sys::JSON::parse(broken).unwrap();
        assert_eq!(usdt_checkout::refunds::read(&parsed), None, "{broken}");
    }
    let mut view = refunds_view(false);
    view.refunds[0].destination = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        .parse()
        .unwrap();
    let json = serde_json::to_string(&view).unwrap().replace(
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    );
    assert_eq!(
        usdt_checkout::refunds::read(&js_sys::JSON::parse(&json).unwrap()),
        None,
        "a destination whose mixed case is not its EIP-55 checksum"
    );
}

/// A request as the widget writes it is one the server reads (the protocol's type refuses
/// unknown fields), signed or with an email.
#[wasm_bindgen_test]
fn a_refund_request_is_written_as_the_server_reads_it() {
    use usdt_checkout_protocol::refund::RefundAsk;
    for (signature, email) in [
        (Some(format!("0x{}", "12".repeat(65))), None),
        (None, Some("shopper@mail.example".to_owned())),
        (None, None),
    ] {
        let ask = RefundAsk {
            chain_id: ChainId(31338),
            source_tx: format!("0x{}", "ab".repeat(32)),
            source_log_index: 3,
            amount: "24.995001".into(),
            destination: SENDER.into(),
            signature,
            email,
        };
        let body = usdt_checkout::refunds::ask_body(&ask).unwrap();
        let read: RefundAsk = serde_json::from_str(&body).unwrap();
        assert_eq!(read, ask, "{body}");
    }
}
