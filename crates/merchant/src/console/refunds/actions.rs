//! An operator's decisions on a refund's request: approve, or refuse with a reason. The checkouts decide (under the source payment's lock); a refusal is
//! said in words on the refund's page, with what was typed, and nothing changes.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::view::{self, MAX_REASON_CHARS, Said};
use super::{find, path, units};
use crate::checkouts::NotDone;
use crate::console::auth::{Operator, Signed};
use crate::console::{Console, Refusal, see_other};
use crate::refunds::{self as rules, Refund, RefundState};

/// Approves the request (operators): one of two approvals at once wins, the other is said why.
pub async fn approve(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let refund = find(&console, &id).await?;
    let entry = signed.entry("refund.approve", Some(&refund.id));
    match console.app.checkouts.approve_refund(&id, entry).await? {
        Ok(approved) => Ok(see_other(&path(&approved.id))),
        Err(not) => {
            refused(
                &console,
                &signed,
                &id,
                not_done(&console, &refund, &not),
                Said::default(),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct RefuseForm {
    #[serde(default)]
    reason: String,
}

/// The reason as the shopper will read it: trimmed, 1 to [`MAX_REASON_CHARS`] characters.
pub fn reason(text: &str) -> Result<&str, String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_REASON_CHARS {
        return Err(format!(
            "Say why in 1 to {MAX_REASON_CHARS} characters: the shopper reads it."
        ));
    }
    Ok(text)
}

/// Refuses the request for a reason said to the shopper (operators).
pub async fn refuse(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Path(id): Path<String>,
    Form(form): Form<RefuseForm>,
) -> Result<Response, Refusal> {
    let refund = find(&console, &id).await?;
    let typed = Said {
        reason: form.reason.clone(),
        ..Said::default()
    };
    let why = match reason(&form.reason) {
        Ok(why) => why,
        Err(wrong) => {
            return refused(
                &console,
                &signed,
                &id,
                (StatusCode::UNPROCESSABLE_ENTITY, wrong),
                typed,
            )
            .await;
        }
    };
    let entry = signed.entry("refund.refuse", Some(&refund.id));
    match console.app.checkouts.refuse_refund(&id, why, entry).await? {
        Ok(done) => Ok(see_other(&path(&done.id))),
        Err(not) => {
            refused(
                &console,
                &signed,
                &id,
                not_done(&console, &refund, &not),
                typed,
            )
            .await
        }
    }
}

/// The refund's page again, saying why with `status`, and what was typed.
pub(super) async fn refused(
    console: &Console,
    signed: &Signed,
    id: &str,
    (status, message): (StatusCode, String),
    mut said: Said,
) -> Result<Response, Refusal> {
    // Read again: what another operator did meanwhile is what the page now shows.
    let refund = find(console, id).await?;
    said.problem = Some((status, message));
    view::render(console, signed, &refund, &said).await
}

/// Why an approval or refusal of `refund` was not done, in words, with its status.
fn not_done(console: &Console, refund: &Refund, not: &NotDone) -> (StatusCode, String) {
    let app = &console.app;
    let amount = |atomic| units(app, refund.chain_id, refund.token, atomic);
    match not {
        NotDone::NoRefund | NotDone::NoCheckout => {
            (StatusCode::NOT_FOUND, "There is no such refund.".into())
        }
        NotDone::NoPayment => (
            StatusCode::CONFLICT,
            "The chain no longer shows the payment this refund gives back (a reorganisation may \
             have taken it back): nothing was approved."
                .into(),
        ),
        NotDone::NotSender { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The request's signature is not by the wallet that paid.".into(),
        ),
        NotDone::OwnAddress => (StatusCode::UNPROCESSABLE_ENTITY, super::OWN_ADDRESS.into()),
        NotDone::Refused(rules::Refusal::NotRefundable) => (
            StatusCode::CONFLICT,
            "Nothing of this payment is left to give back: its other refunds, approved or sent, \
             take all of it. Nothing was approved."
                .into(),
        ),
        NotDone::Refused(rules::Refusal::TooMuch { max }) => (
            StatusCode::CONFLICT,
            format!(
                "Only {} of this payment is left to give back, less than this refund's {}: its \
                 other refunds, approved or sent, take the rest (one may have been approved just \
                 now). Nothing was approved.",
                amount(*max),
                amount(refund.amount_atomic)
            ),
        ),
        NotDone::Refused(rules::Refusal::Illegal(illegal)) => (
            StatusCode::CONFLICT,
            match illegal.from {
                RefundState::Requested => "This refund cannot be changed that way.".into(),
                done => format!(
                    "This refund is {} already (perhaps by someone else meanwhile): nothing was \
                     changed.",
                    done.as_str()
                ),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_said_in_a_few_words() {
        assert_eq!(
            reason("  Paid in full, no excess.  "),
            Ok("Paid in full, no excess.")
        );
        assert!(reason("   ").is_err());
        assert!(reason(&"x".repeat(MAX_REASON_CHARS)).is_ok());
        assert!(reason(&"é".repeat(MAX_REASON_CHARS + 1)).is_err());
    }
}
