//! Exceptions, so far as this console reads them: the payments the chain showed into a
//! receiving address that match no order, with the orders whose shoppers claimed each. Their
//! count is in the navigation. Resolving them here (attaching one to an order, marking one
//! resolved with a note) is the queue's to come; for now an operator notes it on the order.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use usdt_checkout_protocol::format_units;

use super::auth::Signed;
use super::layout::{self, Section, query_value};
use super::{Console, Refusal};

/// Unmatched payments a page lists, newest first.
const LISTED: u32 = 200;

/// The unmatched payments, newest first.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
) -> Result<Response, Refusal> {
    let app = &console.app;
    let unmatched = app.checkouts.unmatched(LISTED).await?;
    let mut claims = app.checkouts.claims_under_review().await?;
    let count = console.exceptions().await?;
    let content = html! {
        p {
            "Payments the chain showed into a receiving address that match no order: each is kept, \
             never counted toward an order, until someone decides whose it is. Attaching one to \
             its order from here comes next; meanwhile note what you decided on the order."
        }
        @if unmatched.is_empty() {
            p.empty { "None." }
        } @else {
            div.table role="region" aria-labelledby="unmatched-caption" tabindex="0" {
                table {
                    caption #unmatched-caption {
                        "Unmatched payments, newest first"
                        @if count > u64::from(LISTED) { " (the latest " (LISTED) " of " (count) ")" }
                    }
                    thead {
                        tr {
                            th scope="col" { "Amount" }
                            th scope="col" { "Network" }
                            th scope="col" { "Transaction" }
                            th scope="col" { "From" }
                            th scope="col" { "Mined" }
                            th scope="col" { "Claimed for" }
                        }
                    }
                    tbody {
                        @for (chain, payment) in &unmatched {
                            @let known = app.config.registry.chain(*chain).ok();
                            @let token = known.and_then(|c| c.tokens.iter().find(|t| t.contract == payment.token));
                            @let claimants = claims
                                .remove(&(chain.0, payment.tx_id.clone(), payment.log_index))
                                .unwrap_or_default();
                            tr {
                                td.amount {
                                    @if let Some(token) = token {
                                        strong { (format_units(payment.value, token.decimals)) " " (token.symbol) }
                                    } @else {
                                        (payment.value) " units of " code { (payment.token) }
                                    }
                                }
                                td { (app.network_name(*chain)) }
                                td {
                                    @if let Some(url) = known.and_then(|c| c.transaction_url(payment.tx_id.as_str())) {
                                        a href=(url) rel="noreferrer noopener" { code.hash { (payment.tx_id) } }
                                    } @else { code.hash { (payment.tx_id) } }
                                }
                                td { code.hash { (payment.from) } }
                                td { (layout::time(payment.timestamp_ms)) }
                                td {
                                    @for (checkout, _) in &claimants {
                                        a href={ "/console/orders/" (query_value(checkout)) } { code { (checkout) } }
                                        " "
                                    }
                                    @if claimants.is_empty() { "—" }
                                }
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
        count,
        "Exceptions",
        content,
    )
    .into_response())
}
