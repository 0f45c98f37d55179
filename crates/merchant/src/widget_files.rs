//! The built widget's files at `/checkout/`, as `cargo xtask widget` writes them: the entry a
//! storefront's `<script>` tag names (`usdt-checkout.js`, a stable URL), and the files it loads,
//! each named by a hash of its content (`core/usdt-checkout.<hash>.js`, its wasm, its stylesheet,
//! `locales/<hash>/<tag>.json`). A content-named file never changes, so a browser keeps it for a
//! year without asking again; the entry is kept five minutes, then revalidated, so a new build
//! reaches every shopper within five minutes and a returning shopper downloads only the entry's
//! 304. Each file is also written brotli- and gzip-compressed beside it, served to a browser that
//! accepts either, compressed once at build time rather than per request.

use std::path::Path;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The digits of a content hash in a file's or folder's name (lowercase hex), as the build
/// writes them.
pub const HASH_DIGITS: usize = 16;

/// How long a browser or a shared cache may keep a file before asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Named by its content: the same URL is the same bytes, forever.
    Immutable,
    /// A stable name whose content changes with each build: kept briefly, then revalidated
    /// (`If-Modified-Since`, answered 304 while the file is unchanged).
    Revalidate,
}

/// Whether `path` names content-addressed bytes: one of its parts, between `/` and `.`, is a
/// hash as the build writes it (`core/usdt-checkout.0123456789abcdef.js`,
/// `locales/0123456789abcdef/de.json`).
pub fn freshness(path: &str) -> Freshness {
    let hashed = path.split(['/', '.']).any(|part| {
        part.len() == HASH_DIGITS && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if hashed {
        Freshness::Immutable
    } else {
        Freshness::Revalidate
    }
}

/// The `Cache-Control` of an answer. Only a file found is kept: a 404 for a hashed name (a
/// page still naming the previous build's files, or a server not yet given the new ones) must
/// not be remembered for a year under a name that may exist a moment later.
pub fn cache_control(status: StatusCode, freshness: Freshness) -> &'static str {
    let found = status.is_success() || status == StatusCode::NOT_MODIFIED;
    match (found, freshness) {
        (false, _) => "no-store",
        (true, Freshness::Immutable) => "public, max-age=31536000, immutable",
        (true, Freshness::Revalidate) => "public, max-age=300",
    }
}

/// `/checkout/*` from `dir`.
pub fn routes<S: Clone + Send + Sync + 'static>(dir: &Path) -> axum::Router<S> {
    axum::Router::new()
        .nest_service(
            "/checkout",
            ServeDir::new(dir).precompressed_br().precompressed_gzip(),
        )
        .layer(axum::middleware::from_fn(with_cache_control))
        // The bytes depend on Accept-Encoding, on every answer: caches must keep each encoding
        // apart.
        .layer(SetResponseHeaderLayer::appending(
            header::VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
}

async fn with_cache_control(request: Request, next: Next) -> Response {
    let freshness = freshness(request.uri().path());
    let mut response = next.run(request).await;
    let value = cache_control(response.status(), freshness);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

#[cfg(test)]
mod tests;
