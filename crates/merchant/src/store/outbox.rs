//! The fulfillment outboxes: events queued with the change that caused them, then claimed, sent
//! and marked, one server at a time each. An order's events wait in `fulfillment_events` (one an
//! order), a refund's `refund.sent` in `refund_events` (one a refund); both are claimed and
//! marked here, by the same statements.

use super::{Store, StoreError, Write};

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

/// Which outbox an event waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// An order's events (`fulfillment_events`), each attempt kept (`fulfillment_attempts`).
    Orders,
    /// A refund's `refund.sent` (`refund_events`).
    Refunds,
}

impl Outbox {
    pub const ALL: [Self; 2] = [Self::Orders, Self::Refunds];

    fn table(self) -> &'static str {
        match self {
            Self::Orders => "fulfillment_events",
            Self::Refunds => "refund_events",
        }
    }
}

/// An event that is due, with the attempts made so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEvent {
    pub outbox: Outbox,
    pub id: String,
    pub body: String,
    pub attempts: u32,
}

impl Store {
    /// Events of every outbox not yet delivered whose next attempt is due, oldest first (up to
    /// `limit` of each), each claimed for this server until `claimed_until`: another server
    /// sharing the database skips them meanwhile, so each event is sent by one server at a time.
    /// One that dies while sending leaves the event due again at `claimed_until`.
    pub async fn claim_due_events(
        &self,
        now: u64,
        claimed_until: u64,
        limit: u32,
    ) -> Result<Vec<DueEvent>, StoreError> {
        let mut claimed = Vec::new();
        for outbox in Outbox::ALL {
            let table = outbox.table();
            let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
                "SELECT id, body, attempts FROM {table}
                 WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY created_at LIMIT $2"
            ))
            .bind(now as i64)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            for (id, body, attempts) in rows {
                // Claimed by whichever server moves the attempt first: an update, not a lock, so
                // it reads the same on SQLite and Postgres.
                let claim = format!(
                    "UPDATE {table} SET next_attempt_at = $1
                     WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at <= $3"
                );
                let taken = self
                    .written(
                        sqlx::query(&claim)
                            .bind(claimed_until as i64)
                            .bind(&id)
                            .bind(now as i64)
                            .execute(&self.pool),
                    )
                    .await?;
                if taken.rows_affected() == 1 {
                    claimed.push(DueEvent {
                        outbox,
                        id,
                        body,
                        attempts: attempts as u32,
                    });
                }
            }
        }
        Ok(claimed)
    }

    /// Records an attempt to deliver an event: delivered at `now`, or failed with `error` and
    /// due again at `retry_at` (see [`Store::mark_answered`], which keeps the HTTP status too).
    pub async fn mark_attempt(
        &self,
        id: &str,
        attempts: u32,
        now: u64,
        outcome: Result<(), (String, u64)>,
    ) -> Result<(), StoreError> {
        self.mark_answered(Outbox::Orders, id, attempts, now, None, outcome)
            .await
    }

    /// Records an attempt to deliver an event of `outbox`, as [`Store::mark_attempt`], with the
    /// receiver's HTTP status when it answered: the event's latest state and, for an order's,
    /// the attempt itself beside every earlier one (`fulfillment_attempts`), in one transaction.
    pub async fn mark_answered(
        &self,
        outbox: Outbox,
        id: &str,
        attempts: u32,
        now: u64,
        status: Option<u16>,
        outcome: Result<(), (String, u64)>,
    ) -> Result<(), StoreError> {
        let (delivered_at, retry_at, error) = match outcome {
            Ok(()) => (Some(now as i64), None, None),
            Err((error, retry_at)) => (None, Some(retry_at as i64), Some(error)),
        };
        let mut write = self.begin().await?;
        sqlx::query(&format!(
            "UPDATE {} SET attempts = $1, delivered_at = $2, next_attempt_at = $3, last_error = $4
             WHERE id = $5",
            outbox.table()
        ))
        .bind(i64::from(attempts))
        .bind(delivered_at)
        .bind(retry_at)
        .bind(error.as_deref())
        .bind(id)
        .execute(&mut *write.tx)
        .await
        .map_err(|e| write.health.failed(e))?;
        if outbox == Outbox::Orders {
            // Two attempts of one event in one millisecond (a resend racing a retry) are one row.
            sqlx::query(
                "INSERT INTO fulfillment_attempts (event_id, attempt, at, status_code, error)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(i64::from(attempts))
            .bind(now as i64)
            .bind(status.map(i64::from))
            .bind(error.as_deref())
            .execute(&mut *write.tx)
            .await
            .map_err(|e| write.health.failed(e))?;
        }
        write.commit().await
    }

    /// The events of every outbox not yet delivered: how many, and when the oldest was queued
    /// (Unix ms), for `/metrics`.
    pub async fn outbox_backlog(&self) -> Result<(u64, Option<u64>), StoreError> {
        let (mut depth, mut oldest) = (0, None::<u64>);
        for outbox in Outbox::ALL {
            let (count, first): (i64, Option<i64>) = sqlx::query_as(&format!(
                "SELECT COUNT(*), MIN(created_at) FROM {} WHERE delivered_at IS NULL",
                outbox.table()
            ))
            .fetch_one(&self.pool)
            .await?;
            depth += count as u64;
            if let Some(first) = first {
                oldest = Some(oldest.map_or(first as u64, |o| o.min(first as u64)));
            }
        }
        Ok((depth, oldest))
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

impl Write {
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
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
    }
}
