//! What the shopper reads when the merchant server refuses: each code in their language, with
//! what it names, never the server's own message (English, for developers). A code this widget
//! does not know (a newer server's) is said in general words.

use std::time::Duration;

use usdt_checkout_protocol::checkout::ErrorCode;

use crate::client::Failure;
use crate::i18n::{Strings, Text};

/// Too many tries, with the seconds to wait: the server's, else a minute.
fn too_many_tries(strings: Strings, after: Option<Duration>) -> String {
    let seconds = (after.map_or(60, |after| after.as_secs().max(1)) as u32).to_string();
    strings.text(Text::TooManyTries, &[("seconds", &seconds)])
}

/// Why the checkout was not created, or what can be paid with not read. Only a refusal is said
/// here: no answer, or the gateway's pause, is a notice of its own ([`crate::model::Notice`]).
pub fn creation(strings: Strings, failure: &Failure) -> String {
    use ErrorCode as E;
    let (code, after) = match failure {
        Failure::Refused {
            code, retry_after, ..
        } => (*code, *retry_after),
        _ => (E::Unknown, None),
    };
    let text = match code {
        // The widget's request is well formed: what it names is not for sale here (an item, or
        // a storefront's checkout).
        E::InvalidRequest | E::NotFound => Text::UnknownItem,
        E::Unsupported => Text::Unsupported,
        E::Conflict => Text::AlreadyStarted,
        E::TooManyCheckouts => return too_many_tries(strings, after),
        _ => Text::Refused,
    };
    strings.text(text, &[])
}

/// A claim's own refusals, each with what it names.
fn claim_text(code: ErrorCode) -> Option<Text> {
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

/// Why a claim was not attached: a claim's refusal by its code with what it names, too many
/// tries with the seconds to wait, no answer as such, and any other refusal in general words.
pub fn claim(strings: Strings, failure: &Failure) -> String {
    said(strings, failure, claim_text)
}

/// A refund request's own refusals, each with what it names.
fn refund_text(code: ErrorCode) -> Option<Text> {
    use ErrorCode as E;
    Some(match code {
        E::RefundUnknownPayment => Text::RefundUnknownPayment,
        E::RefundNotRefundable => Text::RefundNotRefundable,
        E::RefundTooMuch => Text::RefundTooMuch,
        E::RefundBadSignature => Text::RefundBadSignature,
        E::RefundBadDestination => Text::RefundBadDestination,
        _ => return None,
    })
}

/// Why a refund request was not kept, as a claim's refusal is said (its limit is the claims').
pub fn refund(strings: Strings, failure: &Failure) -> String {
    said(strings, failure, refund_text)
}

/// A refusal by its code (`texts` says which codes have words of their own), with what it
/// names; too many tries with the seconds to wait; no answer as such; any other in general
/// words.
fn said(strings: Strings, failure: &Failure, texts: fn(ErrorCode) -> Option<Text>) -> String {
    let (code, after, params) = match failure {
        Failure::Refused {
            code,
            retry_after,
            params,
            ..
        } => (*code, *retry_after, params.as_slice()),
        // A 429 is answered before its body is read: the claims' own limit, or one in front.
        Failure::RateLimited(after) => return too_many_tries(strings, *after),
        Failure::Unreachable | Failure::Blocked(_) => {
            return strings.text(Text::ClaimUnreachable, &[]);
        }
    };
    if code == ErrorCode::TooManyClaims {
        return too_many_tries(strings, after);
    }
    let Some(text) = texts(code) else {
        return strings.text(Text::Refused, &[]);
    };
    // Each value in the shopper's numbers: an amount is written as the shopper reads numbers; a
    // network, symbol or address is no plain decimal and stays as it is.
    // (Six at most: `tx_amount_differs` names four.)
    let values: [String; 6] = std::array::from_fn(|i| {
        params
            .get(i)
            .map_or_else(String::new, |(_, value)| strings.amount(value))
    });
    let pairs: [(&str, &str); 6] = std::array::from_fn(|i| {
        let name = params.get(i).map_or("", |(name, _)| name.as_str());
        (name, values[i].as_str())
    });
    strings.text(text, &pairs)
}
