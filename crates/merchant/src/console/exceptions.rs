//! The exception queue: every kind of exception (see the rules module for what each is), a
//! section each, newest first, with what resolves each row: attaching a payment to its order,
//! resending a fulfillment delivery, marking it resolved with a note. Their count is in the
//! navigation; resolved ones leave the queue and the count, and are listed on their own page.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use usdt_checkout_protocol::{ChainId, format_units};

use super::auth::Signed;
use super::layout::{self, Section, query_value, state_label};
use super::{Console, Refusal};
use crate::domain::{ChainPayment, Checkout};
use crate::staff::Permission;
use crate::store::{FailingDelivery, Store, StoreError};

pub mod actions;
pub mod attach;
pub mod rules;

use rules::Kind;

/// Rows a section reads at most, newest first.
const LISTED: u32 = 200;

/// A payment that matches no order, with whose it may be.
pub struct PaymentRow {
    pub kind: Kind,
    pub chain: ChainId,
    pub payment: ChainPayment,
    /// The orders whose shoppers claimed it.
    pub claimants: Vec<String>,
    /// The orders on other networks that waited where it went (wrong-network rows).
    pub waiting_elsewhere: Vec<String>,
}

/// The queue as it is now: only what is not resolved.
pub struct Queue {
    pub payments: Vec<PaymentRow>,
    pub orders: Vec<(Kind, Checkout)>,
    pub deliveries: Vec<FailingDelivery>,
}

impl Queue {
    /// Every row, as the queue gathers them, not resolved.
    pub async fn gather(store: &Store) -> Result<Self, StoreError> {
        let resolved = store.resolved_keys().await?;
        let mut claims = store.claims_under_review().await?;
        let mut payments = vec![];
        for (chain, payment) in store.unmatched(LISTED).await? {
            if resolved.contains(&rules::payment_key(
                chain,
                &payment.tx_id,
                payment.log_index,
            )) {
                continue;
            }
            let waiting = store.waiting_elsewhere(chain, &payment).await?;
            let kind = if rules::wrong_network(chain, &payment, &waiting) {
                Kind::WrongNetwork
            } else {
                Kind::Unmatched
            };
            let claimants = claims
                .remove(&(chain.0, payment.tx_id.clone(), payment.log_index))
                .unwrap_or_default();
            payments.push(PaymentRow {
                kind,
                chain,
                claimants: claimants.into_iter().map(|(id, _)| id).collect(),
                waiting_elsewhere: waiting.into_iter().map(|o| o.id).collect(),
                payment,
            });
        }
        Ok(Self {
            payments,
            orders: order_rows(store, &resolved).await?,
            deliveries: delivery_rows(store, &resolved).await?,
        })
    }

    /// The kind and subject of the open exception with `key`, if there is one.
    pub fn find(&self, key: &str) -> Option<(Kind, String)> {
        let payment = self.payments.iter().find_map(|row| {
            (rules::payment_key(row.chain, &row.payment.tx_id, row.payment.log_index) == key)
                .then(|| (row.kind, row.payment.tx_id.to_string()))
        });
        let order = || {
            self.orders.iter().find_map(|(kind, order)| {
                (rules::order_key(*kind, &order.id) == key).then(|| (*kind, order.id.clone()))
            })
        };
        let delivery = || {
            self.deliveries.iter().find_map(|d| {
                (rules::delivery_key(&d.event_id) == key)
                    .then(|| (Kind::FailedDelivery, d.checkout_id.clone()))
            })
        };
        payment.or_else(order).or_else(delivery)
    }
}

async fn order_rows(
    store: &Store,
    resolved: &HashSet<String>,
) -> Result<Vec<(Kind, Checkout)>, StoreError> {
    let mut rows = vec![];
    for order in store.exception_orders(LISTED).await? {
        for kind in rules::order_kinds(&order) {
            if !resolved.contains(&rules::order_key(kind, &order.id)) {
                rows.push((kind, order.clone()));
            }
        }
    }
    Ok(rows)
}

async fn delivery_rows(
    store: &Store,
    resolved: &HashSet<String>,
) -> Result<Vec<FailingDelivery>, StoreError> {
    let mut rows = store.failing_deliveries(LISTED).await?;
    rows.retain(|d| !resolved.contains(&rules::delivery_key(&d.event_id)));
    Ok(rows)
}

/// How many exceptions are open: what the navigation shows. Unmatched payments are counted
/// whole; the other kinds as far as the queue reads them.
pub async fn count(store: &Store) -> Result<u64, StoreError> {
    let resolved = store.resolved_keys().await?;
    let payments = store.unresolved_unmatched_count().await?;
    let orders = order_rows(store, &resolved).await?.len();
    let deliveries = delivery_rows(store, &resolved).await?.len();
    Ok(payments + orders as u64 + deliveries as u64)
}

/// A payment's amount in its token, when the chain's registry knows it.
fn amount(console: &Console, chain: ChainId, payment: &ChainPayment) -> Markup {
    let known = console.app.config.registry.chain(chain).ok();
    let token = known.and_then(|c| c.tokens.iter().find(|t| t.contract == payment.token));
    html! {
        @if let Some(token) = token {
            strong { (format_units(payment.value, token.decimals)) " " (token.symbol) }
        } @else {
            (payment.value) " units of " code { (payment.token) }
        }
    }
}

/// A payment's transaction, linked to the chain's explorer when it has one.
fn transaction(console: &Console, chain: ChainId, payment: &ChainPayment) -> Markup {
    let known = console.app.config.registry.chain(chain).ok();
    html! {
        @if let Some(url) = known.and_then(|c| c.transaction_url(payment.tx_id.as_str())) {
            a href=(url) rel="noreferrer noopener" { code.hash { (payment.tx_id) } }
        } @else { code.hash { (payment.tx_id) } }
    }
}

fn order_link(id: &str) -> Markup {
    html! { a href={ "/console/orders/" (query_value(id)) } { code { (id) } } }
}

/// The queue, a section per kind.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
) -> Result<Response, Refusal> {
    let queue = Queue::gather(console.store()).await?;
    let may_act = signed.role.may(Permission::Act);
    let count = console.exceptions().await?;
    let content = html! {
        p {
            "Each section lists what needs a decision, newest first. "
            a href="/console/exceptions/resolved" { "Resolved exceptions" }
            " are kept with who resolved them, when and why."
        }
        nav aria-label="Kinds of exception" {
            ul.plain {
                @for kind in Kind::ALL {
                    li { a href={ "#" (kind.as_str()) } { (kind.title()) } " (" (rows_of(&queue, kind)) ")" }
                }
            }
        }
        @for kind in Kind::ALL {
            section aria-labelledby=(kind.as_str()) {
                h2 #(kind.as_str()) tabindex="-1" { (kind.title()) " " span.count-plain { "(" (rows_of(&queue, kind)) ")" } }
                p.hint { (kind.explained()) }
                @match kind {
                    Kind::Unmatched | Kind::WrongNetwork => (payments(&console, &signed, &queue, kind, may_act)),
                    Kind::FailedDelivery => (actions::deliveries(&signed, &queue.deliveries, may_act)),
                    _ => (orders(&console, &signed, &queue, kind, may_act)),
                }
            }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Exceptions,
        count,
        "Exceptions",
        content,
    )
    .into_response())
}

fn rows_of(queue: &Queue, kind: Kind) -> usize {
    match kind {
        Kind::Unmatched | Kind::WrongNetwork => {
            queue.payments.iter().filter(|r| r.kind == kind).count()
        }
        Kind::FailedDelivery => queue.deliveries.len(),
        _ => queue.orders.iter().filter(|(k, _)| *k == kind).count(),
    }
}

fn payments(
    console: &Console,
    signed: &Signed,
    queue: &Queue,
    kind: Kind,
    may_act: bool,
) -> Markup {
    let rows: Vec<&PaymentRow> = queue.payments.iter().filter(|r| r.kind == kind).collect();
    let caption = format!("{}-caption", kind.as_str());
    html! {
        @if rows.is_empty() {
            p.empty { "None." }
        } @else {
            div.table role="region" aria-labelledby=(caption) tabindex="0" {
                table {
                    caption #(caption) { (kind.title()) ", newest first" }
                    thead {
                        tr {
                            th scope="col" { "Amount" }
                            th scope="col" { "Network" }
                            th scope="col" { "Transaction" }
                            th scope="col" { "From" }
                            th scope="col" { "Mined" }
                            th scope="col" {
                                @if kind == Kind::WrongNetwork { "Orders waiting on another network" }
                                @else { "Claimed for" }
                            }
                            th scope="col" { "Actions" }
                        }
                    }
                    tbody {
                        @for (n, row) in rows.iter().enumerate() {
                            @let p = &row.payment;
                            @let names = if kind == Kind::WrongNetwork { &row.waiting_elsewhere } else { &row.claimants };
                            tr {
                                td.amount { (amount(console, row.chain, p)) }
                                td { (console.app.network_name(row.chain)) }
                                td { (transaction(console, row.chain, p)) }
                                td { code.hash { (p.from) } }
                                td { (layout::time(p.timestamp_ms)) }
                                td {
                                    @for id in names { (order_link(id)) " " }
                                    @if names.is_empty() { "—" }
                                }
                                td.actions {
                                    a href=(attach::path(row.chain, &p.tx_id, p.log_index)) {
                                        @if may_act && kind == Kind::Unmatched { "Attach to an order" } @else { "Details" }
                                        span.visually-hidden { ": " (p.tx_id) }
                                    }
                                    @if may_act {
                                        (actions::resolve_form(
                                            signed,
                                            &rules::payment_key(row.chain, &p.tx_id, p.log_index),
                                            &format!("{}-{n}", kind.as_str()),
                                            &format!("payment {}", p.tx_id),
                                        ))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn orders(console: &Console, signed: &Signed, queue: &Queue, kind: Kind, may_act: bool) -> Markup {
    let rows: Vec<&Checkout> = queue
        .orders
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, order)| order)
        .collect();
    let caption = format!("{}-caption", kind.as_str());
    html! {
        @if rows.is_empty() {
            p.empty { "None." }
        } @else {
            div.table role="region" aria-labelledby=(caption) tabindex="0" {
                table {
                    caption #(caption) { (kind.title()) ", newest first" }
                    thead {
                        tr {
                            th scope="col" { "Amount" }
                            th scope="col" { "Paid" }
                            th scope="col" { "State" }
                            th scope="col" { "Order" }
                            th scope="col" { "What happened" }
                            th scope="col" { "Created" }
                            th scope="col" { "Actions" }
                        }
                    }
                    tbody {
                        @for (n, order) in rows.iter().enumerate() {
                            @let view = console.app.view(order);
                            tr {
                                td.amount { strong { (view.price.amount) " " (view.price.currency) } }
                                td {
                                    @if let Some(p) = &view.payment {
                                        (p.paid) " of " (p.amount) " " (p.symbol) br; small { (p.network) }
                                    } @else { "—" }
                                }
                                td { span.state data-state=(order.state.as_str()) { (state_label(order.state.as_str())) } }
                                td {
                                    (order_link(&order.id))
                                    @if let Some(reference) = &order.reference { br; small { "Ref. " (reference) } }
                                }
                                td.description { (what_happened(order, kind)) }
                                td { (layout::time(order.created_at)) }
                                td.actions {
                                    @if may_act {
                                        (actions::resolve_form(
                                            signed,
                                            &rules::order_key(kind, &order.id),
                                            &format!("{}-{n}", kind.as_str()),
                                            &format!("order {}", order.id),
                                        ))
                                    } @else { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What makes `order` an exception of `kind`, in words.
fn what_happened(order: &Checkout, kind: Kind) -> String {
    let Some(terms) = &order.terms else {
        return String::new();
    };
    let units = |atomic| format!("{} {}", format_units(atomic, terms.decimals), terms.symbol);
    match kind {
        Kind::UnderpaidExpired => format!(
            "Expired with {} of {} received; {} short.",
            units(order.paid_atomic),
            units(terms.pay_amount_atomic),
            units(terms.pay_amount_atomic.saturating_sub(order.paid_atomic))
        ),
        Kind::Late => format!(
            "{} received, some of it after the order's time ran out ({}).",
            units(order.paid_atomic),
            layout::utc(terms.expires_at)
        ),
        Kind::Overpaid => format!(
            "{} received for {} asked: {} over.",
            units(order.paid_atomic),
            units(terms.pay_amount_atomic),
            units(order.overpaid_atomic)
        ),
        Kind::PaidTwice => format!(
            "{} received for {} asked, in {} transactions.",
            units(order.paid_atomic),
            units(terms.pay_amount_atomic),
            order.tx_hashes.len()
        ),
        Kind::Disagreement => order.disagreement.clone().unwrap_or_default(),
        _ => String::new(),
    }
}
