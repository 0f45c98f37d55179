//! A refund's signed receipt: once the chain showed the merchant's transfer, anyone holding the
//! refund's id (an unguessable `rf_` and 24 hex digits, given to its shopper) may fetch it. It is
//! signed with the payment receipts' key, so `checkout-server receipt verify` checks both kinds.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use usdt_checkout_protocol::checkout::{ErrorCode, TransactionView};
use usdt_checkout_protocol::format_units;
use usdt_checkout_protocol::receipt::{RefundKind, RefundReceipt};

use crate::app::App;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::refunds::Refund;

/// Where a refund's receipt is served (the refunds' views link to it once it is sent).
pub fn refund_receipt_path(refund_id: &str) -> String {
    format!("/api/refunds/{refund_id}/receipt")
}

/// The receipt of a sent refund, as of now; `None` before its transfer is seen.
pub fn refund_receipt(app: &App, refund: &Refund) -> Option<RefundReceipt> {
    let sent = refund.sent.as_ref()?;
    let chain = app.config.registry.chain(refund.chain_id).ok();
    let token = chain.and_then(|c| c.tokens.iter().find(|t| t.contract == refund.token));
    // A token the configuration no longer lists: its amount in the smallest units, named so.
    let (refunded, symbol) = match token {
        Some(token) => (
            format_units(refund.amount_atomic, token.decimals),
            token.symbol.clone(),
        ),
        None => (refund.amount_atomic.to_string(), "units".to_owned()),
    };
    Some(RefundReceipt {
        kind: RefundKind::Refund,
        merchant: app.config.merchant_name.clone(),
        refund_id: refund.id.clone(),
        checkout_id: refund.checkout_id.clone(),
        refunded: refunded.clone(),
        symbol,
        chain_id: refund.chain_id,
        network: app.network_name(refund.chain_id),
        token_contract: refund.token,
        destination: refund.destination,
        proven: refund.proven(),
        source_tx: refund.source_tx.clone(),
        source_log_index: refund.source_log_index,
        transaction: TransactionView {
            hash: sent.tx.as_str().to_owned(),
            explorer_url: chain.and_then(|c| c.transaction_url(sent.tx.as_str())),
            amount: Some(refunded),
            network: None,
        },
        approved_at: refund.approved_at.unwrap_or(refund.requested_at),
        sent_at: sent.mined_at,
        issued_at: now_ms(),
    })
}

/// The signed receipt of a sent refund, to keep (saved as a file by the browser).
pub(super) async fn get_refund_receipt(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let refund = app
        .checkouts
        .store()
        .refund(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let receipt = refund_receipt(&app, &refund).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::NotPaid,
            "a refund's receipt is issued once its transfer is seen on chain",
        )
    })?;
    let mut response = Json(receipt.sign(&app.receipt_key)).into_response();
    let disposition = format!("attachment; filename=\"refund-{}.json\"", refund.id);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
