//! Checkouts on a real SQLite file: what the store keeps, and what [`Checkouts`] changes in it.

use std::sync::Arc;

use tokio::sync::Notify;
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{Address, ChainId, OrderStatus};
use usdt_checkout_server::checkouts::{Applied, Checkouts, Source};
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::domain::{Checkout, CreatedBy, GatewayReport, PaymentTerms};
use usdt_checkout_server::store::Store;

struct TempDb {
    dir: std::path::PathBuf,
}

impl TempDb {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "checkout-store-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.join("checkout.sqlite")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn checkout(id: &str, key: Option<&str>) -> Checkout {
    Checkout {
        idempotency_key: key.map(Into::into),
        item_id: Some("tee".into()),
        ..Checkout::open(
            id.into(),
            CreatedBy::Widget,
            "T-shirt".into(),
            "25.00".into(),
            "USD".into(),
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
        plat_order_no: "P0000000001".into(),
        pay_amount_atomic: 24_995_001,
        to_address: address,
        cashier_url: "http://127.0.0.1:4010/cashier/P0000000001".into(),
        expires_at: now_ms() + 900_000,
        required_confirmations: 2,
    }
}

fn report(order_no: &str, state: OrderStatus, paid: u128, time: u64) -> GatewayReport {
    GatewayReport {
        order_no: order_no.into(),
        state,
        paid_atomic: paid,
        remaining_atomic: 24_995_001u128.saturating_sub(paid),
        overpaid_atomic: 0,
        confirmations: None,
        tx_hashes: if paid > 0 {
            vec!["0xabc".into()]
        } else {
            vec![]
        },
        time,
    }
}

async fn open(db: &TempDb) -> (Store, Checkouts) {
    let (store, checkouts, _) = open_watched(db).await;
    (store, checkouts)
}

/// With the signal that wakes the fulfillment delivery.
async fn open_watched(db: &TempDb) -> (Store, Checkouts, Arc<Notify>) {
    let store = Store::open(&db.path()).await.unwrap();
    let due = Arc::new(Notify::new());
    let checkouts = Checkouts::load(store.clone(), due.clone()).await.unwrap();
    (store, checkouts, due)
}

fn webhook(id: &str) -> Source<'_> {
    Source::Webhook(id)
}

#[tokio::test]
async fn an_idempotency_key_gives_one_checkout() {
    let db = TempDb::new("idempotent");
    let store = Store::open(&db.path()).await.unwrap();
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

#[tokio::test]
async fn a_checkout_gets_one_gateway_order() {
    let db = TempDb::new("attach");
    let store = Store::open(&db.path()).await.unwrap();
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

#[tokio::test]
async fn reports_apply_once_in_order_and_only_as_the_status_machine_allows() {
    let db = TempDb::new("apply");
    let (store, checkouts) = open(&db).await;
    checkouts.open(&checkout("co_1", None)).await.unwrap();
    checkouts
        .attach_order("co_1", &terms("ORD-1"))
        .await
        .unwrap();

    let confirming = report("ORD-1", OrderStatus::Confirming, 24_995_001, 10);
    assert!(matches!(
        checkouts
            .apply(&confirming, webhook("evt_1"))
            .await
            .unwrap(),
        Applied::Changed(_)
    ));
    assert_eq!(
        checkouts
            .apply(&confirming, webhook("evt_1"))
            .await
            .unwrap(),
        Applied::Duplicate
    );

    let paid = report("ORD-1", OrderStatus::Paid, 24_995_001, 20);
    let Applied::Changed(changed) = checkouts.apply(&paid, webhook("evt_2")).await.unwrap() else {
        panic!("paid applies")
    };
    assert_eq!(changed.state, CheckoutState::Order(OrderStatus::Paid));
    assert_eq!(store.fulfillment_events("co_1").await.unwrap(), 1);

    // An older report, or one the status machine forbids, changes nothing.
    let stale = report("ORD-1", OrderStatus::Waiting, 0, 5);
    assert_eq!(
        checkouts.apply(&stale, webhook("evt_0")).await.unwrap(),
        Applied::Unchanged
    );
    let backwards = report("ORD-1", OrderStatus::Waiting, 0, 30);
    assert_eq!(
        checkouts
            .apply(&backwards, Source::Reconciler)
            .await
            .unwrap(),
        Applied::Unchanged
    );
    let kept = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(kept.state, CheckoutState::Order(OrderStatus::Paid));
    assert_eq!(kept.paid_atomic, 24_995_001);
    assert_eq!(
        *checkouts.get("co_1").unwrap(),
        kept,
        "the status view holds what the store holds"
    );
    assert_eq!(
        store.fulfillment_events("co_1").await.unwrap(),
        1,
        "exactly one fulfillment event"
    );

    assert_eq!(
        checkouts
            .apply(&report("NOPE", OrderStatus::Paid, 1, 1), webhook("evt_9"))
            .await
            .unwrap(),
        Applied::UnknownOrder
    );
}

#[tokio::test]
async fn everything_survives_reopening_the_file() {
    let db = TempDb::new("reopen");
    {
        let (_, checkouts) = open(&db).await;
        checkouts.open(&checkout("co_1", Some("k"))).await.unwrap();
        checkouts
            .attach_order("co_1", &terms("ORD-1"))
            .await
            .unwrap();
        checkouts
            .apply(
                &report("ORD-1", OrderStatus::PartiallyPaid, 10_000_000, 10),
                webhook("evt_1"),
            )
            .await
            .unwrap();
    }
    let (store, checkouts) = open(&db).await;
    let kept = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(kept.state, CheckoutState::Order(OrderStatus::PartiallyPaid));
    assert_eq!(
        checkouts.get("co_1").as_deref(),
        Some(&kept),
        "the status view is filled from the store at startup"
    );
    assert_eq!(kept.remaining_atomic, Some(14_995_001));
    assert_eq!(
        checkouts
            .apply(
                &report("ORD-1", OrderStatus::PartiallyPaid, 10_000_000, 10),
                webhook("evt_1")
            )
            .await
            .unwrap(),
        Applied::Duplicate,
        "a replay after a restart is still a replay"
    );
    assert_eq!(store.unfinished_orders(10).await.unwrap(), ["ORD-1"]);
}

#[tokio::test]
async fn expired_orders_are_watched_for_late_payments_for_a_day() {
    let db = TempDb::new("watch");
    let (store, checkouts) = open(&db).await;
    for (id, expired_ago_hours) in [("co_recent", 1), ("co_old", 25)] {
        checkouts.open(&checkout(id, None)).await.unwrap();
        let mut terms = terms(&format!("ORD-{id}"));
        terms.expires_at = now_ms() - expired_ago_hours * 3_600_000;
        checkouts.attach_order(id, &terms).await.unwrap();
        checkouts
            .apply(
                &report(&format!("ORD-{id}"), OrderStatus::Expired, 0, 1),
                Source::Reconciler,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.unfinished_orders(10).await.unwrap(),
        ["ORD-co_recent"]
    );
}

#[tokio::test]
async fn every_change_reaches_the_status_view_and_wakes_whoever_waits() {
    let db = TempDb::new("signals");
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
    assert_eq!(checkouts.get("co_1").unwrap().version, attached.version);
    changes.mark_unchanged();

    let paid = report("ORD-1", OrderStatus::Paid, 24_995_001, 10);
    let woken = fulfillment_due.notified();
    checkouts.apply(&paid, Source::Reconciler).await.unwrap();
    assert!(changes.has_changed().unwrap(), "long polls wake");
    tokio::time::timeout(std::time::Duration::from_secs(5), woken)
        .await
        .expect("the fulfillment delivery is woken when an order is paid");
    let stored = store.get("co_1").await.unwrap().unwrap();
    assert_eq!(*checkouts.get("co_1").unwrap(), stored);
    changes.mark_unchanged();

    checkouts.apply(&paid, Source::Reconciler).await.unwrap();
    assert!(!changes.has_changed().unwrap(), "nothing new, no signal");
}
