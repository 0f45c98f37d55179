//! The hash of a refund's transfer, pasted by an operator who paid it: read on the chain and
//! judged by the refund transfer's rule (the checkouts' paste check), so it marks the refund sent
//! only if it sent exactly its amount of its token to its address after the approval; else the
//! page says why, and nothing changes.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use usdt_checkout_protocol::TxHash;

use super::actions::refused;
use super::view::Said;
use super::{find, path, units};
use crate::checkouts::PasteRefused;
use crate::console::auth::{Operator, Signed};
use crate::console::{Console, Refusal, see_other};
use crate::refund_transfer;
use crate::refunds::Refund;

#[derive(Deserialize)]
pub struct PasteForm {
    #[serde(default)]
    tx: String,
}

/// Checks a pasted transaction hash on chain as the refund's transfer (operators): it marks the
/// refund sent only if it sent exactly its amount of its token to its address after approval.
pub async fn paste(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Path(id): Path<String>,
    Form(form): Form<PasteForm>,
) -> Result<Response, Refusal> {
    let refund = find(&console, &id).await?;
    let typed = Said {
        tx: form.tx.clone(),
        ..Said::default()
    };
    let Ok(tx) = form.tx.trim().parse::<TxHash>() else {
        let wrong = "A transaction's hash is 0x and 64 hex digits.".to_owned();
        return refused(
            &console,
            &signed,
            &id,
            (StatusCode::UNPROCESSABLE_ENTITY, wrong),
            typed,
        )
        .await;
    };
    let app = &console.app;
    let outcome = app
        .checkouts
        .paste_refund_transfer(
            &id,
            &tx,
            (&app.chains, &app.config.chains),
            &signed.name,
            Some(signed.client.clone()),
        )
        .await?;
    match outcome {
        Ok(sent) => Ok(see_other(&path(&sent.id))),
        Err(not) => {
            refused(
                &console,
                &signed,
                &id,
                pasted(&console, &refund, &not),
                typed,
            )
            .await
        }
    }
}

/// Why a pasted hash did not mark `refund` sent, in words, with its status.
fn pasted(console: &Console, refund: &Refund, not: &PasteRefused) -> (StatusCode, String) {
    use refund_transfer::Refusal as Why;
    let app = &console.app;
    let amount = |atomic| units(app, refund.chain_id, refund.token, atomic);
    let unprocessable = |message: String| (StatusCode::UNPROCESSABLE_ENTITY, message);
    match not {
        PasteRefused::NoRefund => (StatusCode::NOT_FOUND, "There is no such refund.".into()),
        PasteRefused::NotApproved(state) => (
            StatusCode::CONFLICT,
            format!(
                "This refund is {}, not waiting for its transfer.",
                state.as_str()
            ),
        ),
        PasteRefused::PaysAnother(_) => (
            StatusCode::CONFLICT,
            "This transfer pays another refund already: one transfer pays one refund.".into(),
        ),
        PasteRefused::Unreachable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The chain could not be read right now; nothing was changed. Try again in a moment."
                .into(),
        ),
        PasteRefused::NotItsTransfer(why) => unprocessable(match why {
            Why::NotFound => "No watched chain knows this transaction.".into(),
            Why::NotMined => "This transaction is not mined yet: try again once it is.".into(),
            Why::Failed => "This transaction failed on chain: nothing moved.".into(),
            Why::WrongChain(chain) => format!(
                "This transaction is on {}, not on {} where the refund is paid.",
                app.network_name(*chain),
                app.network_name(refund.chain_id)
            ),
            Why::WrongToken => "This transaction moved none of the refund's token.".into(),
            Why::WrongRecipient(to) => format!(
                "This transaction paid {to}, not the refund's address {}.",
                refund.destination
            ),
            Why::AmountDiffers { sent, owed } => format!(
                "This transaction sent {}, not the {} the refund owes.",
                amount(*sent),
                amount(*owed)
            ),
            Why::BeforeApproval => {
                "This transaction was mined before the refund was approved: it is not its \
                 payment."
                    .into()
            }
            Why::NotFromRefundWallet(from) => format!(
                "This transaction was sent from {from}, none of the wallets the settings name to \
                 pay refunds on this chain (refund_wallets): it is not the merchant's refund."
            ),
        }),
    }
}

/// The form to paste a transfer's hash into, with what was typed.
pub fn form(signed: &Signed, id: &str, said: &Said) -> Markup {
    html! {
        form.paste method="post" action={ "/console/refunds/" (id) "/paste" } {
            input type="hidden" name="csrf" value=(signed.csrf);
            p {
                label for="paste-tx" { "Paid already? The transaction's hash" }
                input #paste-tx name="tx" type="text" required autocomplete="off" spellcheck="false"
                    pattern="\\s*0[xX][0-9a-fA-F]{64}\\s*" value=(said.tx)
                    aria-describedby="paste-tx-hint";
                small #paste-tx-hint .hint {
                    "0x and 64 hex digits. It is read on the chain and marks the refund sent only \
                     if it sent exactly this amount of this token to this address."
                }
            }
            p { button type="submit" { "Check the transaction" } }
        }
    }
}
