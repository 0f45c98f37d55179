//! Everything the sandbox knows: orders with their credited payments, payments that match no
//! order, webhook events and their deliveries, how far the chain has been read, and what was
//! deployed. Kept in memory, and with `--data` written to a JSON file after every change (to a
//! temporary file, synced, then renamed over the old one), so a restart or a crash mid-write
//! loses nothing and a failed write changes nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use usdt_checkout_chain::{ChainPayment, Cursor, PaymentKind, assess_payments};
use usdt_checkout_protocol::{
    Address, Assessment, ChainId, OrderStatus, OrderTerms, Token, TxHash,
};

use crate::config::Api;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub next_order_seq: u64,
    pub next_event_seq: u64,
    pub orders: Vec<Order>,
    /// Payments into a receiving contract that no order could claim.
    pub unmatched: Vec<Unmatched>,
    pub events: Vec<WebhookEvent>,
    /// How far each chain has been read, and the hashes of the latest blocks read. (Ledgers of
    /// one chain kept a single `scan`: that chain is then read again from its first block, and
    /// what was known is recognised, not credited twice.)
    #[serde(default)]
    pub scans: BTreeMap<ChainId, Cursor>,
    /// What `--deploy` put on each chain.
    #[serde(default)]
    pub deployments: BTreeMap<ChainId, Deployment>,
    /// What a ledger of one chain kept: moved into `deployments` when it is opened.
    #[serde(default, skip_serializing)]
    deployment: Option<Deployment>,
    /// The gateway's own V1 key pair (base64 PKCS#8), which signs webhooks.
    pub gateway_key: Option<String>,
    /// The dialect its webhooks were last written in (none before dialects).
    #[serde(default)]
    pub api: Option<Api>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub merchant: String,
    pub plat_order_no: String,
    pub order_no: String,
    pub cust_no: Option<String>,
    pub chain_id: ChainId,
    pub network: String,
    pub symbol: String,
    pub token: Address,
    pub decimals: u8,
    pub to_address: Address,
    /// What the merchant asked for, in atomic units: exactly what the shopper must send
    /// (BlockATM's scan payments must match the order's amount).
    pub amount: u128,
    pub create_time: u64,
    pub expire_time: u64,
    pub update_time: u64,
    pub state: OrderStatus,
    pub payments: Vec<ChainPayment>,
    /// The creating request's terms, to tell a retry (same terms) from a conflicting reuse of the
    /// order number.
    pub terms: String,
}

/// A payment no order claimed, on the chain it was read from. Written as the payment's fields
/// beside `chain_id`, and read back through [`UnmatchedFields`]: serde reads a flattened struct
/// from a buffer of its fields that cannot hold a u128, so a derived reader refused the payment's
/// `value` ("u128 is not supported") and with it the whole ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "UnmatchedFields")]
pub struct Unmatched {
    pub chain_id: ChainId,
    #[serde(flatten)]
    pub payment: ChainPayment,
}

/// [`Unmatched`] as written: [`ChainPayment`]'s fields, one by one (a field it gains fails to
/// build here until it is added), and the chain's.
#[derive(Deserialize)]
struct UnmatchedFields {
    /// Ledgers of one chain kept none: theirs was the local chain.
    #[serde(default = "local_chain")]
    chain_id: ChainId,
    tx_id: TxHash,
    log_index: u64,
    block_number: u64,
    block_hash: String,
    from: Address,
    to: Address,
    token: Address,
    value: u128,
    kind: PaymentKind,
    order_no: Option<String>,
    timestamp_ms: u64,
}

impl From<UnmatchedFields> for Unmatched {
    fn from(fields: UnmatchedFields) -> Self {
        let UnmatchedFields {
            chain_id,
            tx_id,
            log_index,
            block_number,
            block_hash,
            from,
            to,
            token,
            value,
            kind,
            order_no,
            timestamp_ms,
        } = fields;
        Self {
            chain_id,
            payment: ChainPayment {
                tx_id,
                log_index,
                block_number,
                block_hash,
                from,
                to,
                token,
                value,
                kind,
                order_no,
                timestamp_ms,
            },
        }
    }
}

fn local_chain() -> ChainId {
    ChainId::LOCAL
}

fn six() -> u8 {
    6
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    pub chain_id: ChainId,
    pub token: Address,
    /// The test USDT's decimals (ledgers of one chain had 6).
    #[serde(default = "six")]
    pub decimals: u8,
    /// Receiving contract per merchant API key.
    pub receivers: BTreeMap<String, Address>,
}

/// One webhook and its deliveries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The sandbox's own delivery id, stable across retries; never on the wire (BlockATM's
    /// bodies have no event id).
    pub id: String,
    pub merchant: String,
    pub order_no: String,
    /// The order's detailed state when it was queued.
    pub state: OrderStatus,
    /// Its `BlockATM-Event` header.
    #[serde(default = "qr_payment")]
    pub event: String,
    /// The exact JSON body sent (and signed) on every attempt.
    pub body: String,
    pub created: u64,
    pub attempts: Vec<DeliveryAttempt>,
    /// When to try next; none once delivered or given up.
    pub next_attempt_at: Option<u64>,
    pub delivered_at: Option<u64>,
}

/// What events of older ledgers were sent as.
fn qr_payment() -> String {
    usdt_checkout_protocol::gateway::v1::EVENT_QR_PAYMENT.into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub at: u64,
    /// The HTTP status, or what went wrong before one came back.
    pub outcome: String,
}

impl Order {
    /// All credited payments together.
    pub fn received(&self) -> u128 {
        self.payments
            .iter()
            .map(|p| p.value)
            .fold(0, u128::saturating_add)
    }

    /// What is still to pay; zero once paid in full or over.
    pub fn remaining(&self) -> u128 {
        self.amount.saturating_sub(self.received())
    }

    pub fn terms(&self, required_confirmations: u32) -> OrderTerms {
        OrderTerms {
            amount_due: self.amount,
            expires_at_ms: self.expire_time,
            required_confirmations,
        }
    }

    pub fn assess(&self, head: u64, required_confirmations: u32, now_ms: u64) -> Assessment {
        assess_payments(
            &self.terms(required_confirmations),
            &self.payments,
            head,
            now_ms,
        )
    }
}

/// The gateway's order number for the `seq`th order: all digits, as BlockATM's are
/// (`8210000374`), so V2's numeric `id` can carry it.
pub fn plat_order_no(seq: u64) -> String {
    (8_210_000_000 + seq).to_string()
}

/// A merchant's order request, checked, as the ledger needs it.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub merchant: String,
    pub order_no: String,
    pub cust_no: Option<String>,
    pub chain_id: ChainId,
    pub network: String,
    pub token: Token,
    pub to_address: Address,
    /// In atomic units.
    pub amount: u128,
    /// How long the order stays open.
    pub lifetime: Duration,
}

impl NewOrder {
    /// What a retry must repeat to be the same request. Ledgers store it: keep the format (its
    /// last slot held a lifetime the request asked for, which BlockATM's documented creation
    /// does not have: always `None` now).
    fn terms(&self) -> String {
        format!(
            "{}|{}|{}|{}|None",
            self.chain_id,
            self.token.symbol,
            self.amount,
            self.cust_no.as_deref().unwrap_or(""),
        )
    }
}

/// An order number the merchant already used for a request with other terms.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("duplicate submit: orderNo {order_no} was already used with other terms")]
pub struct DuplicateSubmit {
    pub order_no: String,
}

impl Ledger {
    /// Records `new` as an order open from `now`, and returns it. A merchant's order number names
    /// one order: a retry of the same request returns the order it made (so a merchant that lost
    /// the answer can ask again), a request with other terms is refused. The amount to pay is
    /// exactly the amount asked, even when another open order to the same address waits for the
    /// same amount: a plain transfer then goes to the oldest (see
    /// [`usdt_checkout_chain::matching`]).
    pub fn create_order(&mut self, new: NewOrder, now: u64) -> Result<Order, DuplicateSubmit> {
        let terms = new.terms();
        if let Some(existing) = self
            .orders
            .iter()
            .find(|o| o.merchant == new.merchant && o.order_no == new.order_no)
        {
            return if existing.terms == terms {
                Ok(existing.clone())
            } else {
                Err(DuplicateSubmit {
                    order_no: new.order_no,
                })
            };
        }
        self.next_order_seq += 1;
        // Whole seconds, as block times are: a block in the second of expiry is late.
        let expire_time = (now + new.lifetime.as_millis() as u64).div_ceil(1000) * 1000;
        let order = Order {
            merchant: new.merchant,
            plat_order_no: plat_order_no(self.next_order_seq),
            order_no: new.order_no,
            cust_no: new.cust_no,
            chain_id: new.chain_id,
            network: new.network,
            symbol: new.token.symbol,
            token: new.token.contract,
            decimals: new.token.decimals,
            to_address: new.to_address,
            amount: new.amount,
            create_time: now,
            expire_time,
            update_time: now,
            state: OrderStatus::Waiting,
            payments: vec![],
            terms,
        };
        self.orders.push(order.clone());
        Ok(order)
    }
}

pub struct Store {
    path: Option<PathBuf>,
    ledger: Mutex<Ledger>,
}

impl Store {
    /// Opens the ledger at `path` (a new one if the file does not exist), or an in-memory one.
    pub fn open(path: Option<PathBuf>) -> Result<Self, String> {
        let ledger = match &path {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let mut ledger: Ledger = serde_json::from_str(&text)
                    .map_err(|e| format!("{} is not a sandbox ledger: {e}", path.display()))?;
                if let Some(old) = ledger.deployment.take() {
                    ledger.deployments.entry(old.chain_id).or_insert(old);
                }
                ledger
            }
            _ => Ledger::default(),
        };
        Ok(Self {
            path,
            ledger: Mutex::new(ledger),
        })
    }

    pub fn read<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        f(&self.ledger.lock().expect("ledger lock"))
    }

    /// Applies `f` to a copy of the ledger, saves the copy, and only then makes it current; in
    /// memory, where there is nothing to save and so nothing to fail, to the ledger itself.
    pub fn write<R>(&self, f: impl FnOnce(&mut Ledger) -> R) -> Result<R, String> {
        let mut ledger = self.ledger.lock().expect("ledger lock");
        if self.path.is_none() {
            return Ok(f(&mut ledger));
        }
        let mut next = ledger.clone();
        let result = f(&mut next);
        self.save(&next)?;
        *ledger = next;
        Ok(result)
    }

    fn save(&self, ledger: &Ledger) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let temporary = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&serde_json::to_vec(ledger)?)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        };
        write().map_err(|e| format!("cannot save the ledger to {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_ledger_reopens_with_everything_in_it() {
        let dir = std::env::temp_dir().join(format!("sandbox-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger.json");
        let _ = std::fs::remove_file(&path);
        let store = Store::open(Some(path.clone())).unwrap();
        store
            .write(|ledger| {
                ledger.next_order_seq = 7;
                ledger.scans.entry(ChainId::LOCAL).or_default().next_block = 42;
            })
            .unwrap();
        let reopened = Store::open(Some(path.clone())).unwrap();
        assert_eq!(
            reopened.read(|l| (l.next_order_seq, l.scans[&ChainId::LOCAL].next_block)),
            (7, 42)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A payment in the transaction whose hash is `tx` 32 times over.
    fn payment(tx: u8, value: u128) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([tx; 32]),
            log_index: 3,
            block_number: 12,
            block_hash: "0xbb".into(),
            from: Address::from_bytes([0x11; 20]),
            to: Address::from_bytes([0x55; 20]),
            token: Address::from_bytes([0xaa; 20]),
            value,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: NOW,
        }
    }

    /// A payment no order claimed made the saved ledger one the sandbox refused to open ("u128
    /// is not supported"), so it could not restart. 25 USDT of 18 decimals is more than a u64.
    #[test]
    fn a_ledger_holding_unmatched_payments_reopens() {
        let dir = std::env::temp_dir().join(format!("sandbox-unmatched-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger.json");
        let _ = std::fs::remove_file(&path);
        let unmatched = [
            payment(1, 7),
            payment(2, 25 * 10u128.pow(18)),
            payment(3, u128::MAX),
        ];
        let store = Store::open(Some(path.clone())).unwrap();
        store
            .write(|ledger| {
                for (i, payment) in unmatched.iter().enumerate() {
                    ledger.unmatched.push(Unmatched {
                        chain_id: ChainId(31_337 + i as u64),
                        payment: payment.clone(),
                    });
                }
            })
            .unwrap();
        let reopened = Store::open(Some(path.clone()))
            .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&path).unwrap()));
        let read = reopened.read(|l| {
            l.unmatched
                .iter()
                .map(|u| (u.chain_id, u.payment.clone()))
                .collect::<Vec<_>>()
        });
        let expected: Vec<_> = (0..3)
            .map(|i| (ChainId(31_337 + i as u64), unmatched[i].clone()))
            .collect();
        assert_eq!(read, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What sandboxes wrote before, on disk now: the payment's fields beside the chain's, and
    /// ledgers of one chain without a chain (the local one).
    #[test]
    fn unmatched_payments_read_as_earlier_sandboxes_wrote_them() {
        let written = serde_json::json!({
            "tx_id": TxHash::from_bytes([2; 32]), "log_index": 3, "block_number": 12, "block_hash": "0xbb",
            "from": Address::from_bytes([0x11; 20]), "to": Address::from_bytes([0x55; 20]),
            "token": Address::from_bytes([0xaa; 20]), "kind": "transfer", "order_no": null,
            "timestamp_ms": NOW, "value": 0,
        })
        .to_string()
        .replace("\"value\":0", "\"value\":25000000000000000000");
        let one_chain: Unmatched = serde_json::from_str(&written).unwrap();
        assert_eq!(one_chain.chain_id, ChainId::LOCAL);
        assert_eq!(one_chain.payment, payment(2, 25 * 10u128.pow(18)));
        let with_chain = written.replacen('{', r#"{"chain_id":56,"#, 1);
        let read: Unmatched = serde_json::from_str(&with_chain).unwrap();
        assert_eq!(read.chain_id, ChainId(56));
        assert_eq!(read.payment, payment(2, 25 * 10u128.pow(18)));
        // Each field as its text, whatever the order: a u128 is no Value.
        let fields = |text: &str| -> BTreeMap<String, String> {
            serde_json::from_str::<BTreeMap<String, Box<serde_json::value::RawValue>>>(text)
                .unwrap()
                .into_iter()
                .map(|(key, value)| (key, value.get().to_owned()))
                .collect()
        };
        assert_eq!(
            fields(&serde_json::to_string(&read).unwrap()),
            fields(&with_chain),
            "written as before"
        );
    }

    #[test]
    fn a_failed_save_changes_nothing() {
        let store = Store::open(Some("/nonexistent-dir/ledger.json".into())).unwrap();
        assert!(store.write(|ledger| ledger.next_order_seq = 9).is_err());
        assert_eq!(store.read(|l| l.next_order_seq), 0);
    }

    const NOW: u64 = 1_700_000_000_000;

    fn new_order(order_no: &str, amount: u128) -> NewOrder {
        NewOrder {
            merchant: "pk_test".into(),
            order_no: order_no.into(),
            cust_no: None,
            chain_id: ChainId::LOCAL,
            network: "Local".into(),
            token: Token {
                symbol: "USDT".into(),
                contract: Address::from_bytes([0xaa; 20]),
                decimals: 6,
            },
            to_address: Address::from_bytes([0x55; 20]),
            amount,
            lifetime: Duration::from_secs(900),
        }
    }

    #[test]
    fn the_same_request_again_returns_the_same_order() {
        let mut ledger = Ledger::default();
        let first = ledger.create_order(new_order("A", 10), NOW).unwrap();
        let again = ledger
            .create_order(new_order("A", 10), NOW + 5_000)
            .unwrap();
        assert_eq!(again.plat_order_no, first.plat_order_no);
        assert_eq!(again.plat_order_no, "8210000001");
        assert_eq!(ledger.orders.len(), 1);
    }

    #[test]
    fn an_order_number_reused_with_other_terms_is_a_duplicate() {
        let mut ledger = Ledger::default();
        ledger.create_order(new_order("A", 10), NOW).unwrap();
        let duplicate = DuplicateSubmit {
            order_no: "A".into(),
        };
        assert_eq!(
            ledger.create_order(new_order("A", 11), NOW).unwrap_err(),
            duplicate
        );
        let for_someone = NewOrder {
            cust_no: Some("C-7".into()),
            ..new_order("A", 10)
        };
        assert_eq!(
            ledger.create_order(for_someone, NOW).unwrap_err(),
            duplicate
        );
        let other_merchant = NewOrder {
            merchant: "pk_other".into(),
            ..new_order("A", 10)
        };
        assert!(ledger.create_order(other_merchant, NOW).is_ok());
        assert_eq!(ledger.orders.len(), 2);
    }

    #[test]
    fn open_orders_of_the_same_amount_each_ask_exactly_that() {
        let mut ledger = Ledger::default();
        let a = ledger.create_order(new_order("A", 10), NOW).unwrap();
        let b = ledger.create_order(new_order("B", 10), NOW).unwrap();
        assert_eq!((a.amount, a.remaining()), (10, 10));
        assert_eq!(
            (b.amount, b.remaining()),
            (10, 10),
            "not raised to tell it apart"
        );
        assert_eq!(b.plat_order_no, "8210000002");
    }

    #[test]
    fn platform_order_numbers_are_all_digits() {
        assert_eq!(plat_order_no(1), "8210000001");
        let far = plat_order_no(u32::MAX.into());
        assert!(far.bytes().all(|b| b.is_ascii_digit()), "{far}");
    }

    #[test]
    fn an_order_expires_on_a_whole_second() {
        let mut ledger = Ledger::default();
        let order = ledger.create_order(new_order("A", 10), NOW + 1).unwrap();
        assert_eq!(order.expire_time, NOW + 901_000);
    }
}
