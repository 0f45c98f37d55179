//! The exception queue: every kind of exception (see the rules module for what each is), a
//! section each, newest first, with what resolves each row: attaching a payment to its order,
//! resending a fulfillment delivery, marking it resolved with a note. Their count is in the
//! navigation; resolved ones leave the queue and the count, and are listed on their own page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use usdt_checkout_protocol::{Address, ChainId, format_units};

use super::auth::Signed;
use super::layout::{self, Section, query_value, state_label};
use super::{Console, Refusal};
use crate::domain::{ChainPayment, Checkout};
use crate::staff::Permission;
use crate::store::{FailingDelivery, Store, StoreError};

pub mod actions;
pub mod attach;
pub mod rules;

use rules::{Key, Kind, Waiting};

/// Rows a section reads at most, newest first.
const LISTED: u32 = 200;
/// Pages of [`LISTED`] orders read at most for the orders' sections and their counts.
const PAGES: usize = 10;
/// Failed deliveries counted at most.
const FAILING_COUNTED: u32 = PAGES as u32 * LISTED;

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
    /// How many unmatched payments are open: the newest [`LISTED`] are sorted into sections.
    pub unmatched_total: u64,
}

impl Queue {
    /// Every row, as the queue gathers them, not resolved.
    pub async fn gather(store: &Store) -> Result<Self, StoreError> {
        let mut claims = store.claims_under_review().await?;
        let unmatched = store.unresolved_unmatched(LISTED).await?;
        // The orders waiting where they went, read once for each receiving address.
        let mut addresses: Vec<Address> = unmatched.iter().map(|(_, p)| p.to).collect();
        addresses.sort_by_key(|a| *a.as_bytes());
        addresses.dedup();
        let mut waiting = HashMap::new();
        for address in addresses {
            let there = unmatched.iter().map(|(_, p)| p).filter(|p| p.to == address);
            waiting.insert(address, waiting_at(store, address, there).await?);
        }
        let mut payments = vec![];
        for (chain, payment) in unmatched {
            let (kind, waiting) = payment_kind(chain, &payment, &waiting[&payment.to]);
            let claimants = claims
                .remove(&(chain.0, payment.tx_id.clone(), payment.log_index))
                .unwrap_or_default();
            payments.push(PaymentRow {
                kind,
                chain,
                claimants: claimants.into_iter().map(|(id, _)| id).collect(),
                waiting_elsewhere: waiting,
                payment,
            });
        }
        Ok(Self {
            payments,
            orders: order_rows(store).await?,
            deliveries: store.failing_deliveries(FAILING_COUNTED).await?,
            unmatched_total: store.unresolved_unmatched_count().await?,
        })
    }
}

/// The orders waiting at `address` that may have been what `payments` (sent there) were for.
async fn waiting_at<'a>(
    store: &Store,
    address: Address,
    payments: impl IntoIterator<Item = &'a ChainPayment>,
) -> Result<Vec<Waiting>, StoreError> {
    let Some((since, until)) = rules::waiting_window(payments) else {
        return Ok(vec![]);
    };
    let orders = store.orders_waiting_at(address, since, until).await?;
    Ok(orders
        .into_iter()
        .map(|(id, chain, created_at, expires_at)| Waiting {
            id,
            chain,
            created_at,
            expires_at,
        })
        .collect())
}

/// Whether an unmatched payment is on the wrong network, with the ids of the orders on other
/// networks that waited where it went (a few, newest first), among those `at_address`.
fn payment_kind(
    chain: ChainId,
    payment: &ChainPayment,
    at_address: &[Waiting],
) -> (Kind, Vec<String>) {
    let elsewhere = rules::waiting_elsewhere(chain, payment, at_address);
    let kind = if elsewhere.is_empty() {
        Kind::Unmatched
    } else {
        Kind::WrongNetwork
    };
    (
        kind,
        elsewhere.iter().take(5).map(|o| o.id.clone()).collect(),
    )
}

/// The kind of the open exception `key` names, and what it is about (an order's id, a
/// payment's transaction); `None` when it names none open now (made up, or gone: a payment
/// attached, a delivery made, an order whose facts changed). Whether it was resolved already is
/// the resolution's write to say.
pub async fn open_exception(
    store: &Store,
    key: &str,
) -> Result<Option<(Kind, String)>, StoreError> {
    Ok(match rules::parse_key(key) {
        None => None,
        Some(Key::Payment(chain, tx, log)) => match store.chain_payment(chain, &tx, log).await? {
            Some((payment, None)) => {
                let waiting = waiting_at(store, payment.to, [&payment]).await?;
                let (kind, _) = payment_kind(chain, &payment, &waiting);
                Some((kind, tx.to_string()))
            }
            _ => None,
        },
        Some(Key::Order(kind, id)) => store
            .get(&id)
            .await?
            .filter(|order| rules::order_kinds(order).contains(&kind))
            .map(|order| (kind, order.id)),
        Some(Key::Delivery(event)) => store
            .delivery(&event)
            .await?
            .filter(|d| d.delivered_at.is_none() && d.attempts > 0)
            .map(|d| (Kind::FailedDelivery, actions::subject(&d).to_owned())),
    })
}

/// The orders' exceptions not resolved, newest first: orders read a page at a time (resolved
/// ones, however many, crowd out none of the rest), [`PAGES`] pages at most.
async fn order_rows(store: &Store) -> Result<Vec<(Kind, Checkout)>, StoreError> {
    let resolved = store.resolved_keys().await?;
    let mut rows = vec![];
    let mut before: Option<(u64, String)> = None;
    for _ in 0..PAGES {
        let page = store
            .exception_orders(LISTED, before.as_ref().map(|(at, id)| (*at, id.as_str())))
            .await?;
        let full = page.len() == LISTED as usize;
        before = page.last().map(|last| (last.created_at, last.id.clone()));
        for order in page {
            for kind in rules::order_kinds(&order) {
                if !resolved.contains(&rules::order_key(kind, &order.id)) {
                    rows.push((kind, order.clone()));
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(rows)
}

/// How many exceptions are open: what the navigation shows. Unmatched payments are counted
/// whole; orders and deliveries as far as [`PAGES`] pages of them are read.
pub async fn count(store: &Store) -> Result<u64, StoreError> {
    let payments = store.unresolved_unmatched_count().await?;
    let orders = order_rows(store).await?.len();
    let deliveries = store.failing_deliveries(FAILING_COUNTED).await?.len();
    Ok(payments + orders as u64 + deliveries as u64)
}

/// A payment's amount in its token, when the chain's registry knows it.
fn amount(console: &Console, chain: ChainId, payment: &ChainPayment) -> Markup {
    token_amount(console, chain, &payment.token, payment.value)
}

/// `value` atomic units of `token` on `chain`, in the token when the chain's registry knows it.
fn token_amount(console: &Console, chain: ChainId, token: &Address, value: u128) -> Markup {
    let known = console.app.config.registry.chain(chain).ok();
    let known = known.and_then(|c| c.tokens.iter().find(|t| t.contract == *token));
    html! {
        @if let Some(known) = known {
            strong { (format_units(value, known.decimals)) " " (known.symbol) }
        } @else {
            (value) " units of " code { (token) }
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
                @if kind == Kind::Unmatched && queue.unmatched_total > queue.payments.len() as u64 {
                    p.hint {
                        "The newest " (queue.payments.len()) " of the " (queue.unmatched_total)
                        " unmatched payments are sorted into this section and the next."
                    }
                }
                @if rows_of(&queue, kind) > LISTED as usize {
                    p.hint { "The newest " (LISTED) " are listed." }
                }
                @match kind {
                    Kind::Unmatched | Kind::WrongNetwork => (payments(&console, &signed, &queue, kind, may_act)),
                    Kind::FailedDelivery => (actions::deliveries(
                        &console,
                        &signed,
                        &queue.deliveries[..queue.deliveries.len().min(LISTED as usize)],
                        may_act,
                    )),
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
                                @if kind == Kind::WrongNetwork { "Waiting on another network" }
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
                                // The payment's page from the first cell: on a phone the table's last
                                // column, with the actions, is a scroll away.
                                td.amount { a href=(attach::path(row.chain, &p.tx_id, p.log_index)) { (amount(console, row.chain, p)) } }
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
                                        a href=(super::refunds::start::path(row.chain, &p.tx_id, p.log_index)) {
                                            "Refund" span.visually-hidden { ": " (p.tx_id) }
                                        }
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
        .take(LISTED as usize)
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
                                        // Money these orders received may be given back.
                                        @if matches!(kind, Kind::UnderpaidExpired | Kind::Late | Kind::Overpaid | Kind::PaidTwice) {
                                            a href={ "/console/orders/" (query_value(&order.id)) "#refunds" } {
                                                "Refund" span.visually-hidden { ": order " (order.id) }
                                            }
                                        }
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
