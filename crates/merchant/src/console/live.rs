//! Live updates: `GET /console/events`, a stream of Server-Sent Events that says when something a
//! console page shows may have changed, so the page's script fetches the page again and replaces
//! its live parts. It says nothing of what changed: the page, fetched behind the session like any
//! other, is the only thing that shows data.
//!
//! It wakes on the same change feed as the widget's status polls (every new version of a
//! checkout, and the unmatched payments, on this server or, through the store's feed, another on
//! the same database), and reads the exception count at each heartbeat for what changes it
//! without a checkout changing. Changes are coalesced: at most one event a [`MIN_GAP`].
//!
//! Each stream holds a connection, a task's worth of memory and a database read a heartbeat, so
//! streams are bounded: per server, per member of staff and per session (see [`Limits`]). Past a
//! bound the answer is 503 (the server's) or 429 (the member's or session's) with `Retry-After`,
//! and the page polls instead. A stream ends when its session does: the session is read again at
//! every heartbeat, and a stream whose session is over, idle or expired says `end` and closes.
//! And every stream ends when the server stops ([`stop_all`]): a server finishing its requests in
//! flight would otherwise wait for streams that never finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::auth::Signed;
use super::{Console, Refusal};
use crate::clock::now_ms;
use crate::staff::SessionAge;
use crate::store::StoreError;

/// Whether this process is stopping: every stream ends.
static STOPPING: std::sync::LazyLock<watch::Sender<bool>> =
    std::sync::LazyLock::new(|| watch::Sender::new(false));

/// Ends every stream of this process, as the server stops: the pages reconnect to whichever
/// server answers next.
pub fn stop_all() {
    STOPPING.send_replace(true);
}

/// The least time between two events of one stream: what changed meanwhile is said once.
pub const MIN_GAP: Duration = Duration::from_secs(1);
/// How long a refused page waits before asking for a stream again, polling meanwhile.
const RETRY_AFTER_SECONDS: u64 = 30;

/// How many streams may be open at once, and how often they read their session again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// On this server, all staff together.
    pub server: usize,
    /// For one member of staff, all their sessions together: signing in again and again makes
    /// sessions, not streams past this.
    pub member: usize,
    /// For one session (one browser: its tabs share the cookie). A browser speaking HTTP/1.1
    /// opens at most 6 connections to one host, and a stream holds one: past 4, a tab's own page
    /// loads would wait behind its other tabs' streams, so it polls instead.
    pub session: usize,
    /// How often a quiet stream says it is alive (a comment, which proxies that close idle
    /// connections after 30 to 60 seconds see as traffic), and reads its session again: a
    /// stream outlives its session by at most this.
    pub heartbeat: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            server: 100,
            member: 8,
            session: 4,
            heartbeat: Duration::from_secs(25),
        }
    }
}

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    Server,
    Member,
    Session,
}

/// The streams open now.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    members: HashMap<String, usize>,
    sessions: HashMap<String, usize>,
}

/// Whether one more stream may open for `member`'s session `session`.
fn admit(open: &Open, caps: &Limits, member: &str, session: &str) -> Result<(), Busy> {
    let count = |map: &HashMap<String, usize>, key: &str| map.get(key).copied().unwrap_or(0);
    if count(&open.sessions, session) >= caps.session {
        Err(Busy::Session)
    } else if count(&open.members, member) >= caps.member {
        Err(Busy::Member)
    } else if open.total >= caps.server {
        Err(Busy::Server)
    } else {
        Ok(())
    }
}

/// The server's open streams, counted against their [`Limits`].
#[derive(Debug)]
pub struct Streams {
    limits: Limits,
    open: Mutex<Open>,
}

impl Streams {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            open: Mutex::new(Open::default()),
        }
    }

    /// How many are open.
    pub fn open(&self) -> usize {
        self.open.lock().expect("streams lock").total
    }

    fn take(&self, member: &str, session: &str) -> Result<(), Busy> {
        let mut open = self.open.lock().expect("streams lock");
        admit(&open, &self.limits, member, session)?;
        open.total += 1;
        *open.members.entry(member.to_owned()).or_default() += 1;
        *open.sessions.entry(session.to_owned()).or_default() += 1;
        Ok(())
    }

    fn give_back(&self, member: &str, session: &str) {
        let mut open = self.open.lock().expect("streams lock");
        let open = &mut *open;
        open.total = open.total.saturating_sub(1);
        for (map, key) in [(&mut open.members, member), (&mut open.sessions, session)] {
            if let Some(count) = map.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    map.remove(key);
                }
            }
        }
    }
}

/// An open stream's place in the count, given back when the stream is dropped (its client gone,
/// its session over, the server stopping).
struct Place {
    console: Arc<Console>,
    member: String,
    session: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.console.live.give_back(&self.member, &self.session);
    }
}

/// A refused stream, or one that could not start.
#[derive(Debug)]
pub enum Refused {
    Busy(Busy),
    Failed(Refusal),
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Self::Failed(error.into())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let busy = match self {
            Self::Failed(refusal) => return refusal.into_response(),
            Self::Busy(busy) => busy,
        };
        let (status, message) = match busy {
            Busy::Server => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server has as many live pages open as it keeps: this page reloads its \
                 parts every little while instead.",
            ),
            Busy::Member | Busy::Session => (
                StatusCode::TOO_MANY_REQUESTS,
                "You have as many live pages open as one person may: this page reloads its parts \
                 every little while instead.",
            ),
        };
        let mut response = Refusal::new(status, "Live updates paused", message).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        response
    }
}

/// What a stream does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Say it is open (the page knows from then on that any change reaches it), with the
    /// session's idle timeout: the page stops fetching itself again for a reader who has been
    /// away for half of it, or its fetches would keep an unattended console's session alive.
    Opening,
    Running,
    /// Its session is over: said, and then the stream ends.
    Over,
}

struct Live {
    place: Place,
    id_hash: String,
    changes: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
    phase: Phase,
    /// Something changed that no event has said yet.
    pending: bool,
    last_event: Option<Instant>,
    next_heartbeat: Instant,
    /// What the navigation counts (exceptions, refunds waiting), as last read.
    exceptions: super::layout::Waiting,
}

/// Where a page's stream starts: the change feed's count its page was drawn at.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Since {
    #[serde(default)]
    since: Option<u64>,
}

/// `GET /console/events`: the stream, for any member of staff signed in.
pub async fn events(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(since): Query<Since>,
) -> Result<Response, Refused> {
    // Subscribed before anything is read or answered: a change from here on is seen.
    let changes = console.app.checkouts.watch();
    // And one since the page was drawn (its `data-feed`), before this stream opened, is said at
    // once. On another server the count differs: one fetch more, never one missed.
    let missed = since.since.is_some_and(|count| count != *changes.borrow());
    console
        .live
        .take(&signed.name, &signed.id_hash)
        .map_err(Refused::Busy)?;
    let place = Place {
        console: console.clone(),
        member: signed.name.clone(),
        session: signed.id_hash.clone(),
    };
    let exceptions = console.exceptions().await?;
    let live = Live {
        place,
        id_hash: signed.id_hash,
        changes,
        stopping: STOPPING.subscribe(),
        phase: Phase::Opening,
        pending: missed,
        last_event: None,
        next_heartbeat: Instant::now() + console.live.limits.heartbeat,
        exceptions,
    };
    let events = stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    let mut response = Sse::new(events).into_response();
    // A proxy that buffers responses (nginx does unless told) would hold the events back.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

impl Live {
    /// The next event, or `None` to end the stream.
    async fn next(&mut self) -> Option<Event> {
        match self.phase {
            Phase::Over => return None,
            Phase::Opening => {
                self.phase = Phase::Running;
                let idle_ms = self.place.console.app.config.console.sessions.idle_ms;
                return Some(Event::default().event("open").data(idle_ms.to_string()));
            }
            Phase::Running => {}
        }
        loop {
            let now = Instant::now();
            let due = self.last_event.map_or(now, |at| at + MIN_GAP);
            if self.pending && due <= now {
                self.pending = false;
                self.last_event = Some(now);
                return Some(Event::default().event("change").data("changed"));
            }
            let wake = if self.pending {
                due.min(self.next_heartbeat)
            } else {
                self.next_heartbeat
            };
            if *self.stopping.borrow_and_update() {
                return None;
            }
            tokio::select! {
                _ = self.stopping.changed() => return None,
                changed = self.changes.changed() => match changed {
                    Ok(()) => self.pending = true,
                    // The checkouts are gone: the server is stopping.
                    Err(_) => return None,
                },
                () = tokio::time::sleep_until(wake) => {
                    if Instant::now() < self.next_heartbeat {
                        continue;
                    }
                    self.next_heartbeat =
                        Instant::now() + self.place.console.live.limits.heartbeat;
                    return Some(self.heartbeat().await);
                }
            }
        }
    }

    /// The session read again (a stream outlives no session), and what the navigation counts:
    /// an event if it changed, else a comment.
    async fn heartbeat(&mut self) -> Event {
        let console = &self.place.console;
        if !session_live(console, &self.id_hash).await {
            self.phase = Phase::Over;
            return Event::default().event("end").data("signed out");
        }
        match console.exceptions().await {
            Ok(count) if count != self.exceptions => {
                self.exceptions = count;
                self.pending = false;
                self.last_event = Some(Instant::now());
                Event::default().event("change").data("changed")
            }
            _ => Event::default().comment("heartbeat"),
        }
    }
}

/// Whether the session is kept and neither idle nor too old; a database that cannot say ends
/// the stream too (the page asks again, and its session is then checked as any request's).
async fn session_live(console: &Console, id_hash: &str) -> bool {
    let limits = console.app.config.console.sessions;
    match console.store().session(id_hash).await {
        Ok(Some(session)) => {
            limits.age(session.created_at, session.last_seen_at, now_ms()) == SessionAge::Live
        }
        Ok(None) | Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(streams: &[(&str, &str)]) -> Open {
        let mut open = Open::default();
        for (member, session) in streams {
            open.total += 1;
            *open.members.entry((*member).into()).or_default() += 1;
            *open.sessions.entry((*session).into()).or_default() += 1;
        }
        open
    }

    #[test]
    fn a_stream_opens_within_every_bound_and_the_narrowest_says_why_not() {
        let caps = &Limits {
            server: 4,
            member: 3,
            session: 2,
            ..Limits::default()
        };
        let open = opened(&[("ana", "s1"), ("ana", "s1")]);
        assert_eq!(admit(&open, caps, "ana", "s1"), Err(Busy::Session));
        assert_eq!(admit(&open, caps, "ana", "s2"), Ok(()), "another session");
        let open = opened(&[("ana", "s1"), ("ana", "s2"), ("ana", "s3")]);
        assert_eq!(
            admit(&open, caps, "ana", "s4"),
            Err(Busy::Member),
            "a new session each time is no way around it"
        );
        assert_eq!(admit(&open, caps, "ben", "s5"), Ok(()));
        let open = opened(&[("ana", "s1"), ("ben", "s2"), ("cy", "s3"), ("di", "s4")]);
        assert_eq!(admit(&open, caps, "ed", "s5"), Err(Busy::Server));
    }

    /// A console on a fresh SQLite database, with nothing to reach.
    async fn console() -> Arc<Console> {
        use usdt_checkout_protocol::signature::V1PrivateKey;
        let dir =
            std::env::temp_dir().join(format!("console-live-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = format!(
            "database = \"{}\"\n[gateway]\nurl = \"http://127.0.0.1:1\"\napi_key = \"k\"\n\
             private_key = \"{}\"\nwebhook_public_key = \"{}\"\n",
            dir.join("checkout.sqlite").display(),
            V1PrivateKey::generate().to_base64_pkcs8(),
            V1PrivateKey::generate().public_key().to_base64_spki(),
        );
        let config = crate::config::parse(&toml, "test.toml", |_| None).unwrap();
        let store = crate::store::Store::open(&config.database).await.unwrap();
        let due = Arc::new(tokio::sync::Notify::new());
        let checkouts = crate::checkouts::Checkouts::from_store(store, due)
            .await
            .unwrap();
        let gateway = Arc::new(config.gateway_client());
        let app = crate::app::App::new(config, Arc::new(checkouts), gateway);
        Arc::new(Console::new(Arc::new(app)))
    }

    #[tokio::test]
    async fn every_stream_ends_when_the_server_stops() {
        let console = console().await;
        let signed = Signed {
            name: "ana".into(),
            role: crate::staff::Role::Viewer,
            csrf: String::new(),
            id_hash: "s1".into(),
            client: "127.0.0.1".into(),
            feed: 0,
        };
        let response = events(State(console.clone()), signed, Query(Since::default()))
            .await
            .unwrap();
        let mut body = response.into_body().into_data_stream();
        use futures_util::StreamExt;
        let open = body.next().await.unwrap().unwrap();
        assert!(open.starts_with(b"event: open"), "{open:?}");
        assert_eq!(console.live.open(), 1);
        stop_all();
        assert!(body.next().await.is_none(), "ended");
        drop(body);
        assert_eq!(console.live.open(), 0);
    }

    #[test]
    fn places_are_given_back() {
        let streams = Streams::new(Limits {
            server: 2,
            member: 2,
            session: 1,
            ..Limits::default()
        });
        streams.take("ana", "s1").unwrap();
        assert_eq!(streams.take("ana", "s1"), Err(Busy::Session));
        streams.take("ben", "s2").unwrap();
        assert_eq!(streams.take("cy", "s3"), Err(Busy::Server));
        streams.give_back("ana", "s1");
        assert_eq!(streams.open(), 1);
        streams.take("ana", "s1").unwrap();
        streams.give_back("ana", "s1");
        streams.give_back("ben", "s2");
        let open = streams.open.lock().unwrap();
        assert_eq!(open.total, 0);
        assert!(
            open.members.is_empty() && open.sessions.is_empty(),
            "{open:?}"
        );
    }
}
