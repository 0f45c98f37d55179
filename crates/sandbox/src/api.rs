//! The gateway's HTTP API: public (no auth, CORS open) and server-to-server (API key, signature,
//! freshness, rate limit), in the envelope `{code, success, data, msg, trace}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};
use usdt_checkout_protocol::gateway::{
    CreateOrderRequest, Cryptocurrency, Envelope, ErrorCode, ExchangeRate, GatewayOrder,
    HEADER_API_KEY, HEADER_RECV_WINDOW, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1,
    HEADER_SIGNATURE_V2, Network, OrderPage, PATH_CREATE_ORDER, PATH_NETWORKS, PATH_QUERY_PAYMENTS,
    PATH_RATES, PATH_TOKENS, PATH_WEBHOOK_KEY, PaymentRecord,
};
use usdt_checkout_protocol::signed_string::{self, check_freshness};
use usdt_checkout_protocol::{ChainId, OrderStatus, format_units, parse_positive_units};

use crate::app::App;
use crate::clock::now_ms;
use crate::config::Merchant;
use crate::faults::Injected;
use crate::ledger::{ChainPayment, Order};
use crate::matching::unique_pay_amount;
use crate::rate_limit::Decision;

pub const PATH_UNMATCHED: &str = "/api/v1/payment/unmatched";
pub const PATH_DELIVERIES: &str = "/api/v1/webhook/deliveries";

pub fn router(app: Arc<App>) -> Router {
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
    let mut router = public
        .merge(merchant_api)
        .layer(middleware::from_fn_with_state(app.clone(), inject_faults))
        .merge(crate::cashier::router());
    if app.test_mode {
        router = router.merge(crate::testmode::router());
    }
    router.with_state(app)
}

/// An API failure: HTTP status, envelope code and a message that says what to fix.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub msg: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, msg)
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter, msg)
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, msg)
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, msg)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope::<()>::error(self.code, self.msg, crate::app::next_trace());
        let mut response = (self.status, Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_millis().div_ceil(1000).max(1);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds.to_string()).expect("digits are a valid header"),
            );
        }
        response
    }
}

type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

fn ok<T>(data: T) -> ApiResult<T> {
    Ok(Json(Envelope::ok(data, crate::app::next_trace())))
}

/// What a request's signature covers.
enum Signed<'a> {
    Body(&'a str),
    Query(&'a str),
}

/// Checks a server-to-server request, in the order a client can fix it: the key, the rate
/// limit, then the signature and its freshness. Queries need only the key (as the gateway's
/// docs say) but are checked fully when signed.
fn authenticate<'a>(
    app: &'a App,
    headers: &HeaderMap,
    signed: Signed,
) -> Result<&'a Merchant, ApiError> {
    let text = |name: &str| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::unauthorized(format!("header {name} is not text")))
            })
            .transpose()
    };
    let key = text(HEADER_API_KEY)?
        .ok_or_else(|| ApiError::unauthorized(format!("missing header {HEADER_API_KEY}")))?;
    let merchant = app
        .merchant(key)
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;

    let decision = app
        .limiter
        .lock()
        .expect("limiter lock")
        .check(key, now_ms());
    match decision {
        Decision::Allow => {}
        Decision::Limited { retry_after } => {
            return Err(ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::RateLimited,
                    "rate limit of requests per minute exceeded; retry after the Retry-After seconds, or calls will be blocked",
                )
            });
        }
        Decision::Blocked { retry_after } => {
            return Err(ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(
                    StatusCode::IM_A_TEAPOT,
                    ErrorCode::Blocked,
                    "this API key kept calling while rate-limited and is blocked for a while",
                )
            });
        }
    }

    let v1 = text(HEADER_SIGNATURE_V1)?;
    let v2 = text(HEADER_SIGNATURE_V2)?;
    if v1.is_none() && v2.is_none() {
        return match signed {
            Signed::Query(_) => Ok(merchant),
            Signed::Body(_) => Err(ApiError::unauthorized(format!(
                "missing header {HEADER_SIGNATURE_V1} (or {HEADER_SIGNATURE_V2})"
            ))),
        };
    }
    let time = text(HEADER_REQUEST_TIME)?
        .ok_or_else(|| ApiError::unauthorized(format!("missing header {HEADER_REQUEST_TIME}")))?;
    let time: u64 = time.parse().map_err(|_| {
        ApiError::unauthorized(format!(
            "{HEADER_REQUEST_TIME} must be Unix time in milliseconds"
        ))
    })?;
    let window = text(HEADER_RECV_WINDOW)?
        .map(|w| {
            w.parse::<u64>().map_err(|_| {
                ApiError::unauthorized(format!("{HEADER_RECV_WINDOW} must be milliseconds"))
            })
        })
        .transpose()?;
    check_freshness(time, now_ms(), window).map_err(|e| ApiError::unauthorized(e.to_string()))?;

    let string = match signed {
        Signed::Body(body) => signed_string::for_json_body(body, time),
        Signed::Query(query) => signed_string::for_query(query, time),
    }
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    let verified = match (v1, v2) {
        (Some(signature), _) => merchant
            .v1_public_key
            .as_ref()
            .ok_or_else(|| {
                ApiError::unauthorized("this API key has no V1 public key; sign with V2")
            })?
            .verify(&string, signature),
        (None, Some(signature)) => merchant
            .v2_secret
            .as_ref()
            .ok_or_else(|| ApiError::unauthorized("this API key has no V2 secret; sign with V1"))?
            .verify(&string, signature),
        (None, None) => unreachable!("handled above"),
    };
    verified.map_err(|e| {
        ApiError::unauthorized(format!(
            "{e}; the string the gateway verified was: {string}"
        ))
    })?;
    Ok(merchant)
}

/// A JSON body, or a 400 that names the missing or invalid field.
fn parse_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| {
        let message = e.to_string();
        match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(field) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MissingParameter,
                format!("missing parameter: {field}"),
            ),
            None => ApiError::invalid(format!("invalid request body: {message}")),
        }
    })
}

fn utf8(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::invalid("request body is not UTF-8"))
}

const MAX_ORDER_NO: usize = 64;

async fn create_order(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<GatewayOrder> {
    let body = utf8(&body)?;
    let merchant = authenticate(&app, &headers, Signed::Body(body))?;
    let request: CreateOrderRequest = parse_body(body)?;

    let order_no = request.order_no.trim();
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
    let lifetime = match request.expire_seconds {
        None => app.config.settings.order_lifetime,
        Some(seconds @ 60..=86_400) => Duration::from_secs(seconds),
        Some(_) => return Err(ApiError::invalid("expireSeconds must be from 60 to 86400")),
    };
    let to_address = merchant
        .receiving_address
        .expect("checked at startup: every merchant has a receiving address");
    let terms = format!(
        "{}|{}|{}|{}|{:?}",
        request.chain_id,
        token.symbol,
        amount,
        request.cust_no.as_deref().unwrap_or(""),
        request.expire_seconds
    );

    let now = now_ms();
    let network = chain.name.clone();
    let created = app
        .store
        .write(|ledger| {
            if let Some(existing) = ledger
                .orders
                .iter()
                .find(|o| o.merchant == merchant.api_key && o.order_no == order_no)
            {
                return if existing.terms == terms {
                    Ok(existing.clone())
                } else {
                    Err(ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorCode::DuplicateSubmit,
                        format!(
                            "duplicate submit: orderNo {order_no} was already used with other terms"
                        ),
                    ))
                };
            }
            let taken: Vec<u128> = ledger
                .orders
                .iter()
                .filter(|o| {
                    o.token == token.contract
                        && o.to_address == to_address
                        && !o.state.is_final()
                        && now < o.expire_time
                })
                .map(|o| {
                    let received = o.payments.iter().map(|p| p.value).sum::<u128>();
                    o.pay_amount.saturating_sub(received)
                })
                .collect();
            ledger.next_order_seq += 1;
            // Whole seconds, as block times are: a block in the second of expiry is late.
            let expire_time = (now + lifetime.as_millis() as u64).div_ceil(1000) * 1000;
            let order = Order {
                merchant: merchant.api_key.clone(),
                plat_order_no: format!("P{:010}", ledger.next_order_seq),
                order_no: order_no.to_owned(),
                cust_no: request.cust_no.clone(),
                chain_id: request.chain_id,
                network: network.clone(),
                symbol: token.symbol.clone(),
                token: token.contract,
                decimals: token.decimals,
                to_address,
                amount,
                pay_amount: unique_pay_amount(amount, &taken),
                create_time: now,
                expire_time,
                update_time: now,
                state: OrderStatus::Waiting,
                payments: vec![],
                terms: terms.clone(),
            };
            ledger.orders.push(order.clone());
            Ok(order)
        })
        .map_err(ApiError::internal)??;
    ok(view(&app, &created))
}

pub fn view(app: &App, order: &Order) -> GatewayOrder {
    order.view(
        app.head.load(Ordering::Relaxed),
        app.config.settings.confirmations,
        now_ms(),
        &app.public_url,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OrderQuery {
    /// One order number, or several separated by commas (at most 100).
    order_no: Option<String>,
    /// A state name (`waiting`, `paid`, ...) or a V1 status number (-1, 0, 1).
    status: Option<String>,
    start_time: Option<u64>,
    end_time: Option<u64>,
    updated_since: Option<u64>,
    page: Option<u32>,
    page_size: Option<u32>,
}

const MAX_PAGE_SIZE: u32 = 100;

async fn query_orders(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<OrderPage> {
    let query = query.unwrap_or_default();
    let merchant = authenticate(&app, &headers, Signed::Query(&query))?;
    let params: OrderQuery = serde_urlencoded::from_str(&query)
        .map_err(|e| ApiError::invalid(format!("invalid query: {e}")))?;
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(20);
    if page == 0 || !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::invalid(format!(
            "page starts at 1 and pageSize is from 1 to {MAX_PAGE_SIZE}"
        )));
    }
    let order_nos: Option<Vec<&str>> = params.order_no.as_deref().map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    if order_nos.as_ref().is_some_and(|list| list.len() > 100) {
        return Err(ApiError::invalid("orderNo lists at most 100 order numbers"));
    }
    let status_filter = params
        .status
        .as_deref()
        .map(|s| {
            let matches: Box<dyn Fn(OrderStatus) -> bool> = match s {
                "-1" | "0" | "1" => {
                    let wanted: i8 = s.parse().expect("one of three numbers");
                    Box::new(move |state| {
                        usdt_checkout_protocol::gateway::v1_status(state) == wanted
                    })
                }
                name => {
                    let wanted = OrderStatus::from_name(name).ok_or_else(|| {
                        ApiError::invalid(format!(
                            "status {name:?} is not a state name or -1, 0, 1"
                        ))
                    })?;
                    Box::new(move |state| state == wanted)
                }
            };
            Ok::<_, ApiError>(matches)
        })
        .transpose()?;

    let mut records: Vec<GatewayOrder> = app.store.read(|ledger| {
        ledger
            .orders
            .iter()
            .filter(|o| o.merchant == merchant.api_key)
            .filter(|o| {
                order_nos
                    .as_ref()
                    .is_none_or(|list| list.contains(&o.order_no.as_str()))
            })
            .filter(|o| {
                status_filter
                    .as_ref()
                    .is_none_or(|matches| matches(o.state))
            })
            .filter(|o| params.start_time.is_none_or(|t| o.create_time >= t))
            .filter(|o| params.end_time.is_none_or(|t| o.create_time < t))
            .filter(|o| params.updated_since.is_none_or(|t| o.update_time >= t))
            .map(|o| view(&app, o))
            .collect()
    });
    if let Some([single]) = order_nos.as_deref()
        && records.is_empty()
    {
        return Err(ApiError::not_found(format!("order {single} not found")));
    }
    records.sort_by_key(|o| (o.create_time, o.plat_order_no.clone()));
    let total = records.len() as u64;
    let records = records
        .into_iter()
        .skip(((page - 1) * page_size) as usize)
        .take(page_size as usize)
        .collect();
    ok(OrderPage {
        records,
        total,
        page,
        page_size,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnmatchedPayment {
    #[serde(flatten)]
    payment: PaymentRecord,
    token_contract: usdt_checkout_protocol::Address,
    to_address: usdt_checkout_protocol::Address,
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
            .map(|p: &ChainPayment| UnmatchedPayment {
                payment: PaymentRecord {
                    tx_id: p.tx_id.clone(),
                    log_index: p.log_index,
                    block_number: p.block_number,
                    block_hash: p.block_hash.clone(),
                    from: p.from,
                    amount: format_units(p.value, decimals(p.token)),
                    amount_atomic: p.value.to_string(),
                    kind: p.kind,
                    confirmations: crate::ledger::confirmations(head, p.block_number),
                    timestamp: p.timestamp_ms,
                    late: false,
                },
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
    attempts: Vec<crate::ledger::DeliveryAttempt>,
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
    let params: Params = serde_urlencoded::from_str(&query)
        .map_err(|e| ApiError::invalid(format!("invalid query: {e}")))?;
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
    let params: TokenQuery = serde_urlencoded::from_str(&query.unwrap_or_default())
        .map_err(|e| ApiError::invalid(format!("invalid query: {e}")))?;
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
        Injected::Status(429) => ApiError {
            retry_after: Some(Duration::from_secs(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "rate limited (injected)",
            )
        }
        .into_response(),
        Injected::Status(_) => ApiError {
            retry_after: Some(Duration::from_secs(5)),
            ..ApiError::new(
                StatusCode::IM_A_TEAPOT,
                ErrorCode::Blocked,
                "blocked (injected)",
            )
        }
        .into_response(),
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
