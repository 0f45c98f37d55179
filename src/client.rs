//! The widget's two servers: the merchant's checkout server (create a checkout, poll its status)
//! and the gateway's public API (networks, tokens, rates). Each answer becomes a value the
//! widget can show: a view, "unchanged", or a failure that says what the shopper should see.

use std::time::Duration;

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use usdt_checkout_protocol::checkout::{
    ApiError, CheckoutView, CreateCheckout, ERROR_GATEWAY_BLOCKED, ERROR_GATEWAY_RATE_LIMITED,
    MAX_LONG_POLL_SECONDS,
};
use usdt_checkout_protocol::gateway::{Cryptocurrency, ExchangeRate, Network, PATH_RATES};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::options::Settings;

/// Why a call did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer: the server is down or the network is.
    Unreachable,
    RateLimited(Option<Duration>),
    Blocked(Option<Duration>),
    /// The merchant server refused, with its message (shown to the shopper as is).
    Refused {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
}

/// One HTTP exchange. A network error, a CORS refusal and an aborted request all mean the same
/// to a shopper: no answer.
async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, Failure> {
    request
        .map_err(|_| Failure::Unreachable)?
        .send()
        .await
        .map_err(|_| Failure::Unreachable)
}

fn get(url: &str) -> RequestBuilder {
    Request::get(url)
}

/// A JSON body as the browser parses it (`Response.json()`): the servers' numbers are whole and
/// below 2^53, and amounts travel as strings, so nothing is lost on the way.
async fn parsed(response: Response) -> Result<JsValue, Failure> {
    let raw: web_sys::Response = response.into();
    let body = raw.json().map_err(|_| Failure::Unreachable)?;
    JsFuture::from(body).await.map_err(|_| Failure::Unreachable)
}

/// The body read into the protocol crate's own type: the wire format has one definition.
async fn json<T: DeserializeOwned>(response: Response) -> Result<T, Failure> {
    serde_wasm_bindgen::from_value(parsed(response).await?).map_err(|_| Failure::Unreachable)
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name)
}

fn retry_after(response: &Response) -> Option<Duration> {
    header(response, "retry-after")
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
}

async fn refusal(response: Response) -> Failure {
    let status = response.status();
    let after = retry_after(&response);
    match status {
        429 => return Failure::RateLimited(after),
        418 => return Failure::Blocked(after),
        _ => {}
    }
    match json::<ApiError>(response).await {
        Ok(error) if error.code == ERROR_GATEWAY_RATE_LIMITED => Failure::RateLimited(after),
        Ok(error) if error.code == ERROR_GATEWAY_BLOCKED => Failure::Blocked(after),
        Ok(error) => Failure::Refused {
            status,
            message: error.message,
            retry_after: after,
        },
        Err(_) => Failure::Refused {
            status,
            message: format!("HTTP {status}"),
            retry_after: after,
        },
    }
}

pub async fn create_checkout(
    merchant_url: &str,
    request: &CreateCheckout,
) -> Result<CheckoutView, Failure> {
    let body = serde_wasm_bindgen::to_value(request)
        .ok()
        .and_then(|value| js_sys::JSON::stringify(&value).ok())
        .ok_or(Failure::Unreachable)?;
    let response = send(
        Request::post(&crate::cat(&[merchant_url, "/api/checkouts"]))
            .header("content-type", "application/json")
            .body(body),
    )
    .await?;
    if response.status() == 201 || response.status() == 200 {
        json(response).await
    } else {
        Err(refusal(response).await)
    }
}

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
        Some(tag) => {
            get(&format!("{url}?wait={MAX_LONG_POLL_SECONDS}")).header("if-none-match", tag)
        }
        None => get(&url),
    };
    let response = send(request.build()).await?;
    let etag = header(&response, "etag");
    match response.status() {
        304 => Ok(Poll { view: None, etag }),
        200 => Ok(Poll {
            view: Some(json(response).await?),
            etag,
        }),
        _ => Err(refusal(response).await),
    }
}

async fn public<T: DeserializeOwned>(url: &str) -> Result<T, Failure> {
    let response = send(get(url).build()).await?;
    if response.status() != 200 {
        return Err(refusal(response).await);
    }
    // Bare, or in V2's envelope `{code, success, data, msg, trace}`.
    let answer = parsed(response).await?;
    let field = |name: &str| js_sys::Reflect::get(&answer, &JsValue::from_str(name));
    let data = match field("success") {
        Ok(success) if success.as_bool().is_some() => {
            field("data").map_err(|_| Failure::Unreachable)?
        }
        _ => answer.clone(),
    };
    serde_wasm_bindgen::from_value(data).map_err(|_| Failure::Unreachable)
}

/// A locale table (`www/locales/<tag>.json`), as the browser parses it.
pub async fn locale_table(url: &str) -> Result<JsValue, Failure> {
    let response = send(get(url).build()).await?;
    if response.status() != 200 {
        return Err(Failure::Unreachable);
    }
    parsed(response).await
}

/// What the chooser offers: the gateway's networks, tokens and rates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    pub networks: Vec<Network>,
    pub tokens: Vec<Cryptocurrency>,
    pub rates: Vec<ExchangeRate>,
}

pub async fn offer(settings: &Settings) -> Result<Offer, Failure> {
    Ok(Offer {
        networks: public(&settings.networks_url).await?,
        tokens: public(&settings.tokens_url).await?,
        // Rates only show a fiat value beside the amount: the shopper can pay without them
        // (BlockATM documents no rate list; the sandbox has one).
        rates: public(&crate::cat(&[&settings.gateway_url, PATH_RATES]))
            .await
            .unwrap_or_default(),
    })
}
