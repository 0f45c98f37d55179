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
        if let Err(e) = self.reload_all().await {
            tracing::warn!("reading what other servers changed: {e}");
        }
        loop {
            let reloaded = match feed.next().await {
                Change::Checkout(id) => self.reload(&id).await.map(drop),
                Change::Unmatched => self.reload_unmatched().await,
                Change::Missed => self.reload_all().await,
            };
            if let Err(e) = reloaded {
                tracing::warn!("reading what another server changed: {e}");
            }
        }
    }

    /// After a lost connection: what startup loads.
    async fn reload_all(&self) -> Result<(), StoreError> {
        for checkout in self.store.current(held_since()).await? {
            self.remember(checkout);
        }
        self.reload_unmatched().await
    }
}
