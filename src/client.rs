//! The widget's two servers: the merchant's checkout server (create a checkout, poll its status)
//! and the gateway's public API (networks, tokens, rates). Each answer becomes a value the
//! widget can show: a view, "unchanged", or a failure that says what the shopper should see.

use std::time::Duration;

use usdt_checkout_protocol::checkout::{
    ApiError, CheckoutView, CreateCheckout, ERROR_GATEWAY_BLOCKED, ERROR_GATEWAY_RATE_LIMITED,
    MAX_LONG_POLL_SECONDS,
};
use usdt_checkout_protocol::gateway::{Cryptocurrency, ExchangeRate, Network, PATH_RATES};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

use crate::options::Settings;
use crate::wire::{self, FromJs};

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

/// One HTTP exchange through the browser's `fetch`. A network error, a CORS refusal and an
/// aborted request all mean the same to a shopper: no answer.
async fn fetch(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Response, Failure> {
    let init = RequestInit::new();
    init.set_method(method);
    let sent = Headers::new().map_err(|_| Failure::Unreachable)?;
    for (name, value) in headers {
        sent.set(name, value).map_err(|_| Failure::Unreachable)?;
    }
    init.set_headers(&sent);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    let window = web_sys::window().ok_or(Failure::Unreachable)?;
    let response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| Failure::Unreachable)?;
    response.dyn_into().map_err(|_| Failure::Unreachable)
}

/// A JSON body, parsed by the browser. An answer that is not JSON is no answer.
async fn parsed(response: Response) -> Result<JsValue, Failure> {
    let body = response.json().map_err(|_| Failure::Unreachable)?;
    JsFuture::from(body).await.map_err(|_| Failure::Unreachable)
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

async fn json<T: FromJs>(response: Response) -> Result<T, Failure> {
    T::from_js(&parsed(response).await?).ok_or(Failure::Unreachable)
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
    let body = wire::create_checkout_body(request).ok_or(Failure::Unreachable)?;
    let response = fetch(
        "POST",
        &crate::cat(&[merchant_url, "/api/checkouts"]),
        &[("content-type", "application/json")],
        Some(&body),
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
    let response = match etag {
        // Ask the server to hold the request until something changes.
        Some(tag) => {
            let url = format!("{url}?wait={MAX_LONG_POLL_SECONDS}");
            fetch("GET", &url, &[("if-none-match", tag)], None).await?
        }
        None => fetch("GET", &url, &[], None).await?,
    };
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

async fn public<T: FromJs>(url: &str) -> Result<T, Failure> {
    let response = fetch("GET", url, &[], None).await?;
    if response.status() != 200 {
        return Err(refusal(response).await);
    }
    // Bare, or in V2's envelope `{code, success, data, msg, trace}`.
    let answer = parsed(response).await?;
    let data = if wire::field(&answer, "success").as_bool().is_some() {
        wire::field(&answer, "data")
    } else {
        answer
    };
    T::from_js(&data).ok_or(Failure::Unreachable)
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
