//! The `payment_links` table: which checkouts are payment links, made how, by whom and until
//! when (see the links module for what they are). A link's row is written with its audit entry,
//! in one transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::checkouts::from_row;
use super::{AuditEntry, Store, StoreError};
use crate::domain::Checkout;
use crate::links::{PaymentLink, Via};

fn link_from_row(row: &AnyRow) -> Result<PaymentLink, StoreError> {
    Ok(PaymentLink {
        checkout_id: row.try_get("link_checkout_id")?,
        via: Via::from_name(row.try_get("link_created_via")?)
            .ok_or(StoreError::Corrupt("payment link"))?,
        staff: row.try_get("link_staff_name")?,
        expires_at: row
            .try_get::<Option<i64>, _>("link_expires_at")?
            .map(|at| at as u64),
        created_at: row.try_get::<i64, _>("link_created_at")? as u64,
    })
}

/// The link's columns, named apart from the checkout's (which has an `expires_at` and a
/// `created_at` of its own).
const LINK_COLUMNS: &str = "l.checkout_id AS link_checkout_id, l.created_via AS link_created_via,
     l.staff_name AS link_staff_name, l.expires_at AS link_expires_at,
     l.created_at AS link_created_at";

impl Store {
    /// Stores `checkout` as the payment link `link`, with `entry` saying who made it: the three
    /// in one transaction, so no checkout is left that no page lists as a link.
    pub async fn insert_link(
        &self,
        checkout: &Checkout,
        link: &PaymentLink,
        entry: &AuditEntry,
    ) -> Result<Checkout, StoreError> {
        let mut write = self.begin().await?;
        write.insert(checkout).await?;
        sqlx::query(
            "INSERT INTO payment_links (checkout_id, created_via, staff_name, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&link.checkout_id)
        .bind(link.via.as_str())
        .bind(link.staff.as_deref())
        .bind(link.expires_at.map(|at| at as i64))
        .bind(link.created_at as i64)
        .execute(&mut *write.tx)
        .await
        .map_err(|e| write.health.failed(e))?;
        write.audit(entry).await?;
        write.commit().await?;
        self.announced(&checkout.id).await
    }

    /// The link of checkout `id`, if it is one.
    pub async fn link(&self, id: &str) -> Result<Option<PaymentLink>, StoreError> {
        sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM payment_links l WHERE l.checkout_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(link_from_row)
        .transpose()
    }

    /// Links with their checkouts (without their chain payments), newest first, after `before`
    /// (the creation time and id of the last one seen).
    pub async fn links(
        &self,
        limit: u32,
        before: Option<(u64, &str)>,
    ) -> Result<Vec<(PaymentLink, Checkout)>, StoreError> {
        let (at, id) = before.unzip();
        sqlx::query(&format!(
            "SELECT c.*, {LINK_COLUMNS} FROM payment_links l
             JOIN checkouts c ON c.id = l.checkout_id
             WHERE ($1 IS NULL OR l.created_at < $1 OR (l.created_at = $1 AND l.checkout_id < $2))
             ORDER BY l.created_at DESC, l.checkout_id DESC LIMIT $3"
        ))
        .bind(at.map(|t| t as i64))
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((link_from_row(row)?, from_row(row)?)))
        .collect()
    }
}
