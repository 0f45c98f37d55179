//! The server's shared state. Status polls are answered from an in-memory copy of every checkout,
//! refreshed on each change the store makes, so a thousand widgets polling cost neither a gateway
//! call nor a database read. Long polls wait on a change signal.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use usdt_checkout_protocol::checkout::{
    CheckoutView, GatewayHealth, PaymentView, Price, TransactionView,
};
use usdt_checkout_protocol::gateway::{Cryptocurrency, ExchangeRate, Network};
use usdt_checkout_protocol::{ChainRegistry, TransferRequest, format_units};

use crate::config::Config;
use crate::gateway::{GatewayClient, GatewayError};
use crate::store::{Checkout, Store, now_ms};

pub struct App {
    pub config: Config,
    pub store: Store,
    pub gateway: GatewayClient,
    pub checkouts: StatusCache,
    pub catalog: CatalogCache,
    /// Explorer links for the chains the product knows.
    pub registry: ChainRegistry,
    /// Wakes the fulfillment delivery at once when an order is paid.
    pub fulfillment_due: tokio::sync::Notify,
}

impl App {
    /// The widget's view of a checkout, now.
    pub fn view(&self, checkout: &Checkout) -> CheckoutView {
        let payment = checkout.terms.as_ref().map(|terms| {
            let units = |atomic| format_units(atomic, terms.decimals);
            let remaining = checkout.remaining_atomic.unwrap_or(terms.pay_amount_atomic);
            let request = TransferRequest {
                chain: terms.chain_id,
                token: terms.token_contract,
                to: terms.to_address,
                atomic_units: terms.pay_amount_atomic,
            };
            let chain = self.registry.chain(terms.chain_id).ok();
            PaymentView {
                chain_id: terms.chain_id,
                network: self
                    .catalog
                    .network_name(terms.chain_id.0)
                    .or_else(|| chain.map(|c| c.name.clone()))
                    .unwrap_or_else(|| format!("Chain {}", terms.chain_id)),
                symbol: terms.symbol.clone(),
                token_contract: terms.token_contract,
                decimals: terms.decimals,
                amount: units(terms.pay_amount_atomic),
                amount_atomic: terms.pay_amount_atomic.to_string(),
                to_address: terms.to_address,
                payment_uri: request.eip681(),
                metamask_link: request.metamask_link(),
                cashier_url: terms.cashier_url.clone(),
                order_no: terms.gateway_order_no.clone(),
                paid: units(checkout.paid_atomic),
                paid_atomic: checkout.paid_atomic.to_string(),
                remaining: units(remaining),
                remaining_atomic: remaining.to_string(),
                overpaid: units(checkout.overpaid_atomic),
                confirmations: checkout.confirmations,
                required_confirmations: terms.required_confirmations,
                transactions: checkout
                    .tx_hashes
                    .iter()
                    .map(|hash| TransactionView {
                        hash: hash.clone(),
                        explorer_url: chain.and_then(|c| c.transaction_url(hash)),
                    })
                    .collect(),
            }
        });
        CheckoutView {
            id: checkout.id.clone(),
            state: checkout.state,
            description: checkout.description.clone(),
            price: Price {
                amount: checkout.price_amount.clone(),
                currency: checkout.price_currency.clone(),
            },
            expires_at: checkout.terms.as_ref().map(|t| t.expires_at),
            payment,
            gateway: self.gateway.health(),
            server_time: now_ms(),
            version: checkout.version,
        }
    }

    /// A status poll's ETag: the checkout's version and the gateway's health, everything a view
    /// shows that changes (but the server's clock).
    pub fn etag(&self, checkout: &Checkout) -> String {
        format!(
            "\"{}-{}\"",
            checkout.version,
            self.gateway.health().as_str()
        )
    }

    /// Waits until the checkout's ETag differs from `seen` (it changed, or the gateway's health
    /// did), or `limit` passes; returns the checkout as it is then.
    pub async fn wait_for_change(
        &self,
        id: &str,
        seen: &str,
        limit: Duration,
    ) -> Option<Arc<Checkout>> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut checkouts = self.checkouts.watch();
        let mut health = self.gateway.watch_health();
        loop {
            let current = self.checkouts.get(id)?;
            if self.etag(&current) != seen {
                return Some(current);
            }
            // A pause ends by itself at its `until`, with no signal: wake then to say so.
            let wake = match self.gateway.health() {
                GatewayHealth::RateLimited { until } | GatewayHealth::Blocked { until } => deadline
                    .min(
                        tokio::time::Instant::now()
                            + Duration::from_millis(until.saturating_sub(now_ms())),
                    ),
                _ => deadline,
            };
            tokio::select! {
                changed = checkouts.changed() => if changed.is_err() { return Some(current) },
                changed = health.changed() => if changed.is_err() { return Some(current) },
                _ = tokio::time::sleep_until(wake) => if wake == deadline { return Some(current) },
            }
        }
    }
}

/// Every checkout as last stored, and a signal that something changed.
pub struct StatusCache {
    entries: RwLock<HashMap<String, Arc<Checkout>>>,
    changed: watch::Sender<u64>,
}

impl StatusCache {
    pub fn new(all: Vec<Checkout>) -> Self {
        let entries = all
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        Self {
            entries: RwLock::new(entries),
            changed: watch::Sender::new(0),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Checkout>> {
        self.entries.read().expect("cache lock").get(id).cloned()
    }

    /// Records what the store now holds; an older version never replaces a newer one.
    pub fn put(&self, checkout: Checkout) {
        let mut entries = self.entries.write().expect("cache lock");
        let newer = entries
            .get(&checkout.id)
            .is_none_or(|held| held.version <= checkout.version);
        if newer {
            entries.insert(checkout.id.clone(), Arc::new(checkout));
            drop(entries);
            self.changed.send_modify(|n| *n += 1);
        }
    }

    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// The gateway's public lists (networks, tokens, rates), kept for a minute: they change rarely,
/// and the public API costs no budget, but a shopper should not wait for it twice.
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
            networks: gateway
                .public(usdt_checkout_protocol::gateway::PATH_NETWORKS)
                .await?,
            tokens: gateway
                .public(usdt_checkout_protocol::gateway::PATH_TOKENS)
                .await?,
            rates: gateway
                .public(usdt_checkout_protocol::gateway::PATH_RATES)
                .await?,
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

    fn network_name(&self, chain_id: u64) -> Option<String> {
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
