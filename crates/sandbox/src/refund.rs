//! Test mode's refund payment, the sandbox's own (BlockATM makes no refunds): the merchant's
//! test account, anvil's account 0 (which deploys the token and owns the receiving contracts),
//! sends a plain ERC-20 transfer of a token to an address, as the merchant's own wallet pays an
//! approved refund. The checkout server's chain watcher then recognises it like any other
//! transfer, so a demo shows a refund from request to receipt. It is minted what it lacks: the
//! receiving contracts hold the shoppers' money, which the sandbox does not move.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::{Address, ChainId, format_units, parse_positive_units};

use crate::app::App;
use crate::error::{ApiError, ApiResult, ok};

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/sandbox/refund", post(refund))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefundRequest {
    /// Who receives it.
    to: Address,
    /// Decimal amount, in the token's units.
    amount: String,
    /// The token's symbol on that chain; `USDT` by default.
    symbol: Option<String>,
    /// Which watched chain; the first by default.
    chain_id: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Refunded {
    tx_id: String,
    from: Address,
    to: Address,
    amount: String,
    token: Address,
    chain_id: ChainId,
}

async fn refund(
    State(app): State<Arc<App>>,
    Json(request): Json<RefundRequest>,
) -> ApiResult<Refunded> {
    let watched = app
        .chain_or_first(request.chain_id)
        .map_err(ApiError::invalid)?;
    let symbol = request.symbol.as_deref().unwrap_or("USDT");
    let token = app
        .config
        .registry
        .chain(watched.id)
        .ok()
        .and_then(|c| c.token(symbol))
        .ok_or_else(|| ApiError::invalid(format!("chain {} has no {symbol}", watched.id)))?
        .clone();
    let amount = parse_positive_units(&request.amount, token.decimals)
        .map_err(|e| ApiError::invalid(format!("amount: {e}")))?;
    let chain = &watched.client;
    let accounts = chain.accounts().await.map_err(ApiError::chain)?;
    let merchant = *accounts
        .first()
        .ok_or_else(|| ApiError::invalid("the chain has no unlocked account"))?;
    let _one_at_a_time = app.sending.lock().await;
    let balance = chain
        .token_balance(token.contract, merchant)
        .await
        .map_err(ApiError::chain)?;
    if balance < amount {
        chain
            .mint(token.contract, merchant, merchant, amount - balance)
            .await
            .map_err(ApiError::chain)?;
    }
    let tx_id = chain
        .transfer(token.contract, merchant, request.to, amount)
        .await
        .map_err(ApiError::chain)?;
    app.chain_changed.notify_one();
    ok(Refunded {
        tx_id,
        from: merchant,
        to: request.to,
        amount: format_units(amount, token.decimals),
        token: token.contract,
        chain_id: watched.id,
    })
}
