//! Checkouts on a real database, each test on an SQLite file and on PostgreSQL: what the store
//! keeps, and what [`Checkouts`] changes in it.

mod common;

use std::sync::Arc;

use common::Db;
use tokio::sync::Notify;
use usdt_checkout_chain::{ChainPayment, Cursor, PaymentKind, Step};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::{Address, ChainId, OrderStatus, TxHash};
use usdt_checkout_server::checkouts::{Applied, Checkouts, Source};
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::config::Database;
use usdt_checkout_server::domain::{Asked, Checkout, CreatedBy, PaymentTerms, Price};
use usdt_checkout_server::gateway::GatewayReport;
use usdt_checkout_server::store::{Claimed, Store};

/// A database of its own for one test, dropped with it (an SQLite file; a Postgres database lives
/// as long as the tests' throwaway cluster).
struct TempDb {
    database: Database,
    dir: std::path::PathBuf,
}

impl TempDb {
    async fn new(db: Db, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "checkout-store-{name}-{}-{}-{}",
            db.name(),
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            database: Database::parse(&db.create(name, &dir).await).unwrap(),
            dir,
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

on_both!(
    an_idempotency_key_gives_one_checkout,
    a_checkout_gets_one_gateway_order,
    gateway_reports_apply_once_whatever_their_order,
    the_chain_attaches_payments_keeps_the_unmatched_and_takes_back_a_reorg,
    amounts_awaited_are_not_asked_again,
    everything_survives_reopening_the_file,
    expired_orders_are_watched_for_late_payments_for_a_day,
    every_change_reaches_the_status_view_and_wakes_whoever_waits,
    history_is_read_when_asked_for_not_held_from_startup,
    a_payment_the_gateway_reported_first_is_shown_once_the_chain_has_it,
    an_unmatched_payment_the_gateway_names_for_an_order_becomes_that_orders,
    what_the_chain_showed_holds_across_a_restart_before_the_watcher_reads_again,
    a_payment_read_again_after_a_reorg_goes_to_the_same_order,
    a_claim_without_proof_takes_a_payment_from_no_order,
    a_paid_orders_payment_mined_again_after_a_reorg_stays_its_own,
    a_watched_chain_not_yet_read_here_still_bounds_the_gateways_paid,
    a_gateway_answer_that_cannot_be_read_skips_its_order_not_the_round,
);

fn checkout(id: &str, key: Option<&str>) -> Checkout {
    Checkout {
        idempotency_key: key.map(Into::into),
        item_id: Some("tee".into()),
        ..Checkout::open(
            id.into(),
            CreatedBy::Widget,
            "T-shirt".into(),
            Price {
                amount: "25.00".parse().unwrap(),
                currency: "USD".into(),
            },
        )
    }
}

fn terms(order_no: &str) -> PaymentTerms {
    let address: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        .parse()
        .unwrap();
    PaymentTerms {
        chain_id: ChainId::LOCAL,
        symbol: "USDT".into(),
        token_contract: address,
        decimals: 6,
        amount_atomic: 24_995_001,
        gateway_order_no: order_no.into(),
        plat_order_no: plat(order_no),
        pay_amount_atomic: 24_995_001,
        to_address: RECEIVER.parse().unwrap(),
        cashier_url: "http://127.0.0.1:4010/cashier/P0000000001".into(),
        expires_at: now_ms() + 900_000,
        required_confirmations: 2,
    }
}

const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const RECEIVER: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

/// The gateway's own id for the order with our `order_no`.
fn plat(order_no: &str) -> String {
    format!("P-{order_no}")
}

/// What the gateway documents of an order: its status, the amount received, the transaction.
fn report(order_no: &str, status: GatewayStatus, amount: &str) -> GatewayReport {
    GatewayReport {
        order_no: Some(order_no.into()),
        plat_order_no: Some(plat(order_no)),
        status,
        amount: Some(amount.parse().unwrap()),
        tx_id: (amount != "0").then(|| TxHash::from_bytes([0xab; 32])),
        chain_id: None,
        symbol: None,
        account: None,
    }
}

/// A plain transfer of `value` into the receiving address, mined in `block`.
fn transfer(value: u128, block: u64, log_index: u64) -> ChainPayment {
    ChainPayment {
        tx_id: format!("0x{block:032x}{log_index:032x}").parse().unwrap(),
        log_index,
        block_number: block,
        block_hash: format!("0xb{block}"),
        from: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            .parse()
            .unwrap(),
        to: RECEIVER.parse().unwrap(),
        token: TOKEN.parse().unwrap(),
        value,
        kind: PaymentKind::Transfer,
        order_no: None,
        timestamp_ms: now_ms(),
    }
}

fn step(head: u64, fork: Option<u64>, payments: Vec<ChainPayment>) -> Step {
    Step {
        head,
        fork,
        payments,
        next: Cursor {
            next_block: head + 1,
            recent: vec![],
        },
    }
}

async fn open(db: &TempDb) -> (Store, Checkouts) {
    let (store, checkouts, _) = open_watched(db).await;
    (store, checkouts)
}

/// With the signal that wakes the fulfillment delivery.
async fn open_watched(db: &TempDb) -> (Store, Checkouts, Arc<Notify>) {
    let store = Store::open(&db.database).await.unwrap();
    let due = Arc::new(Notify::new());
    let checkouts = Checkouts::from_store(store.clone(), due.clone())
        .await
        .unwrap();
    (store, checkouts, due)
}

async fn an_idempotency_key_gives_one_checkout(db: Db) {
    let db = TempDb::new(db, "an_idempotency_key_gives_one_checkout").await;
    let store = Store::open(&db.database).await.unwrap();
    let first = store
        .insert(&checkout("co_1", Some("key-1")))
        .await
        .unwrap();
    let again = store
        .insert(&checkout("co_2", Some("key-1")))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert!(store.get("co_2").await.unwrap().is_none());
}

async fn a_checkout_gets_one_gateway_order(db: Db) {
    let db = TempDb::new(db, "a_checkout_gets_one_gateway_order").await;
    let store = Store::open(&db.database).await.unwrap();
    store.insert(&checkout("co_1", None)).await.unwrap();
    let attached = store.attach_order("co_1", &terms("co_1-a")).await.unwrap();
    assert_eq!(attached.state, CheckoutState::Order(OrderStatus::Waiting));
    let second = store.attach_order("co_1", &terms("co_1-b")).await.unwrap();
    assert_eq!(
        second.terms.unwrap().gateway_order_no,
        "co_1-a",
        "the first order stands"
    );
}

async fn gateway_reports_apply_once_whatever_their_order(db: Db) {
    let db = TempDb::new(db, "gateway_reports_apply_once_whatever_thei").await;
    let (store, checkouts) = open(&db).await;
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();

    // V1's "processing" with the full amount: the gateway has it, and has not said paid.
    let received = report("ORD-1", GatewayStatus::Pending, "24.995001");
    let Applied::Changed(changed) = checkouts
        .apply_report(&received, Source::Webhook)
        .await
        .unwrap()
    else {
        panic!("news")
    };
    assert_eq!(changed.state, CheckoutState::Order(OrderStatus::Confirming));
    assert_eq!(
        checkouts
            .apply_report(&received, Source::Webhook)
            .await
            .unwrap(),
        Applied::Duplicate,
        "the same documented facts again are a retry"
    );

    let paid = report("ORD-1", GatewayStatus::Success, "24.995001");
    let Applied::Changed(changed) = checkouts
        .apply_report(&paid, Source::Webhook)
        .await
        .unwrap()
    else {
        panic!("paid")
    };
    assert_eq!(changed.state, CheckoutState::Order(OrderStatus::Paid));
    assert_eq!(changed.tx_hashes, [TxHash::from_bytes([0xab; 32])]);
    assert_eq!(store.fulfillment_events("co_1").await.unwrap(), 1);

    // A report that arrives late, or a reconciler reading an older answer, changes nothing.
    let late = report("ORD-1", GatewayStatus::Pending, "10");
    assert_eq!(
        checkouts
            .apply_report(&late, Source::Reconciler)
            .await
            .unwrap(),
        Applied::Unchanged
    );
    let failed = report("ORD-1", GatewayStatus::Failed, "0");
    checkouts
        .apply_report(&failed, Source::Webhook)
        .await
        .unwrap();
    let kept = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(
        kept.state,
        CheckoutState::Order(OrderStatus::Paid),
        "paid is final"
    );
    assert_eq!(store.fulfillment_events("co_1").await.unwrap(), 1);

    assert_eq!(
        checkouts
            .apply_report(
                &report("NOPE", GatewayStatus::Success, "1"),
                Source::Webhook
            )
            .await
            .unwrap(),
        Applied::UnknownOrder
    );
    let malformed = report("ORD-1", GatewayStatus::Success, "1.1234567");
    assert!(
        checkouts
            .apply_report(&malformed, Source::Webhook)
            .await
            .is_err(),
        "an amount finer than the token is refused"
    );
}

async fn the_chain_attaches_payments_keeps_the_unmatched_and_takes_back_a_reorg(db: Db) {
    let db = TempDb::new(db, "the_chain_attaches_payments_keeps_the_un").await;
    let (store, checkouts) = open(&db).await;
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();
    let chain = ChainId::LOCAL;
    let (tokens, receivers) = checkouts.watched_on(chain);
    assert_eq!(tokens, [TOKEN.parse::<Address>().unwrap()]);
    assert_eq!(receivers, [RECEIVER.parse::<Address>().unwrap()]);

    // Part of the amount first: the only open order to the address takes it.
    checkouts
        .apply_chain(chain, &step(100, None, vec![transfer(10_000_000, 100, 0)]))
        .await
        .unwrap();
    let partly = checkouts.cached("co_1").unwrap();
    assert_eq!(
        partly.state,
        CheckoutState::Order(OrderStatus::PartiallyPaid)
    );
    assert_eq!(
        checkouts.take_urgent(),
        ["ORD-1"],
        "the gateway is asked about it before the other open orders"
    );
    assert!(checkouts.take_urgent().is_empty(), "once");
    assert_eq!(partly.remaining_atomic, Some(14_995_001));
    assert_eq!(partly.confirmations, Some(1));

    checkouts
        .apply_chain(chain, &step(101, None, vec![transfer(14_995_001, 101, 0)]))
        .await
        .unwrap();
    let full = checkouts.cached("co_1").unwrap();
    assert_eq!(full.state, CheckoutState::Order(OrderStatus::Confirming));
    assert_eq!(full.confirmations, Some(1));

    // The same logs read again (a restart, an overlapping range) are not counted twice.
    checkouts
        .apply_chain(
            chain,
            &step(
                101,
                None,
                vec![transfer(10_000_000, 100, 0), transfer(14_995_001, 101, 0)],
            ),
        )
        .await
        .unwrap();
    assert_eq!(checkouts.cached("co_1").unwrap().paid_atomic, 24_995_001);

    // A reorg from block 101 takes the second payment back.
    checkouts
        .apply_chain(chain, &step(102, Some(101), vec![]))
        .await
        .unwrap();
    let taken_back = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(
        taken_back.state,
        CheckoutState::Order(OrderStatus::PartiallyPaid)
    );
    assert_eq!(taken_back.chain_payments.len(), 1);

    // The rest again, then the gateway's word: paid.
    checkouts
        .apply_chain(chain, &step(103, None, vec![transfer(14_995_001, 103, 0)]))
        .await
        .unwrap();
    checkouts
        .apply_report(
            &report("ORD-1", GatewayStatus::Success, "24.995001"),
            Source::Webhook,
        )
        .await
        .unwrap();
    assert_eq!(
        checkouts.cached("co_1").unwrap().state,
        CheckoutState::Order(OrderStatus::Paid)
    );

    // A transfer after the order is paid matches nothing: kept, listed, never dropped.
    checkouts
        .apply_chain(chain, &step(104, None, vec![transfer(5_000_000, 104, 0)]))
        .await
        .unwrap();
    let unmatched = checkouts.unmatched(10).await.unwrap();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].1.value, 5_000_000);
    assert_eq!(
        store.cursor(chain).await.unwrap().unwrap().next_block,
        105,
        "the cursor is kept with what it read"
    );
}

async fn amounts_awaited_are_not_asked_again(db: Db) {
    let db = TempDb::new(db, "amounts_awaited_are_not_asked_again").await;
    let (_, checkouts) = open(&db).await;
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();
    let asked = |amount| Asked {
        chain_id: ChainId::LOCAL,
        symbol: "USDT".into(),
        amount_atomic: 24_995_001,
        pay_amount_atomic: amount,
    };
    let awaited = |checkouts: &Checkouts| {
        let mut amounts = checkouts.amounts_awaited(ChainId::LOCAL, "USDT");
        amounts.sort();
        amounts
    };
    assert_eq!(awaited(&checkouts), [24_995_001], "co_1's order");
    checkouts.open(&checkout("co_2", None)).await.unwrap();
    let kept = checkouts
        .ask("co_2", Some(&asked(24_995_002)))
        .await
        .unwrap();
    assert_eq!(kept.asked, Some(asked(24_995_002)));
    assert_eq!(
        awaited(&checkouts),
        [24_995_001, 24_995_002],
        "an order being asked for takes its amount"
    );
    assert_eq!(
        awaited(&open(&db).await.1),
        [24_995_001, 24_995_002],
        "kept, for a retry after a restart"
    );
    checkouts.ask("co_2", None).await.unwrap();
    assert_eq!(
        awaited(&checkouts),
        [24_995_001],
        "forgotten: no order made"
    );
}

async fn everything_survives_reopening_the_file(db: Db) {
    let db = TempDb::new(db, "everything_survives_reopening_the_file").await;
    {
        let (_, checkouts) = open(&db).await;
        checkouts.open(&checkout("co_1", Some("k"))).await.unwrap();
        checkouts
            .attach_order("co_1", &terms("ORD-1"))
            .await
            .unwrap();
        checkouts
            .apply_report(
                &report("ORD-1", GatewayStatus::Pending, "10"),
                Source::Webhook,
            )
            .await
            .unwrap();
    }
    let (store, checkouts) = open(&db).await;
    let kept = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(kept.state, CheckoutState::Order(OrderStatus::PartiallyPaid));
    assert_eq!(
        checkouts.cached("co_1").as_deref(),
        Some(&kept),
        "the status view is filled from the store at startup"
    );
    assert_eq!(kept.remaining_atomic, Some(14_995_001));
    assert_eq!(
        checkouts
            .apply_report(
                &report("ORD-1", GatewayStatus::Pending, "10"),
                Source::Webhook
            )
            .await
            .unwrap(),
        Applied::Duplicate,
        "a replay after a restart is still a replay"
    );
    assert_eq!(
        store.unfinished_orders(10).await.unwrap(),
        [("ORD-1".to_string(), true)]
    );

    // V1's -1 is kept as itself, not as one of V2's names for it.
    checkouts
        .apply_report(
            &report("ORD-1", GatewayStatus::Failed, "10"),
            Source::Webhook,
        )
        .await
        .unwrap();
    drop(checkouts);
    let (store, _) = open(&db).await;
    let kept = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(kept.gateway.status, Some(GatewayStatus::Failed));
    assert_eq!(kept.state, CheckoutState::Order(OrderStatus::Expired));
    assert!(kept.gateway.expired_at.is_some());
}

async fn expired_orders_are_watched_for_late_payments_for_a_day(db: Db) {
    let db = TempDb::new(db, "expired_orders_are_watched_for_late_paym").await;
    let (store, checkouts) = open(&db).await;
    for (id, expired_ago_hours) in [("co_recent", 1), ("co_old", 25)] {
        checkouts.open(&checkout(id, None)).await.unwrap();
        let mut terms = terms(&format!("ORD-{id}"));
        terms.expires_at = now_ms() - expired_ago_hours * 3_600_000;
        checkouts.attach_order(id, &terms).await.unwrap();
        checkouts
            .apply_report(
                &report(&format!("ORD-{id}"), GatewayStatus::Expired, "0"),
                Source::Reconciler,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.unfinished_orders(10).await.unwrap(),
        [("ORD-co_recent".to_string(), false)],
        "watched for a late payment, not open"
    );
    // Only the recent one's amount is still awaited: a creation's turn reads no older history.
    let versions = store.versions_on(ChainId::LOCAL, "USDT").await.unwrap();
    let ids: Vec<&str> = versions.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["co_recent"]);
}

async fn every_change_reaches_the_status_view_and_wakes_whoever_waits(db: Db) {
    let db = TempDb::new(db, "every_change_reaches_the_status_view_and").await;
    let (store, checkouts, fulfillment_due) = open_watched(&db).await;
    let mut changes = checkouts.watch();
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    assert!(changes.has_changed().unwrap(), "a new checkout is a change");
    changes.mark_unchanged();
    let attached = checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap());
    assert_eq!(checkouts.cached("co_1").unwrap().version, attached.version);
    changes.mark_unchanged();

    let paid = report("ORD-1", GatewayStatus::Success, "24.995001");
    let woken = fulfillment_due.notified();
    checkouts
        .apply_report(&paid, Source::Reconciler)
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap(), "long polls wake");
    tokio::time::timeout(std::time::Duration::from_secs(5), woken)
        .await
        .expect("the fulfillment delivery is woken when an order is paid");
    let stored = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(*checkouts.cached("co_1").unwrap(), stored);
    changes.mark_unchanged();

    checkouts
        .apply_report(&paid, Source::Reconciler)
        .await
        .unwrap();
    assert!(!changes.has_changed().unwrap(), "nothing new, no signal");
}

/// A restart over years of orders holds the current ones only: a checkout untouched for a
/// month is not loaded, and is read from the store when someone asks for it.
async fn history_is_read_when_asked_for_not_held_from_startup(db: Db) {
    let db = TempDb::new(db, "history_is_read_when_asked_for_not_held").await;
    let (store, _) = open(&db).await;
    let month_ago = now_ms() - 30 * 24 * 3_600_000;
    store
        .insert(&Checkout {
            created_at: month_ago,
            updated_at: month_ago,
            ..checkout("co_old", None)
        })
        .await
        .unwrap();
    store.insert(&checkout("co_new", None)).await.unwrap();
    let (_, checkouts) = open(&db).await;
    assert!(checkouts.cached("co_new").is_some(), "current: held");
    assert!(checkouts.cached("co_old").is_none(), "history: not held");
    let read = checkouts
        .load("co_old")
        .await
        .unwrap()
        .expect("read when asked");
    assert_eq!(read.id, "co_old");
    assert!(checkouts.cached("co_old").is_some(), "then held");
    assert!(checkouts.load("co_never").await.unwrap().is_none());
}

/// The gateway says paid before the watcher reads the payment: once it does, the payment is
/// attached, and what the status view and the merchant read shows it (its amount, its block),
/// though the state does not change.
async fn a_payment_the_gateway_reported_first_is_shown_once_the_chain_has_it(db: Db) {
    let db = TempDb::new(db, "a_payment_the_gateway_reported_first").await;
    let (_, checkouts) = open(&db).await;
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();
    let payment = transfer(24_995_001, 100, 0);
    checkouts
        .apply_report(
            &GatewayReport {
                tx_id: Some(payment.tx_id.clone()),
                ..report("ORD-1", GatewayStatus::Success, "24.995001")
            },
            Source::Webhook,
        )
        .await
        .unwrap();
    let reported = checkouts.cached("co_1").unwrap();
    assert_eq!(reported.state, CheckoutState::Order(OrderStatus::Paid));
    assert!(reported.chain_payments.is_empty());

    checkouts
        .apply_chain(ChainId::LOCAL, &step(101, None, vec![payment.clone()]))
        .await
        .unwrap();
    let shown = checkouts.cached("co_1").unwrap();
    assert_eq!(shown.chain_payments, [payment], "held where polls read it");
    assert!(
        shown.version > reported.version,
        "a new version: replicas and ETags see it"
    );
    assert_eq!(shown.state, CheckoutState::Order(OrderStatus::Paid));
}

/// SQLite has one writer at a time. A write that waits behind a long one longer than
/// `busy_timeout` (5 s) failed with "database is locked", and a reconciliation round with it;
/// writes now wait their turn, however long.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_writes_wait_their_turn_instead_of_failing() {
    let db = TempDb::new(Db::Sqlite, "sqlite_writes_wait_their_turn").await;
    let (store, checkouts) = open(&db).await;
    let checkouts = Arc::new(checkouts);
    let long = store.begin().await.unwrap();
    let queued = tokio::spawn({
        let checkouts = checkouts.clone();
        async move { checkouts.open(&checkout("co_1", None)).await }
    });
    // Past busy_timeout: SQLite's own wait would have given up by now.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert!(!queued.is_finished(), "it waits for the write before it");
    long.commit().await.unwrap();
    let opened = queued.await.unwrap().expect("written in its turn");
    assert_eq!(opened.id, "co_1");
    assert!(store.write_health().failing().is_none());
}

/// The watcher reads a transfer no checkout's terms single out (two orders wait at the address,
/// for other amounts) and keeps it unmatched; the gateway then reports it paid one of them.
/// The payment becomes that order's, once: the order is never paid with nothing on chain
/// behind it (found by the 10,000-payment simulation).
async fn an_unmatched_payment_the_gateway_names_for_an_order_becomes_that_orders(db: Db) {
    let db = TempDb::new(db, "an_unmatched_payment_the_gateway_names").await;
    let (store, checkouts) = open(&db).await;
    for (id, order) in [("co_1", "ORD-1"), ("co_2", "ORD-2")] {
        checkouts.open(&checkout(id, None)).await.unwrap();
        let mut own = terms(order);
        own.pay_amount_atomic += u128::from(id == "co_2");
        checkouts.attach_order(id, &own).await.unwrap();
    }
    let payment = transfer(20_000_000, 100, 0);
    checkouts
        .apply_chain(ChainId::LOCAL, &step(101, None, vec![payment.clone()]))
        .await
        .unwrap();
    assert_eq!(store.unmatched(10).await.unwrap().len(), 1);
    assert!(checkouts.cached("co_1").unwrap().chain_payments.is_empty());

    let named = GatewayReport {
        tx_id: Some(payment.tx_id.as_str().to_uppercase().parse().unwrap()),
        ..report("ORD-1", GatewayStatus::Pending, "20")
    };
    checkouts
        .apply_report(&named, Source::Webhook)
        .await
        .unwrap();
    let adopted = checkouts.cached("co_1").unwrap();
    assert_eq!(adopted.chain_payments, std::slice::from_ref(&payment));
    assert_eq!(adopted.paid_atomic, 20_000_000);
    assert!(store.unmatched(10).await.unwrap().is_empty());
    assert!(
        checkouts.unmatched_at(&adopted).is_empty(),
        "nor shown as unmatched"
    );

    // Named again, for the other order: it counts for the first already, and stays there.
    let elsewhere = GatewayReport {
        tx_id: Some(payment.tx_id.clone()),
        ..report("ORD-2", GatewayStatus::Pending, "20")
    };
    checkouts
        .apply_report(&elsewhere, Source::Reconciler)
        .await
        .unwrap();
    assert!(checkouts.cached("co_2").unwrap().chain_payments.is_empty());
    assert_eq!(checkouts.cached("co_1").unwrap().chain_payments.len(), 1);
}

async fn what_the_chain_showed_holds_across_a_restart_before_the_watcher_reads_again(db: Db) {
    let db = TempDb::new(db, "what_the_chain_showed_holds_across_a_re").await;
    let (store, checkouts) = open(&db).await;
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();
    checkouts
        .apply_chain(
            ChainId::LOCAL,
            &step(100, None, vec![transfer(10_000_000, 100, 0)]),
        )
        .await
        .unwrap();
    let before = checkouts.cached("co_1").unwrap();
    assert_eq!(
        before.state,
        CheckoutState::Order(OrderStatus::PartiallyPaid)
    );
    drop(checkouts);

    // Restarted: the clock settles every open checkout before the watcher's first step, which
    // read the chain as unwatched and took the part payment's state back to waiting.
    let restarted = Checkouts::from_store(store, Arc::new(Notify::new()))
        .await
        .unwrap();
    restarted.settle_due().await.unwrap();
    let after = restarted.cached("co_1").unwrap();
    assert_eq!(after.state, before.state);
    assert_eq!(after.version, before.version, "nothing changed");
}

async fn a_payment_read_again_after_a_reorg_goes_to_the_same_order(db: Db) {
    let db = TempDb::new(db, "a_payment_read_again_after_a_reorg_goes").await;
    let (_store, checkouts) = open(&db).await;
    two_orders_at_one_address(&checkouts).await;
    // Two orders wait at one address: the exact amount is what tells them apart.
    let paid = transfer(24_995_002, 100, 0);
    checkouts
        .apply_chain(ChainId::LOCAL, &step(100, None, vec![paid.clone()]))
        .await
        .unwrap();
    assert_eq!(checkouts.cached("co_2").unwrap().paid_atomic, 24_995_002);

    // A reorg from block 100 mines the same transaction again in block 101: read again, it is
    // matched against what co_2 still asks without counting itself, and goes to co_2 again.
    let again = ChainPayment {
        block_number: 101,
        block_hash: "0xb101-new".into(),
        ..paid
    };
    checkouts
        .apply_chain(ChainId::LOCAL, &step(101, Some(100), vec![again]))
        .await
        .unwrap();
    let co_2 = checkouts.cached("co_2").unwrap();
    assert_eq!(co_2.paid_atomic, 24_995_002, "{co_2:?}");
    assert_eq!(checkouts.cached("co_1").unwrap().paid_atomic, 0);
    assert!(
        checkouts.unmatched(10).await.unwrap().is_empty(),
        "not kept as unmatched"
    );
}

async fn a_claim_without_proof_takes_a_payment_from_no_order(db: Db) {
    let db = TempDb::new(db, "a_claim_without_proof_takes_a_payment_f").await;
    let (_store, checkouts) = open(&db).await;
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();
    checkouts.open(&checkout("co_thief", None)).await.unwrap();
    let mut theirs = terms("ORD-T");
    theirs.pay_amount_atomic = 30_000_000;
    // Past its time: co_1 is the only open order at the address.
    theirs.expires_at = now_ms() - 1_000;
    checkouts.attach_order("co_thief", &theirs).await.unwrap();
    // co_1's shopper sends the exact amount; a thief claims it without proof the moment it is
    // mined, before the watcher reads it.
    let paid = transfer(24_995_001, 100, 0);
    let claimed = checkouts
        .attach_claimed("co_thief", ChainId::LOCAL, &paid, false)
        .await
        .unwrap();
    assert!(
        matches!(claimed, Claimed::AnotherOrdersAsk(_)),
        "{claimed:?}"
    );
    // Not the exact ask: a part, which is co_1's as the only open order at the address.
    let part = transfer(5_000_000, 101, 0);
    let claimed = checkouts
        .attach_claimed("co_thief", ChainId::LOCAL, &part, false)
        .await
        .unwrap();
    assert_eq!(claimed, Claimed::UnderReview);
    // The watcher then reads it: its rules still decide, the claim took nothing.
    checkouts
        .apply_chain(ChainId::LOCAL, &step(102, None, vec![paid, part.clone()]))
        .await
        .unwrap();
    let co_1 = checkouts.cached("co_1").unwrap();
    assert!(
        co_1.chain_payments.iter().any(|p| p.same_log(&part)),
        "{co_1:?}"
    );
    assert_eq!(checkouts.cached("co_thief").unwrap().paid_atomic, 0);
}

async fn a_paid_orders_payment_mined_again_after_a_reorg_stays_its_own(db: Db) {
    let db = TempDb::new(db, "a_paid_orders_payment_mined_again_after").await;
    let (_store, checkouts) = open(&db).await;
    two_orders_at_one_address(&checkouts).await;
    let paid = transfer(24_995_001, 100, 0);
    checkouts
        .apply_chain(ChainId::LOCAL, &step(100, None, vec![paid.clone()]))
        .await
        .unwrap();
    checkouts
        .apply_report(
            &report("ORD-1", GatewayStatus::Success, "24.995001"),
            Source::Reconciler,
        )
        .await
        .unwrap();
    assert_eq!(
        checkouts.cached("co_1").unwrap().state,
        CheckoutState::Order(OrderStatus::Paid)
    );
    // A reorg takes block 100 back and mines the same transfer in 101: co_1 is final, so the
    // matching rules would give it to no order, free for anyone's claim.
    let again = ChainPayment {
        block_number: 101,
        block_hash: "0xb101-new".into(),
        ..paid
    };
    checkouts
        .apply_chain(ChainId::LOCAL, &step(101, Some(100), vec![again.clone()]))
        .await
        .unwrap();
    let co_1 = checkouts.cached("co_1").unwrap();
    assert!(
        co_1.chain_payments.iter().any(|p| p.same_log(&again)),
        "{co_1:?}"
    );
    assert!(checkouts.unmatched(10).await.unwrap().is_empty());
}

async fn a_watched_chain_not_yet_read_here_still_bounds_the_gateways_paid(db: Db) {
    let db = TempDb::new(db, "a_watched_chain_not_yet_read_here_still").await;
    let store = Store::open(&db.database).await.unwrap();
    // A replica: the chain is watched (by another server), this one has read nothing of it.
    let checkouts = Checkouts::from_store(store, Arc::new(Notify::new()))
        .await
        .unwrap()
        .watching([ChainId::LOCAL]);
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();
    checkouts
        .apply_report(
            &report("ORD-1", GatewayStatus::Success, "24.995001"),
            Source::Reconciler,
        )
        .await
        .unwrap();
    assert_ne!(
        checkouts.cached("co_1").unwrap().state,
        CheckoutState::Order(OrderStatus::Paid),
        "paid with nothing on chain"
    );
}

/// co_1 (ORD-1) asking 24.995001 and co_2 (ORD-2) 24.995002, at one address: an exact amount is
/// what tells them apart.
async fn two_orders_at_one_address(checkouts: &Checkouts) {
    for (id, order_no, amount) in [("co_1", "ORD-1", 24_995_001), ("co_2", "ORD-2", 24_995_002)] {
        checkouts.open(&checkout(id, None)).await.unwrap();
        let mut terms = terms(order_no);
        terms.pay_amount_atomic = amount;
        checkouts.attach_order(id, &terms).await.unwrap();
    }
}

/// The reconciler asks V1's `qrCodePayment` about each order in turn. An answer that cannot be
/// read skips its order, not the round: the orders asked after it are still applied. A record
/// that cannot be read skips itself, not the answer: the record beside it in the seed's shape
/// (`orderId`, `status: "completed"`, ...) still counts.
async fn a_gateway_answer_that_cannot_be_read_skips_its_order_not_the_round(db: Db) {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use usdt_checkout_protocol::signature::V1PrivateKey;
    use usdt_checkout_server::gateway::{BlockatmV1, GatewayApi, GatewayClient};

    let db = TempDb::new(db, "an_answer_that_cannot_be_read_skips").await;
    let (_store, checkouts) = open(&db).await;
    // ORD-2 made first, ORD-1 after: the round asks the newest first, ORD-1, whose answer is
    // not JSON.
    for (id, order_no) in [("co_2", "ORD-2"), ("co_1", "ORD-1")] {
        checkouts.open(&checkout(id, None)).await.unwrap();
        checkouts.attach_order(id, &terms(order_no)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    type Asked = Arc<Mutex<Vec<String>>>;
    async fn qr_code_payment(
        State(asked): State<Asked>,
        Query(query): Query<HashMap<String, String>>,
    ) -> String {
        let order_no = query["orderNo"].clone();
        asked.lock().unwrap().push(order_no.clone());
        if order_no == "ORD-1" {
            return "<html>502 Bad Gateway</html>".into();
        }
        format!(
            r#"{{"records":[
                {{"orderId":"{order_no}","status":"completed","amount":"24.995001","symbol":"USDT",
                  "chainId":"31337","toAddress":"{RECEIVER}","timestamp":1700000000000}},
                {{"what":"not a payment"}}
            ]}}"#
        )
    }
    let asked: Asked = Arc::default();
    let app = axum::Router::new()
        .route(
            "/api/v1/payment/qrCodePayment",
            axum::routing::get(qr_code_payment),
        )
        .with_state(asked.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let gateway = GatewayClient::new(
        url,
        "k".into(),
        90,
        std::time::Duration::from_secs(2),
        GatewayApi::BlockatmV1(BlockatmV1 {
            key: V1PrivateKey::generate(),
            webhook_key: V1PrivateKey::generate().public_key(),
        }),
    );

    usdt_checkout_server::reconcile::round(&checkouts, &gateway, &mut HashMap::new())
        .await
        .expect("the round goes on past an answer it cannot read");
    assert_eq!(*asked.lock().unwrap(), ["ORD-1", "ORD-2"]);
    assert_eq!(
        checkouts.cached("co_2").unwrap().state,
        CheckoutState::Order(OrderStatus::Paid),
        "the seed's record read, its unreadable neighbour skipped"
    );
    assert_eq!(
        checkouts.cached("co_1").unwrap().state,
        CheckoutState::Order(OrderStatus::Waiting),
        "nothing changed by what could not be read"
    );
}
