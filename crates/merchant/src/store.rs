//! Checkouts, durably, in an SQLite file (WAL, fully synced: a paid order survives a power cut).
//! Every change that must happen together (a webhook's dedupe record, the state it applies and
//! the fulfillment event it triggers) happens in one transaction.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{Address, ChainId, OrderStatus, transition};

/// How long after expiry an order is still asked about, for late payments.
const LATE_PAYMENT_WATCH: Duration = Duration::from_secs(24 * 3600);

const MIGRATIONS: [(i64, &str); 1] = [(1, include_str!("../migrations/0001_checkouts.sql"))];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database holds a malformed {0}")]
    Corrupt(&'static str),
}

/// The payment half of a checkout, fixed when its gateway order is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTerms {
    pub chain_id: ChainId,
    pub symbol: String,
    pub token_contract: Address,
    pub decimals: u8,
    /// What the server priced it at.
    pub amount_atomic: u128,
    pub gateway_order_no: String,
    pub plat_order_no: String,
    /// What the gateway asks the shopper to send (possibly made unique).
    pub pay_amount_atomic: u128,
    pub to_address: Address,
    pub cashier_url: String,
    pub expires_at: u64,
    pub required_confirmations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub id: String,
    pub created_by: String,
    pub idempotency_key: Option<String>,
    pub item_id: Option<String>,
    pub description: String,
    pub price_amount: String,
    pub price_currency: String,
    pub reference: Option<String>,
    pub terms: Option<PaymentTerms>,
    pub state: CheckoutState,
    pub paid_atomic: u128,
    pub remaining_atomic: Option<u128>,
    pub overpaid_atomic: u128,
    pub confirmations: Option<u32>,
    pub tx_hashes: Vec<String>,
    pub gateway_update_time: u64,
    pub created_at: u64,
    pub updated_at: u64,
    pub version: i64,
}

impl Checkout {
    /// A priced checkout that waits for the shopper to choose a network and token.
    pub fn open(
        id: String,
        created_by: &str,
        description: String,
        price_amount: String,
        price_currency: String,
    ) -> Self {
        let now = now_ms();
        Self {
            id,
            created_by: created_by.into(),
            idempotency_key: None,
            item_id: None,
            description,
            price_amount,
            price_currency,
            reference: None,
            terms: None,
            state: CheckoutState::OPEN,
            paid_atomic: 0,
            remaining_atomic: None,
            overpaid_atomic: 0,
            confirmations: None,
            tx_hashes: vec![],
            gateway_update_time: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// What the gateway reports of an order, from a webhook or a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReport {
    pub order_no: String,
    pub state: OrderStatus,
    pub paid_atomic: u128,
    pub remaining_atomic: u128,
    pub overpaid_atomic: u128,
    pub confirmations: Option<u32>,
    pub tx_hashes: Vec<String>,
    /// When the gateway decided this state.
    pub time: u64,
}

/// What applying a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The checkout changed (its new form).
    Changed(Box<Checkout>),
    /// Nothing new (the same state and amounts, or an older report).
    Unchanged,
    /// This webhook event was applied before.
    Duplicate,
    /// No checkout has this gateway order number.
    UnknownOrder,
}

pub struct Store {
    pool: SqlitePool,
}

impl Store {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies each migration not yet applied, each in its own transaction.
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.write().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                    .bind(version)
                    .bind(now_ms() as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// A transaction that holds the write lock from its start. A deferred one that reads first
    /// fails at once (SQLITE_BUSY, no waiting) when another writer commits before it writes.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Inserts a new checkout; with an idempotency key already used, returns the existing one.
    pub async fn insert(&self, checkout: &Checkout) -> Result<Checkout, StoreError> {
        let result = sqlx::query(
            "INSERT INTO checkouts (id, created_by, idempotency_key, item_id, description, price_amount,
                 price_currency, reference, state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&checkout.id)
        .bind(&checkout.created_by)
        .bind(&checkout.idempotency_key)
        .bind(&checkout.item_id)
        .bind(&checkout.description)
        .bind(&checkout.price_amount)
        .bind(&checkout.price_currency)
        .bind(&checkout.reference)
        .bind(checkout.state.as_str())
        .bind(checkout.created_at as i64)
        .bind(checkout.updated_at as i64)
        .execute(&self.pool)
        .await?;
        let id = if result.rows_affected() == 1 {
            checkout.id.clone()
        } else {
            let key = checkout.idempotency_key.as_deref().unwrap_or_default();
            sqlx::query_scalar("SELECT id FROM checkouts WHERE idempotency_key = ?")
                .bind(key)
                .fetch_one(&self.pool)
                .await?
        };
        self.get(&id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        sqlx::query("SELECT * FROM checkouts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| from_row(&row))
            .transpose()
    }

    /// Records the gateway order made for a checkout, unless one already was (a concurrent
    /// request won): either way, returns the checkout as stored.
    pub async fn attach_order(
        &self,
        id: &str,
        terms: &PaymentTerms,
    ) -> Result<Checkout, StoreError> {
        let now = now_ms() as i64;
        sqlx::query(
            "UPDATE checkouts SET chain_id = ?, symbol = ?, token_contract = ?, decimals = ?,
                 amount_atomic = ?, gateway_order_no = ?, plat_order_no = ?, pay_amount_atomic = ?,
                 to_address = ?, cashier_url = ?, expires_at = ?, required_confirmations = ?,
                 remaining_atomic = ?, state = 'waiting', updated_at = ?, version = version + 1
             WHERE id = ? AND gateway_order_no IS NULL",
        )
        .bind(terms.chain_id.0 as i64)
        .bind(&terms.symbol)
        .bind(terms.token_contract.to_string())
        .bind(i64::from(terms.decimals))
        .bind(terms.amount_atomic.to_string())
        .bind(&terms.gateway_order_no)
        .bind(&terms.plat_order_no)
        .bind(terms.pay_amount_atomic.to_string())
        .bind(terms.to_address.to_string())
        .bind(&terms.cashier_url)
        .bind(terms.expires_at as i64)
        .bind(i64::from(terms.required_confirmations))
        .bind(terms.pay_amount_atomic.to_string())
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.get(id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    /// Applies what the gateway reports of an order: once per webhook event (`event_id`), never
    /// an older report over a newer one, and only as the status machine allows. A change to
    /// paid or paid late queues the merchant's fulfillment event in the same transaction.
    pub async fn apply(
        &self,
        report: &GatewayReport,
        event_id: Option<&str>,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms() as i64;
        if let Some(event_id) = event_id {
            let inserted = sqlx::query(
                "INSERT INTO webhook_events (event_id, order_no, state, received_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(event_id)
            .bind(&report.order_no)
            .bind(report.state.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Ok(Applied::Duplicate);
            }
        }
        let Some(row) = sqlx::query("SELECT * FROM checkouts WHERE gateway_order_no = ?")
            .bind(&report.order_no)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.commit().await?;
            return Ok(Applied::UnknownOrder);
        };
        let current = from_row(&row)?;
        let CheckoutState::Order(stored) = current.state else {
            return Err(StoreError::Corrupt(
                "checkout with an order number but no order",
            ));
        };
        let newer = report.time >= current.gateway_update_time;
        let same_facts = stored == report.state
            && current.paid_atomic == report.paid_atomic
            && current.confirmations == report.confirmations
            && current.tx_hashes == report.tx_hashes;
        let allowed = transition(stored, report.state).is_ok();
        if !newer || same_facts || !allowed {
            if !allowed {
                tracing::warn!(
                    "order {}: the gateway reports {} after {stored}; kept {stored}",
                    report.order_no,
                    report.state
                );
            }
            tx.commit().await?;
            return Ok(Applied::Unchanged);
        }
        sqlx::query(
            "UPDATE checkouts SET state = ?, paid_atomic = ?, remaining_atomic = ?, overpaid_atomic = ?,
                 confirmations = ?, tx_hashes = ?, gateway_update_time = ?, updated_at = ?,
                 version = version + 1
             WHERE id = ?",
        )
        .bind(report.state.as_str())
        .bind(report.paid_atomic.to_string())
        .bind(report.remaining_atomic.to_string())
        .bind(report.overpaid_atomic.to_string())
        .bind(report.confirmations.map(i64::from))
        .bind(serde_json::to_string(&report.tx_hashes).expect("strings serialise"))
        .bind(report.time as i64)
        .bind(now)
        .bind(&current.id)
        .execute(&mut *tx)
        .await?;
        let changed = from_row(
            &sqlx::query("SELECT * FROM checkouts WHERE id = ?")
                .bind(&current.id)
                .fetch_one(&mut *tx)
                .await?,
        )?;
        if matches!(report.state, OrderStatus::Paid | OrderStatus::PaidLate) {
            crate::fulfillment::queue(&mut tx, &changed, now as u64).await?;
        }
        tx.commit().await?;
        Ok(Applied::Changed(Box::new(changed)))
    }

    /// Gateway order numbers of checkouts the gateway may still change, least recently changed
    /// first: unfinished ones, and expired ones for a day (a late payment can still arrive).
    pub async fn unfinished_orders(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        let late_payments_until = now_ms().saturating_sub(LATE_PAYMENT_WATCH.as_millis() as u64);
        Ok(sqlx::query_scalar(
            "SELECT gateway_order_no FROM checkouts
             WHERE gateway_order_no IS NOT NULL
               AND (state IN ('waiting', 'partially_paid', 'confirming')
                    OR (state = 'expired' AND expires_at > ?))
             ORDER BY updated_at LIMIT ?",
        )
        .bind(late_payments_until as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Checkouts, newest first, optionally in one state.
    pub async fn list(
        &self,
        state: Option<&str>,
        limit: u32,
        before: Option<u64>,
    ) -> Result<Vec<Checkout>, StoreError> {
        sqlx::query(
            "SELECT * FROM checkouts WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR created_at < ?2)
             ORDER BY created_at DESC, id DESC LIMIT ?3",
        )
        .bind(state)
        .bind(before.map(|t| t as i64))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// Every checkout's id and version, to fill the status cache at startup.
    pub async fn all(&self) -> Result<Vec<Checkout>, StoreError> {
        sqlx::query("SELECT * FROM checkouts")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn from_row(row: &SqliteRow) -> Result<Checkout, StoreError> {
    let units = |column: &str| -> Result<Option<u128>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| text.parse().map_err(|_| StoreError::Corrupt("amount")))
            .transpose()
    };
    let address = |column: &str| -> Result<Option<Address>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| Address::from_str(&text).map_err(|_| StoreError::Corrupt("address")))
            .transpose()
    };
    let state: String = row.try_get("state")?;
    let state = CheckoutState::from_name(&state).ok_or(StoreError::Corrupt("state"))?;
    let gateway_order_no: Option<String> = row.try_get("gateway_order_no")?;
    let terms = match gateway_order_no {
        None => None,
        Some(gateway_order_no) => Some(PaymentTerms {
            chain_id: ChainId(row.try_get::<i64, _>("chain_id")? as u64),
            symbol: row.try_get("symbol")?,
            token_contract: address("token_contract")?.ok_or(StoreError::Corrupt("token"))?,
            decimals: row.try_get::<i64, _>("decimals")? as u8,
            amount_atomic: units("amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
            gateway_order_no,
            plat_order_no: row.try_get("plat_order_no")?,
            pay_amount_atomic: units("pay_amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
            to_address: address("to_address")?.ok_or(StoreError::Corrupt("address"))?,
            cashier_url: row.try_get("cashier_url")?,
            expires_at: row.try_get::<i64, _>("expires_at")? as u64,
            required_confirmations: row.try_get::<i64, _>("required_confirmations")? as u32,
        }),
    };
    let tx_hashes: String = row.try_get("tx_hashes")?;
    Ok(Checkout {
        id: row.try_get("id")?,
        created_by: row.try_get("created_by")?,
        idempotency_key: row.try_get("idempotency_key")?,
        item_id: row.try_get("item_id")?,
        description: row.try_get("description")?,
        price_amount: row.try_get("price_amount")?,
        price_currency: row.try_get("price_currency")?,
        reference: row.try_get("reference")?,
        terms,
        state,
        paid_atomic: units("paid_atomic")?.unwrap_or(0),
        remaining_atomic: units("remaining_atomic")?,
        overpaid_atomic: units("overpaid_atomic")?.unwrap_or(0),
        confirmations: row
            .try_get::<Option<i64>, _>("confirmations")?
            .map(|c| c as u32),
        tx_hashes: serde_json::from_str(&tx_hashes)
            .map_err(|_| StoreError::Corrupt("transactions"))?,
        gateway_update_time: row.try_get::<i64, _>("gateway_update_time")? as u64,
        created_at: row.try_get::<i64, _>("created_at")? as u64,
        updated_at: row.try_get::<i64, _>("updated_at")? as u64,
        version: row.try_get("version")?,
    })
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
