//! The only way to change a checkout. Every change goes to the store first and then, as stored,
//! into the in-memory copy that status polls are answered from, with a signal to long polls; a
//! change that makes a checkout paid also wakes the fulfillment delivery. Callers cannot forget
//! one of these steps, because they cannot take any of them alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use tokio::sync::{Notify, watch};
use usdt_checkout_chain::Step;
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{Address, ChainId, parse_units};

use crate::clock::now_ms;
use crate::domain::{Asked, ChainPayment, Checkout, PaymentTerms, Watched, mined_since};
use crate::gateway::{Fit, GatewayReport, Provenance};
use crate::matching::{LATE_MATCH_MS, owner};
use crate::store::replicas::{Change, ChangeFeed};
use crate::store::{Claimed, Store, StoreError, Write};

/// What applying a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The checkout changed (its new form).
    Changed(Box<Checkout>),
    /// Nothing new (the same state and amounts, an older report, or one the status machine
    /// forbids).
    Unchanged,
    /// This webhook event was applied before.
    Duplicate,
    /// No checkout has this gateway order number.
    UnknownOrder,
    /// It names our order number but is about another order (another merchant's, say): kept
    /// for the merchant to see, and nothing changed. Why.
    Foreign(String),
    /// It may be about our order, but only the gateway can say (see
    /// [`crate::gateway::Fit::Unproven`]): nothing changed, and the order is asked about first.
    Unproven,
}

/// Where a report came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A verified webhook: recorded by its key, so a retry is applied once.
    Webhook,
    /// A query by the reconciler.
    Reconciler,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("malformed payment event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checkouts changed this recently are held in memory from startup, with every payment under
/// way: twice the late-payment window, so a late payment finds its order. Older history is read
/// when asked for: a server restarted over years of orders holds only the current ones.
const HELD_MS: u64 = 2 * LATE_MATCH_MS;

fn held_since() -> u64 {
    now_ms().saturating_sub(HELD_MS)
}

fn report_source(source: Source) -> &'static str {
    match source {
        Source::Webhook => "webhook",
        Source::Reconciler => "reconciled",
    }
}

pub struct Checkouts {
    store: Store,
    cache: RwLock<HashMap<String, Arc<Checkout>>>,
    changed: watch::Sender<u64>,
    fulfillment_due: Arc<Notify>,
    /// How far each watched chain was read, as its watcher last read it.
    heads: RwLock<BTreeMap<ChainId, Watched>>,
    /// Order creation takes turns per chain and token, on this server (here) and across the
    /// servers on one database (the store's turn).
    creating: std::sync::Mutex<HashMap<(ChainId, String), Turns>>,
    /// The most recent payments that match no checkout, newest last: what status polls tell
    /// the shoppers waiting at the same address (see [`Checkouts::unmatched_at`]).
    unmatched: RwLock<Vec<(ChainId, ChainPayment)>>,
    /// Creation of one checkout's order takes turns on this server (see
    /// [`Checkouts::checkout_turn`]).
    checkout_stripes: Vec<Turns>,
    /// The chains the configuration watches (with an RPC URL), whichever server reads them.
    watched_chains: std::collections::BTreeSet<ChainId>,
    /// How this server's chain watchers are doing (see [`crate::chain_health`]).
    pub chain_health: crate::chain_health::ChainHealth,
    /// Who can have signed a webhook that verifies, and the merchant account reports must name
    /// (see [`Checkouts::for_gateway`]).
    webhooks: (Provenance, Option<String>),
    /// Gateway order numbers to ask about before any other: the gateway's word is needed
    /// (a report that only the gateway can prove ours) or overdue (the chain shows the order's
    /// payment moved).
    urgent: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// How many unmatched payments status polls know of: the recent ones, which a waiting shopper
/// may have sent; the admin API lists them all.
const UNMATCHED_KEPT: u32 = 256;

/// Whether an unmatched payment may be one `checkout`'s shopper sent: to the same address, mined
/// since the checkout was made, in the checkout's token on its chain, or on another watched
/// chain (whose tokens are the only ones its watcher reads): the wrong network.
fn sent_for(checkout: &Checkout, chain: ChainId, payment: &ChainPayment) -> bool {
    checkout.terms.as_ref().is_some_and(|terms| {
        payment.to == terms.to_address
            && (chain != terms.chain_id || payment.token == terms.token_contract)
            && mined_since(payment.timestamp_ms, checkout.created_at)
    })
}

/// Whether the gateway's word on a checkout the chain just moved is worth asking before the
/// other open orders' (the reconciler asks these first): its payments came or went, or the
/// chain shows it paid in full and confirmed, so only the gateway's "paid" is awaited (with
/// its webhooks lost, it waited behind every other open order).
fn needs_the_gateway_soon(checkout: &Checkout, payments_moved: bool) -> bool {
    let Some(terms) = &checkout.terms else {
        return false;
    };
    !checkout.state.is_final()
        && (payments_moved
            || (checkout.remaining_atomic == Some(0)
                && checkout.confirmations >= Some(terms.required_confirmations)))
}

/// How long one request may ask the gateway for a checkout's order before another may: longer
/// than a request may last (30 s), with room for the servers' clocks to differ.
const ASKING_LEASE_MS: u64 = 60_000;

/// The turn to ask the gateway for one checkout's order (see [`Checkouts::checkout_turn`]).
pub struct AskingTurn {
    _here: tokio::sync::OwnedMutexGuard<()>,
    store: Store,
    id: String,
    /// The lease's end: what marks it as this turn's.
    until: u64,
}

impl Drop for AskingTurn {
    fn drop(&mut self) {
        let (store, id, until) = (self.store.clone(), std::mem::take(&mut self.id), self.until);
        // Given back at once; should this fail, the lease runs out by itself.
        tokio::spawn(async move {
            if let Err(e) = store.end_asking(&id, until).await {
                tracing::warn!("checkout {id}: giving back the turn to create its order: {e}");
            }
        });
    }
}

/// How many locks one checkout's creation takes turns on (see [`Checkouts::checkout_turn`]).
const CHECKOUT_STRIPES: u64 = 64;

/// Who creates next on one chain and token, on this server.
type Turns = Arc<tokio::sync::Mutex<()>>;

/// A turn to create orders (see [`Checkouts::creation_turn`]).
pub struct CreationTurn {
    _here: tokio::sync::OwnedMutexGuard<()>,
    _shared: crate::store::Turn,
}

impl Checkouts {
    /// The current checkouts (see [`Store::current`]), in memory. `fulfillment_due` is
    /// notified when one is paid.
    pub async fn load(store: Store, fulfillment_due: Arc<Notify>) -> Result<Self, StoreError> {
        let cache = store
            .current(held_since())
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        let mut unmatched = store.unmatched(UNMATCHED_KEPT).await?;
        unmatched.reverse();
        // Each watched chain's head as far as its watcher had read before this start: until
        // it reads again, a checkout on it is settled by what the chain showed then, never as
        // if the chain were not watched (a part payment's state went back to waiting).
        let heads = store
            .cursors()
            .await?
            .into_iter()
            .map(|(chain, cursor)| {
                let head = cursor.next_block.saturating_sub(1);
                // Read before this start, when is not known: as if long ago, so what the
                // gateway said since stands until the watcher reads again.
                (chain, Watched { head, read_at: 0 })
            })
            .collect();
        Ok(Self {
            store,
            cache: RwLock::new(cache),
            changed: watch::Sender::new(0),
            fulfillment_due,
            heads: RwLock::new(heads),
            creating: std::sync::Mutex::new(HashMap::new()),
            unmatched: RwLock::new(unmatched),
            checkout_stripes: (0..CHECKOUT_STRIPES).map(|_| Turns::default()).collect(),
            chain_health: Default::default(),
            watched_chains: Default::default(),
            // The strictest until told: any merchant could have forwarded a webhook.
            webhooks: (Provenance::GatewaySigned, None),
            urgent: std::sync::Mutex::new(Default::default()),
        })
    }

    /// Who can have signed the gateway's webhooks that verify, and the merchant account its
    /// reports must name, if any.
    pub fn for_gateway(mut self, webhooks: Provenance, account: Option<String>) -> Self {
        self.webhooks = (webhooks, account);
        self
    }

    /// The chains the configuration watches (see `watched_chains`).
    pub fn watching(mut self, chains: impl IntoIterator<Item = ChainId>) -> Self {
        self.watched_chains = chains.into_iter().collect();
        self
    }

    /// The orders to ask the gateway about first (see `urgent`), taken: each is asked once.
    pub fn take_urgent(&self) -> Vec<String> {
        std::mem::take(&mut *self.urgent.lock().expect("urgent lock"))
            .into_iter()
            .collect()
    }

    fn hurry(&self, order_no: &str) {
        self.urgent
            .lock()
            .expect("urgent lock")
            .insert(order_no.to_owned());
    }

    /// The checkout as last stored: from memory, never a database read.
    pub fn get(&self, id: &str) -> Option<Arc<Checkout>> {
        self.cache.read().expect("cache lock").get(id).cloned()
    }

    /// [`Checkouts::get`], or one not in memory: made a moment ago on another server sharing
    /// the database (the shopper's next poll may come here before the news does), or history
    /// not loaded at startup (a receipt asked for weeks later). Read once, then held. One held
    /// without an order is read again too: another server may have just made its order, and
    /// the shopper who asked it there polls here before the news arrives.
    pub async fn find(&self, id: &str) -> Result<Option<Arc<Checkout>>, StoreError> {
        if let Some(held) = self.get(id).filter(|c| c.terms.is_some()) {
            return Ok(Some(held));
        }
        self.refresh(id).await?;
        Ok(self.get(id))
    }

    /// How the store's writes went lately (see [`crate::store::WriteHealth`]).
    pub fn write_health(&self) -> &crate::store::WriteHealth {
        self.store.write_health()
    }

    /// Signals every change.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Stores a new checkout; with an idempotency key already used, returns the existing one.
    pub async fn open(&self, checkout: &Checkout) -> Result<Checkout, StoreError> {
        let stored = self.store.insert(checkout).await?;
        Ok(self.cached(stored))
    }

    /// The checkout as the store has it now.
    pub async fn fetch(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        Ok(self.store.get(id).await?.map(|c| self.cached(c)))
    }

    /// Records the gateway order made for a checkout, unless a concurrent request already did:
    /// either way, returns the checkout as stored.
    pub async fn attach_order(
        &self,
        id: &str,
        terms: &PaymentTerms,
    ) -> Result<Checkout, StoreError> {
        let stored = self.store.attach_order(id, terms).await?;
        Ok(self.cached(stored))
    }

    /// Applies what the gateway reports of an order: merged into what it said before, then
    /// settled with the chain's facts, in one transaction with a webhook's dedupe record and the
    /// fulfillment event it may queue.
    pub async fn apply_report(
        &self,
        report: &GatewayReport,
        source: Source,
    ) -> Result<Applied, EventError> {
        let Some(order_no) = &report.order_no else {
            tracing::warn!(
                "gateway report for {} names no order (a direct transfer); acknowledged",
                report
                    .plat_order_no
                    .as_deref()
                    .unwrap_or("an unnamed order")
            );
            return Ok(Applied::UnknownOrder);
        };
        let mut write = self.store.begin().await?;
        if source == Source::Webhook
            && !write
                .record_event(&report.key(), order_no, report.status.as_str())
                .await?
        {
            tracing::info!("webhook for {order_no} replayed; already applied");
            return Ok(Applied::Duplicate);
        }
        let Some(current) = write.checkout_by_order(order_no).await? else {
            write.commit().await?;
            tracing::warn!("gateway report for unknown order {order_no}; acknowledged");
            return Ok(Applied::UnknownOrder);
        };
        let Some(terms) = &current.terms else {
            write.commit().await?;
            return Ok(Applied::UnknownOrder);
        };
        let provenance = match source {
            Source::Webhook => self.webhooks.0,
            Source::Reconciler => Provenance::Query,
        };
        let bound = match report.fit(terms, provenance, self.webhooks.1.as_deref()) {
            Fit::Ours { bind } => bind,
            Fit::Unproven => {
                write.commit().await?;
                tracing::warn!(
                    "webhook for {order_no} names the gateway's order {}, which the gateway has \
                     not told us is ours yet; asking it first",
                    report.plat_order_no.as_deref().unwrap_or("(none)")
                );
                self.hurry(order_no);
                return Ok(Applied::Unproven);
            }
            Fit::Foreign(why) => {
                let refused = crate::store::RefusedReport {
                    received_at: now_ms(),
                    source: report_source(source).into(),
                    order_no: report.order_no.clone(),
                    plat_order_no: report.plat_order_no.clone(),
                    status: report.status.as_str().into(),
                    amount: report.amount.clone(),
                    tx_hash: report.tx_id.clone(),
                    reason: why.clone(),
                };
                write.record_refused_report(&report.key(), &refused).await?;
                write.commit().await?;
                tracing::warn!(
                    "gateway report for {order_no} is not about checkout {}'s order: {why}; \
                     recorded, nothing changed",
                    current.id
                );
                return Ok(Applied::Foreign(why));
            }
        };
        if let Some(plat) = &bound {
            write.bind_gateway_id(&current.id, plat).await?;
        }
        // The transaction the gateway names for this order, if the watcher read it first and
        // matched it to nothing (its candidates are not the gateway's): it is this order's.
        let mut adopted = false;
        if let Some(tx) = &report.tx_id {
            let place = (terms.to_address, terms.token_contract);
            if write
                .adopt_unmatched(terms.chain_id, tx, &current.id, place)
                .await?
                > 0
            {
                tracing::info!(
                    "chain payment {tx}: the gateway names checkout {}",
                    current.id
                );
                self.unmatched
                    .write()
                    .expect("unmatched lock")
                    .retain(|(_, p)| !p.tx_id.eq_ignore_ascii_case(tx));
                adopted = true;
            }
        }
        let current = match adopted || bound.is_some() {
            true => write
                .checkout(&current.id)
                .await?
                .ok_or(StoreError::Corrupt("checkout"))?,
            false => current,
        };
        let Some(terms) = &current.terms else {
            return Err(StoreError::Corrupt("checkout terms").into());
        };
        let paid = report
            .amount
            .as_deref()
            .map(|amount| parse_units(amount, terms.decimals))
            .transpose()
            .map_err(|e| EventError::Malformed(format!("amount: {e}")))?;
        let facts = current
            .gateway
            .merged(report.status, paid, report.tx_id.as_deref(), now_ms());
        let informed = Checkout {
            gateway: facts,
            ..current.clone()
        };
        let changed = self
            .settle(
                &mut write,
                &current,
                informed,
                report_source(source),
                adopted || bound.is_some(),
            )
            .await?;
        write.commit().await?;
        Ok(self.publish(changed))
    }

    /// [`Checkouts::apply_chain_read_at`] of a step that began now.
    pub async fn apply_chain(&self, chain: ChainId, step: &Step) -> Result<(), StoreError> {
        self.apply_chain_read_at(chain, step, now_ms()).await
    }

    /// Applies one step of a chain's watcher, which began reading at `read_at` (Unix ms):
    /// forgets what a reorg took back, attaches each new payment to the checkout it pays (or
    /// keeps it unmatched), keeps the cursor, and settles every checkout whose facts changed,
    /// all in one transaction.
    pub async fn apply_chain_read_at(
        &self,
        chain: ChainId,
        step: &Step,
        read_at: u64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut write = self.store.begin().await?;
        let mut touched: Vec<String> = vec![];
        let mut forgotten = vec![];
        if let Some(fork) = step.fork {
            tracing::warn!("chain {chain}: reorg from block {fork}; reading it again");
            forgotten = write.rewind_chain(chain, fork).await?;
            touched.extend(forgotten.iter().map(|f| f.checkout_id.clone()));
        }
        // Checkouts whose payments the chain took back or added: changed, even where nothing
        // else is (a payment the gateway reported first now has its amount and block).
        let mut moved: std::collections::HashSet<String> = touched.iter().cloned().collect();
        let mut credited: HashMap<String, Vec<ChainPayment>> = HashMap::new();
        let mut unmatched = vec![];
        for payment in &step.payments {
            // A payment the reorg took back, mined again: the same transfer, the same order's
            // (matched anew, an order it had paid in full would no longer take it, and it would
            // be free for anyone's claim).
            let owner = match forgotten.iter().find(|f| {
                f.log_index == payment.log_index && f.tx_hash.eq_ignore_ascii_case(&payment.tx_id)
            }) {
                Some(again) => Some(again.checkout_id.clone()),
                None => {
                    let cache = self.cache.read().expect("cache lock");
                    let held = cache.values().map(|c| c.as_ref());
                    owner(held, chain, payment, &credited, step.fork, now)
                }
            };
            if write
                .record_chain_payment(chain, payment, owner.as_deref())
                .await?
            {
                match &owner {
                    Some(id) => {
                        tracing::info!(
                            "chain {chain}: {} pays {} to checkout {id}",
                            payment.tx_id,
                            payment.value
                        );
                        credited
                            .entry(id.clone())
                            .or_default()
                            .push(payment.clone());
                        touched.push(id.clone());
                        moved.insert(id.clone());
                    }
                    None => {
                        tracing::warn!(
                            "chain {chain}: {} pays {} to {} and matches no checkout; kept as unmatched",
                            payment.tx_id,
                            payment.value,
                            payment.to
                        );
                        unmatched.push(payment.clone());
                    }
                }
            }
        }
        write.save_cursor(chain, &step.next).await?;
        {
            let mut heads = self.heads.write().expect("heads lock");
            let read_to = step.next.next_block.saturating_sub(1);
            // A step that stopped short of the head (catching up, chunk by chunk) has not read
            // what was mined when it began: the last read that had still stands.
            let read_at = match heads.get(&chain) {
                Some(before) if read_to < step.head => before.read_at,
                None if read_to < step.head => 0,
                _ => read_at,
            };
            heads.insert(
                chain,
                Watched {
                    head: read_to.min(step.head),
                    read_at,
                },
            );
        }
        // The head moved: every checkout on this chain still counting confirmations, or whose
        // time may have run out, is settled again too, when that changes anything.
        touched.extend(self.settling_on(chain));
        touched.sort();
        touched.dedup();
        let mut changed = vec![];
        for id in touched {
            let Some(current) = write.checkout(&id).await? else {
                continue;
            };
            let informed = current.clone();
            let moved = moved.contains(&id);
            let settled = self
                .settle(&mut write, &current, informed, "chain", moved)
                .await?;
            if let Some((checkout, _)) = &settled
                && needs_the_gateway_soon(checkout, moved)
                && let Some(terms) = &checkout.terms
            {
                self.hurry(&terms.gateway_order_no);
            }
            changed.push(settled);
        }
        write.commit().await?;
        if step.fork.is_some() || !unmatched.is_empty() {
            let mut kept = self.unmatched.write().expect("unmatched lock");
            if let Some(fork) = step.fork {
                kept.retain(|(c, p)| *c != chain || p.block_number < fork);
            }
            // Once each: on Postgres, this server's own change feed may have read them from the
            // database already (shown twice, a shopper's one payment looked like two).
            for payment in unmatched {
                if !kept
                    .iter()
                    .any(|(c, k)| *c == chain && k.same_log(&payment))
                {
                    kept.push((chain, payment));
                }
            }
            let excess = kept.len().saturating_sub(UNMATCHED_KEPT as usize);
            kept.drain(..excess);
            drop(kept);
            // No checkout's version changed, but what some of their views show did.
            self.changed.send_modify(|n| *n += 1);
        }
        for one in changed {
            self.publish(one);
        }
        Ok(())
    }

    /// Takes a payment the shopper claimed ("I already paid", checked on chain by
    /// [`crate::claim::judge`]) for checkout `id`: attached, and the checkout settled by it, when
    /// `proven` sent by the claimant; otherwise kept unmatched and marked for the merchant to
    /// review. All in one transaction, which decides under the same locks as the watcher's
    /// matching: a payment that counts for a checkout already is left where it is, and one
    /// whose amount another open order asks exactly is that order's, never a claim's.
    pub async fn attach_claimed(
        &self,
        id: &str,
        chain: ChainId,
        payment: &ChainPayment,
        proven: bool,
    ) -> Result<Claimed, StoreError> {
        let mut write = self.store.begin().await?;
        if let Some(owner) = write
            .order_asking(chain, payment, id, LATE_MATCH_MS)
            .await?
        {
            return Ok(Claimed::AnotherOrdersAsk(owner));
        }
        if !proven {
            let claimed = write.request_claim(chain, payment, id, now_ms()).await?;
            write.commit().await?;
            if claimed == Claimed::UnderReview {
                tracing::warn!(
                    "chain {chain}: {} claimed for checkout {id} without the sender's proof; \
                     kept unmatched for the merchant to review",
                    payment.tx_id
                );
            }
            return Ok(claimed);
        }
        let claimed = write
            .claim_chain_payment(chain, payment, id, now_ms())
            .await?;
        if claimed != Claimed::Attached {
            return Ok(claimed);
        }
        let Some(current) = write.checkout(id).await? else {
            return Err(StoreError::Corrupt("checkout"));
        };
        let changed = self
            .settle(
                &mut write,
                &current,
                current.clone(),
                "claimed by the shopper",
                true,
            )
            .await?;
        write.commit().await?;
        tracing::info!(
            "chain {chain}: {} pays {} to checkout {id}, on the shopper's claim",
            payment.tx_id,
            payment.value
        );
        self.unmatched
            .write()
            .expect("unmatched lock")
            .retain(|(c, p)| *c != chain || !p.same_log(payment));
        self.changed.send_modify(|n| *n += 1);
        self.publish(changed);
        Ok(Claimed::Attached)
    }

    /// Keeps this server's copy current with what the other servers on the same database change
    /// (see [`crate::store::replicas`]), waking long polls as its own changes do. Runs for as
    /// long as the server does.
    pub async fn follow(&self, mut feed: ChangeFeed) {
        // What changed before the feed listened (at startup, or while a failed feed was
        // restarted) is read once.
        if let Err(e) = self.refresh_all().await {
            tracing::warn!("reading what other servers changed: {e}");
        }
        loop {
            let refreshed = match feed.next().await {
                Change::Checkout(id) => self.refresh(&id).await,
                Change::Unmatched => self.refresh_unmatched().await,
                Change::Missed => self.refresh_all().await,
            };
            if let Err(e) = refreshed {
                tracing::warn!("reading what another server changed: {e}");
            }
        }
    }

    async fn refresh(&self, id: &str) -> Result<(), StoreError> {
        if let Some(checkout) = self.store.get(id).await? {
            let over = checkout.state.is_final();
            self.cached(checkout);
            // Paid here may mean a fulfillment event to send: any server may send it.
            if over {
                self.fulfillment_due.notify_one();
            }
        }
        Ok(())
    }

    async fn refresh_unmatched(&self) -> Result<(), StoreError> {
        let mut recent = self.store.unmatched(UNMATCHED_KEPT).await?;
        recent.reverse();
        *self.unmatched.write().expect("unmatched lock") = recent;
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// After a lost connection: what startup loads.
    async fn refresh_all(&self) -> Result<(), StoreError> {
        for checkout in self.store.current(held_since()).await? {
            self.cached(checkout);
        }
        self.refresh_unmatched().await
    }

    /// The unmatched payments a checkout's shopper may have sent, with the chain each came on
    /// (see [`sent_for`]).
    pub fn unmatched_at(&self, checkout: &Checkout) -> Vec<(ChainId, ChainPayment)> {
        let kept = self.unmatched.read().expect("unmatched lock");
        kept.iter()
            .filter(|seen| sent_for(checkout, seen.0, &seen.1))
            .cloned()
            .collect()
    }

    /// The checkouts on other chains than `chain` that wait at the address `payment` went to,
    /// made before it was mined: whose shopper may have sent it on the wrong network.
    pub fn wrong_network_for(&self, chain: ChainId, payment: &ChainPayment) -> Vec<String> {
        let cache = self.cache.read().expect("cache lock");
        let mut ids: Vec<String> = cache
            .values()
            .filter(|c| {
                c.terms.as_ref().is_some_and(|t| t.chain_id != chain) && sent_for(c, chain, payment)
            })
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// How many [`Checkouts::unmatched_at`] are: for every status poll's ETag, with no copy.
    pub fn unmatched_count(&self, checkout: &Checkout) -> usize {
        let kept = self.unmatched.read().expect("unmatched lock");
        kept.iter()
            .filter(|seen| sent_for(checkout, seen.0, &seen.1))
            .count()
    }

    /// Settles every unfinished checkout by the clock (an order's time running out), with no
    /// new fact.
    pub async fn settle_due(&self) -> Result<(), StoreError> {
        let due: Vec<String> = self
            .cache
            .read()
            .expect("cache lock")
            .values()
            .filter(|c| !c.state.is_final() && self.would_change(c))
            .map(|c| c.id.clone())
            .collect();
        for id in due {
            let mut write = self.store.begin().await?;
            let Some(current) = write.checkout(&id).await? else {
                continue;
            };
            let changed = self
                .settle(&mut write, &current, current.clone(), "clock", false)
                .await?;
            write.commit().await?;
            self.publish(changed);
        }
        Ok(())
    }

    /// The tokens of the checkouts on `chain`, and the receiving addresses of the checkouts on
    /// every chain: what its watcher reads (a transfer to one on the wrong chain is told).
    pub fn watched_on(&self, chain: ChainId) -> (Vec<Address>, Vec<Address>) {
        let cache = self.cache.read().expect("cache lock");
        let terms = || cache.values().filter_map(|c| c.terms.as_ref());
        let distinct = |mut addresses: Vec<Address>| {
            addresses.sort_by_key(|a| *a.as_bytes());
            addresses.dedup();
            addresses
        };
        (
            distinct(
                terms()
                    .filter(|t| t.chain_id == chain)
                    .map(|t| t.token_contract)
                    .collect(),
            ),
            distinct(terms().map(|t| t.to_address).collect()),
        )
    }

    /// Keeps what is about to be asked of the gateway for checkout `id` (see
    /// [`crate::domain::Asked`]): from then on its amount is taken, as an open order's is.
    /// `None` forgets it. Returns the checkout as stored.
    pub async fn ask(&self, id: &str, asked: Option<&Asked>) -> Result<Checkout, StoreError> {
        let stored = self.store.ask(id, asked).await?;
        Ok(self.cached(stored))
    }

    /// Waits for this server's turn to choose an order's amount on `chain` and `symbol`, among
    /// its own requests and the other servers on the same database; the turn ends when the
    /// returned value is dropped. Once it is this server's turn, what the others asked for
    /// meanwhile is in its copy, so the amounts awaited (see [`Checkouts::amounts_awaited`])
    /// are all there.
    pub async fn creation_turn(
        &self,
        chain: ChainId,
        symbol: &str,
    ) -> Result<CreationTurn, StoreError> {
        let here = self
            .creating
            .lock()
            .expect("creation lock")
            .entry((chain, symbol.to_owned()))
            .or_default()
            .clone();
        let here = here.lock_owned().await;
        let shared = self.store.creation_turn(chain, symbol).await?;
        for (id, version) in self.store.versions_on(chain, symbol).await? {
            if self.get(&id).is_none_or(|held| held.version < version) {
                self.refresh(&id).await?;
            }
        }
        Ok(CreationTurn {
            _here: here,
            _shared: shared,
        })
    }

    /// Waits for the turn to create checkout `id`'s order, among this server's requests and the
    /// other servers on the same database; the turn ends when the returned value is dropped
    /// (or, should this server die holding it, once [`ASKING_LEASE_MS`] have passed).
    pub async fn checkout_turn(&self, id: &str) -> Result<AskingTurn, StoreError> {
        // Striped by the id: a fixed set of locks, however many checkouts there are; two
        // checkouts sharing a stripe only take turns.
        let stripe = (crate::store::replicas::checkout_key(id) as u64 % CHECKOUT_STRIPES) as usize;
        let here = self.checkout_stripes[stripe].clone().lock_owned().await;
        loop {
            let now = now_ms();
            let until = now + ASKING_LEASE_MS;
            if self.store.lease_asking(id, now, until).await? {
                return Ok(AskingTurn {
                    _here: here,
                    store: self.store.clone(),
                    id: id.to_owned(),
                    until,
                });
            }
            // Another server is asking the gateway for it: its answer is awaited.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Amounts open checkouts on this chain and token are waiting for, or asking the gateway
    /// for: a new order's amount must differ, so a plain transfer can be matched by its amount
    /// alone.
    pub fn amounts_awaited(&self, chain: ChainId, symbol: &str) -> Vec<u128> {
        let cache = self.cache.read().expect("cache lock");
        crate::matching::amounts_awaited(
            cache.values().map(|c| c.as_ref()),
            chain,
            symbol,
            now_ms(),
        )
    }

    /// Checkouts on `chain` whose state can still change with the head or the clock.
    fn settling_on(&self, chain: ChainId) -> Vec<String> {
        self.cache
            .read()
            .expect("cache lock")
            .values()
            .filter(|c| {
                let Some(terms) = c.terms.as_ref().filter(|t| t.chain_id == chain) else {
                    return false;
                };
                let now = now_ms();
                let open = !c.state.is_final()
                    && (!c.chain_payments.is_empty() || now >= terms.expires_at);
                // Paid on the gateway's word, and not (yet) seen on chain: watched for a while,
                // so a disagreement that lasts is said.
                let unseen = c
                    .gateway
                    .success_at
                    .is_some_and(|at| now < at + 2 * crate::domain::DISAGREEMENT_MS)
                    && c.chain_payments.iter().map(|p| p.value).sum::<u128>()
                        < terms.pay_amount_atomic;
                (open || unseen) && self.would_change(c)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// How far `chain` was read, if it is watched. A chain watched by the servers sharing this
    /// database but not yet read here (another server runs its watcher, or this one has not
    /// started it) is watched all the same, read to nothing: the gateway's "paid" still needs
    /// what the chain showed, which the store's payments say.
    fn watched(&self, chain: ChainId) -> Option<Watched> {
        let known = self.heads.read().expect("heads lock").get(&chain).copied();
        known.or_else(|| {
            self.watched_chains.contains(&chain).then_some(Watched {
                head: 0,
                read_at: 0,
            })
        })
    }

    /// Whether settling the cached checkout now would change what anyone sees: the reads and
    /// the write transaction are spent only then (every block, and every reconciliation round,
    /// would otherwise cost one per open checkout).
    fn would_change(&self, checkout: &Checkout) -> bool {
        let head = checkout
            .terms
            .as_ref()
            .and_then(|t| self.watched(t.chain_id));
        checkout
            .settled(head, now_ms())
            .is_some_and(|settled| settled.changed)
    }

    /// Settles `informed` (the stored checkout with its new facts) and stores it when anything
    /// changed, queuing the fulfillment event when it became paid. `moved`: chain payments were
    /// attached to it or taken back, or the gateway's id for its order was learnt: a change
    /// whatever else is.
    async fn settle(
        &self,
        write: &mut Write,
        stored: &Checkout,
        informed: Checkout,
        source: &str,
        moved: bool,
    ) -> Result<Option<(Checkout, bool)>, StoreError> {
        let head = informed
            .terms
            .as_ref()
            .and_then(|t| self.watched(t.chain_id));
        let now = now_ms();
        let Some(settled) = informed.settled(head, now) else {
            return Ok(None);
        };
        if let Some((from, to)) = settled.refused {
            tracing::warn!(
                "checkout {}: the facts say {to}; kept {from} (a final state is final)",
                stored.id
            );
        }
        if !settled.changed && !moved {
            // New facts that change nothing anyone sees (the gateway's first "pending"): kept,
            // without a new version, so no long poll wakes for them.
            if informed.gateway != stored.gateway {
                write.update_gateway_facts(&settled.checkout).await?;
                return Ok(Some((settled.checkout, false)));
            }
            return Ok(None);
        }
        let changed = settled.checkout.next_version(now);
        write.update_payment(&changed).await?;
        if settled.fulfil
            && let Some(event) = crate::fulfillment::event(&changed, now)
        {
            write.queue_event(&event).await?;
        }
        if changed.state != stored.state {
            tracing::info!(
                "checkout {}: {} -> {} ({source})",
                changed.id,
                stored.state.as_str(),
                changed.state.as_str()
            );
        }
        if changed.disagreement != stored.disagreement
            && let Some(note) = &changed.disagreement
        {
            tracing::warn!("checkout {}: {note}", changed.id);
        }
        Ok(Some((changed, settled.fulfil)))
    }

    /// Puts a stored change into memory and wakes whoever waits for it.
    fn publish(&self, changed: Option<(Checkout, bool)>) -> Applied {
        match changed {
            None => Applied::Unchanged,
            Some((checkout, fulfil)) => {
                let quiet = self
                    .get(&checkout.id)
                    .is_some_and(|held| held.version == checkout.version);
                let checkout = self.cached(checkout);
                if quiet {
                    return Applied::Unchanged;
                }
                if fulfil {
                    self.fulfillment_due.notify_one();
                }
                Applied::Changed(Box::new(checkout))
            }
        }
    }

    /// Gateway order numbers the gateway may still change, each with whether it is still open,
    /// newest first.
    pub async fn unfinished_orders(&self, limit: u32) -> Result<Vec<(String, bool)>, StoreError> {
        self.store.unfinished_orders(limit).await
    }

    /// Payments the chain showed that match no checkout, newest first.
    pub async fn unmatched(&self, limit: u32) -> Result<Vec<(ChainId, ChainPayment)>, StoreError> {
        self.store.unmatched(limit).await
    }

    /// Claims made without proof (see [`Store::claims_under_review`]).
    pub async fn claims_under_review(
        &self,
    ) -> Result<HashMap<(u64, String, u64), Vec<(String, u64)>>, StoreError> {
        self.store.claims_under_review().await
    }

    /// Reports refused as about another order, newest first.
    pub async fn refused_reports(
        &self,
        limit: u32,
    ) -> Result<Vec<crate::store::RefusedReport>, StoreError> {
        self.store.refused_reports(limit).await
    }

    /// Checkouts, newest first, optionally in one state, created before `before` (Unix ms).
    pub async fn list(
        &self,
        state: Option<CheckoutState>,
        limit: u32,
        before: Option<(u64, Option<String>)>,
    ) -> Result<Vec<Checkout>, StoreError> {
        self.store.list(state, limit, before).await
    }

    /// Puts what the store holds into memory; an older version never replaces a newer one, and
    /// only a new version signals a change.
    fn cached(&self, checkout: Checkout) -> Checkout {
        let mut entries = self.cache.write().expect("cache lock");
        if let Some(held) = entries.get(&checkout.id)
            && held.version == checkout.version
        {
            entries.insert(checkout.id.clone(), Arc::new(checkout.clone()));
            return checkout;
        }
        let newer = entries
            .get(&checkout.id)
            .is_none_or(|held| held.version < checkout.version);
        if newer {
            entries.insert(checkout.id.clone(), Arc::new(checkout.clone()));
            drop(entries);
            self.changed.send_modify(|n| *n += 1);
        }
        checkout
    }
}
