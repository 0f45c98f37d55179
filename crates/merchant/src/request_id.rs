//! A request's id: the `X-Request-Id` it came with when that is a plausible id (a balancer or the
//! storefront's backend set it), else one made here. It is answered in the response's header,
//! written on every log line the request causes (the `request` span's `request_id`), and sent
//! on the gateway calls the request makes and on the fulfillment deliveries of the events it
//! caused, so one shopper's trouble can be followed from the balancer's log through this
//! server's to the gateway's and the shop's.

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The header, in and out.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a client: a UUID, a ULID or a balancer's trace id fit.
const MAX_LEN: usize = 128;

tokio::task_local! {
    /// The id of the request this task serves, for the calls it makes (see [`current`]).
    static CURRENT: String;
}

/// The id of the request being served on this task, if any: the gateway client sends it on.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `work` as part of the request `id`, as the middleware runs a handler: for work a request
/// hands to another task, and for tests.
pub async fn scope<F: std::future::Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}

/// The requests that caused the events this server queued for delivery (a webhook or a claim
/// that paid an order), by event id, so each delivery carries its cause's id. Kept in memory:
/// an event delivered after a restart, or by another server sharing the database, goes
/// without one; nothing else depends on it.
static CAUSES: std::sync::Mutex<BTreeMap<String, String>> = std::sync::Mutex::new(BTreeMap::new());

/// At most this many causes are kept (events not yet delivered, the shop's endpoint down):
/// past it, new events go without, and memory stays bounded.
const MAX_CAUSES: usize = 10_000;

/// Notes that the request being served (if any) caused the event `event_id`.
pub fn caused(event_id: &str) {
    let Some(id) = current() else {
        return;
    };
    let mut causes = CAUSES.lock().expect("request causes lock");
    if causes.len() < MAX_CAUSES || causes.contains_key(event_id) {
        causes.insert(event_id.to_owned(), id);
    }
}

/// The id of the request that caused the event `event_id`, if this server noted one.
pub fn cause_of(event_id: &str) -> Option<String> {
    CAUSES
        .lock()
        .expect("request causes lock")
        .get(event_id)
        .cloned()
}

/// Forgets the cause of an event delivered.
pub fn delivered(event_id: &str) {
    CAUSES.lock().expect("request causes lock").remove(event_id);
}

/// `incoming` if it is a plausible id: 1 to 128 characters, letters, digits and `-_.:` only.
/// Anything else (empty, long, spaces, quotes, `=`, control characters that would forge a log
/// line or a `key=value` in a text one) is not taken: a client's id is for following it,
/// never a way into the logs.
pub fn sane(incoming: &str) -> Option<&str> {
    let fits = !incoming.is_empty()
        && incoming.len() <= MAX_LEN
        && incoming
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    fits.then_some(incoming)
}

/// A new id: 128 random bits, in hex.
pub fn generate() -> String {
    use rand_core::RngCore as _;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware: takes or makes the id, serves the request in its span and scope, and
/// answers it in the response's `X-Request-Id`.
pub async fn layer(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(sane)
        .map_or_else(generate, str::to_owned);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = scope(id.clone(), next.run(request).instrument(span)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plausible_id_is_taken_from_a_client() {
        for good in [
            "0b7f3c2e-5d1a-4e8b-9c6f-1a2b3c4d5e6f",
            "01HZX3",
            "1-5f84c7a4:abc.def_1",
        ] {
            assert_eq!(sane(good), Some(good));
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            " ",
            "a b",
            "x\ny",
            "a\"b",
            "k=v",
            "<script>",
            "é",
            long.as_str(),
        ] {
            assert_eq!(sane(bad), None, "{bad:?}");
        }
        assert_eq!(sane(&"a".repeat(MAX_LEN)).map(str::len), Some(MAX_LEN));
    }

    #[test]
    fn a_made_id_is_sane_and_new_each_time() {
        let (one, two) = (generate(), generate());
        assert_eq!(one.len(), 32);
        assert_eq!(sane(&one), Some(one.as_str()));
        assert_ne!(one, two);
    }

    #[tokio::test]
    async fn an_events_cause_is_kept_until_it_is_delivered() {
        caused("ful_none");
        assert_eq!(cause_of("ful_none"), None, "no request, no cause");
        scope("r-2".into(), async { caused("ful_co_cause") }).await;
        assert_eq!(cause_of("ful_co_cause").as_deref(), Some("r-2"));
        delivered("ful_co_cause");
        assert_eq!(cause_of("ful_co_cause"), None);
    }

    #[tokio::test]
    async fn the_id_is_current_only_inside_its_scope() {
        assert_eq!(current(), None);
        let inside = scope("r-1".into(), async { current() }).await;
        assert_eq!(inside.as_deref(), Some("r-1"));
        assert_eq!(current(), None);
    }
}
