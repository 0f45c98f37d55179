//! "I already paid": a disclosure under the payment that reveals a form for the transaction's
//! hash, the server's answer beside it, and a polite word once the payment is found. A payment
//! claimed without proof that the shopper sent it is kept for the merchant to check: the form
//! says so calmly, and offers to prove it with the browser's wallets. Rendered from the model's
//! [`Claim`]; [`crate::hooks::use_claim`] sends it. A function, not a component: it keeps no
//! state of its own (the hash stays in its input, read when the form is sent), and each
//! component is a copy of Yew's lifecycle code in the download.

use yew::prelude::*;

use super::wallet_pay::{wallet_name, wallet_problem};
use super::{form_value, nodes};
use crate::i18n::{Strings, Text};
use crate::model::Claim;
use crate::refusal;
use crate::wallet::{Wallet, WalletError};

/// "I already paid" when `offered` (while the screen asks for money, and after it expired: a
/// payment sent in time may not have been seen): a native disclosure, which the browser opens,
/// closes and announces as such, held open while a claim is looked up, refused or under review
/// and closed once one is found; and the confirmation of a claim found, which stays when the
/// screen no longer asks for money (the status line then says confirming or paid). Under review,
/// each of `wallets` offers to prove the payment (`on_prove`); why a proof failed is said where
/// a refusal is, and the review stays.
pub fn claim_form(
    strings: Strings,
    claim: &Claim,
    offered: bool,
    wallets: &[Wallet],
    on_claim: &Callback<String>,
    on_prove: &Callback<Wallet>,
) -> Html {
    let t = |key| strings.text(key, &[]);
    // The input's value as the form is sent, by its name: nothing is kept while typing, and
    // the input keeps what the shopper typed whatever the answer.
    let onsubmit = on_claim.reform(|event: SubmitEvent| {
        event.prevent_default();
        form_value(event.target(), "txHash").trim().to_owned()
    });
    let review = claim.review.as_deref();
    let sender = review.map_or("", |review| review.sender.as_str());
    let problem = match (&claim.refused, claim.unproven) {
        (Some(failure), _) => refusal::claim(strings, failure),
        (_, Some(WalletError::OtherAccount)) => {
            strings.text(Text::ClaimNotSender, &[("sender", sender)])
        }
        // Signing asks no network of the wallet.
        (_, Some(error)) => wallet_problem(strings, error, ""),
        _ => String::new(),
    };
    let busy = claim.busy.then_some("true");
    let proving = claim.proving();
    let mut proofs = Vec::new();
    for wallet in wallets {
        let onclick = on_prove.reform({
            let wallet = wallet.clone();
            move |_| wallet.clone()
        });
        proofs.push(html! {
            <button type="button" class="usdt-checkout__secondary usdt-checkout__prove" aria-disabled={busy} {onclick}>
                { if proving { t(Text::SignInWallet) } else { strings.text(Text::ProveWithWallet, &[("wallet", &wallet_name(strings, wallet))]) } }
            </button>
        });
    }
    let proofs = nodes(proofs);
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
                            { proofs }
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
