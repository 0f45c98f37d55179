//! What the status polls of each checkout share: a wake-up of its own, so that a change wakes
//! only the polls waiting on the checkouts whose view it changed (one global signal woke all
//! ten thousand held polls to look again), and the checkout's view as last serialised, so that
//! the polls woken by one change serialise it once between them, not once each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use tokio::sync::watch;
use usdt_checkout_protocol::checkout::GatewayHealth;

/// What a checkout's view is made from, the server's clock apart (written into each answer):
/// the same key, the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewKey {
    /// The checkout's version.
    pub version: i64,
    /// The unmatched payments' generation (see [`Views::unmatched_generation`]): which of them
    /// a view shows may change with no version of its checkout changing.
    pub unmatched: u64,
    pub gateway: GatewayHealth,
}

/// A checkout's view, serialised once for every poll that answers with it.
#[derive(Debug)]
pub struct Rendered {
    pub key: ViewKey,
    /// The status poll's ETag, quotes included.
    pub etag: Bytes,
    /// The view's JSON up to the value of its `serverTime`, and after it: an answer writes the
    /// clock between them.
    pub head: Bytes,
    pub tail: Bytes,
}

impl Rendered {
    /// The answer's body at `server_time`.
    pub fn body(&self, server_time: u64) -> Bytes {
        let clock = server_time.to_string();
        let mut body = Vec::with_capacity(self.head.len() + clock.len() + self.tail.len());
        body.extend_from_slice(&self.head);
        body.extend_from_slice(clock.as_bytes());
        body.extend_from_slice(&self.tail);
        body.into()
    }
}

/// One checkout's wake-up and view.
#[derive(Default)]
pub struct Slot {
    wake: watch::Sender<()>,
    rendered: Mutex<Option<Arc<Rendered>>>,
}

impl Slot {
    /// The view last rendered, if it was rendered from `key`.
    pub fn rendered(&self, key: &ViewKey) -> Option<Arc<Rendered>> {
        self.rendered
            .lock()
            .expect("view lock")
            .as_ref()
            .filter(|r| r.key == *key)
            .cloned()
    }

    /// Keeps `rendered` for the polls after this one.
    pub fn keep(&self, rendered: Arc<Rendered>) {
        *self.rendered.lock().expect("view lock") = Some(rendered);
    }
}

/// Below this many slots none is forgotten: they cost a view's bytes each.
const KEPT_SLOTS: usize = 1_024;

#[derive(Default)]
pub struct Views {
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    /// When the slots are next looked over for the ones no poll waits on.
    prune_at: AtomicU64,
    /// Counts the changes of the unmatched payments.
    unmatched: AtomicU64,
}

impl Views {
    /// Checkout `id`'s slot, made if it has none.
    pub fn slot(&self, id: &str) -> Arc<Slot> {
        if let Some(slot) = self.slots.read().expect("slots lock").get(id) {
            return slot.clone();
        }
        let mut slots = self.slots.write().expect("slots lock");
        let limit = self.prune_at.load(Ordering::Relaxed).max(KEPT_SLOTS as u64);
        if slots.len() as u64 >= limit {
            // Only the slots someone waits on must stay (a waiter's slot replaced by a new one
            // would never be woken); the others' views are rendered again when next asked for.
            slots.retain(|_, slot| slot.wake.receiver_count() > 0);
            self.prune_at
                .store(2 * slots.len() as u64, Ordering::Relaxed);
        }
        slots.entry(id.to_owned()).or_default().clone()
    }

    /// Checkout `id`'s slot, and its wake-up, subscribed to before this returns: a wake after
    /// it is never missed. Under the slots' lock, so that no pruning can replace the slot
    /// between.
    pub fn subscribe(&self, id: &str) -> (Arc<Slot>, watch::Receiver<()>) {
        loop {
            let slot = self.slot(id);
            let slots = self.slots.read().expect("slots lock");
            if slots.get(id).is_some_and(|held| Arc::ptr_eq(held, &slot)) {
                let woken = slot.wake.subscribe();
                drop(slots);
                return (slot, woken);
            }
        }
    }

    /// Wakes the polls waiting on checkout `id`.
    pub fn wake(&self, id: &str) {
        if let Some(slot) = self.slots.read().expect("slots lock").get(id) {
            slot.wake.send_replace(());
        }
    }

    /// Wakes the polls waiting on the checkouts `which` names by their id.
    pub fn wake_where(&self, which: impl Fn(&str) -> bool) {
        for (id, slot) in self.slots.read().expect("slots lock").iter() {
            if slot.wake.receiver_count() > 0 && which(id) {
                slot.wake.send_replace(());
            }
        }
    }

    /// The unmatched payments changed: every view rendered before is to be rendered again (the
    /// polls to wake are the caller's to say).
    pub fn unmatched_changed(&self) {
        self.unmatched.fetch_add(1, Ordering::AcqRel);
    }

    pub fn unmatched_generation(&self) -> u64 {
        self.unmatched.load(Ordering::Acquire)
    }

    /// How many polls wait, on how many checkouts.
    pub fn waiting(&self) -> (usize, usize) {
        let slots = self.slots.read().expect("slots lock");
        let waiting = slots.values().map(|s| s.wake.receiver_count()).sum();
        let checkouts = slots.values().filter(|s| s.wake.receiver_count() > 0);
        (waiting, checkouts.count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_the_polls_of_that_checkout_only() {
        let views = Views::default();
        let (_, mut mine) = views.subscribe("co_a");
        let (_, other) = views.subscribe("co_b");
        views.wake("co_a");
        assert!(mine.has_changed().unwrap());
        assert!(!other.has_changed().unwrap());
        mine.mark_unchanged();
        views.wake_where(|id| id == "co_b");
        assert!(!mine.has_changed().unwrap());
        assert!(other.has_changed().unwrap());
    }

    #[tokio::test]
    async fn a_waited_on_slot_outlives_pruning() {
        let views = Views::default();
        let (_, waiting) = views.subscribe("co_waits");
        for n in 0..3 * KEPT_SLOTS {
            views.slot(&format!("co_{n}"));
        }
        assert!(views.slots.read().unwrap().len() < 3 * KEPT_SLOTS, "pruned");
        views.wake("co_waits");
        assert!(
            waiting.has_changed().unwrap(),
            "the wake reached the waiter"
        );
    }

    #[test]
    fn the_clock_is_written_between_the_two_halves() {
        let key = ViewKey {
            version: 1,
            unmatched: 0,
            gateway: GatewayHealth::Available,
        };
        let rendered = Rendered {
            key,
            etag: Bytes::from_static(b"\"1\""),
            head: Bytes::from_static(b"{\"serverTime\":"),
            tail: Bytes::from_static(b",\"version\":1}"),
        };
        assert_eq!(
            &rendered.body(1_700)[..],
            b"{\"serverTime\":1700,\"version\":1}"
        );
    }
}
