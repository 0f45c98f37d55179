//! Attaching an unmatched payment to its order (operators): a page for one payment, with the
//! orders it may belong to offered first (those whose shoppers claimed it, those waiting at its
//! address) and any other by its id, and a note required. The shopper's claim's rule decides
//! (see the checkouts' staff attach); a refusal is said in words on the same page, the form as
//! it was sent, and nothing changes.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use usdt_checkout_protocol::{ChainId, TxHash, format_units};

use super::rules::{self, MAX_NOTE_CHARS, OTHER};
use super::{amount, order_link, transaction};
use crate::checkouts::NotAttached;
use crate::claim;
use crate::console::auth::{Operator, Signed};
use crate::console::layout::{self, Section, query_value, state_label};
use crate::console::{Console, Refusal, see_other};
use crate::domain::Checkout;
use crate::store::Claimed;

/// Orders at a payment's address read to offer: the newest.
const OFFERED: u32 = 20;

/// A payment as the routes name it: its chain, transaction and log.
pub type PaymentPath = Path<(String, String, String)>;

/// The payment a route names, parsed; refused in words when it names none.
pub fn parse_payment(
    Path((chain, tx, log)): PaymentPath,
) -> Result<(ChainId, TxHash, u64), Refusal> {
    let chain = chain.parse().map(ChainId);
    let tx = tx.parse::<TxHash>();
    let log = log.parse::<u64>();
    match (chain, tx, log) {
        (Ok(chain), Ok(tx), Ok(log)) => Ok((chain, tx, log)),
        _ => Err(Refusal::not_found("This address names no payment.")),
    }
}

/// The page's path for a payment.
pub fn path(chain: ChainId, tx: &TxHash, log_index: u64) -> String {
    format!(
        "/console/exceptions/payments/{}/{}/{log_index}",
        chain.0, tx
    )
}

/// What the form sent, to show it again with a refusal.
#[derive(Deserialize, Default)]
pub struct AttachForm {
    #[serde(default)]
    pick: String,
    #[serde(default)]
    order_id: String,
    #[serde(default)]
    note: String,
}

/// One payment, whose it may be, and (for operators) the form to attach it.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    payment: PaymentPath,
) -> Result<Response, Refusal> {
    let (chain, tx, log) = parse_payment(payment)?;
    render(
        &console,
        &signed,
        (chain, &tx, log),
        None,
        &AttachForm::default(),
    )
    .await
}

/// Attaches the payment to the order the form names (operators), or says why not.
pub async fn attach(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    payment: PaymentPath,
    Form(form): Form<AttachForm>,
) -> Result<Response, Refusal> {
    let (chain, tx, log) = parse_payment(payment)?;
    let here = (chain, &tx, log);
    let outcome = match (
        rules::picked_order(&form.pick, &form.order_id),
        rules::note(&form.note),
    ) {
        (None, _) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Name the order: pick one offered, or type its id.".to_owned(),
        )),
        (_, Err(wrong)) => Err((StatusCode::UNPROCESSABLE_ENTITY, wrong)),
        (Some(order), Ok(note)) => {
            let mut entry = signed.entry("payment.attach", Some(order));
            entry.note = Some(note.to_owned());
            match console
                .app
                .checkouts
                .attach_by_staff(order, here, entry)
                .await?
            {
                Ok(attached) => Ok(attached.after.id),
                Err(not) => Err(said(&console, order, &not)),
            }
        }
    };
    match outcome {
        Ok(order) => Ok(see_other(&format!(
            "/console/orders/{}",
            query_value(&order)
        ))),
        Err((status, message)) => {
            let mut page = render(&console, &signed, here, Some(&message), &form).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

/// Why the payment was not attached to `order`, in words, with the status it is answered with.
fn said(console: &Console, order: &str, not: &NotAttached) -> (StatusCode, String) {
    let app = &console.app;
    let unprocessable = |message: String| (StatusCode::UNPROCESSABLE_ENTITY, message);
    match not {
        NotAttached::NoOrder => (
            StatusCode::NOT_FOUND,
            format!("There is no order {order:?}."),
        ),
        NotAttached::NoPayment => (
            StatusCode::NOT_FOUND,
            "This payment is no longer kept as the chain showed it (a reorganisation may have \
             taken it back). Nothing was changed."
                .into(),
        ),
        NotAttached::NoTerms => unprocessable(format!(
            "Order {order} has no network and token chosen yet: no payment can be attached to it."
        )),
        NotAttached::Over(state) => unprocessable(format!(
            "Order {order} is {}: nothing more is attached to it.",
            state_label(state.as_str()).to_lowercase()
        )),
        NotAttached::Judged(refusal, terms) => {
            let units =
                |atomic| format!("{} {}", format_units(atomic, terms.decimals), terms.symbol);
            unprocessable(match refusal {
                claim::Refusal::WrongChain(chain) => format!(
                    "This payment is on {}; order {order} asked for {}. It cannot pay it.",
                    app.network_name(*chain),
                    app.network_name(terms.chain_id)
                ),
                claim::Refusal::WrongToken => format!(
                    "This payment sent another token, not the {} order {order} asks for.",
                    terms.symbol
                ),
                claim::Refusal::WrongRecipient(to) => format!(
                    "This payment went to {to}, not to order {order}'s address {}.",
                    terms.to_address
                ),
                claim::Refusal::AmountDiffers { sent, asked } => format!(
                    "This payment sent {}, {} more than the {} order {order} still asks.",
                    units(*sent),
                    units(sent - asked),
                    units(*asked)
                ),
                claim::Refusal::BeforeOrder => {
                    format!("This payment was mined before order {order} was made.")
                }
                claim::Refusal::NotFound | claim::Refusal::NotMined | claim::Refusal::Failed => {
                    "The chain shows no such payment.".into()
                }
            })
        }
        NotAttached::Taken(Claimed::Elsewhere(owner)) => (
            StatusCode::CONFLICT,
            format!(
                "This payment now counts for order {owner}: it was attached there first. \
                 Nothing was changed."
            ),
        ),
        NotAttached::Taken(Claimed::Already) => (
            StatusCode::CONFLICT,
            format!("This payment already counts for order {order}."),
        ),
        NotAttached::Taken(Claimed::AnotherOrdersAsk(owner)) => (
            StatusCode::CONFLICT,
            format!(
                "This payment's amount is exactly what order {owner} asks at this address: it \
                 is that order's by the matching rules, not {order}'s."
            ),
        ),
        NotAttached::Taken(Claimed::Attached | Claimed::UnderReview) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server; nothing was changed.".into(),
        ),
    }
}

async fn render(
    console: &Console,
    signed: &Signed,
    (chain, tx, log): (ChainId, &TxHash, u64),
    error: Option<&str>,
    form: &AttachForm,
) -> Result<Response, Refusal> {
    let app = &console.app;
    let store = app.checkouts.store();
    let (payment, owner) = store
        .chain_payment(chain, tx, log)
        .await?
        .ok_or_else(|| Refusal::not_found("No payment read from the chain has this address."))?;
    let claims = store.claims_under_review().await?;
    let mut claimants = vec![];
    for (id, _) in claims
        .get(&(chain.0, tx.clone(), log))
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(order) = store.get(id).await? {
            claimants.push(order);
        }
    }
    let at_address = store.orders_at(payment.to, OFFERED).await?;
    let offered = rules::attach_candidates(chain, &payment, &claimants, &at_address);
    let may_act = signed.role.may(crate::staff::Permission::Act);
    let content = html! {
        dl.facts {
            dt { "Amount" } dd { (amount(console, chain, &payment)) }
            dt { "Network" } dd { (app.network_name(chain)) }
            dt { "Transaction" } dd { (transaction(console, chain, &payment)) " (log " (payment.log_index) ")" }
            dt { "From" } dd { code.hash { (payment.from) } }
            dt { "To" } dd { code.hash { (payment.to) } }
            dt { "Mined" } dd { (layout::time(payment.timestamp_ms)) " in block " (payment.block_number) }
            dt { "Counts for" } dd {
                @match &owner {
                    Some(id) => { "Order " (order_link(id)) }
                    None => { "No order: unmatched" }
                }
            }
            @if !claimants.is_empty() {
                dt { "Claimed by the shoppers of" } dd {
                    @for c in &claimants { (order_link(&c.id)) " " }
                }
            }
        }
        @if owner.is_none() && may_act {
            (attach_form(console, signed, (chain, tx, log), &offered, error, form))
        } @else if let Some(error) = error {
            div.problem role="alert" { p { (error) } }
        }
    };
    Ok(layout::page(
        console,
        signed,
        Section::Exceptions,
        console.exceptions().await?,
        "Unmatched payment",
        content,
    )
    .into_response())
}

fn attach_form(
    console: &Console,
    signed: &Signed,
    (chain, tx, log): (ChainId, &TxHash, u64),
    offered: &[&Checkout],
    error: Option<&str>,
    form: &AttachForm,
) -> Markup {
    // With several orders offered none is picked for the operator: the first is no likelier
    // the payer's than the others, and a form sent as it came must not attach to it.
    let picked = |id: &str| match form.pick.as_str() {
        "" => offered.len() == 1 && offered[0].id == id,
        pick => pick == id,
    };
    let other_picked = offered.is_empty() || form.pick == OTHER;
    html! {
        form.attach method="post" action={ (path(chain, tx, log)) "/attach" }
            aria-labelledby="attach-heading" novalidate {
            h2 #attach-heading { "Attach it to its order" }
            p.hint {
                "Attached, it counts toward the order as the chain shows it, as if the order's \
                 shopper had proven sending it; the order's page then says what it makes of it. \
                 The rule is the shopper's claim's: to the order's address, in its token, on its \
                 network, mined since it was made, and no more than it still asks."
            }
            @if let Some(error) = error {
                div.problem #attach-error role="alert" tabindex="-1" autofocus { p { (error) } }
            }
            input type="hidden" name="csrf" value=(signed.csrf);
            fieldset {
                legend { "Order" }
                @for (n, order) in offered.iter().enumerate() {
                    p.choice {
                        input type="radio" name="pick" id={ "pick-" (n) } value=(order.id)
                            checked[picked(&order.id)];
                        label for={ "pick-" (n) } { (offered_label(console, order)) }
                    }
                }
                p.choice {
                    input type="radio" name="pick" id="pick-other" value=(OTHER)
                        checked[other_picked];
                    label for="pick-other" { "Another order, by its id" }
                }
                p {
                    label for="order-id" { "Order id" }
                    input #order-id type="text" name="order_id" value=(form.order_id)
                        autocomplete="off" spellcheck="false" aria-describedby="order-id-hint";
                    span #order-id-hint .hint { "Used when \u{201c}Another order\u{201d} is picked." }
                }
            }
            p {
                label for="attach-note" { "Note" }
                textarea #attach-note name="note" rows="3" maxlength=(MAX_NOTE_CHARS) required
                    aria-describedby={ "attach-note-hint" @if error.is_some() { " attach-error" } } { (form.note) }
                span #attach-note-hint .hint { "Why it is this order's: kept in the audit log." }
            }
            p { button type="submit" { "Attach payment to order" } }
        }
    }
}

fn offered_label(console: &Console, order: &Checkout) -> Markup {
    let view = console.app.view(order);
    html! {
        code { (order.id) } " · " (view.price.amount) " " (view.price.currency)
        @if let Some(p) = &view.payment { " (" (p.amount) " " (p.symbol) ", " (p.paid) " paid)" }
        " · " (state_label(order.state.as_str()))
        " · made " (layout::utc(order.created_at))
        @if let Some(reference) = &order.reference { " · ref. " (reference) }
    }
}
