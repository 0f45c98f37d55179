//! `checkout-server`: the merchant's checkout backend, and the tools a merchant needs beside it
//! (a key pair for the gateway's console; signing and verifying by hand when the gateway says 401).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use clap::{Parser, Subcommand};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use usdt_checkout_protocol::ChainRegistry;
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_server::app::{App, CatalogCache, StatusCache};
use usdt_checkout_server::gateway::GatewayClient;
use usdt_checkout_server::store::Store;
use usdt_checkout_server::{api, config, fulfillment, reconcile};

#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Configuration file (TOML); settings also come from CHECKOUT_* variables.
        #[arg(long, env = "CHECKOUT_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Make a V1 key pair: keep the private key on the server, upload the public key to the
    /// gateway's console.
    Keygen,
    /// Sign or verify a gateway request by hand.
    Signature {
        #[command(subcommand)]
        action: SignatureAction,
    },
}

#[derive(Subcommand)]
enum SignatureAction {
    /// Print the signed string and its base64 signature.
    Sign {
        /// Base64 PKCS#8 private key, or @FILE.
        #[arg(long)]
        private_key: String,
        #[command(flatten)]
        request: RequestArgs,
    },
    /// Exit 0 if the signature is valid for the request, 1 if not.
    Verify {
        /// Base64 SPKI public key, or @FILE.
        #[arg(long)]
        public_key: String,
        #[arg(long)]
        signature: String,
        #[command(flatten)]
        request: RequestArgs,
    },
}

#[derive(clap::Args)]
struct RequestArgs {
    /// BlockATM-Request-Time, Unix ms.
    #[arg(long)]
    time: u64,
    /// A file holding the JSON body.
    #[arg(long, conflicts_with = "query")]
    body: Option<PathBuf>,
    /// The query string of a GET (without `?`).
    #[arg(long)]
    query: Option<String>,
}

impl RequestArgs {
    fn signed_string(&self) -> Result<String, String> {
        match (&self.body, &self.query) {
            (Some(path), None) => {
                let body = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                signed_string::for_json_body(&body, self.time).map_err(|e| e.to_string())
            }
            (None, query) => signed_string::for_query(query.as_deref().unwrap_or(""), self.time)
                .map_err(|e| e.to_string()),
            (Some(_), Some(_)) => Err("give --body or --query, not both".into()),
        }
    }
}

/// A key given inline, or as @FILE.
fn key_text(argument: &str) -> Result<String, String> {
    match argument.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
        None => Ok(argument.to_owned()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command.unwrap_or(Command::Serve { config: None }) {
        Command::Serve { config } => serve(config),
        Command::Keygen => {
            let key = V1PrivateKey::generate();
            println!("private key (keep on the server, e.g. CHECKOUT_GATEWAY_PRIVATE_KEY):");
            println!("{}", key.to_base64_pkcs8());
            println!("public key (upload to the gateway's console):");
            println!("{}", key.public_key().to_base64_spki());
            Ok(())
        }
        Command::Signature { action } => return signature(action),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("checkout-server: {error}");
            ExitCode::from(2)
        }
    }
}

fn signature(action: SignatureAction) -> ExitCode {
    let result = match action {
        SignatureAction::Sign {
            private_key,
            request,
        } => key_text(&private_key)
            .and_then(|k| V1PrivateKey::from_base64_pkcs8(&k).map_err(|e| e.to_string()))
            .and_then(|key| {
                let signed = request.signed_string()?;
                println!("signed string: {signed}");
                println!("signature: {}", key.sign(&signed));
                Ok(true)
            }),
        SignatureAction::Verify {
            public_key,
            signature,
            request,
        } => key_text(&public_key)
            .and_then(|k| V1PublicKey::from_base64_spki(&k).map_err(|e| e.to_string()))
            .and_then(|key| {
                let signed = request.signed_string()?;
                println!("signed string: {signed}");
                match key.verify(&signed, &signature) {
                    Ok(()) => {
                        println!("valid");
                        Ok(true)
                    }
                    Err(e) => {
                        println!("invalid: {e}");
                        Ok(false)
                    }
                }
            }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("checkout-server: {error}");
            ExitCode::from(2)
        }
    }
}

#[tokio::main]
async fn serve(config_path: Option<PathBuf>) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "usdt_checkout_server=info,checkout_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = config::load(config_path.as_deref(), |name| std::env::var(name).ok())?;
    let store = Store::open(&config.database)
        .await
        .map_err(|e| format!("{}: {e}", config.database.display()))?;
    let checkouts = StatusCache::new(store.all().await.map_err(|e| e.to_string())?);
    let gateway = GatewayClient::new(
        config.gateway_url.clone(),
        config.api_key.clone(),
        config.credentials.clone(),
        config.requests_per_minute,
        config.gateway_timeout,
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Arc::new(App {
        store,
        gateway,
        checkouts,
        catalog: CatalogCache::new(),
        registry: ChainRegistry::builtin(),
        fulfillment_due: tokio::sync::Notify::new(),
        config,
    });

    tokio::spawn(reconcile::run(app.clone()));
    tokio::spawn(fulfillment::run(app.clone()));

    let router = router(app.clone());
    // One line on stdout for scripts and tests.
    println!("{}", serde_json::json!({ "listen": bound.to_string() }));
    tracing::info!(
        "checkout server on http://{bound}, gateway {}",
        app.config.gateway_url
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())
}

fn router(app: Arc<App>) -> axum::Router {
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
    let mut router = api::routes().with_state(app.clone());
    if let Some(dir) = &app.config.widget_dir {
        let assets = axum::Router::new()
            .nest_service("/checkout", tower_http::services::ServeDir::new(dir))
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ));
        router = router.merge(assets);
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
        .layer(cors)
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(usdt_checkout_protocol::checkout::MAX_LONG_POLL_SECONDS + 5),
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
