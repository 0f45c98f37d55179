//! The one client through which every call to the gateway goes. It takes each call from the
//! request budget first, signs it, and turns every kind of answer into a result a caller can act
//! on: 429 and 418 pause all calls for the time the gateway gave; timeouts, 5xx and bodies that
//! are not the gateway's API are errors that change nothing. Creating an order is retried, which
//! is safe because the gateway makes one order per `orderNo`: a repeat gets the same order, or
//! (V2) "Data Already Exists", and the order is then read back.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use serde::de::DeserializeOwned;
use usdt_checkout_protocol::backoff::full_jitter;
pub use usdt_checkout_protocol::checkout::GatewayHealth;
use usdt_checkout_protocol::gateway::{HEADER_API_KEY, HEADER_REQUEST_TIME, read_answer};
use usdt_checkout_protocol::signed_string;

use super::outcome::{
    DEFAULT_BLOCKED, DEFAULT_LIMITED, GatewayError, MAX_BLOCKED, MAX_LIMITED, MAX_PAUSE, answered,
    answered_health, given_up, later, pause_at_most, pause_for,
};
use super::{Call, CreatedOrder, Dialect, GatewayApi, GatewayReport, NewOrder};
use crate::budget::{Budget, Priority};
use crate::clock::now_ms;

/// How long a shopper's request may wait for room in the budget before it is told to retry.
const CREATION_MAX_WAIT: Duration = Duration::from_secs(3);
const CREATION_ATTEMPTS: u32 = 3;

pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
    api_key: String,
    api: GatewayApi,
    /// This server's own count of its calls; the budget itself, when shared (see
    /// [`GatewayClient::sharing_budget`]), is the database's.
    budget: Mutex<Budget>,
    shared: Option<crate::store::Store>,
    requests_per_minute: usize,
    /// Watched by status long polls: a shopper sees the gateway's trouble as it starts and ends.
    health: watch::Sender<GatewayHealth>,
    refusals: std::sync::atomic::AtomicU64,
}

impl GatewayClient {
    pub fn new(
        base: String,
        api_key: String,
        requests_per_minute: usize,
        timeout: Duration,
        api: GatewayApi,
    ) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(3)))
                .build()
                .expect("an HTTP client with the default TLS settings builds"),
            base,
            api_key,
            api,
            budget: Mutex::new(Budget::new(requests_per_minute)),
            shared: None,
            requests_per_minute,
            health: watch::Sender::new(GatewayHealth::Available),
            refusals: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Keeps the call budget in `store`'s database: every server on it then spends one budget,
    /// as the gateway counts (per API key), and a restart forgets no call and no pause.
    pub fn sharing_budget(mut self, store: crate::store::Store) -> Self {
        self.shared = Some(store);
        self
    }

    /// Runs `decide` on the budget: the shared one, or, without one or while the database cannot
    /// be reached, this server's own. Either way its pause first ends no later than
    /// [`MAX_PAUSE`] from now, and this server's own budget keeps the pause decided (what
    /// `/healthz` says).
    async fn with_budget<T>(&self, decide: impl Fn(&mut Budget) -> T) -> T {
        let per_minute = self.requests_per_minute;
        let ceiling = later(MAX_PAUSE);
        if let Some(store) = &self.shared {
            let shared = store
                .with_budget(&self.api_key, per_minute, |budget| {
                    pause_at_most(budget, per_minute, ceiling);
                    let decided = decide(budget);
                    (decided, budget.paused_until())
                })
                .await;
            match shared {
                Ok((decided, paused)) => {
                    // This server's count, for its own status, follows the shared one, and its
                    // pause is the shared one.
                    let mut own = self.budget.lock().expect("budget lock");
                    let _ = decide(&mut own);
                    let (sent, _) = own.kept();
                    *own = Budget::restore(per_minute, sent, paused);
                    return decided;
                }
                Err(e) => tracing::warn!("the shared gateway budget: {e}; counting alone"),
            }
        }
        let mut own = self.budget.lock().expect("budget lock");
        pause_at_most(&mut own, per_minute, ceiling);
        decide(&mut own)
    }

    /// Takes up the pause kept in the shared budget (another server's, or this one's before a
    /// restart), so that the gateway's health and `/healthz` say it from the start.
    pub async fn resume_pause(&self) {
        let paused = self.with_budget(|budget| budget.paused_until()).await;
        if paused > now_ms() && self.health() == GatewayHealth::Available {
            self.set_health(GatewayHealth::RateLimited { until: paused });
        }
    }

    /// Until when (Unix ms) every call is paused, after a 429 or a 418, if it is: the pause new
    /// checkouts are refused for.
    pub fn paused_until(&self) -> Option<u64> {
        let paused = self.budget.lock().expect("budget lock").paused_until();
        (paused > now_ms()).then_some(paused)
    }

    /// The gateway's dialect: webhooks are checked and read through it.
    pub fn dialect(&self) -> &dyn Dialect {
        self.api.dialect()
    }

    pub fn health(&self) -> GatewayHealth {
        let health = *self.health.borrow();
        match health {
            GatewayHealth::RateLimited { until } | GatewayHealth::Blocked { until }
                if until <= now_ms() =>
            {
                GatewayHealth::Available
            }
            other => other,
        }
    }

    /// Signals each change of [`GatewayClient::health`] but the end of a pause, which happens by
    /// time alone (its `until`).
    pub fn watch_health(&self) -> watch::Receiver<GatewayHealth> {
        self.health.subscribe()
    }

    fn set_health(&self, next: GatewayHealth) {
        self.health.send_if_modified(|health| {
            let changed = *health != next;
            *health = next;
            changed
        });
    }

    /// 429 and 418 answers received since startup: zero when the budget does its job.
    pub fn rate_limit_refusals(&self) -> u64 {
        self.refusals.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Calls made in the last minute.
    pub fn calls_in_last_minute(&self) -> usize {
        self.budget.lock().expect("budget lock").used(now_ms())
    }

    /// Creates the gateway order, retrying what can be retried.
    pub async fn create_order(&self, order: &NewOrder) -> Result<CreatedOrder, GatewayError> {
        let call = self.dialect().create(order);
        let mut attempt = 0;
        let mut lost = None;
        loop {
            let answer = self
                .call(Priority::Creation, &call)
                .await
                .and_then(|(status, text)| answered(status, self.dialect().created(order, &text)));
            match answer {
                Err(error @ (GatewayError::Unreachable(_) | GatewayError::Garbage(_)))
                    if attempt + 1 < CREATION_ATTEMPTS =>
                {
                    lost = Some(error);
                    let wait = full_jitter(
                        attempt,
                        Duration::from_millis(200),
                        Duration::from_secs(2),
                        random(),
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(GatewayError::RateLimited(after))
                    if after <= CREATION_MAX_WAIT && attempt + 1 < CREATION_ATTEMPTS =>
                {
                    tokio::time::sleep(after + Duration::from_millis(100)).await;
                    attempt += 1;
                }
                // An earlier attempt's, or an earlier request's for the same checkout, whose
                // answer was lost: the order was made.
                Err(GatewayError::Rejected { code, .. })
                    if self.dialect().exists_codes().contains(&code.as_str()) =>
                {
                    return self.made_before(order).await;
                }
                Err(error) => return Err(given_up(lost, error)),
                Ok(created) => return Ok(created),
            }
        }
    }

    /// The order the gateway says it has made already with `order`'s number, read back with
    /// its order query; a refusal if its terms are not those asked. Whatever else stops the
    /// reading, the order exists, and the error says the gateway may have acted, so the
    /// checkout keeps what it asked and asks the same again.
    async fn made_before(&self, order: &NewOrder) -> Result<CreatedOrder, GatewayError> {
        let read = self
            .call(Priority::Creation, &self.dialect().query(&order.order_no))
            .await
            .and_then(|(status, text)| answered(status, self.dialect().found(order, &text)));
        match read {
            Ok(created) => {
                tracing::info!(
                    "gateway order {} was made already (an answer lost); read back",
                    order.order_no
                );
                Ok(created)
            }
            // Another order's terms under our number (see [`super::Dialect::found`]).
            Err(GatewayError::Rejected { code, status, msg })
                if self.dialect().exists_codes().first() == Some(&code.as_str()) =>
            {
                Err(GatewayError::Rejected { status, code, msg })
            }
            Err(error) if error.may_have_acted() => Err(error),
            Err(error) => Err(GatewayError::Unreachable(format!(
                "order {} exists at the gateway, but reading it back failed: {error}",
                order.order_no
            ))),
        }
    }

    /// What the gateway says of one order now.
    pub async fn order_status(&self, order_no: &str) -> Result<Vec<GatewayReport>, GatewayError> {
        let (status, text) = self
            .call(Priority::Reconciliation, &self.dialect().query(order_no))
            .await?;
        answered(status, self.dialect().queried(&text))
    }

    /// A list from the gateway's public API (networks, tokens). The public API needs no key and
    /// is not rate-limited, so it costs no budget.
    pub async fn public_list<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, GatewayError> {
        let listed = self.public_url(&format!("{}{path}", self.base)).await;
        crate::metrics::gateway_call(
            path,
            listed.as_ref().map_or_else(GatewayError::kind, |_| "ok"),
        );
        listed
    }

    /// A JSON list at `url`, bare or enveloped, fetched without the API key.
    pub async fn public_url<T: DeserializeOwned>(&self, url: &str) -> Result<Vec<T>, GatewayError> {
        let response = with_request_id(self.http.get(url))
            .send()
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?;
        let (status, text) = self.read(response).await?;
        answered(status, read_answer(&text))
    }

    async fn call(&self, priority: Priority, call: &Call) -> Result<(u16, String), GatewayError> {
        self.take_budget(priority).await?;
        let time = now_ms();
        let (request, signed) = match call {
            Call::Post { path, body } => (
                self.http
                    .post(format!("{}{path}", self.base))
                    .header("content-type", "application/json")
                    .body(body.clone()),
                signed_string::for_json_body(body, time),
            ),
            Call::Get { path, query } => (
                self.http.get(format!("{}{path}?{query}", self.base)),
                signed_string::for_query(query, time),
            ),
        };
        let signed = signed.expect("this client's own bodies and queries are well-formed");
        let request = request
            .header(HEADER_API_KEY, &self.api_key)
            .header(HEADER_REQUEST_TIME, time.to_string());
        let (header, signature) = self.dialect().sign(&signed);
        let request = with_request_id(request.header(header, signature));
        let outcome = match request.send().await {
            Ok(response) => self.read(response).await,
            Err(e) => Err(GatewayError::Unreachable(if e.is_timeout() {
                "timed out".into()
            } else {
                e.to_string()
            })),
        };
        self.note(&outcome);
        crate::metrics::gateway_call(
            call.path(),
            outcome.as_ref().map_or_else(GatewayError::kind, |_| "ok"),
        );
        outcome
    }

    async fn take_budget(&self, priority: Priority) -> Result<(), GatewayError> {
        loop {
            let now = now_ms();
            let (taken, paused) = self
                .with_budget(|budget| (budget.try_take(priority, now), budget.paused_until()))
                .await;
            // Another server was told to pause: this one's shoppers hear of it too.
            if paused > now && self.health() == GatewayHealth::Available {
                self.set_health(GatewayHealth::RateLimited { until: paused });
            }
            match taken {
                Ok(()) => return Ok(()),
                Err(wait) if priority == Priority::Creation && wait > CREATION_MAX_WAIT => {
                    return Err(if paused > now_ms() {
                        match self.health() {
                            GatewayHealth::Blocked { .. } => GatewayError::Blocked(wait),
                            _ => GatewayError::RateLimited(wait),
                        }
                    } else {
                        GatewayError::OverBudget(wait)
                    });
                }
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// The answer's HTTP status and text, once 429, 418 and 5xx have been dealt with.
    async fn read(&self, response: reqwest::Response) -> Result<(u16, String), GatewayError> {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        match status {
            429 => {
                let after = pause_for(retry_after, DEFAULT_LIMITED, MAX_LIMITED);
                self.pause(
                    after,
                    GatewayHealth::RateLimited {
                        until: later(after),
                    },
                )
                .await;
                return Err(GatewayError::RateLimited(after));
            }
            418 => {
                let after = pause_for(retry_after, DEFAULT_BLOCKED, MAX_BLOCKED);
                self.pause(
                    after,
                    GatewayHealth::Blocked {
                        until: later(after),
                    },
                )
                .await;
                return Err(GatewayError::Blocked(after));
            }
            500.. => return Err(GatewayError::Unreachable(format!("HTTP {status}"))),
            _ => {}
        }
        let text = response
            .text()
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?;
        Ok((status, text))
    }

    async fn pause(&self, after: Duration, health: GatewayHealth) {
        self.refusals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let until = later(after);
        self.with_budget(|budget| budget.pause_until(until)).await;
        self.set_health(health);
        tracing::warn!("gateway: {health:?}; all calls paused for {after:?}");
    }

    fn note<T>(&self, outcome: &Result<T, GatewayError>) {
        match outcome {
            Ok(_) | Err(GatewayError::Rejected { .. }) => {
                let next = answered_health(*self.health.borrow(), now_ms());
                self.set_health(next);
            }
            Err(GatewayError::Unreachable(_) | GatewayError::Garbage(_)) => {
                if !matches!(*self.health.borrow(), GatewayHealth::Unreachable { .. }) {
                    self.set_health(GatewayHealth::Unreachable { since: now_ms() });
                }
            }
            Err(_) => {}
        }
    }
}

/// `request` with the id of the request it serves, if any, for following it into the gateway's
/// logs (not signed: it only names, and changes nothing the gateway does).
fn with_request_id(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match crate::request_id::current() {
        Some(id) => request.header(crate::request_id::HEADER.as_str(), id),
        None => request,
    }
}

/// A draw in [0, 1) for jitter.
pub fn random() -> f64 {
    use rand_core::RngCore;
    f64::from(rand_core::OsRng.next_u32()) / (f64::from(u32::MAX) + 1.0)
}
