//! The gateway's reports as kept: `webhook_events`, each applied once, and `refused_reports`,
//! those that named one of our orders but were about another.

use sqlx::Row;
use sqlx::any::AnyRow;
use usdt_checkout_protocol::TxHash;

use super::{Store, StoreError, Write, gateway_tx};
use crate::clock::now_ms;

impl Store {
    /// Reports refused as about another order (see [`Write::record_refused_report`]), newest
    /// first.
    pub async fn refused_reports(&self, limit: u32) -> Result<Vec<RefusedReport>, StoreError> {
        sqlx::query("SELECT * FROM refused_reports ORDER BY received_at DESC, report_key LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(refused_report)
            .collect()
    }
}

/// A `refused_reports` row, read back.
pub(super) fn refused_report(row: &AnyRow) -> Result<RefusedReport, StoreError> {
    Ok(RefusedReport {
        received_at: row.try_get::<i64, _>("received_at")? as u64,
        source: row.try_get("source")?,
        order_no: row.try_get("order_no")?,
        plat_order_no: row.try_get("plat_order_no")?,
        status: row.try_get("status")?,
        amount: row.try_get("amount")?,
        tx_hash: row
            .try_get::<Option<String>, _>("tx_hash")?
            .and_then(|tx| gateway_tx(&tx)),
        reason: row.try_get("reason")?,
    })
}

impl Write {
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
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
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
        .bind(report.tx_hash.as_ref().map(TxHash::as_str))
        .bind(&report.reason)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
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
    pub tx_hash: Option<TxHash>,
    /// Why it is not about our order.
    pub reason: String,
}
