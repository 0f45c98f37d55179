//! Three checkout servers on one PostgreSQL database, with the sandbox gateway on anvil, as a
//! merchant runs them behind a load balancer: a shopper's polls land anywhere, the server that
//! runs the reconciler and the chain's watcher may die by SIGKILL, a double click may reach two
//! servers at once, and all of them together spend one gateway budget.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use usdt_checkout_testkit::eventually;

/// A world on Postgres, and two more servers on its database.
async fn three_servers(name: &str, gateway_limit: Option<usize>) -> (World, Vec<CheckoutServer>) {
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
    (world, others)
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

/// Polls `id` through `entry` until its state is `state`.
async fn poll_until(entry: &str, id: &str, state: &str) -> Value {
    eventually(&format!("{id} to be {state}"), WAIT, || async {
        let view = get(&format!("{entry}/api/checkouts/{id}")).await;
        (view["state"] == state).then_some(view)
    })
    .await
}

async fn health(server: &str) -> Value {
    get(&format!("{server}/healthz")).await
}

/// The servers that hold the reconciler and the chain's watcher now.
async fn leaders(servers: &[&str]) -> Vec<String> {
    let mut holding = vec![];
    for server in servers {
        let roles = health(server).await["roles"].clone();
        if roles.as_array().is_some_and(|r| r.len() == 2) {
            holding.push(server.to_string());
        }
    }
    holding
}

#[tokio::test(flavor = "multi_thread")]
async fn polls_spread_over_three_servers_follow_one_checkout_to_paid_once() {
    let (w, others) = three_servers("replicas-polls", None).await;
    let servers = [
        w.server.url.clone(),
        others[0].url.clone(),
        others[1].url.clone(),
    ];
    let entry = round_robin(servers.to_vec()).await;

    let (status, view) = create(&entry, "tee", "replicas-polls-1").await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap();
    // Every server knows the checkout at once, whichever made it.
    for server in &servers {
        assert_eq!(
            get(&format!("{server}/api/checkouts/{id}")).await["state"],
            "waiting"
        );
    }
    w.pay(&view, json!({})).await;
    poll_until(&entry, id, "confirming").await;
    w.mine().await;
    let paid = poll_until(&entry, id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    for server in &servers {
        let view = get(&format!("{server}/api/checkouts/{id}")).await;
        assert_eq!(view["state"], "paid", "{server} knows too");
    }
    eventually("the fulfillment event", WAIT, || async {
        (!w.fulfilled().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(w.fulfilled().len(), 1, "one event, from one server");
    let held = leaders(&servers.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(
        held.len(),
        1,
        "one server runs the reconciler and the watcher"
    );
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
async fn the_server_running_the_workers_dies_by_sigkill_and_the_order_is_still_paid_once() {
    let (mut w, mut others) = three_servers("replicas-sigkill", None).await;
    let urls = [
        w.server.url.clone(),
        others[0].url.clone(),
        others[1].url.clone(),
    ];
    let all: Vec<&str> = urls.iter().map(String::as_str).collect();
    let leader = eventually("a server to run the workers", WAIT, || async {
        leaders(&all).await.pop()
    })
    .await;
    let survivor = urls.iter().find(|u| **u != leader).unwrap().clone();
    let (status, view) = create(&survivor, "tee", "replicas-sigkill-1").await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap();

    // SIGKILL: no goodbye to the database; its connections just close.
    if w.server.url == leader {
        w.server.stop();
    } else {
        others.iter_mut().find(|s| s.url == leader).unwrap().stop();
    }
    let alive: Vec<&str> = all.iter().copied().filter(|u| *u != leader).collect();
    let next = eventually("another server to take the workers over", WAIT, || async {
        leaders(&alive).await.pop()
    })
    .await;
    assert_ne!(next, leader);

    w.pay(&view, json!({})).await;
    w.mine().await;
    w.mine().await;
    let paid = poll_until(&survivor, id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    eventually("the fulfillment event", WAIT, || async {
        (!w.fulfilled().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = w.fulfilled();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["checkoutId"], id);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_idempotency_key_sent_to_two_servers_at_once_makes_one_order() {
    let (w, others) = three_servers("replicas-same-key", None).await;
    let urls = [
        w.server.url.clone(),
        others[0].url.clone(),
        others[1].url.clone(),
    ];
    let all: Vec<&str> = urls.iter().map(String::as_str).collect();
    let leader = eventually("a server to run the workers", WAIT, || async {
        leaders(&all).await.pop()
    })
    .await;
    // The two that do not reconcile: every gateway call they make is this order's.
    let (a, b) = match &all.iter().filter(|u| **u != leader).collect::<Vec<_>>()[..] {
        [a, b] => (a.to_string(), b.to_string()),
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
    let orders = w.admin_orders().await;
    assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_servers_spend_one_gateway_budget_and_draw_no_429() {
    // The gateway allows 10 calls a minute here, and the servers budget 10 between them.
    let (w, others) = three_servers("replicas-budget", Some(10)).await;
    let servers = [
        w.server.url.clone(),
        others[0].url.clone(),
        others[1].url.clone(),
    ];
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
