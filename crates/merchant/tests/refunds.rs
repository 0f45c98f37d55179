//! Refunds in-process, each test on SQLite and on PostgreSQL: what a shopper may ask back in each
//! state of their order, a request proven by the paying wallet's signature (anvil's well-known
//! key signs, as a browser wallet would) or kept unproven, every refusal (a forged signature,
//! another address's, more than refundable, a payment the money never reached, a replayed
//! signature), and two approvals at once, of which one wins.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::Db;
use common::console::*;
use serde_json::{Value, json};
use usdt_checkout_chain::{ChainPayment, PaymentKind};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::refund::{RefundState, refund_message};
use usdt_checkout_protocol::{Address, ChainId, OrderStatus, TxHash};
use usdt_checkout_server::app::App;
use usdt_checkout_server::checkouts::{NotDone, RefundRequest};
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::domain::PaymentTerms;
use usdt_checkout_server::refunds::{Proof, Refund, Refusal};
use usdt_checkout_server::store::AuditEntry;

on_both!(
    a_shopper_asks_back_an_overpaid_excess_proven_by_the_paying_wallet,
    a_forged_signature_or_another_addresss_asks_nothing,
    more_than_refundable_is_refused,
    a_payment_or_chain_the_money_never_reached_is_refused,
    a_replayed_signature_is_the_same_request,
    what_a_shopper_may_ask_follows_the_orders_state,
    an_unproven_request_needs_a_valid_address_and_waits_for_the_merchant,
    two_approvals_at_once_never_give_back_more_than_the_payment,
    a_refusal_is_final_and_its_reason_is_shown,
    a_transfer_pays_one_refund_and_only_its_own,
    refunds_are_read_by_state_a_page_at_a_time,
    more_than_a_waiting_order_asks_matched_to_no_order_is_asked_back_with_proof,
    money_given_back_counts_no_more_toward_what_the_order_was_paid,
);

const CHAIN: ChainId = ChainId(31337);
const OTHER_CHAIN: ChainId = ChainId(31338);
/// anvil's and hardhat's first and second accounts: keys everyone knows, for tests only.
const PAYER_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const OTHER_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const OTHER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// Where refunds go when the shopper names another address.
const FRIEND: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/// An EIP-191 (`personal_sign`) signature of `message` by `key`, as a wallet returns it.
fn sign(key: &str, message: &str) -> String {
    use k256::ecdsa::SigningKey;
    let key = SigningKey::from_slice(&usdt_checkout_protocol::hex::decode(key).unwrap()).unwrap();
    let mut prefixed = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    prefixed.extend_from_slice(message.as_bytes());
    let digest = usdt_checkout_protocol::address::keccak256(&prefixed);
    let (signature, recovery) = key.sign_prehash_recoverable(&digest).unwrap();
    let mut bytes = signature.to_bytes().to_vec();
    bytes.push(27 + recovery.to_byte());
    format!("0x{}", usdt_checkout_protocol::hex::encode(&bytes))
}

/// Where order `n` of a test is paid: each its own address, so no payment could be another's.
fn receiver(n: u8) -> Address {
    Address::from_bytes([0xe0 + n; 20])
}

/// An order's terms on the test chain: `amount_atomic` USDT (6 decimals) into `receiver(n)`.
fn terms(app: &App, n: u8, order_no: &str, amount_atomic: u128) -> PaymentTerms {
    PaymentTerms {
        chain_id: CHAIN,
        symbol: "USDT".into(),
        token_contract: app.config.registry.token(CHAIN, "USDT").unwrap().contract,
        decimals: 6,
        amount_atomic,
        gateway_order_no: order_no.into(),
        plat_order_no: format!("P-{n}"),
        pay_amount_atomic: amount_atomic,
        to_address: receiver(n),
        cashier_url: String::new(),
        expires_at: now_ms() + 900_000,
        required_confirmations: 2,
    }
}

/// A USDT transfer on `chain` from `PAYER` into `receiver(n)`, mined now in block 100.
fn payment(app: &App, chain: ChainId, n: u8, tx: u8, value: u128) -> ChainPayment {
    ChainPayment {
        tx_id: TxHash::from_bytes([tx; 32]),
        log_index: 0,
        block_number: 100,
        block_hash: format!("0x{}", "11".repeat(32)),
        from: PAYER.parse().unwrap(),
        to: receiver(n),
        token: app.config.registry.token(chain, "USDT").unwrap().contract,
        value,
        kind: PaymentKind::Transfer,
        order_no: None,
        timestamp_ms: now_ms() / 1000 * 1000 + 1000,
    }
}

/// Order `n`, of 25 USD asking `amount_atomic` USDT.
async fn order_asking(h: &Harness, n: u8, amount_atomic: u128) -> String {
    let id = h.order("25.00", "USD", "Mug", &format!("ref-{n}")).await;
    h.app
        .checkouts
        .attach_order(&id, &terms(&h.app, n, &format!("{id}-a"), amount_atomic))
        .await
        .unwrap();
    id
}

/// Order `id` in `state`, paid by `attached` as the chain's facts settled it, with `unmatched`
/// payments the watcher kept for no order; then a server started on the database, which reads
/// them all as it starts.
async fn settled(
    h: &Harness,
    id: &str,
    state: OrderStatus,
    attached: &[&ChainPayment],
    unmatched: &[(ChainId, &ChainPayment)],
) -> Harness {
    let stored = h.store.get(id).await.unwrap().unwrap();
    let asked = stored.terms.as_ref().unwrap().pay_amount_atomic;
    let paid: u128 = attached.iter().map(|p| p.value).sum();
    let mut changed = stored.clone().next_version(now_ms());
    changed.state = CheckoutState::Order(state);
    changed.paid_atomic = paid;
    changed.remaining_atomic = Some(asked.saturating_sub(paid));
    changed.overpaid_atomic = paid.saturating_sub(asked);
    let mut write = h.store.begin().await.unwrap();
    for p in attached {
        assert!(
            write
                .record_chain_payment(CHAIN, p, Some(id))
                .await
                .unwrap()
        );
    }
    for (chain, p) in unmatched {
        assert!(write.record_chain_payment(*chain, p, None).await.unwrap());
    }
    write.update_payment(&changed).await.unwrap();
    write.commit().await.unwrap();
    h.another_server().await
}

async fn call(h: &Harness, request: Request<Body>) -> (StatusCode, Value) {
    let reply = h.send(&Browser::default(), request).await;
    let body = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    (reply.status, body)
}

async fn refunds(h: &Harness, id: &str) -> Value {
    let request = Request::get(format!("/api/checkouts/{id}/refunds"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(h, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn ask(h: &Harness, id: &str, ask: Value) -> (StatusCode, Value) {
    let request = Request::post(format!("/api/checkouts/{id}/refunds"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(ask.to_string()))
        .unwrap();
    call(h, request).await
}

/// A request for `amount` of `p` (on `chain`) for order `id` to `to`, signed by `key` if any.
fn asking(
    id: &str,
    chain: ChainId,
    p: &ChainPayment,
    amount: &str,
    to: &str,
    key: Option<&str>,
) -> Value {
    let mut body = json!({
        "chainId": chain.0,
        "sourceTx": p.tx_id.as_str(),
        "sourceLogIndex": p.log_index,
        "amount": amount,
        "destination": to,
    });
    if let Some(key) = key {
        let to: Address = to.parse().unwrap();
        let message = refund_message(id, p.tx_id.as_str(), chain, amount, "USDT", &to);
        body["signature"] = sign(key, &message).into();
    }
    body
}

fn staff(name: &str) -> AuditEntry {
    AuditEntry {
        at: now_ms(),
        actor: name.into(),
        action: "refund.approve".into(),
        ..AuditEntry::default()
    }
}

async fn a_shopper_asks_back_an_overpaid_excess_proven_by_the_paying_wallet(db: Db) {
    let h = harness(db, "refund-over", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 30_000_001);
    let s = settled(&h, &id, OrderStatus::Paid, &[&sent], &[]).await;

    let offered = refunds(&s, &id).await;
    let refundable = &offered["refundable"][0];
    assert_eq!(refundable["max"], "5", "{offered}");
    assert_eq!(refundable["from"], PAYER);
    assert_eq!(refundable["sourceTx"], sent.tx_id.as_str());
    assert_eq!(refundable["symbol"], "USDT");
    // The message offered is the one a wallet signs for all of it, to itself.
    let message = refundable["message"].as_str().unwrap();
    assert_eq!(
        message,
        refund_message(
            &id,
            sent.tx_id.as_str(),
            CHAIN,
            "5",
            "USDT",
            &PAYER.parse().unwrap()
        )
    );

    let (status, view) = ask(
        &s,
        &id,
        asking(&id, CHAIN, &sent, "5", FRIEND, Some(PAYER_KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["state"], "requested");
    assert_eq!(view["proven"], true);
    assert_eq!(view["amount"], "5");
    assert_eq!(view["destination"], FRIEND);
    let listed = refunds(&s, &id).await;
    assert_eq!(listed["refunds"][0]["id"], view["id"]);
    // Requested only: the excess is still there to ask, until the merchant approves.
    assert_eq!(listed["refundable"][0]["max"], "5");
    let rf = view["id"].as_str().unwrap();
    let approved = s
        .app
        .checkouts
        .approve_refund(rf, staff("ana"))
        .await
        .unwrap();
    assert_eq!(approved.unwrap().state, RefundState::Approved);
    let after = refunds(&s, &id).await;
    assert_eq!(after["refundable"], json!([]), "all given back: {after}");
    assert_eq!(after["refunds"][0]["state"], "approved");
    let actions = h.actions().await;
    assert!(
        actions.contains(&"refund.request".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"refund.approve".to_owned()),
        "{actions:?}"
    );
}

async fn a_forged_signature_or_another_addresss_asks_nothing(db: Db) {
    let h = harness(db, "refund-forged", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 30_000_001);
    let s = settled(&h, &id, OrderStatus::Paid, &[&sent], &[]).await;

    // Another wallet signs the very request: it did not pay.
    let (status, error) = ask(
        &s,
        &id,
        asking(&id, CHAIN, &sent, "5", OTHER, Some(OTHER_KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "refund_bad_signature");
    assert_eq!(error["params"]["sender"], PAYER);
    assert_eq!(error["params"]["signer"], OTHER);
    // The payer's signature over another request (to themselves) is not one over this one
    // (to another address): it recovers someone else.
    let mut moved = asking(&id, CHAIN, &sent, "5", PAYER, Some(PAYER_KEY));
    moved["destination"] = OTHER.into();
    let (status, error) = ask(&s, &id, moved).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "refund_bad_signature");
    assert_ne!(error["params"]["signer"], PAYER);
    // Bytes that are no signature at all.
    let mut garbage = asking(&id, CHAIN, &sent, "5", PAYER, None);
    garbage["signature"] = format!("0x{}", "12".repeat(65)).into();
    let (status, error) = ask(&s, &id, garbage).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "refund_bad_signature");
    assert_eq!(refunds(&s, &id).await["refunds"], json!([]), "nothing kept");
}

async fn more_than_refundable_is_refused(db: Db) {
    let h = harness(db, "refund-much", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 30_000_001);
    let s = settled(&h, &id, OrderStatus::Paid, &[&sent], &[]).await;
    let (status, error) = ask(
        &s,
        &id,
        asking(&id, CHAIN, &sent, "5.000001", PAYER, Some(PAYER_KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "refund_too_much");
    assert_eq!(error["params"]["max"], "5");
    assert_eq!(error["params"]["symbol"], "USDT");
    // The merchant may give back all of what is left, and not a unit more.
    let source = (CHAIN, &sent.tx_id, 0);
    let to: Address = PAYER.parse().unwrap();
    let over = s
        .app
        .checkouts
        .start_refund(Some(&id), source, 30_000_002, to, staff("ana"))
        .await;
    assert_eq!(
        over.unwrap(),
        Err(NotDone::Refused(Refusal::TooMuch { max: 30_000_001 }))
    );
    let all = s
        .app
        .checkouts
        .start_refund(Some(&id), source, 30_000_001, to, staff("ana"))
        .await;
    assert_eq!(all.unwrap().unwrap().refund().state, RefundState::Approved);
    let again = s
        .app
        .checkouts
        .start_refund(None, source, 1, to, staff("ana"))
        .await;
    assert_eq!(
        again.unwrap(),
        Err(NotDone::Refused(Refusal::NotRefundable))
    );
    let (status, error) = ask(
        &s,
        &id,
        asking(&id, CHAIN, &sent, "1", PAYER, Some(PAYER_KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "refund_not_refundable");
    let (status, error) = ask(&s, &id, asking(&id, CHAIN, &sent, "0", PAYER, None)).await;
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_request"))
    );
}

async fn a_payment_or_chain_the_money_never_reached_is_refused(db: Db) {
    let h = harness(db, "refund-never", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 25_000_001);
    let s = settled(&h, &id, OrderStatus::Expired, &[&sent], &[]).await;
    // The payment's transaction named on the other chain, where nothing arrived.
    let (status, error) = ask(&s, &id, asking(&id, OTHER_CHAIN, &sent, "1", PAYER, None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "refund_unknown_payment");
    // Another log of it, or a transaction the chain never showed.
    let mut other_log = asking(&id, CHAIN, &sent, "1", PAYER, None);
    other_log["sourceLogIndex"] = 1.into();
    let never = ChainPayment {
        tx_id: TxHash::from_bytes([0x99; 32]),
        ..sent.clone()
    };
    for body in [
        other_log,
        asking(&id, CHAIN, &never, "1", PAYER, Some(PAYER_KEY)),
    ] {
        let (status, error) = ask(&s, &id, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["code"], "refund_unknown_payment");
    }
    // Another order's payment: it reached the shop, but is not this shopper's to ask.
    let theirs_id = order_asking(&h, 2, 25_000_002).await;
    let theirs = payment(&h.app, CHAIN, 2, 0xa2, 25_000_002);
    let s = settled(&h, &theirs_id, OrderStatus::Expired, &[&theirs], &[]).await;
    let (status, error) = ask(
        &s,
        &id,
        asking(&id, CHAIN, &theirs, "1", PAYER, Some(PAYER_KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "refund_not_refundable");
    let (status, _) = ask(
        &s,
        "co_nobody",
        asking("co_nobody", CHAIN, &sent, "1", PAYER, None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_replayed_signature_is_the_same_request(db: Db) {
    let h = harness(db, "refund-replay", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 25_000_001);
    let s = settled(&h, &id, OrderStatus::Expired, &[&sent], &[]).await;
    let body = asking(&id, CHAIN, &sent, "25.000001", PAYER, Some(PAYER_KEY));
    let (status, first) = ask(&s, &id, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = ask(&s, &id, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    // The same signature spelt otherwise (upper-case hex, v as 0 or 1) is the same too.
    let signature = body["signature"].as_str().unwrap();
    let v = u8::from_str_radix(&signature[130..], 16).unwrap() - 27;
    let respelt = format!("0x{}{v:02x}", signature[2..130].to_uppercase());
    let mut other = body.clone();
    other["signature"] = respelt.into();
    let (status, again) = ask(&s, &id, other).await;
    assert_eq!(
        (status, &again["id"]),
        (StatusCode::OK, &first["id"]),
        "{again}"
    );
    // And so after the merchant refused it: a replay asks nothing anew.
    let rf = first["id"].as_str().unwrap();
    s.app
        .checkouts
        .refuse_refund(rf, "not yours", staff("ana"))
        .await
        .unwrap()
        .unwrap();
    let (status, again) = ask(&s, &id, body).await;
    assert_eq!(
        (status, &again["state"]),
        (StatusCode::OK, &json!("refused")),
        "{again}"
    );
    let kept = s.store.refunds_of(&id).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
}

async fn what_a_shopper_may_ask_follows_the_orders_state(db: Db) {
    let h = harness(db, "refund-cap", "").await;
    let max = |view: &Value| -> Vec<(String, String)> {
        view["refundable"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["sourceTx"].as_str().unwrap().to_owned(),
                    r["max"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // Paid exactly: nothing, asked or offered.
    let plain = order_asking(&h, 1, 25_000_001).await;
    let exact = payment(&h.app, CHAIN, 1, 0xa1, 25_000_001);
    let s = settled(&h, &plain, OrderStatus::Paid, &[&exact], &[]).await;
    assert_eq!(max(&refunds(&s, &plain).await), vec![]);
    let (status, error) = ask(
        &s,
        &plain,
        asking(&plain, CHAIN, &exact, "1", PAYER, Some(PAYER_KEY)),
    )
    .await;
    assert_eq!(
        (status, &error["code"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("refund_not_refundable")
        )
    );
    // Expired with part of it: all of that part.
    let short = order_asking(&h, 2, 25_000_002).await;
    let part = payment(&h.app, CHAIN, 2, 0xa2, 10_000_000);
    let s = settled(&h, &short, OrderStatus::Expired, &[&part], &[]).await;
    assert_eq!(
        max(&refunds(&s, &short).await),
        vec![(part.tx_id.to_string(), "10".into())]
    );
    // Paid, then paid again in full (matched to nothing), and a payment on the other network:
    // each whole.
    let twice = order_asking(&h, 3, 25_000_003).await;
    let first = payment(&h.app, CHAIN, 3, 0xa3, 25_000_003);
    let second = payment(&h.app, CHAIN, 3, 0xb3, 25_000_003);
    let wrong = payment(&h.app, OTHER_CHAIN, 3, 0xc3, 7_000_000_000_000_000_000);
    // Another wallet's later payment to the same (shared) address is no shopper's of this
    // order by that alone: neither offered nor askable unproven.
    let stranger = ChainPayment {
        from: FRIEND.parse().unwrap(),
        ..payment(&h.app, CHAIN, 3, 0xd3, 25_000_003)
    };
    let s = settled(
        &h,
        &twice,
        OrderStatus::Paid,
        &[&first],
        &[(CHAIN, &second), (OTHER_CHAIN, &wrong), (CHAIN, &stranger)],
    )
    .await;
    let (status, error) = ask(
        &s,
        &twice,
        asking(&twice, CHAIN, &stranger, "25", FRIEND, None),
    )
    .await;
    assert_eq!(
        (status, &error["code"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("refund_not_refundable")
        ),
        "{error}"
    );
    let mut offered = max(&refunds(&s, &twice).await);
    offered.sort();
    let mut expected = vec![
        (second.tx_id.to_string(), "25.000003".to_owned()),
        (wrong.tx_id.to_string(), "7".to_owned()),
    ];
    expected.sort();
    assert_eq!(offered, expected);
    // The wrong network's refund is asked on that network, in its token (18 decimals there).
    let (status, view) = ask(
        &s,
        &twice,
        asking(&twice, OTHER_CHAIN, &wrong, "7", PAYER, Some(PAYER_KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(
        (view["chainId"].as_u64(), &view["amount"]),
        (Some(OTHER_CHAIN.0), &json!("7"))
    );
    let kept = s.store.refunds_of(&twice).await.unwrap();
    assert_eq!(kept[0].amount_atomic, 7_000_000_000_000_000_000);
    assert_eq!(kept[0].token, wrong.token);
    // Still waiting: nothing yet, even of a payment that may be its own.
    let waiting = order_asking(&h, 4, 25_000_004).await;
    let early = payment(&h.app, CHAIN, 4, 0xa4, 10_000_000);
    let s = settled(&h, &waiting, OrderStatus::PartiallyPaid, &[&early], &[]).await;
    assert_eq!(max(&refunds(&s, &waiting).await), vec![]);
}

async fn an_unproven_request_needs_a_valid_address_and_waits_for_the_merchant(db: Db) {
    let h = harness(db, "refund-unproven", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 25_000_001);
    let s = settled(&h, &id, OrderStatus::Expired, &[&sent], &[]).await;
    // A mixed-case address whose checksum is wrong, the zero address, and a bad email.
    let bad_checksum = FRIEND.replace("Cd", "cD");
    let mut bad_email = asking(&id, CHAIN, &sent, "25", FRIEND, None);
    bad_email["email"] = "shopper at example.com".into();
    for body in [
        asking(&id, CHAIN, &sent, "25", &bad_checksum, None),
        asking(
            &id,
            CHAIN,
            &sent,
            "25",
            &format!("0x{}", "0".repeat(40)),
            None,
        ),
        asking(&id, CHAIN, &sent, "25", "0x1234", None),
        bad_email,
    ] {
        let (status, error) = ask(&s, &id, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["code"], "refund_bad_destination");
    }
    let mut good = asking(&id, CHAIN, &sent, "25", &FRIEND.to_lowercase(), None);
    good["email"] = " shopper@example.com ".into();
    let (status, view) = ask(&s, &id, good).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(
        (&view["proven"], &view["state"]),
        (&json!(false), &json!("requested"))
    );
    assert_eq!(view["destination"], FRIEND, "kept checksummed");
    let kept = s.store.refunds_of(&id).await.unwrap();
    assert_eq!(kept[0].email.as_deref(), Some("shopper@example.com"));
    assert_eq!(kept[0].signature, None);

    // The shop's own receiving address gives nothing back: a transfer there reads as a payment.
    let other = order_asking(&h, 2, 25_000_001).await;
    let paid = payment(&h.app, CHAIN, 2, 0xa2, 25_000_001);
    let s = settled(&h, &other, OrderStatus::Expired, &[&paid], &[]).await;
    for own in [receiver(2), receiver(1)] {
        let body = asking(&other, CHAIN, &paid, "25", &own.to_string(), None);
        let (status, error) = ask(&s, &other, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["code"], "refund_bad_destination");
    }
    assert!(s.store.refunds_of(&other).await.unwrap().is_empty());
}

async fn two_approvals_at_once_never_give_back_more_than_the_payment(db: Db) {
    let h = harness(db, "refund-race", "").await;
    let id = order_asking(&h, 1, 30_000_000).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 30_000_000);
    let s = settled(&h, &id, OrderStatus::Expired, &[&sent], &[]).await;
    let other = s.another_server().await;
    let mut left = 30_000_000;
    // Each round two requests that fit alone and not together (requests reserve nothing), of
    // which two operators on two servers approve one each at once.
    for amount in [20_000_000, 6_000_000, 3_000_000] {
        let mut ids = vec![];
        for _ in 0..2 {
            let request = RefundRequest {
                chain: CHAIN,
                tx: sent.tx_id.clone(),
                log_index: 0,
                amount_atomic: amount,
                destination: PAYER.parse().unwrap(),
                proof: Proof::Unproven { email: None },
                signer: None,
            };
            let asked = s.app.checkouts.request_refund(&id, request).await.unwrap();
            ids.push(asked.unwrap().refund().id.clone());
        }
        let (a, b) = tokio::join!(
            s.app.checkouts.approve_refund(&ids[0], staff("ana")),
            other.app.checkouts.approve_refund(&ids[1], staff("bo")),
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        assert_eq!(
            outcomes.iter().filter(|o| o.is_ok()).count(),
            1,
            "one wins: {outcomes:?}"
        );
        left -= amount;
        let lost = outcomes.iter().find_map(|o| o.clone().err()).unwrap();
        assert_eq!(lost, NotDone::Refused(Refusal::TooMuch { max: left }));
        let given: u128 = s
            .store
            .refunds_of_payment(CHAIN, &sent.tx_id, 0)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.state.commits_money())
            .map(|r| r.amount_atomic)
            .sum();
        assert_eq!(given, sent.value - left);
    }
}

async fn a_refusal_is_final_and_its_reason_is_shown(db: Db) {
    let h = harness(db, "refund-refused", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 25_000_001);
    let s = settled(&h, &id, OrderStatus::Expired, &[&sent], &[]).await;
    let (_, view) = ask(&s, &id, asking(&id, CHAIN, &sent, "25", FRIEND, None)).await;
    let rf = view["id"].as_str().unwrap();
    let reason = "Paid from an exchange: <write to us> with the withdrawal's id";
    let refused = s
        .app
        .checkouts
        .refuse_refund(rf, reason, staff("ana"))
        .await
        .unwrap();
    assert_eq!(refused.unwrap().state, RefundState::Refused);
    let shown = &refunds(&s, &id).await["refunds"][0];
    assert_eq!(
        (&shown["state"], &shown["reason"]),
        (&json!("refused"), &json!(reason))
    );
    let again = s
        .app
        .checkouts
        .approve_refund(rf, staff("bo"))
        .await
        .unwrap();
    assert!(
        matches!(again, Err(NotDone::Refused(Refusal::Illegal(_)))),
        "{again:?}"
    );
    let twice = s
        .app
        .checkouts
        .refuse_refund(rf, "again", staff("bo"))
        .await
        .unwrap();
    assert!(
        matches!(twice, Err(NotDone::Refused(Refusal::Illegal(_)))),
        "{twice:?}"
    );
    let audited = h.store.audit_of(rf, 10).await.unwrap();
    assert_eq!(audited.len(), 2, "the request and the refusal: {audited:?}");
    assert_eq!(audited[0].entry.note.as_deref(), Some(reason));
}

async fn a_transfer_pays_one_refund_and_only_its_own(db: Db) {
    let h = harness(db, "refund-sent", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 25_000_001);
    let s = settled(&h, &id, OrderStatus::Expired, &[&sent], &[]).await;
    let to: Address = FRIEND.parse().unwrap();
    let source = (CHAIN, &sent.tx_id, 0);
    let start = |amount| {
        s.app
            .checkouts
            .start_refund(Some(&id), source, amount, to, staff("ana"))
    };
    let first = start(5_000_000).await.unwrap().unwrap().refund().clone();
    let second = start(5_000_000).await.unwrap().unwrap().refund().clone();
    let transfer = ChainPayment {
        tx_id: TxHash::from_bytes([0xf1; 32]),
        block_number: 120,
        from: receiver(1),
        to,
        value: 5_000_000,
        timestamp_ms: now_ms() + 2_000,
        ..sent.clone()
    };
    let entry = || AuditEntry {
        action: "refund.sent".into(),
        ..staff("chain watcher")
    };
    // Another amount, or before it was approved: not its transfer.
    let short = ChainPayment {
        value: 4_999_999,
        ..transfer.clone()
    };
    let early = ChainPayment {
        timestamp_ms: first.approved_at.unwrap() - 5_000,
        ..transfer.clone()
    };
    for wrong in [&short, &early] {
        let not = s
            .app
            .checkouts
            .refund_sent(&first.id, CHAIN, wrong, entry())
            .await
            .unwrap();
        assert_eq!(
            not,
            Err(usdt_checkout_server::checkouts::NotSent::NotItsTransfer)
        );
    }
    let paid = s
        .app
        .checkouts
        .refund_sent(&first.id, CHAIN, &transfer, entry())
        .await
        .unwrap();
    assert_eq!(paid.unwrap().state, RefundState::Sent);
    // Read again: the same. For the other refund of the same amount and address: refused.
    let again = s
        .app
        .checkouts
        .refund_sent(&first.id, CHAIN, &transfer, entry())
        .await
        .unwrap();
    assert_eq!(again.unwrap().state, RefundState::Sent);
    let other = s
        .app
        .checkouts
        .refund_sent(&second.id, CHAIN, &transfer, entry())
        .await
        .unwrap();
    assert_eq!(
        other,
        Err(usdt_checkout_server::checkouts::NotSent::PaysAnother(
            first.id.clone()
        ))
    );
    let shown = &refunds(&s, &id).await["refunds"];
    let shown = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == first.id.as_str())
        .unwrap();
    assert_eq!(shown["sentTx"], transfer.tx_id.as_str());
    let receipt = shown["receiptUrl"].as_str().unwrap();
    let request = Request::get(receipt).body(Body::empty()).unwrap();
    let (status, signed) = call(&s, request).await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert!(
        signed.to_string().contains(transfer.tx_id.as_str()),
        "{signed}"
    );
    // The reorg that takes the transfer back makes it approved again, to be read anew.
    let mut write = s.store.begin().await.unwrap();
    assert_eq!(
        write.rewind_refunds(CHAIN, 120).await.unwrap(),
        vec![first.id.clone()]
    );
    write.commit().await.unwrap();
    assert_eq!(
        s.store.refund(&first.id).await.unwrap().unwrap().state,
        RefundState::Approved
    );
}

async fn refunds_are_read_by_state_a_page_at_a_time(db: Db) {
    let h = harness(db, "refund-pages", "").await;
    let id = order_asking(&h, 1, 25_000_001).await;
    let sent = payment(&h.app, CHAIN, 1, 0xa1, 25_000_001);
    let s = settled(&h, &id, OrderStatus::Expired, &[&sent], &[]).await;
    let mut asked = vec![];
    for _ in 0..5 {
        let request = RefundRequest {
            chain: CHAIN,
            tx: sent.tx_id.clone(),
            log_index: 0,
            amount_atomic: 1_000_000,
            destination: FRIEND.parse().unwrap(),
            proof: Proof::Unproven { email: None },
            signer: None,
        };
        let refund = s.app.checkouts.request_refund(&id, request).await.unwrap();
        asked.push(refund.unwrap().refund().clone());
    }
    s.app
        .checkouts
        .approve_refund(&asked[0].id, staff("ana"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.store.count_refunds(RefundState::Requested).await.unwrap(),
        4
    );
    assert_eq!(
        s.store.count_refunds(RefundState::Approved).await.unwrap(),
        1
    );
    let approved = s.store.approved_refunds(CHAIN).await.unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].id, asked[0].id);
    assert_eq!(s.store.approved_refunds(OTHER_CHAIN).await.unwrap(), vec![]);
    // Newest first, two at a time, then from the last one seen: each once.
    let mut seen = vec![];
    let mut before: Option<(u64, String)> = None;
    loop {
        let page = s
            .store
            .refunds_page(
                Some(RefundState::Requested),
                2,
                before.as_ref().map(|(at, id)| (*at, id.as_str())),
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some((last.requested_at, last.id.clone()));
        seen.extend(page.into_iter().map(|r| r.id));
    }
    let mut expected: Vec<&Refund> = asked[1..].iter().collect();
    expected.sort_by(|a, b| (b.requested_at, &b.id).cmp(&(a.requested_at, &a.id)));
    let expected: Vec<String> = expected.into_iter().map(|r| r.id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(s.store.refunds_page(None, 10, None).await.unwrap().len(), 5);
    let one = s.store.refund(&asked[2].id).await.unwrap().unwrap();
    assert_eq!(one, asked[2]);
    assert_eq!(s.store.refund("rf_none").await.unwrap(), None);
}

/// Many orders wait at one receiving address (BlockATM's V1 gives one per merchant): a payment
/// of more than an order asks matches none of them, its amount naming no order. Its sender's
/// order offers it whole, to be asked back with the paying wallet's signature; asked without,
/// it is nobody's by that word.
async fn more_than_a_waiting_order_asks_matched_to_no_order_is_asked_back_with_proof(db: Db) {
    let h = harness(db, "refund-over-unmatched", "").await;
    let id = order_asking(&h, 5, 25_000_005).await;
    let over = payment(&h.app, CHAIN, 5, 0xa5, 26_000_000);
    let s = settled(&h, &id, OrderStatus::Waiting, &[], &[(CHAIN, &over)]).await;
    let view = refunds(&s, &id).await;
    let offered: Vec<(&str, &str)> = view["refundable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sourceTx"].as_str().unwrap(), r["max"].as_str().unwrap()))
        .collect();
    assert_eq!(offered, vec![(over.tx_id.as_str(), "26")], "{view}");
    let (status, error) = ask(&s, &id, asking(&id, CHAIN, &over, "26", FRIEND, None)).await;
    assert_eq!(
        (status, &error["code"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("refund_not_refundable")
        ),
        "unproven: {error}"
    );
    let (status, error) = ask(
        &s,
        &id,
        asking(&id, CHAIN, &over, "26", OTHER, Some(OTHER_KEY)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another wallet: {error}"
    );
    let (status, view) = ask(
        &s,
        &id,
        asking(&id, CHAIN, &over, "26", PAYER, Some(PAYER_KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["proven"], true);
}

/// An order expired with part of its amount paid; the merchant gives that part back; then the
/// shopper pays the rest, late. What the merchant holds is the rest alone: the order counts it
/// paid that much, not in full, from the moment the refund is approved.
async fn money_given_back_counts_no_more_toward_what_the_order_was_paid(db: Db) {
    use usdt_checkout_chain::{Cursor, Step};
    let h = harness(db, "refund-net-paid", "").await;
    let id = order_asking(&h, 6, 25_000_000).await;
    let part = payment(&h.app, CHAIN, 6, 0xa6, 10_000_000);
    let s = settled(&h, &id, OrderStatus::Expired, &[&part], &[]).await;
    let started = s
        .app
        .checkouts
        .start_refund(
            Some(&id),
            (CHAIN, &part.tx_id, 0),
            10_000_000,
            FRIEND.parse().unwrap(),
            staff("ana"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started.refund().state, RefundState::Approved);
    let stored = s.store.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.paid_atomic, 0, "given back as soon as approved");
    assert_eq!(stored.remaining_atomic, Some(25_000_000));

    let rest = ChainPayment {
        block_number: 101,
        ..payment(&h.app, CHAIN, 6, 0xb6, 15_000_000)
    };
    let step = Step {
        head: 110,
        fork: None,
        payments: vec![rest.clone()],
        next: Cursor {
            next_block: 111,
            recent: vec![],
        },
    };
    s.app.checkouts.apply_chain(CHAIN, &step).await.unwrap();
    let stored = s.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.chain_payments.len(),
        2,
        "the rest counts for the order"
    );
    assert_eq!(
        stored.paid_atomic, 15_000_000,
        "the part given back is not counted"
    );
    assert_eq!(stored.remaining_atomic, Some(10_000_000));
    assert_eq!(stored.state, CheckoutState::Order(OrderStatus::Expired));
    // And the shopper may ask back what they hold paid, no more.
    let view = refunds(&s, &id).await;
    let offered: Vec<(&str, &str)> = view["refundable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sourceTx"].as_str().unwrap(), r["max"].as_str().unwrap()))
        .collect();
    assert_eq!(offered, vec![(rest.tx_id.as_str(), "15")], "{view}");
}
