//! `blockatm-sandbox`: a local BlockATM gateway. It speaks the gateway's API (signatures,
//! freshness window, 429/418 rate limits, webhooks) and sees payments on a real EVM chain.

mod api;
mod app;
mod auth;
mod cashier;
mod clock;
mod config;
mod dialect;
mod error;
mod faults;
mod follow;
mod ledger;
mod outbox;
mod query;
mod rate_limit;
mod refund;
mod testmode;
mod view;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use clap::Parser;

use crate::app::{App, Startup};

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Address to serve the gateway API on (port 0 picks a free one).
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:4010")]
    listen: SocketAddr,
    /// JSON-RPC URL of a chain to watch; repeat it (or separate with commas) to watch several.
    #[arg(
        long,
        env = "SANDBOX_RPC_URL",
        default_value = "http://127.0.0.1:8545",
        value_delimiter = ','
    )]
    rpc_url: Vec<String>,
    /// Configuration file (TOML): merchants, chains and tokens, confirmations, order lifetime.
    #[arg(long, env = "SANDBOX_CONFIG")]
    config: Option<PathBuf>,
    /// File that keeps orders, payments and webhooks across restarts (in memory without it).
    #[arg(long, env = "SANDBOX_DATA")]
    data: Option<PathBuf>,
    /// Deploy the test USDT and a receiving contract per merchant (once: a restart reuses them).
    #[arg(long)]
    deploy: bool,
    /// Enable /sandbox/...: pay orders from test accounts, mine, expire, reorg, inject faults.
    #[arg(long, env = "SANDBOX_TEST_MODE")]
    test_mode: bool,
    /// Which of BlockATM's documented APIs to speak (overrides the file's `gateway.api`).
    #[arg(long, env = "SANDBOX_API", value_enum)]
    api: Option<config::Api>,
    /// V1: answer in V2's envelope `{code: "200", success, data, msg, trace}` instead of bare
    /// (V1 documents no answer shape; V2's, and docs.blockatm.net's, is the envelope).
    #[arg(long, env = "SANDBOX_V1_ENVELOPE")]
    v1_envelope: bool,
    /// Serve the public network and token lists with only `chainId` (and a token's `symbol`):
    /// BlockATM documents none of their fields, so a merchant may meet lists that say no more.
    #[arg(long, env = "SANDBOX_MINIMAL_LISTS")]
    minimal_lists: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "blockatm_sandbox=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match serve(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blockatm-sandbox: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let mut config = config::load(args.config.as_deref(), args.api)?;
    config.v1_envelope = args.v1_envelope;
    config.minimal_lists = args.minimal_lists;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let app = App::start(Startup {
        config,
        rpc_urls: args.rpc_url,
        data: args.data,
        deploy: args.deploy,
        test_mode: args.test_mode,
        public_url,
    })
    .await?;
    let app = Arc::new(app);

    // One line on stdout for scripts and tests: where it listens and what it watches. The
    // first chain's id, tokens and receivers stand at the top, as when one chain was watched.
    let receivers = |chain| {
        app.config
            .merchants
            .iter()
            .map(|m| (m.api_key.clone(), m.receiver(chain)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let first = app.chains[0].id;
    let ready = serde_json::json!({
        "listen": bound.to_string(),
        "api": app.config.api,
        "chainId": first,
        "tokens": app.tokens(first),
        "receivers": receivers(first),
        "chains": app.chains.iter().map(|c| serde_json::json!({
            "chainId": c.id,
            "tokens": app.tokens(c.id),
            "receivers": receivers(c.id),
        })).collect::<Vec<_>>(),
        "enveloped": app.config.enveloped(),
        "gatewayPublicKey": app.gateway_key.public_key().to_base64_spki(),
        "testMode": app.test_mode,
    });
    println!("{ready}");
    let ids: Vec<String> = app.chains.iter().map(|c| c.id.to_string()).collect();
    tracing::info!(
        "gateway API ({:?}) on http://{bound}, watching chain {}",
        app.config.api,
        ids.join(", ")
    );

    follow::tick(&app)
        .await
        .map_err(|e| format!("first read of the chain: {e}"))?;
    tokio::spawn(follow::run(app.clone()));
    tokio::spawn(webhooks::run(app.clone()));
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())
}

/// The gateway API, the cashier pages, and in test mode the `/sandbox` controls.
fn router(app: Arc<App>) -> Router {
    let mut router = api::router(&app).merge(cashier::router());
    if app.test_mode {
        router = router.merge(testmode::router()).merge(refund::router());
    }
    router.with_state(app)
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
