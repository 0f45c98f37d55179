//! The HTTP API: for the widget (create a checkout, poll its status), for the storefront's
//! backend (create a checkout with its own total, list orders), and for the gateway (webhooks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::checkout::{
    self, CheckoutState, CheckoutView, CreateCheckout, MAX_LONG_POLL_SECONDS, StorefrontCheckout,
};
use usdt_checkout_protocol::gateway::HEADER_EVENT;
use usdt_checkout_protocol::receipt;
use usdt_checkout_protocol::signature::{Signed, secrets_equal};
use usdt_checkout_protocol::wallet_proof;

use usdt_checkout_protocol::{OrderStatus, format_units};

use crate::app::App;
use crate::checkouts::{Applied, Source};
use crate::claim::{self, Refusal};
use crate::clock::now_ms;
use crate::config::Item;
use crate::domain::{Checkout, CreatedBy, PaymentTerms, check_price};
use crate::error::ApiError;
use crate::limiter::SlidingWindow;
use crate::payment::{accepted_token, start_payment};
use crate::reconcile;
use crate::store::Claimed;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(checkout::PATH_CHECKOUTS, post(create_checkout))
        .route("/api/checkouts/{id}", get(get_checkout))
        .route("/api/checkouts/{id}/receipt", get(get_receipt))
        .route(
            &format!("/api/checkouts/{{id}}/{}", checkout::PATH_CLAIMS),
            post(claim_transaction),
        )
        .route(receipt::PATH_RECEIPT_KEY, get(receipt_key))
        .route(
            checkout::PATH_ADMIN_CHECKOUTS,
            post(create_storefront_checkout),
        )
        .route(checkout::PATH_ADMIN_ORDERS, get(list_orders))
        .route(PATH_ADMIN_UNMATCHED, get(list_unmatched))
        .route(PATH_ADMIN_REFUSED_REPORTS, get(list_refused_reports))
        .route(checkout::PATH_WEBHOOK, post(webhook))
        .route("/healthz", get(health))
}

/// Payments the chain showed into a receiving address that match no checkout.
pub const PATH_ADMIN_UNMATCHED: &str = "/api/admin/unmatched";

/// Gateway reports that named one of our order numbers but were about another order.
pub const PATH_ADMIN_REFUSED_REPORTS: &str = "/api/admin/refused-reports";

/// A JSON request body, declared as such: a `text/plain` POST is one a browser sends across
/// sites without asking first (no CORS preflight), so it is refused before it can make
/// anything.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !declared {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request body as application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// Counts one use by `key` in `window`, or refuses it (429 `code`, with when to try again).
fn within(
    window: &std::sync::Mutex<SlidingWindow>,
    key: &str,
    code: &'static str,
    message: &str,
) -> Result<(), ApiError> {
    let allowed = window.lock().expect("limiter lock").allow(key, now_ms());
    allowed.map_err(|wait_ms| {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            .retry_after(Some(Duration::from_millis(wait_ms)))
    })
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

fn valid_key(key: &str) -> bool {
    (8..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn create_checkout(
    State(app): State<Arc<App>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CheckoutView>), ApiError> {
    let request: CreateCheckout = json_body(&headers, &body)?;
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
        "too_many_checkouts",
        "too many checkouts asked for from this address; try again shortly",
    )?;
    // Refused before anything is written: a request for an item not for sale, or a network or
    // token the gateway does not take, must not leave a checkout behind.
    let item = match &request.item {
        Some(id) => Some(
            app.config
                .items
                .get(id)
                .ok_or_else(|| ApiError::bad_request(format!("no item {id:?} is for sale")))?,
        ),
        None => None,
    };
    let accepted = accepted_token(&app, request.chain_id, &request.symbol).await?;
    let checkout = checkout_for(&app, &request, item).await?;
    let started = start_payment(&app, checkout, accepted).await?;
    Ok((StatusCode::CREATED, Json(app.view(&started))))
}

/// The checkout a widget's request is for: a new one for a catalog item (the same one again for
/// the same idempotency key), or one the storefront created.
async fn checkout_for(
    app: &App,
    request: &CreateCheckout,
    item: Option<&Item>,
) -> Result<Checkout, ApiError> {
    match (item, &request.checkout_id) {
        (Some(item), None) => {
            let fresh = Checkout {
                idempotency_key: Some(request.idempotency_key.clone()),
                item_id: Some(item.id.clone()),
                ..Checkout::open(
                    new_id("co"),
                    CreatedBy::Widget,
                    item.name.clone(),
                    item.price.clone(),
                    item.currency.clone(),
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
        (None, Some(id)) => app
            .checkouts
            .fetch(id)
            .await?
            .ok_or_else(ApiError::not_found),
        _ => Err(ApiError::bad_request("name either an item or a checkoutId")),
    }
}

#[derive(Deserialize)]
struct PollQuery {
    /// Seconds to wait for a change when the client's ETag is current.
    wait: Option<u64>,
}

/// Answered from memory: never a gateway call, and a database read only for a checkout made
/// a moment ago on another server.
async fn get_checkout(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    poll: Result<Query<PollQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query(poll)?;
    let mut checkout = app
        .checkouts
        .find(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let seen = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let mut declined = false;
    if let Some(seen) = seen.filter(|tag| *tag == app.etag(&checkout))
        && let Some(wait) = query.wait.filter(|w| *w > 0)
    {
        match app.long_polls.hold() {
            Some(_held) => {
                let limit = Duration::from_secs(wait.min(MAX_LONG_POLL_SECONDS));
                checkout = app
                    .wait_for_change(&id, seen, limit)
                    .await
                    .ok_or_else(ApiError::not_found)?;
            }
            // As many polls held as the server can: answered now, to ask again shortly.
            None => declined = true,
        }
    }
    let tag = app.etag(&checkout);
    let mut response = if seen == Some(tag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(app.view(&checkout)).into_response()
    };
    let headers = response.headers_mut();
    if declined {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&tag).expect("digits, letters and quotes"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// "I already paid": the shopper names the transaction that pays this checkout. It is read on
/// every watched chain and attached if it pays this checkout (see [`crate::claim`]); the answer
/// is the checkout's view, or why not, with what was found in `params`.
async fn claim_transaction(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CheckoutView>, ApiError> {
    let request: checkout::ClaimRequest = json_body(&headers, &body)?;
    let checkout = app
        .checkouts
        .find(&id)
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
            checkout::ERROR_TX_HASH_INVALID,
            "a transaction hash is 0x and 64 hexadecimal digits",
        )
    })?;
    within(
        &app.claims,
        &id,
        checkout::ERROR_TOO_MANY_CLAIMS,
        "too many claims for this checkout; try again later",
    )?;
    let mut found = vec![];
    for (chain, client) in &app.chains {
        let lookup = client.lookup(&hash).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chain_unavailable",
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
    let message = wallet_proof::claim_message(&id, &hash);
    let proven = match request.signature.as_deref() {
        None => false,
        Some(signature) => {
            let signer = wallet_proof::signer(&message, signature).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    checkout::ERROR_CLAIM_SIGNATURE_INVALID,
                    e.to_string(),
                )
            })?;
            if signer != payment.from {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    checkout::ERROR_CLAIM_NOT_SENDER,
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
                checkout::ERROR_TX_CREDITED_ELSEWHERE,
                "this transaction already counts for another order",
            ));
        }
        Claimed::AnotherOrdersAsk(_) => {
            return Err(unprocessable(
                checkout::ERROR_TX_PAYS_ANOTHER_ORDER,
                "this transaction sent exactly what another order asks: it pays that order",
            ));
        }
        Claimed::UnderReview => {
            return Err(ApiError::new(
                StatusCode::ACCEPTED,
                checkout::ERROR_CLAIM_UNDER_REVIEW,
                "kept for the merchant to check: nothing is credited until they do, or until \
                 the wallet that sent it signs the message",
            )
            .with("sender", payment.from.to_string())
            .with("message", message));
        }
    }
    let checkout = app.checkouts.get(&id).ok_or_else(ApiError::not_found)?;
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
                checkout::ERROR_TX_NOT_FOUND,
                format!("no transaction with this hash on {networks}"),
            )
            .with("networks", networks)
        }
        Refusal::NotMined => error(
            checkout::ERROR_TX_NOT_MINED,
            "this transaction is not mined yet; try again in a minute".into(),
        ),
        Refusal::Failed => error(
            checkout::ERROR_TX_FAILED,
            "this transaction failed on chain: nothing was sent".into(),
        ),
        Refusal::WrongChain(chain) => {
            let (network, expected) = (app.network_name(chain), app.network_name(terms.chain_id));
            error(
                checkout::ERROR_TX_WRONG_CHAIN,
                format!("this transaction is on {network}; this order asked for {expected}"),
            )
            .with("network", network)
            .with("expected", expected)
        }
        Refusal::WrongToken => error(
            checkout::ERROR_TX_WRONG_TOKEN,
            format!("this transaction sent another token, not {}", terms.symbol),
        )
        .with("symbol", terms.symbol.clone()),
        Refusal::WrongRecipient(to) => error(
            checkout::ERROR_TX_WRONG_RECIPIENT,
            format!("this transaction paid {to}, not this order's address"),
        )
        .with("address", to.to_string()),
        Refusal::AmountDiffers { sent, asked } => error(
            checkout::ERROR_TX_AMOUNT_DIFFERS,
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
            checkout::ERROR_TX_BEFORE_ORDER,
            "this transaction was mined before this order was made".into(),
        ),
    }
}

/// The signed receipt of a paid checkout, to keep (saved as a file by the browser).
async fn get_receipt(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let checkout = app
        .checkouts
        .find(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let receipt = app.receipt(&checkout).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_paid",
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
async fn receipt_key(State(app): State<Arc<App>>) -> Json<receipt::ReceiptKey> {
    Json(receipt::ReceiptKey {
        algorithm: "ES256".into(),
        public_key: app.receipt_key.public_key().to_base64_spki(),
    })
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
    if !secrets_equal(expected, given) {
        return Err(ApiError::unauthorized(
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
    let request: StorefrontCheckout = json_body(&headers, &body)?;
    check_price(&request.amount, &request.currency, &app.config.registry)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if request.description.trim().is_empty() {
        return Err(ApiError::bad_request("description is required"));
    }
    payable(&app, &request.currency).await?;
    let checkout = Checkout {
        reference: request.reference,
        ..Checkout::open(
            new_id("co"),
            CreatedBy::Storefront,
            request.description,
            request.amount,
            request.currency,
        )
    };
    let stored = app.checkouts.open(&checkout).await?;
    Ok((StatusCode::CREATED, Json(app.view(&stored))))
}

/// Refuses a fiat currency no accepted token has a rate in (`XYZ`, or `usd` for `USD`): a
/// checkout priced in it could never be paid, and would answer `no_rate` to every shopper.
async fn payable(app: &App, currency: &str) -> Result<(), ApiError> {
    let registry = &app.config.registry;
    let mut symbols: Vec<&str> = registry
        .chains()
        .flat_map(|c| c.tokens.iter().map(|t| t.symbol.as_str()))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    if symbols.contains(&currency) {
        return Ok(());
    }
    for symbol in symbols {
        let rate = app
            .catalog
            .rate(&app.gateway, &app.config.rates, symbol, currency)
            .await
            .map_err(|e| ApiError::from(crate::payment::StartError::Gateway(e)))?;
        if rate.is_some() {
            return Ok(());
        }
    }
    Err(ApiError::bad_request(format!(
        "currency {currency:?}: no token has a rate in it, so this checkout could never be paid"
    )))
}

#[derive(Deserialize)]
struct OrdersQuery {
    state: Option<String>,
    limit: Option<u32>,
    /// The next page: the last order seen's `createdAt` (Unix ms) and, so that orders made in
    /// the same millisecond are not skipped, its `id`.
    before: Option<u64>,
    #[serde(rename = "beforeId")]
    before_id: Option<String>,
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<u32>,
}

/// A checkout as the merchant sees it: the shopper's view, what the gateway said, what the
/// chain showed, and where they disagree.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminOrder {
    #[serde(flatten)]
    view: CheckoutView,
    /// Unix ms; with `id`, where the next page starts.
    created_at: u64,
    gateway_status: Option<&'static str>,
    /// The gateway's own id for the order (`platOrderNo`, V2's `id`), once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_order_id: Option<String>,
    chain_payments: Vec<AdminPayment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disagreement: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminPayment {
    chain_id: u64,
    tx_hash: String,
    log_index: u64,
    block_number: u64,
    from: String,
    to: String,
    token: String,
    amount_atomic: String,
    mined_at: u64,
    /// Checkouts on other chains waiting at this address when it was mined: their shoppers
    /// may have sent it on the wrong network. Flagged, never counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    wrong_network_for: Vec<String>,
    /// Shoppers claimed it for their checkouts without the sender's proof, oldest first: the
    /// merchant decides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    claims: Vec<UnprovenClaim>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnprovenClaim {
    checkout_id: String,
    /// Unix ms.
    requested_at: u64,
    /// Always false here: a proven claim is attached, not listed.
    proven: bool,
}

impl AdminPayment {
    fn new(chain: u64, payment: &crate::domain::ChainPayment) -> Self {
        Self {
            chain_id: chain,
            tx_hash: payment.tx_id.clone(),
            log_index: payment.log_index,
            block_number: payment.block_number,
            from: payment.from.to_string(),
            to: payment.to.to_string(),
            token: payment.token.to_string(),
            amount_atomic: payment.value.to_string(),
            mined_at: payment.timestamp_ms,
            wrong_network_for: vec![],
            claims: vec![],
        }
    }
}

async fn list_unmatched(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    listing: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<AdminPayment>>, ApiError> {
    admin(&app, &headers)?;
    let limit = query(listing)?.limit.unwrap_or(500).clamp(1, 10_000);
    let unmatched = app.checkouts.unmatched(limit).await?;
    let mut claims = app.checkouts.claims_under_review().await?;
    Ok(Json(
        unmatched
            .iter()
            .map(|(chain, payment)| AdminPayment {
                wrong_network_for: app.checkouts.wrong_network_for(*chain, payment),
                claims: claims
                    .remove(&(chain.0, payment.tx_id.clone(), payment.log_index))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(checkout_id, requested_at)| UnprovenClaim {
                        checkout_id,
                        requested_at,
                        proven: false,
                    })
                    .collect(),
                ..AdminPayment::new(chain.0, payment)
            })
            .collect(),
    ))
}

async fn list_refused_reports(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    listing: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<crate::store::RefusedReport>>, ApiError> {
    admin(&app, &headers)?;
    let limit = query(listing)?.limit.unwrap_or(500).clamp(1, 10_000);
    Ok(Json(app.checkouts.refused_reports(limit).await?))
}

async fn list_orders(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    listing: Result<Query<OrdersQuery>, QueryRejection>,
) -> Result<Json<Vec<AdminOrder>>, ApiError> {
    admin(&app, &headers)?;
    let query = query(listing)?;
    let state = query
        .state
        .as_deref()
        .map(|name| {
            CheckoutState::from_name(name).ok_or_else(|| {
                ApiError::bad_request(format!("state {name:?} is not a checkout state"))
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    if query.before_id.is_some() && query.before.is_none() {
        return Err(ApiError::bad_request(
            "beforeId needs before, the createdAt of the same order",
        ));
    }
    let before = query.before.map(|at| (at, query.before_id));
    let list = app.checkouts.list(state, limit, before).await?;
    Ok(Json(
        list.iter()
            .map(|listed| {
                // The cache holds the chain payments; the list query does not read them.
                let checkout = app
                    .checkouts
                    .get(&listed.id)
                    .map_or_else(|| listed.clone(), |c| c.as_ref().clone());
                let chain = checkout.terms.as_ref().map_or(0, |t| t.chain_id.0);
                AdminOrder {
                    view: app.view(&checkout),
                    created_at: checkout.created_at,
                    gateway_status: checkout.gateway.status.map(|s| s.as_str()),
                    gateway_order_id: checkout
                        .terms
                        .as_ref()
                        .map(|t| t.plat_order_no.clone())
                        .filter(|id| !id.is_empty()),
                    chain_payments: checkout
                        .chain_payments
                        .iter()
                        .map(|p| AdminPayment::new(chain, p))
                        .collect(),
                    disagreement: checkout.disagreement.clone(),
                }
            })
            .collect(),
    ))
}

/// The gateway's webhook: verified (signature and freshness) before anything else, read in the
/// gateway's dialect, applied once however often it arrives, answered 200 so the gateway stops
/// retrying. An event that is not about a payment (a payout) is acknowledged and ignored.
async fn webhook(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("body is not UTF-8"))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    app.config
        .webhook_verifier
        .verify_request(header, Signed::Body(body), now_ms())?;
    let report = app
        .gateway
        .dialect()
        .webhook(header(HEADER_EVENT), body)
        .map_err(ApiError::bad_request)?;
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

/// How long `/healthz` waits for the database to answer before it says it is unavailable.
const HEALTH_PING: Duration = Duration::from_secs(2);

/// `ok`, or `degraded` while a background worker failed in the last minutes (it is being
/// restarted; `workers` says which, how often, and why), while the database does not answer
/// (`database.available`) or refuses writes, or a watched chain is stuck.
async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let failing = app.checkouts.write_health().failing();
    let now = now_ms();
    let chains = app.checkouts.chain_health.report(now);
    let stuck = chains
        .values()
        .any(|c| c.state == crate::chain_health::State::Stuck);
    // Asked now, briefly: a database that stopped shows here even while nothing is written.
    let unavailable = match &app.store {
        None => None,
        Some(store) => match tokio::time::timeout(HEALTH_PING, store.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} s", HEALTH_PING.as_secs())),
        },
    };
    let degraded = app.workers.degraded(now) || failing.is_some() || stuck || unavailable.is_some();
    let mut database = match failing {
        // Failing until a write succeeds again.
        None => serde_json::json!({"writes": "ok"}),
        Some((at, error)) => serde_json::json!({
            "writes": "failing",
            "lastFailure": {"at": at, "error": error},
        }),
    };
    database["available"] = unavailable.is_none().into();
    if let Some(error) = unavailable {
        database["error"] = error.into();
    }
    Json(serde_json::json!({
        "status": if degraded { "degraded" } else { "ok" },
        "database": database,
        "workers": app.workers.report(),
        // The chains this server watches (another server may watch the others: `roles`).
        "chains": chains
            .iter()
            .map(|(chain, report)| (chain.0.to_string(), report))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "gateway": app.gateway.health(),
        // Every gateway call paused after a 429 or 418 (new checkouts refused), until when.
        "gatewayPause": app.gateway.paused_until().map(|until| serde_json::json!({
            "until": until,
            "reason": match app.gateway.health() {
                usdt_checkout_protocol::checkout::GatewayHealth::Blocked { .. } => "blocked",
                _ => "rate_limited",
            },
        })),
        "gatewayCallsInLastMinute": app.gateway.calls_in_last_minute(),
        "gatewayRateLimitRefusals": app.gateway.rate_limit_refusals(),
        "roles": app.roles.held(),
        // Status polls held open now, and how many may be (past it, answered at once).
        "longPolls": {"held": app.long_polls.held(), "cap": app.long_polls.cap()},
    }))
}
