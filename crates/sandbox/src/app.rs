//! The sandbox's shared state, and how it is put together at startup: configuration checked, the
//! chain reached, contracts deployed or found, the gateway's webhook key loaded or made.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use usdt_checkout_chain::ChainClient;
use usdt_checkout_protocol::signature::V1PrivateKey;
use usdt_checkout_protocol::{Address, ChainId, Token};

use crate::clock::now_ms;
use crate::config::{Config, Merchant, RateFile};
use crate::faults::FaultState;
use crate::ledger::{Deployment, Order, Store};
use crate::rate_limit::RateLimiter;
use crate::view::{self, OrderView};

pub struct App {
    pub config: Config,
    pub store: Store,
    /// The chains watched, in the order given on the command line.
    pub chains: Vec<Watched>,
    /// Base of the URLs given out (`cashierUrl`).
    pub public_url: String,
    pub test_mode: bool,
    /// Signs V1 webhooks.
    pub gateway_key: V1PrivateKey,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<FaultState>,
    /// The rates `GET /api/v1/public/rates` answers: the configured ones, until test mode moves
    /// them.
    pub rates: Mutex<Vec<RateFile>>,
    /// Test mode's transactions, one at a time: anvil's accounts are shared, and two sends from
    /// one account at once would race for its nonce.
    pub sending: tokio::sync::Mutex<()>,
    /// Wakes the followers at once (after a test-mode transaction, say).
    pub chain_changed: Notify,
    pub webhooks_due: Notify,
    /// One follower tick at a time, whoever asks for it.
    pub tick_lock: tokio::sync::Mutex<()>,
}

/// One chain the gateway watches, as BlockATM watches each network it lists.
pub struct Watched {
    pub id: ChainId,
    pub client: ChainClient,
    /// The latest block the follower read up to.
    pub head: AtomicU64,
}

pub struct Startup {
    pub config: Config,
    /// One JSON-RPC URL per watched chain.
    pub rpc_urls: Vec<String>,
    pub data: Option<PathBuf>,
    pub deploy: bool,
    pub test_mode: bool,
    pub public_url: String,
}

impl App {
    pub async fn start(startup: Startup) -> Result<Self, String> {
        let Startup {
            mut config,
            rpc_urls,
            data,
            deploy,
            test_mode,
            public_url,
        } = startup;
        let mut chains: Vec<Watched> = vec![];
        for rpc_url in &rpc_urls {
            let client = ChainClient::connect(rpc_url).map_err(|e| format!("--rpc-url {e}"))?;
            let id = client
                .chain_id()
                .await
                .map_err(|e| format!("cannot reach the chain at {rpc_url}: {e}"))?;
            config.registry.chain(id).map_err(|_| {
                format!("the chain at {rpc_url} has id {id}, which the configuration does not list")
            })?;
            if chains.iter().any(|c| c.id == id) {
                return Err(format!("--rpc-url {rpc_url}: chain {id} is given twice"));
            }
            chains.push(Watched {
                id,
                client,
                head: AtomicU64::new(0),
            });
        }
        if chains.is_empty() {
            return Err("give at least one --rpc-url".into());
        }
        let ids: Vec<ChainId> = chains.iter().map(|c| c.id).collect();
        config.registry.retain(&ids);
        let store = Store::open(data)?;
        let cashier_ids: Vec<(String, u64)> = config
            .merchants
            .iter()
            .map(|m| (m.api_key.clone(), m.cashier_id))
            .collect();
        let cashier_id = |key: &str| {
            cashier_ids
                .iter()
                .find(|(k, _)| k == key)
                .map_or(0, |(_, id)| *id)
        };
        store.write(|l| crate::outbox::adopt(config.api, l, cashier_id, now_ms()))?;

        let gateway_key = match store.read(|l| l.gateway_key.clone()) {
            Some(pkcs8) => V1PrivateKey::from_base64_pkcs8(&pkcs8)
                .map_err(|e| format!("the ledger's gateway key: {e}"))?,
            None => {
                let key = V1PrivateKey::generate();
                let pkcs8 = key.to_base64_pkcs8();
                store.write(|l| l.gateway_key = Some(pkcs8))?;
                key
            }
        };

        for merchant in &mut config.merchants {
            if let Some(address) = merchant.receiving_address {
                merchant.receivers = ids.iter().map(|id| (*id, address)).collect();
            }
        }
        if deploy {
            for chain in &chains {
                let decimals = config
                    .registry
                    .chain(chain.id)
                    .ok()
                    .and_then(|c| c.token("USDT"))
                    .map_or(6, |t| t.decimals);
                let deployment =
                    deploy_once(&chain.client, chain.id, decimals, &store, &config.merchants)
                        .await?;
                apply(&mut config, &deployment)?;
            }
        }
        for merchant in &config.merchants {
            if merchant.receivers.len() < ids.len() {
                return Err(format!(
                    "merchant {} has no receiving_address: configure one, or start with --deploy",
                    merchant.api_key
                ));
            }
        }

        let settings = &config.settings;
        let limiter = RateLimiter::new(settings.rate_limit_per_minute, settings.block);
        Ok(Self {
            store,
            chains,
            public_url,
            test_mode,
            gateway_key,
            limiter: Mutex::new(limiter),
            faults: Mutex::new(FaultState::default()),
            rates: Mutex::new(config.rates.clone()),
            sending: tokio::sync::Mutex::new(()),
            chain_changed: Notify::new(),
            webhooks_due: Notify::new(),
            tick_lock: tokio::sync::Mutex::new(()),
            config,
        })
    }

    pub fn merchant(&self, api_key: &str) -> Option<&Merchant> {
        self.config.merchants.iter().find(|m| m.api_key == api_key)
    }

    /// The watched chain `id`.
    pub fn chain(&self, id: ChainId) -> Option<&Watched> {
        self.chains.iter().find(|c| c.id == id)
    }

    /// The watched chain `id`, or the first when none is named (test mode's default).
    pub fn chain_or_first(&self, id: Option<u64>) -> Result<&Watched, String> {
        match id {
            None => Ok(&self.chains[0]),
            Some(id) => self
                .chain(ChainId(id))
                .ok_or_else(|| format!("chainId: chain {id} is not watched")),
        }
    }

    /// The latest block read on chain `id` (0 before the first read).
    pub fn head(&self, id: ChainId) -> u64 {
        self.chain(id).map_or(0, |c| c.head.load(Ordering::Relaxed))
    }

    /// `order` in the sandbox's own detail, now (the cashier page, test mode).
    pub fn view(&self, order: &Order) -> OrderView {
        view::order(
            order,
            self.head(order.chain_id),
            self.config.settings.confirmations,
            now_ms(),
            &self.public_url,
        )
    }

    /// The accepted tokens on chain `id`.
    pub fn tokens(&self, id: ChainId) -> Vec<Address> {
        self.config
            .registry
            .chain(id)
            .map(|c| c.tokens.iter().map(|t| t.contract).collect())
            .unwrap_or_default()
    }

    /// The merchants' receiving addresses on chain `id`.
    pub fn receivers(&self, id: ChainId) -> Vec<Address> {
        self.config
            .merchants
            .iter()
            .filter_map(|m| m.receiver(id))
            .collect()
    }

    /// The decimals of `token` on chain `id` (0 for a token the chain does not list).
    pub fn decimals(&self, id: ChainId, token: Address) -> u8 {
        self.config
            .registry
            .chain(id)
            .ok()
            .and_then(|c| c.tokens.iter().find(|t| t.contract == token))
            .map_or(0, |t| t.decimals)
    }
}

/// An id for one answer, success or error, returned in the envelope's `trace`: a merchant
/// quotes it when asking about a request. One counter per process, like the gateway's.
pub fn next_trace() -> String {
    static TRACES: AtomicU64 = AtomicU64::new(0);
    format!("sbx-{:08}", TRACES.fetch_add(1, Ordering::Relaxed) + 1)
}

/// What each of the chain's other unlocked accounts is given at deployment: 10,000 test USDT.
const TEST_WALLET_TOKENS: u128 = 10_000;

/// Deploys the test USDT with `decimals` and a receiving contract per merchant on one chain,
/// unless the ledger records a deployment on this chain whose contracts are still there (a
/// restart).
async fn deploy_once(
    chain: &ChainClient,
    chain_id: ChainId,
    decimals: u8,
    store: &Store,
    merchants: &[Merchant],
) -> Result<Deployment, String> {
    if let Some(existing) = store.read(|l| l.deployments.get(&chain_id).cloned())
        && existing.decimals == decimals
        && chain.has_code(existing.token).await?
        && merchants
            .iter()
            .all(|m| existing.receivers.contains_key(&m.api_key))
    {
        return Ok(existing);
    }
    let deployer = *chain
        .accounts()
        .await?
        .first()
        .ok_or("the chain has no unlocked account to deploy from")?;
    let token = chain.deploy_token(deployer, decimals).await?;
    // Test wallets start with test USDT, so a browser wallet can pay without a faucet.
    let balance = TEST_WALLET_TOKENS * 10u128.pow(decimals.into());
    for account in chain.accounts().await?.iter().skip(1) {
        chain.mint(token, deployer, *account, balance).await?;
    }
    let mut receivers = std::collections::BTreeMap::new();
    for merchant in merchants {
        let receiver = chain.deploy_receiver(deployer, deployer).await?;
        receivers.insert(merchant.api_key.clone(), receiver);
    }
    let deployment = Deployment {
        chain_id,
        token,
        decimals,
        receivers,
    };
    let saved = deployment.clone();
    store.write(|l| {
        // A fresh chain: whatever was read from an earlier one no longer exists.
        l.scans.remove(&chain_id);
        l.deployments.insert(chain_id, saved);
    })?;
    Ok(deployment)
}

/// Points the configuration at the contracts deployed on one chain.
fn apply(config: &mut Config, deployment: &Deployment) -> Result<(), String> {
    let mut chain = config
        .registry
        .chain(deployment.chain_id)
        .map_err(|e| e.to_string())?
        .clone();
    chain.tokens.retain(|t| t.symbol != "USDT");
    chain.tokens.push(Token {
        symbol: "USDT".into(),
        contract: deployment.token,
        decimals: deployment.decimals,
    });
    config.registry.set([chain]).map_err(|e| e.to_string())?;
    for merchant in &mut config.merchants {
        if let Some(receiver) = deployment.receivers.get(&merchant.api_key) {
            merchant.receivers.insert(deployment.chain_id, *receiver);
        }
    }
    Ok(())
}
