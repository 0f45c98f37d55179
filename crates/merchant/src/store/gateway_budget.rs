//! The `gateway_budget` table, the calls every server on this database makes to the gateway
//! together, and the turn to create orders there.

use sqlx::{Any, Transaction};
use usdt_checkout_protocol::ChainId;

use super::{Backend, Store, StoreError, replicas};
use crate::budget::Budget;

impl Store {
    /// Runs `decide` on the gateway budget of `api_key` as the database keeps it, and keeps what
    /// it leaves: one server at a time (the row is locked), so the calls of every server on
    /// this database together stay within it.
    pub async fn with_budget<T>(
        &self,
        api_key: &str,
        per_minute: usize,
        decide: impl FnOnce(&mut Budget) -> T,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
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
        self.writes.succeeded(started);
        Ok(decided)
    }

    /// Waits for this server's turn to create orders on `chain` and `symbol`; the turn lasts
    /// until the returned value is dropped. On SQLite, the only server, it is at once.
    pub async fn creation_turn(&self, chain: ChainId, symbol: &str) -> Result<Turn, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Turn { _held: None });
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(super::WAIT_YOUR_TURN).execute(&mut *tx).await?;
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS held")
            .bind(replicas::creation_key(chain.0, symbol))
            .execute(&mut *tx)
            .await?;
        Ok(Turn { _held: Some(tx) })
    }
}

/// A turn to create orders (see [`Store::creation_turn`]): on Postgres, a transaction holding an
/// advisory lock, released when it ends (dropped, it rolls back).
pub struct Turn {
    _held: Option<Transaction<'static, Any>>,
}
