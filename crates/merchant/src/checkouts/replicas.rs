//! Following the other servers on the same database: their changes read into this server's copy
//! (see [`crate::store::replicas`]).

use super::Checkouts;
use super::cache::held_since;
use crate::store::StoreError;
use crate::store::replicas::{Change, ChangeFeed};

impl Checkouts {
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

    pub(super) async fn refresh(&self, id: &str) -> Result<(), StoreError> {
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

    /// After a lost connection: what startup loads.
    async fn refresh_all(&self) -> Result<(), StoreError> {
        for checkout in self.store.current(held_since()).await? {
            self.cached(checkout);
        }
        self.refresh_unmatched().await
    }
}
