//! Who is at the console: the session cookie and its row in the database, the session every
//! console route requires ([`require_session`]), the CSRF token every form carries
//! ([`check_csrf`]), and the role an action needs ([`Operator`], [`Owner`]). Signing in and out
//! is [`super::sign_in`]. The decisions are `crate::staff`'s pure rules; here, the I/O.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::{Console, Refusal, see_other};
use crate::clock::now_ms;
use crate::staff::{self, Permission, Role, SessionAge};
use crate::store::AuditEntry;

/// The most a console form may send: its fields are a few names, notes and a token, far under
/// what the server takes from any request (`server::MAX_BODY_BYTES`).
pub(super) const MAX_FORM_BYTES: usize = 16 * 1024;

/// The session cookie: its value is the session's id, which the database keeps only hashed.
pub const SESSION_COOKIE: &str = "console_session";
/// The sign-in form's own token, before there is a session to bind one to (login CSRF): the
/// form carries it and so does this cookie, which another site can neither read nor set.
pub(super) const SIGN_IN_COOKIE: &str = "console_sign_in";
pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// A member of staff signed in, as [`require_session`] found them for this request.
#[derive(Debug, Clone)]
pub struct Signed {
    pub name: String,
    pub role: Role,
    /// Every form of this session carries it.
    pub csrf: String,
    /// The session's id, hashed as kept.
    pub(super) id_hash: String,
    /// The client's address (see [`client_of`]).
    pub client: String,
    /// How far the checkouts' change feed had counted when the request came in, before its page
    /// read anything: the page's live stream asks from there, so a change made while the page
    /// was drawn and its stream not yet open is not missed.
    pub feed: u64,
}

impl Signed {
    /// An audit entry of this member of staff's, now.
    pub fn entry(&self, action: &str, subject: Option<&str>) -> AuditEntry {
        AuditEntry {
            at: now_ms(),
            actor: self.name.clone(),
            client: Some(self.client.clone()),
            action: action.to_owned(),
            subject: subject.map(str::to_owned),
            ..AuditEntry::default()
        }
    }

    /// `self`, if its role may do what `permission` guards; else a 403 that says who may.
    pub fn may(self, permission: Permission) -> Result<Self, Refusal> {
        if self.role.may(permission) {
            return Ok(self);
        }
        let who = match permission {
            Permission::Read => "every member of staff",
            Permission::Act => "operators and owners",
            Permission::ManageStaff => "owners",
        };
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!("Your role ({}) cannot do this: only {who} can.", self.role),
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        // Put there by `require_session`, which every signed-in route is behind. A route left
        // outside it is a bug, said as one (not quietly sent to the sign-in page, which would
        // hide that the gate is missing).
        parts.extensions.get::<Signed>().cloned().ok_or_else(|| {
            tracing::error!(
                "console: {} is not behind require_session",
                parts.uri.path()
            );
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on the server; nothing was done.",
            )
            .into_response()
        })
    }
}

/// A member of staff who may act on orders (an operator or an owner); a viewer gets 403.
pub struct Operator(pub Signed);

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let signed = Signed::from_request_parts(parts, state).await?;
        signed
            .may(Permission::Act)
            .map(Operator)
            .map_err(IntoResponse::into_response)
    }
}

/// A member of staff who may manage staff (an owner); anyone else gets 403.
pub struct Owner(pub Signed);

impl<S: Send + Sync> FromRequestParts<S> for Owner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let signed = Signed::from_request_parts(parts, state).await?;
        signed
            .may(Permission::ManageStaff)
            .map(Owner)
            .map_err(IntoResponse::into_response)
    }
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// A `Set-Cookie` value: HttpOnly (no script reads it), SameSite=Strict (no other site's page
/// sends it), on `path` only, `Secure` when asked; `max_age` seconds, or until the browser
/// closes (`None`), or removed (`Some(0)`).
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    secure: bool,
    max_age: Option<u64>,
) -> String {
    let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if secure {
        cookie.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    cookie
}

/// 32 random bytes, in hex: a session id, a CSRF token.
pub(super) fn random_token() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    usdt_checkout_protocol::hex::encode(&bytes)
}

/// What the database keeps of a session id: its SHA-256, in hex. A leaked table holds no
/// session anyone can use.
pub fn hash_session_id(id: &str) -> String {
    usdt_checkout_protocol::hex::encode(&Sha256::digest(id.as_bytes()))
}

/// A form field's raw value in an `application/x-www-form-urlencoded` body: the CSRF token is
/// hex, so what needs decoding is never one.
pub fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The client's address, as the per-client limits key it (see [`crate::limiter::client_key`]):
/// behind a trusted proxy, the address it forwards.
pub fn client_of(console: &Console, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("?"));
    crate::limiter::client_key(peer.ip(), forwarded, &console.app.config.trusted_proxies)
}

/// Whether the request came over TLS, as far as this server can tell: a trusted proxy said so
/// (`X-Forwarded-Proto: https`). This server itself speaks plain HTTP.
pub(super) fn over_tls(console: &Console, headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    let trusted = peer.is_some_and(|peer| {
        console
            .app
            .config
            .trusted_proxies
            .iter()
            .any(|n| n.contains(peer.ip()))
    });
    trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Whether this request's cookies are to be `Secure`: configured so, or it came over TLS.
pub(super) fn secure(console: &Console, headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    console.app.config.console.secure_cookies || over_tls(console, headers, peer)
}

pub(super) fn peer_of(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(at)| *at)
}

/// Every signed-in route's gate: the session the cookie names, kept, live (neither idle nor too
/// old) and of a member of staff who still exists, else a redirect to the sign-in page (303,
/// for a form's POST too). The member and their role are read anew on each request, so a role
/// changed or an account removed counts at once.
pub async fn require_session(
    State(console): State<Arc<Console>>,
    mut request: Request,
    next: Next,
) -> Result<Response, Refusal> {
    let peer = peer_of(&request);
    let Some(id) = cookie(request.headers(), SESSION_COOKIE) else {
        return Ok(see_other(SIGN_IN_PATH));
    };
    let id_hash = hash_session_id(id);
    let store = console.store();
    let now = now_ms();
    let limits = console.app.config.console.sessions;
    let Some(session) = store.session(&id_hash).await? else {
        return Ok(signed_out(&console, request.headers(), peer));
    };
    match limits.age(session.created_at, session.last_seen_at, now) {
        SessionAge::Live => {}
        SessionAge::Idle | SessionAge::Expired => {
            store.end_session(&id_hash).await?;
            return Ok(signed_out(&console, request.headers(), peer));
        }
    }
    if limits.touch_due(session.last_seen_at, now) {
        store.touch_session(&id_hash, now).await?;
    }
    let client = client_of(&console, request.headers(), peer);
    let feed = *console.app.checkouts.watch().borrow();
    request.extensions_mut().insert(Signed {
        name: session.staff_name,
        role: session.role,
        csrf: session.csrf_token,
        id_hash,
        client,
        feed,
    });
    Ok(next.run(request).await)
}

/// To the sign-in page, the cookie of a session that is over removed.
pub(super) fn signed_out(
    console: &Console,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Response {
    let mut response = see_other(SIGN_IN_PATH);
    let removed = set_cookie(
        SESSION_COOKIE,
        "",
        "/console",
        secure(console, headers, peer),
        Some(0),
    );
    if let Ok(value) = HeaderValue::from_str(&removed) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Every signed-in form's check: a request that may change something (any method but GET and
/// HEAD) carries the session's CSRF token in its `csrf` field, else 403 before its handler
/// runs. Another site's page can make a browser send a form here, but cannot read the token.
pub async fn check_csrf(request: Request, next: Next) -> Result<Response, Refusal> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(next.run(request).await);
    }
    let expected = request
        .extensions()
        .get::<Signed>()
        .map(|s| s.csrf.clone())
        .unwrap_or_default();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "This form sent more than the console takes.",
            )
        })?;
    if !staff::csrf_matches(&expected, form_field(&body, "csrf")) {
        return Err(stale_form());
    }
    Ok(next.run(Request::from_parts(parts, Body::from(body))).await)
}

pub(super) fn stale_form() -> Refusal {
    Refusal::new(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form's security token is missing or out of date, so nothing was done. Go back, \
         reload the page and try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name_and_set_strictly() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; console_session=abc"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "console"), None);
        assert_eq!(
            set_cookie(SESSION_COOKIE, "abc", "/console", false, None),
            "console_session=abc; Path=/console; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            set_cookie(SESSION_COOKIE, "", "/console", true, Some(0)),
            "console_session=; Path=/console; HttpOnly; SameSite=Strict; Secure; Max-Age=0"
        );
    }

    #[test]
    fn a_session_id_is_kept_only_as_its_hash() {
        let id = random_token();
        assert_eq!(id.len(), 64);
        assert_ne!(id, random_token());
        let hash = hash_session_id(&id);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, id);
        assert_eq!(hash, hash_session_id(&id));
    }

    #[test]
    fn a_form_field_is_found_by_its_exact_name() {
        let body = b"note=hi&csrf=ab12&xcsrf=no";
        assert_eq!(form_field(body, "csrf"), Some("ab12"));
        assert_eq!(form_field(body, "note"), Some("hi"));
        assert_eq!(form_field(body, "missing"), None);
        assert_eq!(form_field(b"\xff\xfe", "csrf"), None);
    }
}
