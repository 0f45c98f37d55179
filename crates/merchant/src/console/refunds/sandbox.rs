//! In test mode the sandbox pays an approved refund from the merchant's test account, so a demo
//! shows the whole loop. Only with `gateway.sandbox = true` (the gateway is this product's
//! sandbox, as `cargo xtask demo` runs it): the console asks it, at `POST /sandbox/refund` (the
//! sandbox's own endpoint; BlockATM makes no refunds), for exactly the refund's transfer, and the
//! chain watcher then recognises that transfer as it would the merchant's own.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::json;
use usdt_checkout_protocol::format_units;

use super::actions::refused;
use super::view::Said;
use super::{find, path};
use crate::clock::now_ms;
use crate::console::auth::{Operator, Signed};
use crate::console::{Console, Refusal, see_other};
use crate::refunds::RefundState;
use crate::store::AuditEntry;

/// Has the sandbox send the approved refund `id`'s transfer (operators, test mode only).
pub async fn pay(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let app = &console.app;
    if !app.config.gateway_sandbox {
        return Err(Refusal::not_found(
            "Only a server whose gateway is the sandbox (gateway.sandbox) pays refunds from a test \
             account.",
        ));
    }
    let refund = find(&console, &id).await?;
    let said = |status, message: String| (status, message);
    if refund.state != RefundState::Approved {
        let message = format!(
            "This refund is {}, not waiting for its transfer.",
            refund.state.as_str()
        );
        return refused(
            &console,
            &signed,
            &id,
            said(StatusCode::CONFLICT, message),
            Said::default(),
        )
        .await;
    }
    let Some(token) = app
        .config
        .registry
        .get(refund.chain_id)
        .and_then(|c| c.tokens.iter().find(|t| t.contract == refund.token))
    else {
        return Err(Refusal::bad_request(
            "This refund is in a token this server does not accept.",
        ));
    };
    let amount = format_units(refund.amount_atomic, token.decimals);
    let url = format!(
        "{}/sandbox/refund",
        app.config.gateway_url.trim_end_matches('/')
    );
    let body = json!({
        "to": refund.destination.to_string(),
        "amount": amount,
        "symbol": token.symbol,
        "chainId": refund.chain_id.0,
    });
    let answer = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .timeout(app.config.gateway_timeout)
        .send()
        .await;
    let failed = match answer {
        Ok(answer) if answer.status().is_success() => None,
        Ok(answer) => Some(format!("it answered HTTP {}", answer.status().as_u16())),
        Err(error) => Some(format!("it could not be reached ({error})")),
    };
    if let Some(why) = failed {
        let message = format!("The sandbox did not pay this refund: {why}. Nothing was sent.");
        return refused(
            &console,
            &signed,
            &id,
            said(StatusCode::BAD_GATEWAY, message),
            Said::default(),
        )
        .await;
    }
    let entry = AuditEntry {
        at: now_ms(),
        actor: signed.name.clone(),
        client: Some(signed.client.clone()),
        action: "refund.sandbox_pay".into(),
        subject: Some(refund.id.clone()),
        after: Some(format!(
            "the sandbox sent {amount} {} to {} from its test account",
            token.symbol, refund.destination
        )),
        ..AuditEntry::default()
    };
    console.store().audit(&entry).await?;
    Ok(see_other(&path(&id)))
}

/// The button, on an approved refund's page, when the gateway is the sandbox.
pub fn form(signed: &Signed, id: &str) -> Markup {
    html! {
        form method="post" action={ (path(id)) "/sandbox-pay" } {
            input type="hidden" name="csrf" value=(signed.csrf);
            p.hint {
                "Test mode: the sandbox can send this transfer from the merchant's test account, \
                 as your wallet would."
            }
            button type="submit" { "Pay from the sandbox's test account" }
        }
    }
}
