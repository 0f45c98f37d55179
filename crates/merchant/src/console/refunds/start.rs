//! Starting a refund of a payment (operators), from an order's page or an exception's row: the
//! source payment, a destination typed (an address, its checksum checked) and an amount up to
//! what is left to give back of it. Started by staff, it is approved at once; the checkouts
//! decide under the payment's lock, so it never takes more than is left.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use usdt_checkout_protocol::{Address, ChainId, TxHash, format_units, parse_units};

use super::{path as refund_path, proof_badge, state_badge, transaction, units};
use crate::checkouts::{Asked, NotDone};
use crate::console::auth::{Operator, Signed};
use crate::console::exceptions::attach::{PaymentPath, parse_payment};
use crate::console::layout::{self, Section, query_value};
use crate::console::{Console, Refusal, see_other};
use crate::refunds::{self as rules};

/// The start page's path for the payment `(chain, tx, log_index)`.
pub fn path(chain: ChainId, tx: &TxHash, log_index: u64) -> String {
    format!("/console/payments/{}/{tx}/{log_index}/refund", chain.0)
}

#[derive(Deserialize, Default)]
pub struct StartForm {
    #[serde(default)]
    destination: String,
    #[serde(default)]
    amount: String,
}

/// The form, parsed: the address (EIP-55 checked when in mixed case) and the amount in atomic
/// units of a token of `decimals`, more than zero; or what is wrong, in words.
pub fn parse(form: &StartForm, decimals: u8) -> Result<(Address, u128), String> {
    let destination = form.destination.trim().parse::<Address>().map_err(|e| {
        format!(
            "The address to refund to is not valid ({e}): paste it as the shopper gave it, 0x and \
             40 hex digits."
        )
    })?;
    let amount = parse_units(form.amount.trim(), decimals)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            format!("The amount is a decimal above zero, with at most {decimals} decimals.")
        })?;
    Ok((destination, amount))
}

/// The form to refund the payment a route names (anyone reads it; operators send it).
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    payment: PaymentPath,
) -> Result<Response, Refusal> {
    let here = parse_payment(payment)?;
    render(&console, &signed, here, None, &StartForm::default()).await
}

/// Starts the refund (operators), approved at once, and shows its page with the transfer.
pub async fn start(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    payment: PaymentPath,
    Form(form): Form<StartForm>,
) -> Result<Response, Refusal> {
    let (chain, tx, log) = parse_payment(payment)?;
    let app = &console.app;
    let (payment, owner) = console
        .store()
        .chain_payment(chain, &tx, log)
        .await?
        .ok_or_else(|| Refusal::not_found("No payment read from the chain has this address."))?;
    let decimals = token_decimals(&console, chain, payment.token)?;
    let problem = match parse(&form, decimals) {
        Err(wrong) => (StatusCode::UNPROCESSABLE_ENTITY, wrong),
        Ok((destination, amount)) => {
            let entry = signed.entry("refund.start", None);
            let done = app
                .checkouts
                .start_refund(
                    owner.as_deref(),
                    (chain, &tx, log),
                    amount,
                    destination,
                    entry,
                )
                .await?;
            match done {
                Ok(Asked::New(refund) | Asked::Replayed(refund)) => {
                    return Ok(see_other(&refund_path(&refund.id)));
                }
                Err(not) => said(&console, chain, payment.token, &not),
            }
        }
    };
    let mut page = render(&console, &signed, (chain, tx, log), Some(&problem.1), &form).await?;
    *page.status_mut() = problem.0;
    Ok(page)
}

fn token_decimals(console: &Console, chain: ChainId, token: Address) -> Result<u8, Refusal> {
    console
        .app
        .config
        .registry
        .get(chain)
        .and_then(|c| c.tokens.iter().find(|t| t.contract == token))
        .map(|t| t.decimals)
        .ok_or_else(|| {
            Refusal::bad_request(
                "This payment is in a token this server does not accept: it is not refunded here.",
            )
        })
}

fn said(console: &Console, chain: ChainId, token: Address, not: &NotDone) -> (StatusCode, String) {
    let amount = |atomic| units(&console.app, chain, token, atomic);
    match not {
        NotDone::Refused(rules::Refusal::NotRefundable) => (
            StatusCode::CONFLICT,
            "Nothing of this payment is left to give back: its refunds approved or sent take all \
             of it."
                .into(),
        ),
        NotDone::Refused(rules::Refusal::TooMuch { max }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "At most {} of this payment is left to give back.",
                amount(*max)
            ),
        ),
        NotDone::OwnAddress => (StatusCode::UNPROCESSABLE_ENTITY, super::OWN_ADDRESS.into()),
        NotDone::NoPayment => (
            StatusCode::CONFLICT,
            "The chain no longer shows this payment as it was read (a reorganisation may have \
             taken it back). Nothing was started."
                .into(),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server; nothing was started.".into(),
        ),
    }
}

async fn render(
    console: &Console,
    signed: &Signed,
    (chain, tx, log): (ChainId, TxHash, u64),
    problem: Option<&str>,
    form: &StartForm,
) -> Result<Response, Refusal> {
    let app = &console.app;
    let store = console.store();
    let (payment, owner) = store
        .chain_payment(chain, &tx, log)
        .await?
        .ok_or_else(|| Refusal::not_found("No payment read from the chain has this address."))?;
    let decimals = token_decimals(console, chain, payment.token)?;
    let of_it = store.refunds_of_payment(chain, &tx, log).await?;
    let left = rules::refundable(payment.value, &of_it);
    let may_act = signed.role.may(crate::staff::Permission::Act);
    let amount_typed = if form.amount.is_empty() {
        format_units(left, decimals)
    } else {
        form.amount.clone()
    };
    let content = html! {
        @if let Some(problem) = problem {
            div.problem role="alert" { p { (problem) } }
        }
        dl.facts {
            dt { "Payment" } dd { strong { (units(app, chain, payment.token, payment.value)) } }
            dt { "Network" } dd { (app.network_name(chain)) }
            dt { "Transaction" } dd { (transaction(app, chain, &payment.tx_id)) " (log " (log) ")" }
            dt { "From" } dd { code.hash { (payment.from) } }
            dt { "Counts for" } dd {
                @match &owner {
                    Some(id) => { "Order " a href={ "/console/orders/" (query_value(id)) } { code { (id) } } }
                    None => { "No order: unmatched" }
                }
            }
            dt { "Left to give back" } dd { strong { (units(app, chain, payment.token, left)) } }
        }
        @if !of_it.is_empty() {
            h2 { "Its refunds" }
            ul.refund-list {
                @for r in &of_it {
                    li {
                        a href=(refund_path(&r.id)) { (units(app, chain, r.token, r.amount_atomic)) }
                        " " (state_badge(r.state)) " " (proof_badge(r))
                    }
                }
            }
        }
        @if !may_act {
            p.empty { "Operators and owners refund payments." }
        } @else if left == 0 {
            p.empty { "Nothing of this payment is left to give back." }
        } @else {
            form.refund-start method="post" action=(path(chain, &tx, log)) {
                input type="hidden" name="csrf" value=(signed.csrf);
                fieldset {
                    legend { "Refund this payment" }
                    p {
                        label for="refund-destination" { "Address to refund to" }
                        input #refund-destination name="destination" type="text" required
                            autocomplete="off" spellcheck="false" value=(form.destination.trim())
                            pattern="\\s*0[xX][0-9a-fA-F]{40}\\s*"
                            aria-describedby="refund-destination-hint";
                        small #refund-destination-hint .hint {
                            "On " (app.network_name(chain)) ". Its checksum is checked. The payment \
                             came from " code { (payment.from) } ", which is not the shopper's own \
                             if they paid from an exchange: ask them."
                        }
                    }
                    p {
                        label for="refund-amount" { "Amount" }
                        input #refund-amount name="amount" type="text" inputmode="decimal" required
                            autocomplete="off" value=(amount_typed)
                            aria-describedby="refund-amount-hint";
                        small #refund-amount-hint .hint {
                            "At most " (units(app, chain, payment.token, left)) ", paid on "
                            (app.network_name(chain)) " in the same token."
                        }
                    }
                    p { button type="submit" { "Approve the refund" } }
                }
            }
        }
    };
    let title = format!("Refund {}", units(app, chain, payment.token, payment.value));
    Ok(layout::page(
        console,
        signed,
        Section::Refunds,
        console.exceptions().await?,
        &title,
        content,
    )
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(destination: &str, amount: &str) -> StartForm {
        StartForm {
            destination: destination.into(),
            amount: amount.into(),
        }
    }

    #[test]
    fn the_form_reads_a_checked_address_and_a_positive_amount() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let (to, amount) = parse(&form(&format!(" {good} "), " 1.5 "), 6).unwrap();
        assert_eq!(to.to_string(), good);
        assert_eq!(amount, 1_500_000);
        assert!(
            parse(&form(&good.to_lowercase(), "1"), 6).is_ok(),
            "all lower case"
        );
        let typo = good.replace("0x5aAeb", "0x5AAeb");
        assert!(
            parse(&form(&typo, "1"), 6)
                .unwrap_err()
                .contains("not valid")
        );
        for amount in ["0", "", "-1", "1.0000001", "1e6", "abc"] {
            assert!(parse(&form(good, amount), 6).is_err(), "{amount:?}");
        }
    }
}
