//! The gateway's HTTP API in the dialect the sandbox speaks (one per process): public (no auth,
//! CORS open) and server-to-server (API key, signature, freshness, rate limit). Bodies are the
//! protocol crate's wire types of that dialect (`usdt_checkout_protocol::gateway::{v1, v2}`)
//! and nothing more; [`crate::dialect`] says how an order fills them.
//!
//! | | V1 (bare answers; with `--v1-envelope`, in the envelope) | V2 (in the envelope) |
//! | --- | --- | --- |
//! | networks | `GET /api/v1/public/networklist` | `GET /admin/api/v2/pub/allNetworks` |
//! | tokens | `GET /api/v1/public/cryptocurrencies` | `GET /admin/api/v2/pub/symbolList` |
//! | create (signed) | `POST /api/v1/payment/createQrOrder` | `POST /order/api/v2/pay/order` |
//! | one order | `GET .../qrCodePayment` or `.../contractPayment` `?orderNo=` | `GET /order/api/v2/payorder/detail?orderNo=` |
//! | orders | the same without `orderNo` (a list) | `GET /order/api/v2/payorder/list` |
//!
//! and, in both, the sandbox's own `GET /api/v1/public/rates`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};
use usdt_checkout_protocol::gateway::{
    Cryptocurrency, DecimalText, ExchangeRate, IdText, Listed, Network, PATH_RATES, v1, v2,
};
use usdt_checkout_protocol::signature::Signed;
use usdt_checkout_protocol::{ChainId, parse_positive_units};

use crate::app::App;
use crate::auth::authenticate;
use crate::clock::now_ms;
use crate::config::{Api, Merchant};
use crate::dialect::{v1_payment, v2_detail};
use crate::error::{AnswerResult, ApiError, answer};
use crate::faults::Injected;
use crate::ledger::{NewOrder, Order};
use crate::query::{self, OrderQuery};
use crate::view::cashier_url;

/// The gateway API of the configured dialect, behind test mode's fault injection.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let (networks_path, tokens_path) = match app.config.api {
        Api::V1 => (v1::PATH_NETWORKS, v1::PATH_TOKENS),
        Api::V2 => (v2::PATH_NETWORKS, v2::PATH_TOKENS),
    };
    let public = Router::new()
        .route(networks_path, get(networks))
        .route(tokens_path, get(tokens))
        .route(PATH_RATES, get(rates))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET])
                .allow_headers(Any),
        );
    let merchant_api = match app.config.api {
        Api::V1 => Router::new()
            .route(v1::PATH_CREATE_ORDER, post(create_v1))
            .route(v1::PATH_QUERY_QR_PAYMENT, get(query_v1))
            .route(v1::PATH_QUERY_CONTRACT_PAYMENT, get(query_v1)),
        Api::V2 => Router::new()
            .route(v2::PATH_CREATE_ORDER, post(create_v2))
            .route(v2::PATH_ORDER_DETAIL, get(detail_v2))
            .route(v2::PATH_ORDER_LIST, get(list_v2)),
    };
    public
        .merge(merchant_api)
        .layer(middleware::from_fn_with_state(app.clone(), inject_faults))
}

/// A JSON body, or a 400 that names the missing or invalid field.
fn parse_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| {
        let message = e.to_string();
        match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(field) => ApiError::missing(field),
            None => ApiError::invalid(format!("invalid request body: {message}")),
        }
    })
}

fn utf8(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::invalid("request body is not UTF-8"))
}

const MAX_ORDER_NO: usize = 64;

/// The merchant's order number, trimmed: it goes into URLs and deposit calldata, so only
/// letters, digits, `-` and `_`.
fn order_no(text: &str) -> Result<&str, ApiError> {
    let order_no = text.trim();
    if order_no.is_empty()
        || order_no.len() > MAX_ORDER_NO
        || !order_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::invalid(format!(
            "orderNo must be 1 to {MAX_ORDER_NO} letters, digits, '-' or '_'"
        )));
    }
    Ok(order_no)
}

/// What both dialects' creation asks for.
struct Terms {
    order_no: String,
    chain_id: ChainId,
    symbol: String,
    amount: DecimalText,
    cust_no: Option<String>,
}

/// What a creation with an order number already used gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// V1 (which documents nothing of it, §7.15): the same terms find the order an earlier
    /// request made, so a merchant that lost the answer can ask again; other terms are a 409
    /// `000106`.
    SameOrder,
    /// V2: a 409 `000201` "Data Already Exists", whatever the terms (S11: "The same order
    /// number cannot be repeatedly created"); the merchant reads the order with
    /// `payorder/detail`.
    Exists,
}

/// Checks `terms` and makes the order, or answers a repeated order number as `repeat` says. The
/// order asks exactly the amount given: BlockATM's scan payments must match the order's amount.
fn create(app: &App, merchant: &Merchant, terms: Terms, repeat: Repeat) -> Result<Order, ApiError> {
    let order_no = order_no(&terms.order_no)?;
    let chain = app
        .config
        .registry
        .chain(terms.chain_id)
        .map_err(|e| ApiError::invalid(format!("chainId: {e}")))?;
    let token = chain
        .token(&terms.symbol)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "symbol: {} is not accepted on chain {}",
                terms.symbol, terms.chain_id
            ))
        })?
        .clone();
    let amount = parse_positive_units(&terms.amount.0, token.decimals)
        .map_err(|e| ApiError::invalid(format!("amount: {e}")))?;
    let new = NewOrder {
        merchant: merchant.api_key.clone(),
        order_no: order_no.to_owned(),
        cust_no: terms.cust_no,
        chain_id: terms.chain_id,
        network: chain.name.clone(),
        token,
        to_address: merchant
            .receiver(terms.chain_id)
            .expect("checked at startup: every merchant has a receiving address on every chain"),
        amount,
        lifetime: app.config.settings.order_lifetime,
    };
    app.store
        .write(|ledger| {
            let used = ledger
                .orders
                .iter()
                .any(|o| o.merchant == new.merchant && o.order_no == new.order_no);
            if used && repeat == Repeat::Exists {
                return Err(ApiError::exists(format!(
                    "orderNo {} already exists",
                    new.order_no
                )));
            }
            ledger
                .create_order(new, now_ms())
                .map_err(|duplicate| ApiError::conflict(duplicate.to_string()))
        })
        .map_err(ApiError::internal)?
}

/// `POST /api/v1/payment/createQrOrder`: where to pay and the cashier page.
async fn create_v1(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> AnswerResult<v1::CreatedOrder> {
    let body = utf8(&body)?;
    let merchant = authenticate(&app, &headers, Signed::Body(body))?;
    let request: v1::CreateOrder = parse_body(body)?;
    let order = create(
        &app,
        merchant,
        Terms {
            order_no: request.order_no,
            chain_id: request.chain_id,
            symbol: request.symbol,
            amount: request.amount,
            cust_no: request.cust_no,
        },
        Repeat::SameOrder,
    )?;
    answer(
        app.config.enveloped(),
        v1::CreatedOrder {
            to_address: order.to_address,
            cashier_url: Some(cashier_url(&app.public_url, &order.plat_order_no)),
            plat_order_no: Some(IdText(order.plat_order_no)),
            expire_time: Some(order.expire_time),
        },
    )
}

/// `POST /order/api/v2/pay/order`: the pay page, without the receiving address (a V2 merchant
/// has it from its cashier settings).
async fn create_v2(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> AnswerResult<v2::CreatedOrder> {
    let body = utf8(&body)?;
    let merchant = authenticate(&app, &headers, Signed::Body(body))?;
    let request: v2::CreateOrder = parse_body(body)?;
    if let Some(cashier_id) = &request.cashier_id
        && cashier_id.trim() != merchant.cashier_id.to_string()
    {
        return Err(ApiError::invalid(format!(
            "cashierId: {cashier_id} is not this merchant's cashier ({})",
            merchant.cashier_id
        )));
    }
    let order = create(
        &app,
        merchant,
        Terms {
            order_no: request.order_no,
            chain_id: request.chain_id,
            symbol: request.symbol,
            amount: request.amount,
            cust_no: request.cust_no,
        },
        Repeat::Exists,
    )?;
    answer(
        app.config.enveloped(),
        v2::CreatedOrder {
            pay_url: Some(cashier_url(&app.public_url, &order.plat_order_no)),
            order_no: Some(order.order_no),
            expire_time: Some(order.expire_time),
            to_address: None,
        },
    )
}

/// The merchant's orders that `query` selects, oldest first (all of them: the caller pages).
fn select(app: &App, merchant: &Merchant, query: &OrderQuery) -> Vec<Order> {
    let mut orders: Vec<Order> = app.store.read(|ledger| {
        ledger
            .orders
            .iter()
            .filter(|o| o.merchant == merchant.api_key && query.filter.matches(o))
            .cloned()
            .collect()
    });
    orders
        .sort_by(|a, b| (a.create_time, &a.plat_order_no).cmp(&(b.create_time, &b.plat_order_no)));
    orders
}

/// `GET /api/v1/payment/qrCodePayment` and `.../contractPayment`: with one `orderNo`, that
/// order's payment record (404 if there is none); otherwise a page of records, oldest first.
async fn query_v1(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let merchant = authenticate(&app, &headers, Signed::Query(&query))?;
    let query = OrderQuery::parse(&query, Api::V1)?;
    let orders = select(&app, merchant, &query);
    if let Some(single) = query.filter.single_order_no() {
        let order = orders
            .first()
            .ok_or_else(|| ApiError::not_found(format!("order {single} not found")))?;
        return Ok(answer(app.config.enveloped(), v1_payment(order))?.into_response());
    }
    let records: Vec<v1::Payment> = query.page.of(&orders).into_iter().map(v1_payment).collect();
    Ok(answer(app.config.enveloped(), records)?.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DetailParams {
    order_no: Option<String>,
}

/// `GET /order/api/v2/payorder/detail?orderNo=`.
async fn detail_v2(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AnswerResult<v2::OrderDetail> {
    let query = query.unwrap_or_default();
    let merchant = authenticate(&app, &headers, Signed::Query(&query))?;
    let params: DetailParams = query::parse(&query)?;
    let wanted = params
        .order_no
        .ok_or_else(|| ApiError::missing("orderNo"))?;
    let detail = app.store.read(|ledger| {
        ledger
            .orders
            .iter()
            .find(|o| o.merchant == merchant.api_key && o.order_no == wanted.trim())
            .map(|o| v2_detail(o, merchant.cashier_id))
    });
    answer(
        app.config.enveloped(),
        detail.ok_or_else(|| ApiError::not_found(format!("order {wanted} not found")))?,
    )
}

/// `GET /order/api/v2/payorder/list`: a page of orders, oldest first.
async fn list_v2(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AnswerResult<v2::OrderList> {
    let query = query.unwrap_or_default();
    let merchant = authenticate(&app, &headers, Signed::Query(&query))?;
    let query = OrderQuery::parse(&query, Api::V2)?;
    let orders = select(&app, merchant, &query);
    answer(
        app.config.enveloped(),
        v2::OrderList {
            total: orders.len() as u64,
            list: query
                .page
                .of(&orders)
                .into_iter()
                .map(|o| v2_detail(o, merchant.cashier_id))
                .collect(),
            page: query.page.number,
            page_size: query.page.size,
        },
    )
}

/// The public API's query: a chain to list, and the `apiKey` public calls may carry (BlockATM's
/// public API authenticates by a query parameter; the sandbox's is open, so it is ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PublicQuery {
    chain_id: Option<u64>,
    #[serde(rename = "apiKey")]
    _api_key: Option<String>,
}

/// A public list: described (the product's reading, by default), or with `--minimal-lists` only
/// what BlockATM's documents let a reader rely on (`chainId`, a token's `symbol`; chain ids as
/// strings, as every BlockATM example writes them).
#[derive(Serialize)]
#[serde(untagged)]
enum Listing<T> {
    Described(Vec<T>),
    Minimal(Vec<Listed>),
}

async fn networks(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> AnswerResult<Listing<Network>> {
    let params: PublicQuery = query::parse(&query.unwrap_or_default())?;
    let chains = app
        .config
        .registry
        .chains()
        .filter(|c| params.chain_id.is_none_or(|id| c.id == ChainId(id)));
    let list = if app.config.minimal_lists {
        Listing::Minimal(chains.map(|c| Listed::chain(c.id.to_string())).collect())
    } else {
        Listing::Described(
            chains
                .map(|c| Network {
                    chain_id: c.id,
                    name: c.name.clone(),
                    explorer_url: c.explorer_url.clone(),
                    required_confirmations: app.config.settings.confirmations,
                })
                .collect(),
        )
    };
    answer(app.config.enveloped(), list)
}

async fn tokens(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> AnswerResult<Listing<Cryptocurrency>> {
    let params: PublicQuery = query::parse(&query.unwrap_or_default())?;
    let tokens = app
        .config
        .registry
        .chains()
        .filter(|c| params.chain_id.is_none_or(|id| c.id == ChainId(id)))
        .flat_map(|c| c.tokens.iter().map(move |t| (c.id, t)));
    let list = if app.config.minimal_lists {
        Listing::Minimal(
            tokens
                .map(|(chain, t)| Listed::token(chain.to_string(), t.symbol.clone()))
                .collect(),
        )
    } else {
        Listing::Described(
            tokens
                .map(|(chain, t)| Cryptocurrency {
                    chain_id: chain,
                    symbol: t.symbol.clone(),
                    contract: t.contract,
                    decimals: t.decimals,
                })
                .collect(),
        )
    };
    answer(app.config.enveloped(), list)
}

/// The sandbox's own: BlockATM documents no rate endpoint.
async fn rates(State(app): State<Arc<App>>) -> AnswerResult<Vec<ExchangeRate>> {
    let now = now_ms();
    let list = app
        .rates
        .lock()
        .expect("rates lock")
        .iter()
        .map(|r| ExchangeRate {
            base: r.base.clone(),
            quote: r.quote.clone(),
            rate: r.rate.clone(),
            update_time: now,
        })
        .collect();
    answer(app.config.enveloped(), list)
}

/// Test mode's fault injection, in front of the gateway API.
async fn inject_faults(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let creation = request.method() == axum::http::Method::POST;
    let (latency, injected) = {
        let mut faults = app.faults.lock().expect("faults lock");
        (faults.latency(), faults.decide(creation))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match injected {
        Injected::Pass => next.run(request).await,
        Injected::LoseAnswer => {
            // The order is made (or found, for a retry); only its answer is lost.
            let made = next.run(request).await;
            tracing::info!("creation answered {}, then lost (injected)", made.status());
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "connection lost after the order was written (injected)",
            )
                .into_response()
        }
        Injected::Status(429) => {
            ApiError::rate_limited("rate limited (injected)", Duration::from_secs(1))
                .into_response()
        }
        Injected::Status(_) => {
            ApiError::blocked("blocked (injected)", Duration::from_secs(5)).into_response()
        }
        Injected::ServerError => (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream unavailable (injected)",
        )
            .into_response(),
        Injected::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"code\":\"200\",\"success\":tru",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_are_short_and_plain() {
        assert_eq!(order_no(" A-1_b ").unwrap(), "A-1_b");
        assert!(order_no(&"9".repeat(MAX_ORDER_NO)).is_ok());
        for bad in ["", "  ", "a b", "a/b", "ä", &"9".repeat(MAX_ORDER_NO + 1)] {
            assert!(order_no(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_missing_field_is_named_and_extra_fields_are_ignored() {
        let missing =
            parse_body::<v1::CreateOrder>(r#"{"orderNo":"A","chainId":"31337"}"#).unwrap_err();
        assert_eq!(missing.msg, "missing parameter: symbol");
        let request: v1::CreateOrder = parse_body(
            r#"{"orderNo":"A","chainId":"31337","symbol":"USDT","amount":1.50,"redirectUrl":"x"}"#,
        )
        .unwrap();
        assert_eq!(request.amount, DecimalText("1.50".into()));
        let bad_chain = parse_body::<v2::CreateOrder>(
            r#"{"orderNo":"A","chainId":"TRON","symbol":"USDT","amount":"1"}"#,
        )
        .unwrap_err();
        assert!(bad_chain.msg.contains("chainId"), "{}", bad_chain.msg);
    }
}
