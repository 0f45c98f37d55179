//! The `checkouts` table: checkouts as created, their orders and what was asked for them, the
//! lease to ask the gateway, the payment facts the rules settle, and the reads that bring them
//! back with their chain payments.

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::{Address, ChainId, TxHash};

use super::chain::{is_claimed, payment_from_row};
use super::{Backend, Store, StoreError, Write, announce, gateway_tx, replicas};
use crate::clock::now_ms;
use crate::domain::{Asked, ChainPayment, Checkout, CreatedBy, GatewayFacts, PaymentTerms, Price};
use crate::matching::AwaitedSince;

impl Store {
    /// Inserts a new checkout; with an idempotency key already used, returns the existing one.
    pub async fn insert(&self, checkout: &Checkout) -> Result<Checkout, StoreError> {
        let result = self
            .written(insert_query(checkout).execute(&self.pool))
            .await?;
        let id = if result.rows_affected() == 1 {
            checkout.id.clone()
        } else {
            let key = checkout.idempotency_key.as_deref().unwrap_or_default();
            sqlx::query_scalar("SELECT id FROM checkouts WHERE idempotency_key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await?
        };
        self.announce(&id).await?;
        self.get(&id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    /// Announces a checkout made in a transaction of its own (see [`Write::insert`]) to the
    /// other servers, and reads it back as stored.
    pub(super) async fn announced(&self, id: &str) -> Result<Checkout, StoreError> {
        self.announce(id).await?;
        self.get(id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        checkout_where(&mut conn, "id", id, "").await
    }

    /// Records the gateway order made for a checkout, unless one already was (a concurrent
    /// request won): either way, returns the checkout as stored. Nothing short is forgiven.
    pub async fn attach_order(
        &self,
        id: &str,
        terms: &PaymentTerms,
    ) -> Result<Checkout, StoreError> {
        self.attach_order_tolerating(id, terms, 0).await
    }

    /// [`Store::attach_order`], forgiving `tolerance_atomic` of the amount (see the tolerance
    /// module), fixed with the terms in the same write.
    pub async fn attach_order_tolerating(
        &self,
        id: &str,
        terms: &PaymentTerms,
        tolerance_atomic: u128,
    ) -> Result<Checkout, StoreError> {
        let now = now_ms() as i64;
        self.written(
            sqlx::query(
                "UPDATE checkouts SET chain_id = $1, symbol = $2, token_contract = $3, decimals = $4,
                     amount_atomic = $5, gateway_order_no = $6, plat_order_no = $7, pay_amount_atomic = $8,
                     to_address = $9, cashier_url = $10, expires_at = $11, required_confirmations = $12,
                     remaining_atomic = $13, state = 'waiting', updated_at = $14, version = version + 1,
                     tolerance_atomic = $16
                 WHERE id = $15 AND gateway_order_no IS NULL",
            )
            .bind(terms.chain_id.0 as i64)
            .bind(&terms.symbol)
            .bind(terms.token_contract.to_string())
            .bind(i64::from(terms.decimals))
            .bind(terms.amount_atomic.to_string())
            .bind(&terms.gateway_order_no)
            .bind(&terms.plat_order_no)
            .bind(terms.pay_amount_atomic.to_string())
            .bind(terms.to_address.to_string())
            .bind(&terms.cashier_url)
            .bind(terms.expires_at as i64)
            .bind(i64::from(terms.required_confirmations))
            .bind(terms.pay_amount_atomic.to_string())
            .bind(now)
            .bind(id)
            .bind(tolerance_atomic.to_string())
            .execute(&self.pool),
        )
        .await?;
        self.announce(id).await?;
        self.get(id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    /// Keeps what is about to be asked of the gateway for a checkout without an order (see
    /// [`Asked`]); `None` forgets it, once the gateway said no order was made. Either way,
    /// returns the checkout as stored.
    pub async fn ask(&self, id: &str, asked: Option<&Asked>) -> Result<Checkout, StoreError> {
        self.written(
            sqlx::query(
                "UPDATE checkouts SET chain_id = $1, symbol = $2, amount_atomic = $3,
                 pay_amount_atomic = $4, updated_at = $5, version = version + 1
             WHERE id = $6 AND gateway_order_no IS NULL",
            )
            .bind(asked.map(|a| a.chain_id.0 as i64))
            .bind(asked.map(|a| a.symbol.clone()))
            .bind(asked.map(|a| a.amount_atomic.to_string()))
            .bind(asked.map(|a| a.pay_amount_atomic.to_string()))
            .bind(now_ms() as i64)
            .bind(id)
            .execute(&self.pool),
        )
        .await?;
        self.announce(id).await?;
        self.get(id).await?.ok_or(StoreError::Corrupt("checkout"))
    }

    /// Takes the lease to ask the gateway for checkout `id`'s order until `until` (Unix ms):
    /// `false` while another request holds an unexpired one. A lease, not a lock: waiting for
    /// it holds no database connection (a dozen creations at once, each holding one while the
    /// gateway answered, left none for their own reads).
    pub async fn lease_asking(&self, id: &str, now: u64, until: u64) -> Result<bool, StoreError> {
        let taken = self
            .written(
                sqlx::query(
                    "UPDATE checkouts SET asking_until = $1
                     WHERE id = $2 AND (asking_until IS NULL OR asking_until <= $3)",
                )
                .bind(until as i64)
                .bind(id)
                .bind(now as i64)
                .execute(&self.pool),
            )
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Gives back the lease [`Store::lease_asking`] took until `until`: only that one (a lease
    /// that ran out may have been taken by another request since).
    pub async fn end_asking(&self, id: &str, until: u64) -> Result<(), StoreError> {
        self.written(
            sqlx::query(
                "UPDATE checkouts SET asking_until = NULL WHERE id = $1 AND asking_until = $2",
            )
            .bind(id)
            .bind(until as i64)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    /// The ids and versions of the checkouts on `chain` and `symbol` whose amounts are awaited
    /// (see [`AwaitedSince`]): unfinished and not past the time a late payment is matched, or
    /// whose order is being asked for there. Years of expired orders are not among them (55,000
    /// read one by one made a restarted server's first checkout take 16 s).
    pub async fn versions_on(
        &self,
        chain: ChainId,
        symbol: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let since = AwaitedSince::at(now_ms());
        Ok(sqlx::query_as(
            "SELECT id, version FROM checkouts WHERE chain_id = $1 AND symbol = $2
               AND state IN ('open', 'waiting', 'partially_paid', 'confirming', 'expired')
               AND (expires_at > $3 OR (expires_at IS NULL AND updated_at > $4))",
        )
        .bind(chain.0 as i64)
        .bind(symbol)
        .bind(since.expiry as i64)
        .bind(since.asked as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Tells the other servers on this database that a checkout changed (see [`replicas`]).
    async fn announce(&self, id: &str) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            announce(&self.pool, replicas::CHECKOUT_CHANGED, id).await?;
        }
        Ok(())
    }

    /// Gateway order numbers of checkouts the gateway may still change, each with whether it
    /// is still open (unfinished and within its time), newest first: unfinished ones, and
    /// expired ones while a late payment still matches them (see [`AwaitedSince`]).
    pub async fn unfinished_orders(&self, limit: u32) -> Result<Vec<(String, bool)>, StoreError> {
        let now = now_ms();
        let late_payments_until = AwaitedSince::at(now).expiry;
        let rows = sqlx::query(
            "SELECT gateway_order_no, state, expires_at FROM checkouts
             WHERE gateway_order_no IS NOT NULL
               AND (state IN ('waiting', 'partially_paid', 'confirming')
                    OR (state = 'expired' AND expires_at > $1))
             ORDER BY created_at DESC LIMIT $2",
        )
        .bind(late_payments_until as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                let expires_at: i64 = row.try_get("expires_at")?;
                let open = state != "expired" && expires_at as u64 > now;
                Ok((row.try_get("gateway_order_no")?, open))
            })
            .collect()
    }

    /// Checkouts, newest first, optionally in one state, after `before`: the creation time and,
    /// optionally, the id of the last one seen (checkouts made in the same millisecond are
    /// ordered by id, so a page never skips one).
    pub async fn list(
        &self,
        state: Option<CheckoutState>,
        limit: u32,
        before: Option<(u64, Option<String>)>,
    ) -> Result<Vec<Checkout>, StoreError> {
        let (before, before_id) = before.unzip();
        sqlx::query(
            "SELECT * FROM checkouts WHERE ($1 IS NULL OR state = $1)
               AND ($2 IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3))
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(state.map(CheckoutState::as_str))
        .bind(before.map(|t| t as i64))
        .bind(before_id.flatten())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// The checkouts status polls and the chain's watchers need, with their chain payments:
    /// those whose payment is under way, and any changed since `since` (Unix ms). History
    /// beyond is read when asked for (see `Checkouts::load`), not held.
    pub async fn current(&self, since: u64) -> Result<Vec<Checkout>, StoreError> {
        const CURRENT: &str =
            "updated_at > $1 OR state IN ('waiting', 'partially_paid', 'confirming')";
        let mut checkouts: Vec<Checkout> =
            sqlx::query(&format!("SELECT * FROM checkouts WHERE {CURRENT}"))
                .bind(since as i64)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<_, _>>()?;
        let mut payments = std::collections::HashMap::<String, Vec<ChainPayment>>::new();
        let rows = sqlx::query(&format!(
            "SELECT * FROM chain_payments WHERE checkout_id IN
                 (SELECT id FROM checkouts WHERE {CURRENT})
             ORDER BY block_number, log_index"
        ))
        .bind(since as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = std::collections::HashSet::<String>::new();
        for row in &rows {
            let id: String = row.try_get("checkout_id")?;
            if is_claimed(row)? {
                claimed.insert(id.clone());
            }
            payments.entry(id).or_default().push(payment_from_row(row)?);
        }
        for checkout in &mut checkouts {
            checkout.chain_payments = payments.remove(&checkout.id).unwrap_or_default();
            checkout.claimed = claimed.contains(&checkout.id);
        }
        Ok(checkouts)
    }
}

impl Write {
    /// Keeps the gateway's own id for checkout `id`'s order, learnt after its creation; an id
    /// already kept is never replaced.
    pub async fn bind_gateway_id(
        &mut self,
        id: &str,
        plat_order_no: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE checkouts SET plat_order_no = $1
             WHERE id = $2 AND (plat_order_no IS NULL OR plat_order_no = '')",
        )
        .bind(plat_order_no)
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
    }

    pub async fn checkout_by_order(
        &mut self,
        order_no: &str,
    ) -> Result<Option<Checkout>, StoreError> {
        let lock = self.lock();
        checkout_where(&mut self.tx, "gateway_order_no", order_no, lock).await
    }

    pub async fn checkout(&mut self, id: &str) -> Result<Option<Checkout>, StoreError> {
        let lock = self.lock();
        checkout_where(&mut self.tx, "id", id, lock).await
    }

    /// The open checkout other than `except` whose order asks exactly `payment`'s amount at its
    /// address and token, on `chain`, if any: the payment is that order's by the matching rules,
    /// never anyone's claim. Orders past their time count for as long as a late payment is
    /// matched to them. Locks what it reads on Postgres, as the watcher's matching does.
    pub async fn order_asking(
        &mut self,
        chain: ChainId,
        payment: &ChainPayment,
        except: &str,
        late_match_ms: u64,
    ) -> Result<Option<String>, StoreError> {
        let lock = self.lock();
        let owner: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM checkouts
             WHERE chain_id = $1 AND to_address = $2 AND token_contract = $3
               AND pay_amount_atomic = $4 AND id <> $5
               AND state IN ('waiting', 'partially_paid', 'confirming', 'expired')
               AND expires_at > $6
             ORDER BY id LIMIT 1{lock}"
        ))
        .bind(chain.0 as i64)
        .bind(payment.to.to_string())
        .bind(payment.token.to_string())
        .bind(payment.value.to_string())
        .bind(except)
        .bind(now_ms().saturating_sub(late_match_ms) as i64)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(owner)
    }

    /// Stores the payment facts of `checkout`, the version before it being what is stored.
    pub async fn update_payment(&mut self, checkout: &Checkout) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE checkouts SET state = $1, paid_atomic = $2, remaining_atomic = $3, overpaid_atomic = $4,
                 confirmations = $5, tx_hashes = $6, gateway_status = $7, gateway_paid_atomic = $8,
                 gateway_tx_hashes = $9, gateway_expired_at = $10, gateway_success_at = $11,
                 disagreement = $12, updated_at = $13, version = $14, gateway_paid_at = $17,
                 shortfall_atomic = $18
             WHERE id = $15 AND version = $16",
        )
        .bind(checkout.state.as_str())
        .bind(checkout.paid_atomic.to_string())
        .bind(checkout.remaining_atomic.map(|r| r.to_string()))
        .bind(checkout.overpaid_atomic.to_string())
        .bind(checkout.confirmations.map(i64::from))
        .bind(serde_json::to_string(&checkout.tx_hashes).expect("strings serialise"))
        .bind(checkout.gateway.status.map(GatewayStatus::as_str))
        .bind(checkout.gateway.paid_atomic.to_string())
        .bind(serde_json::to_string(&checkout.gateway.tx_hashes).expect("strings serialise"))
        .bind(checkout.gateway.expired_at.map(|at| at as i64))
        .bind(checkout.gateway.success_at.map(|at| at as i64))
        .bind(&checkout.disagreement)
        .bind(checkout.updated_at as i64)
        .bind(checkout.version)
        .bind(&checkout.id)
        .bind(checkout.version - 1)
        .bind(checkout.gateway.paid_at.map(|at| at as i64))
        .bind(checkout.shortfall_atomic.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Corrupt("checkout version"));
        }
        self.announce(replicas::CHECKOUT_CHANGED, &checkout.id)
            .await
    }

    /// Stores what the gateway said of a checkout when it changes nothing else (no new version).
    pub async fn update_gateway_facts(&mut self, checkout: &Checkout) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE checkouts SET gateway_status = $1, gateway_paid_atomic = $2, gateway_tx_hashes = $3,
                 gateway_expired_at = $4, gateway_success_at = $5, gateway_paid_at = $8
             WHERE id = $6 AND version = $7",
        )
        .bind(checkout.gateway.status.map(GatewayStatus::as_str))
        .bind(checkout.gateway.paid_atomic.to_string())
        .bind(serde_json::to_string(&checkout.gateway.tx_hashes).expect("strings serialise"))
        .bind(checkout.gateway.expired_at.map(|at| at as i64))
        .bind(checkout.gateway.success_at.map(|at| at as i64))
        .bind(&checkout.id)
        .bind(checkout.version)
        .bind(checkout.gateway.paid_at.map(|at| at as i64))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(())
    }
}

/// The checkout whose `column` is `value`, with its chain payments; `lock` ends the statement
/// (`" FOR UPDATE"` to hold the row until the transaction ends).
async fn checkout_where(
    conn: &mut AnyConnection,
    column: &'static str,
    value: &str,
    lock: &str,
) -> Result<Option<Checkout>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT * FROM checkouts WHERE {column} = $1{lock}"
    ))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut checkout) = row.as_ref().map(from_row).transpose()? else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT * FROM chain_payments WHERE checkout_id = $1 ORDER BY block_number, log_index",
    )
    .bind(&checkout.id)
    .fetch_all(&mut *conn)
    .await?;
    checkout.chain_payments = rows
        .iter()
        .map(payment_from_row)
        .collect::<Result<_, _>>()?;
    for row in &rows {
        checkout.claimed |= is_claimed(row)?;
    }
    Ok(Some(checkout))
}

pub(super) fn from_row(row: &AnyRow) -> Result<Checkout, StoreError> {
    let units = |column: &str| -> Result<Option<u128>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| text.parse().map_err(|_| StoreError::Corrupt("amount")))
            .transpose()
    };
    let address = |column: &str| -> Result<Option<Address>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| Address::from_str(&text).map_err(|_| StoreError::Corrupt("address")))
            .transpose()
    };
    let state: String = row.try_get("state")?;
    let state = CheckoutState::from_name(&state).ok_or(StoreError::Corrupt("state"))?;
    let gateway_order_no: Option<String> = row.try_get("gateway_order_no")?;
    let chain_id: Option<i64> = row.try_get("chain_id")?;
    // Before its order, a checkout's chain and amounts are what it asked for.
    let asked = match (&gateway_order_no, chain_id) {
        (None, Some(chain_id)) => Some(Asked {
            chain_id: ChainId(chain_id as u64),
            symbol: row.try_get("symbol")?,
            amount_atomic: units("amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
            pay_amount_atomic: units("pay_amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
        }),
        _ => None,
    };
    let terms = match gateway_order_no {
        None => None,
        Some(gateway_order_no) => Some(PaymentTerms {
            chain_id: ChainId(row.try_get::<i64, _>("chain_id")? as u64),
            symbol: row.try_get("symbol")?,
            token_contract: address("token_contract")?.ok_or(StoreError::Corrupt("token"))?,
            decimals: row.try_get::<i64, _>("decimals")? as u8,
            amount_atomic: units("amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
            gateway_order_no,
            plat_order_no: row.try_get("plat_order_no")?,
            pay_amount_atomic: units("pay_amount_atomic")?.ok_or(StoreError::Corrupt("amount"))?,
            to_address: address("to_address")?.ok_or(StoreError::Corrupt("address"))?,
            cashier_url: row.try_get("cashier_url")?,
            expires_at: row.try_get::<i64, _>("expires_at")? as u64,
            required_confirmations: row.try_get::<i64, _>("required_confirmations")? as u32,
        }),
    };
    let tx_hashes: String = row.try_get("tx_hashes")?;
    Ok(Checkout {
        id: row.try_get("id")?,
        created_by: CreatedBy::from_name(row.try_get("created_by")?)
            .ok_or(StoreError::Corrupt("creator"))?,
        idempotency_key: row.try_get("idempotency_key")?,
        item_id: row.try_get("item_id")?,
        description: row.try_get("description")?,
        price: Price {
            amount: row
                .try_get::<String, _>("price_amount")?
                .parse()
                .map_err(|_| StoreError::Corrupt("price"))?,
            currency: row.try_get("price_currency")?,
        },
        reference: row.try_get("reference")?,
        asked,
        terms,
        state,
        paid_atomic: units("paid_atomic")?.unwrap_or(0),
        remaining_atomic: units("remaining_atomic")?,
        overpaid_atomic: units("overpaid_atomic")?.unwrap_or(0),
        tolerance_atomic: units("tolerance_atomic")?.unwrap_or(0),
        shortfall_atomic: units("shortfall_atomic")?.unwrap_or(0),
        confirmations: row
            .try_get::<Option<i64>, _>("confirmations")?
            .map(|c| c as u32),
        tx_hashes: transactions(&tx_hashes)?,
        gateway: GatewayFacts {
            status: row
                .try_get::<Option<String>, _>("gateway_status")?
                .map(|name| GatewayStatus::parse(&name).ok_or(StoreError::Corrupt("status")))
                .transpose()?,
            paid_atomic: units("gateway_paid_atomic")?.unwrap_or(0),
            tx_hashes: transactions(&row.try_get::<String, _>("gateway_tx_hashes")?)?,
            expired_at: row
                .try_get::<Option<i64>, _>("gateway_expired_at")?
                .map(|at| at as u64),
            paid_at: row
                .try_get::<Option<i64>, _>("gateway_paid_at")?
                .map(|at| at as u64),
            success_at: row
                .try_get::<Option<i64>, _>("gateway_success_at")?
                .map(|at| at as u64),
        },
        chain_payments: vec![],
        claimed: false,
        disagreement: row.try_get("disagreement")?,
        created_at: row.try_get::<i64, _>("created_at")? as u64,
        updated_at: row.try_get::<i64, _>("updated_at")? as u64,
        version: row.try_get("version")?,
    })
}

/// A checkout's transactions as kept, a JSON list; those the gateway named may predate parsing
/// (see [`gateway_tx`]).
fn transactions(json: &str) -> Result<Vec<TxHash>, StoreError> {
    let kept: Vec<String> =
        serde_json::from_str(json).map_err(|_| StoreError::Corrupt("transactions"))?;
    Ok(kept.iter().filter_map(|tx| gateway_tx(tx)).collect())
}

/// The statement that stores a new checkout, once whatever its idempotency key.
fn insert_query(
    checkout: &Checkout,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(
                "INSERT INTO checkouts (id, created_by, idempotency_key, item_id, description, price_amount,
                     price_currency, reference, state, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(&checkout.id)
            .bind(checkout.created_by.as_str())
            .bind(&checkout.idempotency_key)
            .bind(&checkout.item_id)
            .bind(&checkout.description)
            .bind(checkout.price.amount.as_str())
            .bind(&checkout.price.currency)
            .bind(&checkout.reference)
            .bind(checkout.state.as_str())
            .bind(checkout.created_at as i64)
            .bind(checkout.updated_at as i64)
}

impl Write {
    /// Stores a new checkout within this transaction; [`Store::announced`] tells the other
    /// servers once it is committed.
    pub async fn insert(&mut self, checkout: &Checkout) -> Result<(), StoreError> {
        insert_query(checkout)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(())
    }
}
