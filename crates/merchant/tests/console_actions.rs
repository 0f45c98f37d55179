//! The console's exception queue and its actions in-process (each test on SQLite and on
//! PostgreSQL): attaching an unmatched payment to its order (two operators at once: one wins),
//! resending a failed fulfillment delivery with every attempt kept, and every kind of exception
//! listed, counted and resolved with a note.

mod common;

use axum::http::StatusCode;
use common::Db;
use common::console::*;
use usdt_checkout_chain::{ChainPayment, Cursor, PaymentKind, Step};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{Address, ChainId, OrderStatus, TxHash};
use usdt_checkout_server::app::App;
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::domain::PaymentTerms;
use usdt_checkout_server::staff::Role;
use usdt_checkout_server::store::OutboxEvent;

on_both!(
    an_operator_attaches_an_unmatched_payment_and_the_shopper_sees_it_paid,
    a_payment_that_cannot_pay_the_order_is_refused_in_words_and_nothing_changes,
    two_operators_attaching_one_payment_to_two_orders_one_succeeds,
    a_failed_delivery_is_resent_and_each_attempt_is_kept_on_the_timeline,
    every_kind_of_exception_is_listed_counted_and_resolved_with_a_note,
    a_long_queue_is_read_by_pages_and_counted_whole,
);

const CHAIN: ChainId = ChainId(31337);
const RECEIVER: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

/// An order's terms on the test chain: `amount_atomic` USDT (6 decimals) into `RECEIVER`.
fn terms(app: &App, order_no: &str, amount_atomic: u128) -> PaymentTerms {
    PaymentTerms {
        chain_id: CHAIN,
        symbol: "USDT".into(),
        token_contract: app.config.registry.token(CHAIN, "USDT").unwrap().contract,
        decimals: 6,
        amount_atomic,
        gateway_order_no: order_no.into(),
        plat_order_no: "P-1".into(),
        pay_amount_atomic: amount_atomic,
        to_address: RECEIVER.parse().unwrap(),
        cashier_url: String::new(),
        expires_at: now_ms() + 900_000,
        required_confirmations: 2,
    }
}

/// A USDT transfer on `chain` into `RECEIVER`, mined now in block 100.
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

/// An order of 25 USD asking `amount_atomic` USDT into `RECEIVER`.
async fn order_asking(h: &Harness, name: &str, amount_atomic: u128) -> String {
    let id = h.order("25.00", "USD", name, &format!("ref-{name}")).await;
    h.app
        .checkouts
        .attach_order(&id, &terms(&h.app, &format!("{id}-a"), amount_atomic))
        .await
        .unwrap();
    id
}

/// Payments the watcher kept as matching no order, and the chain read five blocks past them.
async fn unmatched(h: &Harness, payments: &[&ChainPayment]) {
    let mut write = h.store.begin().await.unwrap();
    for p in payments {
        assert!(write.record_chain_payment(CHAIN, p, None).await.unwrap());
    }
    write.commit().await.unwrap();
    let step = Step {
        head: 105,
        fork: None,
        payments: vec![],
        next: Cursor {
            next_block: 106,
            recent: vec![],
        },
    };
    h.app.checkouts.apply_chain(CHAIN, &step).await.unwrap();
}

fn attach_path(p: &ChainPayment, chain: ChainId) -> String {
    format!("/console/exceptions/payments/{}/{}/0", chain.0, p.tx_id)
}

async fn state_of(h: &Harness, id: &str) -> CheckoutState {
    h.store.get(id).await.unwrap().unwrap().state
}

async fn an_operator_attaches_an_unmatched_payment_and_the_shopper_sees_it_paid(db: Db) {
    let h = harness(db, "attach", "").await;
    let id = order_asking(&h, "mug", 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 0xab, 25_000_001);
    unmatched(&h, &[&sent]).await;
    assert_eq!(state_of(&h, &id).await.as_str(), "waiting");

    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains(sent.tx_id.as_str()), "{}", queue.body);
    assert!(queue.body.contains("Attach to an order"), "{}", queue.body);
    let page = h.get(&mut ana, &attach_path(&sent, CHAIN)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The order waiting at its address is offered, picked, with every field labelled.
    assert!(
        page.body
            .contains(&format!(r#"id="pick-0" value="{id}" checked"#)),
        "{}",
        page.body
    );
    for label in [
        r#"for="pick-other""#,
        r#"for="order-id""#,
        r#"for="attach-note""#,
    ] {
        assert!(page.body.contains(label), "{label}");
    }

    let reply = h
        .post(
            &mut ana,
            &format!("{}/attach", attach_path(&sent, CHAIN)),
            &[
                ("csrf", &csrf),
                ("pick", &id),
                ("order_id", ""),
                (
                    "note",
                    "The shopper sent us the receipt from their exchange.",
                ),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), format!("/console/orders/{id}"));
    assert_eq!(
        state_of(&h, &id).await,
        CheckoutState::Order(OrderStatus::Paid)
    );
    // The shopper's widget, polling its status, sees it paid.
    let status = h
        .get(&mut Browser::default(), &format!("/api/checkouts/{id}"))
        .await;
    assert_eq!(status.status, StatusCode::OK);
    let view: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(view["state"], "paid", "{}", status.body);
    // Audited with the states before and after, and the note.
    let audit = h.store.audit_of(&id, 10).await.unwrap();
    let entry = &audit
        .iter()
        .find(|r| r.entry.action == "payment.attach")
        .expect("audited")
        .entry;
    assert_eq!(entry.actor, "ana");
    assert!(entry.before.as_deref().unwrap().starts_with("waiting;"));
    assert!(entry.after.as_deref().unwrap().starts_with("paid;"));
    assert!(
        entry
            .after
            .as_deref()
            .unwrap()
            .contains(sent.tx_id.as_str())
    );
    assert_eq!(
        entry.note.as_deref(),
        Some("The shopper sent us the receipt from their exchange.")
    );
    // The order's timeline says who attached what, and why.
    let page = h.get(&mut ana, &format!("/console/orders/{id}")).await;
    assert!(
        page.body.contains("Payment attached by ana"),
        "{}",
        page.body
    );
    assert!(page.body.contains("receipt from their exchange"));
    // It leaves the queue and the count.
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert!(!queue.body.contains(sent.tx_id.as_str()), "{}", queue.body);
    assert!(
        !queue.body.contains(r#"<span class="count">"#),
        "{}",
        queue.body
    );
    // A viewer may look, not attach.
    let (mut vic, vic_csrf) = h.signed_in("vic", Role::Viewer).await;
    let other = payment(&h.app, CHAIN, 0xcd, 1_000_000);
    unmatched(&h, &[&other]).await;
    let page = h.get(&mut vic, &attach_path(&other, CHAIN)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Attach payment to order"));
    let refused = h
        .post(
            &mut vic,
            &format!("{}/attach", attach_path(&other, CHAIN)),
            &[("csrf", &vic_csrf), ("pick", &id), ("note", "mine")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn a_payment_that_cannot_pay_the_order_is_refused_in_words_and_nothing_changes(db: Db) {
    let h = harness(db, "attach-refused", "").await;
    let id = order_asking(&h, "mug", 25_000_001).await;
    let too_much = payment(&h.app, CHAIN, 0x01, 30_000_000);
    let mut before = payment(&h.app, CHAIN, 0x02, 5_000_000);
    before.timestamp_ms = now_ms() - 3_600_000;
    let mut elsewhere = payment(&h.app, CHAIN, 0x03, 5_000_000);
    elsewhere.to = "0x00000000000000000000000000000000000000aa"
        .parse()
        .unwrap();
    unmatched(&h, &[&too_much, &before, &elsewhere]).await;
    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let cases = [
        (
            &too_much,
            id.as_str(),
            "sent 30 USDT, 4.999999 USDT more than the 25.000001 USDT",
        ),
        (&before, id.as_str(), "mined before order"),
        (&elsewhere, id.as_str(), "not to order"),
        (&too_much, "co_nobody", "There is no order"),
    ];
    for (p, order, said) in cases {
        let reply = h
            .post(
                &mut ana,
                &format!("{}/attach", attach_path(p, CHAIN)),
                &[
                    ("csrf", &csrf),
                    ("pick", "other"),
                    ("order_id", order),
                    ("note", "Shopper says so"),
                ],
            )
            .await;
        assert!(reply.status.is_client_error(), "{said}: {}", reply.status);
        assert!(reply.body.contains(said), "{said}: {}", reply.body);
        assert!(reply.body.contains(r#"role="alert""#), "{said}");
        // The form comes back as sent.
        assert!(reply.body.contains("Shopper says so"), "{said}");
    }
    // No note: refused before anything is read.
    let reply = h
        .post(
            &mut ana,
            &format!("{}/attach", attach_path(&too_much, CHAIN)),
            &[("csrf", &csrf), ("pick", &id), ("note", "  ")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("A note has 1 to"), "{}", reply.body);
    assert_eq!(state_of(&h, &id).await.as_str(), "waiting");
    assert!(!h.actions().await.contains(&"payment.attach".to_owned()));
    assert_eq!(h.store.unmatched(10).await.unwrap().len(), 3);
}

async fn two_operators_attaching_one_payment_to_two_orders_one_succeeds(db: Db) {
    let h = harness(db, "attach-race", "").await;
    let first = order_asking(&h, "mug", 25_000_001).await;
    let second = order_asking(&h, "tee", 25_000_002).await;
    let sent = payment(&h.app, CHAIN, 0xab, 5_000_000);
    unmatched(&h, &[&sent]).await;
    let (mut ana, ana_csrf) = h.signed_in("ana", Role::Operator).await;
    let (mut bob, bob_csrf) = h.signed_in("bob", Role::Operator).await;
    let path = format!("{}/attach", attach_path(&sent, CHAIN));
    let ana_form = [
        ("csrf", ana_csrf.as_str()),
        ("pick", first.as_str()),
        ("note", "ana's call"),
    ];
    let bob_form = [
        ("csrf", bob_csrf.as_str()),
        ("pick", second.as_str()),
        ("note", "bob's call"),
    ];
    let (a, b) = tokio::join!(
        h.post(&mut ana, &path, &ana_form),
        h.post(&mut bob, &path, &bob_form),
    );
    let (won, lost, winner) = match (a.status, b.status) {
        (StatusCode::SEE_OTHER, StatusCode::CONFLICT) => (a, b, &first),
        (StatusCode::CONFLICT, StatusCode::SEE_OTHER) => (b, a, &second),
        other => panic!(
            "one success and one refusal, not {other:?}: {} / {}",
            a.body, b.body
        ),
    };
    assert_eq!(won.location(), format!("/console/orders/{winner}"));
    assert!(
        lost.body
            .contains(&format!("This payment now counts for order {winner}")),
        "{}",
        lost.body
    );
    assert!(lost.body.contains(r#"role="alert""#));
    let attaches = h
        .actions()
        .await
        .into_iter()
        .filter(|a| a == "payment.attach")
        .count();
    assert_eq!(attaches, 1, "only the change made is audited");
    let (_, owner) = h
        .store
        .chain_payment(CHAIN, &sent.tx_id, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.as_ref(), Some(winner));
    let loser = if winner == &first { &second } else { &first };
    let stored = h.store.get(loser).await.unwrap().unwrap();
    assert_eq!(stored.paid_atomic, 0);
    assert_eq!(
        h.store.get(winner).await.unwrap().unwrap().paid_atomic,
        5_000_000
    );

    // A payment of exactly what one order asks, attached at once to it and to another that
    // could take it: it is the first's by the matching rule, whoever comes first, and neither
    // waits on the other's order (no deadlock on PostgreSQL, which would answer 500).
    let asks = order_asking(&h, "cap", 26_000_000).await;
    let could = order_asking(&h, "hat", 30_000_000).await;
    let exact = payment(&h.app, CHAIN, 0xef, 26_000_000);
    unmatched(&h, &[&exact]).await;
    let path = format!("{}/attach", attach_path(&exact, CHAIN));
    let ana_form = [
        ("csrf", ana_csrf.as_str()),
        ("pick", could.as_str()),
        ("note", "ana's call"),
    ];
    let bob_form = [
        ("csrf", bob_csrf.as_str()),
        ("pick", asks.as_str()),
        ("note", "bob's call"),
    ];
    let (a, b) = tokio::join!(
        h.post(&mut ana, &path, &ana_form),
        h.post(&mut bob, &path, &bob_form),
    );
    assert_eq!(b.status, StatusCode::SEE_OTHER, "{}", b.body);
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert!(a.body.contains(&asks), "names the order it is: {}", a.body);
}

async fn a_failed_delivery_is_resent_and_each_attempt_is_kept_on_the_timeline(db: Db) {
    let h = harness(db, "resend", "").await;
    let id = order_asking(&h, "mug", 25_000_001).await;
    let event = format!("ful_{id}");
    let mut write = h.store.begin().await.unwrap();
    write
        .queue_event(&OutboxEvent {
            id: event.clone(),
            checkout_id: id.clone(),
            body: "{}".into(),
            created_at: now_ms(),
        })
        .await
        .unwrap();
    write.commit().await.unwrap();
    let t = now_ms();
    h.store
        .mark_attempt(&event, 1, t, Err(("HTTP 503".into(), t + 5_000)))
        .await
        .unwrap();
    h.store
        .mark_attempt(
            &event,
            2,
            t + 5_000,
            Err(("<b>connection refused</b>".into(), t + 3_600_000)),
        )
        .await
        .unwrap();
    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert!(queue.body.contains("Resend now"), "{}", queue.body);
    assert!(
        queue.body.contains("&lt;b&gt;connection refused"),
        "escaped"
    );
    assert!(queue.body.contains(r#"<span class="count">1</span>"#));
    // Not due for an hour: nothing to send.
    assert!(
        h.store
            .claim_due_events(now_ms(), now_ms() + 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let reply = h
        .post(
            &mut ana,
            &format!("/console/exceptions/deliveries/{event}/resend"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let due = h
        .store
        .claim_due_events(now_ms(), now_ms() + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "due again now");
    assert_eq!(due[0].attempts, 0, "its backoff starts again");
    assert!(h.actions().await.contains(&"fulfillment.resend".to_owned()));
    // Sent again, and delivered: three attempts, each with its answer, on the order's page.
    h.store
        .mark_attempt(&event, 1, t + 10_000, Ok(()))
        .await
        .unwrap();
    let page = h.get(&mut ana, &format!("/console/orders/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for answer in [
        "Delivery attempt 1: failed",
        "HTTP 503",
        "Delivery attempt 2: failed",
        "&lt;b&gt;connection refused&lt;/b&gt;",
        "Fulfillment event sent again by ana",
        "Delivery attempt 3: delivered",
    ] {
        assert!(page.body.contains(answer), "{answer}: {}", page.body);
    }
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert!(
        !queue.body.contains("Resend now"),
        "delivered: out of the queue"
    );
    // A delivered event is not sent again.
    let reply = h
        .post(
            &mut ana,
            &format!("/console/exceptions/deliveries/{event}/resend"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
}

async fn every_kind_of_exception_is_listed_counted_and_resolved_with_a_note(db: Db) {
    let h = harness(db, "queue", "").await;
    // Expired short, overpaid, and disagreeing: as settled facts would store them.
    let mut kinds = vec![];
    for (name, kind) in [
        ("short", "underpaid_expired"),
        ("over", "overpaid"),
        ("disputed", "disagreement"),
    ] {
        let id = order_asking(&h, name, 25_000_001).await;
        let stored = h.store.get(&id).await.unwrap().unwrap();
        let mut changed = stored.clone().next_version(now_ms());
        match kind {
            "underpaid_expired" => {
                changed.state = CheckoutState::Order(OrderStatus::Expired);
                changed.paid_atomic = 5_000_000;
            }
            "overpaid" => {
                changed.state = CheckoutState::Order(OrderStatus::Paid);
                changed.paid_atomic = 26_000_001;
                changed.overpaid_atomic = 1_000_000;
            }
            _ => {
                changed.disagreement =
                    Some("the gateway reports it paid; <i>the chain</i> shows 0".into())
            }
        }
        let mut write = h.store.begin().await.unwrap();
        write.update_payment(&changed).await.unwrap();
        write.commit().await.unwrap();
        kinds.push((id, kind));
    }
    // A payment on the other test chain into the address an order on this one waits at.
    let waiting = order_asking(&h, "waiting", 25_000_009).await;
    let wrong = payment(&h.app, ChainId(31338), 0xee, 25_000_009);
    let stray = payment(&h.app, CHAIN, 0xcd, 1_000_000);
    let mut write = h.store.begin().await.unwrap();
    write
        .record_chain_payment(ChainId(31338), &wrong, None)
        .await
        .unwrap();
    write
        .record_chain_payment(CHAIN, &stray, None)
        .await
        .unwrap();
    // The overpaid order's fulfillment event, refused once.
    let event = format!("ful_{}", kinds[1].0);
    write
        .queue_event(&OutboxEvent {
            id: event.clone(),
            checkout_id: kinds[1].0.clone(),
            body: "{}".into(),
            created_at: now_ms(),
        })
        .await
        .unwrap();
    write.commit().await.unwrap();
    h.store
        .mark_attempt(
            &event,
            1,
            now_ms(),
            Err(("HTTP 500".into(), now_ms() + 5_000)),
        )
        .await
        .unwrap();

    let (mut ana, csrf) = h.signed_in("ana", Role::Operator).await;
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains(r#"<span class="count">6</span>"#),
        "{}",
        queue.body
    );
    let section = |body: &str, kind: &str| -> String {
        let start = body.find(&format!(r#"<h2 id="{kind}""#)).unwrap();
        let rest = &body[start..];
        let end = rest[4..].find("<h2").map_or(rest.len(), |e| e + 4);
        rest[..end].to_owned()
    };
    for (id, kind) in &kinds {
        assert!(section(&queue.body, kind).contains(id.as_str()), "{kind}");
    }
    assert!(
        queue.body.contains("&lt;i&gt;the chain&lt;/i&gt;"),
        "escaped"
    );
    let wrong_section = section(&queue.body, "wrong_network");
    assert!(wrong_section.contains(wrong.tx_id.as_str()));
    assert!(wrong_section.contains(&waiting), "names the order waiting");
    let stray_section = section(&queue.body, "unmatched");
    assert!(stray_section.contains(stray.tx_id.as_str()));
    assert!(!stray_section.contains(wrong.tx_id.as_str()));

    // Resolved with a note: out of the queue and the count, on the resolved page.
    let (over, _) = &kinds[1];
    let key = format!("overpaid:{over}");
    let stray_key = format!("payment:{}:{}:0", CHAIN.0, stray.tx_id);
    let delivery_key = format!("failed_delivery:{event}");
    assert!(section(&queue.body, "failed_delivery").contains(&delivery_key));
    for key in [&key, &stray_key, &delivery_key] {
        let reply = h
            .post(
                &mut ana,
                "/console/exceptions/resolve",
                &[
                    ("csrf", &csrf),
                    ("key", key),
                    ("note", "Refunded <b>1 USDT</b> by hand"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{key}: {}", reply.body);
    }
    let queue = h.get(&mut ana, "/console/exceptions").await;
    assert!(
        queue.body.contains(r#"<span class="count">3</span>"#),
        "{}",
        queue.body
    );
    assert!(!section(&queue.body, "overpaid").contains(over.as_str()));
    assert!(!section(&queue.body, "unmatched").contains(stray.tx_id.as_str()));
    let resolved = h.get(&mut ana, "/console/exceptions/resolved").await;
    assert!(resolved.body.contains(over.as_str()));
    assert!(resolved.body.contains(stray.tx_id.as_str()));
    assert!(
        resolved
            .body
            .contains("Refunded &lt;b&gt;1 USDT&lt;/b&gt; by hand")
    );
    assert!(resolved.body.contains("ana"));
    let audit = h.store.audit_of(over, 10).await.unwrap();
    let resolved_of = |kind: &str| {
        audit.iter().any(|r| {
            r.entry.action == "exception.resolve"
                && r.entry.actor == "ana"
                && r.entry.before == Some(format!("{kind}: open"))
                && r.entry.after == Some(format!("{kind}: resolved"))
                && r.entry.note.as_deref() == Some("Refunded <b>1 USDT</b> by hand")
        })
    };
    assert!(
        resolved_of("overpaid") && resolved_of("failed_delivery"),
        "{audit:?}"
    );
    // Resolved once: a second time is refused, as are a made-up key and no note.
    for (key, note, status) in [
        (key.as_str(), "again", StatusCode::CONFLICT),
        ("overpaid:co_nobody", "made up", StatusCode::NOT_FOUND),
        (stray_key.as_str(), " ", StatusCode::BAD_REQUEST),
    ] {
        let reply = h
            .post(
                &mut ana,
                "/console/exceptions/resolve",
                &[("csrf", &csrf), ("key", key), ("note", note)],
            )
            .await;
        assert_eq!(reply.status, status, "{key} {note:?}");
    }
    let resolutions = h
        .actions()
        .await
        .into_iter()
        .filter(|a| a == "exception.resolve")
        .count();
    assert_eq!(resolutions, 3);
}

/// A long queue: orders read by pages past the resolved ones, counted whole, each section
/// listing the newest. How long it took is printed (`--nocapture`), not asserted.
async fn a_long_queue_is_read_by_pages_and_counted_whole(db: Db) {
    use std::time::Instant;
    use usdt_checkout_server::console::exceptions;
    use usdt_checkout_server::domain::{CreatedBy, Price};

    let h = harness(db, "long-queue", "").await;
    let (orders, unmatched_payments, overpaid, resolved) = (700, 300, 450, 220);
    let started = Instant::now();
    let mut ids = vec![];
    for n in 0..orders {
        let mut checkout = usdt_checkout_server::domain::Checkout::open(
            format!("co_long_{n:05}"),
            CreatedBy::Storefront,
            "Mug".into(),
            Price {
                amount: "25".parse().unwrap(),
                currency: "USD".into(),
            },
        );
        checkout.created_at -= (orders - n) as u64 * 1_000;
        let id = h.store.insert(&checkout).await.unwrap().id;
        h.store
            .attach_order(
                &id,
                &terms(&h.app, &format!("{id}-a"), 25_000_000 + n as u128),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let mut write = h.store.begin().await.unwrap();
    for n in 0..unmatched_payments {
        let mut p = payment(&h.app, CHAIN, 0, 1_000 + n as u128);
        p.tx_id = format!("0x{:064x}", n + 1).parse().unwrap();
        write.record_chain_payment(CHAIN, &p, None).await.unwrap();
    }
    // The newest orders overpaid, and the newest of those resolved: the older ones are found
    // past them.
    for (n, id) in ids.iter().rev().take(overpaid).enumerate() {
        let mut changed = h
            .store
            .get(id)
            .await
            .unwrap()
            .unwrap()
            .next_version(now_ms());
        changed.state = CheckoutState::Order(OrderStatus::Paid);
        changed.paid_atomic = 30_000_000;
        changed.overpaid_atomic = 5_000_000;
        write.update_payment(&changed).await.unwrap();
        if n < resolved {
            write
                .resolve(&usdt_checkout_server::store::Resolution {
                    key: format!("overpaid:{id}"),
                    kind: "overpaid".into(),
                    subject: id.clone(),
                    resolved_by: "ana".into(),
                    resolved_at: now_ms(),
                    note: "refunded".into(),
                })
                .await
                .unwrap();
        }
    }
    write.commit().await.unwrap();
    println!(
        "{}: {orders} orders, {unmatched_payments} unmatched payments, {overpaid} overpaid \
         ({resolved} resolved) made in {:?}",
        db.name(),
        started.elapsed()
    );
    let open = (unmatched_payments + overpaid - resolved) as u64;
    for round in 0..3 {
        let at = Instant::now();
        assert_eq!(exceptions::count(&h.store).await.unwrap(), open);
        let counted = at.elapsed();
        let at = Instant::now();
        let queue = exceptions::Queue::gather(&h.store).await.unwrap();
        let gathered = at.elapsed();
        assert_eq!(queue.payments.len(), 200, "the newest");
        assert_eq!(queue.unmatched_total, unmatched_payments as u64);
        assert_eq!(queue.orders.len(), overpaid - resolved, "none crowded out");
        let oldest_open = &ids[orders - overpaid];
        assert!(queue.orders.iter().any(|(_, o)| &o.id == oldest_open));
        println!(
            "{} round {round}: counted in {counted:?}, gathered in {gathered:?}",
            db.name()
        );
    }
    let (mut ana, _) = h.signed_in("ana", Role::Operator).await;
    let page = h.get(&mut ana, "/console/exceptions").await;
    assert!(
        page.body
            .contains(&format!(r#"<span class="count">{open}</span>"#))
    );
    assert!(
        page.body
            .contains("The newest 200 of the 300 unmatched payments")
    );
    assert!(
        page.body.contains("The newest 200 are listed."),
        "230 overpaid open"
    );
}
