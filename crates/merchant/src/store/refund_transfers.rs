//! The refunds' outbox (`refund_events`): the `refund.sent` event, queued once a refund's
//! transfer is seen; the outbox module claims and marks it with the orders' events.

use super::{Store, StoreError, Write};

impl Store {
    /// How many `refund.sent` events exist for a refund (at most one, by a UNIQUE column).
    pub async fn refund_events(&self, refund_id: &str) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM refund_events WHERE refund_id = $1")
                .bind(refund_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(count as u32)
    }

    /// The ids of sent refunds with no event yet: a server stopped between recording the
    /// transfer and queueing its event leaves one, and the watcher queues it at its next step.
    pub async fn sent_refunds_unannounced(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT r.id FROM refunds r LEFT JOIN refund_events e ON e.refund_id = r.id
             WHERE r.state = 'sent' AND e.id IS NULL ORDER BY r.sent_at LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Write {
    /// Queues a refund's `refund.sent` event, unless it has one.
    pub async fn queue_refund_event(
        &mut self,
        id: &str,
        refund_id: &str,
        body: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refund_events (id, refund_id, body, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (refund_id) DO NOTHING",
        )
        .bind(id)
        .bind(refund_id)
        .bind(body)
        .bind(now as i64)
        .bind(now as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
    }
}

/// A refund as the exports write it, in its order's row and in its source payment's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedRefund {
    pub checkout_id: Option<String>,
    pub chain_id: u64,
    pub source_tx: String,
    pub source_log_index: u64,
    pub amount_atomic: u128,
    pub state: String,
    pub sent_tx: Option<String>,
}

/// The columns an [`ExportedRefund`] is read from.
const EXPORTED: &str = "SELECT checkout_id, chain_id, source_tx, source_log_index, amount_atomic, \
     state, sent_tx FROM refunds";

type ExportedRow = (
    Option<String>,
    i64,
    String,
    i64,
    String,
    String,
    Option<String>,
);

fn exported(row: ExportedRow) -> Result<ExportedRefund, StoreError> {
    let (checkout_id, chain_id, source_tx, source_log_index, amount, state, sent_tx) = row;
    Ok(ExportedRefund {
        checkout_id,
        chain_id: chain_id as u64,
        source_tx,
        source_log_index: source_log_index as u64,
        amount_atomic: amount
            .parse()
            .map_err(|_| StoreError::Corrupt("refund amount"))?,
        state,
        sent_tx,
    })
}

impl Store {
    /// The refunds of the checkouts `ids` (one page of an export), each checkout's oldest first.
    pub async fn refunds_of_checkouts(
        &self,
        ids: &[String],
    ) -> Result<Vec<ExportedRefund>, StoreError> {
        self.exported_refunds("checkout_id", ids).await
    }

    /// The refunds of the payments made in the transactions `txs` (one page of an export).
    pub async fn refunds_of_sources(
        &self,
        txs: &[String],
    ) -> Result<Vec<ExportedRefund>, StoreError> {
        self.exported_refunds("source_tx", txs).await
    }

    /// The refunds whose `column` is one of `values`, oldest first.
    async fn exported_refunds(
        &self,
        column: &'static str,
        values: &[String],
    ) -> Result<Vec<ExportedRefund>, StoreError> {
        if values.is_empty() {
            return Ok(vec![]);
        }
        let marks: Vec<String> = (1..=values.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "{EXPORTED} WHERE {column} IN ({}) ORDER BY requested_at, id",
            marks.join(", ")
        );
        let mut query = sqlx::query_as::<_, ExportedRow>(&sql);
        for value in values {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(exported)
            .collect()
    }
}
