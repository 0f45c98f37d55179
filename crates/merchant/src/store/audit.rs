//! The `audit_log` table: every action taken in the console or with `checkout-server staff`,
//! only ever added to. An action's entry is written in the [`Write`] that makes its change, so
//! there is never a change without its entry, nor an entry for a change that was rolled back.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, Write};

/// One action: who, when, what, on what, the state before and after, and the note given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    /// Unix ms.
    pub at: u64,
    /// The member of staff's name, or `command line` for `checkout-server staff`.
    pub actor: String,
    /// The client's address, for what came through the console.
    pub client: Option<String>,
    /// What was done, a dotted name (`staff.add`, `order.note`, `session.sign_in`...).
    pub action: String,
    /// What it was done to (a member of staff's name, an order's id).
    pub subject: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub note: Option<String>,
}

/// An entry as kept, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub entry: AuditEntry,
}

fn record_from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        entry: AuditEntry {
            at: row.try_get::<i64, _>("at")? as u64,
            actor: row.try_get("actor")?,
            client: row.try_get("client")?,
            action: row.try_get("action")?,
            subject: row.try_get("subject")?,
            before: row.try_get("before_state")?,
            after: row.try_get("after_state")?,
            note: row.try_get("note")?,
        },
    })
}

/// A new entry's id: its time first, then a count of this server's own, so ids sort as entries
/// were made (two servers' entries of one millisecond in no particular order), then random, so
/// two servers never make the same.
fn new_id(at: u64) -> String {
    use rand_core::RngCore;
    use std::sync::atomic::{AtomicU64, Ordering};
    static MADE: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 6];
    rand_core::OsRng.fill_bytes(&mut bytes);
    format!(
        "{at:013}-{:012x}-{}",
        MADE.fetch_add(1, Ordering::Relaxed) % (1 << 48),
        usdt_checkout_protocol::hex::encode(&bytes)
    )
}

const INSERT: &str = "INSERT INTO audit_log
     (id, at, actor, client, action, subject, before_state, after_state, note)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

impl Store {
    /// Records an action that changed nothing else (a sign-in, a refused one).
    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let id = new_id(entry.at);
        self.written(bind(sqlx::query(INSERT), &id, entry).execute(&self.pool))
            .await?;
        Ok(())
    }

    /// Entries newest first, after `before` (the `at` and id of the last one seen).
    pub async fn audit_page(
        &self,
        limit: u32,
        before: Option<(u64, &str)>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (at, id) = before.unzip();
        sqlx::query(
            "SELECT * FROM audit_log
             WHERE ($1 IS NULL OR at < $1 OR (at = $1 AND id < $2))
             ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(at.map(|t| t as i64))
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(record_from_row)
        .collect()
    }

    /// The entries about `subject` (an order's, a member of staff's), newest first.
    pub async fn audit_of(
        &self,
        subject: &str,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        sqlx::query("SELECT * FROM audit_log WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT $2")
            .bind(subject)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record_from_row)
            .collect()
    }
}

impl Write {
    /// Records an action, committed with the change it made.
    pub async fn audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        let id = new_id(entry.at);
        bind(sqlx::query(INSERT), &id, entry)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(())
    }
}

fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    id: &'q str,
    entry: &'q AuditEntry,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(id)
        .bind(entry.at as i64)
        .bind(entry.actor.as_str())
        .bind(entry.client.as_deref())
        .bind(entry.action.as_str())
        .bind(entry.subject.as_deref())
        .bind(entry.before.as_deref())
        .bind(entry.after.as_deref())
        .bind(entry.note.as_deref())
}
