//! The queue's other actions (operators): marking an exception resolved with a note, and
//! resending a failed fulfillment delivery now; and the resolved exceptions' page. Each action
//! is audited in the transaction that makes its change.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::rules::{self, Kind, MAX_NOTE_CHARS};
use super::{open_exception, order_link, token_amount};
use crate::clock::now_ms;
use crate::console::auth::{Operator, Signed};
use crate::console::layout::{self, Section, query_value};
use crate::console::{Console, Refusal, see_other};
use crate::store::{Delivered, FailingDelivery, Resolution};

/// What a delivery is about, in the audit log and a resolution: its order, or for a refund's
/// event its refund (a refund of a payment that paid no order has no order).
pub fn subject(delivery: &FailingDelivery) -> &str {
    match (&delivery.about, &delivery.checkout_id) {
        (Delivered::Refund { id, .. }, _) => id,
        (Delivered::Order { .. }, Some(order)) => order,
        (Delivered::Order { .. }, None) => &delivery.event_id,
    }
}

/// A delivery in a few words, for a screen reader's button and a refusal: "order co_1", or
/// "refund rf_1".
fn named(delivery: &FailingDelivery) -> String {
    match &delivery.about {
        Delivered::Refund { id, .. } => format!("refund {id}"),
        Delivered::Order { .. } => format!("order {}", subject(delivery)),
    }
}

/// Resolved exceptions a page lists, most recent first.
const RESOLVED_LISTED: u32 = 500;

/// A disclosure with the form that marks one exception resolved: `key` names it, `id` makes
/// the form's fields unique on the page, `what` says what it is to a screen reader.
pub fn resolve_form(signed: &Signed, key: &str, id: &str, what: &str) -> Markup {
    html! {
        details.resolve {
            summary { "Mark resolved" span.visually-hidden { ": " (what) } }
            form method="post" action="/console/exceptions/resolve" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="key" value=(key);
                label for={ "resolve-note-" (id) } { "Note" }
                textarea id={ "resolve-note-" (id) } name="note" rows="2" maxlength=(MAX_NOTE_CHARS)
                    required {}
                button type="submit" { "Mark resolved" span.visually-hidden { ": " (what) } }
            }
        }
    }
}

/// The failed deliveries' table (orders' events and refunds' `refund.sent`), with their resend
/// and resolve forms.
pub fn deliveries(
    console: &Console,
    signed: &Signed,
    rows: &[FailingDelivery],
    may_act: bool,
) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty { "None." }
        } @else {
            div.table role="region" aria-labelledby="failed-delivery-caption" tabindex="0" {
                table {
                    caption #failed-delivery-caption { "Failed fulfillment deliveries, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Amount" }
                            th scope="col" { "Order or refund" }
                            th scope="col" { "Attempts" }
                            th scope="col" { "Latest answer" }
                            th scope="col" { "Next attempt" }
                            th scope="col" { "Actions" }
                        }
                    }
                    tbody {
                        @for (n, d) in rows.iter().enumerate() {
                            tr {
                                @match &d.about {
                                    Delivered::Order { amount, currency } => {
                                        td.amount { strong { (amount) " " (currency) } }
                                        td {
                                            @if let Some(order) = &d.checkout_id { (order_link(order)) }
                                        }
                                    }
                                    Delivered::Refund { id, chain_id, token, amount_atomic } => {
                                        td.amount { (token_amount(console, *chain_id, token, *amount_atomic)) }
                                        td {
                                            "Refund sent: "
                                            a href=(crate::console::refunds::path(id)) { code { (id) } }
                                            @if let Some(order) = &d.checkout_id {
                                                ", of order " (order_link(order))
                                            }
                                        }
                                    }
                                }
                                td { (d.attempts) }
                                td { (d.last_error.as_deref().unwrap_or("—")) }
                                td {
                                    @match d.next_attempt_at {
                                        Some(at) => (layout::time(at)),
                                        None => "none: given up",
                                    }
                                }
                                td.actions {
                                    @if may_act {
                                        form method="post" action={ "/console/exceptions/deliveries/" (query_value(&d.event_id)) "/resend" } {
                                            input type="hidden" name="csrf" value=(signed.csrf);
                                            button type="submit" {
                                                "Resend now" span.visually-hidden { ": " (named(d)) }
                                            }
                                        }
                                        (resolve_form(
                                            signed,
                                            &rules::delivery_key(&d.event_id),
                                            &format!("delivery-{n}"),
                                            &format!("delivery for {}", named(d)),
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

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    note: String,
}

/// Marks an open exception resolved with a note (operators): it leaves the queue and the
/// count, and is listed as resolved, audited in the same transaction.
pub async fn resolve(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Form(form): Form<ResolveForm>,
) -> Result<Response, Refusal> {
    let note = rules::note(&form.note).map_err(Refusal::bad_request)?;
    let store = console.store();
    let (kind, subject) = open_exception(store, &form.key).await?.ok_or_else(|| {
        Refusal::not_found(
            "There is no such open exception: it may have been resolved already, or have gone \
             (a payment attached to its order, a delivery made).",
        )
    })?;
    let resolution = Resolution {
        key: form.key.clone(),
        kind: kind.as_str().into(),
        subject: subject.clone(),
        resolved_by: signed.name.clone(),
        resolved_at: now_ms(),
        note: note.to_owned(),
    };
    let mut entry = signed.entry("exception.resolve", Some(&subject));
    entry.before = Some(format!("{}: open", kind.as_str()));
    entry.after = Some(format!("{}: resolved", kind.as_str()));
    entry.note = Some(note.to_owned());
    let mut write = store.begin().await?;
    if !write.resolve(&resolution).await? {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "Resolved already",
            "Someone resolved this exception a moment ago; nothing was changed.",
        ));
    }
    write.audit(&entry).await?;
    write.commit().await?;
    Ok(see_other("/console/exceptions"))
}

/// Queues a failed fulfillment delivery again now (operators), audited.
pub async fn resend(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Path(event): Path<String>,
) -> Result<Response, Refusal> {
    let delivery = console
        .store()
        .delivery(&event)
        .await?
        .ok_or_else(|| Refusal::not_found("There is no such fulfillment event."))?;
    let delivered = || {
        Refusal::new(
            StatusCode::CONFLICT,
            "Delivered already",
            format!(
                "The fulfillment event of {} was delivered; nothing was sent again.",
                named(&delivery)
            ),
        )
    };
    if delivery.delivered_at.is_some() {
        return Err(delivered());
    }
    let mut entry = signed.entry("fulfillment.resend", Some(subject(&delivery)));
    entry.before = Some(format!(
        "{} attempts; latest: {}",
        delivery.attempts,
        delivery.last_error.as_deref().unwrap_or("none")
    ));
    entry.after = Some("due now".into());
    if !console
        .app
        .checkouts
        .resend_delivery(&event, &entry)
        .await?
    {
        return Err(delivered());
    }
    Ok(see_other("/console/exceptions#failed_delivery"))
}

/// The resolved exceptions, most recently resolved first, with who, when and why.
pub async fn resolved(
    State(console): State<Arc<Console>>,
    signed: Signed,
) -> Result<Response, Refusal> {
    let rows = console.store().resolutions(RESOLVED_LISTED).await?;
    let content = html! {
        p { a href="/console/exceptions" { "Back to the open exceptions" } }
        @if rows.is_empty() {
            p.empty { "None yet." }
        } @else {
            div.table role="region" aria-labelledby="resolved-caption" tabindex="0" {
                table {
                    caption #resolved-caption { "Resolved exceptions, most recent first" }
                    thead {
                        tr {
                            th scope="col" { "Kind" }
                            th scope="col" { "About" }
                            th scope="col" { "Resolved by" }
                            th scope="col" { "When" }
                            th scope="col" { "Note" }
                        }
                    }
                    tbody {
                        @for r in &rows {
                            @let kind = Kind::from_name(&r.kind);
                            tr {
                                td {
                                    @match kind {
                                        Some(kind) => (kind.title()),
                                        None => (r.kind),
                                    }
                                }
                                td {
                                    @match kind {
                                        Some(Kind::Unmatched | Kind::WrongNetwork) | None => code.hash { (r.subject) },
                                        Some(_) => (order_link(&r.subject)),
                                    }
                                }
                                td { (r.resolved_by) }
                                td { (layout::time(r.resolved_at)) }
                                td.description { (r.note) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Exceptions,
        console.exceptions().await?,
        "Resolved exceptions",
        content,
    )
    .into_response())
}
