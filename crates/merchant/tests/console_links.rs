//! Payment links in-process, on SQLite and on PostgreSQL: made in the console (operators, with
//! CSRF, audited) and through the admin API (`payUrl`), listed with their states, shown escaped,
//! and paid on the hosted page `/pay/{id}`, in the shopper's language, until their end.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::Db;
use common::console::*;
use serde_json::{Value, json};
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::config::{self, Database};
use usdt_checkout_server::staff::Role;

on_both!(
    an_operator_makes_a_link_in_the_console_and_it_is_listed_escaped,
    a_viewer_or_a_form_without_its_token_makes_no_link,
    the_admin_api_makes_a_link_with_its_pay_url_and_refuses_a_bad_end,
    the_pay_page_speaks_the_shoppers_language_under_a_strict_policy,
    a_link_past_its_end_cannot_be_started_and_its_page_says_so,
    the_links_pages_need_a_session_and_list_by_pages,
);

const SCRIPT: &str = "<script>alert('d')</script>";
const IMAGE: &str = "<img src=x onerror=alert('r')>";

/// A link made through the admin API: its answer.
async fn api_link(h: &Harness, body: Value) -> Reply {
    let request = Request::post("/api/admin/checkouts")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    h.send(&Browser::default(), request).await
}

/// The hosted page of `id`, asked for in `languages` (an `Accept-Language`).
async fn pay_page(h: &Harness, id: &str, languages: &str) -> Reply {
    let request = Request::get(format!("/pay/{id}"))
        .header(header::ACCEPT_LANGUAGE, languages)
        .body(Body::empty())
        .unwrap();
    h.send(&Browser::default(), request).await
}

/// The id the console's redirect names (`/console/links/{id}`).
fn made(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    reply
        .location()
        .strip_prefix("/console/links/")
        .unwrap_or_else(|| panic!("{}", reply.location()))
        .to_owned()
}

async fn an_operator_makes_a_link_in_the_console_and_it_is_listed_escaped(db: Db) {
    let h = harness(db, "links-console", "").await;
    let (mut browser, csrf) = h.signed_in("ana", Role::Operator).await;
    let page = h.get(&mut browser, "/console/links").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(r#"aria-current="page">Payment links"#),
        "{}",
        page.body
    );
    for label in [
        r#"<label for="link-amount">"#,
        r#"<label for="link-currency">"#,
        r#"<label for="link-description">"#,
        r#"<label for="link-reference">"#,
        r#"<label for="link-ends">"#,
    ] {
        assert!(page.body.contains(label), "{label}: {}", page.body);
    }
    let reply = h
        .post(
            &mut browser,
            "/console/links",
            &[
                ("csrf", &csrf),
                ("amount", "25.50"),
                ("currency", "USD"),
                ("description", SCRIPT),
                ("reference", IMAGE),
                ("ends_in_hours", "24"),
            ],
        )
        .await;
    let id = made(&reply);
    let link = h.get(&mut browser, &format!("/console/links/{id}")).await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.body);
    let url = format!("{}/pay/{id}", h.app.config.public_url);
    assert!(
        link.body
            .contains(&format!(r#"<code id="pay-url">{url}</code>"#)),
        "the address, selectable without script: {}",
        link.body
    );
    assert!(link.body.contains(r#"src="/console/static/links.js""#));
    assert!(link.body.contains("25.50 USD"), "{}", link.body);
    let qr = h
        .get(&mut browser, &format!("/console/links/{id}/qr.svg"))
        .await;
    assert_eq!(qr.status, StatusCode::OK, "{}", qr.body);
    assert_eq!(qr.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(
        qr.body.starts_with("<?xml") || qr.body.starts_with("<svg"),
        "{}",
        qr.body
    );
    let script = h.get(&mut browser, "/console/static/links.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.body.contains("clipboard"), "{}", script.body);

    let list = h.get(&mut browser, "/console/links").await;
    for page in [&link.body, &list.body] {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert('d')&lt;/script&gt;"),
            "{page}"
        );
        assert!(
            page.contains("&lt;img src=x onerror=alert('r')&gt;"),
            "{page}"
        );
    }
    assert!(
        list.body.contains(&format!("/console/links/{id}")),
        "{}",
        list.body
    );
    assert!(list.body.contains(r#"data-state="open""#), "{}", list.body);
    assert!(list.body.contains("by ana"), "{}", list.body);

    let audit = h.store.audit_of(&id, 10).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].entry.action, "link.create");
    assert_eq!(audit[0].entry.actor, "ana");
    let (kept, checkout) = h.store.links(10, None).await.unwrap().remove(0);
    assert_eq!(kept.staff.as_deref(), Some("ana"));
    assert_eq!(checkout.reference.as_deref(), Some(IMAGE));
    let end = kept.expires_at.unwrap();
    assert!(end.abs_diff(now_ms() + 24 * 3_600_000) < 60_000, "{end}");

    // An end the form does not offer, or no amount: refused, nothing made.
    for (field, value) in [("ends_in_hours", "2"), ("amount", "")] {
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("amount", "10"),
            ("currency", "USD"),
            ("description", "Tea"),
            ("ends_in_hours", ""),
        ];
        fields.retain(|(name, _)| *name != field);
        fields.push((field, value));
        let refused = h.post(&mut browser, "/console/links", &fields).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            refused.body
        );
    }
    assert_eq!(h.store.links(10, None).await.unwrap().len(), 1);
}

async fn a_viewer_or_a_form_without_its_token_makes_no_link(db: Db) {
    let h = harness(db, "links-viewer", "").await;
    let fields = |csrf| {
        [
            ("csrf", csrf),
            ("amount", "5"),
            ("currency", "USD"),
            ("description", "Tea"),
        ]
    };
    let (mut viewer, csrf) = h.signed_in("vic", Role::Viewer).await;
    let page = h.get(&mut viewer, "/console/links").await;
    assert_eq!(page.status, StatusCode::OK, "viewers read: {}", page.body);
    assert!(
        !page.body.contains(r#"action="/console/links""#),
        "{}",
        page.body
    );
    let refused = h.post(&mut viewer, "/console/links", &fields(&csrf)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let (mut operator, _) = h.signed_in("ana", Role::Operator).await;
    for token in ["", "not-the-token"] {
        let refused = h
            .post(&mut operator, "/console/links", &fields(token))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{token:?}: {}",
            refused.body
        );
    }
    assert!(h.store.links(10, None).await.unwrap().is_empty());
    assert!(!h.actions().await.contains(&"link.create".to_owned()));
}

async fn the_admin_api_makes_a_link_with_its_pay_url_and_refuses_a_bad_end(db: Db) {
    let h = harness(db, "links-api", "").await;
    let end = now_ms() + 3_600_000;
    let reply = api_link(
        &h,
        json!({"amount": "12", "currency": "USDT", "description": SCRIPT,
               "reference": "inv-7", "expiresAt": end}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let created: Value = serde_json::from_str(&reply.body).unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created["payUrl"],
        format!("{}/pay/{id}", h.app.config.public_url)
    );
    assert_eq!(created["linkExpiresAt"], end);
    assert_eq!(created["state"], "open");

    // A link without an end, by `link` alone; a checkout without either is no link.
    let forever = api_link(
        &h,
        json!({"amount": "3", "currency": "USD", "description": "Tea", "link": true}),
    )
    .await;
    assert_eq!(forever.status, StatusCode::CREATED, "{}", forever.body);
    let forever: Value = serde_json::from_str(&forever.body).unwrap();
    assert!(forever["payUrl"].is_string(), "{forever}");
    assert!(forever.get("linkExpiresAt").is_none(), "{forever}");
    let plain = h.order("4", "USD", "Mug", "ref-1").await;
    assert_eq!(
        pay_page(&h, &plain, "en").await.status,
        StatusCode::NOT_FOUND
    );

    let now = now_ms();
    for bad in [now - 1, now + 30_000, now + 400 * 86_400_000] {
        let refused = api_link(
            &h,
            json!({"amount": "1", "currency": "USD", "description": "x", "expiresAt": bad}),
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.body
        );
        assert!(refused.body.contains("expiresAt"), "{}", refused.body);
    }
    let text = api_link(
        &h,
        json!({"amount": "1", "currency": "USD", "description": "x",
               "expiresAt": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        text.status,
        StatusCode::BAD_REQUEST,
        "Unix ms only: {}",
        text.body
    );

    let links = h.store.links(10, None).await.unwrap();
    assert_eq!(links.len(), 2, "the refused made none");
    assert!(links.iter().all(|(l, _)| l.made_by() == "admin API"));
    assert!(
        h.actions()
            .await
            .iter()
            .filter(|a| *a == "link.create")
            .count()
            == 2
    );

    // Listed in the console, escaped, with who made it.
    let (mut browser, _) = h.signed_in("vic", Role::Viewer).await;
    let list = h.get(&mut browser, "/console/links").await;
    assert!(list.body.contains("by admin API"), "{}", list.body);
    assert!(!list.body.contains("<script>alert"), "{}", list.body);

    // `public_url` is where links point, and is checked at startup.
    let elsewhere = format!(
        "public_url = \"https://pay.shop.example/store\"\n{}",
        h.toml
    );
    let config = config::parse(&elsewhere, "test.toml", |_| None).unwrap();
    assert_eq!(config.public_url, "https://pay.shop.example/store");
    for bad in [
        "pay.shop.example",
        "https://pay.shop.example/",
        "https://pay.shop.example/?a=b",
        "https://user:pw@pay.shop.example",
        "ftp://pay.shop.example",
        "https://",
    ] {
        let toml = format!("public_url = \"{bad}\"\n{}", h.toml);
        let error = config::parse(&toml, "test.toml", |_| None).unwrap_err();
        assert!(error.contains("public_url"), "{bad}: {error}");
    }
}

async fn the_pay_page_speaks_the_shoppers_language_under_a_strict_policy(db: Db) {
    let h = harness(db, "links-page", "").await;
    let reply = api_link(
        &h,
        json!({"amount": "9.99", "currency": "USD", "description": SCRIPT, "link": true}),
    )
    .await;
    let created: Value = serde_json::from_str(&reply.body).unwrap();
    let id = created["id"].as_str().unwrap();

    for (accept, lang, dir) in [
        ("ar-EG,ar;q=0.9,en;q=0.5", "ar", "rtl"),
        ("es-MX,es;q=0.9", "es", "ltr"),
        ("zh-TW, ja;q=0.8", "ja", "ltr"),
        ("nl", "en", "ltr"),
    ] {
        let page = pay_page(&h, id, accept).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.body
                .contains(&format!(r#"<html lang="{lang}" dir="{dir}">"#)),
            "{accept}: {}",
            page.body
        );
        assert!(
            page.body.contains(&format!(
                r#"<usdt-checkout merchant-url="/" checkout-id="{id}" locale="{lang}""#
            )),
            "{accept}: {}",
            page.body
        );
        assert_eq!(page.headers[header::CONTENT_LANGUAGE], lang);
    }
    let page = pay_page(&h, id, "en").await;
    assert!(
        page.body
            .contains(r#"<script type="module" src="/checkout/usdt-checkout.js">"#)
    );
    assert_eq!(
        page.body.matches("<script").count(),
        1,
        "no inline script: {}",
        page.body
    );
    assert!(
        page.body
            .contains("&lt;script&gt;alert('d')&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Test shop"),
        "the merchant's name: {}",
        page.body
    );
    assert!(page.body.contains("9.99 USD"), "{}", page.body);
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");

    let css = pay_page(&h, "static/pay.css", "en").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.body.contains("prefers-color-scheme: dark"),
        "{}",
        css.body
    );

    for unknown in ["co_000000000000000000000000", "nothing", "%3Cscript%3E"] {
        let missing = pay_page(&h, unknown, "fr").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{unknown}");
        assert!(
            missing.body.contains("Paiement introuvable"),
            "{}",
            missing.body
        );
        assert!(!missing.body.contains("<usdt-checkout"), "{}", missing.body);
        assert!(!missing.body.contains("<script>"), "{}", missing.body);
    }
}

/// Moves link `id`'s end into the past, as time would.
async fn end_now(h: &Harness, id: &str) {
    let url = match config::parse(&h.toml, "test.toml", |_| None)
        .unwrap()
        .database
    {
        Database::Sqlite(path) => format!("sqlite://{}", path.display()),
        Database::Postgres(url) => url,
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE payment_links SET expires_at = $1 WHERE checkout_id = $2")
        .bind(now_ms() as i64 - 1)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn a_link_past_its_end_cannot_be_started_and_its_page_says_so(db: Db) {
    let h = harness(db, "links-expired", "").await;
    let reply = api_link(
        &h,
        json!({"amount": "5", "currency": "USDT", "description": "Tea",
               "expiresAt": now_ms() + 3_600_000}),
    )
    .await;
    let created: Value = serde_json::from_str(&reply.body).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let widget = |key: &str| {
        Request::post("/api/checkouts")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"checkoutId": id, "chainId": 31337, "symbol": "USDT",
                       "idempotencyKey": key})
                .to_string(),
            ))
            .unwrap()
    };
    // Before its end, the widget's request goes on to the gateway (unreachable here).
    let open = h.send(&Browser::default(), widget("key-before-end")).await;
    assert_ne!(open.status, StatusCode::CONFLICT, "{}", open.body);
    assert!(
        pay_page(&h, &id, "en")
            .await
            .body
            .contains("<usdt-checkout")
    );

    end_now(&h, &id).await;
    let refused = h.send(&Browser::default(), widget("key-after-end")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let error: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(error["code"], "conflict");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("payment link has expired"),
        "{error}"
    );

    let page = pay_page(&h, &id, "en").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("This payment link has expired."),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<usdt-checkout"), "{}", page.body);
    assert!(!page.body.contains("<script"), "{}", page.body);
    let page = pay_page(&h, &id, "de").await;
    assert!(
        page.body.contains("Dieser Zahlungslink ist abgelaufen."),
        "{}",
        page.body
    );

    let (mut browser, _) = h.signed_in("vic", Role::Viewer).await;
    let list = h.get(&mut browser, "/console/links").await;
    assert!(
        list.body.contains(r#"data-state="link_expired""#),
        "{}",
        list.body
    );
    assert!(list.body.contains("Link expired"), "{}", list.body);
}

async fn the_links_pages_need_a_session_and_list_by_pages(db: Db) {
    let h = harness(db, "links-pages", "").await;
    let first = api_link(
        &h,
        json!({"amount": "1", "currency": "USD", "description": "Link 0", "link": true}),
    )
    .await;
    let first: Value = serde_json::from_str(&first.body).unwrap();
    let first = first["id"].as_str().unwrap().to_owned();
    let mut anonymous = Browser::default();
    for path in [
        "/console/links".to_owned(),
        format!("/console/links/{first}"),
        format!("/console/links/{first}/qr.svg"),
    ] {
        let reply = h.get(&mut anonymous, &path).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{path}: {}",
            reply.body
        );
        assert!(reply.location().starts_with("/console/sign-in"), "{path}");
    }
    let reply = h
        .post(&mut anonymous, "/console/links", &[("amount", "1")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);

    // A page holds 50, newest first; the next starts after the last one shown.
    for n in 1..=50 {
        let made = api_link(
            &h,
            json!({"amount": "1", "currency": "USD", "description": format!("Link {n}"),
                   "link": true}),
        )
        .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    }
    let (mut browser, _) = h.signed_in("vic", Role::Viewer).await;
    let page = h.get(&mut browser, "/console/links").await;
    assert!(page.body.contains(">Link 50<"), "{}", page.body);
    assert!(
        !page.body.contains(&format!("/console/links/{first}\"")),
        "{}",
        page.body
    );
    let older = page
        .body
        .split("href=\"")
        .filter_map(|part| part.split('"').next())
        .find(|href| href.starts_with("/console/links?before="))
        .unwrap_or_else(|| panic!("no next page: {}", page.body))
        .replace("&amp;", "&");
    let next = h.get(&mut browser, &older).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert!(
        next.body.contains(&format!("/console/links/{first}\"")),
        "{}",
        next.body
    );
    assert!(!next.body.contains(">Link 50<"), "{}", next.body);
    assert!(
        !next.body.contains("rel=\"next\""),
        "the last page: {}",
        next.body
    );
}
