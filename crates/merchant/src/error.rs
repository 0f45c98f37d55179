//! Errors a client gets: HTTP status, stable code, a message that says what to fix, and when a
//! retry can succeed. What went wrong on this side travels with the response to [`log_errors`],
//! which logs it; the client never sees it, and no conversion logs by itself.

use std::time::Duration;

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use usdt_checkout_protocol::checkout::{self, ErrorCode};
use usdt_checkout_protocol::signature::VerifyError;

use crate::checkouts::EventError;
use crate::gateway::GatewayError;
use crate::payment::StartError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    retry_after: Option<Duration>,
    /// What the client needs to say it in its own words.
    params: std::collections::BTreeMap<String, String>,
    /// For the log only.
    detail: Option<String>,
}

/// What [`log_errors`] logs of a response: set by [`ApiError`] only.
#[derive(Clone)]
struct ErrorDetail(String);

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            params: Default::default(),
            detail: None,
        }
    }

    /// With `params[key] = value`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such checkout",
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    /// A failure of this server's own: the client learns only that it happened.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "something went wrong on the merchant's server",
        )
        .logged(error)
    }

    /// Logs `detail` with the response (a refusal worth an operator's eye, or a failure).
    pub fn logged(self, detail: impl std::fmt::Display) -> Self {
        Self {
            detail: Some(detail.to_string()),
            ..self
        }
    }

    pub fn retry_after(self, after: Option<Duration>) -> Self {
        Self {
            retry_after: after,
            ..self
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after.map(|d| d.as_secs().max(1));
        let body = checkout::ApiError {
            code: self.code,
            message: self.message,
            retry_after,
            params: self.params,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}

/// Gives every error the API's JSON shape, those made outside a handler included (a body over
/// the limit, a request that timed out, an unknown path or method), which come as plain text.
/// A page the console made for its error (HTML) is left as it is: staff read it.
pub async fn errors_as_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || shaped {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        _ if status.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::InvalidRequest,
    };
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    let mut json = ApiError::new(status, code, message).into_response();
    // What the layers set (CORS, security headers, Retry-After) stays.
    for name in response.headers().keys() {
        if name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH {
            continue;
        }
        json.headers_mut().remove(name);
        for value in response.headers().get_all(name) {
            json.headers_mut().append(name.clone(), value.clone());
        }
    }
    json
}

/// Logs the detail of every error response that carries one: failures as errors, refusals as
/// warnings.
pub async fn log_errors(request: Request, next: Next) -> Response {
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        let status = response.status().as_u16();
        if response.status().is_server_error() {
            tracing::error!("{what} -> {status}: {detail}");
        } else {
            tracing::warn!("{what} -> {status}: {detail}");
        }
    }
    response
}

impl From<StoreError> for ApiError {
    /// A database that cannot be reached refuses for now, and says when to try again: nothing
    /// was written, and status polls are still answered from memory meanwhile.
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::DatabaseUnavailable,
                "the merchant's database cannot be reached right now; nothing was changed",
            )
            .retry_after(Some(Duration::from_secs(5)))
            .logged(error)
        } else {
            Self::internal(error)
        }
    }
}

impl From<StartError> for ApiError {
    fn from(error: StartError) -> Self {
        use GatewayError as G;
        let error = match error {
            StartError::Store(e) => return e.into(),
            other => other,
        };
        let message = error.to_string();
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        let (status, code) = match &error {
            StartError::UnsupportedToken { .. } | StartError::Pricing(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::Unsupported)
            }
            StartError::AlreadyStarted { .. } | StartError::Finished(_) => {
                (StatusCode::CONFLICT, ErrorCode::Conflict)
            }
            StartError::NoRate { .. } => (unavailable, ErrorCode::NoRate),
            StartError::Gateway(G::RateLimited(_) | G::OverBudget(_)) => {
                (unavailable, ErrorCode::GatewayRateLimited)
            }
            StartError::Gateway(G::Blocked(_)) => (unavailable, ErrorCode::GatewayBlocked),
            StartError::Gateway(G::Unreachable(_)) => (unavailable, ErrorCode::GatewayUnavailable),
            StartError::Gateway(G::Garbage(_) | G::Rejected { .. })
            | StartError::Inconsistent(_) => {
                return Self::new(StatusCode::BAD_GATEWAY, ErrorCode::GatewayError, &message)
                    .logged(message);
            }
            StartError::Store(_) => unreachable!("answered above"),
        };
        let retry_after = match &error {
            StartError::Gateway(e) => e.retry_after(),
            StartError::NoRate { .. } => Some(Duration::from_secs(30)),
            _ => None,
        };
        Self::new(status, code, message).retry_after(retry_after)
    }
}

impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> Self {
        let refused = match &error {
            // The body itself is malformed: no signature can make it right.
            VerifyError::Malformed(e) => Self::bad_request(e.to_string()),
            // The sender is not told what this side computed: that is for its own logs.
            VerifyError::Signature { error, .. } => Self::unauthorized(error.to_string()),
            other => Self::unauthorized(other.to_string()),
        };
        refused.logged(format!("webhook rejected: {error}"))
    }
}

impl From<EventError> for ApiError {
    fn from(error: EventError) -> Self {
        match error {
            EventError::Malformed(_) => Self::bad_request(error.to_string()),
            EventError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn gateway_trouble_maps_to_what_the_widget_acts_on() {
        let cases = [
            (
                StartError::Gateway(GatewayError::RateLimited(Duration::from_secs(7))),
                503,
                ErrorCode::GatewayRateLimited,
                Some("7"),
            ),
            (
                StartError::Gateway(GatewayError::OverBudget(Duration::from_millis(1500))),
                503,
                ErrorCode::GatewayRateLimited,
                Some("1"),
            ),
            (
                StartError::Gateway(GatewayError::Blocked(Duration::from_secs(300))),
                503,
                ErrorCode::GatewayBlocked,
                Some("300"),
            ),
            (
                StartError::Gateway(GatewayError::Unreachable("timed out".into())),
                503,
                ErrorCode::GatewayUnavailable,
                Some("2"),
            ),
            (
                StartError::Gateway(GatewayError::Rejected {
                    status: 400,
                    code: "000400".into(),
                    msg: "bad".into(),
                }),
                502,
                ErrorCode::GatewayError,
                None,
            ),
            (
                StartError::Inconsistent("another orderNo".into()),
                502,
                ErrorCode::GatewayError,
                None,
            ),
            (
                StartError::NoRate {
                    base: "USDT".into(),
                    quote: "EUR".into(),
                },
                503,
                ErrorCode::NoRate,
                Some("30"),
            ),
            (StartError::Finished("paid"), 409, ErrorCode::Conflict, None),
            (
                StartError::Pricing("too small".into()),
                400,
                ErrorCode::Unsupported,
                None,
            ),
        ];
        for (error, status, code, retry) in cases {
            let what = format!("{error:?}");
            let (got, retry_after, body) = answer(error.into()).await;
            assert_eq!(got.as_u16(), status, "{what}");
            assert_eq!(body["code"], code.as_str(), "{what}");
            assert_eq!(retry_after.as_deref(), retry, "{what}");
            assert_eq!(
                body["retryAfter"].as_u64(),
                retry.map(|r| r.parse().unwrap()),
                "{what}"
            );
        }
    }

    #[tokio::test]
    async fn an_internal_failure_is_logged_but_never_shown() {
        let error = ApiError::internal("database: disk I/O error at /var/lib/secret.sqlite");
        let response = error.into_response();
        let detail = response
            .extensions()
            .get::<ErrorDetail>()
            .unwrap()
            .0
            .clone();
        assert!(detail.contains("disk I/O"));
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("secret.sqlite"), "{body}");
        assert!(body.contains("\"code\":\"internal\""), "{body}");
    }
}
