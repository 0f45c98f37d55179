//! The gateway's webhook.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use usdt_checkout_protocol::gateway::HEADER_EVENT;
use usdt_checkout_protocol::signature::Signed;

use crate::app::App;
use crate::checkouts::{Applied, Source};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::reconcile;

/// The gateway's webhook: verified (signature and freshness) before anything else, read in the
/// gateway's dialect, applied once however often it arrives, answered 200 so the gateway stops
/// retrying. An event that is not about a payment (a payout) is acknowledged and ignored.
pub(super) async fn webhook(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("body is not UTF-8"))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verified = app.gateway.dialect().webhook_verifier().verify_request(
        header,
        Signed::Body(body),
        now_ms(),
    );
    crate::metrics::webhook(verified.is_ok());
    verified?;
    let report = app
        .gateway
        .dialect()
        .webhook(header(HEADER_EVENT), body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Some(report) = report else {
        return Ok(StatusCode::OK);
    };
    if app.checkouts.apply_report(&report, Source::Webhook).await? == Applied::Unproven
        && let Some(order_no) = report.order_no
    {
        // Only the gateway can say whether it is ours: asked now, by a call of our own, and
        // believed then. The webhook is answered meanwhile (the reconciler asks again if this
        // fails).
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(e) = reconcile::ask(&app.checkouts, &app.gateway, &order_no).await {
                tracing::warn!("asking the gateway about {order_no}: {e}");
            }
        });
    }
    // A report about another order is answered as received too: the gateway stops sending it.
    Ok(StatusCode::OK)
}
