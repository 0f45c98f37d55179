//! Checkouts, durably: in an SQLite file (WAL, fully synced: a paid order survives a power cut),
//! or in PostgreSQL, which several checkout servers share. One code path for both, through
//! sqlx's `Any` driver: the same migrations and the same statements, written in the SQL both
//! speak (`$1` parameters, `ON CONFLICT`, `BIGINT`).
//! Persistence only: what to write is decided by the domain's rules, and every change to a
//! checkout goes through `Checkouts`, which keeps the status cache in step; what must happen
//! together (a webhook's dedupe record, the state it applies and the fulfillment event it queues)
//! happens in one [`Write`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

mod audit;
mod chain;
mod checkouts;
mod claims;
mod exceptions;
mod export;
mod gateway_budget;
mod history;
mod links;
mod outbox;
mod readiness;
mod receipt_key;
mod refund_transfers;
mod refunds;
pub mod replicas;
mod reports;
mod search;
mod sessions;
mod staff;

pub use audit::{AuditEntry, AuditRecord};
pub use chain::{Claimed, Forgotten};
pub use exceptions::{Delivered, FailingDelivery, Resolution};
pub use export::{ExportedPayment, PaymentCursor};
pub use gateway_budget::Turn;
pub use history::{ClaimUnderReview, DeliveryAttempt, Fulfillment, OrderHistory, WebhookReceived};
pub use outbox::{DueEvent, Outbox, OutboxEvent};
pub use readiness::NotWritable;
pub use refund_transfers::ExportedRefund;
pub use reports::RefusedReport;
pub use search::OrderSearch;
pub use sessions::StoredSession;
pub use staff::StaffMember;

use usdt_checkout_protocol::TxHash;

use crate::clock::now_ms;

const MIGRATIONS: [(i64, &str); 15] = [
    (1, include_str!("../../migrations/0001_checkouts.sql")),
    (2, include_str!("../../migrations/0002_chain_facts.sql")),
    (3, include_str!("../../migrations/0003_gateway_budget.sql")),
    (4, include_str!("../../migrations/0004_receipt_key.sql")),
    (5, include_str!("../../migrations/0005_claims.sql")),
    (6, include_str!("../../migrations/0006_gateway_paid_at.sql")),
    (7, include_str!("../../migrations/0007_proof.sql")),
    (8, include_str!("../../migrations/0008_console.sql")),
    (9, include_str!("../../migrations/0009_export_indexes.sql")),
    (10, include_str!("../../migrations/0010_exceptions.sql")),
    (11, include_str!("../../migrations/0011_payment_links.sql")),
    (12, include_str!("../../migrations/0012_tolerance.sql")),
    (13, include_str!("../../migrations/0013_refunds.sql")),
    (14, include_str!("../../migrations/0014_refund_events.sql")),
    (
        15,
        include_str!("../../migrations/0015_refund_approved_block.sql"),
    ),
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

/// A transaction hash the gateway named, as kept. Until hashes were parsed where they come in,
/// whatever text the gateway wrote was kept (another chain's transaction id, say): what is not
/// a hash is left out, said in the log, rather than failing the row that holds it. Hashes in
/// upper case come out in lower case, as written since.
fn gateway_tx(text: &str) -> Option<TxHash> {
    text.parse()
        .map_err(|e| tracing::warn!("a kept transaction {text:?} is left out: {e}"))
        .ok()
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
    /// A write begun at `started` committed.
    fn succeeded(&self, started: std::time::Instant) {
        self.last_success.store(now_ms(), Ordering::Relaxed);
        crate::metrics::write_committed(started.elapsed());
    }

    fn failed(&self, error: sqlx::Error) -> StoreError {
        crate::metrics::write_failed();
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

/// Lifts, for one transaction, the bound on waiting for a lock: a turn (migrating, creating
/// orders on a chain) is waited for however long the server before takes, a gateway call
/// included.
pub(crate) const WAIT_YOUR_TURN: &str = "SET LOCAL lock_timeout = 0";

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
                    } else {
                        // A row lock waited on without end hangs its request or worker in
                        // silence (a watcher, its step never finishing, reports nothing): after
                        // 10 s the wait fails, is said, and is retried. The turns taken on
                        // purpose (see `WAIT_YOUR_TURN`) wait as long as they must.
                        conn.execute("SET lock_timeout = '10s'").await?;
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
                sqlx::query(WAIT_YOUR_TURN).execute(&mut *tx).await?;
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
        let started = std::time::Instant::now();
        let _turn = self.queued().await;
        let outcome = statement.await.map_err(|e| self.writes.failed(e))?;
        self.writes.succeeded(started);
        Ok(outcome)
    }

    /// How this server's writes went lately.
    pub fn write_health(&self) -> &WriteHealth {
        &self.writes
    }

    /// A transaction for changes that must happen together.
    pub async fn begin(&self) -> Result<Write, StoreError> {
        let started = std::time::Instant::now();
        let (tx, queued) = self.write().await?;
        Ok(Write {
            tx,
            backend: self.backend,
            turn: queued,
            health: self.writes.clone(),
            started,
        })
    }
}

/// Changes that commit together or not at all: holds SQLite's write lock from its start, or on
/// Postgres locks the checkouts it reads (see [`Store::write`]); dropped without
/// [`Write::commit`], it rolls back. Its changes are in the modules of the tables they change.
pub struct Write {
    tx: Transaction<'static, Any>,
    backend: Backend,
    /// This writer's turn in SQLite's queue, held until the transaction ends.
    turn: Queued,
    health: Arc<WriteHealth>,
    /// When it was asked for (its turn in the queue included), for the write's latency.
    started: std::time::Instant,
}

impl Write {
    fn lock(&self) -> &'static str {
        self.backend.row_lock()
    }

    /// Tells the other servers, when (and only if) this transaction commits.
    async fn announce(&mut self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            announce(&mut *self.tx, channel, payload).await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        let Self {
            tx,
            turn: _turn,
            health,
            started,
            ..
        } = self;
        tx.commit().await.map_err(|e| health.failed(e))?;
        health.succeeded(started);
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
