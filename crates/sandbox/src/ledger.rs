//! Everything the sandbox knows: orders with their credited payments, payments that match no
//! order, webhook events and their deliveries, how far the chain has been read, and what was
//! deployed. Kept in memory, and with `--data` written to a JSON file after every change (to a
//! temporary file, synced, then renamed over the old one), so a restart or a crash mid-write
//! loses nothing and a failed write changes nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::gateway::{GatewayOrder, PaymentKind, PaymentRecord, v1_status};
use usdt_checkout_protocol::{
    Address, Assessment, ChainId, OrderStatus, OrderTerms, PaymentObservation, assess, format_units,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub next_order_seq: u64,
    pub next_event_seq: u64,
    pub orders: Vec<Order>,
    /// Payments into a receiving contract that no order could claim.
    pub unmatched: Vec<ChainPayment>,
    pub events: Vec<WebhookEvent>,
    pub scan: ScanCursor,
    pub deployment: Option<Deployment>,
    /// The gateway's own V1 key pair (base64 PKCS#8), which signs webhooks.
    pub gateway_key: Option<String>,
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
    /// What the merchant asked for, in atomic units.
    pub amount: u128,
    /// What the shopper must send: `amount`, made unique among open orders to `to_address`.
    pub pay_amount: u128,
    pub create_time: u64,
    pub expire_time: u64,
    pub update_time: u64,
    pub state: OrderStatus,
    pub payments: Vec<ChainPayment>,
    /// The creating request's terms, to tell a retry (same terms) from a conflicting reuse of the
    /// order number.
    pub terms: String,
}

/// A token payment into a receiving contract, as read from the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPayment {
    pub tx_id: String,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: String,
    pub from: Address,
    pub to: Address,
    pub token: Address,
    pub value: u128,
    pub kind: PaymentKind,
    /// The order a deposit names.
    pub order_no: Option<String>,
    /// The block's time, Unix milliseconds.
    pub timestamp_ms: u64,
}

impl ChainPayment {
    /// One log is one payment, however often it is read.
    pub fn same_log(&self, other: &Self) -> bool {
        self.tx_id == other.tx_id && self.log_index == other.log_index
    }
}

/// How far the chain has been read, and the hashes of the latest blocks read, to notice a
/// reorg by a changed hash.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanCursor {
    pub next_block: u64,
    pub recent: Vec<(u64, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    pub chain_id: ChainId,
    pub token: Address,
    /// Receiving contract per merchant API key.
    pub receivers: BTreeMap<String, Address>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Stable across retries; receivers dedupe by it.
    pub id: String,
    pub merchant: String,
    pub order_no: String,
    pub state: OrderStatus,
    /// The exact JSON body sent (and signed) on every attempt.
    pub body: String,
    pub created: u64,
    pub attempts: Vec<DeliveryAttempt>,
    /// When to try next; none once delivered or given up.
    pub next_attempt_at: Option<u64>,
    pub delivered_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub at: u64,
    /// The HTTP status, or what went wrong before one came back.
    pub outcome: String,
}

impl Order {
    pub fn terms(&self, required_confirmations: u32) -> OrderTerms {
        OrderTerms {
            amount_due: self.pay_amount,
            expires_at_ms: self.expire_time,
            required_confirmations,
        }
    }

    pub fn assess(&self, head: u64, required_confirmations: u32, now_ms: u64) -> Assessment {
        let observations: Vec<PaymentObservation> = self
            .payments
            .iter()
            .map(|p| PaymentObservation {
                atomic_units: p.value,
                confirmations: confirmations(head, p.block_number),
                seen_at_ms: p.timestamp_ms,
            })
            .collect();
        assess(&self.terms(required_confirmations), &observations, now_ms)
    }

    pub fn view(
        &self,
        head: u64,
        required_confirmations: u32,
        now_ms: u64,
        cashier_base: &str,
    ) -> GatewayOrder {
        let assessment = self.assess(head, required_confirmations, now_ms);
        let units = |atomic| format_units(atomic, self.decimals);
        GatewayOrder {
            plat_order_no: self.plat_order_no.clone(),
            order_no: self.order_no.clone(),
            cust_no: self.cust_no.clone(),
            chain_id: self.chain_id,
            network: self.network.clone(),
            symbol: self.symbol.clone(),
            token_contract: self.token,
            decimals: self.decimals,
            amount: units(self.amount),
            pay_amount: units(self.pay_amount),
            pay_amount_atomic: self.pay_amount.to_string(),
            to_address: self.to_address,
            cashier_url: format!("{cashier_base}/cashier/{}", self.plat_order_no),
            status: v1_status(self.state),
            state: self.state,
            paid_amount: units(assessment.received),
            remaining_amount: units(assessment.remaining),
            overpaid_amount: units(assessment.overpaid),
            confirmations: assessment.lowest_pending_confirmations,
            required_confirmations,
            payments: self
                .payments
                .iter()
                .map(|p| PaymentRecord {
                    tx_id: p.tx_id.clone(),
                    log_index: p.log_index,
                    block_number: p.block_number,
                    block_hash: p.block_hash.clone(),
                    from: p.from,
                    amount: units(p.value),
                    amount_atomic: p.value.to_string(),
                    kind: p.kind,
                    confirmations: confirmations(head, p.block_number),
                    timestamp: p.timestamp_ms,
                    late: p.timestamp_ms >= self.expire_time,
                })
                .collect(),
            create_time: self.create_time,
            expire_time: self.expire_time,
            update_time: self.update_time,
        }
    }
}

/// Blocks on top of a payment's block, its own included.
pub fn confirmations(head: u64, block: u64) -> u32 {
    if head < block {
        0
    } else {
        u32::try_from(head - block + 1).unwrap_or(u32::MAX)
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
                serde_json::from_str(&text)
                    .map_err(|e| format!("{} is not a sandbox ledger: {e}", path.display()))?
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

    /// Applies `f` to a copy of the ledger, saves the copy, and only then makes it current.
    pub fn write<R>(&self, f: impl FnOnce(&mut Ledger) -> R) -> Result<R, String> {
        let mut ledger = self.ledger.lock().expect("ledger lock");
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
                ledger.scan.next_block = 42;
            })
            .unwrap();
        let reopened = Store::open(Some(path.clone())).unwrap();
        assert_eq!(
            reopened.read(|l| (l.next_order_seq, l.scan.next_block)),
            (7, 42)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_save_changes_nothing() {
        let store = Store::open(Some("/nonexistent-dir/ledger.json".into())).unwrap();
        assert!(store.write(|ledger| ledger.next_order_seq = 9).is_err());
        assert_eq!(store.read(|l| l.next_order_seq), 0);
    }

    #[test]
    fn confirmations_count_the_payments_own_block() {
        assert_eq!(confirmations(10, 10), 1);
        assert_eq!(confirmations(11, 10), 2);
        assert_eq!(confirmations(9, 10), 0);
    }
}
