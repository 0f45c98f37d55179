//! The storefront's backend and the merchant: create a checkout with the storefront's own total,
//! list orders, unmatched payments and refused gateway reports. Every route here is behind the
//! admin bearer token, checked once by [`require_admin`] on all of them (a `route_layer`), not
//! by each handler.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::checkout::{
    self, CheckoutState, CheckoutView, ErrorCode, StorefrontCheckout,
};
use usdt_checkout_protocol::signature::secrets_equal;

use super::{ApiJson, new_id, pay, query};
use crate::app::App;
use crate::domain::{Checkout, CreatedBy, Price};
use crate::error::ApiError;
use crate::routes::Table;

/// Payments the chain showed into a receiving address that match no checkout.
pub const PATH_ADMIN_UNMATCHED: &str = "/api/admin/unmatched";

/// Gateway reports that named one of our order numbers but were about another order.
pub const PATH_ADMIN_REFUSED_REPORTS: &str = "/api/admin/refused-reports";

/// The admin routes, each behind the admin token.
pub fn routes(app: Arc<App>) -> Router<Arc<App>> {
    table()
        .router
        .route_layer(axum::middleware::from_fn_with_state(app, require_admin))
}

/// Every admin route's method and path, read from the table [`routes`] is built from: a test
/// walks them all, so a route added here cannot go without the token unnoticed.
pub fn endpoints() -> Vec<(Method, &'static str)> {
    table().endpoints
}

fn table() -> Table<Arc<App>> {
    Table::default()
        .route(
            Method::POST,
            checkout::PATH_ADMIN_CHECKOUTS,
            create_storefront_checkout,
        )
        .route(Method::GET, checkout::PATH_ADMIN_ORDERS, list_orders)
        .route(Method::GET, PATH_ADMIN_UNMATCHED, list_unmatched)
        .route(
            Method::GET,
            PATH_ADMIN_REFUSED_REPORTS,
            list_refused_reports,
        )
}

/// The admin API's gate: off (404) when no `admin.token` is set, else only for a request
/// whose `Authorization: Bearer` token is the configured one (compared in constant time), 401
/// otherwise. Runs before the handler, so a refused request's body is never read.
pub(crate) async fn require_admin(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    admitted(&app, request.headers())?;
    Ok(next.run(request).await)
}

fn admitted(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = app.config.admin_token.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
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

/// A checkout made through the admin API, as the shopper sees it; for a payment link, with the
/// page where it is paid and its end (`linkExpiresAt`: the view's `expiresAt` is its order's).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(flatten)]
    view: CheckoutView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pay_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_expires_at: Option<u64>,
}

async fn create_storefront_checkout(
    State(app): State<Arc<App>>,
    ApiJson(request): ApiJson<StorefrontCheckout>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    if request.link || request.expires_at.is_some() {
        return create_link(&app, &request).await;
    }
    let price = Price::parse(&request.amount, &request.currency, &app.config.registry)
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
            price,
        )
    };
    let stored = app.checkouts.open(&checkout).await?;
    let created = Created {
        view: app.view(&stored),
        pay_url: None,
        link_expires_at: None,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// A payment link (see the links module): checked as the console checks one, audited as the
/// admin API's.
async fn create_link(
    app: &App,
    request: &StorefrontCheckout,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let asked = crate::links::Asked {
        amount: &request.amount,
        currency: &request.currency,
        description: &request.description,
        reference: request.reference.as_deref(),
        expires_at: request.expires_at,
    };
    let new = crate::links::NewLink::parse(asked, crate::clock::now_ms(), &app.config.registry)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    payable(app, &new.price.currency).await?;
    let entry = crate::store::AuditEntry {
        at: crate::clock::now_ms(),
        actor: "admin API".into(),
        action: "link.create".into(),
        ..Default::default()
    };
    let (stored, link) = pay::open_link(app, new, crate::links::Via::Api, entry).await?;
    let created = Created {
        view: app.view(&stored),
        pay_url: Some(pay::pay_url(app, &stored.id)),
        link_expires_at: link.expires_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Whether a checkout priced in `currency` could be paid: it is a token's symbol, or some
/// accepted token has a rate in it (asking the gateway's rates when they come from there).
pub(crate) async fn payable_in(
    app: &App,
    currency: &str,
) -> Result<bool, crate::payment::StartError> {
    let registry = &app.config.registry;
    let mut symbols: Vec<&str> = registry
        .chains()
        .flat_map(|c| c.tokens.iter().map(|t| t.symbol.as_str()))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    if symbols.contains(&currency) {
        return Ok(true);
    }
    for symbol in symbols {
        let rate = app
            .catalog
            .rate(&app.gateway, &app.config.rates, symbol, currency)
            .await
            .map_err(crate::payment::StartError::Gateway)?;
        if rate.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Refuses a fiat currency no accepted token has a rate in (`XYZ`, or `usd` for `USD`): a
/// checkout priced in it could never be paid, and would answer `no_rate` to every shopper.
async fn payable(app: &App, currency: &str) -> Result<(), ApiError> {
    if payable_in(app, currency).await? {
        return Ok(());
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
    tx_hash: usdt_checkout_protocol::TxHash,
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
    listing: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<AdminPayment>>, ApiError> {
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
    listing: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<crate::store::RefusedReport>>, ApiError> {
    let limit = query(listing)?.limit.unwrap_or(500).clamp(1, 10_000);
    Ok(Json(app.checkouts.refused_reports(limit).await?))
}

async fn list_orders(
    State(app): State<Arc<App>>,
    listing: Result<Query<OrdersQuery>, QueryRejection>,
) -> Result<Json<Vec<AdminOrder>>, ApiError> {
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
                    .cached(&listed.id)
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
