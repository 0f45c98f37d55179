//! The HTTP API: for the widget (create a checkout, poll its status), for the storefront's
//! backend (create a checkout with its own total, list orders), and for the gateway (webhooks).
//! One module each (`widget`, `admin`, `webhook`, `health`); here, the router and what they
//! share.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use usdt_checkout_protocol::checkout::{self, ErrorCode};
use usdt_checkout_protocol::{receipt, refund};

use crate::app::App;
use crate::error::ApiError;

pub mod admin;
mod health;
pub mod metrics;
pub mod pay;
pub mod refund_receipt;
mod refunds;
mod webhook;
mod widget;

pub use admin::{PATH_ADMIN_REFUSED_REPORTS, PATH_ADMIN_UNMATCHED};

/// Every route of the API, on `app`; the admin ones behind the admin token ([`admin::routes`]).
pub fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route(checkout::PATH_CHECKOUTS, post(widget::create_checkout))
        .route("/api/checkouts/{id}", get(widget::get_checkout))
        .route("/api/checkouts/{id}/receipt", get(widget::get_receipt))
        .route(
            &format!("/api/checkouts/{{id}}/{}", checkout::PATH_CLAIMS),
            post(widget::claim_transaction),
        )
        .route(
            &format!("/api/checkouts/{{id}}/{}", refund::PATH_REFUNDS),
            get(refunds::get_refunds).post(refunds::ask_refund),
        )
        .route(
            "/api/refunds/{id}/receipt",
            get(refund_receipt::get_refund_receipt),
        )
        .route(receipt::PATH_RECEIPT_KEY, get(widget::receipt_key))
        .merge(admin::routes(app.clone()))
        .merge(metrics::routes(app.clone()))
        .route(checkout::PATH_WEBHOOK, post(webhook::webhook))
        .route("/healthz", get(health::health))
        .route("/livez", get(health::live))
        .route("/readyz", get(health::ready))
        .with_state(app)
}

/// A JSON request body, declared as such: a `text/plain` POST is one a browser sends across
/// sites without asking first (no CORS preflight), so it is refused (415) before it can make
/// anything; a body that does not read as `T` is a 400. A body that cannot be read at all (over
/// the size limit) is refused as axum refuses it, put in the API's shape by
/// [`crate::error::errors_as_json`].
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        // Read first: a body over the limit is a 413 whatever it declares.
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !declared {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the request body as application/json",
            )
            .into_response());
        }
        serde_json::from_slice(&body).map(ApiJson).map_err(|e| {
            ApiError::bad_request(format!("invalid request body: {e}")).into_response()
        })
    }
}

/// A query string, read into `T` or refused in the API's error shape.
fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

fn new_id(prefix: &str) -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 12];
    rand_core::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", usdt_checkout_protocol::hex::encode(&bytes))
}
