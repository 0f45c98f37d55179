//! The merchant's staff console, at `/console/`: pages rendered here, on the server, with maud
//! (whose templates escape every value they interpolate), a stylesheet and a small script of its
//! own under `/console/static/`. Nothing of it reaches the shopper's widget.
//!
//! Every route but the sign-in page and the static files is behind a session
//! ([`auth::require_session`], a `route_layer`), and every form that may change something carries
//! the session's CSRF token ([`auth::check_csrf`]); an action names the role it needs in its
//! handler's arguments ([`auth::Operator`], [`auth::Owner`]) and is audited
//! (`crate::store::AuditEntry`, written with its change). One file per page.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::App;
use crate::routes::Table;
use crate::store::{Store, StoreError};

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod csv;
pub mod exceptions;
pub mod export;
pub mod export_refunds;
pub mod layout;
pub mod links;
pub mod live;
pub mod orders;
pub mod refunds;
pub mod settings;
pub mod sign_in;
pub mod timeline;

/// The console's state: the app's, and the live pages' streams open on this server.
pub struct Console {
    pub app: Arc<App>,
    pub live: live::Streams,
}

impl Console {
    pub fn new(app: Arc<App>) -> Self {
        Self::with_live_limits(app, live::Limits::default())
    }

    /// With other limits on the live pages' streams than the defaults.
    pub fn with_live_limits(app: Arc<App>, limits: live::Limits) -> Self {
        Self {
            app,
            live: live::Streams::new(limits),
        }
    }

    fn store(&self) -> &Store {
        self.app.checkouts.store()
    }

    /// What the navigation counts: every open exception, of every kind, and the refunds
    /// requested, waiting for a decision.
    pub async fn exceptions(&self) -> Result<layout::Waiting, StoreError> {
        Ok(layout::Waiting {
            exceptions: exceptions::count(self.store()).await?,
            refunds: refunds::count(self.store()).await?,
        })
    }
}

/// The console's routes, on `app`.
pub fn routes(app: Arc<App>) -> Router {
    router(Arc::new(Console::new(app)))
}

/// The console's routes, on `console`: built once per server, since the console counts the live
/// streams open on it.
pub fn router(console: Arc<Console>) -> Router {
    let signed_in = signed_in()
        .router
        // The last layer runs first: the session is found, then the form's token checked.
        .route_layer(axum::middleware::from_fn(auth::check_csrf))
        .route_layer(from_fn_with_state(console.clone(), auth::require_session));
    let pages = Router::new()
        .route("/console", get(|| async { see_other("/console/") }))
        .route(
            auth::SIGN_IN_PATH,
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .merge(signed_in)
        // What a console page says and holds is no cache's to keep.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let assets = Router::new()
        .route("/console/static/console.css", get(stylesheet))
        .route("/console/static/console.js", get(script))
        .route("/console/static/links.js", get(links::script))
        .route("/console/static/refunds.js", get(refunds::transfer::script))
        .route("/console/static/icon.svg", get(icon))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ));
    pages
        .merge(assets)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        // Unlike the widget's files, nothing here is for another site's page.
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(console)
}

/// Every route behind a session, with its method and path: a test walks them all, so a route
/// added here cannot go without a session (or a form without its token) unnoticed.
pub fn signed_in_endpoints() -> Vec<(Method, &'static str)> {
    signed_in().endpoints
}

fn signed_in() -> Table<Arc<Console>> {
    Table::default()
        .get("/console/", || async { see_other("/console/orders") })
        .get("/console/orders", orders::page)
        .get("/console/orders/{id}", orders::order)
        .post("/console/orders/{id}/notes", orders::add_note)
        .get("/console/exceptions", exceptions::page)
        .get(
            "/console/exceptions/resolved",
            exceptions::actions::resolved,
        )
        .post("/console/exceptions/resolve", exceptions::actions::resolve)
        .post(
            "/console/exceptions/deliveries/{event}/resend",
            exceptions::actions::resend,
        )
        .get(
            "/console/exceptions/payments/{chain}/{tx}/{log}",
            exceptions::attach::page,
        )
        .post(
            "/console/exceptions/payments/{chain}/{tx}/{log}/attach",
            exceptions::attach::attach,
        )
        .get("/console/refunds", refunds::page)
        .get("/console/refunds/{id}", refunds::refund)
        .get("/console/refunds/{id}/qr.svg", refunds::qr)
        .post("/console/refunds/{id}/approve", refunds::actions::approve)
        .post("/console/refunds/{id}/refuse", refunds::actions::refuse)
        .post("/console/refunds/{id}/paste", refunds::paste::paste)
        .post("/console/refunds/{id}/sandbox-pay", refunds::sandbox::pay)
        .get(
            "/console/payments/{chain}/{tx}/{log}/refund",
            refunds::start::page,
        )
        .post(
            "/console/payments/{chain}/{tx}/{log}/refund",
            refunds::start::start,
        )
        .get("/console/events", live::events)
        .get("/console/links", links::page)
        .post("/console/links", links::create)
        .get("/console/links/{id}", links::link)
        .get("/console/links/{id}/qr.svg", links::qr)
        .get("/console/export", export::page)
        .get("/console/export/orders.csv", export::orders)
        .get("/console/export/payments.csv", export::payments)
        .get("/console/audit", audit::page)
        .get("/console/audit.csv", audit::export)
        .get("/console/settings", settings::page)
        .post("/console/staff", settings::add_staff)
        .post("/console/staff/{name}/role", settings::set_role)
        .post("/console/staff/{name}/remove", settings::remove_staff)
        .post("/console/sign-out", sign_in::sign_out)
}

/// Only the console's own stylesheet and script, no inline script or style, no frame, forms to
/// this origin only, and the script fetches (its live updates) from this origin only: a value
/// that escaped its escaping still could not run, nor send anything elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

async fn stylesheet(State(_): State<Arc<Console>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/console.css"),
    )
        .into_response()
}

async fn script(State(_): State<Arc<Console>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/console.js"),
    )
        .into_response()
}

/// The console's icon: asked for by every page, so the browser asks for no `/favicon.ico`
/// (which is not the console's to answer).
async fn icon() -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        include_str!("static/icon.svg"),
    )
        .into_response()
}

/// A redirect that a form's POST follows with a GET (303).
pub fn see_other(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A page as the response's body.
pub struct Page(pub Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.0.into_string(),
        )
            .into_response()
    }
}

/// A request the console refuses or could not answer: a page that says why, with its status.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Cannot do that", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let page = layout::bare(
            "",
            self.title,
            html! {
                div.problem role="alert" { p { (self.message) } }
                p { a href="/console/" { "Back to the console" } }
            },
        );
        (self.status, page).into_response()
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!("console: {error}");
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                "The database cannot be reached right now; nothing was changed. Try again in a \
                 moment.",
            )
        } else {
            tracing::error!("console: {error}");
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on the server; nothing was changed.",
            )
        }
    }
}
