//! The shopper's refunds, for the widget: what they may ask back of the payments made for a
//! checkout, and their requests, each with its state (`GET /api/checkouts/{id}/refunds`); and a
//! request (`POST`), proven by the paying wallet's signature or kept as unproven for the merchant
//! to decide. A request is parsed here, at the edge, into the refund's terms (the payment, an
//! amount in its token, a checked address, a canonical signature and who made it), and decided
//! under the store's lock by the checkouts' refund operations.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use usdt_checkout_protocol::checkout::ErrorCode;
use usdt_checkout_protocol::refund::{
    RefundAsk, RefundView, RefundableView, RefundsView, canonical_signature, refund_message,
};
use usdt_checkout_protocol::{
    Address, ChainId, Token, format_units, parse_positive_units, wallet_proof,
};

use super::ApiJson;
use super::widget::within;
use crate::app::App;
use crate::checkouts::{Asked, NotDone, RefundRequest};
use crate::claim;
use crate::error::ApiError;
use crate::refunds::{self, Proof, Refund, RefundState, Refusal};

/// What the shopper of checkout `id` may ask back, and the refunds asked.
pub(super) async fn get_refunds(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<RefundsView>, ApiError> {
    let checkout = app
        .checkouts
        .load(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut refundable = vec![];
    for (chain, payment, max) in app.checkouts.shopper_refundable(&checkout).await? {
        let Some(token) = token(&app, chain, payment.token) else {
            continue;
        };
        let max = format_units(max, token.decimals);
        let source_tx = payment.tx_id.to_string();
        refundable.push(RefundableView {
            chain_id: chain,
            network: app.network_name(chain),
            message: Some(refund_message(
                &id,
                &source_tx,
                chain,
                &max,
                &token.symbol,
                &payment.from,
            )),
            symbol: token.symbol,
            decimals: token.decimals,
            source_tx,
            source_log_index: payment.log_index,
            from: payment.from,
            max,
        });
    }
    let refunds = app
        .checkouts
        .refunds_of(&id)
        .await?
        .iter()
        .map(|refund| view(&app, refund))
        .collect();
    Ok(Json(RefundsView {
        refundable,
        refunds,
    }))
}

/// The shopper of checkout `id` asks for a refund: `201` and the request, or the request a
/// signature made before (`200`), or why not.
pub(super) async fn ask_refund(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    ApiJson(ask): ApiJson<RefundAsk>,
) -> Result<(StatusCode, Json<RefundView>), ApiError> {
    if app.checkouts.load(&id).await?.is_none() {
        return Err(ApiError::not_found());
    }
    within(
        &app.claims,
        &format!("refunds {id}"),
        ErrorCode::TooManyClaims,
        "too many refund requests for this checkout; try again later",
    )?;
    let (request, token) = parse(&app, &id, &ask).await?;
    let asked = app
        .checkouts
        .request_refund(&id, request)
        .await?
        .map_err(|refused| not_asked(&token, refused))?;
    let status = match asked {
        Asked::New(_) => StatusCode::CREATED,
        Asked::Replayed(_) => StatusCode::OK,
    };
    Ok((status, Json(view(&app, asked.refund()))))
}

/// `ask` read into a request: the payment it names (which the chain must have shown), an
/// amount in that payment's token, a checked destination and email, and the signature's signer;
/// with the token.
async fn parse(app: &App, id: &str, ask: &RefundAsk) -> Result<(RefundRequest, Token), ApiError> {
    let unprocessable =
        |code, message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    let tx = claim::parse_tx_hash(&ask.source_tx).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::TxHashInvalid,
            "a transaction hash is 0x and 64 hexadecimal digits",
        )
    })?;
    let unknown = || {
        unprocessable(
            ErrorCode::RefundUnknownPayment,
            format!(
                "no payment in transaction {tx} (log {}) on chain {} reached this shop",
                ask.source_log_index, ask.chain_id
            ),
        )
    };
    let (payment, _) = app
        .checkouts
        .store()
        .chain_payment(ask.chain_id, &tx, ask.source_log_index)
        .await?
        .ok_or_else(unknown)?;
    let token = token(app, ask.chain_id, payment.token).ok_or_else(unknown)?;
    let amount = ask.amount.trim();
    let amount_atomic = parse_positive_units(amount, token.decimals).map_err(|e| {
        ApiError::bad_request(format!(
            "amount: {e} (a decimal of at most {} places)",
            token.decimals
        ))
    })?;
    let bad_destination = |message: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::RefundBadDestination,
            message,
        )
    };
    let destination: Address = ask
        .destination
        .trim()
        .parse()
        .map_err(|e| bad_destination(format!("destination: {e}")))?;
    if destination == Address::from_bytes([0; 20]) {
        return Err(bad_destination(
            "destination: the zero address burns what it is sent".into(),
        ));
    }
    let proof = match (&ask.signature, &ask.email) {
        (None, None) => Proof::Unproven { email: None },
        (None, Some(email)) => {
            let email = email.trim();
            if !refunds::valid_email(email) {
                return Err(bad_destination(
                    "email: not an email address (name@example.com, 254 characters at most)".into(),
                ));
            }
            Proof::Unproven {
                email: Some(email.to_owned()),
            }
        }
        (Some(signature), _) => Proof::Signed(signature.clone()),
    };
    // Who signed this very request; whether that is the payment's sender is decided with the
    // request, under the store's lock.
    let signer = match &proof {
        Proof::Unproven { .. } => None,
        Proof::Signed(signature) => {
            let message = refund_message(
                id,
                tx.as_str(),
                ask.chain_id,
                amount,
                &token.symbol,
                &destination,
            );
            let signer = wallet_proof::signer(&message, signature).map_err(|e| {
                unprocessable(ErrorCode::RefundBadSignature, e.to_string())
                    .with("sender", payment.from.to_string())
            })?;
            Some(signer)
        }
    };
    let proof = match proof {
        Proof::Signed(signature) => Proof::Signed(
            canonical_signature(&signature)
                .map_err(|e| unprocessable(ErrorCode::RefundBadSignature, e.to_string()))?,
        ),
        unproven => unproven,
    };
    let request = RefundRequest {
        chain: ask.chain_id,
        tx,
        log_index: ask.source_log_index,
        amount_atomic,
        destination,
        proof,
        signer,
    };
    Ok((request, token))
}

/// Why a request was not kept, said precisely.
fn not_asked(token: &Token, refused: NotDone) -> ApiError {
    let unprocessable =
        |code, message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    match refused {
        NotDone::NoCheckout | NotDone::NoRefund => ApiError::not_found(),
        NotDone::NoPayment => unprocessable(
            ErrorCode::RefundUnknownPayment,
            "no such payment reached this shop".into(),
        ),
        NotDone::NotSender { sender, signer } => {
            let error = unprocessable(
                ErrorCode::RefundBadSignature,
                format!("this payment was sent by {sender}; the signature is not by it"),
            )
            .with("sender", sender.to_string());
            match signer {
                Some(signer) => error.with("signer", signer.to_string()),
                None => error,
            }
        }
        NotDone::OwnAddress => unprocessable(
            ErrorCode::RefundBadDestination,
            "that address is the shop's own: give the address the refund should reach".into(),
        ),
        NotDone::Refused(Refusal::NotRefundable) => unprocessable(
            ErrorCode::RefundNotRefundable,
            "nothing of this payment is yours to ask back: ask the merchant".into(),
        ),
        NotDone::Refused(Refusal::TooMuch { max }) => {
            let max = format_units(max, token.decimals);
            unprocessable(
                ErrorCode::RefundTooMuch,
                format!(
                    "at most {max} {} of this payment may be asked back",
                    token.symbol
                ),
            )
            .with("max", max)
            .with("symbol", token.symbol.clone())
        }
        NotDone::Refused(Refusal::Illegal(illegal)) => ApiError::conflict(illegal.to_string()),
    }
}

/// The token at `contract` on `chain`, as the configuration knows it (the watchers read no
/// other).
fn token(app: &App, chain: ChainId, contract: Address) -> Option<Token> {
    let chain = app.config.registry.get(chain)?;
    chain
        .tokens
        .iter()
        .find(|t| t.contract == contract)
        .cloned()
}

/// A refund as its shopper sees it.
fn view(app: &App, refund: &Refund) -> RefundView {
    let token = token(app, refund.chain_id, refund.token);
    let chain = app.config.registry.get(refund.chain_id);
    let sent = refund.sent.as_ref();
    RefundView {
        id: refund.id.clone(),
        state: refund.state,
        amount: token.as_ref().map_or_else(
            || refund.amount_atomic.to_string(),
            |t| format_units(refund.amount_atomic, t.decimals),
        ),
        symbol: token.map(|t| t.symbol).unwrap_or_default(),
        network: app.network_name(refund.chain_id),
        chain_id: refund.chain_id,
        destination: refund.destination,
        proven: refund.proven(),
        sent_tx: sent.map(|s| s.tx.to_string()),
        explorer_url: sent.and_then(|s| chain?.transaction_url(s.tx.as_str())),
        confirmations: sent
            .and_then(|s| app.checkouts.confirmations(refund.chain_id, s.block_number)),
        reason: (refund.state == RefundState::Refused)
            .then(|| refund.reason.clone())
            .flatten(),
        // Signed once its transfer is seen.
        receipt_url: sent.map(|_| super::refund_receipt::refund_receipt_path(&refund.id)),
    }
}
