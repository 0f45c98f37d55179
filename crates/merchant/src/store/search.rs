//! Finding orders for the console: [`Store::list`]'s filter and pages, narrowed to those a
//! search matches by id, reference, transaction hash, payer or amount; and how many payments
//! match no order, for its navigation.

use usdt_checkout_protocol::checkout::CheckoutState;

use super::checkouts::from_row;
use super::{Store, StoreError};
use crate::domain::Checkout;

/// What a search looks for; an order matching any one of them is found. What the console's
/// search box reads its text as (see the console's orders page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderSearch {
    /// An order's id, gateway order number (ours or the gateway's own) or the storefront's
    /// reference, exactly.
    pub text: String,
    /// A transaction paying it (`0x` and 64 lower-case hex digits), as the gateway named it or
    /// the chain showed it.
    pub tx_hash: Option<String>,
    /// An address that paid it, checksummed as kept.
    pub payer: Option<String>,
    /// Its price, as a decimal without trailing fraction zeros (`25.5` finds `25.50`).
    pub price: Option<String>,
    /// The token amount asked or paid, in atomic units, for each number of decimals a token has.
    pub token_amounts: Vec<(u8, String)>,
}

/// A price column with its trailing fraction zeros (and a point left bare) cut, in the SQL both
/// databases speak.
const PRICE_NORMALISED: &str = "(CASE WHEN price_amount LIKE '%.%' THEN rtrim(rtrim(price_amount, '0'), '.') ELSE price_amount END)";

impl Store {
    /// How many payments the chain showed match no checkout.
    pub async fn unmatched_count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM chain_payments WHERE checkout_id IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(count.max(0) as u64)
    }

    /// Checkouts matching `search`, newest first, optionally in one state, after `before`: as
    /// [`Store::list`] pages them.
    pub async fn search(
        &self,
        state: Option<CheckoutState>,
        search: &OrderSearch,
        limit: u32,
        before: Option<(u64, Option<String>)>,
    ) -> Result<Vec<Checkout>, StoreError> {
        let (before, before_id) = before.unzip();
        // Every placeholder is used whatever the search holds (Postgres refuses a value bound to
        // none): a part the search does not have is switched off by its NULL.
        let mut matches = vec![
            "id = $4 OR gateway_order_no = $4 OR plat_order_no = $4 OR reference = $4".to_owned(),
            "$5 IS NOT NULL AND (tx_hashes LIKE '%\"' || $5 || '\"%'
                 OR gateway_tx_hashes LIKE '%\"' || $5 || '\"%'
                 OR id IN (SELECT checkout_id FROM chain_payments WHERE tx_hash = $5))"
                .to_owned(),
            "$6 IS NOT NULL AND id IN (SELECT checkout_id FROM chain_payments WHERE from_address = $6)"
                .to_owned(),
            format!("$7 IS NOT NULL AND {PRICE_NORMALISED} = $7"),
        ];
        for i in 0..search.token_amounts.len() {
            let (decimals, atomic) = (8 + 2 * i, 9 + 2 * i);
            matches.push(format!(
                "decimals = ${decimals} AND (pay_amount_atomic = ${atomic}
                 OR amount_atomic = ${atomic} OR paid_atomic = ${atomic})"
            ));
        }
        let sql = format!(
            "SELECT * FROM checkouts WHERE ($1 IS NULL OR state = $1)
               AND ($2 IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3))
               AND (({}))
             ORDER BY created_at DESC, id DESC LIMIT ${}",
            matches.join(") OR ("),
            8 + 2 * search.token_amounts.len()
        );
        let mut query = sqlx::query(&sql)
            .bind(state.map(CheckoutState::as_str))
            .bind(before.map(|t| t as i64))
            .bind(before_id.flatten())
            .bind(search.text.as_str())
            .bind(search.tx_hash.as_deref())
            .bind(search.payer.as_deref())
            .bind(search.price.as_deref());
        for (decimals, atomic) in &search.token_amounts {
            query = query.bind(i64::from(*decimals)).bind(atomic.as_str());
        }
        query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }
}
