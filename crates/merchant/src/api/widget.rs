//! The widget's routes: create a checkout (for a catalog item, or one the storefront made),
//! poll its status, claim a transaction for it ("I already paid"), and its signed receipt.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use usdt_checkout_protocol::checkout::{
    self, CheckoutState, CheckoutView, CreateCheckout, ErrorCode, MAX_LONG_POLL_SECONDS,
};
use usdt_checkout_protocol::receipt;
use usdt_checkout_protocol::wallet_proof;
use usdt_checkout_protocol::{OrderStatus, format_units};

use super::{ApiJson, new_id, query};
use crate::app::App;
use crate::claim::{self, Refusal};
use crate::clock::now_ms;
use crate::config::Item;
use crate::domain::{Checkout, CreatedBy, PaymentTerms, Price};
use crate::error::ApiError;
use crate::limiter::SlidingWindow;
use crate::payment::{accepted_token, priced, start_payment};
use crate::store::Claimed;

/// Counts one use by `key` in `window`, or refuses it (429 `code`, with when to try again).
pub(super) fn within(
    window: &std::sync::Mutex<SlidingWindow>,
    key: &str,
    code: ErrorCode,
    message: &str,
) -> Result<(), ApiError> {
    let allowed = window.lock().expect("limiter lock").allow(key, now_ms());
    allowed.map_err(|wait_ms| {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            .retry_after(Some(Duration::from_millis(wait_ms)))
    })
}

fn valid_key(key: &str) -> bool {
    (8..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(super) async fn create_checkout(
    State(app): State<Arc<App>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateCheckout>,
) -> Result<(StatusCode, Json<CheckoutView>), ApiError> {
    if !valid_key(&request.idempotency_key) {
        return Err(ApiError::bad_request(
            "idempotencyKey must be 8 to 128 letters, digits, '-' or '_'",
        ));
    }
    // Keyed by the client's address (its /64 for IPv6): the connecting one, or behind a trusted
    // proxy the one it forwards.
    let client = client.map_or_else(String::new, |Extension(ConnectInfo(at))| {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            // A value that is not text is no address: it stops the walk.
            .map(|v| v.to_str().unwrap_or("?"));
        crate::limiter::client_key(at.ip(), forwarded, &app.config.trusted_proxies)
    });
    within(
        &app.creations,
        &client,
        ErrorCode::TooManyCheckouts,
        "too many checkouts asked for from this address; try again shortly",
    )?;
    // Refused before anything is written: a request for an item not for sale, or a network or
    // token the gateway does not take, must not leave a checkout behind. What the request is for
    // is read first: it needs nothing of the gateway.
    let target = target(&app, &request)?;
    if let Target::Checkout(id) = target {
        super::pay::refuse_expired(&app, id).await?;
    }
    let offer = accepted_token(&app, request.chain_id, &request.symbol).await?;
    let checkout = checkout_for(&app, &request, target).await?;
    let price = async |price: &Price| priced(&app, price, &offer.token).await;
    let started = start_payment(&app.checkouts, &app.gateway, checkout, &offer, price).await?;
    Ok((StatusCode::CREATED, Json(app.view(&started))))
}

/// What a widget's request is for: an item of the catalog, or a checkout the storefront made.
enum Target<'a> {
    Item(&'a Item),
    Checkout(&'a str),
}

/// The request's [`Target`]: exactly one of `item` and `checkoutId`, an item being for sale.
fn target<'a>(app: &'a App, request: &'a CreateCheckout) -> Result<Target<'a>, ApiError> {
    match (&request.item, &request.checkout_id) {
        (Some(id), None) => app
            .config
            .items
            .get(id)
            .map(Target::Item)
            .ok_or_else(|| ApiError::bad_request(format!("no item {id:?} is for sale"))),
        (None, Some(id)) => Ok(Target::Checkout(id)),
        _ => Err(ApiError::bad_request("name either an item or a checkoutId")),
    }
}

/// The checkout a widget's request is for: a new one for a catalog item (the same one again for
/// the same idempotency key), or one the storefront created.
async fn checkout_for(
    app: &App,
    request: &CreateCheckout,
    target: Target<'_>,
) -> Result<Checkout, ApiError> {
    match target {
        Target::Item(item) => {
            let fresh = Checkout {
                idempotency_key: Some(request.idempotency_key.clone()),
                item_id: Some(item.id.clone()),
                ..Checkout::open(
                    new_id("co"),
                    CreatedBy::Widget,
                    item.name.clone(),
                    item.price.clone(),
                )
            };
            let stored = app.checkouts.open(&fresh).await?;
            if stored.item_id.as_deref() != Some(item.id.as_str()) {
                return Err(ApiError::conflict(
                    "this idempotencyKey was used for another item",
                ));
            }
            Ok(stored)
        }
        Target::Checkout(id) => app
            .checkouts
            .reload(id)
            .await?
            .ok_or_else(ApiError::not_found),
    }
}

#[derive(Deserialize)]
pub(super) struct PollQuery {
    /// Seconds to wait for a change when the client's ETag is current.
    wait: Option<u64>,
}

/// Answered from memory: never a gateway call, and a database read only for a checkout made
/// a moment ago on another server. The view's bytes and ETag are rendered once per change of
/// what it shows, and shared by every poll that answers with them.
pub(super) async fn get_checkout(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    poll: Result<Query<PollQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query(poll)?;
    let checkout = app
        .checkouts
        .load(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // Only the tag is kept, not the request's headers, for as long as the poll is held.
    let seen = headers.get(header::IF_NONE_MATCH).cloned();
    drop(headers);
    let seen = seen.as_ref().map(HeaderValue::as_bytes);
    let mut rendered = app.rendered(&checkout, &app.checkouts.views().slot(&id));
    drop(checkout);
    let mut declined = false;
    if let Some(tag) = seen.filter(|tag| *tag == rendered.etag)
        && let Some(wait) = query.wait.filter(|w| *w > 0)
    {
        match app.long_polls.hold() {
            Some(_held) => {
                let limit = Duration::from_secs(wait.min(MAX_LONG_POLL_SECONDS));
                // A stopping server answers with the view it has: the widget asks again.
                let changed = app.wait_for_change(&id, tag, limit);
                if let Some(changed) = app.long_polls.unless_stopping(changed).await {
                    rendered = changed.ok_or_else(ApiError::not_found)?;
                }
            }
            // As many polls held as the server can: answered now, to ask again shortly.
            None => declined = true,
        }
    }
    let mut response = if seen == Some(&rendered.etag[..]) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            rendered.body(now_ms()),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if declined {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    headers.insert(
        header::ETAG,
        HeaderValue::from_maybe_shared(rendered.etag.clone()).expect("digits, letters and quotes"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// "I already paid": the shopper names the transaction that pays this checkout. It is read on
/// every watched chain and attached if it pays this checkout (see [`crate::claim`]); the answer
/// is the checkout's view, or why not, with what was found in `params`.
pub(super) async fn claim_transaction(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<checkout::ClaimRequest>,
) -> Result<Json<CheckoutView>, ApiError> {
    let checkout = app
        .checkouts
        .load(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let terms = checkout.terms.clone().ok_or_else(|| {
        ApiError::conflict("choose a network and token first: this checkout has no order yet")
    })?;
    if matches!(
        checkout.state,
        CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate | OrderStatus::Failed)
    ) {
        return Err(ApiError::conflict(format!(
            "this checkout is {}: nothing more is attached to it",
            checkout.state.as_str()
        )));
    }
    let hash = claim::parse_tx_hash(&request.tx_hash).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::TxHashInvalid,
            "a transaction hash is 0x and 64 hexadecimal digits",
        )
    })?;
    within(
        &app.claims,
        &id,
        ErrorCode::TooManyClaims,
        "too many claims for this checkout; try again later",
    )?;
    let mut found = vec![];
    for (chain, client) in &app.chains {
        let lookup = client.lookup(&hash).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ChainUnavailable,
                format!(
                    "{} cannot be read right now; try again",
                    app.network_name(*chain)
                ),
            )
            .retry_after(Some(Duration::from_secs(10)))
            .logged(e)
        })?;
        found.push((*chain, lookup));
    }
    let remaining = checkout.remaining_atomic.unwrap_or(terms.pay_amount_atomic);
    let payment = claim::judge(
        &terms,
        checkout.created_at,
        remaining,
        &checkout.chain_payments,
        &found,
    )
    .map_err(|refusal| refused(&app, &terms, refusal))?;
    let already = checkout.chain_payments.iter().any(|p| p.same_log(&payment));
    // The hash is public: only the sending wallet's signature says the claimant sent it.
    let message = wallet_proof::claim_message(&id, hash.as_str());
    let proven = match request.signature.as_deref() {
        None => false,
        Some(signature) => {
            let signer = wallet_proof::signer(&message, signature).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::ClaimSignatureInvalid,
                    e.to_string(),
                )
            })?;
            if signer != payment.from {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::ClaimNotSender,
                    format!(
                        "this transaction was sent by {}; the signature is by {signer}",
                        payment.from
                    ),
                )
                .with("sender", payment.from.to_string())
                .with("signer", signer.to_string()));
            }
            true
        }
    };
    let claimed = match already {
        true => Claimed::Already,
        false => {
            app.checkouts
                .attach_claimed(&id, terms.chain_id, &payment, proven)
                .await?
        }
    };
    let unprocessable =
        |code, message: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    match claimed {
        Claimed::Attached | Claimed::Already => {}
        Claimed::Elsewhere(_) => {
            return Err(unprocessable(
                ErrorCode::TxCreditedElsewhere,
                "this transaction already counts for another order",
            ));
        }
        Claimed::AnotherOrdersAsk(_) => {
            return Err(unprocessable(
                ErrorCode::TxPaysAnotherOrder,
                "this transaction sent exactly what another order asks: it pays that order",
            ));
        }
        Claimed::UnderReview => {
            return Err(ApiError::new(
                StatusCode::ACCEPTED,
                ErrorCode::ClaimUnderReview,
                "kept for the merchant to check: nothing is credited until they do, or until \
                 the wallet that sent it signs the message",
            )
            .with("sender", payment.from.to_string())
            .with("message", message));
        }
    }
    let checkout = app.checkouts.cached(&id).ok_or_else(ApiError::not_found)?;
    Ok(Json(app.view(&checkout)))
}

/// A claim's refusal, said precisely, with what the widget needs to say it in its language.
fn refused(app: &App, terms: &PaymentTerms, refusal: Refusal) -> ApiError {
    let units = |atomic| format_units(atomic, terms.decimals);
    let error =
        |code, message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    match refusal {
        Refusal::NotFound => {
            let networks: Vec<String> = app.chains.iter().map(|(c, _)| app.network_name(*c)).collect();
            let networks = networks.join(", ");
            error(
                ErrorCode::TxNotFound,
                format!("no transaction with this hash on {networks}"),
            )
            .with("networks", networks)
        }
        Refusal::NotMined => error(
            ErrorCode::TxNotMined,
            "this transaction is not mined yet; try again in a minute".into(),
        ),
        Refusal::Failed => error(
            ErrorCode::TxFailed,
            "this transaction failed on chain: nothing was sent".into(),
        ),
        Refusal::WrongChain(chain) => {
            let (network, expected) = (app.network_name(chain), app.network_name(terms.chain_id));
            error(
                ErrorCode::TxWrongChain,
                format!("this transaction is on {network}; this order asked for {expected}"),
            )
            .with("network", network)
            .with("expected", expected)
        }
        Refusal::WrongToken => error(
            ErrorCode::TxWrongToken,
            format!("this transaction sent another token, not {}", terms.symbol),
        )
        .with("symbol", terms.symbol.clone()),
        Refusal::WrongRecipient(to) => error(
            ErrorCode::TxWrongRecipient,
            format!("this transaction paid {to}, not this order's address"),
        )
        .with("address", to.to_string()),
        Refusal::AmountDiffers { sent, asked } => error(
            ErrorCode::TxAmountDiffers,
            format!(
                "this transaction sent {} {symbol}, {} {symbol} more than the {} {symbol} this order still asks",
                units(sent),
                units(sent - asked),
                units(asked),
                symbol = terms.symbol
            ),
        )
        .with("sent", units(sent))
        .with("asked", units(asked))
        .with("difference", units(sent - asked))
        .with("symbol", terms.symbol.clone()),
        Refusal::BeforeOrder => error(
            ErrorCode::TxBeforeOrder,
            "this transaction was mined before this order was made".into(),
        ),
    }
}

/// The signed receipt of a paid checkout, to keep (saved as a file by the browser).
pub(super) async fn get_receipt(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let checkout = app
        .checkouts
        .load(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let receipt = app.receipt(&checkout).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::NotPaid,
            "a receipt is issued once the checkout is paid",
        )
    })?;
    let mut response = Json(receipt.sign(&app.receipt_key)).into_response();
    let disposition = format!("attachment; filename=\"receipt-{}.json\"", checkout.id);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The public key receipts are checked with.
pub(super) async fn receipt_key(State(app): State<Arc<App>>) -> Json<receipt::ReceiptKey> {
    Json(receipt::ReceiptKey {
        algorithm: "ES256".into(),
        public_key: app.receipt_key.public_key().to_base64_spki(),
    })
}
