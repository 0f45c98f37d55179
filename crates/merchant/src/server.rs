//! The checkout server as it runs: the router with its layers, and the background workers beside
//! it. [`router`] takes the app's state and starts nothing, so tests call it with tower's
//! `oneshot`, without a gateway or a chain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tokio::sync::Notify;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::app::App;
use crate::checkouts::Checkouts;
use crate::config::Config;
use crate::store::replicas::{Role, Roles, while_leading};
use crate::store::{Backend, Store};
use crate::supervisor::{Workers, supervise};
use crate::{api, console, error, fulfillment, reconcile, watcher};

/// Request bodies larger than this are refused (413) before a handler reads them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Runs the server until SIGINT or SIGTERM: opens the store, starts the reconciler and the
/// fulfillment delivery, and answers on `config.listen`, printing `{"listen": "<address>"}` on
/// stdout once it does. Then it stops, within `shutdown_timeout`: it accepts no more
/// connections, answers its held polls, releases its leases and finishes its requests in
/// flight.
pub async fn serve(config: Config) -> Result<(), String> {
    // Says `true` once the server stops; kept until it returns (a dropped sender would say so
    // too early).
    let (stop, stopping) = crate::shutdown::channel();
    let store = Store::open(&config.database)
        .await
        .map_err(|e| format!("{}: {e}", config.database))?;
    let fulfillment_due = Arc::new(Notify::new());
    let gateway = Arc::new(config.gateway_client().sharing_budget(store.clone()));
    // A pause the gateway asked before a restart (or of another server) is said from the start.
    gateway.resume_pause().await;
    let dialect = gateway.dialect();
    let checkouts = Arc::new(
        Checkouts::from_store(store.clone(), fulfillment_due.clone())
            .await
            .map_err(|e| e.to_string())?
            .for_gateway(
                dialect.webhook_provenance(),
                dialect.account().map(str::to_owned),
            )
            .watching(
                config
                    .chains
                    .iter()
                    .filter(|(_, chain)| chain.is_read())
                    .map(|(id, _)| *id),
            ),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let metrics_listener = match config.metrics_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen on {address} (metrics_listen): {e}"))?,
        ),
        None => None,
    };

    let roles = Arc::new(Roles::default());
    let workers = Arc::new(Workers::default());
    // Every worker is restarted if it panics or stops (see [`crate::supervisor`]).
    let supervised = |name: &str, make| {
        tokio::spawn(supervise(workers.clone(), name.to_owned(), make));
    };
    // Servers sharing a Postgres database: each follows the others' changes, and one at a time
    // runs the reconciler and each chain's watcher.
    if store.backend() == Backend::Postgres {
        let (checkouts, store) = (checkouts.clone(), store.clone());
        supervised(
            "change feed",
            boxed(move || {
                let (checkouts, store) = (checkouts.clone(), store.clone());
                async move {
                    match store.changes().await {
                        Ok(Some(feed)) => checkouts.follow(feed).await,
                        Ok(None) => std::future::pending().await,
                        Err(e) => tracing::warn!("following the other servers: {e}"),
                    }
                }
            }),
        );
    }
    {
        let (checkouts, gateway, interval) = (
            checkouts.clone(),
            gateway.clone(),
            config.reconcile_interval,
        );
        let (store, roles, stopping) = (store.clone(), roles.clone(), stopping.clone());
        supervised(
            "reconciler",
            boxed(move || {
                let (checkouts, gateway) = (checkouts.clone(), gateway.clone());
                while_leading(
                    store.clone(),
                    roles.clone(),
                    Role::Reconciler,
                    stopping.clone(),
                    move || reconcile::run(checkouts.clone(), gateway.clone(), interval),
                )
            }),
        );
    }
    // One client a chain, its budget shared by the watcher and the claims.
    let chain_clients = crate::config::chain_clients(&config.chains);
    for (id, client) in &chain_clients {
        let (chain, client, checkouts, store, roles, stopping) = (
            config.chains[id].clone(),
            client.clone(),
            checkouts.clone(),
            store.clone(),
            roles.clone(),
            stopping.clone(),
        );
        supervised(
            &format!("watcher of chain {id}"),
            boxed(move || {
                let (chain, client, checkouts, watched) = (
                    chain.clone(),
                    client.clone(),
                    checkouts.clone(),
                    store.clone(),
                );
                while_leading(
                    store.clone(),
                    roles.clone(),
                    Role::Watcher(chain.id.0),
                    stopping.clone(),
                    move || {
                        watcher::run(
                            chain.clone(),
                            client.clone(),
                            checkouts.clone(),
                            watched.clone(),
                        )
                    },
                )
            }),
        );
    }
    if let Some(delivery) = config.fulfillment.clone() {
        let store = store.clone();
        supervised(
            "fulfillment",
            boxed(move || {
                fulfillment::run(delivery.clone(), store.clone(), fulfillment_due.clone())
            }),
        );
    }

    let mut app = App::new(config, checkouts, gateway);
    app.chains = chain_clients;
    app.roles = roles;
    app.workers = workers;
    app.store = Some(store.clone());
    app.receipt_key = store.receipt_key().await.map_err(|e| e.to_string())?;
    let app = Arc::new(app);
    let timeouts = Timeouts {
        header: app.config.header_timeout,
        shutdown: app.config.shutdown_timeout,
    };
    let mut ready = serde_json::json!({ "listen": bound.to_string() });
    if let Some(listener) = metrics_listener {
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        ready["metrics"] = address.to_string().into();
        // `/metrics` alone, without the token: for the operator's private network only.
        tokio::spawn(serve_http(
            listener,
            api::metrics::private_router(app.clone()),
            timeouts,
            stopping.clone(),
        ));
    }
    // One line on stdout for scripts and tests.
    println!("{ready}");
    tracing::info!(
        "checkout server on http://{bound}, gateway {}",
        app.config.gateway_url
    );
    tokio::spawn({
        let app = app.clone();
        async move {
            signalled().await;
            tracing::info!("shutting down: finishing requests in flight");
            stop.stop();
            // Held polls and the console's live pages hold their responses open: answered and
            // ended now, or the requests in flight would not all finish.
            app.long_polls.stop();
            crate::console::live::stop_all();
        }
    });
    serve_http(listener, router(app), timeouts, stopping).await;
    Ok(())
}

/// Answers HTTP/1.1 on `listener` until `stopping` says so, then finishes the requests in
/// flight for at most `timeouts.shutdown` (past it, it returns anyway: a client holding a
/// connection open does not hold the restart), as `axum::serve` does, with what it does not
/// set: a client has `timeouts.header` to send a request's headers, from when the server starts
/// reading them (an idle kept-alive connection included), else its connection is closed.
/// Without it, a client that sent half a request line and stalled held its connection, a file
/// descriptor, for as long as it liked (slowloris).
async fn serve_http(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    timeouts: Timeouts,
    mut stopping: crate::shutdown::Stopping,
) {
    use tower::Service as _;
    let mut connections = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    not_accepted(e).await;
                    continue;
                }
            },
            () = stopping.stopped() => break,
        };
        let Ok(service) = connections.call(peer).await;
        let connection = http.serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(timeouts.shutdown, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "stopped with requests still in flight after {} s",
            timeouts.shutdown.as_secs()
        );
    }
}

/// What a connection is given: `header` to send each request's headers, `shutdown` for its
/// request in flight to finish once the server stops.
#[derive(Clone, Copy)]
struct Timeouts {
    header: Duration,
    shutdown: Duration,
}

/// A connection that could not be accepted: one the client gave up on is no matter; anything
/// else (out of file descriptors) is logged, and accepting pauses a second rather than spin.
async fn not_accepted(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The whole HTTP surface: the API, the staff console, the widget's files, and the layers around
/// them.
pub fn router(app: Arc<App>) -> axum::Router {
    let origins: Vec<HeaderValue> = app
        .config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::IF_NONE_MATCH])
        .expose_headers([header::ETAG, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600));
    let mut router = api::routes(app.clone())
        .merge(console::routes(app.clone()))
        .merge(api::pay::routes(app.clone()));
    if let Some(dir) = &app.config.widget_dir {
        router = router.merge(crate::widget_files::routes(dir));
    }
    let security = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "cross-origin",
        ),
    ];
    for (name, value) in security {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        // A poll answered at once for being past the cap closes its connection: kept open, it
        // would hold the descriptor the cap saves.
        .layer(axum::middleware::from_fn(
            crate::long_polls::close_when_declined,
        ))
        .layer(cors)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(usdt_checkout_protocol::checkout::MAX_LONG_POLL_SECONDS + 5),
        ))
        .layer(axum::middleware::from_fn(error::errors_as_json))
        .layer(axum::middleware::from_fn(error::log_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // Outermost: every layer's and handler's log lines are in the request's span.
        .layer(axum::middleware::from_fn(crate::request_id::layer))
}

/// A worker's maker, boxed: each worker is a future of its own type.
type Maker =
    Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

fn boxed<F, W>(make: F) -> Maker
where
    F: Fn() -> W + Send + Sync + 'static,
    W: std::future::Future<Output = ()> + Send + 'static,
{
    Box::new(move || Box::pin(make()))
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd's, a container runtime's stop).
async fn signalled() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}
