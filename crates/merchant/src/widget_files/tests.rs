use super::*;

use axum::body::Body;
use tower::ServiceExt;

const WASM: &str = "core/usdt-checkout_bg.0123456789abcdef.wasm";

#[test]
fn a_name_with_a_content_hash_is_immutable_and_the_entry_is_not() {
    for path in [
        "/checkout/core/usdt-checkout.0123456789abcdef.js",
        "/checkout/core/usdt-checkout_bg.0123456789abcdef.wasm",
        "/checkout/usdt-checkout.fedcba9876543210.css",
        "/checkout/locales/0123456789abcdef/pt-BR.json",
    ] {
        assert_eq!(freshness(path), Freshness::Immutable, "{path}");
    }
    for path in [
        "/checkout/usdt-checkout.js",
        "/checkout/core/usdt-checkout_bg.wasm",
        "/checkout/locales/de.json",
        // Not a hash as the build writes one: too short, too long, not lowercase hex.
        "/checkout/core/usdt-checkout.0123456789abcde.js",
        "/checkout/core/usdt-checkout.0123456789abcdef0.js",
        "/checkout/core/usdt-checkout.0123456789ABCDEF.js",
        "/checkout/core/usdt-checkout.0123456789abcdeg.js",
    ] {
        assert_eq!(freshness(path), Freshness::Revalidate, "{path}");
    }
}

#[test]
fn only_a_file_found_is_kept() {
    let kept = |status| cache_control(status, Freshness::Immutable);
    assert_eq!(kept(StatusCode::OK), "public, max-age=31536000, immutable");
    assert_eq!(
        kept(StatusCode::NOT_MODIFIED),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(kept(StatusCode::NOT_FOUND), "no-store");
    assert_eq!(
        cache_control(StatusCode::OK, Freshness::Revalidate),
        "public, max-age=300"
    );
    assert_eq!(
        cache_control(StatusCode::NOT_FOUND, Freshness::Revalidate),
        "no-store"
    );
}

/// A built widget's layout, with stand-ins for its bytes: only how they are served is under test.
fn widget_dir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("widget-files-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(dir.join("core")).unwrap();
    std::fs::write(dir.join(WASM), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join(format!("{WASM}.br")), b"brotli bytes").unwrap();
    std::fs::write(dir.join(format!("{WASM}.gz")), b"gzip bytes").unwrap();
    std::fs::write(
        dir.join("usdt-checkout.js"),
        format!("import \"./{WASM}\";"),
    )
    .unwrap();
    dir
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(&name).map_or("", |v| v.to_str().unwrap())
    }

    fn varies_by_encoding(&self) -> bool {
        self.headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("accept-encoding"))
    }
}

async fn get(dir: &Path, path: &str, headers: &[(header::HeaderName, &str)]) -> Answer {
    let mut request = Request::get(format!("/checkout/{path}"));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = routes::<()>(dir)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn hashed_files_are_kept_a_year_and_the_entry_five_minutes() {
    let dir = widget_dir();

    let wasm = get(&dir, WASM, &[]).await;
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(
        wasm.header(header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(wasm.header(header::CONTENT_TYPE), "application/wasm");
    assert_eq!(wasm.body, b"\0asm\x01\0\0\0");

    let entry = get(&dir, "usdt-checkout.js", &[]).await;
    assert_eq!(entry.status, StatusCode::OK);
    assert_eq!(entry.header(header::CACHE_CONTROL), "public, max-age=300");
    assert!(entry.header(header::CONTENT_TYPE).contains("javascript"));
    // Revalidated once its five minutes are up: unchanged, it costs a 304 and no body.
    let modified = entry.header(header::LAST_MODIFIED).to_owned();
    assert!(!modified.is_empty(), "{:?}", entry.headers);
    let again = get(
        &dir,
        "usdt-checkout.js",
        &[(header::IF_MODIFIED_SINCE, &modified)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_previous_builds_hashed_name_is_not_found_and_not_kept() {
    let dir = widget_dir();
    let stale = get(&dir, "core/usdt-checkout_bg.fedcba9876543210.wasm", &[]).await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
    assert_eq!(stale.header(header::CACHE_CONTROL), "no-store");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_encoding_is_the_one_the_browser_accepts_and_caches_are_told() {
    let dir = widget_dir();
    for (accepted, encoding, body) in [
        (Some("gzip, deflate, br"), "br", &b"brotli bytes"[..]),
        (Some("gzip"), "gzip", b"gzip bytes"),
        (None, "", b"\0asm\x01\0\0\0"),
    ] {
        let headers: Vec<_> = accepted
            .map(|a| (header::ACCEPT_ENCODING, a))
            .into_iter()
            .collect();
        let wasm = get(&dir, WASM, &headers).await;
        assert_eq!(wasm.status, StatusCode::OK, "{accepted:?}");
        assert_eq!(wasm.header(header::CONTENT_ENCODING), encoding);
        assert_eq!(wasm.body, body, "{accepted:?}");
        assert_eq!(wasm.header(header::CONTENT_TYPE), "application/wasm");
        assert!(
            wasm.varies_by_encoding(),
            "{accepted:?}: {:?}",
            wasm.headers
        );
        assert_eq!(
            wasm.header(header::CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "each encoding of a hashed file is kept alike"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
