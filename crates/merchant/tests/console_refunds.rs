//! The console's refunds in-process (each test on SQLite and on PostgreSQL): the list and a
//! refund's page for any role, approving and refusing for operators only (CSRF-checked and
//! audited), two approvals at once that would together give back more than arrived (one wins,
//! the other is told why), an unproven request marked as such, a shopper's words escaped, and a
//! refund started from a payment whose transfer (QR code, links, the wallet's calldata) names the
//! payment's chain, its token and the exact amount.

mod common;

use axum::http::{StatusCode, header};
use common::Db;
use common::console::*;
use usdt_checkout_chain::{ChainPayment, PaymentKind};
use usdt_checkout_protocol::payment_uri::TransferRequest;
use usdt_checkout_protocol::{Address, ChainId, TxHash};
use usdt_checkout_server::app::App;
use usdt_checkout_server::checkouts::{Asked, RefundRequest};
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::console::refunds::transfer::qr_svg;
use usdt_checkout_server::domain::PaymentTerms;
use usdt_checkout_server::refunds::{Proof, RefundState};
use usdt_checkout_server::staff::Role;

on_both!(
    a_viewer_reads_refunds_but_cannot_approve_and_a_forged_form_changes_nothing,
    approving_and_refusing_are_audited_and_the_reason_is_escaped,
    two_approvals_at_once_that_exceed_the_payment_one_wins,
    an_unproven_request_says_so_with_its_email_escaped,
    a_refund_started_from_a_payment_shows_its_exact_transfer,
    only_a_sandbox_gateway_offers_to_pay_a_refund_from_its_test_account,
    an_orders_timeline_shows_its_refunds_asked_decided_and_sent,
    a_refund_sent_the_shop_was_not_told_of_is_an_exception_resent_like_an_orders,
);

const CHAIN: ChainId = ChainId(31337);
/// The other test chain: a payment there, into an order's address here, is on the wrong network.
const OTHER: ChainId = ChainId(31338);
const RECEIVER: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const SHOPPER: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
/// One USDT on `OTHER`, whose token has 18 decimals.
const USDT: u128 = 1_000_000_000_000_000_000;

/// An order asking 25 USDT into `RECEIVER` on `CHAIN`, and a payment of `value` its shopper
/// sent there on `OTHER` instead, kept as matching no order: all of it may be asked back.
async fn wrong_network(h: &Harness, name: &str, value: u128) -> (String, ChainPayment) {
    let id = h.order("25.00", "USD", name, &format!("ref-{name}")).await;
    let terms = PaymentTerms {
        chain_id: CHAIN,
        symbol: "USDT".into(),
        token_contract: h.app.config.registry.token(CHAIN, "USDT").unwrap().contract,
        decimals: 6,
        amount_atomic: 25_000_000,
        gateway_order_no: format!("{id}-a"),
        plat_order_no: "P-1".into(),
        pay_amount_atomic: 25_000_000,
        to_address: RECEIVER.parse().unwrap(),
        cashier_url: String::new(),
        expires_at: now_ms() + 900_000,
        required_confirmations: 2,
    };
    h.app.checkouts.attach_order(&id, &terms).await.unwrap();
    let payment = payment(&h.app, OTHER, name.len() as u8, value);
    let mut write = h.store.begin().await.unwrap();
    assert!(
        write
            .record_chain_payment(OTHER, &payment, None)
            .await
            .unwrap()
    );
    write.commit().await.unwrap();
    (id, payment)
}

fn payment(app: &App, chain: ChainId, tx: u8, value: u128) -> ChainPayment {
    ChainPayment {
        tx_id: TxHash::from_bytes([tx; 32]),
        log_index: 0,
        block_number: 100,
        block_hash: format!("0x{}", "11".repeat(32)),
        from: "0x52908400098527886e0f7030069857d2e4169ee7"
            .parse::<Address>()
            .unwrap(),
        to: RECEIVER.parse().unwrap(),
        token: app.config.registry.token(chain, "USDT").unwrap().contract,
        value,
        kind: PaymentKind::Transfer,
        order_no: None,
        timestamp_ms: now_ms() / 1000 * 1000 + 1000,
    }
}

/// The shopper of `order` asks, unproven, for `amount` of `payment` back.
async fn ask(
    h: &Harness,
    order: &str,
    payment: &ChainPayment,
    amount: u128,
    email: Option<&str>,
) -> String {
    let request = RefundRequest {
        chain: OTHER,
        tx: payment.tx_id.clone(),
        log_index: payment.log_index,
        amount_atomic: amount,
        destination: SHOPPER.parse().unwrap(),
        proof: Proof::Unproven {
            email: email.map(str::to_owned),
        },
        signer: None,
    };
    match h
        .app
        .checkouts
        .request_refund(order, request)
        .await
        .unwrap()
    {
        Ok(Asked::New(refund)) => refund.id,
        other => panic!("not asked: {other:?}"),
    }
}

async fn state_of(h: &Harness, id: &str) -> RefundState {
    h.store.refund(id).await.unwrap().unwrap().state
}

async fn a_viewer_reads_refunds_but_cannot_approve_and_a_forged_form_changes_nothing(db: Db) {
    let h = harness(db, "refund-roles", "").await;
    let (order, paid) = wrong_network(&h, "viewer", 10 * USDT).await;
    let id = ask(&h, &order, &paid, 4 * USDT, None).await;

    let (mut vic, vic_csrf) = h.signed_in("vic", Role::Viewer).await;
    let list = h.get(&mut vic, "/console/refunds?state=requested").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&id), "{}", list.body);
    // The navigation counts the request waiting.
    assert!(
        list.body
            .contains(r#"data-live="nav-refunds"> <span class="count">1</span>"#),
        "{}",
        list.body
    );
    let page = h.get(&mut vic, &format!("/console/refunds/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("4 USDT"), "{}", page.body);
    assert!(
        !page.body.contains("/approve"),
        "a viewer is offered no decision"
    );

    let approve = format!("/console/refunds/{id}/approve");
    let reply = h.post(&mut vic, &approve, &[("csrf", &vic_csrf)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let reply = h
        .post(
            &mut vic,
            &format!("/console/refunds/{id}/refuse"),
            &[("csrf", &vic_csrf), ("reason", "no")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);

    let (mut ana, _) = h.signed_in("ana", Role::Operator).await;
    let forged = h
        .post(&mut ana, &approve, &[("csrf", &"0".repeat(64))])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let none = h.post(&mut ana, &approve, &[]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN, "{}", none.body);

    assert_eq!(state_of(&h, &id).await, RefundState::Requested);
    let actions = h.actions().await;
    assert!(
        !actions
            .iter()
            .any(|a| a.starts_with("refund.approve") || a.starts_with("refund.refuse")),
        "{actions:?}"
    );
}

async fn approving_and_refusing_are_audited_and_the_reason_is_escaped(db: Db) {
    let h = harness(db, "refund-decide", "").await;
    let (order, paid) = wrong_network(&h, "decide", 10 * USDT).await;
    let approved = ask(&h, &order, &paid, 3 * USDT, None).await;
    let refused = ask(&h, &order, &paid, 5 * USDT, None).await;
    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;

    let reply = h
        .post(
            &mut ana,
            &format!("/console/refunds/{approved}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), format!("/console/refunds/{approved}"));
    assert_eq!(state_of(&h, &approved).await, RefundState::Approved);
    let audit = h.store.audit_of(&approved, 10).await.unwrap();
    assert_eq!(audit[0].entry.action, "refund.approve");
    assert_eq!(audit[0].entry.actor, "ana");

    // A reason is required, and said back when missing.
    let path = format!("/console/refunds/{refused}/refuse");
    let empty = h
        .post(&mut ana, &path, &[("csrf", &csrf), ("reason", "  ")])
        .await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.body
    );
    assert!(empty.body.contains(r#"role="alert""#), "{}", empty.body);
    assert_eq!(state_of(&h, &refused).await, RefundState::Requested);

    let hostile = "<script>alert('refused')</script> & \"quoted\"";
    let reply = h
        .post(&mut ana, &path, &[("csrf", &csrf), ("reason", hostile)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let kept = h.store.refund(&refused).await.unwrap().unwrap();
    assert_eq!(kept.state, RefundState::Refused);
    assert_eq!(kept.reason.as_deref(), Some(hostile));
    let audit = h.store.audit_of(&refused, 10).await.unwrap();
    assert_eq!(audit[0].entry.action, "refund.refuse");
    assert_eq!(audit[0].entry.note.as_deref(), Some(hostile));

    let page = h
        .get(&mut ana, &format!("/console/refunds/{refused}"))
        .await;
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(
        page.body
            .contains("&lt;script&gt;alert('refused')&lt;/script&gt; &amp; &quot;quoted&quot;"),
        "{}",
        page.body
    );

    // Approving what is refused is refused in words, and changes nothing.
    let again = h
        .post(
            &mut ana,
            &format!("/console/refunds/{refused}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("refused already"), "{}", again.body);
    assert_eq!(state_of(&h, &refused).await, RefundState::Refused);
}

async fn two_approvals_at_once_that_exceed_the_payment_one_wins(db: Db) {
    let h = harness(db, "refund-race", "").await;
    let (order, paid) = wrong_network(&h, "race", 10 * USDT).await;
    // Each alone fits the payment's 10 USDT; together they would give back 12.
    let first = ask(&h, &order, &paid, 6 * USDT, None).await;
    let second = ask(&h, &order, &paid, 6 * USDT, None).await;
    let (mut ana, ana_csrf) = h.signed_in("ana", Role::Operator).await;
    let (mut bob, bob_csrf) = h.signed_in("bob", Role::Owner).await;
    let (first_path, second_path) = (
        format!("/console/refunds/{first}/approve"),
        format!("/console/refunds/{second}/approve"),
    );
    let (ana_form, bob_form) = ([("csrf", ana_csrf.as_str())], [("csrf", bob_csrf.as_str())]);
    let (a, b) = tokio::join!(
        h.post(&mut ana, &first_path, &ana_form),
        h.post(&mut bob, &second_path, &bob_form),
    );
    let (lost, loser) = match (a.status, b.status) {
        (StatusCode::SEE_OTHER, StatusCode::CONFLICT) => (b, &second),
        (StatusCode::CONFLICT, StatusCode::SEE_OTHER) => (a, &first),
        other => panic!("{other:?}: {} / {}", a.body, b.body),
    };
    assert!(lost.body.contains(r#"role="alert""#), "{}", lost.body);
    assert!(
        lost.body.contains("Only 4 USDT of this payment is left"),
        "{}",
        lost.body
    );
    assert_eq!(state_of(&h, loser).await, RefundState::Requested);
    let states = [state_of(&h, &first).await, state_of(&h, &second).await];
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == RefundState::Approved)
            .count(),
        1
    );

    // The same request approved twice at once: one approval, one "already".
    let third = ask(&h, &order, &paid, USDT, None).await;
    let path = format!("/console/refunds/{third}/approve");
    let (a, b) = tokio::join!(
        h.post(&mut ana, &path, &ana_form),
        h.post(&mut bob, &path, &bob_form),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::CONFLICT],
        "{} / {}",
        a.body,
        b.body
    );
    let approvals = h
        .actions()
        .await
        .iter()
        .filter(|a| *a == "refund.approve")
        .count();
    assert_eq!(approvals, 2, "one audited approval each");
}

async fn an_unproven_request_says_so_with_its_email_escaped(db: Db) {
    let h = harness(db, "refund-unproven", "").await;
    let (order, paid) = wrong_network(&h, "unproven", 10 * USDT).await;
    let hostile = "\"><img src=x onerror=alert(1)>@evil.example";
    let id = ask(&h, &order, &paid, 2 * USDT, Some(hostile)).await;
    let (mut ana, _) = h.signed_in("ana", Role::Operator).await;
    let list = h.get(&mut ana, "/console/refunds").await;
    assert!(
        list.body.contains(r#"data-proof="unproven""#),
        "{}",
        list.body
    );
    let page = h.get(&mut ana, &format!("/console/refunds/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(r#"data-proof="unproven">Unproven"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("did not prove"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(
        page.body
            .contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@evil.example"),
        "{}",
        page.body
    );
    // The order's page lists it too.
    let order_page = h.get(&mut ana, &format!("/console/orders/{order}")).await;
    assert!(
        order_page.body.contains(&format!("/console/refunds/{id}")),
        "{}",
        order_page.body
    );
}

async fn a_refund_started_from_a_payment_shows_its_exact_transfer(db: Db) {
    let h = harness(db, "refund-start", "").await;
    let (_, paid) = wrong_network(&h, "start", 10 * USDT).await;
    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let start = format!("/console/payments/{}/{}/0/refund", OTHER.0, paid.tx_id);
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert!(
        queue.body.contains(&start),
        "the exception's row offers it: {}",
        queue.body
    );
    let form = h.get(&mut ana, &start).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    for label in [r#"for="refund-destination""#, r#"for="refund-amount""#] {
        assert!(form.body.contains(label), "{label}");
    }

    // A mistyped checksum, or more than arrived, is refused in words and starts nothing.
    let typo = SHOPPER.replace("0x5aAeb", "0x5AAeb");
    let reply = h
        .post(
            &mut ana,
            &start,
            &[("csrf", &csrf), ("destination", &typo), ("amount", "2.5")],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("not valid"), "{}", reply.body);
    let reply = h
        .post(
            &mut ana,
            &start,
            &[
                ("csrf", &csrf),
                ("destination", SHOPPER),
                ("amount", "10.000000000000000001"),
            ],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("At most 10 USDT"), "{}", reply.body);
    assert!(
        h.store
            .refunds_of_payment(OTHER, &paid.tx_id, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let reply = h
        .post(
            &mut ana,
            &start,
            &[("csrf", &csrf), ("destination", SHOPPER), ("amount", "2.5")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let id = reply
        .location()
        .trim_start_matches("/console/refunds/")
        .to_owned();
    let refund = h.store.refund(&id).await.unwrap().unwrap();
    assert_eq!(
        refund.state,
        RefundState::Approved,
        "started by staff: approved"
    );
    assert_eq!(
        h.store.audit_of(&id, 10).await.unwrap()[0].entry.action,
        "refund.start"
    );

    // The transfer: on the payment's chain, in its token, to the address typed, exactly 2.5.
    let expected = TransferRequest {
        chain: OTHER,
        token: h.app.config.registry.token(OTHER, "USDT").unwrap().contract,
        to: SHOPPER.parse().unwrap(),
        atomic_units: 5 * USDT / 2,
    };
    let uri = expected.eip681();
    assert!(
        uri.contains("@31338/transfer?") && uri.ends_with("&uint256=2500000000000000000"),
        "{uri}"
    );
    let page = h.get(&mut ana, &format!("/console/refunds/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&uri.replace('&', "&amp;")),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&expected.metamask_link().replace('&', "&amp;")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"data-chain="0x7a6a""#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!(r#"data-data="{}""#, expected.transfer_calldata())),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"src="/console/static/refunds.js""#),
        "{}",
        page.body
    );
    let qr = h
        .get(&mut ana, &format!("/console/refunds/{id}/qr.svg"))
        .await;
    assert_eq!(qr.status, StatusCode::OK);
    assert_eq!(qr.headers[header::CONTENT_TYPE], "image/svg+xml");
    // The code drawn is the URI's: the same drawing as the URI's own.
    assert_eq!(qr.body, qr_svg(&uri).unwrap());
    // A pasted hash: malformed, or one no chain shows as this refund's transfer, changes nothing.
    let paste = format!("/console/refunds/{id}/paste");
    let reply = h
        .post(&mut ana, &paste, &[("csrf", &csrf), ("tx", "0x1234")])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("64 hex digits"), "{}", reply.body);
    assert!(
        reply.body.contains(r#"value="0x1234""#),
        "typed kept: {}",
        reply.body
    );
    let unknown = format!("0x{}", "ab".repeat(32));
    let reply = h
        .post(&mut ana, &paste, &[("csrf", &csrf), ("tx", &unknown)])
        .await;
    assert!(
        [
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(&reply.status),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#"role="alert""#), "{}", reply.body);
    assert_eq!(state_of(&h, &id).await, RefundState::Approved);

    // Once its transfer is seen, the page shows it and its receipt, and no longer the transfer
    // to make.
    let mut transfer = payment(&h.app, OTHER, 0x77, 5 * USDT / 2);
    transfer.to = SHOPPER.parse().unwrap();
    transfer.timestamp_ms = now_ms() / 1000 * 1000 + 2000;
    let entry = usdt_checkout_server::store::AuditEntry {
        at: now_ms(),
        actor: "chain watcher".into(),
        action: "refund.sent".into(),
        ..Default::default()
    };
    let sent = h
        .app
        .checkouts
        .refund_sent(&id, OTHER, &transfer, entry)
        .await
        .unwrap();
    assert!(sent.is_ok(), "{sent:?}");
    let page = h.get(&mut ana, &format!("/console/refunds/{id}")).await;
    assert!(page.body.contains(transfer.tx_id.as_str()), "{}", page.body);
    assert!(
        page.body.contains(&format!("/api/refunds/{id}/receipt")),
        "{}",
        page.body
    );
    assert!(!page.body.contains("transfer-uri"), "{}", page.body);
    assert!(!page.body.contains("/paste"), "{}", page.body);

    let script = h.get(&mut ana, "/console/static/refunds.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.body.contains("eth_sendTransaction"));
}

/// `gateway.sandbox` offers the sandbox's test account to pay an approved refund; without it
/// there is no such button nor route. A sandbox that cannot pay changes nothing and says so.
async fn only_a_sandbox_gateway_offers_to_pay_a_refund_from_its_test_account(db: Db) {
    let h = harness(db, "refund-sandbox", "").await;
    let (order, paid) = wrong_network(&h, "sandbox", 10 * USDT).await;
    let refund = ask(&h, &order, &paid, 3 * USDT, None).await;
    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let page = format!("/console/refunds/{refund}");
    let pay = format!("{page}/sandbox-pay");
    h.post(&mut ana, &format!("{page}/approve"), &[("csrf", &csrf)])
        .await;
    assert_eq!(state_of(&h, &refund).await, RefundState::Approved);
    let shown = h.get(&mut ana, &page).await;
    assert!(!shown.body.contains("sandbox-pay"), "{}", shown.body);
    let reply = h.post(&mut ana, &pay, &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);

    // The same database behind a server whose gateway is the sandbox (here unreachable).
    let toml = h.toml.replace("[gateway]\n", "[gateway]\nsandbox = true\n");
    let (app, store) = server_of(&toml).await;
    let test_mode = Harness {
        app,
        store,
        dir: h.dir.clone(),
        toml,
        owns_dir: false,
    };
    let shown = test_mode.get(&mut ana, &page).await;
    assert!(
        shown.body.contains("Pay from the sandbox"),
        "{}",
        shown.body
    );
    let before = test_mode.actions().await.len();
    let reply = test_mode.post(&mut ana, &pay, &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert!(reply.body.contains("Nothing was sent"), "{}", reply.body);
    assert_eq!(test_mode.actions().await.len(), before, "nothing audited");
    assert_eq!(state_of(&h, &refund).await, RefundState::Approved);
}

/// The order's timeline, the part of its page between its heading and the next section.
fn timeline_of(page: &str) -> &str {
    let start = page
        .find(r#"data-live="timeline""#)
        .unwrap_or_else(|| panic!("no timeline: {page}"));
    let end = page[start..]
        .find("</ol>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}

async fn an_orders_timeline_shows_its_refunds_asked_decided_and_sent(db: Db) {
    let h = harness(db, "refund-timeline", "").await;
    let (order, paid) = wrong_network(&h, "timeline", 10 * USDT).await;
    let sent = ask(&h, &order, &paid, 2 * USDT, Some("me@example.com")).await;
    let refused = ask(&h, &order, &paid, 3 * USDT, None).await;
    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let page = h.get(&mut ana, &format!("/console/orders/{order}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let timeline = timeline_of(&page.body);
    assert_eq!(
        timeline
            .matches("Refund of 2 USDT asked by the shopper")
            .count(),
        1,
        "{timeline}"
    );
    assert!(timeline.contains("UNPROVEN"), "{timeline}");
    assert!(timeline.contains("me@example.com"), "{timeline}");
    assert!(!timeline.contains("approved by"), "{timeline}");

    let reply = h
        .post(
            &mut ana,
            &format!("/console/refunds/{sent}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let hostile = "<img src=x onerror=alert(1)> not this wallet";
    let reply = h
        .post(
            &mut ana,
            &format!("/console/refunds/{refused}/refuse"),
            &[("csrf", &csrf), ("reason", hostile)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let mut transfer = payment(&h.app, OTHER, 0x78, 2 * USDT);
    transfer.to = SHOPPER.parse().unwrap();
    transfer.timestamp_ms = now_ms() / 1000 * 1000 + 2000;
    let entry = usdt_checkout_server::store::AuditEntry {
        at: now_ms(),
        actor: "chain watcher".into(),
        action: "refund.sent".into(),
        ..Default::default()
    };
    let marked = h
        .app
        .checkouts
        .refund_sent(&sent, OTHER, &transfer, entry)
        .await
        .unwrap();
    assert!(marked.is_ok(), "{marked:?}");

    let page = h.get(&mut ana, &format!("/console/orders/{order}")).await;
    let timeline = timeline_of(&page.body);
    for said in [
        "Refund of 2 USDT approved by ana",
        "Refund of 2 USDT sent",
        "Refund of 3 USDT refused by ana",
        "&lt;img src=x onerror=alert(1)&gt; not this wallet",
        transfer.tx_id.as_str(),
        &format!("/api/refunds/{sent}/receipt"),
        &format!("/console/refunds/{refused}"),
    ] {
        assert!(timeline.contains(said), "{said} in {timeline}");
    }
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    // Asked, then approved, then sent: in that order.
    let at = |s: &str| timeline.find(s).unwrap();
    assert!(at("Refund of 2 USDT asked") < at("Refund of 2 USDT approved"));
    assert!(at("Refund of 2 USDT approved") < at("Refund of 2 USDT sent"));
}

/// A refund's `refund.sent` that the shop's endpoint refuses is in the exception queue beside
/// the orders' failed deliveries: what was given back, the refund and its order, the answer, and
/// Resend, which makes it due now, audited; resolved, it leaves the queue.
async fn a_refund_sent_the_shop_was_not_told_of_is_an_exception_resent_like_an_orders(db: Db) {
    use usdt_checkout_server::store::Outbox;
    let h = harness(db, "refund-delivery", "").await;
    let (order, paid) = wrong_network(&h, "delivery", 10 * USDT).await;
    let refund = ask(&h, &order, &paid, 2 * USDT, None).await;
    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let reply = h
        .post(
            &mut ana,
            &format!("/console/refunds/{refund}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let mut transfer = payment(&h.app, OTHER, 0x79, 2 * USDT);
    transfer.to = SHOPPER.parse().unwrap();
    transfer.block_number = 120;
    transfer.timestamp_ms = now_ms() / 1000 * 1000 + 2000;
    let awaited = h.app.checkouts.refunds_awaited(OTHER).await.unwrap();
    h.app
        .checkouts
        .take_refund_transfers(OTHER, &awaited, &[transfer])
        .await
        .unwrap();
    assert_eq!(state_of(&h, &refund).await, RefundState::Sent);
    let event = format!("rfs_{refund}");
    let t = now_ms();
    h.store
        .mark_answered(
            Outbox::Refunds,
            &event,
            3,
            t,
            Some(503),
            Err(("HTTP 503 <b>down</b>".into(), t + 3_600_000)),
        )
        .await
        .unwrap();

    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    for said in [
        "Refund sent: ",
        &format!("/console/refunds/{refund}"),
        &format!("/console/orders/{order}"),
        "<strong>2 USDT</strong>",
        "HTTP 503 &lt;b&gt;down",
        &format!("/console/exceptions/deliveries/{event}/resend"),
        &format!("Resend now<span class=\"visually-hidden\">: refund {refund}</span>"),
        &format!("failed_delivery:{event}"),
    ] {
        assert!(queue.body.contains(said), "{said} in {}", queue.body);
    }
    assert!(!queue.body.contains("<b>down"), "escaped");
    // Not due for an hour, until resent.
    let due = |h: &Harness| {
        let store = h.store.clone();
        async move {
            store
                .claim_due_events(now_ms(), now_ms() + 60_000, 10)
                .await
                .unwrap()
        }
    };
    assert!(due(&h).await.is_empty());
    let reply = h
        .post(
            &mut ana,
            &format!("/console/exceptions/deliveries/{event}/resend"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let claimed = due(&h).await;
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(
        (claimed[0].outbox, claimed[0].id.as_str()),
        (Outbox::Refunds, event.as_str())
    );
    let audit = h.get(&mut ana, "/console/audit").await;
    assert!(audit.body.contains("fulfillment.resend"), "{}", audit.body);

    // Failing again, then resolved with a note: it leaves the queue and the count.
    h.store
        .mark_answered(
            Outbox::Refunds,
            &event,
            1,
            now_ms(),
            Some(500),
            Err(("HTTP 500".into(), now_ms() + 3_600_000)),
        )
        .await
        .unwrap();
    let reply = h
        .post(
            &mut ana,
            "/console/exceptions/resolve",
            &[
                ("csrf", &csrf),
                ("key", &format!("failed_delivery:{event}")),
                ("note", "told the shop by mail"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert!(
        !queue
            .body
            .contains(&format!("/console/exceptions/deliveries/{event}/resend")),
        "{}",
        queue.body
    );
}
