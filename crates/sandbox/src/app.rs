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
use crate::config::{Config, Merchant};
use crate::faults::FaultState;
use crate::ledger::{Deployment, Order, Store};
use crate::rate_limit::RateLimiter;
use crate::view::{self, OrderView};

pub struct App {
    pub config: Config,
    pub store: Store,
    pub chain: ChainClient,
    pub chain_id: ChainId,
    /// Base of the URLs given out (`cashierUrl`).
    pub public_url: String,
    pub test_mode: bool,
    /// Signs V1 webhooks.
    pub gateway_key: V1PrivateKey,
    /// The latest block the follower read up to.
    pub head: AtomicU64,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<FaultState>,
    /// Wakes the follower at once (after a test-mode transaction, say).
    pub chain_changed: Notify,
    pub webhooks_due: Notify,
    /// One follower tick at a time, whoever asks for it.
    pub tick_lock: tokio::sync::Mutex<()>,
}

pub struct Startup {
    pub config: Config,
    pub rpc_url: String,
    pub data: Option<PathBuf>,
    pub deploy: bool,
    pub test_mode: bool,
    pub public_url: String,
}

/// What `--deploy` put on chain, printed for scripts.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentReport {
    pub chain_id: ChainId,
    pub token: Address,
    pub receivers: std::collections::BTreeMap<String, Address>,
    pub gateway_public_key: String,
}

impl App {
    pub async fn start(startup: Startup) -> Result<(Self, Option<DeploymentReport>), String> {
        let Startup {
            mut config,
            rpc_url,
            data,
            deploy,
            test_mode,
            public_url,
        } = startup;
        let chain = ChainClient::connect(&rpc_url).map_err(|e| format!("--rpc-url {e}"))?;
        let chain_id = chain
            .chain_id()
            .await
            .map_err(|e| format!("cannot reach the chain at {rpc_url}: {e}"))?;
        config.registry.chain(chain_id).map_err(|_| {
            format!(
                "the chain at {rpc_url} has id {chain_id}, which the configuration does not list"
            )
        })?;
        config.registry.retain(&[chain_id]);
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

        let report = if deploy {
            let deployment = deploy_once(&chain, chain_id, &store, &config.merchants).await?;
            apply(&mut config, &deployment)?;
            Some(DeploymentReport {
                chain_id,
                token: deployment.token,
                receivers: deployment.receivers,
                gateway_public_key: gateway_key.public_key().to_base64_spki(),
            })
        } else {
            None
        };
        for merchant in &config.merchants {
            if merchant.receiving_address.is_none() {
                return Err(format!(
                    "merchant {} has no receiving_address: configure one, or start with --deploy",
                    merchant.api_key
                ));
            }
        }

        let settings = &config.settings;
        let limiter = RateLimiter::new(settings.rate_limit_per_minute, settings.block);
        Ok((
            Self {
                store,
                chain,
                chain_id,
                public_url,
                test_mode,
                gateway_key,
                head: AtomicU64::new(0),
                limiter: Mutex::new(limiter),
                faults: Mutex::new(FaultState::default()),
                chain_changed: Notify::new(),
                webhooks_due: Notify::new(),
                tick_lock: tokio::sync::Mutex::new(()),
                config,
            },
            report,
        ))
    }

    pub fn merchant(&self, api_key: &str) -> Option<&Merchant> {
        self.config.merchants.iter().find(|m| m.api_key == api_key)
    }

    /// `order` in the sandbox's own detail, now (the cashier page, test mode).
    pub fn view(&self, order: &Order) -> OrderView {
        view::order(
            order,
            self.head.load(Ordering::Relaxed),
            self.config.settings.confirmations,
            now_ms(),
            &self.public_url,
        )
    }

    /// The accepted tokens on the watched chain.
    pub fn tokens(&self) -> Vec<Address> {
        self.config
            .registry
            .chains()
            .flat_map(|c| c.tokens.iter().map(|t| t.contract))
            .collect()
    }

    pub fn receivers(&self) -> Vec<Address> {
        self.config
            .merchants
            .iter()
            .filter_map(|m| m.receiving_address)
            .collect()
    }
}

/// An id for one answer, success or error, returned in the envelope's `trace`: a merchant
/// quotes it when asking about a request. One counter per process, like the gateway's.
pub fn next_trace() -> String {
    static TRACES: AtomicU64 = AtomicU64::new(0);
    format!("sbx-{:08}", TRACES.fetch_add(1, Ordering::Relaxed) + 1)
}

/// What each of the chain's other unlocked accounts is given at deployment: 10,000 test USDT.
const TEST_WALLET_BALANCE: u128 = 10_000 * 1_000_000;

/// Deploys the test USDT and a receiving contract per merchant, unless the ledger records a
/// deployment on this chain whose contracts are still there (a restart).
async fn deploy_once(
    chain: &ChainClient,
    chain_id: ChainId,
    store: &Store,
    merchants: &[Merchant],
) -> Result<Deployment, String> {
    if let Some(existing) = store.read(|l| l.deployment.clone())
        && existing.chain_id == chain_id
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
    let token = chain.deploy_token(deployer).await?;
    // Test wallets start with test USDT, so a browser wallet can pay without a faucet.
    for account in chain.accounts().await?.iter().skip(1) {
        chain
            .mint(token, deployer, *account, TEST_WALLET_BALANCE)
            .await?;
    }
    let mut receivers = std::collections::BTreeMap::new();
    for merchant in merchants {
        let receiver = chain.deploy_receiver(deployer, deployer).await?;
        receivers.insert(merchant.api_key.clone(), receiver);
    }
    let deployment = Deployment {
        chain_id,
        token,
        receivers,
    };
    let saved = deployment.clone();
    store.write(|l| {
        // A fresh chain: whatever was read from an earlier one no longer exists.
        l.scan = Default::default();
        l.deployment = Some(saved);
    })?;
    Ok(deployment)
}

/// Points the configuration at the deployed contracts.
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
        decimals: 6,
    });
    config.registry.set([chain]).map_err(|e| e.to_string())?;
    for merchant in &mut config.merchants {
        merchant.receiving_address = deployment.receivers.get(&merchant.api_key).copied();
    }
    Ok(())
}
