//! Three checkout servers on one PostgreSQL database, with the sandbox gateway on anvil, as a
//! merchant runs them behind a load balancer: a shopper's polls land anywhere, the server that
//! runs the reconciler and the chain's watcher may die by SIGKILL, a double click may reach two
//! servers at once, and all of them together spend one gateway budget.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use serde_json::{Value, json};
use usdt_checkout_testkit::eventually;

/// Three checkout servers on one Postgres: the world's, and two more on its database.
struct Cluster {
    world: World,
    others: Vec<CheckoutServer>,
}

impl Cluster {
    async fn start(name: &str, gateway_limit: Option<usize>) -> Self {
        let world = world_with(
            name,
            Storefront {
                db: Db::Postgres,
                gateway_limit,
                ..Storefront::default()
            },
        )
        .await;
        let others = vec![world.replica(), world.replica()];
        Self { world, others }
    }

    fn urls(&self) -> Vec<String> {
        std::iter::once(&self.world.server)
            .chain(&self.others)
            .map(|s| s.url.clone())
            .collect()
    }

    /// The server that runs the reconciler, once one does, with every worker running (the
    /// reconciler and the chain's watcher each on one server; not always the same one: each
    /// lease is taken on its own, and a busy machine can hand them to two servers).
    async fn leader(&self) -> String {
        let urls = self.urls();
        eventually("every worker to run, each on one server", WAIT, || async {
            let held = roles(&urls).await;
            let holders = |role: &str| {
                held.iter()
                    .filter(|(_, roles)| roles.iter().any(|r| r == role))
                    .map(|(server, _)| server.clone())
                    .collect::<Vec<_>>()
            };
            let reconciler = holders("reconciler");
            let watcher = holders("watcher of chain 31337");
            (reconciler.len() == 1 && watcher.len() == 1).then(|| reconciler[0].clone())
        })
        .await
    }

    /// Kills the server at `url` by SIGKILL: no goodbye to the database, its connections just
    /// close.
    fn kill(&mut self, url: &str) {
        std::iter::once(&mut self.world.server)
            .chain(&mut self.others)
            .find(|s| s.url == url)
            .unwrap()
            .stop();
    }
}

/// A load balancer with nothing sticky: each request goes to the next server in turn.
async fn round_robin(servers: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (servers, next, client) = (servers.clone(), next.clone(), client.clone());
        async move {
            let server = &servers[next.fetch_add(1, Ordering::Relaxed) % servers.len()];
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let mut forwarded = client.request(
                parts.method,
                format!("{server}{}", parts.uri.path_and_query().unwrap()),
            );
            for (name, value) in &parts.headers {
                if name != "host" {
                    forwarded = forwarded.header(name, value);
                }
            }
            let answer = forwarded.body(body).send().await.unwrap();
            let mut response = axum::http::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            response
                .body(axum::body::Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn create(server: &str, item: &str, key: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{server}/api/checkouts"))
        .json(&json!({"item": item, "chainId": 31337, "symbol": "USDT", "idempotencyKey": key}))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn health(server: &str) -> Value {
    get(&format!("{server}/healthz")).await
}

/// The servers that hold the reconciler and the chain's watcher now (a killed one holds
/// nothing).
/// The roles each server that answers holds, as its `/healthz` says.
async fn roles(servers: &[String]) -> Vec<(String, Vec<String>)> {
    let mut held = vec![];
    for server in servers {
        let Ok(answer) = reqwest::get(format!("{server}/healthz")).await else {
            continue;
        };
        let roles = answer.json::<Value>().await.unwrap()["roles"].clone();
        let roles = roles
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        held.push((server.clone(), roles));
    }
    held
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn polls_spread_over_three_servers_follow_one_checkout_to_paid_once() {
    let cluster = Cluster::start("replicas-polls", None).await;
    let (w, servers) = (&cluster.world, cluster.urls());
    let entry = round_robin(servers.clone()).await;

    let (status, view) = create(&entry, "tee", "replicas-polls-1").await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap();
    // Every server knows the checkout at once, whichever made it.
    for server in &servers {
        assert_eq!(w.status_at(server, id).await["state"], "waiting");
    }
    w.pay(&view, json!({})).await;
    w.wait_state_at(&entry, id, "confirming").await;
    w.mine().await;
    let paid = w.wait_state_at(&entry, id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    for server in &servers {
        let view = w.status_at(server, id).await;
        assert_eq!(view["state"], "paid", "{server} knows too");
    }
    // One event, from one server.
    w.fulfilled_once(id).await;
    for role in ["reconciler", "watcher of chain 31337"] {
        let holders = roles(&servers)
            .await
            .into_iter()
            .filter(|(_, roles)| roles.iter().any(|r| r == role))
            .count();
        assert_eq!(holders, 1, "one server runs the {role}");
    }
    let mut keys = vec![];
    for server in &servers {
        keys.push(get(&format!("{server}/.well-known/usdt-checkout/receipt-key")).await);
    }
    assert!(
        keys.windows(2).all(|k| k[0] == k[1]),
        "one receipt key: {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn the_server_running_the_workers_dies_by_sigkill_and_the_order_is_still_paid_once() {
    let mut cluster = Cluster::start("replicas-sigkill", None).await;
    cluster.leader().await;
    // The one or two servers running the workers die; one that runs none survives (three
    // servers, two workers).
    let working: Vec<String> = roles(&cluster.urls())
        .await
        .into_iter()
        .filter(|(_, roles)| !roles.is_empty())
        .map(|(server, _)| server)
        .collect();
    let survivor = cluster
        .urls()
        .into_iter()
        .find(|u| !working.contains(u))
        .unwrap();
    let (status, view) = create(&survivor, "tee", "replicas-sigkill-1").await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap();

    for server in &working {
        cluster.kill(server);
    }
    let next = cluster.leader().await;
    assert!(!working.contains(&next), "{next} was killed");

    let w = &cluster.world;
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.mine().await;
    let paid = w.wait_state_at(&survivor, id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    w.fulfilled_once(id).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn one_idempotency_key_sent_to_two_servers_at_once_makes_one_order() {
    let cluster = Cluster::start("replicas-same-key", None).await;
    let leader = cluster.leader().await;
    // The two that do not reconcile: every gateway call they make is this order's.
    let (a, b) = match &cluster
        .urls()
        .into_iter()
        .filter(|u| *u != leader)
        .collect::<Vec<_>>()[..]
    {
        [a, b] => (a.clone(), b.clone()),
        _ => unreachable!(),
    };
    let ((status_a, first), (status_b, second)) = tokio::join!(
        create(&a, "tee", "replicas-same-key-1"),
        create(&b, "tee", "replicas-same-key-1"),
    );
    assert_eq!((status_a, status_b), (201, 201), "{first} {second}");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["payment"]["orderNo"], second["payment"]["orderNo"]);
    assert_eq!(first["payment"]["amount"], second["payment"]["amount"]);
    let calls = |h: Value| h["gatewayCallsInLastMinute"].as_u64().unwrap();
    assert_eq!(
        calls(health(&a).await) + calls(health(&b).await),
        1,
        "one gateway order"
    );
    let orders = cluster.world.admin_orders().await;
    assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn three_servers_spend_one_gateway_budget_and_draw_no_429() {
    // The gateway allows 10 calls a minute here, and the servers budget 10 between them.
    let cluster = Cluster::start("replicas-budget", Some(10)).await;
    let servers = cluster.urls();
    let mut created = 0;
    let mut refused = 0;
    for n in 0..15 {
        let server = &servers[n % 3];
        match create(server, "mug", &format!("replicas-budget-{n}")).await {
            (201, _) => created += 1,
            (503, body) => {
                assert_eq!(body["code"], "gateway_rate_limited", "{body}");
                refused += 1
            }
            (status, body) => panic!("{status} {body}"),
        }
    }
    assert!(
        refused > 0,
        "15 orders need more than the budget ({created} made)"
    );
    assert!(
        created <= 10,
        "{created} orders in a minute, over the budget"
    );
    for server in &servers {
        assert_eq!(
            health(server).await["gatewayRateLimitRefusals"],
            0,
            "{server} was never refused by the gateway"
        );
    }
}
