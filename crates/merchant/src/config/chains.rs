//! The chains the server reads itself: their nodes, budgets and confirmations, and the chains
//! `[[chains]]` describes beside the built-in ones.

use std::collections::BTreeMap;
use std::time::Duration;

use usdt_checkout_chain::ChainClient;
use usdt_checkout_protocol::{Chain, ChainId, ChainRegistry};

use super::file::{ChainFile, ToleranceFile};
use crate::tolerance::Tolerance;

/// A chain the server reads itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedChain {
    pub id: ChainId,
    /// JSON-RPC nodes, the first first; none: the server knows only what the gateway says.
    pub rpc_urls: Vec<String>,
    /// Calls a day this server may make to them (a provider's free tier is about 100,000).
    pub rpc_calls_per_day: u64,
    /// Blocks, the payment's own included, before a payment counts as settled.
    pub confirmations: u32,
    /// How often the chain is read (see [`default_poll_interval`]).
    pub poll_interval: Duration,
    /// The tokens the product knows on this chain: read even before a checkout on this chain
    /// exists, so a transfer sent here for an order on another chain is seen.
    pub tokens: Vec<usdt_checkout_protocol::Address>,
    /// How far short of the amount asked a payment may fall and still count as paid, by token
    /// symbol; a token not named forgives nothing. Fixed into each order's terms when they are.
    pub underpaid_tolerance: BTreeMap<String, Tolerance>,
    /// The merchant's wallets that pay refunds here: when any are named, only a transfer from
    /// one of them marks a refund sent (watched or pasted), so a stranger's transfer of exactly
    /// the amount to the address cannot close a refund the merchant still owes. None: any.
    pub refund_wallets: Vec<usdt_checkout_protocol::Address>,
}

impl WatchedChain {
    /// Whether this server reads the chain itself.
    pub fn is_read(&self) -> bool {
        !self.rpc_urls.is_empty()
    }

    /// A client of the chain's nodes, within its budget (sends nothing yet); none when the
    /// chain is not read.
    pub fn client(&self) -> Option<Result<ChainClient, usdt_checkout_chain::ChainError>> {
        self.is_read()
            .then(|| ChainClient::connect_all(&self.rpc_urls, Some(self.rpc_calls_per_day)))
    }
}

/// A client of each chain read: the watcher and the claims share it, and its budget.
pub fn chain_clients(chains: &BTreeMap<ChainId, WatchedChain>) -> Vec<(ChainId, ChainClient)> {
    chains
        .values()
        .filter_map(|chain| match chain.client()? {
            Ok(client) => Some((chain.id, client)),
            Err(e) => {
                tracing::error!("chain {}: {e}; not read", chain.id);
                None
            }
        })
        .collect()
}

/// How often a chain is read where the configuration does not say: as often as leaves half the
/// day's budget to a step's two calls (the latest block, the log query), the other half to
/// catching up, checks after a reorg, retries and claims. 100,000 calls a day poll every 3.5 s:
/// a payment is seen within a block on a 3-second chain, and within a third of one on a
/// 12-second chain.
pub fn default_poll_interval(calls_per_day: u64) -> Duration {
    const CALLS_A_POLL: u64 = 2;
    let polls_a_day = (calls_per_day / 2 / CALLS_A_POLL).max(1);
    Duration::from_millis(86_400_000_u64.div_ceil(polls_a_day))
        .clamp(Duration::from_millis(100), Duration::from_secs(60))
}

/// The chains `[[chains]]` describes (a `name`, an `explorer_url`, `tokens`), each to replace
/// the built-in chain of its id: what it does not say is the built-in chain's. A chain the
/// product does not know needs at least its name.
pub(super) fn described_chains(
    file: &[ChainFile],
    registry: &ChainRegistry,
) -> Result<Vec<Chain>, String> {
    let mut chains = Vec::new();
    for chain in file {
        if chain.name.is_none() && chain.explorer_url.is_none() && chain.tokens.is_none() {
            continue;
        }
        let known = registry.get(ChainId(chain.id));
        let name = match (&chain.name, known) {
            (Some(name), _) if !name.trim().is_empty() => name.clone(),
            (Some(_), _) => return Err(format!("chains {}: name is empty", chain.id)),
            (None, Some(known)) => known.name.clone(),
            (None, None) => {
                return Err(format!(
                    "chains {}: name is required: the product does not know this chain, so its \
                     name and tokens (symbol, contract, decimals) come from here",
                    chain.id
                ));
            }
        };
        chains.push(Chain {
            id: ChainId(chain.id),
            name,
            explorer_url: chain
                .explorer_url
                .clone()
                .or_else(|| known.and_then(|c| c.explorer_url.clone())),
            tokens: chain
                .tokens
                .clone()
                .or_else(|| known.map(|c| c.tokens.clone()))
                .unwrap_or_default(),
        });
    }
    Ok(chains)
}

pub(super) fn watched_chains(
    file: Vec<ChainFile>,
    registry: &ChainRegistry,
) -> Result<BTreeMap<ChainId, WatchedChain>, String> {
    let mut chains = BTreeMap::new();
    for chain in file {
        let confirmations = chain.confirmations.unwrap_or(DEFAULT_CONFIRMATIONS);
        if confirmations == 0 {
            return Err(format!(
                "chains {}: confirmations must be at least 1 (the payment's own block)",
                chain.id
            ));
        }
        let mut rpc_urls = chain.rpc_url.into_iter().collect::<Vec<_>>();
        rpc_urls.extend(chain.rpc_urls);
        for url in &rpc_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "chains {}: rpc_url {url:?} must be an http(s) URL",
                    chain.id
                ));
            }
        }
        let rpc_calls_per_day = chain
            .rpc_calls_per_day
            .unwrap_or(usdt_checkout_chain::DEFAULT_CALLS_PER_DAY);
        if rpc_calls_per_day < 1_000 {
            return Err(format!(
                "chains {}: rpc_calls_per_day {rpc_calls_per_day} is under 1000, a call every \
                 86 s: too few to follow a chain",
                chain.id
            ));
        }
        let id = ChainId(chain.id);
        let underpaid_tolerance = tolerances(id, &chain.underpaid_tolerance, registry)?;
        if !underpaid_tolerance.is_empty() && rpc_urls.is_empty() {
            // The gateway reports a short payment as partly paid, whether its transfers are
            // confirmed or not, and never as paid: only the chain, read here, can settle one.
            return Err(format!(
                "chains {}: underpaid_tolerance needs rpc_url: a payment short of the amount is \
                 accepted on the chain's confirmations, which this server reads itself",
                chain.id
            ));
        }
        let refund_wallets = chain
            .refund_wallets
            .iter()
            .map(|text| {
                text.parse()
                    .map_err(|e| format!("chains {id}: refund_wallets {text:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let watched = WatchedChain {
            id,
            rpc_urls,
            rpc_calls_per_day,
            confirmations,
            poll_interval: chain.poll_interval_ms.map_or_else(
                || default_poll_interval(rpc_calls_per_day),
                |ms| Duration::from_millis(ms.max(100)),
            ),
            tokens: registry
                .chain(id)
                .map(|c| c.tokens.iter().map(|t| t.contract).collect())
                .unwrap_or_default(),
            underpaid_tolerance,
            refund_wallets,
        };
        if chains.insert(id, watched).is_some() {
            return Err(format!("chains: {} is listed twice", chain.id));
        }
    }
    Ok(chains)
}

/// Each token's underpayment tolerance on chain `id`, as written: the token must be one the
/// chain has, and the amount no finer than its decimals.
fn tolerances(
    id: ChainId,
    file: &BTreeMap<String, ToleranceFile>,
    registry: &ChainRegistry,
) -> Result<BTreeMap<String, Tolerance>, String> {
    file.iter()
        .map(|(symbol, written)| {
            let token = registry.token(id, symbol).map_err(|_| {
                format!("chains {id}: underpaid_tolerance names {symbol:?}, a token this chain does not have")
            })?;
            let tolerance = Tolerance::parse(
                written.amount.as_deref(),
                written.percent.as_deref(),
                token.decimals,
            )
            .map_err(|e| format!("chains {id}: underpaid_tolerance {symbol}: {e}"))?;
            Ok((symbol.clone(), tolerance))
        })
        .collect()
}

/// Blocks before a payment counts as settled, where the configuration does not say.
const DEFAULT_CONFIRMATIONS: u32 = 12;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use usdt_checkout_protocol::ChainId;

    use super::*;
    use crate::config::tests::with_base;

    #[test]
    fn a_chain_the_product_does_not_know_is_described_here_and_watched_with_its_tokens() {
        let op = "[[chains]]\nid = 10\nname = \"OP Mainnet\"\n\
                  explorer_url = \"https://optimistic.etherscan.io\"\n\
                  tokens = [{ symbol = \"USDT\", contract = \"0x94b008aA00579c1307B0EF2c499aD98a8ce58e58\", decimals = 6 }]";
        let config = with_base(op).unwrap();
        let chain = config.registry.chain(ChainId(10)).unwrap();
        assert_eq!(chain.name, "OP Mainnet");
        let usdt = config.registry.token(ChainId(10), "USDT").unwrap();
        assert_eq!(usdt.decimals, 6);
        assert_eq!(
            config.chains[&ChainId(10)].tokens,
            [usdt.contract],
            "watched"
        );
        // What the gateway's lists say of it is described from here.
        let listed = usdt_checkout_protocol::gateway::Listed::token("10", "USDT");
        let described = usdt_checkout_protocol::gateway::describe(
            &[usdt_checkout_protocol::gateway::Listed::chain("10")],
            &[listed],
            &config.registry,
        );
        assert_eq!(described.skipped, []);
        assert_eq!(described.networks[0].name, "OP Mainnet");
        assert_eq!(described.tokens[0].contract, usdt.contract);

        // A known chain keeps what is not said; an unknown one needs its name.
        let renamed = with_base("[[chains]]\nid = 1\nname = \"Ethereum mainnet\"").unwrap();
        let ethereum = renamed.registry.chain(ChainId(1)).unwrap();
        assert_eq!(ethereum.name, "Ethereum mainnet");
        assert_eq!(
            ethereum.explorer_url.as_deref(),
            Some("https://etherscan.io")
        );
        assert_eq!(ethereum.tokens.len(), 1);
        assert!(
            with_base("[[chains]]\nid = 10").is_ok(),
            "watched, not described"
        );
        let error = with_base("[[chains]]\nid = 10\ntokens = []").unwrap_err();
        assert!(error.contains("chains 10: name is required"), "{error}");
        let error = with_base(&op.replace("decimals = 6", "decimals = 39")).unwrap_err();
        assert!(
            error.contains("chains:") && error.contains("39 decimals"),
            "{error}"
        );
        let error = with_base(&op.replace("0x94b0", "0x94B0")).unwrap_err();
        assert!(error.contains("checksum"), "{error}");
    }

    #[test]
    fn watched_chains_are_read_with_their_confirmations() {
        let config = with_base(
            "[[chains]]\nid = 31337\nrpc_url = \"http://127.0.0.1:8545\"\nconfirmations = 2\n\
             [[chains]]\nid = 1",
        )
        .unwrap();
        assert_eq!(config.chains[&ChainId(31337)].confirmations, 2);
        assert!(!config.chains[&ChainId(1)].is_read());
        assert_eq!(
            config.chains[&ChainId(1)].confirmations,
            DEFAULT_CONFIRMATIONS
        );
        let error = with_base("[[chains]]\nid = 1\nconfirmations = 0").unwrap_err();
        assert!(error.contains("confirmations"), "{error}");
        let error = with_base("[[chains]]\nid = 1\nrpc_url = \"localhost\"").unwrap_err();
        assert!(error.contains("rpc_url"), "{error}");
        let error = with_base("[[chains]]\nid = 1\n[[chains]]\nid = 1").unwrap_err();
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn a_chain_has_several_nodes_and_a_budget_its_polls_fit() {
        let config = with_base(
            "[[chains]]\nid = 1\nrpc_url = \"https://a.example\"\n\
             rpc_urls = [\"https://b.example\", \"http://127.0.0.1:8545\"]\n\
             [[chains]]\nid = 56\nrpc_url = \"https://bsc.example\"\nrpc_calls_per_day = 300000",
        )
        .unwrap();
        let ethereum = &config.chains[&ChainId(1)];
        assert_eq!(
            ethereum.rpc_urls,
            [
                "https://a.example",
                "https://b.example",
                "http://127.0.0.1:8545"
            ]
        );
        assert_eq!(ethereum.rpc_calls_per_day, 100_000);
        assert_eq!(ethereum.poll_interval, Duration::from_millis(3_456));
        let bsc = &config.chains[&ChainId(56)];
        assert_eq!(bsc.poll_interval, Duration::from_millis(1_152));
        let error = with_base("[[chains]]\nid = 1\nrpc_urls = [\"wss://a.example\"]").unwrap_err();
        assert!(error.contains("http(s)"), "{error}");
        let error = with_base("[[chains]]\nid = 1\nrpc_calls_per_day = 10").unwrap_err();
        assert!(error.contains("rpc_calls_per_day"), "{error}");
    }

    #[test]
    fn refund_wallets_are_checked_addresses_and_none_means_any() {
        let local = "[[chains]]\nid = 31337\nrpc_url = \"http://127.0.0.1:8545\"\n";
        let config = with_base(&format!(
            "{local}refund_wallets = [\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\"]"
        ))
        .unwrap();
        assert_eq!(
            config.chains[&ChainId(31337)].refund_wallets,
            vec![
                "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
                    .parse::<usdt_checkout_protocol::Address>()
                    .unwrap()
            ]
        );
        assert!(
            with_base(local).unwrap().chains[&ChainId(31337)]
                .refund_wallets
                .is_empty()
        );
        // A mistyped checksum is refused: a refund would wait for a wallet nobody holds.
        let error = with_base(&format!(
            "{local}refund_wallets = [\"0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266\"]"
        ))
        .unwrap_err();
        assert!(error.contains("refund_wallets"), "{error}");
    }

    #[test]
    fn a_tokens_underpayment_tolerance_is_read_into_units_and_refused_saying_why() {
        let local = "[[chains]]\nid = 31337\nrpc_url = \"http://127.0.0.1:8545\"\n";
        let config = with_base(&format!(
            "{local}underpaid_tolerance = {{ USDT = {{ amount = \"1.5\", percent = \"2\" }} }}"
        ))
        .unwrap();
        let usdt = config.chains[&ChainId(31337)].underpaid_tolerance["USDT"];
        assert_eq!(usdt.amount.map(|a| a.atomic), Some(1_500_000));
        assert_eq!(usdt.percent.map(|p| p.hundredths()), Some(200));
        assert_eq!(usdt.to_string(), "1.5 or 2%, whichever is less");
        let none = with_base(local).unwrap();
        assert!(none.chains[&ChainId(31337)].underpaid_tolerance.is_empty());

        let error = |tolerance: &str| {
            with_base(&format!("{local}underpaid_tolerance = {{ {tolerance} }}")).unwrap_err()
        };
        for (tolerance, says) in [
            ("USDT = { amount = \"-1\" }", "negative"),
            ("USDT = { percent = \"-1\" }", "negative"),
            ("USDT = { percent = \"12\" }", "over the 10%"),
            ("USDT = { amount = \"0.0000001\" }", "only 6 decimals"),
            ("USDT = { amount = 1.5 }", "string"),
            ("USDT = {}", "amount, percent or both"),
            ("USDT = { amount = \"1\", fee = \"2\" }", "unknown field"),
            ("DAI = { amount = \"1\" }", "does not have"),
        ] {
            let error = error(tolerance);
            assert!(error.contains(says), "{tolerance}: {error}");
        }
        let unread =
            with_base("[[chains]]\nid = 1\nunderpaid_tolerance = { USDT = { amount = \"1\" } }")
                .unwrap_err();
        assert!(unread.contains("needs rpc_url"), "{unread}");
    }

    #[test]
    fn polls_spend_half_the_budget_at_two_calls_a_poll() {
        for calls_per_day in [100_000, 1_000_000, 30_000] {
            let polls = 86_400_000 / default_poll_interval(calls_per_day).as_millis() as u64;
            assert!(
                polls * 2 <= calls_per_day / 2,
                "{calls_per_day}: {polls} polls"
            );
        }
        assert_eq!(default_poll_interval(u64::MAX), Duration::from_millis(100));
        assert_eq!(default_poll_interval(1_000), Duration::from_secs(60));
    }
}
