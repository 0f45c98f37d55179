//! The gateway's public lists (networks, tokens), kept for a minute, and the rates fiat prices
//! are converted at, kept as configured (a minute unless said): they change rarely, and the public API costs no budget, but a shopper
//! should not wait for it twice. Rates are fetched only when a fiat price needs one.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use usdt_checkout_protocol::Address;
use usdt_checkout_protocol::gateway::{Cryptocurrency, ExchangeRate, Network};

use crate::config::RateSource;
use crate::gateway::{GatewayClient, GatewayError};

pub struct CatalogCache {
    state: RwLock<Option<(Instant, Catalog)>>,
    rates: RwLock<Option<(Instant, Vec<ExchangeRate>)>>,
    refresh: tokio::sync::Mutex<()>,
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
        }
    }

    pub async fn get(&self, gateway: &GatewayClient) -> Result<Catalog, GatewayError> {
        if let Some(catalog) = fresh(&self.state, CATALOG_AGE) {
            return Ok(catalog);
        }
        let _one_refresh = self.refresh.lock().await;
        if let Some(catalog) = fresh(&self.state, CATALOG_AGE) {
            return Ok(catalog);
        }
        let dialect = gateway.dialect();
        let catalog = Catalog {
            networks: gateway.public_list(dialect.networks_path()).await?,
            tokens: gateway.public_list(dialect.tokens_path()).await?,
        };
        *self.state.write().expect("catalog lock") = Some((Instant::now(), catalog.clone()));
        Ok(catalog)
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
