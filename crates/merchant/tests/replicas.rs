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
        self.server(url).stop();
    }

    fn server(&mut self, url: &str) -> &mut CheckoutServer {
        std::iter::once(&mut self.world.server)
            .chain(&mut self.others)
            .find(|s| s.url == url)
            .unwrap()
    }
}

/// A load balancer with nothing sticky: each request goes to the next server in turn. As a real
/// one (nginx's `proxy_next_upstream error`), it tries the next server when one cannot take the
/// request: refused (stopped, or not started yet) for any request, and for a read (GET) also
/// one whose connection closed before its answer. A request no server took is answered 502.
async fn round_robin(servers: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (servers, next, client) = (servers.clone(), next.clone(), client.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let mut failures = vec![];
            for _ in 0..servers.len() {
                let server = &servers[next.fetch_add(1, Ordering::Relaxed) % servers.len()];
                match forward(&client, server, &parts, body.clone()).await {
                    Ok(response) => return response,
                    Err(e) => {
                        failures.push(format!("{server}: {e}"));
                        // A write that may have reached its server is not sent twice.
                        if !(e.is_connect() || parts.method == axum::http::Method::GET) {
                            break;
                        }
                    }
                }
            }
            axum::http::Response::builder()
                .status(502)
                .body(axum::body::Body::from(failures.join("; ")))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// `parts` and `body` sent to `server`, and its whole answer, without the hop-by-hop headers
/// (they are of each connection, not the request).
async fn forward(
    client: &reqwest::Client,
    server: &str,
    parts: &axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Result<axum::http::Response<axum::body::Body>, reqwest::Error> {
    const HOP_BY_HOP: [&str; 4] = ["host", "connection", "keep-alive", "transfer-encoding"];
    let mut forwarded = client.request(
        parts.method.clone(),
        format!("{server}{}", parts.uri.path_and_query().unwrap()),
    );
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.body(body).send().await?;
    let mut response = axum::http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await?;
    Ok(response.body(axum::body::Body::from(bytes)).unwrap())
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

/// A shopper's widget: polls `id` through `entry` as the widget does (`?wait=` with the last
/// ETag) until it is paid, and says every poll not answered 200 or 304 in `failed`; returns how
/// many polls it made.
async fn shop(entry: String, id: String, failed: Arc<std::sync::Mutex<Vec<String>>>) -> usize {
    let client = reqwest::Client::new();
    let (mut etag, mut polls) = (String::new(), 0);
    loop {
        polls += 1;
        let url = format!("{entry}/api/checkouts/{id}?wait=3");
        let answer = client.get(&url).header("if-none-match", &etag).send().await;
        let answer = match answer {
            Ok(answer) if matches!(answer.status().as_u16(), 200 | 304) => answer,
            Ok(answer) => {
                let status = answer.status();
                let body = answer.text().await.unwrap_or_default();
                failed
                    .lock()
                    .unwrap()
                    .push(format!("{id}: {status} {body}"));
                continue;
            }
            Err(e) => {
                failed.lock().unwrap().push(format!("{id}: {e}"));
                continue;
            }
        };
        etag = answer.headers()["etag"].to_str().unwrap().to_owned();
        if answer.status() == 200 {
            let view: Value = answer.json().await.unwrap();
            if view["state"] == "paid" {
                return polls;
            }
        }
    }
}

/// Whether the process `pid` still runs (not gone, nor a zombie waiting to be reaped).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// A client that sent a request's headers and half its body, and stalls: its request is in
/// flight for as long as it likes, unless the server bounds it.
fn stalled_write(server: &str) -> std::net::TcpStream {
    use std::io::Write;
    let address = server.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /api/checkouts HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{{\"item\": "
    )
    .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_rolling_restart_by_sigterm_fails_no_poll_and_loses_no_order_or_payment() {
    let mut cluster = Cluster::start("replicas-rolling", None).await;
    cluster.leader().await;
    let servers = cluster.urls();
    let entry = round_robin(servers.clone()).await;
    let failed = Arc::new(std::sync::Mutex::new(vec![]));
    let mut orders = vec![];
    let mut shoppers = vec![];
    let order = async |n: usize, orders: &mut Vec<Value>, shoppers: &mut Vec<_>| {
        let (status, view) = create(&entry, "tee", &format!("replicas-rolling-{n}")).await;
        assert_eq!(status, 201, "{view}");
        let id = view["id"].as_str().unwrap().to_owned();
        orders.push(view);
        shoppers.push(tokio::spawn(shop(entry.clone(), id, failed.clone())));
    };
    for n in 0..3 {
        order(n, &mut orders, &mut shoppers).await;
    }
    let mut moved = 0;
    for (turn, server) in servers.iter().enumerate() {
        // A poll held by this server, with a wait longer than its shutdown's bound; and a
        // stalled write that keeps it stopping for as long as that bound.
        let id = orders[turn]["id"].as_str().unwrap();
        let seen = reqwest::get(format!("{server}/api/checkouts/{id}"))
            .await
            .unwrap();
        let etag = seen.headers()["etag"].clone();
        let held = tokio::spawn(
            reqwest::Client::new()
                .get(format!("{server}/api/checkouts/{id}?wait=20"))
                .header("if-none-match", etag)
                .send(),
        );
        let stalled = stalled_write(server);
        eventually("the poll to be held", WAIT, || async {
            (health(server).await["longPolls"]["held"].as_u64() > Some(0)).then_some(())
        })
        .await;
        // The shoppers' polls are counted there too: a moment more for this one to arrive (a
        // poll sent after the stop would be refused, and fail the test for no fault of the
        // server's).
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let roles_held = roles(std::slice::from_ref(server)).await[0].1.clone();
        let pid = cluster.server(server).pid().unwrap();
        // SAFETY: a signal to a process this test started, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
        let signalled = std::time::Instant::now();

        // The held poll is answered while the server still runs: before its wait's end, not cut
        // when the server exits.
        let answer = held.await.unwrap().expect("the held poll is answered");
        let answered = signalled.elapsed();
        assert!(matches!(answer.status().as_u16(), 200 | 304), "{answer:?}");
        assert!(running(pid), "answered at the shutdown, not at the exit");
        // A payment lands while this server stops (not before: the held poll's order is not
        // to change, or its answer would say nothing of the shutdown).
        cluster.world.pay(&orders[turn], json!({})).await;
        // Its roles are taken by the others while it still runs (the stalled write holds it).
        let others: Vec<String> = servers.iter().filter(|s| *s != server).cloned().collect();
        for role in &roles_held {
            eventually(
                &format!("another server to run the {role}"),
                WAIT,
                || async {
                    assert!(
                        running(pid),
                        "{server} exited before another server ran the {role}"
                    );
                    let holders = roles(&others).await;
                    holders
                        .iter()
                        .any(|(_, roles)| roles.contains(role))
                        .then_some(())
                },
            )
            .await;
            moved += 1;
            println!(
                "{server}: its {role} run by another server {:?} after SIGTERM",
                signalled.elapsed()
            );
        }
        // It exits, within its bound, though the stalled client still holds its connection.
        eventually(&format!("{server} to exit"), WAIT, || async {
            (!running(pid)).then_some(())
        })
        .await;
        println!(
            "{server}: held poll answered {answered:?} after SIGTERM, exited after {:?} (a \
             stalled client held it to the shutdown's bound)",
            signalled.elapsed()
        );
        drop(stalled);
        cluster.server(server).restart();
        order(3 + turn, &mut orders, &mut shoppers).await;
    }
    assert!(moved > 0, "a server running a worker was stopped");
    let w = &cluster.world;
    for view in &orders[servers.len()..] {
        w.pay(view, json!({})).await;
    }
    let mut polls = 0;
    for shopper in shoppers {
        // Mined until each shopper sees its order paid.
        eventually("every shopper to see its order paid", WAIT, || async {
            w.mine().await;
            shopper.is_finished().then_some(())
        })
        .await;
        polls += shopper.await.unwrap();
    }
    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} of {polls} polls failed: {failed:?}",
        failed.len()
    );
    // Every order is there, and each paid one fulfilled once.
    let ids: Vec<&str> = orders.iter().map(|o| o["id"].as_str().unwrap()).collect();
    eventually("every order fulfilled", WAIT, || async {
        let events = w.fulfilled();
        ids.iter()
            .all(|id| events.iter().any(|e| e["checkoutId"] == *id))
            .then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let events = w.fulfilled();
    for id in &ids {
        let once = events.iter().filter(|e| e["checkoutId"] == *id).count();
        assert_eq!(once, 1, "{id} fulfilled {once} times");
    }
    assert_eq!(events.len(), ids.len(), "{events:?}");
    println!(
        "{polls} polls, none failed; {} orders paid and fulfilled once",
        ids.len()
    );
}
