//! The `staff_sessions` table: console sessions, by the hash of their id (see the
//! console's sign-in), so they work on every server sharing the database.

use sqlx::Row;

use super::{Store, StoreError, Write};
use crate::staff::{Role, SessionLimits};

/// A session as kept, with its member of staff's role as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub staff_name: String,
    pub role: Role,
    pub csrf_token: String,
    pub created_at: u64,
    pub last_seen_at: u64,
}

impl Store {
    /// The session whose id hashes to `id_hash`, if it is kept (and its member of staff is).
    pub async fn session(&self, id_hash: &str) -> Result<Option<StoredSession>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT s.staff_name, t.role, s.csrf_token, s.created_at, s.last_seen_at
             FROM staff_sessions s JOIN staff t ON t.name = s.staff_name WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let role: String = row.try_get("role")?;
        Ok(Some(StoredSession {
            staff_name: row.try_get("staff_name")?,
            role: Role::from_name(&role).ok_or(StoreError::Corrupt("staff role"))?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get::<i64, _>("created_at")? as u64,
            last_seen_at: row.try_get::<i64, _>("last_seen_at")? as u64,
        }))
    }

    /// Notes that the session was used at `now`.
    pub async fn touch_session(&self, id_hash: &str, now: u64) -> Result<(), StoreError> {
        self.written(
            sqlx::query("UPDATE staff_sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now as i64)
                .bind(id_hash)
                .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    /// Ends the session (signing out, or one found idle or expired); `false` if it was not kept.
    pub async fn end_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let ended = self
            .written(
                sqlx::query("DELETE FROM staff_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool),
            )
            .await?;
        Ok(ended.rows_affected() == 1)
    }

    /// Forgets every session idle or expired at `now` under `limits`.
    pub async fn end_stale_sessions(
        &self,
        limits: SessionLimits,
        now: u64,
    ) -> Result<u64, StoreError> {
        let ended = self
            .written(
                sqlx::query(
                    "DELETE FROM staff_sessions WHERE last_seen_at <= $1 OR created_at <= $2",
                )
                .bind(now.saturating_sub(limits.idle_ms) as i64)
                .bind(now.saturating_sub(limits.lifetime_ms) as i64)
                .execute(&self.pool),
            )
            .await?;
        Ok(ended.rows_affected())
    }
}

impl Write {
    /// Keeps a new session for `staff_name`.
    pub async fn start_session(
        &mut self,
        id_hash: &str,
        staff_name: &str,
        csrf_token: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions (id_hash, staff_name, csrf_token, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(staff_name)
        .bind(csrf_token)
        .bind(now as i64)
        .bind(now as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
    }

    /// Ends every session of `staff_name`.
    pub async fn end_sessions_of(&mut self, staff_name: &str) -> Result<u64, StoreError> {
        let ended = sqlx::query("DELETE FROM staff_sessions WHERE staff_name = $1")
            .bind(staff_name)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(ended.rows_affected())
    }
}
