//! What a checkout is, and the pure rules that change it: what the facts (the gateway's documented
//! status and what the chain shows) make of it, and which prices can be charged. No I/O here; the
//! store keeps what these rules decide.

pub use usdt_checkout_chain::ChainPayment;
use usdt_checkout_chain::{assess_payments, confirmations};
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::pricing::PRICE_DECIMALS;
use usdt_checkout_protocol::{
    Address, ChainId, ChainRegistry, Decimal, OrderStatus, OrderTerms, TxHash,
};

use crate::clock::now_ms;
use crate::tolerance;

/// Who asked for a checkout: the widget (for a catalog item, priced by this server) or the
/// storefront's backend (with its own total, through the admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedBy {
    Widget,
    Storefront,
}

impl CreatedBy {
    /// The name in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Widget => "widget",
            Self::Storefront => "storefront",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Widget, Self::Storefront]
            .into_iter()
            .find(|c| c.as_str() == name)
    }
}

/// The payment half of a checkout, fixed when its gateway order is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTerms {
    pub chain_id: ChainId,
    pub symbol: String,
    pub token_contract: Address,
    pub decimals: u8,
    /// What the server priced it at.
    pub amount_atomic: u128,
    pub gateway_order_no: String,
    pub plat_order_no: String,
    /// What the gateway asks the shopper to send (possibly made unique).
    pub pay_amount_atomic: u128,
    pub to_address: Address,
    pub cashier_url: String,
    pub expires_at: u64,
    pub required_confirmations: u32,
}

/// What a checkout asked the gateway for, kept from before the call until its order is
/// attached: the gateway may have made the order even when its answer was lost, so every retry
/// asks for exactly this again, never re-priced at a rate that has moved since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub chain_id: ChainId,
    pub symbol: String,
    /// What the server priced it at.
    pub amount_atomic: u128,
    /// What the gateway is asked to ask of the shopper (made unique).
    pub pay_amount_atomic: u128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub id: String,
    pub created_by: CreatedBy,
    pub idempotency_key: Option<String>,
    pub item_id: Option<String>,
    pub description: String,
    pub price: Price,
    pub reference: Option<String>,
    /// Set while its gateway order is asked for, until `terms` are (see [`Asked`]).
    pub asked: Option<Asked>,
    pub terms: Option<PaymentTerms>,
    pub state: CheckoutState,
    pub paid_atomic: u128,
    pub remaining_atomic: Option<u128>,
    pub overpaid_atomic: u128,
    /// How far short of the amount asked a payment may fall and still count as paid, in atomic
    /// units: fixed with its terms (from the token's tolerance then), so a later change of the
    /// configuration leaves an order's fate as it was.
    pub tolerance_atomic: u128,
    /// How far short of the amount asked the payments accepted as paying it fell, within
    /// `tolerance_atomic`: 0 when paid in full, or not paid.
    pub shortfall_atomic: u128,
    pub confirmations: Option<u32>,
    /// Every transaction known to pay it, from the chain and from the gateway.
    pub tx_hashes: Vec<TxHash>,
    /// What the gateway has said of it.
    pub gateway: GatewayFacts,
    /// The payments the chain shows into it (empty when its chain is not watched).
    pub chain_payments: Vec<ChainPayment>,
    /// One of them was attached on the shopper's claim, checked on chain ("I already paid"):
    /// the gateway could not match it and will not report it, so the chain alone settles this
    /// checkout, paid included.
    pub claimed: bool,
    /// Where chain and gateway disagree, said so: the merchant sees it, nothing hides it.
    pub disagreement: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// Bumped on every change: the status view's ETag, and what keeps a cache from going back.
    pub version: i64,
}

impl Checkout {
    /// A priced checkout that waits for the shopper to choose a network and token.
    pub fn open(id: String, created_by: CreatedBy, description: String, price: Price) -> Self {
        let now = now_ms();
        Self {
            id,
            created_by,
            idempotency_key: None,
            item_id: None,
            description,
            price,
            reference: None,
            asked: None,
            terms: None,
            state: CheckoutState::OPEN,
            paid_atomic: 0,
            remaining_atomic: None,
            overpaid_atomic: 0,
            tolerance_atomic: 0,
            shortfall_atomic: 0,
            confirmations: None,
            tx_hashes: vec![],
            gateway: GatewayFacts::default(),
            chain_payments: vec![],
            claimed: false,
            disagreement: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The checkout as its facts make it at `now`, given how far its chain was read (`None` when
    /// the chain is not watched); `None` without a gateway order. The version is not bumped: see
    /// [`Checkout::next_version`].
    pub fn settled(&self, watched: Option<Watched>, now: u64) -> Option<Settled> {
        let terms = self.terms.as_ref()?;
        let CheckoutState::Order(current) = self.state else {
            return None;
        };
        let facts = Facts {
            terms,
            gateway: &self.gateway,
            chain: watched.map(|w| (w.head, self.chain_payments.as_slice())),
            read_at: watched.map_or(0, |w| w.read_at),
            claimed: self.claimed,
            tolerance: self.tolerance_atomic,
            now,
        };
        let derived = facts.derive(current);
        let state = if current == derived.state || current.can_become(derived.state) {
            derived.state
        } else {
            current
        };
        // Counted as paid, the shortfall forgiven is not still due: the shopper is done.
        let shortfall = facts.shortfall(state, derived.paid);
        let next = Self {
            state: CheckoutState::Order(state),
            paid_atomic: derived.paid,
            remaining_atomic: Some(match shortfall {
                Some(_) => 0,
                None => terms.pay_amount_atomic.saturating_sub(derived.paid),
            }),
            shortfall_atomic: shortfall.unwrap_or(0),
            overpaid_atomic: derived.paid.saturating_sub(terms.pay_amount_atomic),
            confirmations: if state.is_final() {
                None
            } else {
                derived.confirmations
            },
            tx_hashes: derived.tx_hashes,
            disagreement: facts.disagreement(),
            ..self.clone()
        };
        let changed = next.state != self.state
            || next.paid_atomic != self.paid_atomic
            || next.remaining_atomic != self.remaining_atomic
            || next.shortfall_atomic != self.shortfall_atomic
            || next.confirmations != self.confirmations
            || next.tx_hashes != self.tx_hashes
            || next.disagreement != self.disagreement;
        let was_paid = matches!(
            self.state,
            CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate)
        );
        Some(Settled {
            fulfil: matches!(state, OrderStatus::Paid | OrderStatus::PaidLate) && !was_paid,
            refused: (state != derived.state).then_some((current, derived.state)),
            changed,
            checkout: next,
        })
    }

    /// The next version of this checkout, changed at `now`.
    pub fn next_version(self, now: u64) -> Self {
        Self {
            updated_at: now,
            version: self.version + 1,
            ..self
        }
    }
}

/// How far a watched chain has been read: its head, and when the read that reached it began
/// (Unix ms). Every payment mined before that moment is in blocks up to that head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    pub head: u64,
    pub read_at: u64,
}

/// A checkout settled anew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub checkout: Checkout,
    /// Something a shopper or the merchant sees differs.
    pub changed: bool,
    /// It has just become paid (or paid late): queue the merchant's fulfillment event.
    pub fulfil: bool,
    /// The facts imply a state the status machine forbids from the stored one (above all, a
    /// final state is final): kept, and worth a log line.
    pub refused: Option<(OrderStatus, OrderStatus)>,
}

/// What the gateway has said of an order, merged over its reports: they come late, twice and
/// out of order, so success is final, the amount only grows, and transactions accumulate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayFacts {
    pub status: Option<GatewayStatus>,
    pub paid_atomic: u128,
    pub tx_hashes: Vec<TxHash>,
    /// When the gateway first reported the order expired (or failed): its clock, which may run
    /// ahead of the expiry it gave. A payment mined after it is late.
    pub expired_at: Option<u64>,
    /// When the gateway's amount last grew.
    pub paid_at: Option<u64>,
    /// When the gateway first reported it paid.
    pub success_at: Option<u64>,
}

impl GatewayFacts {
    /// Merges a report received at `now`.
    pub fn merged(
        &self,
        status: GatewayStatus,
        paid_atomic: Option<u128>,
        tx: Option<&TxHash>,
        now: u64,
    ) -> Self {
        let mut tx_hashes = self.tx_hashes.clone();
        if let Some(tx) = tx
            && !tx_hashes.contains(tx)
        {
            tx_hashes.push(tx.clone());
        }
        Self {
            status: match self.status {
                Some(GatewayStatus::Success) => Some(GatewayStatus::Success),
                _ => Some(status),
            },
            paid_atomic: self.paid_atomic.max(paid_atomic.unwrap_or(0)),
            paid_at: if paid_atomic.unwrap_or(0) > self.paid_atomic {
                Some(now)
            } else {
                self.paid_at
            },
            tx_hashes,
            expired_at: self.expired_at.or(matches!(
                status,
                GatewayStatus::Expired | GatewayStatus::Failed
            )
            // Block times are whole seconds: a payment in the same second is after it.
            .then_some(now / 1000 * 1000)),
            success_at: self
                .success_at
                .or((status == GatewayStatus::Success).then_some(now)),
        }
    }
}

/// Everything known of a checkout's payment at one moment.
struct Facts<'a> {
    terms: &'a PaymentTerms,
    gateway: &'a GatewayFacts,
    /// The chain's head and the payments seen, when the chain is watched.
    chain: Option<(u64, &'a [ChainPayment])>,
    /// When the read that reached that head began (see [`Watched`]).
    read_at: u64,
    /// A payment was attached on the shopper's claim: the chain's word settles it.
    claimed: bool,
    /// What the order's terms forgive of its amount (see the tolerance module).
    tolerance: u128,
    now: u64,
}

struct Derived {
    state: OrderStatus,
    paid: u128,
    confirmations: Option<u32>,
    tx_hashes: Vec<TxHash>,
}

impl Facts<'_> {
    fn due(&self) -> u128 {
        self.terms.pay_amount_atomic
    }

    /// The least that counts as paid: the amount due less the order's tolerance, when the
    /// chain is watched. Without it, the full amount: the gateway reports a short payment as
    /// partly paid, confirmed or not, and never as paid, so only the chain's confirmations can
    /// settle one.
    fn accepted(&self) -> u128 {
        match self.chain {
            Some(_) => tolerance::accepted(self.due(), self.tolerance),
            None => self.due(),
        }
    }

    /// What the payments fell short of the amount due, once `state` counts them as paying it
    /// (in full, or within the tolerance); `None` before that.
    fn shortfall(&self, state: OrderStatus, paid: u128) -> Option<u128> {
        use OrderStatus::*;
        if !matches!(state, Confirming | Paid | PaidLate) {
            return None;
        }
        let tolerance = if self.chain.is_some() {
            self.tolerance
        } else {
            0
        };
        tolerance::shortfall(self.due(), tolerance, paid)
    }

    /// The order's expiry: as given at creation, or earlier if the gateway said so sooner.
    fn expires_at(&self) -> u64 {
        self.gateway
            .expired_at
            .map_or(self.terms.expires_at, |at| at.min(self.terms.expires_at))
    }

    /// What the gateway says was paid, as far as it counts: with the chain watched, it stands
    /// in for a watcher behind, until the watcher has read the chain as it was when the gateway
    /// said so and had time to show it; after that the chain's amount is the one believed, the
    /// gateway's "paid" included (a reorg may have taken the payment back, the gateway's
    /// amounts only ever grow here, and a genuine report may be about another merchant's order
    /// with our order number). A watcher that is stuck, or behind, never lowers what the
    /// gateway reported: its silence is lag, not money.
    fn gateway_paid(&self) -> u128 {
        let said_at = self.gateway.paid_at.unwrap_or(0);
        let outlived = self.chain.is_some()
            && self.read_at >= said_at.saturating_add(PROVIDER_LAG_MS)
            && self.now >= said_at.saturating_add(DISAGREEMENT_MS);
        if outlived {
            0
        } else {
            self.gateway.paid_atomic
        }
    }

    /// The chain's view, by the protocol's status rules.
    fn chain(&self) -> Option<usdt_checkout_protocol::Assessment> {
        let (head, payments) = self.chain?;
        let terms = OrderTerms {
            // Received within the tolerance counts as received in full: confirming, then paid.
            amount_due: self.accepted(),
            expires_at_ms: self.expires_at(),
            required_confirmations: self.terms.required_confirmations,
        };
        Some(assess_payments(&terms, payments, head, self.now))
    }

    /// The state the facts imply, from `current`. Paid needs the gateway's word (fulfillment
    /// follows the gateway's documented status); everything before it the chain can tell, and
    /// tells first. Without a watched chain, the gateway's amount stands in for the chain's.
    fn derive(&self, current: OrderStatus) -> Derived {
        use OrderStatus::*;
        let chain = self.chain();
        let received = chain.map_or(0, |a| a.received);
        let gateway_paid = self.gateway_paid();
        let paid = received.max(gateway_paid);
        let expired = self.now >= self.expires_at();
        let by_amount = |amount: u128| {
            if amount >= self.accepted() {
                Confirming
            } else if expired {
                Expired
            } else if amount == 0 {
                Waiting
            } else {
                PartiallyPaid
            }
        };
        // Before the gateway's word: what the chain shows, short of paid.
        let before_gateway = match chain {
            Some(a) if a.received >= gateway_paid => match a.status {
                Paid | PaidLate => Confirming,
                other => other,
            },
            // No chain, or a watcher behind the gateway: the gateway's amount.
            _ => by_amount(paid),
        };
        let late = match chain {
            Some(a) if a.received >= self.accepted() => {
                a.status == PaidLate || {
                    let in_time: u128 = self
                        .chain
                        .map(|(_, payments)| {
                            payments
                                .iter()
                                .filter(|p| p.timestamp_ms < self.expires_at())
                                .map(|p| p.value)
                                .sum()
                        })
                        .unwrap_or(0);
                    in_time < self.accepted()
                }
            }
            // Without the chain's timestamps: paid after the gateway (or the clock) said expired.
            _ => current == Expired || self.gateway.expired_at.is_some(),
        };
        // With the chain watched, the gateway's "paid" makes an order paid for no more than the
        // chain shows paid into it: short of that, the chain's story stands (and the
        // disagreement is said).
        let short_on_chain = chain.is_some_and(|a| a.received < self.accepted());
        let state = match self.gateway.status {
            Some(GatewayStatus::Success) if short_on_chain => before_gateway,
            Some(GatewayStatus::Success) if late => PaidLate,
            Some(GatewayStatus::Success) => Paid,
            Some(GatewayStatus::Cancelled) => Failed,
            // V1's -1 is failure, cancellation and expiry alike (BlockATM's V2 migration guide
            // maps it to both EXPIRED and CANCELLED). Read as expired: the one that still lets a
            // late payment be credited, where a final "failed" would leave it to a person. With
            // the server's own widget no shopper cancels at the gateway, so expiry is what -1
            // means in practice. Expired at the gateway, but the full amount arrived since: a
            // late payment the gateway may yet accept.
            Some(GatewayStatus::Failed | GatewayStatus::Expired) => match by_amount(paid) {
                Confirming => Confirming,
                _ => Expired,
            },
            Some(GatewayStatus::Pending) | None => before_gateway,
        };
        // A payment the gateway could not match, attached on the shopper's claim, or one short
        // of the amount within the merchant's tolerance: the gateway will never report it paid
        // (BlockATM asks the full amount, and reports a short payment as partly paid until the
        // order expires), so the chain's confirmed word is the one that counts, before expiry
        // paid, after it paid late. The merchant chose to accept it; the gateway's word stays in
        // the order's history.
        let tolerated = chain.is_some_and(|a| a.received < self.due());
        let state = match chain {
            Some(a)
                if (self.claimed || tolerated)
                    && self.gateway.status != Some(GatewayStatus::Success)
                    && matches!(a.status, Paid | PaidLate) =>
            {
                a.status
            }
            _ => state,
        };
        let mut tx_hashes: Vec<TxHash> = self
            .chain
            .map(|(_, payments)| payments.iter().map(|p| p.tx_id.clone()).collect())
            .unwrap_or_default();
        for tx in &self.gateway.tx_hashes {
            if !tx_hashes.contains(tx) {
                tx_hashes.push(tx.clone());
            }
        }
        Derived {
            state,
            paid,
            // Every payment settled and the gateway's word still awaited: as many as required.
            confirmations: chain.and_then(|a| {
                a.lowest_pending_confirmations
                    .or((a.received > 0).then_some(self.terms.required_confirmations))
            }),
            tx_hashes,
        }
    }

    /// Where the chain and the gateway tell different stories, once each had time to catch up
    /// with the other: a watcher a block behind, or a webhook on its way, is not a disagreement.
    fn disagreement(&self) -> Option<String> {
        let (head, payments) = self.chain?;
        let chain = self.chain()?;
        let due = self.due();
        let deepest = payments
            .iter()
            .map(|p| confirmations(head, p.block_number))
            .min()
            .unwrap_or(0);
        let gateway_had_time = deepest >= self.terms.required_confirmations + DISAGREEMENT_BLOCKS;
        let chain_had_time = self
            .gateway
            .success_at
            .is_some_and(|at| self.now >= at + DISAGREEMENT_MS);
        match self.gateway.status {
            status if self.claimed && status != Some(GatewayStatus::Success) => Some(format!(
                "a payment was attached that the gateway did not match (a shopper's proven \
                     claim, or staff); settled by the chain ({} of {due} confirmed); the gateway reports {}",
                chain.confirmed,
                status.map_or("nothing yet", GatewayStatus::as_str)
            )),
            Some(GatewayStatus::Success) if chain.received < self.accepted() && chain_had_time => {
                Some(format!(
                    "the gateway reports it paid; the chain shows {} of {due} received",
                    chain.received
                ))
            }
            status
                if chain.confirmed >= due
                    && gateway_had_time
                    && status != Some(GatewayStatus::Success) =>
            {
                Some(format!(
                    "the chain shows the full amount confirmed; the gateway reports {}",
                    status.map_or("nothing yet", GatewayStatus::as_str)
                ))
            }
            // The gateway's amount stopped counting once the chain had time to show it: a
            // disagreement only if the chain shows less.
            Some(_)
                if self.gateway_paid() < self.gateway.paid_atomic
                    && chain.received < self.gateway.paid_atomic =>
            {
                Some(format!(
                    "the gateway reported {} paid; the chain shows {} received (a reorg may have \
                 taken a payment back)",
                    self.gateway.paid_atomic, chain.received
                ))
            }
            _ => None,
        }
    }
}

/// Whether a payment whose block has time `block_ms` came at or after `at` (both Unix ms): a
/// block's time is in whole seconds, so a block of the same second counts.
pub fn mined_since(block_ms: u64, at: u64) -> bool {
    block_ms >= at / 1000 * 1000
}

/// The longest an order may last (`order_lifetime_seconds`): a day is longer than any shopper
/// waits. Here, below the configuration, because the store bounds what it reads by it.
pub const MAX_ORDER_LIFETIME_SECONDS: u64 = 86_400;

/// Blocks past the required confirmations the gateway has to report a payment paid.
const DISAGREEMENT_BLOCKS: u32 = 3;
/// How long the chain's watcher has to show a payment the gateway reported paid.
pub const DISAGREEMENT_MS: u64 = 60_000;
/// How far behind the gateway's chain node an RPC provider's may be: a read begun this long
/// after the gateway's report covers the blocks the gateway had seen.
pub const PROVIDER_LAG_MS: u64 = 30_000;

/// What a checkout costs: a decimal in a fiat currency (converted at the gateway's rate) or in
/// a token (charged as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub amount: Decimal,
    /// A currency code such as USD, or a token symbol such as USDT.
    pub currency: String,
}

impl Price {
    /// `amount` in `currency`, if the server can charge it: a positive decimal in a fiat
    /// currency (read to [`PRICE_DECIMALS`]), or in a token, which must be able to carry it on
    /// every chain that has the token (a 7-decimal USDT price cannot be paid with 6-decimal
    /// USDT).
    pub fn parse(
        amount: &str,
        currency: &str,
        registry: &ChainRegistry,
    ) -> Result<Self, PriceError> {
        if currency.is_empty() || currency.len() > 10 || !currency.is_ascii() {
            return Err(PriceError::Currency(currency.to_owned()));
        }
        let token = registry
            .chains()
            .flat_map(|chain| chain.tokens.iter().map(move |t| (chain, t)))
            .filter(|(_, token)| token.symbol == currency)
            .min_by_key(|(_, token)| token.decimals);
        let decimals = token.map_or(PRICE_DECIMALS, |(_, token)| token.decimals);
        let amount = amount
            .parse::<Decimal>()
            .and_then(|amount| amount.to_positive_units(decimals).map(|_| amount))
            .map_err(|e| match token {
                None => PriceError::Amount(e.to_string()),
                Some((chain, token)) => PriceError::Token {
                    reason: e.to_string(),
                    symbol: token.symbol.clone(),
                    decimals: token.decimals,
                    chain: chain.name.clone(),
                },
            })?;
        Ok(Self {
            amount,
            currency: currency.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("currency {0:?} must be a currency code such as USD, or a token symbol such as USDT")]
    Currency(String),
    #[error("price: {0}")]
    Amount(String),
    #[error("price: {reason}; {symbol} has {decimals} decimals on {chain}")]
    Token {
        reason: String,
        symbol: String,
        decimals: u8,
        chain: String,
    },
}

#[cfg(test)]
mod tests;
