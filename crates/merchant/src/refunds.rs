//! Refunds' rules, pure: what may be given back of a payment, what a shopper may ask, and how a
//! refund moves from state to state (which transfer pays it: the refund transfer's rule). No I/O, no clock:
//! the store keeps refunds and the checkouts' operations decide with these under its lock.
//!
//! A refund is against one chain payment, its source (attached to an order or kept unmatched),
//! and is paid on that payment's chain in that payment's token: money is never given back where
//! it did not arrive. Of a payment, at most its value is ever given back: approving re-checks
//! that, under the lock of the source payment's row, so two approvals at once cannot together
//! exceed it.

use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{Address, ChainId, OrderStatus, TxHash};

use crate::domain::{ChainPayment, Checkout};
use crate::refund_transfer::Awaited;

pub use usdt_checkout_protocol::refund::RefundState;

mod counted;
pub use counted::counted;

mod offered;
pub use offered::{offered, tied};

/// A refund, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// `rf_` and 24 hex digits.
    pub id: String,
    /// The checkout whose shopper asked, or whose page the merchant started it from; none for a
    /// refund of a payment that matched no order, started by the merchant.
    pub checkout_id: Option<String>,
    /// The source payment: its chain, transaction and log.
    pub chain_id: ChainId,
    pub source_tx: TxHash,
    pub source_log_index: u64,
    /// The token contract it is paid in: the source payment's.
    pub token: Address,
    pub amount_atomic: u128,
    pub destination: Address,
    /// The paying wallet's signature over the request's message, canonical (see
    /// [`usdt_checkout_protocol::refund::canonical_signature`]): a proven request. One signature
    /// is one request, however often it is sent.
    pub signature: Option<String>,
    /// Where an unproven request's shopper can be reached, if they said.
    pub email: Option<String>,
    pub state: RefundState,
    /// Why the merchant refused it, said to the shopper.
    pub reason: Option<String>,
    /// Unix ms.
    pub requested_at: u64,
    /// The member of staff who started it, when the merchant did (it is then approved from the
    /// first); none for a shopper's request.
    pub requested_by: Option<String>,
    /// Unix ms, and who approved or refused it.
    pub approved_at: Option<u64>,
    pub approved_by: Option<String>,
    /// The chain's head block as its watcher had read it at the approval: the refund's
    /// transfer is in a later one (see the refund transfer's rule). None when no watcher had
    /// read the chain then.
    pub approved_block: Option<u64>,
    /// The transfer that paid it, once seen on chain.
    pub sent: Option<SentTransfer>,
}

impl Refund {
    /// A new refund of `amount_atomic` of `source` on `chain` to `destination`: requested by a
    /// shopper, or approved at once when `by` the merchant (a member of staff's name).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        checkout_id: Option<String>,
        chain: ChainId,
        source: &ChainPayment,
        amount_atomic: u128,
        destination: Address,
        proof: Proof,
        by: Option<String>,
        now: u64,
    ) -> Self {
        let (signature, email) = match proof {
            Proof::Signed(signature) => (Some(signature), None),
            Proof::Unproven { email } => (None, email),
        };
        Self {
            id: new_id(),
            checkout_id,
            chain_id: chain,
            source_tx: source.tx_id.clone(),
            source_log_index: source.log_index,
            token: source.token,
            amount_atomic,
            destination,
            signature,
            email,
            state: match by {
                Some(_) => RefundState::Approved,
                None => RefundState::Requested,
            },
            reason: None,
            requested_at: now,
            approved_at: by.as_ref().map(|_| now),
            approved_by: by.clone(),
            requested_by: by,
            approved_block: None,
            sent: None,
        }
    }

    /// Asked with the paying wallet's signature.
    pub fn proven(&self) -> bool {
        self.signature.is_some()
    }

    /// What its transfer must be, while it is approved and waits for it (see the refund
    /// transfer's rule).
    pub fn awaited(&self) -> Option<Awaited> {
        let approved_at = self
            .approved_at
            .filter(|_| self.state == RefundState::Approved)?;
        Some(Awaited {
            id: self.id.clone(),
            chain_id: self.chain_id,
            token: self.token,
            destination: self.destination,
            amount_atomic: self.amount_atomic,
            approved_at,
            approved_block: self.approved_block,
            senders: vec![],
        })
    }

    /// Whether its source is `payment` on `chain`.
    pub fn is_of(&self, chain: ChainId, payment: &ChainPayment) -> bool {
        self.chain_id == chain
            && self.source_tx == payment.tx_id
            && self.source_log_index == payment.log_index
    }
}

/// How a request is proven: the paying wallet's canonical signature, or not at all (then an
/// email, maybe, for the merchant to reach the shopper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    Signed(String),
    Unproven { email: Option<String> },
}

/// The transfer on chain that paid a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTransfer {
    pub tx: TxHash,
    pub log_index: u64,
    pub block_number: u64,
    /// The block's time, Unix ms.
    pub mined_at: u64,
}

impl From<&ChainPayment> for SentTransfer {
    fn from(transfer: &ChainPayment) -> Self {
        Self {
            tx: transfer.tx_id.clone(),
            log_index: transfer.log_index,
            block_number: transfer.block_number,
            mined_at: transfer.timestamp_ms,
        }
    }
}

/// A new refund's id.
fn new_id() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 12];
    rand_core::OsRng.fill_bytes(&mut bytes);
    format!("rf_{}", usdt_checkout_protocol::hex::encode(&bytes))
}

/// What is done to a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Refuse,
    /// Its transfer was seen on chain.
    Send,
}

/// An action its state does not allow (approving a refused one, paying a request not approved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a refund {} cannot be {}", from.as_str(), match action {
    Action::Approve => "approved",
    Action::Refuse => "refused",
    Action::Send => "marked sent",
})]
pub struct Illegal {
    pub from: RefundState,
    pub action: Action,
}

/// The state `action` takes a refund in state `from` to.
pub fn transition(from: RefundState, action: Action) -> Result<RefundState, Illegal> {
    use RefundState as S;
    match (from, action) {
        (S::Requested, Action::Approve) => Ok(S::Approved),
        (S::Requested, Action::Refuse) => Ok(S::Refused),
        (S::Approved, Action::Send) => Ok(S::Sent),
        _ => Err(Illegal { from, action }),
    }
}

/// What of a payment is given back or promised: its refunds approved or sent, but `except` one
/// (the refund being decided).
pub fn committed<'a>(refunds: impl IntoIterator<Item = &'a Refund>, except: Option<&str>) -> u128 {
    refunds
        .into_iter()
        .filter(|r| r.state.commits_money() && Some(r.id.as_str()) != except)
        .map(|r| r.amount_atomic)
        .sum()
}

/// What may still be given back of a payment of `value`, with its refunds `refunds`: the most
/// the merchant may refund.
pub fn refundable<'a>(value: u128, refunds: impl IntoIterator<Item = &'a Refund>) -> u128 {
    value.saturating_sub(committed(refunds, None))
}

/// Whose a payment is, seen from a checkout whose shopper asks for a refund of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// It counts for this checkout.
    ThisCheckout,
    /// It matched no order, and this checkout's shopper may have sent it: to its address,
    /// mined since it was made, in its token or on another watched chain.
    SentFor,
    /// Another order's, or a stray payment nothing ties to this checkout.
    Other,
}

/// What of `payment` (on `chain`) the shopper of `checkout` may have back, before what was
/// refunded of it: the overpaid excess of a paid order (its newest payments' share of it); all
/// of a payment on another network than the order's, of a second payment once the order was
/// paid, and of what was paid into an order that expired or failed, or after; nothing of a plain
/// paid order's payment, nor while the order still waits to be paid.
pub fn entitlement(
    checkout: &Checkout,
    chain: ChainId,
    payment: &ChainPayment,
    whose: Whose,
) -> u128 {
    let Some(terms) = &checkout.terms else {
        return 0;
    };
    let CheckoutState::Order(state) = checkout.state else {
        return 0;
    };
    let over = matches!(state, OrderStatus::Expired | OrderStatus::Failed);
    let paid = matches!(state, OrderStatus::Paid | OrderStatus::PaidLate);
    match whose {
        Whose::Other => 0,
        // On the order's network while it waits, no more than it still asks: its shopper may
        // yet claim it for the order ("I already paid").
        Whose::SentFor
            if chain == terms.chain_id
                && !(paid || over)
                && payment.value
                    <= checkout.remaining_atomic.unwrap_or(terms.pay_amount_atomic) =>
        {
            0
        }
        // On another network (it can never pay this order), paid twice, after the order was
        // over, or more than it still asks (no claim takes that, and where many orders share
        // a receiving address no order matches it): it counts for no order, and all of it is
        // its sender's to have back.
        Whose::SentFor => payment.value,
        Whose::ThisCheckout if over => payment.value,
        Whose::ThisCheckout if paid => {
            // What arrived past the amount, refunded since or not (what the order counts as
            // overpaid is what is left of it once refunds are taken out: see [`counted`]).
            let arrived: u128 = checkout.chain_payments.iter().map(|p| p.value).sum();
            let excess = arrived.saturating_sub(terms.pay_amount_atomic);
            excess_share(checkout, payment, excess.max(checkout.overpaid_atomic))
        }
        Whose::ThisCheckout => 0,
    }
}

/// Whether an unmatched `payment` on `chain`, sent for `checkout` (to its address, in its
/// token, since it was made), may be this order's own payment that matched no order because it
/// was more than asked: on the order's chain, more than its amount, mined before it expired,
/// while nothing counts for it. Where many orders share a receiving address, it is as
/// plausibly another order's shopper's: it is offered to be asked back with the paying wallet's
/// signature only (a request without is not tied to this shopper, see `tied`).
pub fn overpaid_unmatched(checkout: &Checkout, chain: ChainId, payment: &ChainPayment) -> bool {
    checkout.chain_payments.is_empty()
        && checkout.terms.as_ref().is_some_and(|t| {
            t.chain_id == chain
                && payment.value > t.pay_amount_atomic
                && payment.timestamp_ms < t.expires_at
        })
}

/// `payment`'s share of `excess`, what `checkout` was overpaid: the excess is the newest
/// payments' (the ones that went past the amount), newest first, each at most its value.
fn excess_share(checkout: &Checkout, payment: &ChainPayment, mut excess: u128) -> u128 {
    let mut newest: Vec<&ChainPayment> = checkout.chain_payments.iter().collect();
    newest.sort_by_key(|p| std::cmp::Reverse((p.block_number, p.log_index)));
    for p in newest {
        let share = excess.min(p.value);
        if p.same_log(payment) {
            return share;
        }
        excess -= share;
    }
    0
}

/// The most the shopper of `checkout` may ask back of `payment` now: its [`entitlement`] less
/// what was refunded of it (by anyone), never more than is refundable; of a paid order, never
/// more than its share of what the order still counts as overpaid (refunds of its other
/// payments taken out: money given back of an earlier payment is no excess of a later one).
pub fn shopper_refundable(
    checkout: &Checkout,
    chain: ChainId,
    payment: &ChainPayment,
    whose: Whose,
    refunds: &[Refund],
) -> u128 {
    let of_it = || refunds.iter().filter(|r| r.is_of(chain, payment));
    let left = entitlement(checkout, chain, payment, whose)
        .saturating_sub(committed(of_it(), None))
        .min(refundable(payment.value, of_it()));
    let paid = matches!(
        checkout.state,
        CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate)
    );
    match whose {
        Whose::ThisCheckout if paid => {
            left.min(excess_share(checkout, payment, checkout.overpaid_atomic))
        }
        _ => left,
    }
}

/// Why a refund was not asked for, or not approved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("nothing of this payment may be given back")]
    NotRefundable,
    #[error("at most {max} (atomic units) of this payment may be given back")]
    TooMuch { max: u128 },
    #[error(transparent)]
    Illegal(#[from] Illegal),
}

/// Whether `amount` may be asked when at most `max` may.
pub fn check_amount(amount: u128, max: u128) -> Result<(), Refusal> {
    match max {
        0 => Err(Refusal::NotRefundable),
        max if amount > max => Err(Refusal::TooMuch { max }),
        _ => Ok(()),
    }
}

/// Whether `refund` may be approved, its source being of `value` with `refunds` (all of its
/// refunds, this one included or not): its state allows it, and with it the payment's refunds
/// approved or sent stay within its value.
pub fn check_approval(refund: &Refund, value: u128, refunds: &[Refund]) -> Result<(), Refusal> {
    transition(refund.state, Action::Approve)?;
    let left = value.saturating_sub(committed(refunds, Some(&refund.id)));
    check_amount(refund.amount_atomic, left)
}

/// An email as a shopper typed it, lightly checked: someone, an `@`, somewhere with a dot, no
/// spaces or angle brackets, 254 characters at most (what SMTP carries). It is only read by the
/// merchant, never sent to.
pub fn valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && text
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '<' | '>' | '"'))
}

#[cfg(test)]
mod tests;
