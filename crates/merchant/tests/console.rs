//! The staff console in-process: the router called with tower's `oneshot` on a real database
//! (each test on SQLite and on PostgreSQL), as a browser would call it: cookies, forms and their
//! CSRF tokens, redirects. Each protection has a test that fails without it.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::Db;
use common::console::*;
use common::console_world::csv_records;
use usdt_checkout_chain::{ChainPayment, PaymentKind};
use usdt_checkout_protocol::{Address, ChainId, TxHash};
use usdt_checkout_server::app::App;
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::console::auth::{SESSION_COOKIE, hash_session_id};
use usdt_checkout_server::console::{self, accounts};
use usdt_checkout_server::staff::Role;

on_both!(
    without_a_session_every_console_page_redirects_to_sign_in,
    a_viewers_action_gets_403_and_changes_nothing,
    only_owners_manage_staff_and_the_last_owner_stays,
    a_missing_or_wrong_csrf_token_gets_403_and_changes_nothing,
    wrong_passwords_lock_the_account_and_then_the_right_one_is_refused,
    sign_in_attempts_are_limited_per_address,
    the_session_id_changes_at_sign_in_and_only_its_hash_is_kept,
    sign_out_ends_the_session_on_the_server,
    an_idle_or_old_session_ends,
    the_session_cookie_is_httponly_strict_and_secure_over_tls,
    a_script_in_a_description_reference_or_note_is_shown_escaped_and_csv_cells_are_no_formulas,
    orders_are_filtered_searched_and_paged_newest_first,
    a_session_made_on_one_server_works_on_another_and_ends_on_both,
    orders_are_found_by_transaction_and_payer_and_unmatched_payments_are_counted,
    orders_and_payments_export_as_csv_for_a_range_of_days,
    a_paid_orders_page_shows_each_of_its_events_escaped_on_one_timeline,
);

/// Every page and form behind a session, read from the router's own table, each path's
/// parameters filled in.
fn signed_in_endpoints() -> Vec<(Method, String)> {
    let endpoints = console::signed_in_endpoints();
    assert!(endpoints.len() > 20, "the table lists the console's routes");
    endpoints
        .into_iter()
        .map(|(method, path)| {
            let path = path
                .replace("{id}", "co_any")
                .replace("{name}", "ana")
                .replace("{event}", "ev_any")
                .replace("{chain}", "31337")
                .replace("{tx}", &format!("0x{}", "ab".repeat(32)))
                .replace("{log}", "0");
            (method, path)
        })
        .collect()
}

async fn without_a_session_every_console_page_redirects_to_sign_in(db: Db) {
    let h = harness(db, "no-session", "").await;
    h.add_staff("ana", Role::Owner).await;
    for cookie in [
        None,
        Some("console_session=forged"),
        Some("console_session="),
    ] {
        let mut browser = Browser::default();
        if let Some(cookie) = cookie {
            let (name, value) = cookie.split_once('=').unwrap();
            browser.cookies.push((name.into(), value.into()));
        }
        for (method, path) in signed_in_endpoints() {
            let reply = if method == Method::GET {
                h.get(&mut browser.clone(), &path).await
            } else {
                h.post(
                    &mut browser.clone(),
                    &path,
                    &[("csrf", "x"), ("note", "n"), ("role", "viewer")],
                )
                .await
            };
            assert_eq!(
                reply.status,
                StatusCode::SEE_OTHER,
                "{method} {path} {cookie:?}"
            );
            assert_eq!(reply.location(), "/console/sign-in", "{path}");
            assert!(!reply.body.contains("Audit log"), "{path}");
        }
    }
    assert_eq!(
        h.store.staff().await.unwrap().len(),
        1,
        "nobody removed ana"
    );
    assert!(h.actions().await.iter().all(|a| a == "staff.add"));
    // What the sign-in page needs is served to anyone.
    let mut anyone = Browser::default();
    let page = h.get(&mut anyone, "/console/sign-in").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<form"), "{}", page.body);
    let css = h.get(&mut anyone, "/console/static/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let js = h.get(&mut anyone, "/console/static/console.js").await;
    assert_eq!(js.status, StatusCode::OK);
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

async fn a_viewers_action_gets_403_and_changes_nothing(db: Db) {
    let h = harness(db, "viewer", "").await;
    let id = h.order("12", "USDT", "Mug", "r-1").await;
    let path = format!("/console/orders/{id}/notes");
    let (mut viewer, csrf) = h.signed_in("vic", Role::Viewer).await;
    let page = h.get(&mut viewer, &format!("/console/orders/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("Add note"),
        "no form a viewer cannot use"
    );
    let refused = h
        .post(
            &mut viewer,
            &path,
            &[("csrf", &csrf), ("note", "refund promised")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains("Your role (viewer)"),
        "{}",
        refused.body
    );
    assert!(!h.actions().await.contains(&"order.note".to_owned()));

    let (mut operator, csrf) = h.signed_in("oli", Role::Operator).await;
    let done = h
        .post(
            &mut operator,
            &path,
            &[("csrf", &csrf), ("note", "refund promised")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let notes = h.store.audit_of(&id, 10).await.unwrap();
    assert_eq!(notes.len(), 1);
    let note = &notes[0].entry;
    assert_eq!(
        (
            note.actor.as_str(),
            note.action.as_str(),
            note.note.as_deref()
        ),
        ("oli", "order.note", Some("refund promised"))
    );
    assert_eq!(
        (note.before.as_deref(), note.after.as_deref()),
        (Some("open"), Some("open"))
    );
    let page = h.get(&mut operator, &format!("/console/orders/{id}")).await;
    assert!(page.body.contains("refund promised"), "{}", page.body);
}

async fn only_owners_manage_staff_and_the_last_owner_stays(db: Db) {
    let h = harness(db, "owners", "").await;
    let add = |csrf: &str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "newbie".to_owned()),
            ("role", "viewer".to_owned()),
            ("password", "a fine long password".to_owned()),
        ]
    };
    for role in [Role::Viewer, Role::Operator] {
        let (mut browser, csrf) = h.signed_in(role.as_str(), role).await;
        let f = add(&csrf);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = h.post(&mut browser, "/console/staff", &f).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
        let refused = h
            .post(
                &mut browser,
                "/console/staff/viewer/remove",
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
    }
    assert!(h.store.staff_member("newbie").await.unwrap().is_none());
    assert!(h.store.staff_member("viewer").await.unwrap().is_some());

    let (mut owner, csrf) = h.signed_in("olga", Role::Owner).await;
    let f = add(&csrf);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let added = h.post(&mut owner, "/console/staff", &f).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(
        h.store.staff_member("newbie").await.unwrap().unwrap().role,
        Role::Viewer
    );
    let again = h.post(&mut owner, "/console/staff", &f).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let promoted = h
        .post(
            &mut owner,
            "/console/staff/newbie/role",
            &[("csrf", &csrf), ("role", "operator")],
        )
        .await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER, "{}", promoted.body);
    let last = h
        .post(
            &mut owner,
            "/console/staff/olga/role",
            &[("csrf", &csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    let last = h
        .post(&mut owner, "/console/staff/olga/remove", &[("csrf", &csrf)])
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert_eq!(
        h.store.staff_member("olga").await.unwrap().unwrap().role,
        Role::Owner
    );
    let removed = h
        .post(
            &mut owner,
            "/console/staff/newbie/remove",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let actions = h.actions().await;
    assert_eq!(
        actions[..4],
        ["staff.remove", "staff.role", "staff.add", "session.sign_in"],
        "{actions:?}"
    );
    let role = &h.store.audit_page(10, None).await.unwrap()[1].entry;
    assert_eq!(
        (
            role.before.as_deref(),
            role.after.as_deref(),
            role.actor.as_str()
        ),
        (Some("viewer"), Some("operator"), "olga")
    );
}

async fn a_missing_or_wrong_csrf_token_gets_403_and_changes_nothing(db: Db) {
    let h = harness(db, "csrf", "").await;
    let id = h.order("12", "USDT", "Mug", "r-1").await;
    let path = format!("/console/orders/{id}/notes");
    let (mut operator, csrf) = h.signed_in("oli", Role::Operator).await;
    let (_, other_session) = h.signed_in("ola", Role::Operator).await;
    assert_ne!(csrf, other_session, "each session its own token");
    // One character changed (a token ending in 0 ends in 1: else it would be the token).
    let last = if csrf.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &csrf[..csrf.len() - 1]);
    for fields in [
        vec![("note", "n")],
        vec![("note", "n"), ("csrf", "")],
        vec![("note", "n"), ("csrf", wrong.as_str())],
        vec![("note", "n"), ("csrf", other_session.as_str())],
    ] {
        let refused = h.post(&mut operator, &path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(refused.body.contains("security token"), "{}", refused.body);
        let refused = h.post(&mut operator, "/console/sign-out", &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    assert!(h.store.audit_of(&id, 10).await.unwrap().is_empty());
    // Every form behind a session, even an owner's, is refused without its token.
    let (mut owner, _) = h.signed_in("oona", Role::Owner).await;
    let before = h.actions().await.len();
    for (method, path) in signed_in_endpoints() {
        if method != Method::POST {
            continue;
        }
        let fields = [("note", "n"), ("role", "viewer"), ("csrf", wrong.as_str())];
        let refused = h.post(&mut owner, &path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(h.actions().await.len(), before, "no action was taken");
    let still = h.get(&mut operator, "/console/orders").await;
    assert_eq!(
        still.status,
        StatusCode::OK,
        "not signed out by a forged form"
    );
    let done = h
        .post(&mut operator, &path, &[("note", "n"), ("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);

    // Signing in is a form too: without the sign-in page's own token, it is refused.
    h.add_staff("ana", Role::Owner).await;
    let mut browser = Browser::default();
    let page = h.get(&mut browser, "/console/sign-in").await;
    let token = page.csrf();
    for bad in ["", "0000", &csrf] {
        let refused = h
            .post(
                &mut browser,
                "/console/sign-in",
                &[("name", "ana"), ("password", PASSWORD), ("csrf", bad)],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{bad:?}");
        assert!(refused.set_cookie(SESSION_COOKIE).is_none());
    }
    let mut cookieless = Browser::default();
    let refused = h
        .post(
            &mut cookieless,
            "/console/sign-in",
            &[("name", "ana"), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "the token without its cookie"
    );
}

async fn wrong_passwords_lock_the_account_and_then_the_right_one_is_refused(db: Db) {
    let h = harness(
        db,
        "lockout",
        "[console]\nmax_failed_sign_ins = 3\nlockout_minutes = 15",
    )
    .await;
    h.add_staff("ana", Role::Owner).await;
    let mut browser = Browser::default();
    for attempt in 1..=2 {
        let reply = h.sign_in_as(&mut browser, "ana", "not the password").await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "attempt {attempt}");
        assert!(reply.body.contains("do not match"), "{}", reply.body);
    }
    let unknown = h
        .sign_in_as(&mut browser, "nobody", "not the password")
        .await;
    assert!(
        unknown.body.contains("do not match"),
        "the same words: no telling names"
    );
    let locking = h.sign_in_as(&mut browser, "ana", "not the password").await;
    assert_eq!(locking.status, StatusCode::LOCKED, "{}", locking.body);
    assert!(
        locking
            .body
            .contains("This account is locked after 3 wrong passwords"),
        "{}",
        locking.body
    );
    let right = h.sign_in_as(&mut browser, "ana", PASSWORD).await;
    assert_eq!(right.status, StatusCode::LOCKED, "{}", right.body);
    assert!(right.body.contains("locked"), "{}", right.body);
    assert!(right.set_cookie(SESSION_COOKIE).is_none(), "no session");
    assert!(browser.cookie(SESSION_COOKIE).is_none());
    let kept = h.store.staff_member("ana").await.unwrap().unwrap();
    let until = kept.failures.locked_until.unwrap();
    assert!(
        until > now_ms() + 14 * 60_000,
        "locked for the configured 15 minutes"
    );
    let actions = h.actions().await;
    assert_eq!(
        actions[..4],
        [
            "staff.locked",
            "session.sign_in_refused",
            "session.sign_in_refused",
            "session.sign_in_refused"
        ],
        "{actions:?}"
    );
    // An owner's new password (the command line's) lifts the lock.
    accounts::passwd(&h.store, "ana", "a brand new passphrase")
        .await
        .unwrap();
    let reply = h
        .sign_in_as(&mut browser, "ana", "a brand new passphrase")
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

async fn sign_in_attempts_are_limited_per_address(db: Db) {
    let h = harness(
        db,
        "per-address",
        "[console]\nsign_ins_per_client_per_minute = 4\nmax_failed_sign_ins = 100",
    )
    .await;
    h.add_staff("ana", Role::Owner).await;
    h.add_staff("bo", Role::Owner).await;
    let mut attacker = Browser::from("203.0.113.9:5000");
    for (i, name) in ["ana", "bo", "ana", "bo"].iter().enumerate() {
        let reply = h.sign_in_as(&mut attacker, name, "guess").await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "attempt {i}");
    }
    let limited = h.sign_in_as(&mut attacker, "ana", PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(
        limited
            .body
            .contains("Too many sign-in attempts from this address")
    );
    // Behind the merchant's proxy, each client is the address it forwards.
    let mut proxied = Browser::from("10.0.0.1:443");
    let page = h.get(&mut proxied, "/console/sign-in").await;
    let token = page.csrf();
    let request = proxied
        .request(Request::post("/console/sign-in"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "198.51.100.7")
        .body(Body::from(form(&[
            ("name", "ana"),
            ("password", PASSWORD),
            ("csrf", &token),
        ])))
        .unwrap();
    let reply = h.send(&proxied, request).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let signed_in = h.store.audit_page(1, None).await.unwrap();
    assert_eq!(signed_in[0].entry.client.as_deref(), Some("198.51.100.7"));
}

async fn the_session_id_changes_at_sign_in_and_only_its_hash_is_kept(db: Db) {
    let h = harness(db, "new-id", "").await;
    h.add_staff("ana", Role::Owner).await;
    let mut browser = Browser::default();
    // A session id planted before the sign-in (fixation) is not the one signed in.
    browser
        .cookies
        .push((SESSION_COOKIE.into(), "planted".into()));
    h.sign_in_as(&mut browser, "ana", PASSWORD).await;
    let first = browser.cookie(SESSION_COOKIE).unwrap().to_owned();
    assert_ne!(first, "planted");
    assert_eq!(first.len(), 64);
    assert!(
        h.store.session(&first).await.unwrap().is_none(),
        "the id is not kept"
    );
    assert!(
        h.store
            .session(&hash_session_id(&first))
            .await
            .unwrap()
            .is_some()
    );

    let reply = h.sign_in_as(&mut browser, "ana", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let second = browser.cookie(SESSION_COOKIE).unwrap().to_owned();
    assert_ne!(second, first, "a new id at each sign-in");
    assert!(
        h.store
            .session(&hash_session_id(&first))
            .await
            .unwrap()
            .is_none(),
        "the session the browser came with ended"
    );
    let mut old = Browser::default();
    old.cookies.push((SESSION_COOKIE.into(), first));
    assert_eq!(
        h.get(&mut old, "/console/orders").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        h.get(&mut browser, "/console/orders").await.status,
        StatusCode::OK
    );
}

async fn sign_out_ends_the_session_on_the_server(db: Db) {
    let h = harness(db, "sign-out", "").await;
    let (mut browser, csrf) = h.signed_in("ana", Role::Owner).await;
    let id = browser.cookie(SESSION_COOKIE).unwrap().to_owned();
    let reply = h
        .post(&mut browser, "/console/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/console/sign-in");
    let removed = reply.set_cookie(SESSION_COOKIE).unwrap();
    assert!(removed.contains("Max-Age=0"), "{removed}");
    assert!(
        h.store
            .session(&hash_session_id(&id))
            .await
            .unwrap()
            .is_none()
    );
    // The cookie kept (a copy, another tab, a replica) opens nothing any more.
    let mut copy = Browser::default();
    copy.cookies.push((SESSION_COOKIE.into(), id));
    let reply = h.get(&mut copy, "/console/orders").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/console/sign-in");
    assert_eq!(h.actions().await[0], "session.sign_out");
}

async fn an_idle_or_old_session_ends(db: Db) {
    let h = harness(
        db,
        "idle",
        "[console]\nidle_timeout_minutes = 30\nsession_lifetime_hours = 12",
    )
    .await;
    let (mut browser, _) = h.signed_in("ana", Role::Owner).await;
    let id = hash_session_id(browser.cookie(SESSION_COOKIE).unwrap());
    let now = now_ms();
    h.store.touch_session(&id, now - 29 * 60_000).await.unwrap();
    assert_eq!(
        h.get(&mut browser, "/console/orders").await.status,
        StatusCode::OK
    );
    let touched = h.store.session(&id).await.unwrap().unwrap();
    assert!(touched.last_seen_at >= now, "its use written down");
    h.store.touch_session(&id, now - 30 * 60_000).await.unwrap();
    let idle = h.get(&mut browser, "/console/orders").await;
    assert_eq!(idle.status, StatusCode::SEE_OTHER, "idle for 30 minutes");
    assert!(
        h.store.session(&id).await.unwrap().is_none(),
        "and forgotten"
    );
}

async fn the_session_cookie_is_httponly_strict_and_secure_over_tls(db: Db) {
    let h = harness(db, "cookie", "").await;
    h.add_staff("ana", Role::Owner).await;
    let mut plain = Browser::from("127.0.0.1:5000");
    let reply = h.sign_in_as(&mut plain, "ana", PASSWORD).await;
    let cookie = reply.set_cookie(SESSION_COOKIE).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // Over TLS, as the merchant's proxy (trusted) says: Secure.
    let mut tls = Browser {
        forwarded_proto: Some("https"),
        ..Browser::from("10.0.0.1:443")
    };
    let reply = h.sign_in_as(&mut tls, "ana", PASSWORD).await;
    let cookie = reply.set_cookie(SESSION_COOKIE).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Anyone else saying so is not believed.
    let mut liar = Browser {
        forwarded_proto: Some("https"),
        ..Browser::from("203.0.113.9:5000")
    };
    let reply = h.sign_in_as(&mut liar, "ana", PASSWORD).await;
    assert!(!reply.set_cookie(SESSION_COOKIE).unwrap().contains("Secure"));

    let configured = harness(db, "cookie-secure", "[console]\nsecure_cookies = true").await;
    configured.add_staff("ana", Role::Owner).await;
    let mut browser = Browser::default();
    let reply = configured.sign_in_as(&mut browser, "ana", PASSWORD).await;
    let cookie = reply.set_cookie(SESSION_COOKIE).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

async fn a_script_in_a_description_reference_or_note_is_shown_escaped_and_csv_cells_are_no_formulas(
    db: Db,
) {
    let h = harness(db, "escaped", "").await;
    let id = h
        .order(
            "25.00",
            "USD",
            "<script>alert('description')</script>",
            "=HYPERLINK(\"http://evil.example\")<script>alert('reference')</script>",
        )
        .await;
    let (mut operator, csrf) = h.signed_in("oli", Role::Operator).await;
    let note = "<script>alert('note')</script>";
    let formula = "=cmd|' /C calc'!A0";
    for text in [note, formula, "+1", "-1", "@SUM(1)"] {
        let reply = h
            .post(
                &mut operator,
                &format!("/console/orders/{id}/notes"),
                &[("csrf", &csrf), ("note", text)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    }
    for path in [
        "/console/orders".to_owned(),
        format!("/console/orders/{id}"),
        "/console/audit".to_owned(),
    ] {
        let page = h.get(&mut operator, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("<script>alert"),
            "{path}: {}",
            page.body
        );
        assert!(
            page.body.contains("&lt;script&gt;alert("),
            "{path}: {}",
            page.body
        );
    }
    let page = h.get(&mut operator, "/console/orders").await;
    let amount = page.body.find("25.00 USD").expect("the fiat amount");
    assert!(
        amount < page.body.find("description").unwrap(),
        "shown first"
    );

    let csv = h.get(&mut operator, "/console/audit.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        csv.body
            .starts_with("time,actor,client,action,subject,before,after,note,id\r\n")
    );
    for line in csv.body.lines() {
        for cell in line.split(',') {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a formula cell: {cell:?} in {line:?}"
            );
        }
    }
    assert!(csv.body.contains("\"'=cmd|' /C calc'!A0\""), "{}", csv.body);
    assert!(csv.body.contains("\"'+1\""), "{}", csv.body);
    assert!(csv.body.contains("\"'@SUM(1)\""), "{}", csv.body);
    assert!(csv.body.contains(note), "kept as text: {}", csv.body);
}

async fn orders_are_filtered_searched_and_paged_newest_first(db: Db) {
    let h = harness(db, "orders", "").await;
    let mug = h.order("12.50", "USDT", "Mug", "ref-mug").await;
    let tee = h.order("25", "USD", "T-shirt", "ref-tee").await;
    let (mut viewer, _) = h.signed_in("vic", Role::Viewer).await;
    let list = h.get(&mut viewer, "/console/orders").await;
    let (at_tee, at_mug) = (list.body.find(&tee).unwrap(), list.body.find(&mug).unwrap());
    assert!(at_tee < at_mug, "newest first");
    for (query, finds_mug, finds_tee) in [
        (mug.clone(), true, false),
        ("ref-tee".to_owned(), false, true),
        ("12.5".to_owned(), true, false),
        ("12.500".to_owned(), true, false),
        ("25.00".to_owned(), false, true),
        ("nothing-like-it".to_owned(), false, false),
        (format!("0x{}", "ab".repeat(32)), false, false),
    ] {
        let page = h
            .get(&mut viewer, &format!("/console/orders?q={query}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        assert_eq!(page.body.contains(&mug), finds_mug, "{query}");
        assert_eq!(page.body.contains(&tee), finds_tee, "{query}");
    }
    let open = h.get(&mut viewer, "/console/orders?state=open").await;
    assert!(open.body.contains(&mug) && open.body.contains(&tee));
    let paid = h.get(&mut viewer, "/console/orders?state=paid&q=").await;
    assert!(!paid.body.contains(&mug), "{}", paid.body);
    assert!(paid.body.contains("No orders match"));
    let bad = h.get(&mut viewer, "/console/orders?state=lost").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Pages of 50, newest first, each after the last one seen.
    for i in 0..55 {
        h.order("1", "USDT", &format!("Sticker {i}"), "").await;
    }
    let first = h.get(&mut viewer, "/console/orders").await;
    assert!(first.body.contains("Sticker 54") && !first.body.contains("Sticker 4<"));
    let older = first
        .body
        .split("href=\"")
        .find_map(|s| {
            s.strip_prefix("/console/orders?")
                .filter(|s| s.contains("before="))
        })
        .map(|s| {
            format!(
                "/console/orders?{}",
                &s[..s.find('"').unwrap()].replace("&amp;", "&")
            )
        })
        .expect("a link to older orders");
    let second = h.get(&mut viewer, &older).await;
    assert_eq!(second.status, StatusCode::OK, "{older}");
    assert!(second.body.contains(&mug) && second.body.contains("Sticker 4<"));
    assert!(!second.body.contains("Sticker 54"));
}

async fn a_session_made_on_one_server_works_on_another_and_ends_on_both(db: Db) {
    let first = harness(db, "replicas", "").await;
    let second = first.another_server().await;
    let (mut browser, _) = first.signed_in("ana", Role::Operator).await;
    let page = second.get(&mut browser, "/console/orders").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("ana (operator)"), "{}", page.body);
    // A form made on one server is taken by the other: the token is the session's, kept in
    // the database with it.
    let id = first.order("12", "USDT", "Mug", "r-1").await;
    let csrf = page.csrf();
    let noted = second
        .post(
            &mut browser,
            &format!("/console/orders/{id}/notes"),
            &[("csrf", &csrf), ("note", "seen on the second server")],
        )
        .await;
    assert_eq!(noted.status, StatusCode::SEE_OTHER, "{}", noted.body);
    // Signed out on the second, the session is over on the first too.
    let copy = browser.clone();
    let out = second
        .post(&mut browser, "/console/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let reply = first.get(&mut copy.clone(), "/console/orders").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/console/sign-in");
}

/// A USDT payment on the test chain (31337, 6 decimals) from `from`.
fn payment(tx: &str, from: &str, value: u128) -> ChainPayment {
    let usdt = usdt_checkout_protocol::ChainRegistry::builtin()
        .chain(ChainId(31337))
        .unwrap()
        .token("USDT")
        .unwrap()
        .contract;
    ChainPayment {
        tx_id: tx.parse::<TxHash>().unwrap(),
        log_index: 0,
        block_number: 7,
        block_hash: format!("0x{}", "11".repeat(32)),
        from: from.parse::<Address>().unwrap(),
        to: "0x00000000000000000000000000000000000000aa"
            .parse()
            .unwrap(),
        token: usdt,
        value,
        kind: PaymentKind::Transfer,
        order_no: None,
        timestamp_ms: now_ms(),
    }
}

async fn orders_are_found_by_transaction_and_payer_and_unmatched_payments_are_counted(db: Db) {
    let h = harness(db, "chain-search", "").await;
    let mug = h.order("12", "USDT", "Mug", "r-mug").await;
    let tee = h.order("25", "USD", "T-shirt", "r-tee").await;
    let paid = payment(
        &format!("0x{}", "ab".repeat(32)),
        "0x52908400098527886e0f7030069857d2e4169ee7",
        12_000_000,
    );
    let stray = payment(
        &format!("0x{}", "cd".repeat(32)),
        "0xde709f2102306220921060314715629080e2fb77",
        3_500_000,
    );
    let mut write = h.store.begin().await.unwrap();
    assert!(
        write
            .record_chain_payment(ChainId(31337), &paid, Some(&mug))
            .await
            .unwrap()
    );
    assert!(
        write
            .record_chain_payment(ChainId(31337), &stray, None)
            .await
            .unwrap()
    );
    write.commit().await.unwrap();

    let (mut viewer, _) = h.signed_in("vic", Role::Viewer).await;
    for query in [
        format!("0x{}", "AB".repeat(32)),
        "0x52908400098527886e0f7030069857d2e4169ee7".to_owned(),
        "0x52908400098527886E0F7030069857D2E4169EE7".to_owned(),
    ] {
        let page = h
            .get(&mut viewer, &format!("/console/orders?q={query}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert!(page.body.contains(&mug), "{query}: {}", page.body);
        assert!(!page.body.contains(&tee), "{query}");
    }
    let stray_hash = format!("0x{}", "cd".repeat(32));
    let page = h
        .get(&mut viewer, &format!("/console/orders?q={stray_hash}"))
        .await;
    assert!(
        page.body.contains("No orders match"),
        "an unmatched payment pays no order"
    );

    let exceptions = h.get(&mut viewer, "/console/exceptions").await;
    assert_eq!(exceptions.status, StatusCode::OK);
    assert!(exceptions.body.contains(&stray_hash), "{}", exceptions.body);
    assert!(exceptions.body.contains("3.5 USDT"), "{}", exceptions.body);
    assert!(!exceptions.body.contains(&format!("0x{}", "ab".repeat(32))));
    let orders = h.get(&mut viewer, "/console/orders").await;
    assert!(
        orders.body.contains(r#"<span class="count">1</span>"#),
        "the navigation counts it: {}",
        orders.body
    );
}

/// An order's terms on the test chain (31337): `amount_atomic` USDT (6 decimals) to pay into
/// `RECEIVER`, as if the gateway made order `order_no`, its own id `P-1`.
fn local_terms(
    app: &App,
    order_no: &str,
    amount_atomic: u128,
) -> usdt_checkout_server::domain::PaymentTerms {
    let chain = ChainId(31337);
    usdt_checkout_server::domain::PaymentTerms {
        chain_id: chain,
        symbol: "USDT".into(),
        token_contract: app.config.registry.token(chain, "USDT").unwrap().contract,
        decimals: 6,
        amount_atomic,
        gateway_order_no: order_no.into(),
        plat_order_no: "P-1".into(),
        pay_amount_atomic: amount_atomic,
        to_address: RECEIVER.parse().unwrap(),
        cashier_url: String::new(),
        expires_at: now_ms() + 900_000,
        required_confirmations: 2,
    }
}

const RECEIVER: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

async fn orders_and_payments_export_as_csv_for_a_range_of_days(db: Db) {
    let h = harness(db, "export", "").await;
    let mug = h.order("12.50", "USDT", "Mug", "ref-mug").await;
    let tee = h
        .order(
            "25.00",
            "USD",
            "=cmd|' /C calc'!A0 <script>alert(1)</script>",
            "@SUM(1)",
        )
        .await;
    // The mug's order asks 12.500001 USDT.
    h.app
        .checkouts
        .attach_order(&mug, &local_terms(&h.app, "mug-a", 12_500_001))
        .await
        .unwrap();
    let paid = payment(
        &format!("0x{}", "ab".repeat(32)),
        "0x52908400098527886e0f7030069857d2e4169ee7",
        12_500_001,
    );
    let stray = payment(
        &format!("0x{}", "cd".repeat(32)),
        "0xde709f2102306220921060314715629080e2fb77",
        3_500_000,
    );
    let mut old = payment(
        &format!("0x{}", "ef".repeat(32)),
        "0xde709f2102306220921060314715629080e2fb77",
        1_000_000,
    );
    old.timestamp_ms = now_ms() - 40 * 86_400_000;
    let mut write = h.store.begin().await.unwrap();
    write
        .record_chain_payment(ChainId(31337), &paid, Some(&mug))
        .await
        .unwrap();
    write
        .record_chain_payment(ChainId(31337), &stray, None)
        .await
        .unwrap();
    write
        .record_chain_payment(ChainId(31337), &old, None)
        .await
        .unwrap();
    write.commit().await.unwrap();

    // A viewer may export: it changes nothing.
    let (mut viewer, _) = h.signed_in("vic", Role::Viewer).await;
    let page = h.get(&mut viewer, "/console/export").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let today = &usdt_checkout_server::console::layout::rfc3339(now_ms())[..10];
    assert!(
        page.body.contains(&format!(r#"name="to" value="{today}""#)),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"type="date""#));

    let csv = h.get(&mut viewer, "/console/export/orders.csv").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let orders = csv_records(&csv.body);
    assert_eq!(orders.len(), 2, "{}", csv.body);
    // Oldest first (two orders of one millisecond by id).
    let order: Vec<(&str, &str)> = orders
        .iter()
        .map(|o| (o["created_at"].as_str(), o["order_id"].as_str()))
        .collect();
    assert!(order.is_sorted(), "{order:?}");
    let exported: Vec<String> = orders.iter().map(|o| o["order_id"].clone()).collect();
    let row = |id: &str| orders.iter().find(|o| o["order_id"] == id).unwrap();
    let (first, second) = (row(&mug), row(&tee));
    assert_eq!(
        (
            first["fiat_amount"].as_str(),
            first["fiat_currency"].as_str()
        ),
        ("12.50", "USDT")
    );
    assert_eq!(first["customer_reference"], "ref-mug");
    assert_eq!(first["transactions"], paid.tx_id.as_str());
    assert_eq!(first["refunds"], "");
    assert_eq!(
        (
            first["token"].as_str(),
            first["chain"].as_str(),
            first["amount_asked"].as_str(),
            first["gateway_order"].as_str()
        ),
        ("USDT", "Local chain", "12.500001", "mug-a")
    );
    assert_eq!(second["amount_asked"], "", "no order asked yet");
    assert_eq!(second["order_id"], tee);
    assert_eq!(second["fiat_amount"], "25.00");
    assert_eq!(
        second["description"], "'=cmd|' /C calc'!A0 <script>alert(1)</script>",
        "no formula: {}",
        csv.body
    );
    assert_eq!(second["customer_reference"], "'@SUM(1)");
    assert!(second["created_at"].starts_with(today) && second["created_at"].ends_with('Z'));

    let csv = h.get(&mut viewer, "/console/export/payments.csv").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    let payments = csv_records(&csv.body);
    assert_eq!(payments.len(), 2, "not the one 40 days old: {}", csv.body);
    let attached = payments.iter().find(|p| p["order_id"] == mug).unwrap();
    assert_eq!(
        (
            attached["amount"].as_str(),
            attached["token"].as_str(),
            attached["state"].as_str()
        ),
        ("12.500001", "USDT", "attached")
    );
    assert_eq!(attached["transaction"], paid.tx_id.as_str());
    assert_eq!(
        attached["payer"],
        "0x52908400098527886E0F7030069857D2E4169EE7"
    );
    assert_eq!(
        (attached["block"].as_str(), attached["log_index"].as_str()),
        ("7", "0")
    );
    let unmatched = payments.iter().find(|p| p["order_id"].is_empty()).unwrap();
    assert_eq!(
        (unmatched["amount"].as_str(), unmatched["state"].as_str()),
        ("3.5", "unmatched")
    );

    // A range: the old payment alone; a range of yesterday has no order of today's.
    let day = |ms: u64| usdt_checkout_server::console::layout::rfc3339(ms)[..10].to_owned();
    let old_day = day(old.timestamp_ms);
    let csv = h
        .get(
            &mut viewer,
            &format!("/console/export/payments.csv?from={old_day}&to={old_day}"),
        )
        .await;
    let payments = csv_records(&csv.body);
    assert_eq!(payments.len(), 1, "{}", csv.body);
    assert_eq!(payments[0]["amount"], "1");
    let yesterday = day(now_ms() - 86_400_000);
    let csv = h
        .get(
            &mut viewer,
            &format!("/console/export/orders.csv?from={old_day}&to={yesterday}"),
        )
        .await;
    assert_eq!(csv_records(&csv.body).len(), 0, "{}", csv.body);
    let wrong = h
        .get(&mut viewer, "/console/export/orders.csv?from=2026-02-30")
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);

    // The store's pages, one row at a time, cover the range once each, in order.
    let (start, end) = (now_ms() - 50 * 86_400_000, now_ms() + 86_400_000);
    let mut after: Option<(u64, String)> = None;
    let mut seen = vec![];
    loop {
        let after_ref = after.as_ref().map(|(at, id)| (*at, id.as_str()));
        let page = h
            .store
            .orders_created(start, end, after_ref, 1)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        seen.push(last.id.clone());
        after = Some((last.created_at, last.id.clone()));
    }
    assert_eq!(seen, exported);
    let mut after = None;
    let mut seen = vec![];
    loop {
        let page = h
            .store
            .payments_mined(start, end, after.as_ref(), 1)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        let p = &last.payment;
        seen.push(p.value);
        after = Some((
            p.timestamp_ms,
            last.chain.0,
            p.tx_id.as_str().to_owned(),
            p.log_index,
        ));
    }
    seen.sort_unstable();
    assert_eq!(seen, [1_000_000, 3_500_000, 12_500_001]);

    // Each export is audited, with who and which days.
    let log = h.store.audit_page(100, None).await.unwrap();
    let exports: Vec<_> = log
        .iter()
        .filter(|r| r.entry.action.starts_with("export."))
        .map(|r| {
            (
                r.entry.action.as_str(),
                r.entry.actor.as_str(),
                r.entry.note.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(exports.len(), 4, "{exports:?}");
    assert!(exports.contains(&("export.payments", "vic", format!("{old_day} to {old_day}"))));
    assert!(exports.contains(&("export.orders", "vic", format!("{old_day} to {yesterday}"))));
}

async fn a_paid_orders_page_shows_each_of_its_events_escaped_on_one_timeline(db: Db) {
    use usdt_checkout_chain::{Cursor, Step};
    use usdt_checkout_protocol::gateway::GatewayStatus;
    use usdt_checkout_server::checkouts::Source;
    use usdt_checkout_server::gateway::GatewayReport;

    let h = harness(
        db,
        "timeline",
        "[[chains]]\nid = 31337\nexplorer_url = \"https://scan.example\"\n",
    )
    .await;
    let id = h
        .order("25.00", "USD", "<script>alert('mug')</script>", "ref-1")
        .await;
    let chain = ChainId(31337);
    let receiver: Address = RECEIVER.parse().unwrap();
    let order_no = format!("{id}-a");
    h.app
        .checkouts
        .attach_order(&id, &local_terms(&h.app, &order_no, 25_000_001))
        .await
        .unwrap();
    // The shopper claims another payment first: it waits for review.
    let claimed = payment(
        &format!("0x{}", "cd".repeat(32)),
        "0xde709f2102306220921060314715629080e2fb77",
        1_000_000,
    );
    let mut write = h.store.begin().await.unwrap();
    write
        .request_claim(chain, &claimed, &id, now_ms())
        .await
        .unwrap();
    write.commit().await.unwrap();
    // The chain shows the payment, then two blocks more.
    let mut paid = payment(
        &format!("0x{}", "ab".repeat(32)),
        "0x52908400098527886e0f7030069857d2e4169ee7",
        25_000_001,
    );
    paid.to = receiver;
    paid.block_number = 100;
    h.app
        .checkouts
        .apply_chain(
            chain,
            &Step {
                head: 102,
                fork: None,
                payments: vec![paid.clone()],
                next: Cursor {
                    next_block: 103,
                    recent: vec![],
                },
            },
        )
        .await
        .unwrap();
    let report = |plat: &str| GatewayReport {
        order_no: Some(order_no.clone()),
        plat_order_no: Some(plat.into()),
        status: GatewayStatus::Success,
        amount: Some("25.000001".parse().unwrap()),
        tx_id: Some(paid.tx_id.clone()),
        chain_id: None,
        symbol: None,
        account: None,
    };
    // A report about another of the gateway's orders is refused; ours makes it paid.
    h.app
        .checkouts
        .apply_report(&report("P-other"), Source::Webhook)
        .await
        .unwrap();
    h.app
        .checkouts
        .apply_report(&report("P-1"), Source::Webhook)
        .await
        .unwrap();
    let stored = h.store.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.state.as_str(), "paid");
    // The fulfillment event was sent once and refused, with an answer of the receiver's own.
    h.store
        .mark_attempt(
            &format!("ful_{id}"),
            1,
            now_ms(),
            Err((
                "HTTP 500: <script>alert('answer')</script>".into(),
                now_ms() + 60_000,
            )),
        )
        .await
        .unwrap();
    let (mut operator, csrf) = h.signed_in("oli", Role::Operator).await;
    let noted = h
        .post(
            &mut operator,
            &format!("/console/orders/{id}/notes"),
            &[("csrf", &csrf), ("note", "<script>alert('note')</script>")],
        )
        .await;
    assert_eq!(noted.status, StatusCode::SEE_OTHER, "{}", noted.body);

    let page = h.get(&mut operator, &format!("/console/orders/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(!body.contains("<script>alert"), "{body}");
    let h1 = &body[body.find("<h1>").unwrap()..];
    assert!(
        h1.starts_with(&format!("<h1>25.00 USD · order {id}")),
        "fiat first: {h1:.80}"
    );
    let tx = paid.tx_id.as_str();
    let timeline = &body[body.find("Timeline").expect("a timeline")..];
    for event in [
        "Created",
        "25.000001 USDT on",
        "The shopper claimed a payment: under review",
        &format!("0x{}", "cd".repeat(32)),
        "Chain payment of 25.000001 USDT",
        "<dt>Block</dt><dd>100</dd>",
        "<dt>Confirmations</dt><dd>3</dd>",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        &format!(r#"href="https://scan.example/tx/{tx}""#),
        "Gateway report refused (webhook): success",
        "P-other",
        "Gateway webhook: success",
        "The gateway confirmed it paid",
        "Fulfillment event queued",
        "<dt>Attempts</dt><dd>1</dd>",
        "HTTP 500: &lt;script&gt;alert(",
        "Signed receipt issued",
        &format!(r#"href="/api/checkouts/{id}/receipt""#),
        "Note by oli",
        "&lt;script&gt;alert('note')&lt;/script&gt;",
    ] {
        assert!(timeline.contains(event), "{event:?} in {timeline}");
    }
    assert_eq!(
        timeline.matches("Gateway webhook: success").count(),
        1,
        "the refused one is not said applied: {timeline}"
    );
    let at = |event: &str| timeline.find(event).unwrap();
    assert!(at("Created") < at("Chain payment"), "oldest first");
    assert!(at("Chain payment") < at("Fulfillment event queued"));
    assert!(at("Fulfillment event queued") < at("Note by oli"));
    assert!(body.contains("&lt;script&gt;alert('mug')&lt;/script&gt;"));
    let receipt = h
        .get(&mut operator, &format!("/api/checkouts/{id}/receipt"))
        .await;
    assert_eq!(receipt.status, StatusCode::OK, "the link leads to it");
}
