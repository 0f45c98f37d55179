//! Refunds: the list (a state to filter by, newest first, by pages), a refund's page (its source
//! payment, whether the paying wallet proved the request, and what may be done now), and the
//! operators' actions: approving (the checkouts' decision, under the payment's lock: of two
//! approvals at once that would together give back more than arrived, one wins), refusing with a
//! reason said to the shopper, starting a refund of a payment, and once approved the exact
//! transfer to pay from the merchant's own wallet. Its count of requests waiting is in the
//! navigation. The money rules are the refunds module's; here, the pages.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use usdt_checkout_protocol::{Address, ChainId, TxHash, format_units};

use super::auth::Signed;
use super::layout::{self, Section, query_value, state_label};
use super::{Console, Refusal};
use crate::app::App;
use crate::domain::{ChainPayment, Checkout};
use crate::refunds::{Refund, RefundState};
use crate::staff::Permission;
use crate::store::{Store, StoreError};

pub mod actions;
pub mod paste;
pub mod sandbox;
pub mod start;
pub mod transfer;
mod view;

/// Refunds a page lists.
const PAGE_SIZE: u32 = 50;

/// Why a refund to one of the shop's own receiving addresses is refused.
const OWN_ADDRESS: &str = "That address is one of the shop's own receiving addresses: a transfer \
     there would read as a payment and give nothing back. Give the address the refund should reach.";

/// What the navigation counts beside Refunds: the requests waiting for a decision.
pub async fn count(store: &Store) -> Result<u64, StoreError> {
    store.count_refunds(RefundState::Requested).await
}

/// `atomic` of the token `contract` on `chain`, as people read it ("1.5 USDT"); in atomic units
/// of the contract when the registry does not know the token.
pub fn units(app: &App, chain: ChainId, contract: Address, atomic: u128) -> String {
    let token = app
        .config
        .registry
        .get(chain)
        .and_then(|c| c.tokens.iter().find(|t| t.contract == contract));
    match token {
        Some(token) => format!("{} {}", format_units(atomic, token.decimals), token.symbol),
        None => format!("{atomic} units of token {contract}"),
    }
}

/// A transaction's hash, linked to its chain's explorer when it has one.
pub fn transaction(app: &App, chain: ChainId, tx: &TxHash) -> Markup {
    let url = app
        .config
        .registry
        .get(chain)
        .and_then(|c| c.transaction_url(tx.as_str()));
    html! {
        @if let Some(url) = url {
            a href=(url) rel="noreferrer noopener" { code.hash { (tx) } }
        } @else { code.hash { (tx) } }
    }
}

/// A refund's page's path.
pub fn path(id: &str) -> String {
    format!("/console/refunds/{}", query_value(id))
}

/// Whether the paying wallet proved the request, as a badge.
pub fn proof_badge(refund: &Refund) -> Markup {
    html! {
        @if refund.requested_by.is_some() {
            span.badge data-proof="merchant" { "Started by staff" }
        } @else if refund.proven() {
            span.badge data-proof="proven" { "Proven" }
        } @else {
            span.badge data-proof="unproven" { "Unproven" }
        }
    }
}

pub fn state_badge(state: RefundState) -> Markup {
    html! { span.state data-state=(state.as_str()) { (state_label(state.as_str())) } }
}

#[derive(Deserialize)]
pub struct RefundsQuery {
    #[serde(default)]
    state: String,
    /// The next page: the last refund seen's request (Unix ms) and id.
    before: Option<u64>,
    before_id: Option<String>,
}

/// The refunds, newest first, a page at a time.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    query: Result<Query<RefundsQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let Query(query) = query.map_err(|e| Refusal::bad_request(e.body_text()))?;
    let state = match query.state.as_str() {
        "" => None,
        name => Some(
            RefundState::from_name(name)
                .ok_or_else(|| Refusal::bad_request(format!("{name:?} is not a refund state")))?,
        ),
    };
    let before_id = query.before_id.unwrap_or_default();
    let before = query.before.map(|at| (at, before_id.as_str()));
    let mut refunds = console
        .store()
        .refunds_page(state, PAGE_SIZE + 1, before)
        .await?;
    let more = refunds.len() > PAGE_SIZE as usize;
    refunds.truncate(PAGE_SIZE as usize);
    let filter = format!("state={}", query_value(&query.state));
    let next = more.then(|| refunds.last()).flatten().map(|last| {
        format!(
            "/console/refunds?{filter}&before={}&before_id={}",
            last.requested_at,
            query_value(&last.id)
        )
    });
    let app = &console.app;
    let content = html! {
        p {
            "Shoppers ask for refunds from the checkout's page; operators start them from an \
             order's page or an unmatched payment. An approved refund is paid from your own \
             wallet, on the network and in the token the money arrived in."
        }
        form.filters method="get" action="/console/refunds" {
            p {
                label for="state" { "State" }
                select #state name="state" {
                    option value="" selected[state.is_none()] { "Any state" }
                    @for s in RefundState::ALL {
                        option value=(s.as_str()) selected[state == Some(s)] { (state_label(s.as_str())) }
                    }
                }
            }
            p { button type="submit" { "Show" } }
        }
        @if refunds.is_empty() {
            p.empty data-live-slot="refunds" { "No refunds match." }
        } @else {
            div.table role="region" aria-labelledby="refunds-caption" tabindex="0" data-live-slot="refunds" {
                table {
                    caption #refunds-caption { "Refunds, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Amount" }
                            th scope="col" { "State" }
                            th scope="col" { "Proof" }
                            th scope="col" { "Network" }
                            th scope="col" { "To" }
                            th scope="col" { "Order" }
                            th scope="col" { "Asked" }
                        }
                    }
                    tbody data-live="refunds" {
                        @for refund in &refunds {
                            tr data-key=(refund.id) {
                                td.amount {
                                    a href=(path(&refund.id)) {
                                        strong { (units(app, refund.chain_id, refund.token, refund.amount_atomic)) }
                                    }
                                }
                                td { (state_badge(refund.state)) }
                                td { (proof_badge(refund)) }
                                td { (app.network_name(refund.chain_id)) }
                                td { code.hash { (refund.destination) } }
                                td {
                                    @if let Some(id) = &refund.checkout_id {
                                        a href={ "/console/orders/" (query_value(id)) } { code { (id) } }
                                    } @else { "—" }
                                }
                                td { (layout::time(refund.requested_at)) }
                            }
                        }
                    }
                }
            }
        }
        @if before.is_some() || next.is_some() {
            nav.pages aria-label="Pages" {
                @if before.is_some() { a href={ "/console/refunds?" (filter) } { "Newest" } }
                @if let Some(next) = &next { a href=(next) rel="next" { "Older" } }
            }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Refunds,
        console.exceptions().await?,
        "Refunds",
        content,
    )
    .into_response())
}

/// The refund `id`, or a 404 page.
pub async fn find(console: &Console, id: &str) -> Result<Refund, Refusal> {
    console
        .store()
        .refund(id)
        .await?
        .ok_or_else(|| Refusal::not_found(format!("There is no refund {id:?}.")))
}

/// One refund.
pub async fn refund(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let refund = find(&console, &id).await?;
    view::render(&console, &signed, &refund, &view::Said::default()).await
}

/// The transfer that pays the refund `id`, as a QR code of its EIP-681 URI.
pub async fn qr(
    State(console): State<Arc<Console>>,
    _: Signed,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let refund = find(&console, &id).await?;
    let svg = transfer::qr_svg(&transfer::request(&refund).eip681()).ok_or_else(|| {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The transfer is too long for a QR code.",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// An order's refunds, for its page: each with its state, and for operators a way to start one
/// of each payment it received.
pub async fn of_order(
    console: &Console,
    signed: &Signed,
    checkout: &Checkout,
) -> Result<Markup, StoreError> {
    let app = &console.app;
    let refunds = console.store().refunds_of(&checkout.id).await?;
    let chain = checkout.terms.as_ref().map(|t| t.chain_id);
    let payments: Vec<&ChainPayment> = checkout.chain_payments.iter().collect();
    let may_act = signed.role.may(Permission::Act);
    Ok(html! {
        section #refunds aria-labelledby="refunds-heading" data-live-slot="order-refunds" {
            h2 #refunds-heading { "Refunds" }
            @if refunds.is_empty() {
                p.empty { "None asked or started." }
            } @else {
                ul.refund-list data-live="order-refunds" {
                    @for refund in &refunds {
                        li data-key=(refund.id) {
                            a href=(path(&refund.id)) {
                                (units(app, refund.chain_id, refund.token, refund.amount_atomic))
                            }
                            " " (state_badge(refund.state)) " " (proof_badge(refund))
                            " to " code.hash { (refund.destination) }
                        }
                    }
                }
            }
            @if may_act {
                @if let Some(chain) = chain {
                    @for payment in &payments {
                        p {
                            a.button href=(start::path(chain, &payment.tx_id, payment.log_index)) {
                                "Refund " (units(app, chain, payment.token, payment.value))
                                span.visually-hidden { " received in " (payment.tx_id) }
                            }
                        }
                    }
                }
            }
        }
    })
}
