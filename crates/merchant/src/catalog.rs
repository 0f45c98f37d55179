//! The gateway's public lists (networks, tokens, rates), kept for a minute: they change rarely,
//! and the public API costs no budget, but a shopper should not wait for it twice.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use usdt_checkout_protocol::gateway::{
    Cryptocurrency, ExchangeRate, Network, PATH_NETWORKS, PATH_RATES, PATH_TOKENS,
};

use crate::gateway::{GatewayClient, GatewayError};

pub struct CatalogCache {
    state: RwLock<Option<(Instant, Catalog)>>,
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Clone, Default)]
pub struct Catalog {
    pub networks: Vec<Network>,
    pub tokens: Vec<Cryptocurrency>,
    pub rates: Vec<ExchangeRate>,
}

const CATALOG_AGE: Duration = Duration::from_secs(60);

impl CatalogCache {
    pub fn new() -> Self {
        Self {
            state: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    pub async fn get(&self, gateway: &GatewayClient) -> Result<Catalog, GatewayError> {
        if let Some(catalog) = self.fresh() {
            return Ok(catalog);
        }
        let _one_refresh = self.refresh.lock().await;
        if let Some(catalog) = self.fresh() {
            return Ok(catalog);
        }
        let catalog = Catalog {
            networks: gateway.public(PATH_NETWORKS).await?,
            tokens: gateway.public(PATH_TOKENS).await?,
            rates: gateway.public(PATH_RATES).await?,
        };
        *self.state.write().expect("catalog lock") = Some((Instant::now(), catalog.clone()));
        Ok(catalog)
    }

    fn fresh(&self) -> Option<Catalog> {
        self.state
            .read()
            .expect("catalog lock")
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CATALOG_AGE)
            .map(|(_, catalog)| catalog.clone())
    }

    pub fn network_name(&self, chain_id: u64) -> Option<String> {
        self.state
            .read()
            .expect("catalog lock")
            .as_ref()
            .and_then(|(_, c)| c.networks.iter().find(|n| n.chain_id.0 == chain_id))
            .map(|n| n.name.clone())
    }
}

impl Default for CatalogCache {
    fn default() -> Self {
        Self::new()
    }
}
