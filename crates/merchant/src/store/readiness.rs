//! Whether this server can take writes now, as `/readyz` asks: its schema is migrated and a
//! write commits. Asked by writing, not by reading: a database that answers `SELECT 1` may still
//! refuse writes (a full disk, a read-only file or a PostgreSQL standby).

use super::{MIGRATIONS, Store, StoreError};

/// Why this server cannot take writes.
#[derive(Debug, thiserror::Error)]
pub enum NotWritable {
    /// The database's schema is older than this server's: a migration this server knows is not
    /// applied (the database was swapped, or restored from an older backup, under it).
    #[error("the database is migrated to version {applied}, this server needs {needed}")]
    Behind { applied: i64, needed: i64 },
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Store {
    /// Writes once, harmlessly (the latest migration's row, unchanged), in a transaction of its
    /// own taken as any writer takes one (SQLite's queue, PostgreSQL's locks), so the answer is
    /// what a shopper's write would meet. A schema newer than this server's is fine: during a
    /// rolling upgrade the new servers migrate first, and the old ones still serve.
    pub async fn writable(&self) -> Result<(), NotWritable> {
        let needed = MIGRATIONS.last().map_or(0, |(version, _)| *version);
        let mut write = self.begin().await?;
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *write.tx)
            .await
            .map_err(|e| write.health.failed(e))?;
        let applied = applied.unwrap_or(0);
        if applied < needed {
            return Err(NotWritable::Behind { applied, needed });
        }
        sqlx::query("UPDATE schema_migrations SET applied_at = applied_at WHERE version = $1")
            .bind(applied)
            .execute(&mut *write.tx)
            .await
            .map_err(|e| write.health.failed(e))?;
        write.commit().await?;
        Ok(())
    }
}
