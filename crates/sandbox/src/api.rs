//! The gateway's HTTP API: public (no auth, CORS open) and server-to-server (API key, signature,
//! freshness, rate limit), in the envelope `{code, success, data, msg, trace}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
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
    CreateOrderRequest, Cryptocurrency, ExchangeRate, GatewayOrder, Network, OrderPage,
    PATH_CREATE_ORDER, PATH_NETWORKS, PATH_QUERY_PAYMENTS, PATH_RATES, PATH_TOKENS,
    PATH_WEBHOOK_KEY, PaymentRecord,
};
use usdt_checkout_protocol::signature::Signed;
use usdt_checkout_protocol::{Address, ChainId, OrderStatus, parse_positive_units};

use crate::app::App;
use crate::auth::authenticate;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, ok};
use crate::faults::Injected;
use crate::ledger::{DeliveryAttempt, NewOrder, Record};
use crate::query::{self, OrderQuery};

pub const PATH_UNMATCHED: &str = "/api/v1/payment/unmatched";
pub const PATH_DELIVERIES: &str = "/api/v1/webhook/deliveries";

/// The gateway API, public and server-to-server, behind test mode's fault injection.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let public = Router::new()
        .route(PATH_NETWORKS, get(networks))
        .route(PATH_TOKENS, get(tokens))
        .route(PATH_RATES, get(rates))
        .route(PATH_WEBHOOK_KEY, get(webhook_key))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET])
                .allow_headers(Any),
        );
    let merchant_api = Router::new()
        .route(PATH_CREATE_ORDER, post(create_order))
        .route(PATH_QUERY_PAYMENTS, get(query_orders))
        .route(PATH_UNMATCHED, get(unmatched))
        .route(PATH_DELIVERIES, get(deliveries));
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

/// How long an order stays open: from a minute to a day if the merchant asks, else `default`.
fn lifetime(expire_seconds: Option<u64>, default: Duration) -> Result<Duration, ApiError> {
    match expire_seconds {
        None => Ok(default),
        Some(seconds @ 60..=86_400) => Ok(Duration::from_secs(seconds)),
        Some(_) => Err(ApiError::invalid("expireSeconds must be from 60 to 86400")),
    }
}

async fn create_order(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<GatewayOrder> {
    let body = utf8(&body)?;
    let merchant = authenticate(&app, &headers, Signed::Body(body))?;
    let request: CreateOrderRequest = parse_body(body)?;

    let order_no = order_no(&request.order_no)?;
    let chain = app
        .config
        .registry
        .chain(request.chain_id)
        .map_err(|e| ApiError::invalid(format!("chainId: {e}")))?;
    let token = chain
        .token(&request.symbol)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "symbol: {} is not accepted on chain {}",
                request.symbol, request.chain_id
            ))
        })?
        .clone();
    let amount = parse_positive_units(&request.amount.0, token.decimals)
        .map_err(|e| ApiError::invalid(format!("amount: {e}")))?;
    let lifetime = lifetime(request.expire_seconds, app.config.settings.order_lifetime)?;
    let new = NewOrder {
        merchant: merchant.api_key.clone(),
        order_no: order_no.to_owned(),
        cust_no: request.cust_no,
        chain_id: request.chain_id,
        network: chain.name.clone(),
        token,
        to_address: merchant
            .receiving_address
            .expect("checked at startup: every merchant has a receiving address"),
        amount,
        expire_seconds: request.expire_seconds,
        lifetime,
    };
    let created = app
        .store
        .write(|ledger| ledger.create_order(new, now_ms()))
        .map_err(ApiError::internal)?
        .map_err(|duplicate| ApiError::conflict(duplicate.to_string()))?;
    ok(app.view(&created))
}

async fn query_orders(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<OrderPage> {
    let query = query.unwrap_or_default();
    let merchant = authenticate(&app, &headers, Signed::Query(&query))?;
    let OrderQuery { filter, page } = OrderQuery::parse(&query)?;
    let mut records: Vec<GatewayOrder> = app.store.read(|ledger| {
        ledger
            .orders
            .iter()
            .filter(|o| o.merchant == merchant.api_key && filter.matches(o))
            .map(|o| app.view(o))
            .collect()
    });
    if let Some(single) = filter.single_order_no()
        && records.is_empty()
    {
        return Err(ApiError::not_found(format!("order {single} not found")));
    }
    records.sort_by_key(|o| (o.create_time, o.plat_order_no.clone()));
    ok(OrderPage {
        total: records.len() as u64,
        records: page.of(records),
        page: page.number,
        page_size: page.size,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnmatchedPayment {
    #[serde(flatten)]
    payment: PaymentRecord,
    token_contract: Address,
    to_address: Address,
}

async fn unmatched(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Vec<UnmatchedPayment>> {
    let merchant = authenticate(&app, &headers, Signed::Query(&query.unwrap_or_default()))?;
    let head = app.head.load(Ordering::Relaxed);
    let decimals = |token| {
        app.config
            .registry
            .chains()
            .flat_map(|c| &c.tokens)
            .find(|t| t.contract == token)
            .map_or(0, |t| t.decimals)
    };
    let payments = app.store.read(|ledger| {
        ledger
            .unmatched
            .iter()
            .filter(|p| Some(p.to) == merchant.receiving_address)
            .map(|p| UnmatchedPayment {
                payment: p.record(head, decimals(p.token), false),
                token_contract: p.token,
                to_address: p.to,
            })
            .collect()
    });
    ok(payments)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    event_id: String,
    order_no: String,
    state: OrderStatus,
    created: u64,
    delivered_at: Option<u64>,
    next_attempt_at: Option<u64>,
    attempts: Vec<DeliveryAttempt>,
}

async fn deliveries(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Vec<Delivery>> {
    let query = query.unwrap_or_default();
    let merchant = authenticate(&app, &headers, Signed::Query(&query))?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Params {
        order_no: Option<String>,
    }
    let params: Params = query::parse(&query)?;
    let list = app.store.read(|ledger| {
        ledger
            .events
            .iter()
            .filter(|e| e.merchant == merchant.api_key)
            .filter(|e| params.order_no.as_ref().is_none_or(|n| *n == e.order_no))
            .map(|e| Delivery {
                event_id: e.id.clone(),
                order_no: e.order_no.clone(),
                state: e.state,
                created: e.created,
                delivered_at: e.delivered_at,
                next_attempt_at: e.next_attempt_at,
                attempts: e.attempts.clone(),
            })
            .collect()
    });
    ok(list)
}

async fn networks(State(app): State<Arc<App>>) -> ApiResult<Vec<Network>> {
    let list = app
        .config
        .registry
        .chains()
        .map(|c| Network {
            chain_id: c.id,
            name: c.name.clone(),
            explorer_url: c.explorer_url.clone(),
            required_confirmations: app.config.settings.confirmations,
        })
        .collect();
    ok(list)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenQuery {
    chain_id: Option<u64>,
}

async fn tokens(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Vec<Cryptocurrency>> {
    let params: TokenQuery = query::parse(&query.unwrap_or_default())?;
    let list = app
        .config
        .registry
        .chains()
        .filter(|c| params.chain_id.is_none_or(|id| c.id == ChainId(id)))
        .flat_map(|c| {
            c.tokens.iter().map(|t| Cryptocurrency {
                chain_id: c.id,
                symbol: t.symbol.clone(),
                contract: t.contract,
                decimals: t.decimals,
            })
        })
        .collect();
    ok(list)
}

async fn rates(State(app): State<Arc<App>>) -> ApiResult<Vec<ExchangeRate>> {
    let now = now_ms();
    let list = app
        .config
        .rates
        .iter()
        .map(|r| ExchangeRate {
            base: r.base.clone(),
            quote: r.quote.clone(),
            rate: r.rate.clone(),
            update_time: now,
        })
        .collect();
    ok(list)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookKey {
    /// The gateway's V1 public key (base64 SPKI): verify webhooks with it.
    public_key: String,
}

async fn webhook_key(State(app): State<Arc<App>>) -> ApiResult<WebhookKey> {
    ok(WebhookKey {
        public_key: app.gateway_key.public_key().to_base64_spki(),
    })
}

/// Test mode's fault injection, in front of the gateway API.
async fn inject_faults(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let (latency, injected) = {
        let mut faults = app.faults.lock().expect("faults lock");
        (faults.latency(), faults.decide())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match injected {
        Injected::Pass => next.run(request).await,
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
    fn a_lifetime_asked_for_is_from_a_minute_to_a_day() {
        let default = Duration::from_secs(900);
        assert_eq!(lifetime(None, default).unwrap(), default);
        assert_eq!(
            lifetime(Some(60), default).unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            lifetime(Some(86_400), default).unwrap(),
            Duration::from_secs(86_400)
        );
        assert!(lifetime(Some(59), default).is_err());
        assert!(lifetime(Some(86_401), default).is_err());
    }
}
