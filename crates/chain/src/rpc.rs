//! Reading the chain through JSON-RPC: its id, head and blocks (whose hashes reveal reorgs), and
//! token payments into a set of receiving addresses, through one node or several (a hosted
//! provider and its fallbacks): each call within the chain's [`CallBudget`], with a time limit,
//! and asked again, of the next node, while refused for now.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address as EvmAddress, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::ClientBuilder;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use alloy::transports::{RpcError, TransportErrorKind};
use usdt_checkout_protocol::{Address, ChainId, TxHash};

use crate::abi::{MerchantReceiver, TestUSDT};
use crate::budget::CallBudget;
use crate::payment::{ChainPayment, PaymentKind};

/// Blocks read per `eth_getLogs` call, at most.
pub const MAX_RANGE: u64 = 2_000;

/// The smaller range of blocks to ask for after a provider refused a log query over `asked`
/// blocks with `error`, or `None` when the refusal is not about the range. Hosted providers cap
/// `eth_getLogs` by blocks or by results, each in its own words (Alchemy: "You can make
/// eth_getLogs requests with up to a 500 block range"; Infura: "query returned more than 10000
/// results"; others "block range is too large", "exceed maximum block range: 2000", "limit
/// exceeded"), under codes -32600, -32602 or -32005. A range the error names is taken; else
/// half. "Beyond the current head" is a node behind the others, not a cap: not narrowed.
pub fn range_after_refusal(asked: u64, error: &str) -> Option<u64> {
    let text = error.to_ascii_lowercase();
    if text.contains("beyond current head") || text.contains("after last accepted block") {
        return None;
    }
    let about_range = [
        "block range",
        "range too large",
        "range is too large",
        "exceed maximum block range",
        "more than 10000 results",
        "response size exceeded",
        "limit exceeded",
        "too many blocks",
        "query timeout exceeded",
    ]
    .iter()
    .any(|words| text.contains(words));
    if !about_range || asked <= 1 {
        return None;
    }
    // "up to a 500 block range", "maximum block range: 2000", "range of 10 blocks".
    let named = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|digits| digits.parse::<u64>().ok())
        .filter(|n| (1..asked).contains(n))
        .max();
    Some(named.unwrap_or(asked / 2).max(1))
}

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Retries of a read the provider refused for now, before the step gives up (and is tried
/// again after the watcher's pause).
const CALL_RETRIES: u32 = 5;
/// The first retry's longest pause, and the longest of any (a provider's Retry-After
/// included).
const RETRY_BASE: Duration = Duration::from_millis(250);
const RETRY_CAP: Duration = Duration::from_secs(30);

/// Whether a provider refused a call for now: a rate limit (HTTP 429, or the JSON-RPC codes
/// providers use for it), a 502, 503 or 504, a call that timed out or found no connection. Not a
/// refused log range, which asking again the same way cannot change.
fn for_now(error: &RpcError<TransportErrorKind>) -> bool {
    let text = error.to_string();
    if range_after_refusal(2, &text).is_some() {
        return false;
    }
    let transient = match error {
        RpcError::Transport(kind) => kind.is_retry_err(),
        RpcError::ErrorResp(payload) => payload.is_retry_err(),
        RpcError::NullResp => true,
        _ => false,
    };
    transient
        || [
            "HTTP error 502",
            "HTTP error 504",
            "timed out",
            "error sending request",
            // A node behind the one that gave the head, behind a load balancer (geth, Besu,
            // Erigon, reth, Nethermind; Avalanche): the next node, or this one a moment later,
            // has the blocks.
            "beyond current head",
            "after last accepted block",
            "header not found",
            "unknown block",
            BEHIND,
        ]
        .iter()
        .any(|words| text.contains(words))
}

/// What a node that has not seen a block the chain's head already passed is told (a null for a
/// block at or below the head another node gave).
const BEHIND: &str = "a node behind the head";

/// The pause a provider asked for (Retry-After), within [`RETRY_CAP`].
fn asked_pause(error: &RpcError<TransportErrorKind>) -> Option<Duration> {
    match error {
        RpcError::Transport(TransportErrorKind::HttpErrorWithRetryAfter {
            retry_after, ..
        }) => Some((*retry_after).min(RETRY_CAP)),
        _ => None,
    }
}

/// A draw in [0, 1) for jitter: std's hasher keys are random per process and per call.
fn random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let draw = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (draw >> 11) as f64 / (1u64 << 53) as f64
}

/// The clones share everything but the providers' connections.
#[derive(Clone)]
pub struct ChainClient {
    /// The first node: what a test chain is driven through (deployments, sends).
    pub(crate) provider: DynProvider,
    /// Every node, the first first: reads go to the current one, and move on to the next when
    /// it refuses for now.
    nodes: Arc<[(String, DynProvider)]>,
    current: Arc<AtomicUsize>,
    /// The highest head any node gave: the head never goes backwards when a node behind the
    /// others answers.
    highest_head: Arc<AtomicU64>,
    budget: Option<Arc<CallBudget>>,
    /// Calls made (retries included), for the health report and the measurements.
    calls: Arc<AtomicU64>,
    /// The same calls by JSON-RPC method and outcome (see [`ChainClient::calls_by_outcome`]).
    outcomes: Arc<std::sync::Mutex<Outcomes>>,
    /// Blocks asked per log query: [`crate::MAX_RANGE`] until the provider refuses a range,
    /// then what it takes (see [`range_after_refusal`]).
    log_range: Arc<AtomicU64>,
}

pub type ChainResult<T> = Result<T, ChainError>;

/// Calls by `(method, outcome)`: `ok`, `retried` (refused for now, asked again) or `failed`.
pub type Outcomes = std::collections::BTreeMap<(&'static str, &'static str), u64>;

/// Why the chain could not be read or driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// A call the node (or every node, asked again) refused or did not answer: `call` is the
    /// JSON-RPC method, `error` what came back. A log range too wide says so here, and
    /// [`ChainError::narrower_range`] reads it.
    Rpc { call: &'static str, error: String },
    /// Block `0` changed between two reads of one step (a reorg): read again.
    Moved(u64),
    /// What was asked is not what the node takes: a URL, a transaction hash.
    Invalid(String),
    /// A transaction the test mode sent did not go through.
    Transaction(String),
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rpc { call, error } => write!(f, "chain RPC {call}: {error}"),
            Self::Moved(block) => write!(
                f,
                "block {block} changed while it was read (a reorg); reading it again"
            ),
            Self::Invalid(what) | Self::Transaction(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for ChainError {}

/// For callers that only report it (a log line, a health report, a startup refusal).
impl From<ChainError> for String {
    fn from(error: ChainError) -> Self {
        error.to_string()
    }
}

impl ChainError {
    /// The smaller range of blocks to ask after this refused a log query over `asked` (see
    /// [`range_after_refusal`]); none when it is not a refused range.
    pub fn narrower_range(&self, asked: u64) -> Option<u64> {
        match self {
            Self::Rpc { error, .. } => range_after_refusal(asked, error),
            _ => None,
        }
    }
}

pub(crate) fn rpc<E: std::fmt::Display>(call: &'static str) -> impl FnOnce(E) -> ChainError {
    move |e| ChainError::Rpc {
        call,
        error: e.to_string(),
    }
}

pub(crate) fn evm(address: Address) -> EvmAddress {
    EvmAddress::from(*address.as_bytes())
}

pub(crate) fn ours(address: EvmAddress) -> Address {
    Address::from_bytes(address.into_array())
}

/// What the chain knows of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxLookup {
    /// No such transaction.
    Unknown,
    /// Sent, not mined yet.
    Pending,
    /// Mined, but it reverted: nothing moved.
    Failed,
    /// Mined, with the token payments it made.
    Mined(Vec<ChainPayment>),
}

/// A block's number, hash and parent's hash (0x-hex), and time (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockStamp {
    pub number: u64,
    pub hash: String,
    pub parent_hash: String,
    pub timestamp_ms: u64,
}

impl ChainClient {
    /// A client of a node of one's own (a local node, a test chain), with no budget. Nothing is
    /// sent until the first call.
    pub fn connect(rpc_url: &str) -> ChainResult<Self> {
        Self::connect_all(&[rpc_url.to_owned()], None)
    }

    /// A client of the nodes at `rpc_urls` (the first, then the others in turn when one refuses
    /// for now), spending at most `calls_per_day` where it says (a provider's day; see
    /// [`crate::DEFAULT_CALLS_PER_DAY`]).
    pub fn connect_all(rpc_urls: &[String], calls_per_day: Option<u64>) -> ChainResult<Self> {
        let mut nodes = Vec::new();
        for rpc_url in rpc_urls {
            nodes.push((rpc_url.clone(), node(rpc_url)?));
        }
        let Some((_, first)) = nodes.first() else {
            return Err(ChainError::Invalid("no RPC URL".into()));
        };
        Ok(Self {
            provider: first.clone(),
            nodes: nodes.into(),
            current: Arc::default(),
            highest_head: Arc::default(),
            budget: calls_per_day.map(|calls| Arc::new(CallBudget::per_day(calls))),
            calls: Arc::default(),
            outcomes: Arc::default(),
            log_range: Arc::new(MAX_RANGE.into()),
        })
    }

    /// Calls made so far, retries included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls made so far, retries included, by JSON-RPC method and outcome: a few dozen pairs
    /// at most, from this crate's own methods.
    pub fn calls_by_outcome(&self) -> Outcomes {
        self.outcomes.lock().expect("outcomes lock").clone()
    }

    fn note(&self, method: &'static str, outcome: &'static str) {
        *self
            .outcomes
            .lock()
            .expect("outcomes lock")
            .entry((method, outcome))
            .or_insert(0) += 1;
    }

    /// The node reads go to now.
    pub fn node_url(&self) -> &str {
        &self.nodes[self.current.load(Ordering::Relaxed) % self.nodes.len()].0
    }

    /// A read, within the budget, asked again with backoff (full jitter, or the provider's
    /// Retry-After) while refused for now, of the next node where there are several: one
    /// refusal threw a whole step away, and a step's calls under a rate limit then never all
    /// succeeded. Writes are not asked again (a send the node took before its answer was lost
    /// would be sent twice).
    pub(crate) async fn retried<T, F, Fut>(&self, what: &'static str, call: F) -> ChainResult<T>
    where
        F: Fn(&DynProvider) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    {
        let mut attempt = 0;
        loop {
            if let Some(budget) = &self.budget {
                budget.take().await;
            }
            self.calls.fetch_add(1, Ordering::Relaxed);
            let at = self.current.load(Ordering::Relaxed) % self.nodes.len();
            match call(&self.nodes[at].1).await {
                Ok(answer) => {
                    self.note(what, "ok");
                    return Ok(answer);
                }
                Err(error) if attempt < CALL_RETRIES && for_now(&error) => {
                    self.note(what, "retried");
                    // The next node, if any; a moment later, when it is the same one.
                    let _ = self.current.compare_exchange(
                        at,
                        (at + 1) % self.nodes.len(),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    let pause = asked_pause(&error).unwrap_or_else(|| {
                        usdt_checkout_protocol::backoff::full_jitter(
                            attempt,
                            RETRY_BASE,
                            RETRY_CAP,
                            random(),
                        )
                    });
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(error) => {
                    self.note(what, "failed");
                    return Err(rpc(what)(error));
                }
            }
        }
    }

    /// Blocks to ask per log query now.
    pub fn log_range(&self) -> u64 {
        self.log_range.load(Ordering::Relaxed)
    }

    /// The provider refused a wider range: `range` from now on.
    pub fn narrow_log_range(&self, range: u64) {
        self.log_range.store(range.max(1), Ordering::Relaxed);
    }

    /// A query over `read` blocks succeeded: the range may grow back, by half again, to
    /// [`crate::MAX_RANGE`] (a provider's cap is found again in one refusal if it still holds).
    pub fn widen_log_range(&self, read: u64) {
        if read >= self.log_range() {
            let wider = (read + read / 2 + 1).min(MAX_RANGE);
            self.log_range.fetch_max(wider, Ordering::Relaxed);
        }
    }

    pub async fn chain_id(&self) -> ChainResult<ChainId> {
        self.retried("eth_chainId", |node| node.get_chain_id())
            .await
            .map(ChainId)
    }

    /// The highest head any node gave, after asking one now: it never goes backwards.
    pub async fn head(&self) -> ChainResult<u64> {
        let head = self
            .retried("eth_blockNumber", |node| node.get_block_number())
            .await?;
        Ok(self.saw_head(head))
    }

    /// The latest block, as the node asked knows it (one behind the others gives an older
    /// one); [`ChainClient::highest_head`] takes it into account.
    pub async fn latest(&self) -> ChainResult<BlockStamp> {
        let block = self
            .retried("eth_getBlockByNumber", |node| {
                node.get_block_by_number(BlockNumberOrTag::Latest)
                    .into_future()
            })
            .await?
            .ok_or_else(|| rpc("eth_getBlockByNumber")("no latest block"))?;
        let stamp = stamp(&block.header);
        self.saw_head(stamp.number);
        Ok(stamp)
    }

    /// The highest head seen so far (0 before any).
    pub fn highest_head(&self) -> u64 {
        self.highest_head.load(Ordering::Relaxed)
    }

    fn saw_head(&self, head: u64) -> u64 {
        self.highest_head
            .fetch_max(head, Ordering::Relaxed)
            .max(head)
    }

    /// Block `number`'s stamp; none when no node has it. A node that has none for a block at or
    /// below the highest head seen is behind the others: it is asked again, of the next node,
    /// before the block is taken for gone.
    pub async fn block(&self, number: u64) -> ChainResult<Option<BlockStamp>> {
        let known = number <= self.highest_head();
        let asked = self
            .retried("eth_getBlockByNumber", |node| {
                let asked = node
                    .get_block_by_number(BlockNumberOrTag::Number(number))
                    .into_future();
                async move {
                    match asked.await? {
                        None if known => Err(TransportErrorKind::custom_str(&format!(
                            "block {number} is unknown to {BEHIND}"
                        ))),
                        block => Ok(block),
                    }
                }
            })
            .await;
        let block = match asked {
            Err(ChainError::Rpc { error, .. }) if error.contains(BEHIND) => None,
            asked => asked?,
        };
        if let Some(block) = &block {
            self.saw_head(block.header.number);
        }
        Ok(block.map(|b| stamp(&b.header)))
    }

    /// Whether a contract is deployed at `address`.
    pub async fn has_code(&self, address: Address) -> ChainResult<bool> {
        let code = self
            .retried("eth_getCode", |node| {
                node.get_code_at(evm(address)).into_future()
            })
            .await?;
        Ok(!code.is_empty())
    }

    /// Payments of `tokens` into `receivers` in blocks `from..=to`, in chain order. A receiver
    /// may be any address: plain `Transfer`s to it are read by their `to` topic, whether it is
    /// an externally owned account or a contract. A receiving contract's `Deposit` and the token
    /// transfer it makes are one payment (the deposit, which names its order).
    pub async fn payments(
        &self,
        from: u64,
        to: u64,
        tokens: &[Address],
        receivers: &[Address],
    ) -> ChainResult<Vec<ChainPayment>> {
        if tokens.is_empty() || receivers.is_empty() {
            return Ok(vec![]);
        }
        // One query for both: a deposit's `receiver` and a transfer's `to` are both the second
        // indexed topic. Asked apart, a node behind could answer one and not the other, and a
        // deposit was read as a plain transfer. Only a token's transfers and a receiver's
        // deposits are kept (see `decode`).
        let mut emitters: Vec<EvmAddress> = tokens.iter().copied().map(evm).collect();
        emitters.extend(receivers.iter().copied().map(evm));
        let filter = Filter::new()
            .address(emitters)
            .event_signature(vec![
                TestUSDT::Transfer::SIGNATURE_HASH,
                MerchantReceiver::Deposit::SIGNATURE_HASH,
            ])
            .topic2(
                receivers
                    .iter()
                    .map(|a| evm(*a).into_word())
                    .collect::<Vec<_>>(),
            )
            .from_block(from)
            .to_block(to);
        let logs = self
            .retried("eth_getLogs", |node| {
                let (node, filter) = (node.clone(), filter.clone());
                async move { node.get_logs(&filter).await }
            })
            .await?;
        let (deposits, transfers) = split(&logs);
        let deposits: Vec<Log> = deposits
            .into_iter()
            .filter(|log| receivers.contains(&ours(log.address())))
            .collect();
        let transfers: Vec<Log> = transfers
            .into_iter()
            .filter(|log| tokens.contains(&ours(log.address())))
            .collect();
        self.decode(&deposits, &transfers, |token| tokens.contains(token))
            .await
    }

    /// What the chain knows of transaction `tx_hash`: unknown, pending, or mined with every
    /// ERC-20 transfer it made, whatever the token (a receiving contract's deposit as one
    /// payment, as [`ChainClient::payments`] reads it).
    pub async fn lookup(&self, tx_hash: &TxHash) -> ChainResult<TxLookup> {
        let hash = alloy::primitives::B256::from(tx_hash.to_bytes());
        let receipt = self
            .retried("eth_getTransactionReceipt", |node| {
                node.get_transaction_receipt(hash).into_future()
            })
            .await?;
        let Some(receipt) = receipt else {
            let sent = self
                .retried("eth_getTransactionByHash", |node| {
                    node.get_transaction_by_hash(hash).into_future()
                })
                .await?;
            return Ok(match sent {
                Some(_) => TxLookup::Pending,
                None => TxLookup::Unknown,
            });
        };
        if !receipt.status() {
            return Ok(TxLookup::Failed);
        }
        let (deposits, transfers) = split(receipt.logs());
        let payments = self.decode(&deposits, &transfers, |_| true).await?;
        Ok(TxLookup::Mined(payments))
    }

    /// The payments in `deposit_logs` and `transfer_logs` of the tokens `accepted` takes, in
    /// chain order: a deposit and the transfer it made are one payment (the deposit).
    async fn decode(
        &self,
        deposit_logs: &[Log],
        transfer_logs: &[Log],
        accepted: impl Fn(&Address) -> bool,
    ) -> ChainResult<Vec<ChainPayment>> {
        let mut payments = Vec::new();
        for log in deposit_logs {
            let Ok(decoded) = log.log_decode::<MerchantReceiver::Deposit>() else {
                continue;
            };
            let event = &decoded.inner.data;
            let Some(mut payment) = self
                .payment(
                    log,
                    event.sender,
                    event.receiver,
                    ours(event.token),
                    event.amount,
                )
                .await?
            else {
                continue;
            };
            if !accepted(&payment.token) {
                continue; // a deposit of a token the caller does not accept
            }
            payment.kind = PaymentKind::Deposit;
            payment.order_no = Some(event.orderNo.clone());
            payments.push(payment);
        }
        for log in transfer_logs {
            let Ok(decoded) = log.log_decode::<TestUSDT::Transfer>() else {
                continue;
            };
            let event = &decoded.inner.data;
            let Some(payment) = self
                .payment(log, event.from, event.to, ours(log.address()), event.value)
                .await?
            else {
                continue;
            };
            let made_by_deposit = payments.iter().any(|d| {
                d.kind == PaymentKind::Deposit
                    && d.tx_id == payment.tx_id
                    && d.from == payment.from
                    && d.to == payment.to
                    && d.token == payment.token
                    && d.value == payment.value
                    && d.log_index > payment.log_index
            });
            if !made_by_deposit {
                payments.push(payment);
            }
        }
        payments.sort_by_key(|p| (p.block_number, p.log_index));
        Ok(payments)
    }

    async fn payment(
        &self,
        log: &Log,
        from: EvmAddress,
        to: EvmAddress,
        token: Address,
        value: U256,
    ) -> ChainResult<Option<ChainPayment>> {
        let (Some(tx), Some(index), Some(block_number), Some(block_hash)) = (
            log.transaction_hash,
            log.log_index,
            log.block_number,
            log.block_hash,
        ) else {
            return Ok(None); // pending logs carry no block: they are read once mined
        };
        let timestamp_ms = match log.block_timestamp {
            Some(seconds) => seconds * 1000,
            None => match self.block(block_number).await? {
                Some(stamp) => stamp.timestamp_ms,
                None => return Ok(None),
            },
        };
        Ok(Some(ChainPayment {
            tx_id: TxHash::from_bytes(tx.0),
            log_index: index,
            block_number,
            block_hash: block_hash.to_string(),
            from: ours(from),
            to: ours(to),
            token,
            value: u128::try_from(value).unwrap_or(u128::MAX),
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms,
        }))
    }
}

/// A JSON-RPC client of the node at `rpc_url`, each call within [`CALL_TIMEOUT`].
fn node(rpc_url: &str) -> ChainResult<DynProvider> {
    let url = rpc_url
        .parse()
        .map_err(|e| ChainError::Invalid(format!("{rpc_url:?} is not a URL: {e}")))?;
    let http = alloy::transports::http::reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .build()
        .map_err(|e| ChainError::Invalid(format!("an HTTP client for {rpc_url}: {e}")))?;
    let client = ClientBuilder::default().http_with_client(http, url);
    // No client-side fillers: the node fills nonce, gas and chain id for its unlocked
    // accounts. A cached nonce would go stale when a reorg drops a transaction, and the next
    // one would wait forever behind the gap.
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(client)
        .erased())
}

fn stamp(header: &alloy::rpc::types::Header) -> BlockStamp {
    BlockStamp {
        number: header.number,
        hash: header.hash.to_string(),
        parent_hash: header.parent_hash.to_string(),
        timestamp_ms: header.timestamp * 1000,
    }
}

/// A receiving contract's deposits and the token transfers among `logs`.
fn split(logs: &[Log]) -> (Vec<Log>, Vec<Log>) {
    let with_topic = |topic| -> Vec<Log> {
        logs.iter()
            .filter(|l| l.topic0() == Some(&topic))
            .cloned()
            .collect()
    };
    (
        with_topic(MerchantReceiver::Deposit::SIGNATURE_HASH),
        with_topic(TestUSDT::Transfer::SIGNATURE_HASH),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_range_refusal_narrows_to_what_it_names_or_by_half() {
        let alchemy = "chain RPC eth_getLogs: server returned an error response: error code \
                       -32600: Log response size exceeded. You can make eth_getLogs requests \
                       with up to a 500 block range.";
        assert_eq!(range_after_refusal(2_000, alchemy), Some(500));
        let infura = "error code -32005: query returned more than 10000 results";
        assert_eq!(range_after_refusal(2_000, infura), Some(1_000));
        let capped = "error code -32602: exceed maximum block range: 10";
        assert_eq!(range_after_refusal(64, capped), Some(10));
        assert_eq!(
            range_after_refusal(10, capped),
            Some(5),
            "a cap it already keeps to: narrower still"
        );
        assert_eq!(
            range_after_refusal(1, capped),
            None,
            "nothing narrower to ask"
        );
        let behind = "error code -32602: block range extends beyond current head block";
        assert_eq!(
            range_after_refusal(2_000, behind),
            None,
            "a node behind, not a cap"
        );
        assert_eq!(range_after_refusal(2_000, "connection refused"), None);
    }
}
