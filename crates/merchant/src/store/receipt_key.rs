//! The `receipt_keys` table: the one key receipts are signed with.

use usdt_checkout_protocol::signature::V1PrivateKey;

use super::{Store, StoreError};
use crate::clock::now_ms;

impl Store {
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
}
