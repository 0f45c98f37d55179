//! The merchant's refund transfers, as the chain shows them: the watcher's transfers into the
//! destinations of approved refunds, and the hash a member of staff pastes, both judged by the
//! refund transfer's rule (that token, to that address, exactly that amount, mined since the
//! approval) and recorded by [`Checkouts::refund_sent`], with the `refund.sent` event queued.

use std::collections::BTreeMap;
use usdt_checkout_chain::{ChainClient, ChainPayment};

use usdt_checkout_protocol::{ChainId, TxHash};

use super::Checkouts;
use super::refunds::NotSent;
use crate::clock::now_ms;
use crate::config::WatchedChain;
use crate::refund_transfer::{Awaited, Refusal, assign, judge};
use crate::refunds::{Refund, RefundState};
use crate::store::{AuditEntry, StoreError};

/// Why a pasted hash did not mark a refund sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasteRefused {
    NoRefund,
    /// The refund is not approved (requested, refused, or sent already by another transfer).
    NotApproved(RefundState),
    /// What the chain shows is not the refund's transfer, and why.
    NotItsTransfer(Refusal),
    /// The transfer pays another refund already (its id, when known).
    PaysAnother(String),
    /// No watched chain could be asked (their nodes failed): nothing is judged.
    Unreachable(String),
}

impl std::fmt::Display for PasteRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoRefund => write!(f, "no such refund"),
            Self::NotApproved(state) => write!(f, "the refund is {}, not approved", state.as_str()),
            Self::NotItsTransfer(why) => write!(f, "{why}"),
            Self::PaysAnother(_) => write!(f, "this transfer pays another refund already"),
            Self::Unreachable(e) => write!(f, "the chain could not be read: {e}"),
        }
    }
}

impl From<NotSent> for PasteRefused {
    fn from(not: NotSent) -> Self {
        match not {
            NotSent::NoRefund => Self::NoRefund,
            NotSent::NotApproved(state) => Self::NotApproved(state),
            // The judge above said it is: only a change between the two reads gets here.
            NotSent::NotItsTransfer => Self::NotApproved(RefundState::Approved),
            NotSent::PaysAnother(id) => Self::PaysAnother(id),
        }
    }
}

impl Checkouts {
    /// The refunds approved on `chain`, waiting for their transfer: what its watcher follows.
    pub async fn refunds_awaited(&self, chain: ChainId) -> Result<Vec<Awaited>, StoreError> {
        Ok(self
            .store
            .approved_refunds(chain)
            .await?
            .iter()
            .filter_map(Refund::awaited)
            .collect())
    }

    /// The head block of `chain` as its watcher had read it, here or on another server of this
    /// database (the cursor it stored): every block up to it was mined before now, so an
    /// approval given now is paid by a transfer in a later one. None before any watcher read it.
    pub(super) async fn head_read(&self, chain: ChainId) -> Result<Option<u64>, StoreError> {
        let stored = self
            .store
            .cursor(chain)
            .await?
            .and_then(|cursor| cursor.next_block.checked_sub(1));
        let here = self
            .heads
            .read()
            .expect("heads lock")
            .get(&chain)
            .map(|watched| watched.head);
        Ok(stored.max(here))
    }

    /// The transfers a watcher read on `chain` into refunds' destinations: each that pays one of
    /// the `awaited` refunds marks it sent, audited as the watcher's, with its event queued.
    /// Sent refunds whose event a stopped server did not queue get it too.
    pub async fn take_refund_transfers(
        &self,
        chain: ChainId,
        awaited: &[Awaited],
        transfers: &[ChainPayment],
    ) -> Result<(), StoreError> {
        for (id, transfer) in assign(awaited, chain, transfers) {
            let entry = AuditEntry {
                at: now_ms(),
                actor: "chain watcher".into(),
                action: "refund.sent".into(),
                ..AuditEntry::default()
            };
            match self.refund_sent(&id, chain, &transfer, entry).await? {
                Ok(refund) => self.announce_refund(&refund).await?,
                Err(not) => tracing::warn!(
                    "chain {chain}: {} to {} not taken for refund {id}: {not:?}",
                    transfer.tx_id,
                    transfer.to
                ),
            }
        }
        for id in self.store.sent_refunds_unannounced().await? {
            if let Some(refund) = self.store.refund(&id).await? {
                self.announce_refund(&refund).await?;
            }
        }
        Ok(())
    }

    /// A member of staff (`actor`, from `client`) pasted `tx_hash` as the transfer that paid
    /// refund `refund_id`: the transaction is read on every watched chain (`chains`), judged by
    /// the refund transfer's rule (sent from one of the refund chain's `refund_wallets`, as
    /// `settings` name them, when any are), and the refund marked sent, or refused with why
    /// (nothing changes). The console calls it.
    pub async fn paste_refund_transfer(
        &self,
        refund_id: &str,
        tx_hash: &TxHash,
        (chains, settings): (&[(ChainId, ChainClient)], &BTreeMap<ChainId, WatchedChain>),
        actor: &str,
        client: Option<String>,
    ) -> Result<Result<Refund, PasteRefused>, StoreError> {
        let Some(refund) = self.store.refund(refund_id).await? else {
            return Ok(Err(PasteRefused::NoRefund));
        };
        // Pasted again, or after the watcher saw it: the refund as it is.
        if refund.sent.as_ref().is_some_and(|sent| sent.tx == *tx_hash) {
            return Ok(Ok(refund));
        }
        let wallets = settings
            .get(&refund.chain_id)
            .map_or(&[][..], |c| c.refund_wallets.as_slice());
        let Some(awaited) = refund.awaited().map(|a| a.sent_from(wallets)) else {
            return Ok(Err(PasteRefused::NotApproved(refund.state)));
        };
        let mut found = Vec::with_capacity(chains.len());
        let mut failed = None;
        for (chain, reader) in chains {
            match reader.lookup(tx_hash).await {
                Ok(lookup) => found.push((*chain, lookup)),
                Err(e) => failed = Some(e.to_string()),
            }
        }
        // Unknown everywhere asked, and a chain could not be asked: say that, not "not found".
        if let Some(e) = failed
            && !found.iter().any(|(chain, _)| *chain == refund.chain_id)
        {
            return Ok(Err(PasteRefused::Unreachable(e)));
        }
        let transfer = match judge(&awaited, &found) {
            Ok(transfer) => transfer,
            Err(why) => return Ok(Err(PasteRefused::NotItsTransfer(why))),
        };
        let entry = AuditEntry {
            at: now_ms(),
            actor: actor.to_owned(),
            client,
            action: "refund.sent".into(),
            note: Some(format!("hash pasted: {tx_hash}")),
            ..AuditEntry::default()
        };
        match self
            .refund_sent(refund_id, refund.chain_id, &transfer, entry)
            .await?
        {
            Ok(sent) => {
                self.announce_refund(&sent).await?;
                Ok(Ok(sent))
            }
            Err(not) => Ok(Err(not.into())),
        }
    }

    /// Queues the `refund.sent` event of a sent refund (once: a second is not written).
    async fn announce_refund(&self, refund: &Refund) -> Result<(), StoreError> {
        let checkout = match &refund.checkout_id {
            Some(id) => self.load(id).await?,
            None => None,
        };
        let reference = checkout.as_ref().and_then(|c| c.reference.as_deref());
        let Some((id, body)) = crate::fulfillment::refund_event(refund, reference) else {
            return Ok(());
        };
        let mut write = self.store.begin().await?;
        write
            .queue_refund_event(&id, &refund.id, &body, now_ms())
            .await?;
        write.commit().await?;
        self.fulfillment_due.notify_one();
        Ok(())
    }
}
