//! Shoppers long-polling their checkouts' status, at scale: one checkout server on SQLite, then
//! three servers sharing one PostgreSQL database, each with the sandbox gateway on anvil, all on
//! this machine. Prints figures; asserts nothing.
//!
//! `cargo bench -p usdt-checkout-server --bench status_load -- [--shoppers N,M] [--seconds S]
//! [--replicas] [--baseline]` (defaults: 10,000 shoppers for 60 s on one server on SQLite;
//! `--replicas` adds three servers on one PostgreSQL, `--baseline` the seed-style proxy).
//!
//! Each shopper holds one long poll at a time (`?wait=20` with the last ETag), as the widget
//! does, on a server of its own (shoppers are dealt to servers in turn, as a load balancer
//! would). Every 3 s a payment of 1 USDT arrives for one of the checkouts, so the shoppers
//! polling it are woken. Measured:
//! - a poll answered at once (a shopper's first, with no ETag): latency p50/p99;
//! - a payment to each of its shoppers seeing it: p50/p99, the chain, the watcher and the wake
//!   of every server's long polls included (on three servers, through Postgres's NOTIFY);
//! - polls answered a second, all kinds; failed polls;
//! - gateway calls a minute (all servers together, the most seen) and 429s;
//! - each server's resident memory at the end, and what each poll it holds adds to it (the
//!   growth from before the shoppers came, over the polls it holds);
//! - how fast a wake is answered: the shoppers answered with a payment's news over the time from
//!   the first of those answers to the last (the median over the payments).
//!
//! Each figure is printed beside the previous run's (BENCHMARKS.md), and the budgets' verdicts
//! under the table.
//!
//! The baseline is the seed's integration: its backend answers each status poll by asking the
//! gateway (the documented `qrCodePayment?orderNo=`, signed), so every poll is a gateway call.
//! Its shoppers poll once a second, as the seed's page does, through a proxy built here, until
//! the gateway first refuses (429) or a minute passes.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/previous.rs"]
mod previous;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use usdt_checkout_testkit::{
    Anvil, MerchantKeys, Sandbox, SandboxOptions, Signing, built_sandbox, tempdir,
};

/// Checkouts the shoppers share: within a minute's gateway budget to create.
const CHECKOUTS: usize = 40;
const LONG_POLL_SECONDS: u64 = 20;

/// The budgets the status serving is held to, for 10,000 shoppers: every shopper woken by a
/// change answered within this p99 (ms) ...
const SEEN_P99_MS: f64 = 500.0;
/// ... at this rate at least (answers a second) ...
const WAKE_RATE: f64 = 20_000.0;
/// ... and each held poll costing at most this much resident memory (KiB).
const KIB_PER_POLL: f64 = 10.0;

struct Figures {
    setup: String,
    immediate: Vec<u64>,
    seen: Vec<u64>,
    answered: u64,
    failed: u64,
    seconds: f64,
    gateway_calls: u64,
    refusals: u64,
    rss_kib: Vec<u64>,
    /// Each server's resident memory once started, before any shopper came.
    idle_rss_kib: Vec<u64>,
    /// Answers a second while a payment's news was being answered, the median over payments.
    wake_rate: f64,
    /// The servers' CPU time over the run, all of them together (µs).
    server_cpu_us: u64,
}

impl Figures {
    /// What each held poll added to its server's resident memory, the most of any server.
    fn kib_per_poll(&self, shoppers: usize) -> f64 {
        let per_server = shoppers as f64 / self.rss_kib.len() as f64;
        self.rss_kib
            .iter()
            .zip(&self.idle_rss_kib)
            .map(|(end, idle)| end.saturating_sub(*idle) as f64 / per_server)
            .fold(0.0, f64::max)
    }
}

/// Answers a second while a wake is answered: of the answers (in µs since the start) carrying
/// the news of each payment (paid at `payments`, µs), how many over the time from the first to
/// the last; the median over the payments.
fn wake_rate(mut answers: Vec<u64>, payments: &[u64]) -> f64 {
    answers.sort_unstable();
    let mut rates: Vec<f64> = payments
        .iter()
        .zip(payments.iter().skip(1).chain(std::iter::once(&u64::MAX)))
        .filter_map(|(&from, &to)| {
            let woken: Vec<u64> = answers
                .iter()
                .copied()
                .filter(|at| (from..to).contains(at))
                .collect();
            let span = woken.last()?.saturating_sub(*woken.first()?);
            (woken.len() > 1 && span > 0).then(|| woken.len() as f64 / (span as f64 / 1e6))
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// The CPU time process `pid` has used, user and system, in µs (from `/proc/PID/stat`).
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's name in brackets: fields 14 and 15, utime and stime, in ticks.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000 / per_second
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn run(db: Db, servers: usize, shoppers: usize, seconds: u64) -> Figures {
    let name = format!("bench-{servers}");
    let world = Arc::new(
        world_with(
            &name,
            Storefront {
                db,
                ..Storefront::default()
            },
        )
        .await,
    );
    let replicas: Vec<CheckoutServer> = (1..servers).map(|_| world.replica()).collect();
    let urls: Vec<String> = std::iter::once(world.server.url.clone())
        .chain(replicas.iter().map(|r| r.url.clone()))
        .collect();
    let mut views = vec![];
    for i in 0..CHECKOUTS {
        let item = if i % 2 == 0 { "tee" } else { "mug" };
        views.push(
            world
                .checkout(item, &format!("bench-{servers}-{i:03}"))
                .await,
        );
    }
    let ids: Vec<String> = views
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    let pids: Vec<Option<u32>> = std::iter::once(world.server.pid())
        .chain(replicas.iter().map(CheckoutServer::pid))
        .collect();
    let idle_rss_kib: Vec<u64> = pids.iter().map(|p| p.map(rss_kib).unwrap_or(0)).collect();
    let servers_cpu = || -> u64 { pids.iter().map(|p| p.map(cpu_us).unwrap_or(0)).sum() };
    let cpu_before = servers_cpu();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(shoppers)
        .timeout(Duration::from_secs(LONG_POLL_SECONDS + 15))
        .build()
        .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    // When each checkout last changed (the payment's return), by its id.
    let paid_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tasks = Vec::with_capacity(shoppers);
    for shopper in 0..shoppers {
        let server = urls[shopper % urls.len()].clone();
        let id = ids[shopper % CHECKOUTS].clone();
        let (http, paid_at) = (http.clone(), paid_at.clone());
        tasks.push(tokio::spawn(async move {
            // Arriving over the first five seconds.
            tokio::time::sleep(Duration::from_millis((shopper as u64 * 7919) % 5_000)).await;
            let url = format!("{server}/api/checkouts/{id}?wait={LONG_POLL_SECONDS}");
            let (mut immediate, mut seen, mut answered, mut failed) = (vec![], vec![], 0u64, 0u64);
            // When each answer with a new view came, in µs since the start.
            let mut changed = vec![];
            let mut etag: Option<String> = None;
            // The payment last timed: a later change (its confirmations) is not its news.
            let mut counted: Option<Instant> = None;
            while Instant::now() < deadline {
                let mut request = http.get(&url);
                if let Some(tag) = &etag {
                    request = request.header("if-none-match", tag);
                }
                let sent = Instant::now();
                match request.send().await {
                    Ok(answer) if answer.status() == 200 || answer.status() == 304 => {
                        answered += 1;
                        if answer.status() == 200 {
                            etag = answer
                                .headers()
                                .get("etag")
                                .map(|v| v.to_str().unwrap().to_owned());
                            let _ = answer.bytes().await;
                            changed.push(started.elapsed().as_micros() as u64);
                            if etag.is_some() && immediate.is_empty() {
                                immediate.push(sent.elapsed().as_micros() as u64);
                            } else if let Some(&at) = paid_at.lock().unwrap().get(&id)
                                && counted != Some(at)
                            {
                                seen.push(at.elapsed().as_micros() as u64);
                                counted = Some(at);
                            }
                        }
                    }
                    _ => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            (immediate, seen, answered, failed, changed)
        }));
    }

    // Payments arrive, and the gateway's view of the servers is sampled.
    let (mut gateway_calls, mut refusals) = (0u64, 0u64);
    let mut next = 0;
    // When each payment was made, in µs since the start.
    let mut payments = vec![];
    while Instant::now() + Duration::from_secs(3) < deadline {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let view = &views[next % CHECKOUTS];
        next += 1;
        world.pay(view, json!({"amount": "1"})).await;
        payments.push(started.elapsed().as_micros() as u64);
        paid_at
            .lock()
            .unwrap()
            .insert(view["id"].as_str().unwrap().to_owned(), Instant::now());
        let mut calls = 0;
        for url in &urls {
            let health: Value = world
                .http
                .get(format!("{url}/healthz"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            calls += health["gatewayCallsInLastMinute"].as_u64().unwrap_or(0);
            refusals += health["gatewayRateLimitRefusals"].as_u64().unwrap_or(0);
        }
        gateway_calls = gateway_calls.max(calls);
    }

    let mut figures = Figures {
        setup: match db {
            Db::Sqlite => format!("{servers} server on SQLite"),
            Db::Postgres => format!("{servers} servers on one Postgres"),
        },
        immediate: vec![],
        seen: vec![],
        answered: 0,
        failed: 0,
        seconds: 0.0,
        gateway_calls,
        refusals,
        rss_kib: pids.iter().map(|p| p.map(rss_kib).unwrap_or(0)).collect(),
        idle_rss_kib,
        wake_rate: f64::NAN,
        server_cpu_us: servers_cpu().saturating_sub(cpu_before),
    };
    let mut changed = vec![];
    for task in tasks {
        let (immediate, seen, answered, failed, answers) = task.await.unwrap();
        changed.extend(answers);
        figures.immediate.extend(immediate);
        figures.seen.extend(seen);
        figures.answered += answered;
        figures.failed += failed;
    }
    figures.seconds = started.elapsed().as_secs_f64();
    figures.wake_rate = wake_rate(changed, &payments);
    figures.immediate.sort_unstable();
    figures.seen.sort_unstable();
    figures
}

fn print(all: &[Figures], shoppers: usize) {
    let heading = format!("### {shoppers} shoppers");
    println!(
        "\n{heading}\n\n{shoppers} shoppers arrive over 5 s and each holds one long poll at \
         a time (`?wait={LONG_POLL_SECONDS}` with its last ETag, as the widget does) on one of \
         {CHECKOUTS} checkouts, dealt to the servers in turn as a balancer would; every 3 s a \
         1 USDT transfer arrives at the checkouts' address and wakes their shoppers. First poll: \
         a shopper's first answer. Payment seen: from the transfer's return to each shopper's \
         answer showing it. Server CPU per answer: the servers' CPU time over the run (user and \
         system, every task of theirs included), over the polls answered. Answers/s when woken: the shoppers answered with a payment's news \
         over the time from the first of those answers to the last (the median over the \
         payments); polls/s: over the whole run, all kinds. Gateway calls: the most in any \
         minute, all servers together. RSS: each server's resident memory at the end; per held \
         poll: its growth since the server started, over the polls it holds (the most of any \
         server). The checkout server is the release build; the shoppers run on the same cores. \
         In brackets, the run before.\n"
    );
    let columns = [
        "setup",
        "first poll p50 / p99 (ms)",
        "payment seen p50 / p99 (ms)",
        "answers/s when woken",
        "server CPU per answer (µs)",
        "polls/s",
        "failed",
        "gateway calls/min (most)",
        "429s",
        "RSS per server (MiB)",
        "KiB per held poll",
    ];
    println!("| {} |", columns.join(" | "));
    println!("|{}", "---|".repeat(columns.len()));
    for f in all {
        let before = previous::row(&heading, &f.setup);
        let rss: Vec<String> = f
            .rss_kib
            .iter()
            .map(|k| format!("{:.0}", *k as f64 / 1024.0))
            .collect();
        let cells = [
            f.setup.clone(),
            format!(
                "{:.1} / {:.1}",
                percentile(&f.immediate, 0.5),
                percentile(&f.immediate, 0.99)
            ),
            format!(
                "{:.0} / {:.0}",
                percentile(&f.seen, 0.5),
                percentile(&f.seen, 0.99)
            ),
            format!("{:.0}", f.wake_rate),
            format!("{:.0}", f.server_cpu_us as f64 / f.answered.max(1) as f64),
            format!("{:.0}", f.answered as f64 / f.seconds),
            f.failed.to_string(),
            f.gateway_calls.to_string(),
            f.refusals.to_string(),
            rss.join(", "),
            format!("{:.1}", f.kib_per_poll(shoppers)),
        ];
        let cells: Vec<String> = columns
            .iter()
            .zip(cells)
            .map(|(column, now)| match *column {
                "setup" => now,
                _ => previous::beside(now, before.get(*column)),
            })
            .collect();
        println!("| {} |", cells.join(" | "));
    }
    if shoppers < 10_000 {
        return;
    }
    println!();
    for f in all {
        let p99 = percentile(&f.seen, 0.99);
        let per_poll = f.kib_per_poll(shoppers);
        println!(
            "- {}: payment seen p99 {p99:.0} ms, budget {SEEN_P99_MS:.0} ms: {}; {:.0} answers/s \
             when woken, budget {WAKE_RATE:.0}: {}; {per_poll:.1} KiB per held poll, budget \
             {KIB_PER_POLL:.0}: {}.",
            f.setup,
            previous::verdict(p99 <= SEEN_P99_MS),
            f.wake_rate,
            previous::verdict(f.wake_rate >= WAKE_RATE),
            previous::verdict(per_poll <= KIB_PER_POLL),
        );
    }
}

/// What the seed-style proxy did for `shoppers` polling once a second.
struct Baseline {
    shoppers: usize,
    polls: u64,
    refused: u64,
    first_refusal: Option<f64>,
    seconds: f64,
}

/// The seed's backend: one signed gateway status query per poll, its answer passed on.
async fn seed_proxy(gateway: &str, keys: &MerchantKeys) -> String {
    use axum::extract::{Path, State};
    let state = Arc::new((usdt_checkout_testkit::Client::new(gateway), keys.clone()));
    let app = axum::Router::new()
        .route(
            "/status/{order}",
            axum::routing::get(
                |State(state): State<
                    Arc<(
                        usdt_checkout_testkit::Client,
                        usdt_checkout_testkit::MerchantKeys,
                    )>,
                >,
                 Path(order): Path<String>| async move {
                    let (client, keys) = &*state;
                    let reply = client
                        .get_signed(
                            usdt_checkout_protocol::gateway::v1::PATH_QUERY_QR_PAYMENT,
                            &format!("orderNo={order}"),
                            keys,
                        )
                        .await;
                    axum::http::StatusCode::from_u16(reply.status).unwrap()
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn baseline(shoppers: usize, seconds: u64) -> Baseline {
    // A gateway of its own: no checkout server spends the key's 100 calls a minute.
    let anvil = Anvil::start();
    let keys = MerchantKeys::new("5eed0000-9a0b-4c55-8d2e-6b7c8d9e0f12");
    let dir = tempdir::Dir::new(&format!("seed-{shoppers}"));
    let sandbox = Sandbox::start_with(
        built_sandbox(),
        &anvil,
        &keys,
        "http://127.0.0.1:9/webhooks",
        &dir,
        SandboxOptions::default(),
    );
    let order = format!("seed-{shoppers}-0001");
    let created = usdt_checkout_testkit::Client::new(&sandbox.url)
        .post_signed(
            usdt_checkout_protocol::gateway::v1::PATH_CREATE_ORDER,
            &json!({"orderNo": order, "chainId": "31337", "symbol": "USDT", "amount": "24.995001"})
                .to_string(),
            &keys,
            Signing::V1,
            None,
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let proxy = seed_proxy(&sandbox.url, &keys).await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let first_refusal: Arc<Mutex<Option<f64>>> = Arc::default();
    let mut tasks = vec![];
    for shopper in 0..shoppers {
        let url = format!("{proxy}/status/{order}");
        let first_refusal = first_refusal.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            tokio::time::sleep(Duration::from_millis(
                shopper as u64 * 1000 / shoppers as u64,
            ))
            .await;
            let (mut polls, mut refused) = (0u64, 0u64);
            while Instant::now() < deadline && first_refusal.lock().unwrap().is_none() {
                let status = http.get(&url).send().await.map(|r| r.status().as_u16());
                polls += 1;
                if matches!(status, Ok(429 | 418)) {
                    refused += 1;
                    first_refusal
                        .lock()
                        .unwrap()
                        .get_or_insert(started.elapsed().as_secs_f64());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            (polls, refused)
        }));
    }
    let (mut polls, mut refused) = (0, 0);
    for task in tasks {
        let (p, r) = task.await.unwrap();
        polls += p;
        refused += r;
    }
    let first_refusal = *first_refusal.lock().unwrap();
    Baseline {
        shoppers,
        polls,
        refused,
        first_refusal,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn print_baseline(rows: &[Baseline], ours: &[Figures]) {
    println!(
        "\n### Baseline: the seed's integration\n\nEach status poll is one gateway query \
         (`qrCodePayment?orderNo=`), through a proxy built into the bench; shoppers poll once a \
         second, until the gateway first refuses or a minute passes. The gateway allows 100 \
         calls a minute per API key.\n"
    );
    println!("| shoppers | polls (= gateway calls) | refused (429/418) | first refusal after |");
    println!("|---|---|---|---|");
    for b in rows {
        println!(
            "| {} | {} | {} | {} |",
            b.shoppers,
            b.polls,
            b.refused,
            b.first_refusal
                .map_or(format!("none in {:.0} s", b.seconds), |s| format!(
                    "{s:.0} s"
                )),
        );
    }
    let served = rows
        .iter()
        .filter(|b| b.refused == 0)
        .map(|b| b.shoppers)
        .max()
        .unwrap_or(0);
    println!(
        "\n- The seed's integration serves {served} shopper(s) polling each second before the \
         gateway refuses; every poll costs one gateway call."
    );
    for f in ours {
        let polls_per_minute = f.answered as f64 / f.seconds * 60.0;
        println!(
            "- usdt-checkout ({}): {:.0} polls a minute for {} gateway calls a minute at most, one gateway call per {:.0} polls.",
            f.setup,
            polls_per_minute,
            f.gateway_calls,
            polls_per_minute / f.gateway_calls.max(1) as f64
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let shoppers: Vec<usize> = option("--shoppers")
        .unwrap_or_else(|| "10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("--shoppers takes numbers"))
        .collect();
    let seconds = option("--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let flag = |name: &str| args.iter().any(|a| a == name);
    let mut all = vec![];
    for &n in &shoppers {
        let mut figures = vec![run(Db::Sqlite, 1, n, seconds).await];
        if flag("--replicas") && n == *shoppers.iter().max().unwrap() {
            figures.push(run(Db::Postgres, 3, n, seconds).await);
        }
        print(&figures, n);
        all.extend(figures);
    }
    if flag("--baseline") {
        let mut rows = vec![];
        // A minute at most: the gateway's window.
        for n in [1, 2] {
            rows.push(baseline(n, 60).await);
        }
        print_baseline(&rows, &all);
    }
}
