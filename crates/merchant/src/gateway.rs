//! The one client through which every call to the gateway goes. It takes each call from the
//! request budget first, signs it, and turns every kind of answer into a result a caller can act
//! on: 429 and 418 pause all calls for the time the gateway gave; timeouts, 5xx and bodies that
//! are not the gateway's API are errors that change nothing. Creating an order is retried, which
//! is safe because the gateway returns the same order for the same `orderNo`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use serde::de::DeserializeOwned;
use usdt_checkout_protocol::backoff::full_jitter;
pub use usdt_checkout_protocol::checkout::GatewayHealth;
use usdt_checkout_protocol::gateway::{
    CreateOrderRequest, Envelope, GatewayOrder, HEADER_API_KEY, HEADER_REQUEST_TIME,
    HEADER_SIGNATURE_V1, HEADER_SIGNATURE_V2, OrderPage, PATH_CREATE_ORDER, PATH_QUERY_PAYMENTS,
};
use usdt_checkout_protocol::signed_string;

use crate::budget::{Budget, Priority};
use crate::clock::now_ms;
use crate::config::{Config, Credentials};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway is rate-limiting this server; calls resume in {0:?}")]
    RateLimited(Duration),
    #[error("the gateway has blocked this server's key for {0:?}")]
    Blocked(Duration),
    #[error("the gateway did not answer usefully: {0}")]
    Unreachable(String),
    #[error("the gateway answered with something that is not its API: {0}")]
    Garbage(String),
    #[error("the gateway refused the request (HTTP {status}, code {code}): {msg}")]
    Rejected {
        status: u16,
        code: String,
        msg: String,
    },
    #[error("this server's gateway budget is used up for now; retry in {0:?}")]
    OverBudget(Duration),
}

impl GatewayError {
    /// When a caller may try again, if the error says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(after) | Self::Blocked(after) | Self::OverBudget(after) => {
                Some(*after)
            }
            Self::Unreachable(_) | Self::Garbage(_) => Some(Duration::from_secs(2)),
            Self::Rejected { .. } => None,
        }
    }
}

/// How long a shopper's request may wait for room in the budget before it is told to retry.
const CREATION_MAX_WAIT: Duration = Duration::from_secs(3);
const CREATION_ATTEMPTS: u32 = 3;
/// Without a `Retry-After`, how long a 429 or a 418 pauses calls.
const DEFAULT_LIMITED: Duration = Duration::from_secs(60);
const DEFAULT_BLOCKED: Duration = Duration::from_secs(300);

pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
    api_key: String,
    credentials: Credentials,
    budget: Mutex<Budget>,
    /// Watched by status long polls: a shopper sees the gateway's trouble as it starts and ends.
    health: watch::Sender<GatewayHealth>,
    refusals: std::sync::atomic::AtomicU64,
}

enum Call<'a> {
    Post { path: &'a str, body: String },
    Get { path: &'a str, query: String },
}

impl GatewayClient {
    pub fn new(
        base: String,
        api_key: String,
        credentials: Credentials,
        requests_per_minute: usize,
        timeout: Duration,
    ) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(3)))
                .build()
                .expect("an HTTP client without TLS settings builds"),
            base,
            api_key,
            credentials,
            budget: Mutex::new(Budget::new(requests_per_minute)),
            health: watch::Sender::new(GatewayHealth::Available),
            refusals: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The client a configuration describes.
    pub fn for_config(config: &Config) -> Self {
        Self::new(
            config.gateway_url.clone(),
            config.api_key.clone(),
            config.credentials.clone(),
            config.requests_per_minute,
            config.gateway_timeout,
        )
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
    pub async fn create_order(
        &self,
        request: &CreateOrderRequest,
    ) -> Result<GatewayOrder, GatewayError> {
        let body = serde_json::to_string(request).expect("requests serialise");
        let mut attempt = 0;
        loop {
            let call = Call::Post {
                path: PATH_CREATE_ORDER,
                body: body.clone(),
            };
            match self.call(Priority::Creation, call).await {
                Err(GatewayError::Unreachable(_) | GatewayError::Garbage(_))
                    if attempt + 1 < CREATION_ATTEMPTS =>
                {
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
                other => return other,
            }
        }
    }

    /// The orders with these numbers (at most 100), as the gateway has them now.
    pub async fn orders(&self, order_nos: &[String]) -> Result<Vec<GatewayOrder>, GatewayError> {
        let query = format!("orderNo={}&pageSize=100", order_nos.join(","));
        let page: OrderPage = self
            .call(
                Priority::Reconciliation,
                Call::Get {
                    path: PATH_QUERY_PAYMENTS,
                    query,
                },
            )
            .await?;
        Ok(page.records)
    }

    /// A list from the gateway's public API (networks, tokens, rates). The public API needs no
    /// key and is not rate-limited, so it costs no budget.
    pub async fn public<T: DeserializeOwned>(&self, path: &str) -> Result<T, GatewayError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?;
        self.read(response).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        priority: Priority,
        call: Call<'_>,
    ) -> Result<T, GatewayError> {
        self.take_budget(priority).await?;
        let time = now_ms();
        let (request, signed) = match &call {
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
        let request = match &self.credentials {
            Credentials::V1(key) => request.header(HEADER_SIGNATURE_V1, key.sign(&signed)),
            Credentials::V2(secret) => request.header(HEADER_SIGNATURE_V2, secret.sign(&signed)),
        };
        let outcome = match request.send().await {
            Ok(response) => self.read(response).await,
            Err(e) => Err(GatewayError::Unreachable(if e.is_timeout() {
                "timed out".into()
            } else {
                e.to_string()
            })),
        };
        self.note(&outcome);
        outcome
    }

    async fn take_budget(&self, priority: Priority) -> Result<(), GatewayError> {
        loop {
            let taken = self
                .budget
                .lock()
                .expect("budget lock")
                .try_take(priority, now_ms());
            match taken {
                Ok(()) => return Ok(()),
                Err(wait) if priority == Priority::Creation && wait > CREATION_MAX_WAIT => {
                    let paused = self.budget.lock().expect("budget lock").paused_until();
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

    async fn read<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, GatewayError> {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            429 => {
                let after = retry_after.unwrap_or(DEFAULT_LIMITED);
                self.pause(
                    after,
                    GatewayHealth::RateLimited {
                        until: now_ms() + after.as_millis() as u64,
                    },
                );
                return Err(GatewayError::RateLimited(after));
            }
            418 => {
                let after = retry_after.unwrap_or(DEFAULT_BLOCKED);
                self.pause(
                    after,
                    GatewayHealth::Blocked {
                        until: now_ms() + after.as_millis() as u64,
                    },
                );
                return Err(GatewayError::Blocked(after));
            }
            500.. => return Err(GatewayError::Unreachable(format!("HTTP {status}"))),
            _ => {}
        }
        let text = response
            .text()
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?;
        let envelope: Envelope<T> = serde_json::from_str(&text)
            .map_err(|e| GatewayError::Garbage(format!("HTTP {status}: {e}")))?;
        match (envelope.success, envelope.data) {
            (true, Some(data)) if status == 200 => Ok(data),
            (true, _) => Err(GatewayError::Garbage(format!(
                "HTTP {status} success without data"
            ))),
            (false, _) => Err(GatewayError::Rejected {
                status,
                code: envelope.code,
                msg: envelope.msg,
            }),
        }
    }

    fn pause(&self, after: Duration, health: GatewayHealth) {
        self.refusals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.budget
            .lock()
            .expect("budget lock")
            .pause_until(now_ms() + after.as_millis() as u64);
        self.set_health(health);
        tracing::warn!("gateway: {health:?}; all calls paused for {after:?}");
    }

    fn note<T>(&self, outcome: &Result<T, GatewayError>) {
        match outcome {
            Ok(_) | Err(GatewayError::Rejected { .. }) => self.set_health(GatewayHealth::Available),
            Err(GatewayError::Unreachable(_) | GatewayError::Garbage(_)) => {
                if !matches!(*self.health.borrow(), GatewayHealth::Unreachable { .. }) {
                    self.set_health(GatewayHealth::Unreachable { since: now_ms() });
                }
            }
            Err(_) => {}
        }
    }
}

/// A draw in [0, 1) for jitter.
pub fn random() -> f64 {
    use rand_core::RngCore;
    f64::from(rand_core::OsRng.next_u32()) / (f64::from(u32::MAX) + 1.0)
}
