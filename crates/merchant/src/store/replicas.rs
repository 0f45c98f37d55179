//! What several checkout servers sharing one PostgreSQL database need from it beyond storage:
//! - a feed of what the other servers changed (`LISTEN`), so every server's status cache stays
//!   current and its long polls wake, whichever server took the webhook;
//! - leases (session advisory locks), so one server at a time runs a worker that must run once
//!   (the reconciler, a chain's watcher). A lease ends with its connection: a server that dies,
//!   even by `kill -9`, hands it over as soon as Postgres sees the connection close.
//!
//! On SQLite there is one server: the feed says nothing, and every lease is held at once.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection, Row};

use super::{Store, StoreError};
use crate::shutdown::Stopping;

/// `NOTIFY` channels; a checkout's change carries its id.
pub const CHECKOUT_CHANGED: &str = "checkout_changed";
pub const UNMATCHED_SEEN: &str = "unmatched_seen";

/// How often a server waiting for a lease asks again, and a holder checks it still holds it.
const LEASE_CHECK: Duration = Duration::from_secs(1);

/// What another server changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// This checkout.
    Checkout(String),
    /// A payment that matches no checkout was recorded.
    Unmatched,
    /// The connection was lost and made again: changes in between may have been missed.
    Missed,
}

/// Changes made by the servers on the same database.
pub struct ChangeFeed(PgListener);

impl ChangeFeed {
    /// The next change. Never fails: a lost connection is made again (and said, as
    /// [`Change::Missed`]), however long that takes.
    pub async fn next(&mut self) -> Change {
        loop {
            match self.0.try_recv().await {
                Ok(Some(note)) => match note.channel() {
                    CHECKOUT_CHANGED => return Change::Checkout(note.payload().to_owned()),
                    UNMATCHED_SEEN => return Change::Unmatched,
                    _ => continue,
                },
                // The listener reconnects on the next call.
                Ok(None) => return Change::Missed,
                Err(e) => {
                    tracing::warn!("listening for other servers' changes: {e}");
                    tokio::time::sleep(LEASE_CHECK).await;
                }
            }
        }
    }
}

/// The workers one server at a time runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reconciler,
    /// The watcher of one chain.
    Watcher(u64),
}

impl Role {
    /// The advisory lock's key: this product's own range, one key per role.
    fn key(self) -> i64 {
        const BASE: i64 = 0x7573_6474_0000_0000;
        match self {
            Role::Reconciler => BASE,
            Role::Watcher(chain) => BASE + 1 + (chain as i64 & 0xffff_ffff),
        }
    }
}

/// The advisory lock of creating orders on one chain and token: taken in turns by every server,
/// so amounts made unique among the orders awaited are unique across servers too.
pub(super) fn creation_key(chain: u64, symbol: &str) -> i64 {
    const BASE: i64 = 0x7573_6475_0000_0000;
    BASE + i64::from(fnv1a(chain.to_le_bytes().iter().chain(symbol.as_bytes())))
}

/// The advisory lock of creating one checkout's order: taken in turns by every server, so one
/// checkout asked for on two servers at once makes one gateway call.
pub fn checkout_key(id: &str) -> i64 {
    const BASE: i64 = 0x7573_6476_0000_0000;
    BASE + i64::from(fnv1a(id.as_bytes().iter()))
}

/// FNV-1a: stable across builds and servers, unlike std's hasher.
fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash = (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193);
    }
    hash
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Reconciler => f.write_str("reconciler"),
            Role::Watcher(chain) => write!(f, "watcher of chain {chain}"),
        }
    }
}

/// The roles this server holds now, for `/healthz`: which server runs what.
#[derive(Debug, Default)]
pub struct Roles(std::sync::Mutex<std::collections::BTreeSet<String>>);

impl Roles {
    pub fn held(&self) -> Vec<String> {
        self.0.lock().expect("roles lock").iter().cloned().collect()
    }

    fn set(&self, role: Role, held: bool) {
        let mut roles = self.0.lock().expect("roles lock");
        if held {
            roles.insert(role.to_string());
        } else {
            roles.remove(&role.to_string());
        }
    }
}

/// Runs `work` while this server holds `role`; once the lease is lost, stops it and waits to
/// hold the role again (another server carries on meanwhile). Once `stopping` says the server
/// stops, the work is stopped and the lease released at once, so another server takes the role
/// within a second rather than once this process is gone; then nothing more is run (returning
/// would have the supervisor start it again).
pub async fn while_leading<W, F>(
    store: Store,
    roles: std::sync::Arc<Roles>,
    role: Role,
    mut stopping: Stopping,
    work: W,
) where
    W: Fn() -> F,
    F: std::future::Future<Output = ()>,
{
    loop {
        let mut lease = tokio::select! {
            lease = store.lead(role) => lease,
            () = stopping.stopped() => break,
        };
        roles.set(role, true);
        let stopped = tokio::select! {
            () = lease.lost() => {
                tracing::warn!("lost the {role} lease; waiting to hold it again");
                false
            }
            () = work() => return,
            () = stopping.stopped() => true,
        };
        roles.set(role, false);
        if stopped {
            lease.release().await;
            tracing::info!("stopping: the {role} lease is released for another server");
            break;
        }
    }
    std::future::pending().await
}

/// A role held by this server: until [`Lease::lost`] resolves, no other server holds it.
pub struct Lease {
    /// The session holding the advisory lock; `None` on SQLite, where this is the only server.
    session: Option<PgConnection>,
}

impl Lease {
    /// Gives the role up now: the session ends, and its advisory lock with it. A session that
    /// cannot say goodbye in time is dropped, which closes its socket: Postgres ends it then.
    pub async fn release(self) {
        if let Some(session) = self.session {
            let _ = tokio::time::timeout(LEASE_CHECK * 2, session.close()).await;
        }
    }

    /// Resolves once the lease is lost (its connection failed); never on SQLite.
    pub async fn lost(&mut self) {
        let Some(session) = &mut self.session else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(LEASE_CHECK).await;
            let alive = tokio::time::timeout(LEASE_CHECK * 5, session.ping()).await;
            if !matches!(alive, Ok(Ok(()))) {
                return;
            }
        }
    }
}

impl Store {
    /// What the other servers on this database change; `None` on SQLite.
    pub async fn changes(&self) -> Result<Option<ChangeFeed>, StoreError> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url).await?;
        listener
            .listen_all([CHECKOUT_CHANGED, UNMATCHED_SEEN])
            .await?;
        Ok(Some(ChangeFeed(listener)))
    }

    /// Waits until this server holds `role`; at once on SQLite.
    pub async fn lead(&self, role: Role) -> Lease {
        let Some(url) = &self.url else {
            return Lease { session: None };
        };
        loop {
            match try_lead(url, role).await {
                Ok(session) => {
                    tracing::info!("this server now runs the {role}");
                    return Lease {
                        session: Some(session),
                    };
                }
                Err(e) => tracing::warn!("asking for the {role} lease: {e}"),
            }
            tokio::time::sleep(LEASE_CHECK).await;
        }
    }
}

/// A session holding `role`'s lock, once no other server holds it.
async fn try_lead(url: &str, role: Role) -> Result<PgConnection, sqlx::Error> {
    let mut session = PgConnection::connect(url).await?;
    loop {
        let held: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(role.key())
            .fetch_one(&mut session)
            .await?
            .try_get(0)?;
        if held {
            return Ok(session);
        }
        tokio::time::sleep(LEASE_CHECK).await;
    }
}
