//! Checkouts, durably: in an SQLite file (WAL, fully synced: a paid order survives a power cut),
//! or in PostgreSQL, which several checkout servers share. One code path for both, through
//! sqlx's `Any` driver: the same migrations and the same statements, written in the SQL both
//! speak (`$1` parameters, `ON CONFLICT`, `BIGINT`).
//! Persistence only: what to write is decided by the domain's rules, and every change to a
//! checkout goes through `Checkouts`, which keeps the status cache in step; what must happen
//! together (a webhook's dedupe record, the state it applies and the fulfillment event it queues)
//! happens in one [`Write`].

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Executor, Row, Transaction};
use usdt_checkout_chain::{Cursor, PaymentKind};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::signature::V1PrivateKey;
use usdt_checkout_protocol::{Address, ChainId};

pub mod replicas;

use crate::budget::Budget;
use crate::clock::now_ms;
use crate::domain::{Asked, ChainPayment, Checkout, CreatedBy, GatewayFacts, PaymentTerms};

/// How long after expiry an order is still asked about, for late payments.
const LATE_PAYMENT_WATCH: Duration = Duration::from_secs(24 * 3600);

const MIGRATIONS: [(i64, &str); 7] = [
    (1, include_str!("../../migrations/0001_checkouts.sql")),
    (2, include_str!("../../migrations/0002_chain_facts.sql")),
    (3, include_str!("../../migrations/0003_gateway_budget.sql")),
    (4, include_str!("../../migrations/0004_receipt_key.sql")),
    (5, include_str!("../../migrations/0005_claims.sql")),
    (6, include_str!("../../migrations/0006_gateway_paid_at.sql")),
    (7, include_str!("../../migrations/0007_proof.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database holds a malformed {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// The database cannot be reached (or is restarting, or every connection is busy for too
    /// long): worth trying again, unlike a query it refuses or data it holds malformed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // Postgres ending the connection as it stops (57P01 admin_shutdown, 57P02
            // crash_shutdown, 57P03 cannot_connect_now) or a connection failure (class 08).
            StoreError::Database(sqlx::Error::Database(e)) => e
                .code()
                .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
            _ => false,
        }
    }
}

/// A fulfillment event in the outbox: queued with the change that caused it, delivered later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Stable across retries: receivers dedupe by it.
    pub id: String,
    pub checkout_id: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    pub created_at: u64,
}

/// An event that is due, with the attempts made so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEvent {
    pub id: String,
    pub body: String,
    pub attempts: u32,
}

/// Where checkouts are kept: an SQLite file (the embedded default, one server), or a PostgreSQL
/// database that several servers share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Database {
    /// A `postgres://` URL, or else the path of an SQLite file.
    /// Any other URL (a misspelt scheme, another database) is refused, not taken for a file
    /// name.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Self::Postgres(text.to_owned()))
        } else if text.contains("://") {
            Err(format!(
                "database: {:?} is neither a postgres:// URL nor the path of an SQLite file",
                Self::Postgres(text.to_owned()).to_string()
            ))
        } else {
            Ok(Self::Sqlite(PathBuf::from(text)))
        }
    }
}

impl std::fmt::Display for Database {
    /// Where the data is, without a password a URL may carry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => match (url.split_once("://"), url.rsplit_once('@')) {
                (Some((scheme, _)), Some((_, place))) => write!(f, "{scheme}://…@{place}"),
                _ => f.write_str(url),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_a_postgres_url_or_a_file_and_nothing_else() {
        assert_eq!(
            Database::parse("postgres://shop@db/checkout"),
            Ok(Database::Postgres("postgres://shop@db/checkout".into()))
        );
        assert_eq!(
            Database::parse("data/checkout.sqlite"),
            Ok(Database::Sqlite("data/checkout.sqlite".into()))
        );
        let refused = Database::parse("postgress://shop:secret@db/checkout").unwrap_err();
        assert!(refused.contains("neither a postgres:// URL"), "{refused}");
        assert!(
            !refused.contains("secret"),
            "the password stays out: {refused}"
        );
    }
}

/// Which database a [`Store`] is on: where the two differ (locking), it says which does what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// What ends a read of rows a write transaction will change: on Postgres they stay locked
    /// until it ends, so two servers' changes to one row take turns. SQLite's write lock, held
    /// from the transaction's start, does that already.
    fn row_lock(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

/// Cheap to clone: a handle on one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Postgres's URL, for the connections that outlive a query (see [`replicas`]).
    url: Option<String>,
    /// SQLite takes one writer at a time: this server's writers queue here, in turn, instead of
    /// racing for its lock, where one that loses for longer than `busy_timeout` fails ("database
    /// is locked") however little it had to write.
    queue: Arc<tokio::sync::Mutex<()>>,
    writes: Arc<WriteHealth>,
}

/// A writer's turn in the SQLite queue (see [`Store`]); none on Postgres, whose row locks
/// order writers across servers.
type Queued = Option<tokio::sync::OwnedMutexGuard<()>>;

/// How this server's writes went lately: a database that refuses writes (a full disk, a
/// corrupted index) is reported by `/healthz`, not only in the 500s shoppers get.
#[derive(Default)]
pub struct WriteHealth {
    last_success: AtomicU64,
    last_failure: Mutex<Option<(u64, String)>>,
}

impl WriteHealth {
    fn succeeded(&self) {
        self.last_success.store(now_ms(), Ordering::Relaxed);
    }

    fn failed(&self, error: sqlx::Error) -> StoreError {
        *self.last_failure.lock().expect("write health lock") = Some((now_ms(), error.to_string()));
        StoreError::Database(error)
    }

    /// The latest failure, when no write has succeeded since: `(Unix ms, error)`.
    pub fn failing(&self) -> Option<(u64, String)> {
        let failure = self
            .last_failure
            .lock()
            .expect("write health lock")
            .clone()?;
        (failure.0 >= self.last_success.load(Ordering::Relaxed)).then_some(failure)
    }
}

/// How long a query waits for a pooled connection (one to a database that stopped is tried
/// again and again meanwhile) before the database counts as unavailable: well within a
/// request's 30 s, which a request makes several of.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serialises migrations across checkout servers starting together on one Postgres (an
/// arbitrary key of this product's own).
const MIGRATION_LOCK: i64 = 0x0075_7364_746d_6967;

impl Store {
    pub async fn open(database: &Database) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (options, backend, connections): (AnyConnectOptions, _, _) = match database {
            Database::Sqlite(path) => (
                SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .to_url_lossy()
                    .as_str()
                    .parse()?,
                Backend::Sqlite,
                4,
            ),
            Database::Postgres(url) => (url.parse()?, Backend::Postgres, 8),
        };
        let pool_options = AnyPoolOptions::new()
            .max_connections(connections)
            // A database that stops (or every connection busy) fails a request in seconds, as
            // unavailable (503, retry), instead of holding it past the request timeout (408).
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // What the URL cannot say: write-ahead logging, every commit synced,
                        // foreign keys checked, and a writer waits for the lock, not fails.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            });
        let url = match database {
            Database::Sqlite(_) => None,
            Database::Postgres(url) => Some(url.clone()),
        };
        let store = |pool| Self {
            pool,
            backend,
            url: url.clone(),
            queue: Arc::default(),
            writes: Arc::default(),
        };
        // Migrated on connections of their own, then served by new ones: a connection that read
        // the schema before the last migration expands a `SELECT *` it prepares to the old
        // columns, and sqlx, which describes a statement once, panics on the rows (seen: 36
        // columns described, 37 read).
        let migrating = store(pool_options.clone().connect_with(options.clone()).await?);
        migrating.migrate().await?;
        migrating.pool.close().await;
        Ok(store(pool_options.connect_with(options).await?))
    }

    /// Whether the database answers now (`SELECT 1`): `/healthz` says so.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection: what follows fails as a database that cannot be reached does.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies each migration not yet applied, each in its own transaction; on Postgres, one
    /// server at a time.
    async fn migrate(&self) -> Result<(), StoreError> {
        for (version, sql) in MIGRATIONS {
            let (mut tx, _turn) = self.write().await?;
            if self.backend == Backend::Postgres {
                sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS held")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *tx)
            .await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(now_ms() as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// A transaction for writing. On SQLite it holds the write lock from its start: a deferred
    /// one that reads first fails at once (SQLITE_BUSY, no waiting) when another writer commits
    /// before it writes. On Postgres, rows a [`Write`] reads to change are locked instead
    /// (`FOR UPDATE`), so writers on other servers wait for each other, row by row.
    async fn write(&self) -> Result<(Transaction<'static, Any>, Queued), StoreError> {
        let queued = self.queued().await;
        let begun = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        Ok((begun.map_err(|e| self.writes.failed(e))?, queued))
    }

    /// This writer's turn (see [`Store`]).
    async fn queued(&self) -> Queued {
        match self.backend {
            Backend::Sqlite => Some(self.queue.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// One statement written outside a [`Write`], in its turn, its outcome noted.
    async fn written<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        let _turn = self.queued().await;
        let outcome = statement.await.map_err(|e| self.writes.failed(e))?;
        self.writes.succeeded();
        Ok(outcome)
    }

    /// How this server's writes went lately.
    pub fn write_health(&self) -> &WriteHealth {
        &self.writes
    }

    /// Inserts a new checkout; with an idempotency key already used, returns the existing one.
    pub async fn insert(&self, checkout: &Checkout) -> Result<Checkout, StoreError> {
        let result = self.written(
            sqlx::query(
                "INSERT INTO checkouts (id, created_by, idempotency_key, item_id, description, price_amount,
                     price_currency, reference, state, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(&checkout.id)
            .bind(checkout.created_by.as_str())
            .bind(&checkout.idempotency_key)
            .bind(&checkout.item_id)
            .bind(&checkout.description)
            .bind(&checkout.price_amount)
            .bind(&checkout.price_currency)
            .bind(&checkout.reference)
            .bind(checkout.state.as_str())
            .bind(checkout.created_at as i64)
            .bind(checkout.updated_at as i64)
            .execute(&self.pool),
        )
        .await?;
        let id = if result.rows_affected() == 1 {
            checkout.id.clone()
        } else {
            let key = checkout.idempotency_key.as_deref().unwrap_or_default();
            sqlx::query_scalar("SELECT id FROM checkouts WHERE idempotency_key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await?
        };
        self.announce(&id).await?;
        self.get(&id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        checkout_where(&mut conn, "id", id, "").await
    }

    /// Records the gateway order made for a checkout, unless one already was (a concurrent
    /// request won): either way, returns the checkout as stored.
    pub async fn attach_order(
        &self,
        id: &str,
        terms: &PaymentTerms,
    ) -> Result<Checkout, StoreError> {
        let now = now_ms() as i64;
        self.written(
            sqlx::query(
                "UPDATE checkouts SET chain_id = $1, symbol = $2, token_contract = $3, decimals = $4,
                     amount_atomic = $5, gateway_order_no = $6, plat_order_no = $7, pay_amount_atomic = $8,
                     to_address = $9, cashier_url = $10, expires_at = $11, required_confirmations = $12,
                     remaining_atomic = $13, state = 'waiting', updated_at = $14, version = version + 1
                 WHERE id = $15 AND gateway_order_no IS NULL",
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
            .execute(&self.pool),
        )
        .await?;
        self.announce(id).await?;
        self.get(id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    /// Keeps what is about to be asked of the gateway for a checkout without an order (see
    /// [`Asked`]); `None` forgets it, once the gateway said no order was made. Either way,
    /// returns the checkout as stored.
    pub async fn ask(&self, id: &str, asked: Option<&Asked>) -> Result<Checkout, StoreError> {
        self.written(
            sqlx::query(
                "UPDATE checkouts SET chain_id = $1, symbol = $2, amount_atomic = $3,
                 pay_amount_atomic = $4, updated_at = $5, version = version + 1
             WHERE id = $6 AND gateway_order_no IS NULL",
            )
            .bind(asked.map(|a| a.chain_id.0 as i64))
            .bind(asked.map(|a| a.symbol.clone()))
            .bind(asked.map(|a| a.amount_atomic.to_string()))
            .bind(asked.map(|a| a.pay_amount_atomic.to_string()))
            .bind(now_ms() as i64)
            .bind(id)
            .execute(&self.pool),
        )
        .await?;
        self.announce(id).await?;
        self.get(id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    /// A transaction for changes that must happen together.
    pub async fn begin(&self) -> Result<Write, StoreError> {
        let (tx, queued) = self.write().await?;
        Ok(Write(tx, self.backend, queued, self.writes.clone()))
    }

    /// Runs `decide` on the gateway budget of `api_key` as the database keeps it, and keeps what
    /// it leaves: one server at a time (the row is locked), so the calls of every server on
    /// this database together stay within it.
    pub async fn with_budget<T>(
        &self,
        api_key: &str,
        per_minute: usize,
        decide: impl FnOnce(&mut Budget) -> T,
    ) -> Result<T, StoreError> {
        let (mut tx, _turn) = self.write().await?;
        let failed = |e| self.writes.failed(e);
        // The row exists before it is locked: two first calls cannot both insert it.
        sqlx::query(
            "INSERT INTO gateway_budget (api_key, sent, paused_until) VALUES ($1, '[]', 0)
             ON CONFLICT (api_key) DO NOTHING",
        )
        .bind(api_key)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        let lock = self.backend.row_lock();
        let (sent, paused_until): (String, i64) = sqlx::query_as(&format!(
            "SELECT sent, paused_until FROM gateway_budget WHERE api_key = $1{lock}"
        ))
        .bind(api_key)
        .fetch_one(&mut *tx)
        .await
        .map_err(failed)?;
        let sent: Vec<u64> =
            serde_json::from_str(&sent).map_err(|_| StoreError::Corrupt("gateway budget"))?;
        let mut budget = Budget::restore(per_minute, sent, paused_until.max(0) as u64);
        let decided = decide(&mut budget);
        let (sent, paused_until) = budget.kept();
        sqlx::query("UPDATE gateway_budget SET sent = $1, paused_until = $2 WHERE api_key = $3")
            .bind(serde_json::to_string(&sent).expect("numbers serialise"))
            .bind(paused_until.min(i64::MAX as u64) as i64)
            .bind(api_key)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        self.writes.succeeded();
        Ok(decided)
    }

    /// Waits for this server's turn to create orders on `chain` and `symbol`; the turn lasts
    /// until the returned value is dropped. On SQLite, the only server, it is at once.
    pub async fn creation_turn(&self, chain: ChainId, symbol: &str) -> Result<Turn, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Turn { _held: None });
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS held")
            .bind(replicas::creation_key(chain.0, symbol))
            .execute(&mut *tx)
            .await?;
        Ok(Turn { _held: Some(tx) })
    }

    /// Takes the lease to ask the gateway for checkout `id`'s order until `until` (Unix ms):
    /// `false` while another request holds an unexpired one. A lease, not a lock: waiting for
    /// it holds no database connection (a dozen creations at once, each holding one while the
    /// gateway answered, left none for their own reads).
    pub async fn lease_asking(&self, id: &str, now: u64, until: u64) -> Result<bool, StoreError> {
        let taken = self
            .written(
                sqlx::query(
                    "UPDATE checkouts SET asking_until = $1
                     WHERE id = $2 AND (asking_until IS NULL OR asking_until <= $3)",
                )
                .bind(until as i64)
                .bind(id)
                .bind(now as i64)
                .execute(&self.pool),
            )
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Gives back the lease [`Store::lease_asking`] took until `until`: only that one (a lease
    /// that ran out may have been taken by another request since).
    pub async fn end_asking(&self, id: &str, until: u64) -> Result<(), StoreError> {
        self.written(
            sqlx::query(
                "UPDATE checkouts SET asking_until = NULL WHERE id = $1 AND asking_until = $2",
            )
            .bind(id)
            .bind(until as i64)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    /// The ids and versions of the checkouts on `chain` and `symbol` whose amounts are awaited
    /// (see [`crate::checkouts::Checkouts::amounts_awaited`]): unfinished and not past the time
    /// a late payment is matched, or whose order is being asked for there. Years of expired
    /// orders are not among them (55,000 read one by one made a restarted server's first
    /// checkout take 16 s).
    pub async fn versions_on(
        &self,
        chain: ChainId,
        symbol: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let now = now_ms();
        let late_until = now.saturating_sub(LATE_PAYMENT_WATCH.as_millis() as u64);
        let asked_since = late_until
            .saturating_sub(crate::domain::MAX_ORDER_LIFETIME_SECONDS.saturating_mul(1000));
        Ok(sqlx::query_as(
            "SELECT id, version FROM checkouts WHERE chain_id = $1 AND symbol = $2
               AND state IN ('open', 'waiting', 'partially_paid', 'confirming', 'expired')
               AND (expires_at >= $3 OR (expires_at IS NULL AND updated_at >= $4))",
        )
        .bind(chain.0 as i64)
        .bind(symbol)
        .bind(late_until as i64)
        .bind(asked_since as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The key receipts are signed with: made once, by whichever server asks first, and the
    /// same for every server on this database from then on.
    pub async fn receipt_key(&self) -> Result<V1PrivateKey, StoreError> {
        self.written(
            sqlx::query(
                "INSERT INTO receipt_keys (id, private_key, created_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO NOTHING",
            )
            .bind(V1PrivateKey::generate().to_base64_pkcs8())
            .bind(now_ms() as i64)
            .execute(&self.pool),
        )
        .await?;
        let text: String = sqlx::query_scalar("SELECT private_key FROM receipt_keys WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        V1PrivateKey::from_base64_pkcs8(&text).map_err(|_| StoreError::Corrupt("receipt key"))
    }

    /// Tells the other servers on this database that a checkout changed (see [`replicas`]).
    async fn announce(&self, id: &str) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            announce(&self.pool, replicas::CHECKOUT_CHANGED, id).await?;
        }
        Ok(())
    }

    /// Gateway order numbers of checkouts the gateway may still change, each with whether it
    /// is still open (unfinished and within its time), newest first: unfinished ones, and
    /// expired ones for a day (a late payment can still arrive).
    pub async fn unfinished_orders(&self, limit: u32) -> Result<Vec<(String, bool)>, StoreError> {
        let now = now_ms();
        let late_payments_until = now.saturating_sub(LATE_PAYMENT_WATCH.as_millis() as u64);
        let rows = sqlx::query(
            "SELECT gateway_order_no, state, expires_at FROM checkouts
             WHERE gateway_order_no IS NOT NULL
               AND (state IN ('waiting', 'partially_paid', 'confirming')
                    OR (state = 'expired' AND expires_at > $1))
             ORDER BY created_at DESC LIMIT $2",
        )
        .bind(late_payments_until as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                let expires_at: i64 = row.try_get("expires_at")?;
                let open = state != "expired" && expires_at as u64 > now;
                Ok((row.try_get("gateway_order_no")?, open))
            })
            .collect()
    }

    /// Checkouts, newest first, optionally in one state, after `before`: the creation time and,
    /// optionally, the id of the last one seen (checkouts made in the same millisecond are
    /// ordered by id, so a page never skips one).
    pub async fn list(
        &self,
        state: Option<CheckoutState>,
        limit: u32,
        before: Option<(u64, Option<String>)>,
    ) -> Result<Vec<Checkout>, StoreError> {
        let (before, before_id) = before.unzip();
        sqlx::query(
            "SELECT * FROM checkouts WHERE ($1 IS NULL OR state = $1)
               AND ($2 IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3))
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(state.map(CheckoutState::as_str))
        .bind(before.map(|t| t as i64))
        .bind(before_id.flatten())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// The checkouts status polls and the chain's watchers need, with their chain payments:
    /// those whose payment is under way, and any changed since `since` (Unix ms). History
    /// beyond is read when asked for (see [`crate::checkouts::Checkouts::find`]), not held.
    pub async fn current(&self, since: u64) -> Result<Vec<Checkout>, StoreError> {
        const CURRENT: &str =
            "updated_at > $1 OR state IN ('waiting', 'partially_paid', 'confirming')";
        let mut checkouts: Vec<Checkout> =
            sqlx::query(&format!("SELECT * FROM checkouts WHERE {CURRENT}"))
                .bind(since as i64)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<_, _>>()?;
        let mut payments = std::collections::HashMap::<String, Vec<ChainPayment>>::new();
        let rows = sqlx::query(&format!(
            "SELECT * FROM chain_payments WHERE checkout_id IN
                 (SELECT id FROM checkouts WHERE {CURRENT})
             ORDER BY block_number, log_index"
        ))
        .bind(since as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = std::collections::HashSet::<String>::new();
        for row in &rows {
            let id: String = row.try_get("checkout_id")?;
            if is_claimed(row)? {
                claimed.insert(id.clone());
            }
            payments.entry(id).or_default().push(payment_from_row(row)?);
        }
        for checkout in &mut checkouts {
            checkout.chain_payments = payments.remove(&checkout.id).unwrap_or_default();
            checkout.claimed = claimed.contains(&checkout.id);
        }
        Ok(checkouts)
    }

    /// Where a chain's watcher left off.
    /// Every chain's cursor, as its watcher last kept it.
    pub async fn cursors(&self) -> Result<Vec<(ChainId, Cursor)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT chain_id, cursor FROM chain_cursors")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(chain, text)| {
                let cursor =
                    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("chain cursor"))?;
                Ok((ChainId(chain as u64), cursor))
            })
            .collect()
    }

    pub async fn cursor(&self, chain: ChainId) -> Result<Option<Cursor>, StoreError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT cursor FROM chain_cursors WHERE chain_id = $1")
                .bind(chain.0 as i64)
                .fetch_optional(&self.pool)
                .await?;
        text.map(|t| serde_json::from_str(&t).map_err(|_| StoreError::Corrupt("chain cursor")))
            .transpose()
    }

    /// Payments into receiving addresses that match no checkout, newest first.
    pub async fn unmatched(&self, limit: u32) -> Result<Vec<(ChainId, ChainPayment)>, StoreError> {
        sqlx::query(
            "SELECT * FROM chain_payments WHERE checkout_id IS NULL
             ORDER BY mined_at DESC, log_index DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                ChainId(row.try_get::<i64, _>("chain_id")? as u64),
                payment_from_row(row)?,
            ))
        })
        .collect()
    }

    /// Claims made without the sender's proof, by chain, transaction and log: each claimant
    /// checkout with when it asked, oldest first.
    pub async fn claims_under_review(
        &self,
    ) -> Result<std::collections::HashMap<(u64, String, u64), Vec<(String, u64)>>, StoreError> {
        let rows: Vec<(i64, String, i64, String, i64)> = sqlx::query_as(
            "SELECT chain_id, tx_hash, log_index, checkout_id, requested_at
             FROM claims_under_review ORDER BY requested_at, checkout_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut claims = std::collections::HashMap::<_, Vec<_>>::new();
        for (chain, tx, log, checkout, at) in rows {
            claims
                .entry((chain as u64, tx, log as u64))
                .or_default()
                .push((checkout, at as u64));
        }
        Ok(claims)
    }

    /// Reports refused as about another order (see [`Write::record_refused_report`]), newest
    /// first.
    pub async fn refused_reports(&self, limit: u32) -> Result<Vec<RefusedReport>, StoreError> {
        sqlx::query("SELECT * FROM refused_reports ORDER BY received_at DESC, report_key LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(RefusedReport {
                    received_at: row.try_get::<i64, _>("received_at")? as u64,
                    source: row.try_get("source")?,
                    order_no: row.try_get("order_no")?,
                    plat_order_no: row.try_get("plat_order_no")?,
                    status: row.try_get("status")?,
                    amount: row.try_get("amount")?,
                    tx_hash: row.try_get("tx_hash")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Fulfillment events not yet delivered whose next attempt is due, oldest first, each
    /// claimed for this server until `claimed_until`: another server sharing the database skips
    /// them meanwhile, so each event is sent by one server at a time. One that dies while sending
    /// leaves the event due again at `claimed_until`.
    pub async fn claim_due_events(
        &self,
        now: u64,
        claimed_until: u64,
        limit: u32,
    ) -> Result<Vec<DueEvent>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, body, attempts FROM fulfillment_events
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY created_at LIMIT $2",
        )
        .bind(now as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for (id, body, attempts) in rows {
            // Claimed by whichever server moves the attempt first: an update, not a lock, so it
            // reads the same on SQLite and Postgres.
            let taken = self
                .written(
                    sqlx::query(
                        "UPDATE fulfillment_events SET next_attempt_at = $1
                 WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at <= $3",
                    )
                    .bind(claimed_until as i64)
                    .bind(&id)
                    .bind(now as i64)
                    .execute(&self.pool),
                )
                .await?;
            if taken.rows_affected() == 1 {
                claimed.push(DueEvent {
                    id,
                    body,
                    attempts: attempts as u32,
                });
            }
        }
        Ok(claimed)
    }

    /// Records an attempt to deliver an event: delivered at `now`, or failed with `error` and
    /// due again at `retry_at`.
    pub async fn mark_attempt(
        &self,
        id: &str,
        attempts: u32,
        now: u64,
        outcome: Result<(), (String, u64)>,
    ) -> Result<(), StoreError> {
        let (delivered_at, retry_at, error) = match outcome {
            Ok(()) => (Some(now as i64), None, None),
            Err((error, retry_at)) => (None, Some(retry_at as i64), Some(error)),
        };
        self.written(
            sqlx::query(
                "UPDATE fulfillment_events SET attempts = $1, delivered_at = $2, next_attempt_at = $3, last_error = $4
                 WHERE id = $5",
            )
            .bind(i64::from(attempts))
            .bind(delivered_at)
            .bind(retry_at)
            .bind(error)
            .bind(id)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    /// How many fulfillment events exist for a checkout (at most one, by a UNIQUE column).
    pub async fn fulfillment_events(&self, checkout_id: &str) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM fulfillment_events WHERE checkout_id = $1")
                .bind(checkout_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(count as u32)
    }
}

/// A gateway report that named one of our order numbers but was about another order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedReport {
    pub received_at: u64,
    /// `webhook` or `reconciled`.
    pub source: String,
    pub order_no: Option<String>,
    /// The gateway's own id of the order it is about.
    pub plat_order_no: Option<String>,
    pub status: String,
    pub amount: Option<String>,
    pub tx_hash: Option<String>,
    /// Why it is not about our order.
    pub reason: String,
}

/// A payment attached to a checkout that a reorg took back (see [`Write::rewind_chain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgotten {
    pub tx_hash: String,
    pub log_index: u64,
    pub checkout_id: String,
}

/// What claiming a chain payment for a checkout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// It now counts for the checkout.
    Attached,
    /// It counted for it already.
    Already,
    /// It counts for this other checkout.
    Elsewhere(String),
    /// Its amount is exactly what this other open checkout's order asks: it is that order's.
    AnotherOrdersAsk(String),
    /// Claimed without the sender's proof: kept unmatched, for the merchant to review.
    UnderReview,
}

/// A turn to create orders (see [`Store::creation_turn`]): on Postgres, a transaction holding an
/// advisory lock, released when it ends (dropped, it rolls back).
pub struct Turn {
    _held: Option<Transaction<'static, Any>>,
}

/// Changes that commit together or not at all: holds SQLite's write lock from its start, or on
/// Postgres locks the checkouts it reads (see [`Store::write`]); dropped without
/// [`Write::commit`], it rolls back.
pub struct Write(Transaction<'static, Any>, Backend, Queued, Arc<WriteHealth>);

impl Write {
    fn lock(&self) -> &'static str {
        self.1.row_lock()
    }

    /// Tells the other servers, when (and only if) this transaction commits.
    async fn announce(&mut self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if self.1 == Backend::Postgres {
            announce(&mut *self.0, channel, payload).await?;
        }
        Ok(())
    }
    /// Records a webhook event as applied; `false` if it was before (a retry or a replay).
    pub async fn record_event(
        &mut self,
        event_id: &str,
        order_no: &str,
        state: &str,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO webhook_events (event_id, order_no, state, received_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(order_no)
        .bind(state)
        .bind(now_ms() as i64)
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Keeps a report that named one of our order numbers but is about another order, once
    /// per `key` (the report's dedupe key).
    pub async fn record_refused_report(
        &mut self,
        key: &str,
        report: &RefusedReport,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refused_reports (report_key, received_at, source, order_no, plat_order_no,
                 status, amount, tx_hash, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (report_key) DO NOTHING",
        )
        .bind(key)
        .bind(report.received_at as i64)
        .bind(&report.source)
        .bind(&report.order_no)
        .bind(&report.plat_order_no)
        .bind(&report.status)
        .bind(&report.amount)
        .bind(&report.tx_hash)
        .bind(&report.reason)
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(())
    }

    /// Keeps the gateway's own id for checkout `id`'s order, learnt after its creation; an id
    /// already kept is never replaced.
    pub async fn bind_gateway_id(
        &mut self,
        id: &str,
        plat_order_no: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE checkouts SET plat_order_no = $1
             WHERE id = $2 AND (plat_order_no IS NULL OR plat_order_no = '')",
        )
        .bind(plat_order_no)
        .bind(id)
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(())
    }

    pub async fn checkout_by_order(
        &mut self,
        order_no: &str,
    ) -> Result<Option<Checkout>, StoreError> {
        let lock = self.lock();
        checkout_where(&mut self.0, "gateway_order_no", order_no, lock).await
    }

    pub async fn checkout(&mut self, id: &str) -> Result<Option<Checkout>, StoreError> {
        let lock = self.lock();
        checkout_where(&mut self.0, "id", id, lock).await
    }

    /// Records a payment read from the chain, attached to a checkout or unmatched; `false` if
    /// this log was recorded before.
    pub async fn record_chain_payment(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO chain_payments (chain_id, tx_hash, log_index, block_number, block_hash,
                 from_address, to_address, token, amount, kind, named_order, mined_at, checkout_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING",
        )
        .bind(chain.0 as i64)
        .bind(&payment.tx_id)
        .bind(payment.log_index as i64)
        .bind(payment.block_number as i64)
        .bind(&payment.block_hash)
        .bind(payment.from.to_string())
        .bind(payment.to.to_string())
        .bind(payment.token.to_string())
        .bind(payment.value.to_string())
        .bind(match payment.kind {
            PaymentKind::Transfer => "transfer",
            PaymentKind::Deposit => "deposit",
        })
        .bind(&payment.order_no)
        .bind(payment.timestamp_ms as i64)
        .bind(checkout_id)
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        if checkout_id.is_none() && inserted.rows_affected() == 1 {
            self.announce(replicas::UNMATCHED_SEEN, &payment.tx_id)
                .await?;
        }
        Ok(inserted.rows_affected() == 1)
    }

    /// Attaches to `checkout_id` the payments of transaction `tx_hash` into its address and
    /// token that the watcher keeps as unmatched: the gateway named this order for them. Only
    /// an unmatched one moves (one counting for a checkout stays there); returns how many did.
    pub async fn adopt_unmatched(
        &mut self,
        chain: ChainId,
        tx_hash: &str,
        checkout_id: &str,
        (to, token): (Address, Address),
    ) -> Result<u64, StoreError> {
        let adopted = sqlx::query(
            "UPDATE chain_payments SET checkout_id = $1
             WHERE chain_id = $2 AND LOWER(tx_hash) = LOWER($3) AND checkout_id IS NULL
               AND to_address = $4 AND token = $5",
        )
        .bind(checkout_id)
        .bind(chain.0 as i64)
        .bind(tx_hash)
        .bind(to.to_string())
        .bind(token.to_string())
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        if adopted.rows_affected() > 0 {
            // Other servers drop it from the unmatched payments they show.
            self.announce(replicas::UNMATCHED_SEEN, tx_hash).await?;
        }
        Ok(adopted.rows_affected())
    }

    /// Attaches a payment a shopper claimed (checked on chain, and proven sent by the
    /// claimant) to `checkout_id`, whether the watcher kept it as unmatched or has not read it
    /// yet; says who it counts for if it already counts for a checkout.
    pub async fn claim_chain_payment(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: &str,
        now: u64,
    ) -> Result<Claimed, StoreError> {
        // Kept as unmatched first if the watcher has not read it yet; then taken only while it
        // counts for nobody. A watcher recording the same log meanwhile is one row either way,
        // and the update re-checks the row it waited for.
        self.record_chain_payment(chain, payment, None).await?;
        let taken = sqlx::query(
            "UPDATE chain_payments SET checkout_id = $1, claimed_at = $2
             WHERE chain_id = $3 AND tx_hash = $4 AND log_index = $5 AND checkout_id IS NULL",
        )
        .bind(checkout_id)
        .bind(now as i64)
        .bind(chain.0 as i64)
        .bind(&payment.tx_id)
        .bind(payment.log_index as i64)
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        if taken.rows_affected() == 1 {
            // No longer unmatched: every server's list must lose it.
            self.announce(replicas::UNMATCHED_SEEN, &payment.tx_id)
                .await?;
            return Ok(Claimed::Attached);
        }
        // Not taken: it counts for a checkout, the update having waited for whoever took it.
        self.owner_of(chain, payment, checkout_id)
            .await?
            .ok_or(StoreError::Corrupt("chain payment owner"))
    }

    /// The open checkout other than `except` whose order asks exactly `payment`'s amount at its
    /// address and token, on `chain`, if any: the payment is that order's by the matching rules,
    /// never anyone's claim. Orders past their time count for as long as a late payment is
    /// matched to them. Locks what it reads on Postgres, as the watcher's matching does.
    pub async fn order_asking(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        except: &str,
        late_match_ms: u64,
    ) -> Result<Option<String>, StoreError> {
        let lock = self.lock();
        let owner: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM checkouts
             WHERE chain_id = $1 AND to_address = $2 AND token_contract = $3
               AND pay_amount_atomic = $4 AND id <> $5
               AND state IN ('waiting', 'partially_paid', 'confirming', 'expired')
               AND expires_at > $6
             ORDER BY id LIMIT 1{lock}"
        ))
        .bind(chain.0 as i64)
        .bind(payment.to.to_string())
        .bind(payment.token.to_string())
        .bind(payment.value.to_string())
        .bind(except)
        .bind(now_ms().saturating_sub(late_match_ms) as i64)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(owner)
    }

    /// Records that the shopper of `checkout_id` claims `payment` without the sender's proof,
    /// for the merchant to review; says who it counts for if it counts for a checkout already.
    /// The payment itself is not recorded here: the watcher still matches it by its rules, so
    /// a claim made the moment a payment is mined takes it from nobody.
    pub async fn request_claim(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: &str,
        now: u64,
    ) -> Result<Claimed, StoreError> {
        if let Some(counted) = self.owner_of(chain, payment, checkout_id).await? {
            return Ok(counted);
        }
        sqlx::query(
            "INSERT INTO claims_under_review (chain_id, tx_hash, log_index, checkout_id, requested_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(chain.0 as i64)
        .bind(&payment.tx_id)
        .bind(payment.log_index as i64)
        .bind(checkout_id)
        .bind(now as i64)
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(Claimed::UnderReview)
    }

    /// Who `payment` counts for, seen from `checkout_id`; `None` while it counts for nobody
    /// (not recorded, or unmatched).
    async fn owner_of(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        checkout_id: &str,
    ) -> Result<Option<Claimed>, StoreError> {
        let owner: Option<Option<String>> = sqlx::query_scalar(
            "SELECT checkout_id FROM chain_payments
             WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3",
        )
        .bind(chain.0 as i64)
        .bind(&payment.tx_id)
        .bind(payment.log_index as i64)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(owner.flatten().map(|owner| {
            if owner == checkout_id {
                Claimed::Already
            } else {
                Claimed::Elsewhere(owner)
            }
        }))
    }

    /// Forgets what was read from block `fork` on (it was reorganised away); returns the
    /// payments attached to checkouts that it forgot, with their checkouts.
    pub async fn rewind_chain(
        &mut self,
        chain: ChainId,
        fork: u64,
    ) -> Result<Vec<Forgotten>, StoreError> {
        let affected: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT tx_hash, log_index, checkout_id FROM chain_payments
             WHERE chain_id = $1 AND block_number >= $2 AND checkout_id IS NOT NULL",
        )
        .bind(chain.0 as i64)
        .bind(fork as i64)
        .fetch_all(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        let affected = affected
            .into_iter()
            .map(|(tx_hash, log_index, checkout_id)| Forgotten {
                tx_hash,
                log_index: log_index as u64,
                checkout_id,
            })
            .collect();
        sqlx::query("DELETE FROM chain_payments WHERE chain_id = $1 AND block_number >= $2")
            .bind(chain.0 as i64)
            .bind(fork as i64)
            .execute(&mut *self.0)
            .await
            .map_err(|e| self.3.failed(e))?;
        Ok(affected)
    }

    pub async fn save_cursor(&mut self, chain: ChainId, cursor: &Cursor) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chain_cursors (chain_id, cursor) VALUES ($1, $2)
             ON CONFLICT (chain_id) DO UPDATE SET cursor = excluded.cursor",
        )
        .bind(chain.0 as i64)
        .bind(serde_json::to_string(cursor).expect("cursors serialise"))
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(())
    }

    /// Stores the payment facts of `checkout`, the version before it being what is stored.
    pub async fn update_payment(&mut self, checkout: &Checkout) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE checkouts SET state = $1, paid_atomic = $2, remaining_atomic = $3, overpaid_atomic = $4,
                 confirmations = $5, tx_hashes = $6, gateway_status = $7, gateway_paid_atomic = $8,
                 gateway_tx_hashes = $9, gateway_expired_at = $10, gateway_success_at = $11,
                 disagreement = $12, updated_at = $13, version = $14, gateway_paid_at = $17
             WHERE id = $15 AND version = $16",
        )
        .bind(checkout.state.as_str())
        .bind(checkout.paid_atomic.to_string())
        .bind(checkout.remaining_atomic.map(|r| r.to_string()))
        .bind(checkout.overpaid_atomic.to_string())
        .bind(checkout.confirmations.map(i64::from))
        .bind(serde_json::to_string(&checkout.tx_hashes).expect("strings serialise"))
        .bind(checkout.gateway.status.map(GatewayStatus::as_str))
        .bind(checkout.gateway.paid_atomic.to_string())
        .bind(serde_json::to_string(&checkout.gateway.tx_hashes).expect("strings serialise"))
        .bind(checkout.gateway.expired_at.map(|at| at as i64))
        .bind(checkout.gateway.success_at.map(|at| at as i64))
        .bind(&checkout.disagreement)
        .bind(checkout.updated_at as i64)
        .bind(checkout.version)
        .bind(&checkout.id)
        .bind(checkout.version - 1)
        .bind(checkout.gateway.paid_at.map(|at| at as i64))
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Corrupt("checkout version"));
        }
        self.announce(replicas::CHECKOUT_CHANGED, &checkout.id)
            .await
    }

    /// Stores what the gateway said of a checkout when it changes nothing else (no new version).
    pub async fn update_gateway_facts(&mut self, checkout: &Checkout) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE checkouts SET gateway_status = $1, gateway_paid_atomic = $2, gateway_tx_hashes = $3,
                 gateway_expired_at = $4, gateway_success_at = $5, gateway_paid_at = $8
             WHERE id = $6 AND version = $7",
        )
        .bind(checkout.gateway.status.map(GatewayStatus::as_str))
        .bind(checkout.gateway.paid_atomic.to_string())
        .bind(serde_json::to_string(&checkout.gateway.tx_hashes).expect("strings serialise"))
        .bind(checkout.gateway.expired_at.map(|at| at as i64))
        .bind(checkout.gateway.success_at.map(|at| at as i64))
        .bind(&checkout.id)
        .bind(checkout.version)
        .bind(checkout.gateway.paid_at.map(|at| at as i64))
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(())
    }

    /// Queues a fulfillment event, unless its checkout already has one.
    pub async fn queue_event(&mut self, event: &OutboxEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fulfillment_events (id, checkout_id, body, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (checkout_id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.checkout_id)
        .bind(&event.body)
        .bind(event.created_at as i64)
        .bind(event.created_at as i64)
        .execute(&mut *self.0)
        .await
        .map_err(|e| self.3.failed(e))?;
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        let Self(tx, _, _turn, health) = self;
        tx.commit().await.map_err(|e| health.failed(e))?;
        health.succeeded();
        Ok(())
    }
}

/// `NOTIFY`, with a payload: delivered to every listening server at commit.
async fn announce<'e>(
    executor: impl Executor<'e, Database = Any>,
    channel: &str,
    payload: &str,
) -> Result<(), StoreError> {
    // Wrapped: `Any` reads no column of type void.
    sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS sent")
        .bind(channel)
        .bind(payload)
        .execute(executor)
        .await?;
    Ok(())
}

/// The checkout whose `column` is `value`, with its chain payments; `lock` ends the statement
/// (`" FOR UPDATE"` to hold the row until the transaction ends).
async fn checkout_where(
    conn: &mut AnyConnection,
    column: &'static str,
    value: &str,
    lock: &str,
) -> Result<Option<Checkout>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT * FROM checkouts WHERE {column} = $1{lock}"
    ))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut checkout) = row.as_ref().map(from_row).transpose()? else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT * FROM chain_payments WHERE checkout_id = $1 ORDER BY block_number, log_index",
    )
    .bind(&checkout.id)
    .fetch_all(&mut *conn)
    .await?;
    checkout.chain_payments = rows
        .iter()
        .map(payment_from_row)
        .collect::<Result<_, _>>()?;
    for row in &rows {
        checkout.claimed |= is_claimed(row)?;
    }
    Ok(Some(checkout))
}

/// Whether a chain payment's row was attached on a shopper's claim.
fn is_claimed(row: &AnyRow) -> Result<bool, StoreError> {
    Ok(row.try_get::<Option<i64>, _>("claimed_at")?.is_some())
}

fn payment_from_row(row: &AnyRow) -> Result<ChainPayment, StoreError> {
    let address = |column: &str| -> Result<Address, StoreError> {
        Address::from_str(&row.try_get::<String, _>(column)?)
            .map_err(|_| StoreError::Corrupt("address"))
    };
    Ok(ChainPayment {
        tx_id: row.try_get("tx_hash")?,
        log_index: row.try_get::<i64, _>("log_index")? as u64,
        block_number: row.try_get::<i64, _>("block_number")? as u64,
        block_hash: row.try_get("block_hash")?,
        from: address("from_address")?,
        to: address("to_address")?,
        token: address("token")?,
        value: row
            .try_get::<String, _>("amount")?
            .parse()
            .map_err(|_| StoreError::Corrupt("amount"))?,
        kind: match row.try_get::<String, _>("kind")?.as_str() {
            "deposit" => PaymentKind::Deposit,
            _ => PaymentKind::Transfer,
        },
        order_no: row.try_get("named_order")?,
        timestamp_ms: row.try_get::<i64, _>("mined_at")? as u64,
    })
}

fn from_row(row: &AnyRow) -> Result<Checkout, StoreError> {
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
    let chain_id: Option<i64> = row.try_get("chain_id")?;
    // Before its order, a checkout's chain and amounts are what it asked for.
    let asked = match (&gateway_order_no, chain_id) {
        (None, Some(chain_id)) => Some(Asked {
            chain_id: ChainId(chain_id as u64),
            symbol: row.try_get("symbol")?,
            amount_atomic: units("amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
            pay_amount_atomic: units("pay_amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
        }),
        _ => None,
    };
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
        created_by: CreatedBy::from_name(row.try_get("created_by")?)
            .ok_or(StoreError::Corrupt("creator"))?,
        idempotency_key: row.try_get("idempotency_key")?,
        item_id: row.try_get("item_id")?,
        description: row.try_get("description")?,
        price_amount: row.try_get("price_amount")?,
        price_currency: row.try_get("price_currency")?,
        reference: row.try_get("reference")?,
        asked,
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
        gateway: GatewayFacts {
            status: row
                .try_get::<Option<String>, _>("gateway_status")?
                .map(|name| GatewayStatus::parse(&name).ok_or(StoreError::Corrupt("status")))
                .transpose()?,
            paid_atomic: units("gateway_paid_atomic")?.unwrap_or(0),
            tx_hashes: serde_json::from_str(&row.try_get::<String, _>("gateway_tx_hashes")?)
                .map_err(|_| StoreError::Corrupt("transactions"))?,
            expired_at: row
                .try_get::<Option<i64>, _>("gateway_expired_at")?
                .map(|at| at as u64),
            paid_at: row
                .try_get::<Option<i64>, _>("gateway_paid_at")?
                .map(|at| at as u64),
            success_at: row
                .try_get::<Option<i64>, _>("gateway_success_at")?
                .map(|at| at as u64),
        },
        chain_payments: vec![],
        claimed: false,
        disagreement: row.try_get("disagreement")?,
        created_at: row.try_get::<i64, _>("created_at")? as u64,
        updated_at: row.try_get::<i64, _>("updated_at")? as u64,
        version: row.try_get("version")?,
    })
}
