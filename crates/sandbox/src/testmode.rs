//! Test mode (`--test-mode`), under `/sandbox`: make things happen on demand, for demos and
//! integration tests, and look at what BlockATM's API does not show (an order in detail,
//! unmatched payments, webhook deliveries, the gateway's webhook key). Payments are real
//! transactions on the chain, from anvil's unlocked accounts, read back by the follower like any
//! other; nothing here writes a payment directly. Answers are in the envelope, whatever the
//! dialect.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::{Address, OrderStatus, format_units, parse_positive_units};

use crate::app::App;
use crate::clock::now_ms;
use crate::config::{RateFile, check_rates};
use crate::error::{ApiError, ApiResult, ok};
use crate::faults::Faults;
use crate::follow;
use crate::ledger::{DeliveryAttempt, Ledger, Order};
use crate::query;
use crate::view::{self, OrderView, PaymentView};

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/sandbox/orders/{plat_order_no}", get(order))
        .route("/sandbox/orders/{plat_order_no}/pay", post(pay))
        .route("/sandbox/orders/{plat_order_no}/expire", post(expire))
        .route("/sandbox/orders/{plat_order_no}/cancel", post(cancel))
        .route("/sandbox/mine", post(mine))
        .route("/sandbox/reorg", post(reorg))
        .route("/sandbox/faults", get(faults).post(set_faults))
        .route("/sandbox/rates", post(set_rates))
        .route("/sandbox/accounts", get(accounts))
        .route("/sandbox/unmatched", get(unmatched))
        .route("/sandbox/webhooks", get(webhooks))
        .route("/sandbox/webhookKey", get(webhook_key))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct PayRequest {
    /// Decimal amount; by default what remains to pay.
    amount: Option<String>,
    /// `transfer` (as from a QR code; the default) or `deposit` (approve + deposit(orderNo)).
    method: Option<String>,
    /// Which of anvil's accounts pays (1 to 9; 0 deploys and mints). Default 1.
    payer: Option<usize>,
    /// Sends on this watched chain instead of the order's, as a shopper on the wrong network
    /// does: to the same address, in that chain's token of the same symbol, the same amount.
    chain_id: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Paid {
    tx_id: String,
    payer: Address,
    amount: String,
    /// The chain it was sent on.
    chain_id: usdt_checkout_protocol::ChainId,
}

async fn pay(
    State(app): State<Arc<App>>,
    Path(plat_order_no): Path<String>,
    body: Option<Json<PayRequest>>,
) -> ApiResult<Paid> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let order = find(&app, &plat_order_no)?;
    let watched = app
        .chain_or_first(Some(request.chain_id.unwrap_or(order.chain_id.0)))
        .map_err(ApiError::invalid)?;
    let token = app
        .config
        .registry
        .chain(watched.id)
        .ok()
        .and_then(|c| c.token(&order.symbol))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "chain {} has no {} to send",
                watched.id, order.symbol
            ))
        })?
        .clone();
    let text = match &request.amount {
        Some(text) => text.clone(),
        None => format_units(
            match order.remaining() {
                0 => order.amount,
                remaining => remaining,
            },
            order.decimals,
        ),
    };
    let amount = parse_positive_units(&text, token.decimals)
        .map_err(|e| ApiError::invalid(format!("amount: {e}")))?;
    let (chain, decimals, token) = (&watched.client, token.decimals, token.contract);
    let accounts = chain.accounts().await.map_err(ApiError::chain)?;
    let index = request.payer.unwrap_or(1);
    if index == 0 || index >= accounts.len() {
        return Err(ApiError::invalid(format!(
            "payer must be from 1 to {}",
            accounts.len().saturating_sub(1)
        )));
    }
    let (minter, payer) = (accounts[0], accounts[index]);
    let _one_at_a_time = app.sending.lock().await;
    let balance = chain
        .token_balance(token, payer)
        .await
        .map_err(ApiError::chain)?;
    if balance < amount {
        chain
            .mint(token, minter, payer, amount - balance)
            .await
            .map_err(ApiError::chain)?;
    }
    let tx_id = match request.method.as_deref().unwrap_or("transfer") {
        "transfer" => chain.transfer(token, payer, order.to_address, amount).await,
        "deposit" => {
            chain
                .deposit(token, order.to_address, payer, amount, &order.order_no)
                .await
        }
        other => {
            return Err(ApiError::invalid(format!(
                "method {other:?} is not transfer or deposit"
            )));
        }
    }
    .map_err(ApiError::chain)?;
    app.chain_changed.notify_one();
    ok(Paid {
        tx_id,
        payer,
        amount: format_units(amount, decimals),
        chain_id: watched.id,
    })
}

/// Where the order is in the ledger, by the gateway's order number or the merchant's.
fn position(ledger: &Ledger, id: &str) -> Result<usize, ApiError> {
    ledger
        .orders
        .iter()
        .position(|o| o.plat_order_no == id || o.order_no == id)
        .ok_or_else(|| ApiError::not_found(format!("order {id} not found")))
}

fn find(app: &App, id: &str) -> Result<Order, ApiError> {
    app.store
        .read(|l| position(l, id).map(|index| l.orders[index].clone()))
}

/// The order in detail.
async fn order(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<OrderView> {
    let order = find(&app, &id)?;
    ok(app.view(&order))
}

/// Ends the order's time now (on a whole second, as block times are).
async fn expire(
    State(app): State<Arc<App>>,
    Path(plat_order_no): Path<String>,
) -> ApiResult<OrderView> {
    change(&app, &plat_order_no, |order, now| {
        order.expire_time = order.expire_time.min(now / 1000 * 1000);
        None
    })
    .await
}

/// The gateway cancels the order: failed.
async fn cancel(
    State(app): State<Arc<App>>,
    Path(plat_order_no): Path<String>,
) -> ApiResult<OrderView> {
    change(&app, &plat_order_no, |_, _| Some(OrderStatus::Failed)).await
}

async fn change(
    app: &Arc<App>,
    plat_order_no: &str,
    edit: impl FnOnce(&mut Order, u64) -> Option<OrderStatus>,
) -> ApiResult<OrderView> {
    let index = app.store.read(|l| position(l, plat_order_no))?;
    let now = now_ms();
    let order = app
        .store
        .write(|ledger| {
            if let Some(state) = edit(&mut ledger.orders[index], now) {
                follow::set_state(ledger, index, state, now)?;
            }
            follow::refresh(app, ledger, now);
            Ok::<_, String>(ledger.orders[index].clone())
        })
        .map_err(ApiError::internal)?
        .map_err(ApiError::invalid)?;
    app.webhooks_due.notify_one();
    ok(app.view(&order))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Blocks {
    blocks: Option<u64>,
    depth: Option<u64>,
    /// Which watched chain; the first by default.
    chain_id: Option<u64>,
}

async fn mine(State(app): State<Arc<App>>, Json(body): Json<Blocks>) -> ApiResult<u64> {
    let blocks = body.blocks.unwrap_or(1).clamp(1, 1_000);
    let chain = app
        .chain_or_first(body.chain_id)
        .map_err(ApiError::invalid)?;
    chain.client.mine(blocks).await.map_err(ApiError::chain)?;
    app.chain_changed.notify_one();
    ok(blocks)
}

async fn reorg(State(app): State<Arc<App>>, Json(body): Json<Blocks>) -> ApiResult<u64> {
    let depth = body.depth.unwrap_or(1).clamp(1, 64);
    let chain = app
        .chain_or_first(body.chain_id)
        .map_err(ApiError::invalid)?;
    chain.client.reorg(depth).await.map_err(ApiError::chain)?;
    app.chain_changed.notify_one();
    ok(depth)
}

async fn faults(State(app): State<Arc<App>>) -> ApiResult<Faults> {
    let current = app.faults.lock().expect("faults lock").faults.clone();
    ok(current)
}

async fn set_faults(State(app): State<Arc<App>>, Json(faults): Json<Faults>) -> ApiResult<Faults> {
    app.faults
        .lock()
        .expect("faults lock")
        .set(faults.clone())
        .map_err(ApiError::invalid)?;
    ok(faults)
}

/// Moves the rates the public rate list answers (all of them, replaced), as a market does.
async fn set_rates(
    State(app): State<Arc<App>>,
    Json(rates): Json<Vec<RateFile>>,
) -> ApiResult<usize> {
    check_rates(&rates).map_err(ApiError::invalid)?;
    let count = rates.len();
    *app.rates.lock().expect("rates lock") = rates;
    ok(count)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accounts {
    /// anvil's funded, unlocked accounts; the first deploys and mints.
    accounts: Vec<Address>,
    tokens: Vec<Address>,
    receivers: Vec<Address>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct ChainParam {
    /// Which watched chain; the first by default.
    chain_id: Option<u64>,
}

async fn accounts(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> ApiResult<Accounts> {
    let params: ChainParam = query::parse(&query.unwrap_or_default())?;
    let chain = app
        .chain_or_first(params.chain_id)
        .map_err(ApiError::invalid)?;
    let accounts = chain.client.accounts().await.map_err(ApiError::chain)?;
    ok(Accounts {
        accounts,
        tokens: app.tokens(chain.id),
        receivers: app.receivers(chain.id),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListParams {
    /// Only this merchant's (by API key).
    api_key: Option<String>,
    /// Only this order's (by the merchant's order number).
    order_no: Option<String>,
}

/// An unmatched payment and the chain it was read on.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnmatchedView {
    chain_id: usdt_checkout_protocol::ChainId,
    #[serde(flatten)]
    payment: PaymentView,
}

/// A payment into a receiving contract that no order claimed. On the real service such a
/// payment is a "lost order", settled by hand.
async fn unmatched(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Vec<UnmatchedView>> {
    let params: ListParams = query::parse(&query.unwrap_or_default())?;
    let merchant = match &params.api_key {
        Some(key) => Some(
            app.merchant(key)
                .ok_or_else(|| ApiError::not_found(format!("no merchant has API key {key}")))?,
        ),
        None => None,
    };
    let payments = app.store.read(|ledger| {
        ledger
            .unmatched
            .iter()
            .filter(|u| merchant.is_none_or(|m| m.receiver(u.chain_id) == Some(u.payment.to)))
            .map(|u| UnmatchedView {
                chain_id: u.chain_id,
                payment: view::payment(
                    &u.payment,
                    app.head(u.chain_id),
                    app.decimals(u.chain_id, u.payment.token),
                    false,
                ),
            })
            .collect()
    });
    ok(payments)
}

/// A webhook the gateway queued: what it said, and every attempt to deliver it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    /// The sandbox's own id of the delivery; not in the body.
    id: String,
    api_key: String,
    order_no: String,
    state: OrderStatus,
    event: String,
    body: String,
    created: u64,
    delivered_at: Option<u64>,
    next_attempt_at: Option<u64>,
    attempts: Vec<DeliveryAttempt>,
}

async fn webhooks(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Vec<Delivery>> {
    let params: ListParams = query::parse(&query.unwrap_or_default())?;
    let list = app.store.read(|ledger| {
        ledger
            .events
            .iter()
            .filter(|e| params.api_key.as_ref().is_none_or(|k| *k == e.merchant))
            .filter(|e| params.order_no.as_ref().is_none_or(|n| *n == e.order_no))
            .map(|e| Delivery {
                id: e.id.clone(),
                api_key: e.merchant.clone(),
                order_no: e.order_no.clone(),
                state: e.state,
                event: e.event.clone(),
                body: e.body.clone(),
                created: e.created,
                delivered_at: e.delivered_at,
                next_attempt_at: e.next_attempt_at,
                attempts: e.attempts.clone(),
            })
            .collect()
    });
    ok(list)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookKey {
    /// The gateway's V1 public key (base64 SPKI) that verifies V1 webhooks.
    public_key: String,
}

/// The key the console would show; also on the ready line as `gatewayPublicKey`.
async fn webhook_key(State(app): State<Arc<App>>) -> ApiResult<WebhookKey> {
    ok(WebhookKey {
        public_key: app.gateway_key.public_key().to_base64_spki(),
    })
}
