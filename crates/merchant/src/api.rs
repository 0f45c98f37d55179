//! The HTTP API: for the widget (create a checkout, poll its status), for the storefront's
//! backend (create a checkout with its own total, list orders), and for the gateway (webhooks).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use usdt_checkout_protocol::checkout::{
    self, CheckoutState, CheckoutView, CreateCheckout, MAX_LONG_POLL_SECONDS, StorefrontCheckout,
};
use usdt_checkout_protocol::gateway::{
    HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1, HEADER_SIGNATURE_V2, PaymentEvent,
};
use usdt_checkout_protocol::pricing::fiat_to_token;
use usdt_checkout_protocol::signed_string::{self, check_freshness};

use crate::app::App;
use crate::checkout::{StartError, start_payment};
use crate::config::WebhookVerifier;
use crate::store::{Applied, Checkout, now_ms};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(checkout::PATH_CHECKOUTS, post(create_checkout))
        .route("/api/checkouts/{id}", get(get_checkout))
        .route(
            checkout::PATH_ADMIN_CHECKOUTS,
            post(create_storefront_checkout),
        )
        .route(checkout::PATH_ADMIN_ORDERS, get(list_orders))
        .route(checkout::PATH_WEBHOOK, post(webhook))
        .route("/healthz", get(health))
}

/// An error for a client: HTTP status, stable code, message, and when a retry can succeed.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such checkout")
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("{error}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on the merchant's server",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after.map(|d| d.as_secs().max(1));
        let body = checkout::ApiError {
            code: self.code.into(),
            message: self.message,
            retry_after,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StartError> for ApiError {
    fn from(error: StartError) -> Self {
        use crate::gateway::GatewayError as G;
        let message = error.to_string();
        let (status, code) = match &error {
            StartError::UnsupportedToken { .. } | StartError::Pricing(_) => {
                (StatusCode::BAD_REQUEST, "unsupported")
            }
            StartError::AlreadyStarted { .. } | StartError::Finished(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            StartError::NoRate { .. } => (StatusCode::SERVICE_UNAVAILABLE, "no_rate"),
            StartError::Gateway(G::RateLimited(_) | G::OverBudget(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                checkout::ERROR_GATEWAY_RATE_LIMITED,
            ),
            StartError::Gateway(G::Blocked(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                checkout::ERROR_GATEWAY_BLOCKED,
            ),
            StartError::Gateway(G::Unreachable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "gateway_unavailable")
            }
            StartError::Gateway(G::Garbage(_) | G::Rejected { .. })
            | StartError::Inconsistent(_) => {
                tracing::error!("{message}");
                (StatusCode::BAD_GATEWAY, "gateway_error")
            }
            StartError::Store(e) => return Self::internal(e),
        };
        let retry_after = match &error {
            StartError::Gateway(e) => e.retry_after(),
            StartError::NoRate { .. } => Some(Duration::from_secs(30)),
            _ => None,
        };
        Self {
            retry_after,
            ..Self::new(status, code, message)
        }
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

fn new_id(prefix: &str) -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 12];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

fn valid_key(key: &str) -> bool {
    (8..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn create_checkout(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<CheckoutView>), ApiError> {
    let request: CreateCheckout = json_body(&body)?;
    if !valid_key(&request.idempotency_key) {
        return Err(ApiError::bad_request(
            "idempotencyKey must be 8 to 128 letters, digits, '-' or '_'",
        ));
    }
    let checkout = match (&request.item, &request.checkout_id) {
        (Some(item_id), None) => {
            let item =
                app.config.items.get(item_id).ok_or_else(|| {
                    ApiError::bad_request(format!("no item {item_id:?} is for sale"))
                })?;
            let fresh = Checkout {
                idempotency_key: Some(request.idempotency_key.clone()),
                item_id: Some(item.id.clone()),
                ..Checkout::open(
                    new_id("co"),
                    "widget",
                    item.name.clone(),
                    item.price.clone(),
                    item.currency.clone(),
                )
            };
            let stored = app.store.insert(&fresh).await.map_err(ApiError::internal)?;
            if stored.item_id.as_deref() != Some(item_id.as_str()) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "this idempotencyKey was used for another item",
                ));
            }
            stored
        }
        (None, Some(id)) => app
            .store
            .get(id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(ApiError::not_found)?,
        _ => return Err(ApiError::bad_request("name either an item or a checkoutId")),
    };
    app.checkouts.put(checkout.clone());
    let started = start_payment(&app, checkout, request.chain_id, &request.symbol).await?;
    Ok((StatusCode::CREATED, Json(app.view(&started))))
}

#[derive(Deserialize)]
struct PollQuery {
    /// Seconds to wait for a change when the client's ETag is current.
    wait: Option<u64>,
}

/// Answered from memory: never a gateway call, never a database read.
async fn get_checkout(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(query): Query<PollQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut checkout = app.checkouts.get(&id).ok_or_else(ApiError::not_found)?;
    let seen = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if let Some(seen) = seen.filter(|tag| *tag == app.etag(&checkout))
        && let Some(wait) = query.wait.filter(|w| *w > 0)
    {
        let limit = Duration::from_secs(wait.min(MAX_LONG_POLL_SECONDS));
        checkout = app
            .wait_for_change(&id, seen, limit)
            .await
            .ok_or_else(ApiError::not_found)?;
    }
    let tag = app.etag(&checkout);
    let mut response = if seen == Some(tag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(app.view(&checkout)).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&tag).expect("digits, letters and quotes"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = app.config.admin_token.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the admin API is off: set admin.token",
        )
    })?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compared in constant time: the token must not leak byte by byte.
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(b"admin-token").expect("any key length");
    mac.update(expected.as_bytes());
    let expected = mac.finalize().into_bytes();
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(b"admin-token").expect("any key length");
    mac.update(given.as_bytes());
    if mac.verify_slice(&expected).is_err() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin bearer token is required",
        ));
    }
    Ok(())
}

async fn create_storefront_checkout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CheckoutView>), ApiError> {
    admin(&app, &headers)?;
    let request: StorefrontCheckout = json_body(&body)?;
    fiat_to_token(&request.amount, "1", 6)
        .map_err(|e| ApiError::bad_request(format!("amount: {e}")))?;
    if request.currency.is_empty()
        || request.currency.len() > 10
        || request.description.trim().is_empty()
    {
        return Err(ApiError::bad_request(
            "currency (e.g. USD or USDT) and description are required",
        ));
    }
    let checkout = Checkout {
        reference: request.reference,
        ..Checkout::open(
            new_id("co"),
            "storefront",
            request.description,
            request.amount,
            request.currency,
        )
    };
    let stored = app
        .store
        .insert(&checkout)
        .await
        .map_err(ApiError::internal)?;
    app.checkouts.put(stored.clone());
    Ok((StatusCode::CREATED, Json(app.view(&stored))))
}

#[derive(Deserialize)]
struct OrdersQuery {
    state: Option<String>,
    limit: Option<u32>,
    /// Unix ms: orders created before it (the next page).
    before: Option<u64>,
}

async fn list_orders(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<OrdersQuery>,
) -> Result<Json<Vec<CheckoutView>>, ApiError> {
    admin(&app, &headers)?;
    if let Some(state) = &query.state
        && CheckoutState::from_name(state).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "state {state:?} is not a checkout state"
        )));
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let list = app
        .store
        .list(query.state.as_deref(), limit, query.before)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(list.iter().map(|c| app.view(c)).collect()))
}

/// The gateway's webhook: verified (signature and freshness) before anything else, applied once
/// per event id, answered 200 so the gateway stops retrying.
async fn webhook(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let unauthorized =
        |message: String| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let body =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("body is not UTF-8"))?;
    let time: u64 = header(HEADER_REQUEST_TIME)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| unauthorized(format!("missing or malformed {HEADER_REQUEST_TIME}")))?;
    check_freshness(time, now_ms(), None).map_err(|e| unauthorized(e.to_string()))?;
    let signed = signed_string::for_json_body(body, time)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let verified = match &app.config.webhook_verifier {
        WebhookVerifier::V1(key) => header(HEADER_SIGNATURE_V1)
            .ok_or_else(|| unauthorized(format!("missing {HEADER_SIGNATURE_V1}")))
            .and_then(|sig| {
                key.verify(&signed, sig)
                    .map_err(|e| unauthorized(e.to_string()))
            }),
        WebhookVerifier::V2(secret) => header(HEADER_SIGNATURE_V2)
            .ok_or_else(|| unauthorized(format!("missing {HEADER_SIGNATURE_V2}")))
            .and_then(|sig| {
                secret
                    .verify(&signed, sig)
                    .map_err(|e| unauthorized(e.to_string()))
            }),
    };
    if let Err(error) = verified {
        tracing::warn!("webhook rejected: {}", error.message);
        return Err(error);
    }
    let event: PaymentEvent = serde_json::from_str(body)
        .map_err(|e| ApiError::bad_request(format!("not a payment event: {e}")))?;
    let Some(checkout) = app.checkouts.get(&event.order_no) else {
        tracing::warn!(
            "webhook {} for unknown order {}; acknowledged",
            event.event_id,
            event.order_no
        );
        return Ok(StatusCode::OK);
    };
    let Some(terms) = &checkout.terms else {
        tracing::warn!(
            "webhook {} for checkout {} that has no order yet",
            event.event_id,
            checkout.id
        );
        return Ok(StatusCode::OK);
    };
    let report = crate::report::from_event(&event, terms.decimals, &checkout.tx_hashes)
        .map_err(|e| ApiError::bad_request(format!("malformed payment event: {e}")))?;
    match app
        .store
        .apply(&report, Some(&event.event_id))
        .await
        .map_err(ApiError::internal)?
    {
        Applied::Changed(changed) => {
            tracing::info!(
                "checkout {}: {} (webhook {})",
                changed.id,
                changed.state.as_str(),
                event.event_id
            );
            app.checkouts.put(*changed);
            app.fulfillment_due.notify_one();
        }
        Applied::Duplicate => {
            tracing::info!("webhook {} replayed; already applied", event.event_id)
        }
        Applied::Unchanged | Applied::UnknownOrder => {}
    }
    Ok(StatusCode::OK)
}

async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "gateway": app.gateway.health(),
        "gatewayCallsInLastMinute": app.gateway.calls_in_last_minute(),
        "gatewayRateLimitRefusals": app.gateway.rate_limit_refusals(),
    }))
}
