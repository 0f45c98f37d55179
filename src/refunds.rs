//! The shopper's refunds, as the merchant server says them: what may be asked back and the
//! requests made (`GET …/refunds`, read only when the status view says money is refundable),
//! and a request (`POST`). Read by hand into the protocol's own types, as [`crate::view`] reads
//! a status view (the tests hold both readers to the same answers): its helpers, no serde.

use gloo_net::http::Request;
use usdt_checkout_protocol::ChainId;
use usdt_checkout_protocol::checkout::PATH_CHECKOUTS;
use usdt_checkout_protocol::refund::{
    PATH_REFUNDS, RefundAsk, RefundState, RefundView, RefundableView, RefundsView,
};
use wasm_bindgen::JsValue;

use crate::client::{self, Failure};
use crate::options::field;
use crate::view::{number, optional_number, optional_text, small, text};

fn refundable(object: &JsValue) -> Option<RefundableView> {
    Some(RefundableView {
        chain_id: ChainId(number(object, "chainId")?),
        network: text(object, "network")?,
        symbol: text(object, "symbol")?,
        decimals: u8::try_from(small(object, "decimals")?).ok()?,
        source_tx: text(object, "sourceTx")?,
        source_log_index: number(object, "sourceLogIndex")?,
        from: text(object, "from")?.parse().ok()?,
        max: text(object, "max")?,
        message: optional_text(object, "message")?,
    })
}

/// One refund as its shopper sees it.
pub fn refund(object: &JsValue) -> Option<RefundView> {
    Some(RefundView {
        id: text(object, "id")?,
        state: RefundState::from_name(&text(object, "state")?)?,
        amount: text(object, "amount")?,
        symbol: text(object, "symbol")?,
        network: text(object, "network")?,
        chain_id: ChainId(number(object, "chainId")?),
        destination: text(object, "destination")?.parse().ok()?,
        proven: field(object, "proven").as_bool()?,
        sent_tx: optional_text(object, "sentTx")?,
        explorer_url: optional_text(object, "explorerUrl")?,
        confirmations: match optional_number(object, "confirmations")? {
            None => None,
            Some(n) => Some(u32::try_from(n).ok()?),
        },
        reason: optional_text(object, "reason")?,
        receipt_url: optional_text(object, "receiptUrl")?,
    })
}

/// `name` of `object` as a list, each item read by `item`.
fn list<T>(object: &JsValue, name: &str, item: fn(&JsValue) -> Option<T>) -> Option<Vec<T>> {
    let value = field(object, name);
    if !js_sys::Array::is_array(&value) {
        return None;
    }
    let mut read = Vec::new();
    for entry in js_sys::Array::from(&value).iter() {
        read.push(item(&entry)?);
    }
    Some(read)
}

/// The refunds in a parsed body; `None` if it is not a [`RefundsView`].
pub fn read(body: &JsValue) -> Option<RefundsView> {
    Some(RefundsView {
        refundable: list(body, "refundable", refundable)?,
        refunds: list(body, "refunds", refund)?,
    })
}

/// In how many milliseconds the refunds are read again: never once nothing more will change by
/// itself for the shopper to see (each request refused, or sent with at least `required`
/// confirmations); soon while one is approved (its transfer is awaited) or confirming; less
/// often while the merchant has yet to decide (which can take days). The merchant's decision
/// and the chain's confirmations do not change the order's status, which is polled apart.
pub fn read_again_in(view: &RefundsView, required: u32) -> Option<u32> {
    let mut again = None;
    for refund in &view.refunds {
        let wait = match refund.state {
            RefundState::Requested => 15_000,
            RefundState::Approved => 5_000,
            RefundState::Sent if refund.confirmations.is_some_and(|n| n >= required) => continue,
            RefundState::Sent => 5_000,
            RefundState::Refused => continue,
        };
        again = Some(again.map_or(wait, |soonest: u32| soonest.min(wait)));
    }
    again
}

/// A request is waiting for the merchant: not asked again meanwhile (a request reserves no
/// money, so the server would keep a second one beside it).
pub fn waiting(view: &RefundsView) -> bool {
    view.refunds
        .iter()
        .any(|refund| refund.state == RefundState::Requested)
}

fn url(merchant_url: &str, id: &str) -> String {
    crate::cat(&[merchant_url, PATH_CHECKOUTS, "/", id, "/", PATH_REFUNDS])
}

/// What the shopper of checkout `id` may ask back, and their requests.
pub async fn refunds(merchant_url: &str, id: &str) -> Result<RefundsView, Failure> {
    let response = client::send(client::get(&url(merchant_url, id)).build()).await?;
    // Whatever went wrong, the refunds are read again later: no refusal is read.
    if response.status() != 200 {
        return Err(Failure::Unreachable);
    }
    read(&client::parsed(response).await?).ok_or(Failure::Unreachable)
}

/// The body of a request: a [`RefundAsk`] as the server reads it.
pub fn ask_body(ask: &RefundAsk) -> Result<String, Failure> {
    let text = |value: &str| Some(JsValue::from_str(value));
    client::body(&[
        ("chainId", Some(JsValue::from_f64(ask.chain_id.0 as f64))),
        ("sourceTx", text(&ask.source_tx)),
        (
            "sourceLogIndex",
            Some(JsValue::from_f64(ask.source_log_index as f64)),
        ),
        ("amount", text(&ask.amount)),
        ("destination", text(&ask.destination)),
        ("signature", ask.signature.as_deref().and_then(text)),
        ("email", ask.email.as_deref().and_then(text)),
    ])
}

/// Asks for a refund: the request as kept (a signature sent again is the request it made), or
/// why not (a `Refund*` code).
pub async fn ask(merchant_url: &str, id: &str, ask: &RefundAsk) -> Result<RefundView, Failure> {
    let response = client::send(
        Request::post(&url(merchant_url, id))
            .header("content-type", "application/json")
            .body(ask_body(ask)?),
    )
    .await?;
    if response.status() == 201 || response.status() == 200 {
        refund(&client::parsed(response).await?).ok_or(Failure::Unreachable)
    } else {
        Err(client::refusal(response).await)
    }
}

#[cfg(test)]
mod tests {
    use usdt_checkout_protocol::Address;

    use super::*;

    fn refund(state: RefundState, confirmations: Option<u32>) -> RefundView {
        RefundView {
            id: "rf_1".into(),
            state,
            amount: "2".into(),
            symbol: "USDT".into(),
            network: "Local chain".into(),
            chain_id: ChainId(31337),
            destination: Address::from_bytes([0x11; 20]),
            proven: true,
            sent_tx: None,
            explorer_url: None,
            confirmations,
            reason: None,
            receipt_url: None,
        }
    }

    #[test]
    fn refunds_are_read_again_until_each_is_decided_and_confirmed() {
        use RefundState::*;
        let view = |refunds| RefundsView {
            refundable: vec![],
            refunds,
        };
        assert_eq!(read_again_in(&view(vec![]), 2), None, "none asked");
        for (refunds, again, waits) in [
            (vec![refund(Requested, None)], Some(15_000), true),
            (vec![refund(Approved, None)], Some(5_000), false),
            (vec![refund(Sent, None)], Some(5_000), false),
            (vec![refund(Sent, Some(1))], Some(5_000), false),
            (vec![refund(Sent, Some(2))], None, false),
            (vec![refund(Refused, None)], None, false),
            (
                vec![refund(Refused, None), refund(Requested, None)],
                Some(15_000),
                true,
            ),
            (
                vec![refund(Requested, None), refund(Approved, None)],
                Some(5_000),
                true,
            ),
        ] {
            let view = view(refunds);
            assert_eq!(read_again_in(&view, 2), again, "{view:?}");
            assert_eq!(waiting(&view), waits, "{view:?}");
        }
    }
}
