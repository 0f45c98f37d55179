//! How many status polls the server holds open at once. Each held poll is an open connection,
//! a file descriptor: past the process's limit, new connections (the next shopper's checkout,
//! `/healthz`, the database's) fail or hang. So the server raises its soft limit to the hard one
//! at startup, and holds polls only up to a share of it; past that, a poll is answered at once,
//! with `Retry-After`, as if nothing changed, and the widget asks again a moment later. That
//! answer also closes its connection ([`close_when_declined`]): kept open, it would hold the very
//! descriptor the cap is there to save, and a client could hold thousands that way.
//!
//! A server that stops answers every held poll at once with what it has ([`LongPolls::stop`]):
//! held to its wait's end, a poll would keep the stopping server up for as long, and its widget
//! waiting; answered, the widget asks again, and the balancer sends that to another server.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::shutdown::{Stop, Stopping};

/// The share of the open-files limit long polls may take: the rest is for new requests, the
/// database, the gateway and the chains.
const SHARE_PERCENT: u64 = 75;

pub struct LongPolls {
    held: AtomicUsize,
    cap: usize,
    /// Whether the server is stopping: a poll held then, or after, is answered at once.
    stopping: Stop,
}

/// A held poll; released when dropped.
pub struct Held<'a>(&'a AtomicUsize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        crate::metrics::poll_answered();
    }
}

impl LongPolls {
    /// At most `cap` held at once.
    pub fn new(cap: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            cap,
            stopping: crate::shutdown::channel().0,
        }
    }

    /// Sized for a process that may open `open_files` descriptors.
    pub fn for_open_files(open_files: u64) -> Self {
        Self::new(
            usize::try_from(open_files.saturating_mul(SHARE_PERCENT) / 100).unwrap_or(usize::MAX),
        )
    }

    /// Room to hold one more poll, or `None` when as many as allowed are held: then the
    /// response to the request being served (within [`close_when_declined`]) closes its
    /// connection.
    pub fn hold(&self) -> Option<Held<'_>> {
        let held = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.cap).then_some(held + 1)
            })
            .ok()
            .map(|_| Held(&self.held));
        if held.is_none() {
            // Outside a request (a test of this type alone) there is no connection to close.
            let _ = DECLINED.try_with(|declined| declined.set(true));
        }
        held
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// How many may be held at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The server is stopping: every poll held now is answered, and none is held from now on.
    pub fn stop(&self) {
        self.stopping.stop();
    }

    /// What `wait` gives, or `None` once the server is stopping (at once if it already is): the
    /// poll is then answered with the view it had.
    pub async fn unless_stopping<T>(
        &self,
        wait: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let mut stopping: Stopping = self.stopping.stopping();
        tokio::select! {
            done = wait => Some(done),
            () = stopping.stopped() => None,
        }
    }
}

tokio::task_local! {
    /// Whether the request being served was refused room to be held.
    static DECLINED: Cell<bool>;
}

/// Middleware: a response to a poll that was refused room to be held (answered at once, past
/// the cap) says `Connection: close`, and the server closes the connection once it is sent.
pub async fn close_when_declined(request: Request, next: Next) -> Response {
    DECLINED
        .scope(Cell::new(false), async move {
            let mut response = next.run(request).await;
            if DECLINED.with(Cell::get) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        })
        .await
}

/// Raises this process's soft limit of open files to its hard limit (Linux's default soft limit,
/// 1,024, is far below what thousands of waiting shoppers need); returns the soft limit after.
pub fn raise_open_files() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1_024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_held_up_to_the_cap_and_released_when_answered() {
        let polls = LongPolls::new(2);
        let first = polls.hold().expect("room");
        let second = polls.hold().expect("room");
        assert!(polls.hold().is_none(), "answered at once past the cap");
        drop(first);
        assert_eq!(polls.held(), 1);
        let third = polls.hold().expect("room again");
        drop((second, third));
        assert_eq!(polls.held(), 0);
    }

    #[tokio::test]
    async fn a_stopping_server_answers_its_held_polls_and_holds_no_more() {
        let polls = std::sync::Arc::new(LongPolls::new(2));
        let held = tokio::spawn({
            let polls = polls.clone();
            async move { polls.unless_stopping(std::future::pending::<()>()).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(polls.unless_stopping(async { 7 }).await, Some(7));
        polls.stop();
        assert_eq!(held.await.unwrap(), None, "the held poll is answered");
        assert_eq!(
            polls.unless_stopping(std::future::pending::<()>()).await,
            None,
            "a poll after the stop is not held"
        );
    }

    #[test]
    fn the_cap_leaves_a_quarter_of_the_open_files() {
        assert_eq!(LongPolls::for_open_files(1_024).cap, 768);
        assert_eq!(LongPolls::for_open_files(1 << 20).cap, 786_432);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let raised = raise_open_files();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(raised, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
