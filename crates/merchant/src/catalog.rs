//! The gateway's public lists (networks, tokens), kept for a minute, and the rates fiat prices
//! are converted at, kept as configured (a minute unless said): they change rarely, and the public API costs no budget, but a shopper
//! should not wait for it twice. Rates are fetched only when a fiat price needs one.
//!
//! The lists say which chains and tokens the gateway enables, and no more that BlockATM
//! documents: each is described from the registry (the built-in chains and what `[[chains]]`
//! adds) by the protocol's [`describe`], the widget's rule too; an entry it cannot describe is
//! left out and said once in the log, never a failed checkout.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use usdt_checkout_protocol::gateway::lists::Reason;
use usdt_checkout_protocol::gateway::{
    Cryptocurrency, ExchangeRate, Listed, Network, Skipped, describe,
};
use usdt_checkout_protocol::{Address, ChainRegistry};

use crate::config::RateSource;
use crate::gateway::{GatewayClient, GatewayError};

pub struct CatalogCache {
    state: RwLock<Option<(Instant, Catalog)>>,
    rates: RwLock<Option<(Instant, Vec<ExchangeRate>)>>,
    refresh: tokio::sync::Mutex<()>,
    /// The entries the last lists skipped, said in the log once each.
    skipped: Mutex<Vec<Skipped>>,
}

#[derive(Clone, Default)]
pub struct Catalog {
    pub networks: Vec<Network>,
    pub tokens: Vec<Cryptocurrency>,
}

const CATALOG_AGE: Duration = Duration::from_secs(60);

impl CatalogCache {
    pub fn new() -> Self {
        Self {
            state: RwLock::new(None),
            rates: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            skipped: Mutex::new(Vec::new()),
        }
    }

    /// The gateway's lists, as `registry` describes them.
    pub async fn get(
        &self,
        gateway: &GatewayClient,
        registry: &ChainRegistry,
    ) -> Result<Catalog, GatewayError> {
        if let Some(catalog) = fresh(&self.state, CATALOG_AGE) {
            return Ok(catalog);
        }
        let _one_refresh = self.refresh.lock().await;
        if let Some(catalog) = fresh(&self.state, CATALOG_AGE) {
            return Ok(catalog);
        }
        let dialect = gateway.dialect();
        let networks: Vec<Listed> = gateway.public_list(dialect.networks_path()).await?;
        let tokens: Vec<Listed> = gateway.public_list(dialect.tokens_path()).await?;
        let described = describe(&networks, &tokens, registry);
        self.say(described.skipped);
        let catalog = Catalog {
            networks: described.networks,
            tokens: described.tokens,
        };
        *self.state.write().expect("catalog lock") = Some((Instant::now(), catalog.clone()));
        Ok(catalog)
    }

    /// Warns of each entry skipped that the lists before did not skip: they are read every
    /// minute, and the same warning each time would bury the rest of the log.
    fn say(&self, skipped: Vec<Skipped>) {
        let mut said = self.skipped.lock().expect("catalog lock");
        for entry in skipped.iter().filter(|entry| !said.contains(entry)) {
            let hint = match entry.reason {
                Reason::UnknownChain => {
                    "; to accept it, describe it under [[chains]] (name, and tokens with symbol, \
                     contract and decimals)"
                }
                Reason::UnknownToken => {
                    "; to accept it, list it in the tokens of its chain's [[chains]] (symbol, \
                     contract, decimals)"
                }
                Reason::NoChainId | Reason::NoSymbol => "",
            };
            tracing::warn!("{entry}{hint}");
        }
        *said = skipped;
    }

    /// How much `quote` one `base` is worth, from the configured source.
    pub async fn rate(
        &self,
        gateway: &GatewayClient,
        source: &RateSource,
        base: &str,
        quote: &str,
    ) -> Result<Option<String>, GatewayError> {
        let rates = match source {
            RateSource::None => return Ok(None),
            RateSource::Fixed(fixed) => {
                return Ok(fixed.get(&(base.to_owned(), quote.to_owned())).cloned());
            }
            RateSource::Url { url, refresh } => match fresh(&self.rates, *refresh) {
                Some(rates) => rates,
                None => {
                    let rates: Vec<ExchangeRate> = gateway.public_url(url).await?;
                    *self.rates.write().expect("rates lock") =
                        Some((Instant::now(), rates.clone()));
                    rates
                }
            },
        };
        Ok(rates
            .into_iter()
            .find(|r| r.base == base && r.quote == quote)
            .map(|r| r.rate))
    }

    pub fn network_name(&self, chain_id: u64) -> Option<String> {
        self.state
            .read()
            .expect("catalog lock")
            .as_ref()
            .and_then(|(_, c)| c.networks.iter().find(|n| n.chain_id.0 == chain_id))
            .map(|n| n.name.clone())
    }

    /// The decimals of the token at `contract` on `chain_id`, as the gateway last listed it.
    pub fn token_decimals(&self, chain_id: u64, contract: Address) -> Option<u8> {
        self.state
            .read()
            .expect("catalog lock")
            .as_ref()
            .and_then(|(_, c)| {
                c.tokens
                    .iter()
                    .find(|t| t.chain_id.0 == chain_id && t.contract == contract)
            })
            .map(|t| t.decimals)
    }
}

fn fresh<T: Clone>(slot: &RwLock<Option<(Instant, T)>>, age: Duration) -> Option<T> {
    slot.read()
        .expect("catalog lock")
        .as_ref()
        .filter(|(at, _)| at.elapsed() < age)
        .map(|(_, value)| value.clone())
}

impl Default for CatalogCache {
    fn default() -> Self {
        Self::new()
    }
}
