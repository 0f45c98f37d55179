//! Signing in and out: the sign-in page and its own token (login CSRF), the password checked
//! against the lockout and the per-address limit, a new session at every sign-in, and sign-out
//! ending the session on the server. The session, cookies and CSRF checks it uses are
//! [`super::auth`]'s.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::auth::{
    SESSION_COOKIE, SIGN_IN_COOKIE, SIGN_IN_PATH, Signed, client_of, cookie, hash_session_id,
    peer_of, random_token, secure, set_cookie, signed_out, stale_form,
};
use super::{Console, Refusal, layout, see_other};
use crate::clock::now_ms;
use crate::staff;
use crate::store::AuditEntry;

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The sign-in page, with its form's token (the one the cookie already holds, or a new one).
pub async fn sign_in_page(State(console): State<Arc<Console>>, request: Request) -> Response {
    let peer = peer_of(&request);
    sign_in_form(&console, request.headers(), peer, StatusCode::OK, None, "")
}

fn sign_in_form(
    console: &Console,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    status: StatusCode,
    problem: Option<&str>,
    name: &str,
) -> Response {
    let token = cookie(headers, SIGN_IN_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(random_token, str::to_owned);
    let page = layout::bare(
        &console.app.config.merchant_name,
        "Sign in",
        html! {
            @if let Some(problem) = problem {
                div.problem role="alert" id="sign-in-problem" { p { (problem) } }
            }
            form.sign-in method="post" action=(SIGN_IN_PATH) {
                input type="hidden" name="csrf" value=(token);
                p {
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(name) autocomplete="username"
                        autocapitalize="none" spellcheck="false" required
                        aria-describedby=[problem.map(|_| "sign-in-problem")];
                }
                p {
                    label for="password" { "Password" }
                    input #password type="password" name="password"
                        autocomplete="current-password" required;
                }
                p { button type="submit" { "Sign in" } }
            }
        },
    );
    let mut response = (status, page).into_response();
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        &token,
        SIGN_IN_PATH,
        secure(console, headers, peer),
        Some(3600),
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Signs in: the form's token is its cookie's; this address has attempts left this minute;
/// the account is not locked; the password is right. Then a new session (a new random id,
/// whatever cookie came with the request, whose session ends), and on to the orders. A wrong
/// password counts toward the account's lock, and the last one allowed locks it.
pub async fn sign_in(
    State(console): State<Arc<Console>>,
    request: Request,
) -> Result<Response, Refusal> {
    let peer = peer_of(&request);
    let headers = request.headers().clone();
    let form: Result<Form<SignInForm>, FormRejection> = Form::from_request(request, &console).await;
    let Ok(Form(form)) = form else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "The sign-in form could not be read. Go back and try again.",
        ));
    };
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !staff::csrf_matches(expected, Some(&form.csrf)) {
        return Err(stale_form());
    }
    let config = &console.app.config.console;
    let client = client_of(&console, &headers, peer);
    let now = now_ms();
    let refuse = |status, problem: &str| {
        Ok(sign_in_form(
            &console,
            &headers,
            peer,
            status,
            Some(problem),
            &form.name,
        ))
    };
    // Sign-in attempts by client address, this minute: on this server (each server limits the
    // requests it receives); the account's own lock is in the database, for every server.
    let limited = console
        .app
        .sign_ins
        .lock()
        .expect("sign-in limiter lock")
        .allow(&client, now);
    if let Err(wait_ms) = limited {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many sign-in attempts from this address. Try again in {} seconds.",
                wait_ms.div_ceil(1000)
            ),
        );
    }
    let store = console.store();
    let member = store.staff_member(&form.name).await?;
    if let Some(until) = member.as_ref().and_then(|m| staff::locked(m.failures, now)) {
        return refuse(
            StatusCode::LOCKED,
            &locked_message(config.lockout, until, now),
        );
    }
    let hash = member.as_ref().map_or_else(
        || staff::absent_account_hash().to_owned(),
        |m| m.password_hash.clone(),
    );
    let password = form.password.clone();
    let right = tokio::task::spawn_blocking(move || staff::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(member) = member.filter(|_| right) else {
        if let Some(failures) = failed(&console, &form.name, &client, now).await?
            && let Some(until) = staff::locked(failures, now)
        {
            return refuse(
                StatusCode::LOCKED,
                &locked_message(config.lockout, until, now),
            );
        }
        return refuse(
            StatusCode::FORBIDDEN,
            "That name and password do not match an account.",
        );
    };
    // Whatever session the request came with ends: the new one has an id of its own, never
    // one an attacker could have planted before the sign-in (session fixation).
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        store.end_session(&hash_session_id(old)).await?;
    }
    let id = random_token();
    let mut write = store.begin().await?;
    write.signed_in(&member.name).await?;
    write
        .start_session(&hash_session_id(&id), &member.name, &random_token(), now)
        .await?;
    write
        .audit(&AuditEntry {
            at: now,
            actor: member.name.clone(),
            client: Some(client),
            action: "session.sign_in".into(),
            subject: Some(member.name.clone()),
            after: Some(member.role.as_str().into()),
            ..AuditEntry::default()
        })
        .await?;
    write.commit().await?;
    if sweep_due(now) {
        // Now and then, the sessions nobody will use again are forgotten.
        store.end_stale_sessions(config.sessions, now).await?;
    }
    let secure = secure(&console, &headers, peer);
    let mut response = see_other("/console/orders");
    for cookie in [
        set_cookie(SESSION_COOKIE, &id, "/console", secure, None),
        set_cookie(SIGN_IN_COOKIE, "", SIGN_IN_PATH, secure, Some(0)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// One sign-in in sixteen sweeps stale sessions (by the clock's low bits: no need for better
/// randomness to spread a cleanup).
fn sweep_due(now: u64) -> bool {
    now.is_multiple_of(16)
}

/// Counts a wrong password against `name`'s account, if there is one, and audits it (a lock it
/// causes too): the account's failures now.
async fn failed(
    console: &Console,
    name: &str,
    client: &str,
    now: u64,
) -> Result<Option<staff::Failures>, Refusal> {
    let lockout = console.app.config.console.lockout;
    let mut write = console.store().begin().await?;
    let Some(failures) = write.failed_sign_in(name, lockout, now).await? else {
        // No such account: nothing to count, and the name typed (perhaps a password typed in
        // the wrong box) is not kept.
        return Ok(None);
    };
    let entry = |action: &str, after: Option<String>| AuditEntry {
        at: now,
        actor: name.to_owned(),
        client: Some(client.to_owned()),
        action: action.to_owned(),
        subject: Some(name.to_owned()),
        after,
        ..AuditEntry::default()
    };
    write.audit(&entry("session.sign_in_refused", None)).await?;
    if let Some(until) = staff::locked(failures, now) {
        let until = layout::utc(until);
        write
            .audit(&entry(
                "staff.locked",
                Some(format!("locked until {until}")),
            ))
            .await?;
    }
    write.commit().await?;
    Ok(Some(failures))
}

fn locked_message(lockout: staff::Lockout, until: u64, now: u64) -> String {
    format!(
        "This account is locked after {} wrong passwords in a row. Try again after {} (in {} \
         minutes), or ask an owner to set a new password.",
        lockout.max_failures,
        layout::utc(until),
        until.saturating_sub(now).div_ceil(60_000)
    )
}

/// Signs out: the session ends (its row is deleted, so its cookie opens nothing on any server),
/// and the cookie is removed.
pub async fn sign_out(
    State(console): State<Arc<Console>>,
    signed: Signed,
    connected: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let peer = connected.map(|Extension(ConnectInfo(at))| at);
    let mut entry = signed.entry("session.sign_out", Some(&signed.name));
    entry.after = Some("signed out".into());
    console.store().end_session(&signed.id_hash).await?;
    console.store().audit(&entry).await?;
    Ok(signed_out(&console, &headers, peer))
}
