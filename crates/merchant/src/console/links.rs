//! Payment links: the list (newest first, with each link's state and the fiat amount first),
//! making one (operators: a form, audited), and a link's page with the address to give the
//! shopper, its QR code and a copy button (the console's `links.js`; without script, the address
//! is plain text to select). What a link is, and its rules, are the links module's.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::{Operator, Signed};
use super::layout::{self, Section, query_value, state_label};
use super::{Console, Refusal, see_other};
use crate::api::admin::payable_in;
use crate::api::pay::{open_link, pay_url};
use crate::clock::now_ms;
use crate::domain::Checkout;
use crate::links::{
    Asked, LinkState, MAX_DESCRIPTION_CHARS, MAX_REFERENCE_CHARS, NewLink, PaymentLink, Via,
};
use crate::staff::Permission;

/// Links a page lists.
const PAGE_SIZE: u32 = 50;
const HOUR_MS: u64 = 3_600_000;
/// The ends the form offers, in hours from when the link is made (none: it does not end).
const LIFETIMES: [(u64, &str); 5] = [
    (1, "In 1 hour"),
    (24, "In 24 hours"),
    (7 * 24, "In 7 days"),
    (30 * 24, "In 30 days"),
    (365 * 24, "In a year"),
];

#[derive(Deserialize)]
pub struct LinksQuery {
    /// The next page: the last link seen's creation (Unix ms) and id.
    before: Option<u64>,
    before_id: Option<String>,
}

/// The links, newest first, a page at a time, under the form that makes one.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    query: Result<Query<LinksQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let Query(query) = query.map_err(|e| Refusal::bad_request(e.body_text()))?;
    let before_id = query.before_id.unwrap_or_default();
    let before = query.before.map(|at| (at, before_id.as_str()));
    let mut links = console.store().links(PAGE_SIZE + 1, before).await?;
    let more = links.len() > PAGE_SIZE as usize;
    links.truncate(PAGE_SIZE as usize);
    let next = more.then(|| links.last()).flatten().map(|(last, _)| {
        format!(
            "/console/links?before={}&before_id={}",
            last.created_at,
            query_value(&last.checkout_id)
        )
    });
    let now = now_ms();
    let may_act = signed.role.may(Permission::Act);
    let content = html! {
        p {
            "A payment link is a checkout with its own page, " code { "/pay/…" } ", to send to a \
             customer: they open it and pay there, in their language. Once its end has passed, \
             a link no one started paying can no longer be paid."
        }
        @if may_act { (form(&signed)) } @else {
            p.empty { "Operators and owners make payment links." }
        }
        h2 { "Links" }
        @if links.is_empty() {
            p.empty { "None yet." }
        } @else {
            div.table role="region" aria-labelledby="links-caption" tabindex="0" {
                table {
                    caption #links-caption { "Payment links, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Amount" }
                            th scope="col" { "Description" }
                            th scope="col" { "Reference" }
                            th scope="col" { "State" }
                            th scope="col" { "Ends" }
                            th scope="col" { "Made" }
                        }
                    }
                    tbody {
                        @for (link, checkout) in &links { (row(link, checkout, now)) }
                    }
                }
            }
        }
        @if before.is_some() || next.is_some() {
            nav.pages aria-label="Pages" {
                @if before.is_some() { a href="/console/links" { "Newest" } }
                @if let Some(next) = &next { a href=(next) rel="next" { "Older" } }
            }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Links,
        console.exceptions().await?,
        "Payment links",
        content,
    )
    .into_response())
}

fn form(signed: &Signed) -> Markup {
    html! {
        form.link method="post" action="/console/links" {
            input type="hidden" name="csrf" value=(signed.csrf);
            fieldset {
                legend { "New payment link" }
                p {
                    label for="link-amount" { "Amount" }
                    input #link-amount name="amount" type="text" inputmode="decimal" required
                        autocomplete="off" aria-describedby="link-amount-hint";
                    small #link-amount-hint { "A decimal, such as 25.00." }
                }
                p {
                    label for="link-currency" { "Currency" }
                    input #link-currency name="currency" type="text" required value="USD"
                        maxlength="10" autocomplete="off" aria-describedby="link-currency-hint";
                    small #link-currency-hint { "A fiat currency (USD) or a token (USDT)." }
                }
                p {
                    label for="link-description" { "Description" }
                    textarea #link-description name="description" rows="2" required
                        maxlength=(MAX_DESCRIPTION_CHARS) aria-describedby="link-description-hint" {}
                    small #link-description-hint { "What the customer pays for: they read it on the page." }
                }
                p {
                    label for="link-reference" { "Customer reference (optional)" }
                    input #link-reference name="reference" type="text"
                        maxlength=(MAX_REFERENCE_CHARS) autocomplete="off";
                }
                p {
                    label for="link-ends" { "Ends" }
                    select #link-ends name="ends_in_hours" {
                        option value="" { "Never" }
                        @for (hours, label) in LIFETIMES {
                            option value=(hours) { (label) }
                        }
                    }
                }
                p { button type="submit" { "Create link" } }
            }
        }
    }
}

fn row(link: &PaymentLink, checkout: &Checkout, now: u64) -> Markup {
    let state = link.state(checkout, now);
    html! {
        tr {
            td.amount {
                a href={ "/console/links/" (query_value(&link.checkout_id)) } {
                    strong { (checkout.price.amount) " " (checkout.price.currency) }
                }
            }
            td.description { (checkout.description) }
            td { @if let Some(reference) = &checkout.reference { (reference) } @else { "—" } }
            td { (state_badge(state)) }
            td { @if let Some(end) = link.expires_at { (layout::time(end)) } @else { "Never" } }
            td { (layout::time(link.created_at)) br; small { "by " (link.made_by()) } }
        }
    }
}

fn state_badge(state: LinkState) -> Markup {
    let label = match state {
        LinkState::Expired => "Link expired".to_owned(),
        other => state_label(other.as_str()),
    };
    html! { span.state data-state=(state.as_str()) { (label) } }
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reference: String,
    /// One of [`LIFETIMES`]' hours, or empty for none.
    #[serde(default)]
    ends_in_hours: String,
}

/// The end the form chose, in Unix ms from `now`: one of [`LIFETIMES`] or none.
fn chosen_end(hours: &str, now: u64) -> Result<Option<u64>, Refusal> {
    if hours.is_empty() {
        return Ok(None);
    }
    LIFETIMES
        .iter()
        .find(|(offered, _)| offered.to_string() == hours)
        .map(|(offered, _)| Some(now + offered * HOUR_MS))
        .ok_or_else(|| Refusal::bad_request("Choose when the link ends from the list."))
}

/// Makes a link (operators and owners), audited, and shows its page.
pub async fn create(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Form(form): Form<LinkForm>,
) -> Result<Response, Refusal> {
    let app = &console.app;
    let now = now_ms();
    let asked = Asked {
        amount: &form.amount,
        currency: &form.currency,
        description: &form.description,
        reference: Some(&form.reference),
        expires_at: chosen_end(&form.ends_in_hours, now)?,
    };
    let new = NewLink::parse(asked, now, &app.config.registry)
        .map_err(|e| Refusal::bad_request(format!("The link was not made: {e}.")))?;
    let payable = payable_in(app, &new.price.currency).await.map_err(|e| {
        tracing::warn!("console: rates for a payment link: {e}");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Rates unavailable",
            "The exchange rates cannot be read right now; no link was made. Try again in a \
             moment.",
        )
    })?;
    if !payable {
        return Err(Refusal::bad_request(format!(
            "No accepted token has a rate in {}, so a link priced in it could never be paid.",
            new.price.currency
        )));
    }
    let entry = signed.entry("link.create", None);
    let (checkout, _) = open_link(app, new, Via::Console, entry).await?;
    Ok(see_other(&format!(
        "/console/links/{}",
        query_value(&checkout.id)
    )))
}

/// The link `id` and its checkout, or a 404 page.
async fn find(console: &Console, id: &str) -> Result<(PaymentLink, Arc<Checkout>), Refusal> {
    let missing = || Refusal::not_found(format!("There is no payment link {id:?}."));
    let link = console.store().link(id).await?.ok_or_else(missing)?;
    let checkout = console.app.checkouts.load(id).await?.ok_or_else(missing)?;
    Ok((link, checkout))
}

/// One link: what it asks, where it is, and the address to give the customer.
pub async fn link(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let (link, checkout) = find(&console, &id).await?;
    let url = pay_url(&console.app, &link.checkout_id);
    let path = query_value(&link.checkout_id);
    let content = html! {
        dl.facts {
            dt { "Amount" } dd { strong { (checkout.price.amount) " " (checkout.price.currency) } }
            dt { "State" } dd { (state_badge(link.state(&checkout, now_ms()))) }
            dt { "Description" } dd { (checkout.description) }
            dt { "Reference" } dd { @if let Some(r) = &checkout.reference { (r) } @else { "—" } }
            dt { "Ends" } dd { @if let Some(end) = link.expires_at { (layout::time(end)) } @else { "Never" } }
            dt { "Made" } dd { (layout::time(link.created_at)) " by " (link.made_by()) }
            dt { "Order" } dd { a href={ "/console/orders/" (path) } { code { (checkout.id) } } }
        }
        section.share aria-labelledby="share-heading" {
            h2 #share-heading { "Send this link" }
            p.pay-url { code #pay-url { (url) } }
            p {
                button type="button" hidden data-copy="pay-url" data-said="pay-url-copied" { "Copy link" }
                " " span #pay-url-copied role="status" {}
            }
            p { a href=(url) rel="noreferrer" { "Open the pay page" } }
            img.qr src={ "/console/links/" (path) "/qr.svg" } width="240" height="240"
                alt="QR code of the link, for a phone's camera";
        }
        script src="/console/static/links.js" defer {}
    };
    let title = format!(
        "{} {} · payment link",
        checkout.price.amount, checkout.price.currency
    );
    Ok(layout::page(
        &console,
        &signed,
        Section::Links,
        console.exceptions().await?,
        &title,
        content,
    )
    .into_response())
}

/// The link's address as a QR code, an SVG drawn here (dark on white, whatever the theme, as
/// cameras read best).
pub async fn qr(
    State(console): State<Arc<Console>>,
    _: Signed,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let (link, _) = find(&console, &id).await?;
    let svg = qr_svg(&pay_url(&console.app, &link.checkout_id)).ok_or_else(|| {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The link is too long for a QR code.",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

fn qr_svg(text: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

/// The copy button's script.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/links.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_is_one_the_form_offers() {
        assert_eq!(chosen_end("", 5).unwrap(), None);
        assert_eq!(chosen_end("24", 5).unwrap(), Some(5 + 24 * HOUR_MS));
        for refused in ["2", "-1", "24.0", "999999999999"] {
            assert!(chosen_end(refused, 5).is_err(), "{refused}");
        }
    }

    #[test]
    fn the_qr_code_is_an_svg_of_the_address() {
        let svg = qr_svg("https://pay.example/pay/co_0123456789abcdef01234567").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("#000000"), "{svg}");
    }
}
