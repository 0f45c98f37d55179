//! The widget's two servers: the merchant's checkout server (create a checkout, poll its status)
//! and the gateway's public API (networks, tokens). Each answer becomes a value the
//! widget can show: a view, "unchanged", or a failure that says what the shopper should see.

use std::time::Duration;

use gloo_net::http::{Request, RequestBuilder, Response};
use usdt_checkout_protocol::ChainRegistry;
#[cfg(any(doc, test))]
use usdt_checkout_protocol::checkout::MAX_LONG_POLL_SECONDS;
#[cfg(doc)]
use usdt_checkout_protocol::checkout::{ApiError, ClaimRequest};
use usdt_checkout_protocol::checkout::{
    CheckoutView, CreateCheckout, ErrorCode, PATH_CHECKOUTS, PATH_CLAIMS,
};
use usdt_checkout_protocol::gateway::lists::List;
use usdt_checkout_protocol::gateway::{Cryptocurrency, Listed, Network, Skipped, describe};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::options::{self, Settings};

/// Why a call did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer: the server is down or the network is.
    Unreachable,
    RateLimited(Option<Duration>),
    Blocked(Option<Duration>),
    /// The merchant server refused: the shopper is told why by its code, in their language (the
    /// server's message is for developers, in English, and is not read).
    Refused {
        status: u16,
        /// The error's stable code; [`ErrorCode::Unknown`] when the answer was no [`ApiError`].
        code: ErrorCode,
        retry_after: Option<Duration>,
        /// What the error names, for a client to say it in its own words (see the `Tx*`
        /// [`ErrorCode`]s).
        params: Vec<(String, String)>,
    },
}

/// An [`ApiError`] as the widget reads it from the
/// parsed body: its code, retry time and `params` (as pairs), not its message. Read by hand: the
/// protocol's type keeps the params in a `BTreeMap`, whose code is weight every shopper downloads;
/// the tests check it reads the servers' errors as the protocol's type does.
pub struct Refusal {
    pub code: ErrorCode,
    pub retry_after: Option<u64>,
    pub params: Vec<(String, String)>,
}

impl Refusal {
    /// The refusal in a parsed body; `None` if it is not an [`ApiError`]'s shape.
    pub fn read(body: &JsValue) -> Option<Self> {
        let field = |name: &str| js_sys::Reflect::get(body, &JsValue::from_str(name)).ok();
        let text = |name| field(name)?.as_string();
        let mut params = Vec::new();
        if let Some(object) = field("params").filter(JsValue::is_object) {
            for entry in js_sys::Object::entries(object.unchecked_ref()).iter() {
                let entry: js_sys::Array = entry.unchecked_into();
                if let (Some(name), Some(value)) =
                    (entry.get(0).as_string(), entry.get(1).as_string())
                {
                    params.push((name, value));
                }
            }
        }
        Some(Self {
            code: ErrorCode::from_name(&text("code")?),
            retry_after: field("retryAfter")
                .and_then(|after| after.as_f64())
                .map(|after| after as u64),
            params,
        })
    }
}

/// One HTTP exchange. A network error, a CORS refusal and an aborted request all mean the same
/// to a shopper: no answer.
pub(crate) async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, Failure> {
    request
        .map_err(|_| Failure::Unreachable)?
        .send()
        .await
        .map_err(|_| Failure::Unreachable)
}

pub(crate) fn get(url: &str) -> RequestBuilder {
    Request::get(url)
}

/// A JSON body as the browser parses it (`Response.json()`): the servers' numbers are whole and
/// below 2^53, and amounts travel as strings, so nothing is lost on the way.
pub(crate) async fn parsed(response: Response) -> Result<JsValue, Failure> {
    let raw: web_sys::Response = response.into();
    let body = raw.json().map_err(|_| Failure::Unreachable)?;
    JsFuture::from(body).await.map_err(|_| Failure::Unreachable)
}

/// The body read into the protocol crate's own view (by hand, as its serde reader reads it: see
/// the view module).
async fn view(response: Response) -> Result<CheckoutView, Failure> {
    crate::view::read(&parsed(response).await?).ok_or(Failure::Unreachable)
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name)
}

fn retry_after(response: &Response) -> Option<Duration> {
    header(response, "retry-after")
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
}

pub(crate) async fn refusal(response: Response) -> Failure {
    let status = response.status();
    let after = retry_after(&response);
    match status {
        429 => return Failure::RateLimited(after),
        418 => return Failure::Blocked(after),
        _ => {}
    }
    let body = parsed(response).await.ok();
    match body.as_ref().and_then(Refusal::read) {
        Some(error) if error.code == ErrorCode::GatewayRateLimited => Failure::RateLimited(after),
        Some(error) if error.code == ErrorCode::GatewayBlocked => Failure::Blocked(after),
        Some(error) => Failure::Refused {
            status,
            code: error.code,
            retry_after: after.or(error.retry_after.map(Duration::from_secs)),
            params: error.params,
        },
        None => Failure::Refused {
            status,
            code: ErrorCode::Unknown,
            retry_after: after,
            params: Vec::new(),
        },
    }
}

/// A JSON object of the `fields` that have a value, as the browser writes it: the few bodies the
/// widget sends are built here, not by a serializer (whose code every shopper would download for
/// them); the tests check the servers read each as the protocol's type.
pub(crate) fn body(fields: &[(&str, Option<JsValue>)]) -> Result<String, Failure> {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        if let Some(value) = value {
            let _ = js_sys::Reflect::set(&object, &JsValue::from_str(name), value);
        }
    }
    js_sys::JSON::stringify(&object)
        .map(String::from)
        .map_err(|_| Failure::Unreachable)
}

/// The body of `POST /api/checkouts`: a [`CreateCheckout`] as the server reads it.
pub fn create_body(request: &CreateCheckout) -> Result<String, Failure> {
    let text = |value: &str| Some(JsValue::from_str(value));
    body(&[
        ("item", request.item.as_deref().and_then(text)),
        ("checkoutId", request.checkout_id.as_deref().and_then(text)),
        (
            "chainId",
            Some(JsValue::from_f64(request.chain_id.0 as f64)),
        ),
        ("symbol", text(&request.symbol)),
        ("idempotencyKey", text(&request.idempotency_key)),
    ])
}

/// The body of `POST /api/checkouts/{id}/claims`: a [`ClaimRequest`] as the server reads it,
/// with the sending wallet's `signature` once the shopper proves the payment.
pub fn claim_body(tx_hash: &str, signature: Option<&str>) -> Result<String, Failure> {
    body(&[
        ("txHash", Some(JsValue::from_str(tx_hash))),
        ("signature", signature.map(JsValue::from_str)),
    ])
}

/// A JSON `body` posted to `url`, answered with a checkout's view.
async fn post(url: &str, body: String) -> Result<CheckoutView, Failure> {
    let response = send(
        Request::post(url)
            .header("content-type", "application/json")
            .body(body),
    )
    .await?;
    if response.status() == 201 || response.status() == 200 {
        view(response).await
    } else {
        Err(refusal(response).await)
    }
}

pub async fn create_checkout(
    merchant_url: &str,
    request: &CreateCheckout,
) -> Result<CheckoutView, Failure> {
    let url = crate::cat(&[merchant_url, PATH_CHECKOUTS]);
    post(&url, create_body(request)?).await
}

/// "I already paid": the checkout's view once the transaction `tx_hash` counts for it, or why
/// not (a refusal's code and params say what was found). Without the `signature` of the wallet
/// that sent it, a payment that would count is kept for the merchant to check instead: a
/// [`Failure::Refused`] of status 202 and code [`ErrorCode::ClaimUnderReview`], whose params name
/// the sender and the message its wallet signs to prove it.
pub async fn claim(
    merchant_url: &str,
    id: &str,
    tx_hash: &str,
    signature: Option<&str>,
) -> Result<CheckoutView, Failure> {
    let url = crate::cat(&[merchant_url, PATH_CHECKOUTS, "/", id, "/", PATH_CLAIMS]);
    post(&url, claim_body(tx_hash, signature)?).await
}

/// [`MAX_LONG_POLL_SECONDS`] as the long poll's `wait` parameter, written out: the number's
/// text made at run time cost more of the download (the test holds them equal).
const WAIT: &str = "25";

/// A status poll: the new view, or `None` when nothing changed since `etag`.
pub struct Poll {
    pub view: Option<CheckoutView>,
    pub etag: Option<String>,
}

pub async fn poll_status(
    merchant_url: &str,
    id: &str,
    etag: Option<&str>,
) -> Result<Poll, Failure> {
    let url = crate::cat(&[merchant_url, "/api/checkouts/", id]);
    let request = match etag {
        // Ask the server to hold the request until something changes.
        // The query through the builder, not written into the URL: it appends its own after an
        // `&`, so `…?wait=25` would be sent as `…?wait=25&`.
        Some(tag) => get(&url)
            .query([("wait", WAIT)])
            .header("if-none-match", tag),
        None => get(&url),
    };
    let response = send(request.build()).await?;
    let etag = header(&response, "etag");
    match response.status() {
        304 => Ok(Poll { view: None, etag }),
        200 => Ok(Poll {
            view: Some(view(response).await?),
            etag,
        }),
        _ => Err(refusal(response).await),
    }
}

/// One of the gateway's public lists, as the browser parsed it.
async fn public(url: &str) -> Result<JsValue, Failure> {
    let response = send(get(url).build()).await?;
    if response.status() != 200 {
        return Err(refusal(response).await);
    }
    // Bare, or in V2's envelope `{code, success, data, msg, trace}`.
    let answer = parsed(response).await?;
    let field = |name: &str| js_sys::Reflect::get(&answer, &JsValue::from_str(name));
    match field("success") {
        Ok(success) if success.as_bool().is_some() => {
            field("data").map_err(|_| Failure::Unreachable)
        }
        _ => Ok(answer),
    }
}

/// A locale table (`www/locales/<tag>.json`), as the browser parses it.
pub async fn locale_table(url: &str) -> Result<JsValue, Failure> {
    let response = send(get(url).build()).await?;
    if response.status() != 200 {
        return Err(Failure::Unreachable);
    }
    parsed(response).await
}

// The gateway's two public lists are read by hand, as the protocol's `Listed` reads an entry
// (the tests hold the two readers to the same answers): serde's readers were 1.5 KB gzipped of
// the download.

/// `name` of an entry as text: a string's, or a whole number's digits (up to 2^53 - 1, what the
/// browser reads exactly); `None` for anything else.
fn scalar(entry: &JsValue, name: &str) -> Option<String> {
    let value = options::field(entry, name);
    value
        .as_string()
        .or_else(|| options::whole_number(&value).map(|n| n.to_string()))
}

/// A public list, as the browser parsed it: each entry's `chainId` and `symbol`, whatever else
/// it holds; `None` if it is no array.
pub fn listed(value: &JsValue) -> Option<Vec<Listed>> {
    if !js_sys::Array::is_array(value) {
        return None;
    }
    let mut entries = Vec::new();
    for entry in js_sys::Array::from(value).iter() {
        entries.push(Listed {
            chain_id: scalar(&entry, "chainId"),
            symbol: scalar(&entry, "symbol"),
        });
    }
    Some(entries)
}

/// A skipped entry as `Skipped`'s Display says it, its values in plain quotes: Display quotes
/// them with `{:?}` (escaped, for the servers' logs), whose escaping code was 0.4 KB of the
/// gzipped download, for a line on the console.
fn skipped_line(skipped: &Skipped) -> String {
    let list = match skipped.list {
        List::Networks => "the gateway's network list: ",
        List::Tokens => "the gateway's token list: ",
    };
    let symbol = match &skipped.symbol {
        Some(symbol) => crate::cat(&["\"", symbol, "\" on "]),
        None => String::new(),
    };
    let at = match &skipped.chain_id {
        Some(id) => crate::cat(&["chainId \"", id, "\""]),
        None => "an entry without a chainId".into(),
    };
    crate::cat(&[list, &symbol, &at, " skipped: ", skipped.reason.as_str()])
}

/// What the chooser offers: the gateway's networks and tokens, as the product describes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    pub networks: Vec<Network>,
    pub tokens: Vec<Cryptocurrency>,
}

/// The lists described from the built-in registry: the widget has no merchant configuration, and
/// the checkout server says nothing of its chains before a checkout is made, so an entry the
/// registry cannot describe is left out of the chooser (the checkout server describes it, and
/// would accept it, only with its own configuration), said on the console.
pub fn described(networks: &[Listed], tokens: &[Listed]) -> Offer {
    let described = describe(networks, tokens, &ChainRegistry::builtin());
    for skipped in &described.skipped {
        web_sys::console::warn_1(&crate::cat(&["usdt-checkout: ", &skipped_line(skipped)]).into());
    }
    Offer {
        networks: described.networks,
        tokens: described.tokens,
    }
}

pub async fn offer(settings: &Settings) -> Result<Offer, Failure> {
    let unread = || Failure::Unreachable;
    let networks = listed(&public(&settings.networks_url).await?).ok_or_else(unread)?;
    let tokens = listed(&public(&settings.tokens_url).await?).ok_or_else(unread)?;
    Ok(described(&networks, &tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_poll_waits_as_long_as_the_protocol_allows() {
        assert_eq!(WAIT, MAX_LONG_POLL_SECONDS.to_string());
    }

    #[test]
    fn a_skipped_entry_is_said_as_the_protocol_says_it() {
        let entry = |chain_id: Option<&str>, symbol: Option<&str>| Listed {
            chain_id: chain_id.map(Into::into),
            symbol: symbol.map(Into::into),
        };
        let described = describe(
            &[
                entry(Some("TRON"), None),
                entry(None, None),
                entry(Some("5"), None),
            ],
            &[entry(Some("1"), Some("DAI")), entry(Some("1"), None)],
            &ChainRegistry::builtin(),
        );
        assert_eq!(described.skipped.len(), 5);
        for skipped in &described.skipped {
            assert_eq!(skipped_line(skipped), skipped.to_string());
        }
    }
}
