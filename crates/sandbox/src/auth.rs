//! Who is calling the server-to-server API, checked in the order a client can fix it: the API key,
//! the rate limit, then the signature and its freshness. The signature rules are the protocol
//! crate's, shared with the merchant's check of webhooks; the policy around them is the
//! gateway's: queries need only the key (as its docs say) but are checked fully when signed.

use axum::http::HeaderMap;
use usdt_checkout_protocol::gateway::{
    HEADER_API_KEY, HEADER_RECV_WINDOW, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1,
    HEADER_SIGNATURE_V2,
};
use usdt_checkout_protocol::signature::{Signed, VerifyError};

use crate::app::App;
use crate::clock::now_ms;
use crate::config::Merchant;
use crate::error::ApiError;
use crate::rate_limit::Decision;

pub fn authenticate<'a>(
    app: &'a App,
    headers: &HeaderMap,
    signed: Signed,
) -> Result<&'a Merchant, ApiError> {
    let key = text(headers, HEADER_API_KEY)?
        .ok_or_else(|| ApiError::unauthorized(format!("missing header {HEADER_API_KEY}")))?;
    let merchant = app
        .merchant(key)
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
    rate_limit(app, key)?;

    // A header that is there but not text is refused, not taken for a missing one.
    for name in [
        HEADER_SIGNATURE_V1,
        HEADER_SIGNATURE_V2,
        HEADER_REQUEST_TIME,
        HEADER_RECV_WINDOW,
    ] {
        text(headers, name)?;
    }
    let unsigned =
        !headers.contains_key(HEADER_SIGNATURE_V1) && !headers.contains_key(HEADER_SIGNATURE_V2);
    if unsigned && matches!(signed, Signed::Query(_)) {
        return Ok(merchant);
    }
    merchant
        .verifier
        .verify_request(
            |name| headers.get(name).and_then(|v| v.to_str().ok()),
            signed,
            now_ms(),
        )
        .map_err(refusal)?;
    Ok(merchant)
}

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::unauthorized(format!("header {name} is not text")))
        })
        .transpose()
}

fn rate_limit(app: &App, key: &str) -> Result<(), ApiError> {
    let decision = app
        .limiter
        .lock()
        .expect("limiter lock")
        .check(key, now_ms());
    match decision {
        Decision::Allow => Ok(()),
        Decision::Limited { retry_after } => Err(ApiError::rate_limited(
            "rate limit of requests per minute exceeded; retry after the Retry-After seconds, or calls will be blocked",
            retry_after,
        )),
        Decision::Blocked { retry_after } => Err(ApiError::blocked(
            "this API key kept calling while rate-limited and is blocked for a while",
            retry_after,
        )),
    }
}

/// A body or query that cannot be signed is a bad request; every other refusal is the
/// signature's. A mismatch shows the signed string, for the merchant to compare with its own.
fn refusal(error: VerifyError) -> ApiError {
    match error {
        VerifyError::Malformed(e) => ApiError::invalid(e.to_string()),
        VerifyError::Signature {
            error,
            signed_string,
        } => ApiError::unauthorized(format!(
            "{error}; the string the gateway verified was: {signed_string}"
        )),
        other => ApiError::unauthorized(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use usdt_checkout_protocol::gateway::ErrorCode;
    use usdt_checkout_protocol::signature::SignatureError;
    use usdt_checkout_protocol::signed_string;

    use super::*;

    #[test]
    fn an_unsignable_request_is_invalid_and_other_refusals_unauthorized() {
        let malformed = signed_string::for_json_body("[1]", 0).unwrap_err();
        let invalid = refusal(VerifyError::Malformed(malformed));
        assert_eq!(
            (invalid.status, invalid.code),
            (StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter)
        );
        for error in [VerifyError::MissingSignature, VerifyError::NoKeyFor("V1")] {
            let message = error.to_string();
            let refused = refusal(error);
            assert_eq!(
                (refused.status, refused.code, refused.msg),
                (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
            );
        }
    }

    #[test]
    fn a_mismatch_shows_the_string_the_gateway_verified() {
        let refused = refusal(VerifyError::Signature {
            error: SignatureError::Mismatch,
            signed_string: "amount=1&time=5".into(),
        });
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            refused.msg,
            "signature does not match the request; the string the gateway verified was: amount=1&time=5"
        );
    }
}
