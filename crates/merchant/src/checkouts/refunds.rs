//! Refunds, asked and decided: a shopper's request, the merchant's own refund, approval,
//! refusal, and the transfer that paid it. Each is decided by the refunds' rules under the lock
//! of the source payment's row (taken first, as staff attaching a payment takes it), written with
//! its audit entry in one transaction, and then told to the status polls and the console.

use usdt_checkout_protocol::{Address, ChainId, TxHash};

use super::Checkouts;
use super::unmatched::sent_for;
use crate::clock::now_ms;
use crate::domain::{ChainPayment, Checkout};
use crate::refunds::{
    self, Action, Proof, Refund, RefundState, Refusal, SentTransfer, Whose, shopper_refundable,
    tied,
};
use crate::store::{AuditEntry, StoreError, Write};

/// A shopper's request for a refund of the payment `(chain, tx, log_index)`, parsed: the amount
/// in the payment's token, and how it is proven. `signer` is who signed the request's message,
/// when it is [`Proof::Signed`] (with the signature in its canonical form, by which a replay is
/// found): it must be the payment's sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub chain: ChainId,
    pub tx: TxHash,
    pub log_index: u64,
    pub amount_atomic: u128,
    pub destination: Address,
    pub proof: Proof,
    pub signer: Option<Address>,
}

/// What asking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// A new refund, as kept.
    New(Refund),
    /// Its signature asked before: the refund it asked for, as it is now.
    Replayed(Refund),
}

impl Asked {
    pub fn refund(&self) -> &Refund {
        match self {
            Self::New(refund) | Self::Replayed(refund) => refund,
        }
    }
}

/// Why a refund was not asked, started or decided: nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDone {
    /// No such checkout.
    NoCheckout,
    /// No such refund.
    NoRefund,
    /// The chain shows no such payment (or a reorg took it back): money never reached the
    /// merchant there.
    NoPayment,
    /// The signature is not by the payment's sender (`signer`, if any, signed instead).
    NotSender {
        sender: Address,
        signer: Option<Address>,
    },
    /// The destination is one of the merchant's own receiving addresses: a transfer there would
    /// read as a payment, never as the refund, and gives nothing back to anyone.
    OwnAddress,
    /// The refunds' rules refuse it: nothing or less may be given back, or its state forbids.
    Refused(Refusal),
}

/// Why a transfer was not attached to a refund as its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSent {
    NoRefund,
    /// The refund is not approved (requested, refused, or paid by another transfer).
    NotApproved(RefundState),
    /// It is not the refund's transfer (chain, token, address, amount, or mined before the
    /// approval).
    NotItsTransfer,
    /// The transfer pays another refund already (its id).
    PaysAnother(String),
}

impl Checkouts {
    /// The shopper of checkout `checkout_id` asks for a refund: kept as requested, for the
    /// merchant to decide, if the payment is one the chain showed, the signer (if signed) sent
    /// it, and the amount is at most what this shopper may ask back of it
    /// ([`refunds::shopper_refundable`]). A signature that asked before is that request again.
    pub async fn request_refund(
        &self,
        checkout_id: &str,
        request: RefundRequest,
    ) -> Result<Result<Asked, NotDone>, StoreError> {
        let Some(checkout) = self.load(checkout_id).await? else {
            return Ok(Err(NotDone::NoCheckout));
        };
        let mut write = self.store.begin().await?;
        let Some((payment, owner)) = write
            .chain_payment(request.chain, &request.tx, request.log_index)
            .await?
        else {
            return Ok(Err(NotDone::NoPayment));
        };
        if write.receives_at(&request.destination).await? {
            return Ok(Err(NotDone::OwnAddress));
        }
        if let Proof::Signed(signature) = &request.proof {
            if request.signer != Some(payment.from) {
                return Ok(Err(NotDone::NotSender {
                    sender: payment.from,
                    signer: request.signer,
                }));
            }
            if let Some(asked) = write.refund_signed(signature).await? {
                return Ok(Ok(Asked::Replayed(asked)));
            }
        }
        let proven = matches!(request.proof, Proof::Signed(_));
        let whose = whose(&checkout, request.chain, &payment, owner.as_deref(), proven);
        let of_it = write
            .refunds_of_payment(request.chain, &payment.tx_id, payment.log_index)
            .await?;
        let max = shopper_refundable(&checkout, request.chain, &payment, whose, &of_it);
        if let Err(refused) = refunds::check_amount(request.amount_atomic, max) {
            return Ok(Err(NotDone::Refused(refused)));
        }
        let refund = Refund::new(
            Some(checkout.id.clone()),
            request.chain,
            &payment,
            request.amount_atomic,
            request.destination,
            request.proof,
            None,
            now_ms(),
        );
        let entry = AuditEntry {
            at: refund.requested_at,
            actor: "shopper".into(),
            action: "refund.request".into(),
            subject: Some(refund.id.clone()),
            after: Some(describe(&refund)),
            ..AuditEntry::default()
        };
        self.insert(write, refund, entry, None).await
    }

    /// The merchant refunds `amount_atomic` of the payment `(chain, tx, log_index)` to
    /// `destination`, from the page of checkout `checkout_id` if any: approved at once, by
    /// `entry`'s actor, if it is at most what is refundable of the payment.
    pub async fn start_refund(
        &self,
        checkout_id: Option<&str>,
        (chain, tx, log_index): (ChainId, &TxHash, u64),
        amount_atomic: u128,
        destination: Address,
        mut entry: AuditEntry,
    ) -> Result<Result<Asked, NotDone>, StoreError> {
        // Read before the write begins: the head only grows, and one read earlier is still a
        // block mined before the approval.
        let head = self.head_read(chain).await?;
        let mut write = self.store.begin().await?;
        let Some((payment, owner)) = write.chain_payment(chain, tx, log_index).await? else {
            return Ok(Err(NotDone::NoPayment));
        };
        if write.receives_at(&destination).await? {
            return Ok(Err(NotDone::OwnAddress));
        }
        let of_it = write.refunds_of_payment(chain, tx, log_index).await?;
        let left = refunds::refundable(payment.value, &of_it);
        if let Err(refused) = refunds::check_amount(amount_atomic, left) {
            return Ok(Err(NotDone::Refused(refused)));
        }
        let refund = Refund {
            approved_block: head,
            ..Refund::new(
                checkout_id.map(str::to_owned),
                chain,
                &payment,
                amount_atomic,
                destination,
                Proof::Unproven { email: None },
                Some(entry.actor.clone()),
                now_ms(),
            )
        };
        entry.subject = Some(refund.id.clone());
        entry.after = Some(describe(&refund));
        self.insert(write, refund, entry, owner).await
    }

    /// Writes `refund` with `entry` and commits; a concurrent request with the same signature
    /// that came first is answered as the one replayed. Approved from the first, the order its
    /// source counts for (`owner`) is settled again with it.
    async fn insert(
        &self,
        mut write: Write,
        refund: Refund,
        entry: AuditEntry,
        owner: Option<String>,
    ) -> Result<Result<Asked, NotDone>, StoreError> {
        if !write.request_refund(&refund).await? {
            let signature = refund.signature.as_deref().unwrap_or_default();
            return Ok(write
                .refund_signed(signature)
                .await?
                .map(Asked::Replayed)
                .ok_or(NotDone::NoRefund));
        }
        write.audit(&entry).await?;
        let resettled = match owner.filter(|_| refund.state.commits_money()) {
            Some(owner) => self.resettle(&mut write, &owner).await?,
            None => None,
        };
        write.commit().await?;
        self.publish(resettled);
        tracing::info!(
            "refund {} of {} (log {}) on chain {}: {} {}",
            refund.id,
            refund.source_tx,
            refund.source_log_index,
            refund.chain_id,
            refund.amount_atomic,
            refund.state.as_str()
        );
        self.refunds_changed();
        Ok(Ok(Asked::New(refund)))
    }

    /// Approves the requested refund `id` by `entry`'s actor, if with it the payment's refunds
    /// approved or sent stay within its value: decided under the lock of the payment's row, so
    /// of two approvals at once that would together exceed it, one wins and the other is
    /// refused ([`Refusal::TooMuch`]).
    pub async fn approve_refund(
        &self,
        id: &str,
        entry: AuditEntry,
    ) -> Result<Result<Refund, NotDone>, StoreError> {
        self.decide(id, Action::Approve, None, entry).await
    }

    /// Refuses the requested refund `id` for `reason` (said to the shopper), by `entry`'s actor.
    pub async fn refuse_refund(
        &self,
        id: &str,
        reason: &str,
        entry: AuditEntry,
    ) -> Result<Result<Refund, NotDone>, StoreError> {
        self.decide(id, Action::Refuse, Some(reason), entry).await
    }

    async fn decide(
        &self,
        id: &str,
        action: Action,
        reason: Option<&str>,
        mut entry: AuditEntry,
    ) -> Result<Result<Refund, NotDone>, StoreError> {
        let Some(seen) = self.store.refund(id).await? else {
            return Ok(Err(NotDone::NoRefund));
        };
        let head = match action {
            Action::Approve => self.head_read(seen.chain_id).await?,
            _ => None,
        };
        let mut write = self.store.begin().await?;
        // The payment's row first, then the refund's: every decision on one payment's refunds
        // takes its turn there, and reads the others' as they committed.
        let payment = write
            .chain_payment(seen.chain_id, &seen.source_tx, seen.source_log_index)
            .await?;
        let Some(refund) = write.refund(id).await? else {
            return Ok(Err(NotDone::NoRefund));
        };
        let now = now_ms();
        // The order the source payment counts for, settled again once money of it is promised.
        let mut owner = None;
        let decided = match action {
            Action::Approve => {
                let Some((payment, payment_owner)) = payment else {
                    return Ok(Err(NotDone::NoPayment));
                };
                owner = payment_owner;
                let of_it = write
                    .refunds_of_payment(refund.chain_id, &refund.source_tx, refund.source_log_index)
                    .await?;
                if let Err(refused) = refunds::check_approval(&refund, payment.value, &of_it) {
                    return Ok(Err(NotDone::Refused(refused)));
                }
                write.approve_refund(id, &entry.actor, now, head).await?
            }
            _ => {
                if let Err(illegal) = refunds::transition(refund.state, action) {
                    return Ok(Err(NotDone::Refused(illegal.into())));
                }
                let reason = reason.unwrap_or_default();
                write.refuse_refund(id, &entry.actor, reason, now).await?
            }
        };
        if !decided {
            return Err(StoreError::Corrupt("refund state"));
        }
        let Some(after) = write.refund(id).await? else {
            return Err(StoreError::Corrupt("refund"));
        };
        entry.subject = Some(id.to_owned());
        entry.before = Some(describe(&refund));
        entry.after = Some(describe(&after));
        if let Some(reason) = reason {
            entry.note = Some(reason.to_owned());
        }
        write.audit(&entry).await?;
        let resettled = match owner {
            Some(owner) => self.resettle(&mut write, &owner).await?,
            None => None,
        };
        write.commit().await?;
        self.publish(resettled);
        tracing::info!("refund {id} {} by {}", after.state.as_str(), entry.actor);
        self.refunds_changed();
        Ok(Ok(after))
    }

    /// Records that `transfer`, read on `chain`, paid the approved refund `id` (by the refund
    /// transfer's rule: that token, to that address, that amount, mined since the approval),
    /// audited by `entry` (the watcher's, or the member of staff who pasted its hash). Already
    /// recorded, it is the refund as it is.
    pub async fn refund_sent(
        &self,
        id: &str,
        chain: ChainId,
        transfer: &ChainPayment,
        mut entry: AuditEntry,
    ) -> Result<Result<Refund, NotSent>, StoreError> {
        let mut write = self.store.begin().await?;
        let Some(refund) = write.refund(id).await? else {
            return Ok(Err(NotSent::NoRefund));
        };
        let sent = SentTransfer::from(transfer);
        if refund.state == RefundState::Sent && refund.sent.as_ref() == Some(&sent) {
            return Ok(Ok(refund));
        }
        let Some(awaited) = refund.awaited() else {
            return Ok(Err(NotSent::NotApproved(refund.state)));
        };
        if !awaited.paid_by(chain, transfer) {
            return Ok(Err(NotSent::NotItsTransfer));
        }
        if let Some(other) = write
            .refund_paid_by(chain, &transfer.tx_id, transfer.log_index)
            .await?
        {
            return Ok(Err(NotSent::PaysAnother(other.id)));
        }
        if !write.refund_sent(id, chain, &sent).await? {
            // Attached to another refund by a write that committed meanwhile.
            return Ok(Err(NotSent::PaysAnother(String::new())));
        }
        let after = Refund {
            state: RefundState::Sent,
            sent: Some(sent),
            ..refund.clone()
        };
        entry.subject = Some(id.to_owned());
        entry.before = Some(describe(&refund));
        entry.after = Some(describe(&after));
        write.audit(&entry).await?;
        write.commit().await?;
        tracing::info!(
            "refund {id} sent in {} (log {}) on chain {chain}",
            transfer.tx_id,
            transfer.log_index
        );
        self.refunds_changed();
        Ok(Ok(after))
    }

    /// The payments the shopper of `checkout` may ask a refund of now, each with its chain and
    /// the most they may ask ([`refunds::shopper_refundable`]): those that count for it, and
    /// the recent unmatched ones its shopper may have sent (see [`Checkouts::unmatched_at`]).
    pub async fn shopper_refundable(
        &self,
        checkout: &Checkout,
    ) -> Result<Vec<(ChainId, ChainPayment, u128)>, StoreError> {
        let Some(terms) = &checkout.terms else {
            return Ok(vec![]);
        };
        let attached = checkout
            .chain_payments
            .iter()
            .map(|p| (terms.chain_id, p.clone(), Whose::ThisCheckout));
        // Only those tied to this shopper are offered (see `tied`): another shopper's payment
        // to the same address is not this one's to see offered, nor to ask unproven. A payment
        // of more than the order asked, while nothing paid it, is offered too, to be asked
        // with the paying wallet's signature (see `overpaid_unmatched`).
        let unmatched = self
            .unmatched_at(checkout)
            .into_iter()
            .filter(|(chain, p)| {
                tied(checkout, *chain, p, false) || refunds::overpaid_unmatched(checkout, *chain, p)
            })
            .map(|(chain, p)| (chain, p, Whose::SentFor));
        let mut refundable = vec![];
        for (chain, payment, whose) in attached.chain(unmatched) {
            let of_it = self
                .store
                .refunds_of_payment(chain, &payment.tx_id, payment.log_index)
                .await?;
            let max = shopper_refundable(checkout, chain, &payment, whose, &of_it);
            if max > 0 {
                refundable.push((chain, payment, max));
            }
        }
        Ok(refundable)
    }

    /// The refunds of checkout `checkout_id`, oldest first.
    pub async fn refunds_of(&self, checkout_id: &str) -> Result<Vec<Refund>, StoreError> {
        self.store.refunds_of(checkout_id).await
    }

    /// How many confirmations a transfer mined in block `block` on `chain` has, as far as its
    /// watcher has read; `None` when the chain is not read here.
    pub fn confirmations(&self, chain: ChainId, block: u64) -> Option<u32> {
        let head = self.heads.read().expect("heads lock").get(&chain)?.head;
        Some(u32::try_from(head.saturating_add(1).saturating_sub(block)).unwrap_or(u32::MAX))
    }

    /// Settles again the order `owner`, a refund of one of its payments just approved: money
    /// given back counts no more toward what it was paid (see [`refunds::counted`]).
    async fn resettle(
        &self,
        write: &mut Write,
        owner: &str,
    ) -> Result<Option<(Checkout, bool)>, StoreError> {
        let Some(current) = write.checkout(owner).await? else {
            return Ok(None);
        };
        self.settle(write, &current, current.clone(), "refund", false)
            .await
    }

    /// Refunds changed: long polls and the console's live updates look again.
    fn refunds_changed(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// Whose `payment` on `chain` is, seen from `checkout`, the payment counting for `owner`.
fn whose(
    checkout: &Checkout,
    chain: ChainId,
    payment: &ChainPayment,
    owner: Option<&str>,
    proven: bool,
) -> Whose {
    match owner {
        Some(owner) if owner == checkout.id => Whose::ThisCheckout,
        None if sent_for(checkout, chain, payment) && tied(checkout, chain, payment, proven) => {
            Whose::SentFor
        }
        _ => Whose::Other,
    }
}

/// A refund in the audit log's words: its state, amount (atomic units), source and destination.
fn describe(refund: &Refund) -> String {
    format!(
        "{} {} of {} (log {}) on chain {} to {}{}",
        refund.state.as_str(),
        refund.amount_atomic,
        refund.source_tx,
        refund.source_log_index,
        refund.chain_id,
        refund.destination,
        if refund.proven() { ", proven" } else { "" }
    )
}
