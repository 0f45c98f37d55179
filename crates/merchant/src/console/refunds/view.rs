//! A refund's page: its facts, and what may be done in its state (what [`offers`] decides,
//! pure): decide a request, pay an approved refund (its exact transfer, or the hash of one sent),
//! or read what was sent or why it was refused.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{proof_badge, state_badge, transaction, transfer, units};
use crate::api::refund_receipt::refund_receipt_path;
use crate::console::auth::Signed;
use crate::console::layout::{self, Section, query_value};
use crate::console::{Console, Refusal};
use crate::refunds::{self, Refund, RefundState};
use crate::staff::Permission;

/// The longest reason for a refusal, said to the shopper.
pub const MAX_REASON_CHARS: usize = 500;

/// What a refund's page offers its reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offers {
    /// Approve or refuse it (a request, to an operator).
    pub decide: bool,
    /// The transfer to send (approved, to anyone who reads it: paying is done in a wallet).
    pub transfer: bool,
    /// The hash of a transfer sent, to check (approved, to an operator).
    pub paste: bool,
}

/// What a refund in `state` offers a reader who may act (`may_act`) or not.
pub fn offers(state: RefundState, may_act: bool) -> Offers {
    Offers {
        decide: may_act && state == RefundState::Requested,
        transfer: state == RefundState::Approved,
        paste: may_act && state == RefundState::Approved,
    }
}

/// What the page says after a form was refused: why, with the status, and what was typed.
#[derive(Debug, Default)]
pub struct Said {
    pub problem: Option<(StatusCode, String)>,
    pub reason: String,
    pub tx: String,
}

/// The refund's page, with what `said` says.
pub async fn render(
    console: &Console,
    signed: &Signed,
    refund: &Refund,
    said: &Said,
) -> Result<Response, Refusal> {
    let app = &console.app;
    let store = console.store();
    let chain = refund.chain_id;
    let source = store
        .chain_payment(chain, &refund.source_tx, refund.source_log_index)
        .await?;
    let of_it = store
        .refunds_of_payment(chain, &refund.source_tx, refund.source_log_index)
        .await?;
    let amount = units(app, chain, refund.token, refund.amount_atomic);
    let network = app.network_name(chain);
    let offers = offers(refund.state, signed.role.may(Permission::Act));
    let id = query_value(&refund.id);
    let confirmations = refund
        .sent
        .as_ref()
        .and_then(|s| app.checkouts.confirmations(chain, s.block_number));
    let content = html! {
        @if let Some((_, problem)) = &said.problem {
            div.problem role="alert" { p { (problem) } }
        }
        dl.facts data-live="refund-facts" {
            dt { "Amount" } dd { strong { (amount) } }
            dt { "State" } dd { (state_badge(refund.state)) }
            dt { "Proof" } dd {
                (proof_badge(refund))
                @if refund.requested_by.is_none() {
                    @if refund.proven() {
                        " Signed by the wallet that paid."
                    } @else if refund.state == RefundState::Requested {
                        " No signature: the paying wallet did not prove this request (an \
                          exchange's, perhaps). Check with the shopper before approving."
                    } @else {
                        " No signature: the paying wallet did not prove this request."
                    }
                }
            }
            @if let Some(email) = &refund.email {
                dt { "Shopper's email" } dd { a href={ "mailto:" (email) } { (email) } }
            }
            dt { "To" } dd { code.hash { (refund.destination) } }
            dt { "Network" } dd { (network) }
            dt { "Of the payment" } dd {
                (transaction(app, chain, &refund.source_tx)) " (log " (refund.source_log_index) ")"
            }
            @match &source {
                Some((payment, owner)) => {
                    dt { "It sent" } dd {
                        (units(app, chain, payment.token, payment.value)) " from "
                        code.hash { (payment.from) }
                    }
                    dt { "Still refundable of it" } dd {
                        (units(app, chain, payment.token, refunds::refundable(payment.value, &of_it)))
                    }
                    dt { "Counts for" } dd {
                        @match owner {
                            Some(order) => { "Order " a href={ "/console/orders/" (query_value(order)) } { code { (order) } } }
                            None => { "No order: unmatched" }
                        }
                    }
                }
                None => {
                    dt { "It sent" } dd { "The chain no longer shows this payment as it was read (a reorganisation may have taken it back)." }
                }
            }
            // Said only when it is not the order the payment counts for (a payment on the
            // wrong network, say, unmatched but sent for this order).
            @if let Some(order) = refund.checkout_id.as_ref().filter(|o| !counts_for(&source, o)) {
                dt { "Asked for" } dd { "Order " a href={ "/console/orders/" (query_value(order)) } { code { (order) } } }
            }
            dt { "Asked" } dd {
                (layout::time(refund.requested_at))
                @match &refund.requested_by { Some(by) => { " by " (by) } None => { " by the shopper" } }
            }
            @if let (Some(at), Some(by)) = (refund.approved_at, &refund.approved_by) {
                @if refund.requested_by.is_none() {
                    dt { @if refund.state == RefundState::Refused { "Refused" } @else { "Approved" } }
                    dd { (layout::time(at)) " by " (by) }
                }
            }
            @if let Some(reason) = &refund.reason {
                dt { "Reason given" } dd { blockquote { (reason) } }
            }
            @if let Some(sent) = &refund.sent {
                dt { "Sent in" } dd {
                    (transaction(app, chain, &sent.tx)) " (log " (sent.log_index) "), block "
                    (sent.block_number) ", " (layout::time(sent.mined_at))
                }
                @if let Some(n) = confirmations {
                    dt { "Confirmations" } dd { (n) }
                }
                dt { "Receipt" } dd {
                    a href=(refund_receipt_path(&refund.id)) { "Signed refund receipt" }
                    " (the shopper's too)"
                }
            }
        }
        div data-live-slot="refund-actions" {
            div data-live={ "refund-" (refund.state.as_str()) } {
                @if offers.decide { (decide(signed, &id, &amount, said)) }
                @if offers.transfer {
                    section.transfer aria-labelledby="transfer-heading" {
                        h2 #transfer-heading { "Pay this refund" }
                        (transfer::ways_to_pay(refund, &amount, &network))
                    }
                }
                @if offers.paste && app.config.gateway_sandbox { (super::sandbox::form(signed, &id)) }
                @if offers.paste { (super::paste::form(signed, &id, said)) }
            }
        }
        p { a href="/console/refunds" { "All refunds" } }
    };
    let title = format!("{amount} · refund {}", refund.id);
    let mut response = layout::page(
        console,
        signed,
        Section::Refunds,
        console.exceptions().await?,
        &title,
        content,
    )
    .into_response();
    if let Some((status, _)) = &said.problem {
        *response.status_mut() = *status;
    }
    Ok(response)
}

/// Whether `source`, the refund's payment as the chain was read, counts for `order`.
fn counts_for<P>(source: &Option<(P, Option<String>)>, order: &str) -> bool {
    matches!(source, Some((_, Some(owner))) if owner == order)
}

fn decide(signed: &Signed, id: &str, amount: &str, said: &Said) -> Markup {
    html! {
        section.decide aria-labelledby="decide-heading" {
            h2 #decide-heading { "Decide" }
            form.actions method="post" action={ "/console/refunds/" (id) "/approve" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                button type="submit" { "Approve " (amount) }
            }
            form method="post" action={ "/console/refunds/" (id) "/refuse" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                p {
                    label for="refuse-reason" { "Reason for refusing" }
                    textarea #refuse-reason name="reason" rows="3" required
                        maxlength=(MAX_REASON_CHARS) aria-describedby="refuse-reason-hint" {
                        (said.reason)
                    }
                    small #refuse-reason-hint .hint { "The shopper reads it on the checkout's page." }
                }
                p { button.danger type="submit" { "Refuse" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_offers_what_may_be_done_in_it() {
        use RefundState as S;
        let none = Offers::default();
        assert_eq!(
            offers(S::Requested, true),
            Offers {
                decide: true,
                ..none
            }
        );
        assert_eq!(
            offers(S::Requested, false),
            none,
            "a viewer decides nothing"
        );
        assert_eq!(
            offers(S::Approved, true),
            Offers {
                transfer: true,
                paste: true,
                ..none
            }
        );
        assert_eq!(
            offers(S::Approved, false),
            Offers {
                transfer: true,
                ..none
            },
            "a viewer sees the transfer, pastes nothing"
        );
        for done in [S::Sent, S::Refused] {
            assert_eq!(offers(done, true), none, "{done:?}");
        }
    }
}
