//! "I already paid": a disclosure under the payment that reveals a form for the transaction's
//! hash, the server's answer beside it, and a polite word once the payment is found. A payment
//! claimed without proof that the shopper sent it is kept for the merchant to check: the form
//! says so calmly, and offers to prove it with the browser's wallets. Rendered from the model's
//! [`Claim`]; [`crate::hooks::use_claim`] sends it. A function, not a component: it keeps no
//! state of its own (the hash stays in its input, read when the form is sent), and each
//! component is a copy of Yew's lifecycle code in the download.

use usdt_checkout_protocol::checkout::ErrorCode;
use wasm_bindgen::JsValue;
use yew::prelude::*;

use crate::client::Failure;
use crate::i18n::{Strings, Text};
use crate::model::Claim;
use crate::wallet::{Wallet, WalletError};

/// A claim's refusal said in the shopper's language, if it is one of a claim's own.
fn refusal_text(code: ErrorCode) -> Option<Text> {
    use ErrorCode as E;
    Some(match code {
        E::TxHashInvalid => Text::TxHashInvalid,
        E::TxNotFound => Text::TxNotFound,
        E::TxNotMined => Text::TxNotMined,
        E::TxFailed => Text::TxFailed,
        E::TxWrongChain => Text::TxWrongChain,
        E::TxWrongToken => Text::TxWrongToken,
        E::TxWrongRecipient => Text::TxWrongRecipient,
        E::TxAmountDiffers => Text::TxAmountDiffers,
        E::TxBeforeOrder => Text::TxBeforeOrder,
        E::TxCreditedElsewhere => Text::TxCreditedElsewhere,
        E::TxPaysAnotherOrder => Text::TxPaysAnotherOrder,
        E::ClaimNotSender => Text::ClaimNotSender,
        E::ClaimSignatureInvalid => Text::ClaimSignatureInvalid,
        _ => return None,
    })
}

/// Why a claim was not attached, in the shopper's words: a refusal by its code with what it
/// names, too many tries with the seconds to wait, no answer as such, and any other refusal in
/// the server's own message.
pub fn reason(locale: Strings, failure: &Failure) -> String {
    let (code, message, after, params) = match failure {
        Failure::Refused {
            code,
            message,
            retry_after,
            params,
            ..
        } => (*code, message.as_str(), *retry_after, params.as_slice()),
        // A 429 is answered before its body is read: the claims' own limit, or one in front.
        Failure::RateLimited(after) => (ErrorCode::TooManyClaims, "", *after, &[][..]),
        Failure::Unreachable | Failure::Blocked(_) => {
            return locale.text(Text::ClaimUnreachable, &[]);
        }
    };
    if code == ErrorCode::TooManyClaims {
        let seconds = (after.map_or(60, |after| after.as_secs().max(1)) as u32).to_string();
        return locale.text(Text::TooManyClaims, &[("seconds", &seconds)]);
    }
    let Some(text) = refusal_text(code) else {
        return message.to_owned();
    };
    // Each value in the locale's numbers: an amount is written as the shopper reads numbers; a
    // network, symbol or address is no plain decimal and stays as it is.
    // (Six at most: `tx_amount_differs` names four.)
    let values: [String; 6] = std::array::from_fn(|i| {
        params
            .get(i)
            .map_or_else(String::new, |(_, value)| locale.amount(value))
    });
    let pairs: [(&str, &str); 6] = std::array::from_fn(|i| {
        let name = params.get(i).map_or("", |(name, _)| name.as_str());
        (name, values[i].as_str())
    });
    locale.text(text, &pairs)
}

/// "I already paid" when `offered` (while the screen asks for money, and after it expired: a
/// payment sent in time may not have been seen): a native disclosure, which the browser opens,
/// closes and announces as such, held open while a claim is looked up, refused or under review
/// and closed once one is found; and the confirmation of a claim found, which stays when the
/// screen no longer asks for money (the status line then says confirming or paid). Under review,
/// each of `wallets` offers to prove the payment (`on_prove`); why a proof failed is said where
/// a refusal is, and the review stays.
pub fn claim_form(
    locale: Strings,
    claim: &Claim,
    offered: bool,
    wallets: &[Wallet],
    on_claim: &Callback<String>,
    on_prove: &Callback<Wallet>,
) -> Html {
    let t = |key| locale.text(key, &[]);
    // The input's value as the form is sent, by its name: nothing is kept while typing, and
    // the input keeps what the shopper typed whatever the answer.
    let onsubmit = on_claim.reform(|event: SubmitEvent| {
        event.prevent_default();
        let form: JsValue = event.target().map(Into::into).unwrap_or_default();
        js_sys::Reflect::get(&form, &"txHash".into())
            .and_then(|input| js_sys::Reflect::get(&input, &"value".into()))
            .ok()
            .and_then(|value| value.as_string())
            .unwrap_or_default()
            .trim()
            .to_owned()
    });
    let review = claim.review.as_deref();
    let sender = review.map_or("", |review| review.sender.as_str());
    let problem = match (&claim.refused, &claim.unproven) {
        (Some(failure), _) => reason(locale, failure),
        (_, Some(WalletError::Rejected)) => t(Text::WalletRejected),
        (_, Some(WalletError::Failed(why))) => why.clone(),
        (_, Some(_)) => locale.text(Text::ClaimNotSender, &[("sender", sender)]),
        _ => String::new(),
    };
    let busy = claim.busy.then_some("true");
    let proving = claim.proving();
    html! {
        <div class="usdt-checkout__claim">
            if offered {
                <details class="usdt-checkout__disclosure" open={claim.busy || claim.refused.is_some() || review.is_some()}>
                    <summary class="usdt-checkout__claim-toggle">{ t(Text::AlreadyPaid) }</summary>
                    <form class="usdt-checkout__claim-form" {onsubmit}>
                        <label class="usdt-checkout__label">
                            { t(Text::TxHash) }
                            <input class="usdt-checkout__input" type="text" name="txHash" placeholder="0x…"
                                autocomplete="off" spellcheck="false" autocapitalize="off" dir="ltr" />
                        </label>
                        // Not disabled while looking: a disabled button drops the focus. It says
                        // so instead, and a second press is ignored.
                        <button type="submit" class="usdt-checkout__secondary usdt-checkout__claim-submit" aria-disabled={busy}>
                            { if claim.busy && !proving { t(Text::Looking) } else { t(Text::FindPayment) } }
                        </button>
                        // Not a refusal: calm, and there before it speaks.
                        <p class="usdt-checkout__claim-review" role="status">
                            { if review.is_some() { t(Text::ClaimUnderReview) } else { String::new() } }
                        </p>
                        if review.is_some() && !wallets.is_empty() {
                            <p class="usdt-checkout__prove-hint">{ t(Text::ProveHint) }</p>
                            { for wallets.iter().map(|wallet| {
                                let onclick = on_prove.reform({
                                    let wallet = wallet.clone();
                                    move |_| wallet.clone()
                                });
                                html! {
                                    <button type="button" class="usdt-checkout__secondary usdt-checkout__prove" aria-disabled={busy} {onclick}>
                                        { if proving { t(Text::SignInWallet) } else { locale.text(Text::ProveWithWallet, &[("wallet", &wallet.name)]) } }
                                    </button>
                                }
                            }) }
                        }
                        <p class="usdt-checkout__claim-error" role="alert">{ problem }</p>
                    </form>
                </details>
            }
            <p class="usdt-checkout__claim-found" role="status">
                { if claim.found { t(Text::ClaimFound) } else { String::new() } }
            </p>
        </div>
    }
}
