//! The web app's shared state, and what the widget sees of a checkout. Status polls are answered
//! from [`Checkouts`]' in-memory copy, so a thousand widgets polling cost neither a gateway call
//! nor a database read; long polls wait on its change signal and the gateway's health.

use std::sync::Arc;
use std::time::Duration;

use usdt_checkout_protocol::TransferRequest;
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::checkout::{
    CheckoutView, GatewayHealth, PaymentView, Price, TransactionView,
};
use usdt_checkout_protocol::{ChainId, OrderStatus, format_units};

use usdt_checkout_chain::ChainClient;

use crate::catalog::CatalogCache;
use axum::body::Bytes;

use crate::checkouts::{Checkouts, Rendered, Slot, ViewKey};
use crate::clock::now_ms;
use crate::config::Config;
use crate::domain::Checkout;
use crate::gateway::GatewayClient;
use crate::limiter::SlidingWindow;
use crate::long_polls::LongPolls;
use crate::store::Store;
use crate::store::replicas::Roles;
use crate::supervisor::Workers;
use usdt_checkout_protocol::receipt::Receipt;
use usdt_checkout_protocol::signature::V1PrivateKey;

pub struct App {
    pub config: Config,
    pub checkouts: Arc<Checkouts>,
    pub gateway: Arc<GatewayClient>,
    pub catalog: CatalogCache,
    /// What this server runs for every server on its database (see [`crate::store::replicas`]).
    pub roles: Arc<Roles>,
    /// Signs receipts: the key the store keeps for every server on the database.
    pub receipt_key: V1PrivateKey,
    /// The watched chains this server reads (those with an RPC URL), for "I already paid".
    pub chains: Vec<(ChainId, ChainClient)>,
    /// How often each checkout has claimed a transaction lately.
    pub claims: std::sync::Mutex<SlidingWindow>,
    /// How often each client has asked for a new checkout lately.
    pub creations: std::sync::Mutex<SlidingWindow>,
    /// How often each client has tried to sign in to the console lately.
    pub sign_ins: std::sync::Mutex<SlidingWindow>,
    /// Status polls held open, up to a share of the open-files limit.
    pub long_polls: LongPolls,
    /// The background workers, restarted when they fail (see [`crate::supervisor`]).
    pub workers: Arc<Workers>,
    /// The database, for `/healthz` to ask whether it answers (none: not asked).
    pub store: Option<Store>,
}

impl App {
    pub fn new(config: Config, checkouts: Arc<Checkouts>, gateway: Arc<GatewayClient>) -> Self {
        // Sends nothing yet; the server gives its own, which the watchers share.
        let chains = crate::config::chain_clients(&config.chains);
        let per_client = config.checkouts_per_client_per_minute;
        let sign_ins = config.console.sign_ins_per_client_per_minute;
        Self {
            config,
            checkouts,
            gateway,
            catalog: CatalogCache::new(),
            roles: Arc::default(),
            receipt_key: V1PrivateKey::generate(),
            chains,
            claims: std::sync::Mutex::new(SlidingWindow::new(
                crate::claim::CLAIMS_PER_MINUTE,
                60_000,
            )),
            creations: std::sync::Mutex::new(SlidingWindow::new(per_client, 60_000)),
            sign_ins: std::sync::Mutex::new(SlidingWindow::new(sign_ins, 60_000)),
            long_polls: LongPolls::for_open_files(crate::long_polls::raise_open_files()),
            workers: Arc::default(),
            store: None,
        }
    }

    /// The widget's view of a checkout, now. Status polls keep its bytes until its [`ViewKey`]
    /// changes: whatever it shows besides the checkout itself, the unmatched payments and the
    /// gateway's health (and the clock, written per answer) must join the key, and wake the
    /// polls it changes (see [`crate::checkouts::Views`]).
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
            let chain = self.config.registry.chain(terms.chain_id).ok();
            PaymentView {
                chain_id: terms.chain_id,
                network: self.network_name(terms.chain_id),
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
                        hash: hash.to_string(),
                        explorer_url: chain.and_then(|c| c.transaction_url(hash.as_str())),
                        amount: checkout
                            .chain_payments
                            .iter()
                            .find(|p| p.tx_id == *hash)
                            .map(|p| units(p.value)),
                        network: None,
                    })
                    .collect(),
                unmatched: self
                    .checkouts
                    .unmatched_at(checkout)
                    .iter()
                    .map(|(on, p)| {
                        let wrong = (*on != terms.chain_id).then_some(*on);
                        let chain = self.config.registry.chain(*on).ok();
                        TransactionView {
                            hash: p.tx_id.to_string(),
                            explorer_url: chain.and_then(|c| c.transaction_url(p.tx_id.as_str())),
                            amount: match wrong {
                                None => Some(units(p.value)),
                                // In that chain's token and decimals.
                                Some(on) => self
                                    .catalog
                                    .token_decimals(on.0, p.token)
                                    .or_else(|| {
                                        let c = chain?;
                                        let t = c.tokens.iter().find(|t| t.contract == p.token)?;
                                        Some(t.decimals)
                                    })
                                    .map(|decimals| format_units(p.value, decimals)),
                            },
                            network: wrong.map(|on| self.network_name(on)),
                        }
                    })
                    .collect(),
            }
        });
        CheckoutView {
            id: checkout.id.clone(),
            state: checkout.state,
            description: checkout.description.clone(),
            price: Price {
                amount: checkout.price.amount.to_string(),
                currency: checkout.price.currency.clone(),
            },
            expires_at: checkout.terms.as_ref().map(|t| t.expires_at),
            payment,
            gateway: self.gateway.health(),
            server_time: now_ms(),
            version: checkout.version,
            refundable: crate::refunds::offered(checkout, &self.checkouts.unmatched_at(checkout)),
        }
    }

    /// A chain's name as the gateway lists it, else as the product knows it.
    pub fn network_name(&self, chain: ChainId) -> String {
        self.catalog
            .network_name(chain.0)
            .or_else(|| {
                self.config
                    .registry
                    .chain(chain)
                    .ok()
                    .map(|c| c.name.clone())
            })
            .unwrap_or_else(|| format!("Chain {chain}"))
    }

    /// The receipt of a checkout paid (or paid late), as of now; `None` before that.
    pub fn receipt(&self, checkout: &Checkout) -> Option<Receipt> {
        let state = checkout.state;
        if !matches!(
            state,
            CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate)
        ) {
            return None;
        }
        let view = self.view(checkout);
        let payment = view.payment?;
        Some(Receipt {
            merchant: self.config.merchant_name.clone(),
            checkout_id: checkout.id.clone(),
            item: checkout.item_id.clone(),
            description: checkout.description.clone(),
            price: view.price,
            paid: payment.paid,
            shortfall: (checkout.shortfall_atomic > 0)
                .then(|| format_units(checkout.shortfall_atomic, payment.decimals)),
            symbol: payment.symbol,
            chain_id: payment.chain_id,
            network: payment.network,
            token_contract: payment.token_contract,
            to_address: payment.to_address,
            transactions: payment.transactions,
            state: state.as_str().into(),
            paid_at: checkout.gateway.success_at.unwrap_or(checkout.updated_at),
            issued_at: now_ms(),
        })
    }

    /// What the view of `checkout` is made from now (see [`ViewKey`]).
    fn view_key(&self, checkout: &Checkout) -> ViewKey {
        ViewKey {
            version: checkout.version,
            unmatched: self.checkouts.views().unmatched_generation(),
            gateway: self.gateway.health(),
        }
    }

    /// The status poll's answer for `checkout`: as rendered for an earlier poll when nothing it
    /// shows changed since (no per-poll serialisation, no scan of the unmatched payments),
    /// else rendered now and kept in `slot` for the polls after.
    pub fn rendered(&self, checkout: &Checkout, slot: &Slot) -> Arc<Rendered> {
        // Read before the view: a change while rendering leaves the key older than the bytes,
        // so the next poll renders again, never the reverse.
        let key = self.view_key(checkout);
        if let Some(rendered) = slot.rendered(&key) {
            return rendered;
        }
        let rendered = Arc::new(self.render(checkout, key));
        slot.keep(rendered.clone());
        rendered
    }

    fn render(&self, checkout: &Checkout, key: ViewKey) -> Rendered {
        // The ETag: everything the view shows that changes, but the server's clock.
        let etag = format!(
            "\"{}-{}-{}\"",
            checkout.version,
            self.checkouts.unmatched_count(checkout),
            key.gateway.as_str()
        );
        let view = CheckoutView {
            gateway: key.gateway,
            server_time: CLOCK_MARK,
            ..self.view(checkout)
        };
        let json = serde_json::to_vec(&view).expect("a view is plain data");
        let (head, tail) = split_at_clock(&json).expect("a view says its server time");
        Rendered {
            key,
            etag: Bytes::from(etag),
            head: Bytes::copy_from_slice(head),
            tail: Bytes::copy_from_slice(tail),
        }
    }

    /// Waits until the answer to a poll of checkout `id` has another ETag than `seen` (it
    /// changed, or the gateway's health did), or `limit` passes; returns the answer then.
    /// Woken by this checkout's changes only (and the gateway's health).
    pub async fn wait_for_change(
        &self,
        id: &str,
        seen: &[u8],
        limit: Duration,
    ) -> Option<Arc<Rendered>> {
        let deadline = tokio::time::Instant::now() + limit;
        // Subscribed to before the checkout is read: a change after that read wakes this.
        let (slot, mut woken) = self.checkouts.views().subscribe(id);
        let mut health = self.gateway.watch_health();
        loop {
            let current = self.rendered(&*self.checkouts.cached(id)?, &slot);
            if current.etag != seen {
                return Some(current);
            }
            // A pause ends by itself at its `until`, with no signal: wake then to say so.
            let wake = match current.key.gateway {
                GatewayHealth::RateLimited { until } | GatewayHealth::Blocked { until } => deadline
                    .min(
                        tokio::time::Instant::now()
                            + Duration::from_millis(until.saturating_sub(now_ms())),
                    ),
                _ => deadline,
            };
            tokio::select! {
                changed = woken.changed() => if changed.is_err() { return Some(current) },
                changed = health.changed() => if changed.is_err() { return Some(current) },
                _ = tokio::time::sleep_until(wake) => if wake == deadline { return Some(current) },
            }
        }
    }
}

/// The `serverTime` a view is serialised with, to be found in its JSON and replaced by each
/// answer's clock: no real clock reads it.
const CLOCK_MARK: u64 = u64::MAX;

/// A view's JSON before and after the value of its `serverTime`, [`CLOCK_MARK`].
fn split_at_clock(json: &[u8]) -> Option<(&[u8], &[u8])> {
    let field = format!("\"serverTime\":{CLOCK_MARK}");
    let at = json
        .windows(field.len())
        .position(|w| w == field.as_bytes())?;
    let value = at + field.len() - CLOCK_MARK.to_string().len();
    Some((&json[..value], &json[at + field.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_found_where_the_view_says_it() {
        let json = format!("{{\"a\":1,\"serverTime\":{CLOCK_MARK},\"version\":3}}");
        let (head, tail) = split_at_clock(json.as_bytes()).unwrap();
        assert_eq!(head, b"{\"a\":1,\"serverTime\":");
        assert_eq!(tail, b",\"version\":3}");
        assert!(split_at_clock(b"{\"serverTime\":12}").is_none());
    }
}
