//! What staff do to orders from the console's exception queue: resending a fulfillment
//! delivery now, and attaching a payment that matched no order to the order it belongs to: the shopper's claim's rule ([`crate::claim::judge`]) over the
//! payment as the watcher read it from the chain, the staff member's decision standing in for
//! the sending wallet's proof. Decided and written under the store's lock, audited in the same
//! transaction: of two members of staff attaching one payment to two orders at once, one
//! attaches it and the other is told whose it now is.

use usdt_checkout_chain::TxLookup;
use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::{ChainId, OrderStatus, TxHash};

use super::Checkouts;
use crate::claim;
use crate::clock::now_ms;
use crate::domain::{Checkout, PaymentTerms};
use crate::store::{AuditEntry, Claimed, StoreError};

/// Why staff could not attach a payment to an order: nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAttached {
    /// No order has this id.
    NoOrder,
    /// The watcher keeps no such payment (a reorg may have taken it back).
    NoPayment,
    /// The order has no network and token chosen yet: nothing can pay it.
    NoTerms,
    /// The order is paid or failed: nothing more is attached to it.
    Over(CheckoutState),
    /// The claim's rule refuses it, as it would a shopper's claim (with the order's terms, to
    /// say it in words).
    Judged(claim::Refusal, Box<PaymentTerms>),
    /// It counts for an order already ([`Claimed::Elsewhere`], [`Claimed::Already`]), or its
    /// amount is exactly what another open order asks ([`Claimed::AnotherOrdersAsk`]).
    Taken(Claimed),
}

/// What attaching did: the order's state before, and the order as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub before: CheckoutState,
    pub after: Box<Checkout>,
}

/// Whether `checkout` may take `payment` on `chain` by the shopper's claim's rule, the payment
/// being as the watcher read it from the chain: the payment that would count, or why not.
pub fn judge_for_staff(
    checkout: &Checkout,
    chain: ChainId,
    payment: &crate::domain::ChainPayment,
) -> Result<crate::domain::ChainPayment, NotAttached> {
    let Some(terms) = &checkout.terms else {
        return Err(NotAttached::NoTerms);
    };
    if matches!(
        checkout.state,
        CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate | OrderStatus::Failed)
    ) {
        return Err(NotAttached::Over(checkout.state));
    }
    let remaining = checkout.remaining_atomic.unwrap_or(terms.pay_amount_atomic);
    let found = [(chain, TxLookup::Mined(vec![payment.clone()]))];
    claim::judge(
        terms,
        checkout.created_at,
        remaining,
        &checkout.chain_payments,
        &found,
    )
    .map_err(|refusal| NotAttached::Judged(refusal, Box::new(terms.clone())))
}

impl Checkouts {
    /// Makes the fulfillment event `event_id`, not yet delivered, due now and wakes its
    /// delivery, `entry` audited in the same transaction; `false` (nothing changed) when it was
    /// delivered meanwhile.
    pub async fn resend_delivery(
        &self,
        event_id: &str,
        entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut write = self.store.begin().await?;
        if !write.resend_event(event_id, now_ms()).await? {
            return Ok(false);
        }
        write.audit(entry).await?;
        write.commit().await?;
        self.fulfillment_due.notify_one();
        Ok(true)
    }

    /// Attaches the payment `(chain, tx, log_index)` that the watcher kept to order `id`, on
    /// staff's word: checked by [`judge_for_staff`] against the order and the payment as they
    /// are under the store's lock, then attached and the order settled as a shopper's proven
    /// claim is (see [`Checkouts::attach_claimed`]), its shoppers' claims on it forgotten, and
    /// `entry` audited with the order's state before and after, all in one transaction.
    pub async fn attach_by_staff(
        &self,
        id: &str,
        (chain, tx, log_index): (ChainId, &TxHash, u64),
        mut entry: AuditEntry,
    ) -> Result<Result<Attached, NotAttached>, StoreError> {
        let mut write = self.store.begin().await?;
        // The payment's row first: two members of staff attaching it take turns there, before
        // either locks an order (the orders the matching rule reads next included), so they
        // never wait on each other's order.
        let Some((payment, owner)) = write.chain_payment(chain, tx, log_index).await? else {
            return Ok(Err(NotAttached::NoPayment));
        };
        let Some(order) = write.checkout(id).await? else {
            return Ok(Err(NotAttached::NoOrder));
        };
        if let Some(owner) = owner {
            return Ok(Err(NotAttached::Taken(if owner == order.id {
                Claimed::Already
            } else {
                Claimed::Elsewhere(owner)
            })));
        }
        let payment = match judge_for_staff(&order, chain, &payment) {
            Ok(payment) => payment,
            Err(refused) => return Ok(Err(refused)),
        };
        let (before, changed) = match self
            .take(&mut write, id, chain, &payment, "attached by staff")
            .await?
        {
            Ok(taken) => taken,
            Err(claimed) => return Ok(Err(NotAttached::Taken(claimed))),
        };
        write.forget_claims(chain, &payment).await?;
        let after = changed
            .as_ref()
            .map_or_else(|| before.clone(), |(c, _)| c.clone());
        let what = format!(
            "{} (log {}) on chain {chain}",
            payment.tx_id, payment.log_index
        );
        entry.subject = Some(order.id.clone());
        entry.before = Some(format!("{}; {what} unmatched", order.state.as_str()));
        entry.after = Some(format!("{}; {what} attached", after.state.as_str()));
        write.audit(&entry).await?;
        write.commit().await?;
        tracing::info!(
            "chain {chain}: {} pays {} to checkout {id}, attached by {}",
            payment.tx_id,
            payment.value,
            entry.actor
        );
        self.taken(chain, &payment, changed);
        Ok(Ok(Attached {
            before: order.state,
            after: Box::new(after),
        }))
    }
}

#[cfg(test)]
mod tests {
    use usdt_checkout_chain::PaymentKind;
    use usdt_checkout_protocol::Address;

    use super::*;
    use crate::domain::{ChainPayment, CreatedBy, Price};

    const CHAIN: ChainId = ChainId(31337);

    fn order(state: OrderStatus) -> Checkout {
        let mut checkout = Checkout::open(
            "co_1".into(),
            CreatedBy::Storefront,
            "Mug".into(),
            Price {
                amount: "25".parse().unwrap(),
                currency: "USDT".into(),
            },
        );
        checkout.state = CheckoutState::Order(state);
        checkout.terms = Some(PaymentTerms {
            chain_id: CHAIN,
            symbol: "USDT".into(),
            token_contract: Address::from_bytes([0xaa; 20]),
            decimals: 6,
            amount_atomic: 25_000_000,
            gateway_order_no: "co_1-a".into(),
            plat_order_no: "P1".into(),
            pay_amount_atomic: 25_000_000,
            to_address: Address::from_bytes([0x55; 20]),
            cashier_url: String::new(),
            expires_at: checkout.created_at + 900_000,
            required_confirmations: 2,
        });
        checkout
    }

    fn payment(value: u128, at: u64) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([0xab; 32]),
            log_index: 0,
            block_number: 7,
            block_hash: "0x07".into(),
            from: Address::from_bytes([0x11; 20]),
            to: Address::from_bytes([0x55; 20]),
            token: Address::from_bytes([0xaa; 20]),
            value,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: at,
        }
    }

    #[test]
    fn staff_attach_by_the_claims_rule_to_an_order_still_asking() {
        let waiting = order(OrderStatus::Waiting);
        let later = waiting.created_at + 5_000;
        let sent = payment(25_000_000, later);
        assert_eq!(judge_for_staff(&waiting, CHAIN, &sent), Ok(sent.clone()));
        // An order that expired short may still take what it asks.
        assert!(judge_for_staff(&order(OrderStatus::Expired), CHAIN, &sent).is_ok());
        let judged = |checkout: &Checkout, chain, p: &ChainPayment| match judge_for_staff(
            checkout, chain, p,
        ) {
            Err(NotAttached::Judged(refusal, _)) => Some(refusal),
            _ => None,
        };
        assert_eq!(
            judged(&waiting, CHAIN, &payment(30_000_000, later)),
            Some(claim::Refusal::AmountDiffers {
                sent: 30_000_000,
                asked: 25_000_000
            })
        );
        assert_eq!(
            judged(&waiting, CHAIN, &payment(1, waiting.created_at - 10_000)),
            Some(claim::Refusal::BeforeOrder)
        );
        assert_eq!(
            judged(&waiting, ChainId(56), &sent),
            Some(claim::Refusal::WrongChain(ChainId(56)))
        );
        let elsewhere = ChainPayment {
            to: Address::from_bytes([0x66; 20]),
            ..sent.clone()
        };
        assert_eq!(
            judged(&waiting, CHAIN, &elsewhere),
            Some(claim::Refusal::WrongRecipient(elsewhere.to))
        );
    }

    #[test]
    fn a_paid_or_failed_order_or_one_without_terms_takes_nothing() {
        let sent = payment(1, crate::clock::now_ms() + 5_000);
        for over in [
            OrderStatus::Paid,
            OrderStatus::PaidLate,
            OrderStatus::Failed,
        ] {
            assert_eq!(
                judge_for_staff(&order(over), CHAIN, &sent),
                Err(NotAttached::Over(CheckoutState::Order(over)))
            );
        }
        let mut open = order(OrderStatus::Waiting);
        open.terms = None;
        assert_eq!(
            judge_for_staff(&open, CHAIN, &sent),
            Err(NotAttached::NoTerms)
        );
    }
}
