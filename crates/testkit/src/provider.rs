//! A hosted RPC provider's limits and faults, in front of a real node (anvil): a JSON-RPC HTTP
//! server that forwards each call, except where the provider would not. It caps `eth_getLogs`
//! ranges with the errors Alchemy and Infura send, answers 429 past a rate of requests a second,
//! serves a share of calls from a node some blocks behind (refusing logs past its head, or
//! silently returning fewer), and fails or delays a share of calls. Shares are deterministic
//! (every n-th call), so a test gets the same sequence each run.
//!
//! The faults are met by what a follower reads (the head, blocks, logs: see [`FOLLOWER_READS`]);
//! what a test does to drive the node (deploying, sending and waiting for a receipt, mining)
//! goes through untouched, counted apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How a node behind answers logs past its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    /// geth, Nethermind, Besu, Erigon, reth: -32602 "block range extends beyond current head".
    Refuses,
    /// Older geth, public BSC nodes: the logs up to its head, and nothing said.
    ShortChanges,
}

/// What the provider does besides forwarding.
#[derive(Debug, Clone, Default)]
pub struct ProviderFaults {
    /// `eth_getLogs` over more blocks than this is refused, as Alchemy refuses it.
    pub range_cap: Option<u64>,
    /// Requests a second past which it answers 429 with `Retry-After: 1`.
    pub per_second: Option<u32>,
    /// One call in this many is served by a node `behind.1` blocks behind, answering as
    /// `behind.2` says.
    pub behind: Option<(u64, u64, Behind)>,
    /// One call in this many fails with a 502.
    pub fail_one_in: Option<u64>,
    /// One call in this many is answered this late.
    pub slow: Option<(u64, Duration)>,
}

/// The methods a chain follower calls, which meet the faults.
pub const FOLLOWER_READS: [&str; 3] = ["eth_blockNumber", "eth_getBlockByNumber", "eth_getLogs"];

/// The provider, running until dropped with the test's runtime.
pub struct RpcProvider {
    pub url: String,
    /// Follower reads received, answered or not.
    pub calls: Arc<AtomicU64>,
    /// Of those, the ones answered 429 for the rate.
    pub rate_limited: Arc<AtomicU64>,
}

struct State {
    node: String,
    faults: ProviderFaults,
    http: reqwest::Client,
    calls: Arc<AtomicU64>,
    rate_limited: Arc<AtomicU64>,
    /// The current second's start and the requests in it.
    window: Mutex<(Instant, u32)>,
}

impl RpcProvider {
    /// A provider in front of the node at `node_url`.
    pub async fn start(node_url: &str, faults: ProviderFaults) -> Self {
        let calls = Arc::new(AtomicU64::new(0));
        let rate_limited = Arc::new(AtomicU64::new(0));
        let state = Arc::new(State {
            node: node_url.to_owned(),
            faults,
            http: reqwest::Client::new(),
            calls: calls.clone(),
            rate_limited: rate_limited.clone(),
            window: Mutex::new((Instant::now(), 0)),
        });
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |body: String| {
                let state = state.clone();
                async move { state.answer(body).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            calls,
            rate_limited,
        }
    }
}

impl State {
    async fn answer(&self, body: String) -> Response {
        let Ok(request) = serde_json::from_str::<Value>(&body) else {
            return self.forward(&body).await;
        };
        if !FOLLOWER_READS.contains(&request["method"].as_str().unwrap_or_default()) {
            return self.forward(&body).await;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let every = |one_in: Option<u64>| one_in.is_some_and(|k| k > 0 && n.is_multiple_of(k));
        if let Some(limit) = self.faults.per_second {
            let mut window = self.window.lock().unwrap();
            if window.0.elapsed() >= Duration::from_secs(1) {
                *window = (Instant::now(), 0);
            }
            window.1 += 1;
            if window.1 > limit {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "rate limited",
                )
                    .into_response();
            }
        }
        if let Some((one_in, late)) = self.faults.slow
            && every(Some(one_in))
        {
            tokio::time::sleep(late).await;
        }
        if every(self.faults.fail_one_in) {
            return (StatusCode::BAD_GATEWAY, "bad gateway").into_response();
        }
        let method = request["method"].as_str().unwrap_or_default();
        let id = request["id"].clone();
        let error = |code: i64, message: String| {
            axum::Json(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
            )
            .into_response()
        };
        if method == "eth_getLogs"
            && let Some(cap) = self.faults.range_cap
            && let Some((from, to)) = self.log_range(&request).await
            && to.saturating_sub(from) + 1 > cap
        {
            return error(
                -32600,
                format!(
                    "Log response size exceeded. You can make eth_getLogs requests with up to \
                     a {cap} block range."
                ),
            );
        }
        if let Some((one_in, blocks, how)) = self.faults.behind
            && every(Some(one_in))
        {
            let head = self.head().await.saturating_sub(blocks);
            match method {
                "eth_blockNumber" => {
                    return axum::Json(
                        json!({"jsonrpc": "2.0", "id": id, "result": format!("0x{head:x}")}),
                    )
                    .into_response();
                }
                "eth_getBlockByNumber" => match number(&request["params"][0]) {
                    Some(asked) if asked > head => {
                        return axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": null}))
                            .into_response();
                    }
                    Some(_) => {}
                    // "latest": its own.
                    None => {
                        let mut own = request.clone();
                        own["params"][0] = json!(format!("0x{head:x}"));
                        return self.forward(&own.to_string()).await;
                    }
                },
                "eth_getLogs" => {
                    if let Some((from, to)) = self.log_range(&request).await
                        && to > head
                    {
                        match how {
                            Behind::Refuses => {
                                return error(
                                    -32602,
                                    "block range extends beyond current head block".into(),
                                );
                            }
                            Behind::ShortChanges if from > head => {
                                return axum::Json(
                                    json!({"jsonrpc": "2.0", "id": id, "result": []}),
                                )
                                .into_response();
                            }
                            Behind::ShortChanges => {
                                let mut short = request.clone();
                                short["params"][0]["toBlock"] = json!(format!("0x{head:x}"));
                                return self.forward(&short.to_string()).await;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.forward(&body).await
    }

    async fn forward(&self, body: &str) -> Response {
        match self
            .http
            .post(&self.node)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
        {
            Ok(answer) => {
                let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
                let text = answer.text().await.unwrap_or_default();
                (status, [("content-type", "application/json")], text).into_response()
            }
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        }
    }

    async fn head(&self) -> u64 {
        let answer: Value = self
            .http
            .post(&self.node)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        number(&answer["result"]).unwrap_or(0)
    }

    /// The blocks an `eth_getLogs` asks for (`latest` read as the head).
    async fn log_range(&self, request: &Value) -> Option<(u64, u64)> {
        let filter = &request["params"][0];
        let block = |field: &str| {
            let value = filter[field].clone();
            async move {
                match number(&value) {
                    Some(n) => n,
                    None => self.head().await,
                }
            }
        };
        Some((block("fromBlock").await, block("toBlock").await))
    }
}

/// A quantity, `0x`-hex as JSON-RPC writes it.
fn number(value: &Value) -> Option<u64> {
    u64::from_str_radix(value.as_str()?.strip_prefix("0x")?, 16).ok()
}
