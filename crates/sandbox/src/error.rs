//! The API's answers: a failure as its HTTP status, the envelope's code and a message saying
//! what to fix, in every dialect; a success as the dialect writes it, bare in V1 (which documents
//! no envelope; in the envelope with `--v1-envelope`) and in the envelope in V2. An envelope
//! carries a trace id for the merchant to quote. Test mode's own answers are always in the
//! envelope.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use usdt_checkout_protocol::gateway::{Envelope, ErrorCode};

use crate::app::next_trace;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub msg: String,
    /// Sent as `Retry-After`, in whole seconds rounded up, so a client never retries early.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// The chain's node failed a test-mode action (a transfer, a mint, a block).
    pub fn chain(e: usdt_checkout_chain::ChainError) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, ErrorCode::Internal, e.to_string())
    }

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

    pub fn missing(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MissingParameter,
            format!("missing parameter: {field}"),
        )
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, msg)
    }

    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::DuplicateSubmit, msg)
    }

    /// V2's "Data Already Exists": an order number already used.
    pub fn exists(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::DataExists, msg)
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, msg)
    }

    /// 429: the client slows down, or keeps calling and is blocked.
    pub fn rate_limited(msg: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, msg)
        }
    }

    /// 418, the gateway's answer to a key that ignored its 429s.
    pub fn blocked(msg: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::IM_A_TEAPOT, ErrorCode::Blocked, msg)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope::<()>::error(self.code, self.msg, next_trace());
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

pub type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// A success, in the envelope.
pub fn ok<T>(data: T) -> ApiResult<T> {
    Ok(Json(Envelope::ok(data, next_trace())))
}

/// A success of the gateway API: bare, or in the envelope (see
/// [`crate::config::Config::enveloped`]).
pub struct Answer<T> {
    enveloped: bool,
    data: T,
}

impl<T: serde::Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        if self.enveloped {
            Json(Envelope::ok(self.data, next_trace())).into_response()
        } else {
            Json(self.data).into_response()
        }
    }
}

pub type AnswerResult<T> = Result<Answer<T>, ApiError>;

/// A success of the gateway API, in the envelope when `enveloped`.
pub fn answer<T>(enveloped: bool, data: T) -> AnswerResult<T> {
    Ok(Answer { enveloped, data })
}
