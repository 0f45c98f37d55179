//! The checkout server as a merchant runs it, against the real sandbox gateway on a real anvil
//! chain: checkouts priced by the server, paid on chain, seen through webhooks or the reconciler,
//! stored durably, and fulfilled once.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use usdt_checkout_protocol::gateway::{HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_testkit::{Client, eventually, now_ms};

on_both!(
    processes:
    a_checkout_priced_by_the_server_is_paid_on_chain_and_fulfilled_once,
    with_webhooks_dropped_the_reconciler_still_converges,
    the_chain_shows_what_the_gateway_has_not_said_yet,
    v2_a_checkout_is_paid_and_with_webhooks_dropped_reconciled,
    v2_a_creation_whose_answer_was_lost_is_read_back_and_paid,
    v1_answers_in_the_envelope_give_checkouts_that_are_paid,
    an_order_the_gateway_expires_is_paid_late_when_the_money_comes_after,
    forged_stale_and_replayed_webhooks_change_nothing_more_than_once,
    a_restart_mid_checkout_loses_nothing,
    tokens_the_gateway_does_not_offer_are_refused_and_a_storefront_checkout_starts,
    a_long_poll_answers_as_soon_as_the_payment_is_seen,
    long_polls_answer_when_the_gateway_starts_and_stops_refusing,
    one_client_cannot_spend_the_gateways_budget_on_checkouts,
    a_lost_answer_then_a_moved_rate_asks_the_gateway_the_same_terms_again,
    a_database_that_refuses_every_write_shows_in_healthz,
    a_reorg_while_the_server_was_down_takes_back_what_it_had_read,
);

async fn a_checkout_priced_by_the_server_is_paid_on_chain_and_fulfilled_once(db: Db) {
    let w = world_on("paid", db).await;
    // The browser sends a price of a cent; the server charges the catalog's 25.00 USD.
    let (status, view) = w
        .post(
            "/api/checkouts",
            json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-paid-0001",
                   "amount": "0.01", "price": "0.01", "payAmount": "0.01"}),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["state"], "waiting");
    assert_eq!(view["price"], json!({"amount": "25.00", "currency": "USD"}));
    assert_eq!(
        view["payment"]["amount"], "24.995001",
        "25 USD at 1.0002 USD per USDT, rounded up"
    );
    assert_eq!(view["payment"]["amountAtomic"], "24995001");
    let uri = view["payment"]["paymentUri"].as_str().unwrap();
    assert!(
        uri.contains("@31337/transfer?address=") && uri.ends_with("&uint256=24995001"),
        "{uri}"
    );
    assert!(view["expiresAt"].as_u64().unwrap() > view["serverTime"].as_u64().unwrap());

    // The same idempotency key (a double click, a retry) is the same checkout.
    let again = w.checkout("tee", "key-paid-0001").await;
    assert_eq!(again["id"], view["id"]);
    assert_eq!(again["payment"]["orderNo"], view["payment"]["orderNo"]);

    let id = view["id"].as_str().unwrap();
    let early = w
        .http
        .get(format!("{}/api/checkouts/{id}/receipt", w.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 409, "no receipt before it is paid");
    w.pay(&view, json!({})).await;
    let confirming = w.wait_state(id, "confirming").await;
    assert_eq!(confirming["payment"]["requiredConfirmations"], 2);
    w.mine().await;
    let paid = w.wait_state(id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    assert_eq!(paid["payment"]["remaining"], "0");
    assert_eq!(paid["payment"]["transactions"].as_array().unwrap().len(), 1);

    let event = w.fulfilled_once(id).await;
    assert_eq!(event["type"], "checkout.paid");
    assert_eq!(event["amountPaid"], "24.995001");

    // The receipt: signed by the server's own key, published at the well-known path; the CLI
    // checks it, and refuses it once a byte has changed.
    let receipt = w
        .http
        .get(format!("{}/api/checkouts/{id}/receipt", w.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(receipt.status(), 200);
    assert!(
        receipt.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("receipt-{id}.json"))
    );
    let text = receipt.text().await.unwrap();
    let key = w.receipt_key().await;
    assert_eq!(key["algorithm"], "ES256");
    let public = key["publicKey"].as_str().unwrap();
    let signed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(signed["receipt"]["paid"], "24.995001");
    assert_eq!(
        signed["receipt"]["price"],
        json!({"amount": "25.00", "currency": "USD"})
    );
    assert_eq!(signed["receipt"]["state"], "paid");
    assert_eq!(
        signed["receipt"]["transactions"].as_array().unwrap().len(),
        1
    );
    let printed = verify_receipt(&text, public).unwrap();
    assert!(printed.contains("paid 24.995001 USDT"), "{printed}");
    let changed = text.replacen("24.995001", "24.995002", 1);
    assert!(
        verify_receipt(&changed, public).is_err(),
        "one changed byte is refused"
    );
}

async fn with_webhooks_dropped_the_reconciler_still_converges(db: Db) {
    let w = world_on("reconcile", db).await;
    w.sandbox_faults(json!({"dropWebhooks": true})).await;
    let view = w.checkout("mug", "key-reconcile-01").await;
    assert_eq!(
        view["payment"]["amount"], "12",
        "priced in USDT: charged as is"
    );
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
}

async fn the_chain_shows_what_the_gateway_has_not_said_yet(db: Db) {
    let w = world_on("chain-first", db).await;
    let view = w.checkout("mug", "key-chain-first-1").await;
    let id = view["id"].as_str().unwrap();
    // The gateway goes quiet: its webhooks are held for ten minutes and its API fails, so
    // whatever the widget learns now comes from the chain alone.
    w.sandbox_faults(json!({"webhookDelayMs": 600_000, "errorRate": 1.0}))
        .await;
    w.pay(&view, json!({"amount": "5"})).await;
    let partly = w.wait_state(id, "partially_paid").await;
    assert_eq!(partly["payment"]["paid"], "5");
    assert_eq!(partly["payment"]["remaining"], "7");

    w.pay(&view, json!({"amount": "7"})).await;
    let seen = w.wait_state(id, "confirming").await;
    assert_eq!(seen["payment"]["confirmations"], 1, "confirming 1 of 2");
    assert_eq!(seen["payment"]["transactions"].as_array().unwrap().len(), 2);
    for _ in 0..5 {
        w.mine().await;
    }
    // Confirmed on chain, and still not paid: fulfillment follows the gateway's word. The
    // merchant sees the disagreement.
    let orders: Value = eventually("the disagreement", WAIT, || async {
        let orders = w.admin_orders().await;
        orders[0]["disagreement"].is_string().then_some(orders)
    })
    .await;
    assert_eq!(orders[0]["state"], "confirming");
    assert_eq!(orders[0]["chainPayments"].as_array().unwrap().len(), 2);
    assert!(w.fulfilled().is_empty());

    // The gateway answers again: paid.
    w.sandbox_faults(json!({})).await;
    w.wait_state(id, "paid").await;
}

async fn v2_a_checkout_is_paid_and_with_webhooks_dropped_reconciled(db: Db) {
    let w = world_with(
        "v2",
        Storefront {
            db,
            api: usdt_checkout_testkit::Api::V2,
            ..Storefront::default()
        },
    )
    .await;
    let view = w.checkout("mug", "key-v2-paid-0001").await;
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;

    w.sandbox_faults(json!({"dropWebhooks": true})).await;
    let view = w.checkout("mug", "key-v2-recon-0001").await;
    let id = view["id"].as_str().unwrap();
    assert_eq!(
        view["payment"]["amount"], "12",
        "the first order is paid: its amount is free again"
    );
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
    eventually("two fulfillment events", WAIT, || async {
        (w.fulfilled().len() == 2).then_some(())
    })
    .await;
}

/// V2 answers an order number used before with `000201` "Data Already Exists", not the order:
/// a creation whose answer was lost, asked again, reads the order back with `payorder/detail`
/// and gives the shopper a checkout, whether the retry is the server's own or the shopper's.
async fn v2_a_creation_whose_answer_was_lost_is_read_back_and_paid(db: Db) {
    let w = world_with(
        "v2-lost-answer",
        Storefront {
            db,
            api: usdt_checkout_testkit::Api::V2,
            ..Storefront::default()
        },
    )
    .await;
    // The first attempt's answer lost: the server's own retry is told the order exists.
    w.sandbox_faults(json!({"loseAnswers": 1})).await;
    let view = w.checkout("tee", "key-v2-lost-0001").await;
    assert_eq!(view["state"], "waiting", "{view}");
    assert_eq!(view["payment"]["amount"], "24.995001");
    assert_eq!(
        view["payment"]["toAddress"],
        w.sandbox
            .receiving_address(&w.keys.api_key)
            .to_string()
            .as_str(),
        "the configured receiving address"
    );
    assert!(view["expiresAt"].as_u64().unwrap() > view["serverTime"].as_u64().unwrap());
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
    w.fulfilled_once(id).await;

    // Every attempt of a request lost: the shopper is told to retry, and the retry reads the
    // order back, with the amount first asked.
    w.sandbox_faults(json!({"loseAnswers": 3})).await;
    let request = json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-v2-lost-0002"});
    let (status, body) = w.post("/api/checkouts", request.clone()).await;
    assert!(
        status >= 500,
        "the shopper is told to retry: {status} {body}"
    );
    let (status, view) = w.post("/api/checkouts", request).await;
    assert_eq!(status, 201, "the retry reads the order back: {view}");
    let order_no = view["payment"]["orderNo"].as_str().unwrap();
    let order = Client::new(&w.sandbox.url)
        .get(&format!("/sandbox/orders/{order_no}"))
        .await;
    assert_eq!(order.body["data"]["amount"], view["payment"]["amount"]);
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
}

/// V1 documents no answer shape: a gateway answering V1 in V2's envelope (the sandbox with
/// `--v1-envelope`) is read as well as a bare one, its rate list, its creation's answer and its
/// order query alike.
async fn v1_answers_in_the_envelope_give_checkouts_that_are_paid(db: Db) {
    let w = world_with(
        "v1-envelope",
        Storefront {
            db,
            v1_envelope: true,
            ..Storefront::default()
        },
    )
    .await;
    assert_eq!(w.sandbox.ready["enveloped"], true);
    let rates = Client::new(&w.sandbox.url)
        .get("/api/v1/public/rates")
        .await;
    assert_eq!(
        (rates.body["code"].as_str(), rates.body["success"].as_bool()),
        (Some("200"), Some(true)),
        "{}",
        rates.body
    );
    let view = w.checkout("tee", "key-v1-envelope-1").await;
    assert_eq!(
        view["payment"]["amount"], "24.995001",
        "priced at the enveloped rate list's 1.0002"
    );
    assert_eq!(
        view["payment"]["toAddress"],
        w.sandbox
            .receiving_address(&w.keys.api_key)
            .to_string()
            .as_str(),
        "from the enveloped creation answer"
    );
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
    w.fulfilled_once(id).await;

    // Without webhooks, the gateway's word comes from the enveloped order query.
    w.sandbox_faults(json!({"dropWebhooks": true})).await;
    let view = w.checkout("mug", "key-v1-envelope-2").await;
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
}

/// BlockATM documents none of its public lists' fields: a gateway whose lists carry only chain
/// ids (as strings) and symbols (the sandbox with `--minimal-lists`) gets checkouts made and paid,
/// each chain's name, contract and decimals the registry's: 6 decimals on 31337, 18 on 31338.
/// Before, every checkout against such a gateway failed with 502 (`missing field name`).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v1_lists_of_chain_ids_and_symbols_alone_give_checkouts_that_are_paid() {
    lists_of_chain_ids_and_symbols_alone(usdt_checkout_testkit::Api::V1).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn v2_lists_of_chain_ids_and_symbols_alone_give_checkouts_that_are_paid() {
    lists_of_chain_ids_and_symbols_alone(usdt_checkout_testkit::Api::V2).await;
}

async fn lists_of_chain_ids_and_symbols_alone(api: usdt_checkout_testkit::Api) {
    use usdt_checkout_protocol::gateway::{v1, v2};
    use usdt_checkout_testkit::Api;
    let (name, networks, tokens) = match api {
        Api::V1 => ("minimal-lists-v1", v1::PATH_NETWORKS, v1::PATH_TOKENS),
        Api::V2 => ("minimal-lists-v2", v2::PATH_NETWORKS, v2::PATH_TOKENS),
    };
    let w = world_with(
        name,
        Storefront {
            api,
            second_chain: true,
            minimal_lists: true,
            ..Storefront::default()
        },
    )
    .await;
    let gateway = Client::new(&w.sandbox.url);
    let listed = |body: Value| match api {
        Api::V1 => body,
        Api::V2 => body["data"].clone(),
    };
    assert_eq!(
        listed(gateway.get(networks).await.body),
        json!([{"chainId": "31337"}, {"chainId": "31338"}])
    );
    assert_eq!(
        listed(gateway.get(tokens).await.body),
        json!([{"chainId": "31337", "symbol": "USDT"}, {"chainId": "31338", "symbol": "USDT"}])
    );
    for (chain, decimals, network, atomic) in [
        (31337, 6, "Local chain", "12000000"),
        (31338, 18, "Local BNB chain", "12000000000000000000"),
    ] {
        let (status, view) = w
            .post(
                "/api/checkouts",
                json!({"item": "mug", "chainId": chain, "symbol": "USDT",
                       "idempotencyKey": format!("key-minimal-{chain}")}),
            )
            .await;
        assert_eq!(status, 201, "{view}");
        let payment = &view["payment"];
        assert_eq!(payment["network"], network, "{view}");
        assert_eq!(payment["decimals"], decimals, "{view}");
        assert_eq!(
            payment["tokenContract"],
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
        assert_eq!(payment["amount"], "12");
        assert_eq!(payment["amountAtomic"], atomic);
        let id = view["id"].as_str().unwrap();
        w.pay(&view, json!({})).await;
        w.wait_state(id, "confirming").await;
        let mined = gateway
            .post("/sandbox/mine", json!({"blocks": 1, "chainId": chain}))
            .await;
        assert_eq!(mined.status, 200, "{}", mined.body);
        let paid = w.wait_state(id, "paid").await;
        assert_eq!(paid["payment"]["paid"], "12");
    }
}

async fn an_order_the_gateway_expires_is_paid_late_when_the_money_comes_after(db: Db) {
    let w = world_on("late", db).await;
    let view = w.checkout("mug", "key-late-000001").await;
    let id = view["id"].as_str().unwrap();
    let order_no = view["payment"]["orderNo"].as_str().unwrap();
    let reply = usdt_checkout_testkit::Client::new(&w.sandbox.url)
        .post(&format!("/sandbox/orders/{order_no}/expire"), json!({}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    w.wait_state(id, "expired").await;
    w.pay(&view, json!({})).await;
    w.mine().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = w.status(id).await;
    assert_eq!(now["state"], "paid_late", "{}", w.admin_orders().await);
}

async fn forged_stale_and_replayed_webhooks_change_nothing_more_than_once(db: Db) {
    // The gateway's word alone: with the chain watched, a "paid" counts for no more than the
    // chain shows (see tests/hostile.rs).
    let w = world_with(
        "webhooks",
        Storefront {
            db,
            watch_chain: false,
            ..Storefront::default()
        },
    )
    .await;
    let view = w.checkout("mug", "key-webhooks-01").await;
    let id = view["id"].as_str().unwrap();
    let order_no = view["payment"]["orderNo"].as_str().unwrap();
    // BlockATM's documented V1 callback, as its readme.io page lists the fields.
    let event = json!({
        "platOrderNo": "8210000001", "orderNo": order_no, "amount": "12", "fee": "0",
        "chainId": "31337", "network": "Local chain", "symbol": "USDT", "txId": "0xfeed",
        "type": 2, "status": 1, "createTime": 1,
    })
    .to_string();
    let send = |key: usdt_checkout_protocol::signature::V1PrivateKey, time: u64| {
        let signature = key.sign(&signed_string::for_json_body(&event, time).unwrap());
        w.http
            .post(format!("{}/webhooks/blockatm", w.server.url))
            .header("content-type", "application/json")
            .header(HEADER_REQUEST_TIME, time.to_string())
            .header(HEADER_SIGNATURE_V1, signature)
            .body(event.clone())
            .send()
    };
    let before = w.status(id).await;

    let forged = send(
        usdt_checkout_protocol::signature::V1PrivateKey::generate(),
        now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let stale = send(w.sandbox.gateway_private_key(), now_ms() - 120_000)
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    let after = w.status(id).await;
    assert_eq!(after["state"], "waiting");
    assert_eq!(
        after["version"], before["version"],
        "rejected webhooks changed nothing"
    );

    // Signed as the gateway signs: applied once, however often it arrives.
    for _ in 0..3 {
        let genuine = send(w.sandbox.gateway_private_key(), now_ms())
            .await
            .unwrap();
        assert_eq!(genuine.status(), 200);
    }
    let paid = w.status(id).await;
    assert_eq!(paid["state"], "paid");
    assert_eq!(
        paid["version"].as_i64().unwrap(),
        before["version"].as_i64().unwrap() + 1
    );
    let events = eventually("the fulfillment event", WAIT, || async {
        let events = w.fulfilled();
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 1);
}

async fn a_restart_mid_checkout_loses_nothing(db: Db) {
    let mut w = world_on("restart", db).await;
    let view = w.checkout("tee", "key-restart-001").await;
    let id = view["id"].as_str().unwrap().to_owned();
    w.pay(&view, json!({"amount": "10"})).await;
    w.wait_state(&id, "partially_paid").await;

    // Down while the rest is paid: the gateway's webhooks fail and are retried.
    w.server.stop();
    w.pay(&view, json!({})).await;
    w.mine().await;
    w.server.restart();

    let paid = w.wait_state(&id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    assert_eq!(paid["payment"]["transactions"].as_array().unwrap().len(), 2);
    let again = w.checkout("tee", "key-restart-001").await;
    assert_eq!(
        again["id"],
        id.as_str(),
        "the idempotency key survives the restart"
    );
}

/// What the gateway offers decides what a shopper may pay with (the router's own refusals are
/// `oneshot` tests in `api.rs`); a storefront's checkout is started at the gateway's rate.
async fn tokens_the_gateway_does_not_offer_are_refused_and_a_storefront_checkout_starts(db: Db) {
    let w = world_on("bad", db).await;
    let cases = [
        json!({"item": "tee", "chainId": 5, "symbol": "USDT", "idempotencyKey": "key-bad-00002"}),
        json!({"item": "tee", "chainId": 31337, "symbol": "DOGE", "idempotencyKey": "key-bad-00003"}),
        json!({"item": "tee", "chainId": 31337, "symbol": "usdt", "idempotencyKey": "key-bad-00006"}),
    ];
    for body in cases {
        let (got, reply) = w.post("/api/checkouts", body.clone()).await;
        assert_eq!(got, 400, "{body} -> {reply}");
        assert!(
            reply["message"].as_str().unwrap().contains("not accepted"),
            "{reply} should say what is not accepted"
        );
    }
    assert_eq!(
        w.admin_orders().await,
        json!([]),
        "a refused request writes nothing"
    );
    let storefront = w
        .http
        .post(format!("{}/api/admin/checkouts", w.server.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"amount": "40.00", "currency": "USD", "description": "Cart #88", "reference": "cart-88"}))
        .send()
        .await
        .unwrap();
    assert_eq!(storefront.status(), 201);
    let storefront: Value = storefront.json().await.unwrap();
    assert_eq!(storefront["state"], "open");
    let (status, started) = w
        .post(
            "/api/checkouts",
            json!({"checkoutId": storefront["id"], "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-cart-0088"}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(
        started["payment"]["amount"], "39.992002",
        "40 USD at 1.0002, rounded up"
    );
}

/// A long poll answers as soon as the payment is seen (ETags and 304s are `oneshot` tests in
/// `api.rs`).
async fn a_long_poll_answers_as_soon_as_the_payment_is_seen(db: Db) {
    let w = world_on("poll", db).await;
    let view = w.checkout("mug", "key-poll-000001").await;
    let id = view["id"].as_str().unwrap();
    let url = format!("{}/api/checkouts/{id}", w.server.url);
    let first = w.http.get(&url).send().await.unwrap();
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let poll = w
        .http
        .get(format!("{url}?wait=25"))
        .header("if-none-match", &tag)
        .send();
    let pay = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        w.pay(&view, json!({})).await;
    };
    let (answer, ()) = tokio::join!(poll, pay);
    let answer = answer.unwrap();
    assert_eq!(answer.status(), 200);
    assert_ne!(answer.headers()["etag"].to_str().unwrap(), tag);
    let body: Value = answer.json().await.unwrap();
    assert_ne!(body["state"], "waiting", "{body} {tag}");
}

/// A widget holding a long poll learns at once that the gateway refuses the merchant, and again
/// when it answers: the trouble is part of what the poll watches, not only the checkout.
async fn long_polls_answer_when_the_gateway_starts_and_stops_refusing(db: Db) {
    let w = world_on("poll-health", db).await;
    let view = w.checkout("mug", "key-poll-health-1").await;
    let id = view["id"].as_str().unwrap();
    let url = format!("{}/api/checkouts/{id}", w.server.url);
    let long_poll = |tag: String| {
        let request = w
            .http
            .get(format!("{url}?wait=25"))
            .header("if-none-match", tag);
        async move {
            let answer = request.send().await.unwrap();
            assert_eq!(
                answer.status(),
                200,
                "the long poll answers with a new view"
            );
            let tag = answer.headers()["etag"].to_str().unwrap().to_owned();
            let body: Value = answer.json().await.unwrap();
            (tag, body)
        }
    };
    let first = w.http.get(&url).send().await.unwrap();
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();

    // The reconciler's next call is refused.
    w.sandbox_faults(json!({"forceStatus": 429})).await;
    let (tag, body) = long_poll(tag).await;
    assert_eq!(body["gateway"]["state"], "rate_limited", "{body}");
    assert_eq!(body["state"], "waiting");

    w.sandbox_faults(json!({})).await;
    let (_, body) = long_poll(tag).await;
    assert_eq!(body["gateway"]["state"], "available", "{body}");
}

/// Checkouts cost gateway calls: one client (one address) asking for more than its share a
/// minute is refused with when to come back, and the shoppers already paying are served.
async fn one_client_cannot_spend_the_gateways_budget_on_checkouts(db: Db) {
    let w = world_with(
        "per-client",
        Storefront {
            db,
            checkouts_per_client_per_minute: Some(3),
            ..Storefront::default()
        },
    )
    .await;
    let first = w.checkout("mug", "key-client-0001").await;
    w.checkout("mug", "key-client-0002").await;
    w.checkout("mug", "key-client-0003").await;
    let (status, refused) = w
        .post(
            "/api/checkouts",
            json!({"item": "mug", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "key-client-0004"}),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (429, Some("too_many_checkouts")),
        "{refused}"
    );
    assert!(refused["retryAfter"].as_u64().unwrap() >= 1);
    assert_eq!(
        w.admin_orders().await.as_array().unwrap().len(),
        3,
        "the refused one made nothing"
    );
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        w.status(id).await["state"],
        "waiting",
        "a shopper paying is served"
    );
    w.pay(&first, json!({})).await;
    w.mine().await;
    w.wait_state(id, "paid").await;
}

/// The gateway makes the order and its answer is lost; the rate moves before the shopper
/// retries. The retry must ask the gateway for what it may already have made, not re-price:
/// an order number asked again with another amount is refused as a duplicate, for good.
async fn a_lost_answer_then_a_moved_rate_asks_the_gateway_the_same_terms_again(db: Db) {
    let w = world_with(
        "lost-answer",
        Storefront {
            db,
            rates_refresh_seconds: Some(1),
            ..Storefront::default()
        },
    )
    .await;
    let request = json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "lost-answer-1"});
    // Every attempt of the first request: the order is made, then found again, each answer lost.
    w.sandbox_faults(json!({"loseAnswers": 3})).await;
    let (status, body) = w.post("/api/checkouts", request.clone()).await;
    assert!(
        status >= 500,
        "the shopper is told to retry: {status} {body}"
    );

    let reply = Client::new(&w.sandbox.url)
        .post(
            "/sandbox/rates",
            json!([{"base": "USDT", "quote": "USD", "rate": "1.25"}]),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let (status, view) = w.post("/api/checkouts", request.clone()).await;
    assert_eq!(status, 201, "the retry finds the order: {view}");
    assert_eq!(
        view["payment"]["amount"], "24.995001",
        "25 USD at the rate first asked (1.0002), not the moved one (1.25)"
    );
    let order = Client::new(&w.sandbox.url)
        .get(&format!(
            "/sandbox/orders/{}",
            view["payment"]["orderNo"].as_str().unwrap()
        ))
        .await;
    assert_eq!(order.body["data"]["amount"], "24.995001", "{}", order.body);

    // A new checkout is priced at the moved rate: only the one asked for is held to it.
    let fresh = w.checkout("tee", "lost-answer-2").await;
    assert_eq!(fresh["payment"]["amount"], "20");
}

/// Every write refused (as by a full disk or a corrupted index): shoppers get 500s, and
/// `/healthz`, which said `ok`, says so until a write succeeds again.
async fn a_database_that_refuses_every_write_shows_in_healthz(db: Db) {
    let w = world_on("refusing-db", db).await;
    let url = format!("{}/healthz", w.server.url);
    let health = || w.get_json(&url);
    assert_eq!(health().await["database"]["writes"], "ok");
    const TABLES: [&str; 6] = [
        "checkouts",
        "webhook_events",
        "fulfillment_events",
        "chain_payments",
        "chain_cursors",
        "gateway_budget",
    ];
    let (refuse, heal): (String, String) = match db {
        Db::Sqlite => TABLES
            .iter()
            .flat_map(|t| ["INSERT", "UPDATE"].map(|op| (t, op)))
            .map(|(t, op)| {
                (
                    format!(
                        "CREATE TRIGGER refuse_{op}_{t} BEFORE {op} ON {t} \
                         BEGIN SELECT RAISE(ABORT, 'database disk image is malformed'); END;"
                    ),
                    format!("DROP TRIGGER refuse_{op}_{t};"),
                )
            })
            .unzip(),
        Db::Postgres => {
            let function = "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                            $$ BEGIN RAISE EXCEPTION 'could not write block: No space left on \
                            device'; END $$;";
            let (on, off): (String, String) = TABLES
                .iter()
                .map(|t| {
                    (
                        format!(
                            "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {t} \
                             FOR EACH ROW EXECUTE FUNCTION refuse();"
                        ),
                        format!("DROP TRIGGER refuse ON {t};"),
                    )
                })
                .unzip();
            (format!("{function}{on}"), off)
        }
    };
    w.run_sql(&refuse).await;
    let (status, body) = w
        .post(
            "/api/checkouts",
            json!({"item": "tee", "chainId": 31337, "symbol": "USDT", "idempotencyKey": "refused-0001"}),
        )
        .await;
    assert!(status >= 500, "{status} {body}");
    let failing = health().await;
    assert_eq!(failing["status"], "degraded", "{failing}");
    assert_eq!(failing["database"]["writes"], "failing", "{failing}");
    let error = failing["database"]["lastFailure"]["error"]
        .as_str()
        .unwrap();
    assert!(
        error.contains("malformed") || error.contains("No space"),
        "{error}"
    );

    w.run_sql(&heal).await;
    w.checkout("tee", "healed-00001").await;
    let healed = health().await;
    assert_eq!(healed["database"]["writes"], "ok", "{healed}");
    assert_eq!(healed["status"], "ok", "{healed}");
}

/// The chain reorganises while the checkout server is down: once started again, the payment the
/// reorg took back is no longer counted (found by the simulation: a restart re-read recent blocks
/// without the hashes that show a reorg, and kept the payment of the block replaced).
async fn a_reorg_while_the_server_was_down_takes_back_what_it_had_read(db: Db) {
    let mut w = world_on("reorg-while-down", db).await;
    let view = w.checkout("tee", "reorg-down-0001").await;
    let id = view["id"].as_str().unwrap().to_owned();
    w.pay(&view, json!({"amount": "10"})).await;
    w.wait_state(&id, "partially_paid").await;
    async fn attached(w: &World) -> usize {
        w.admin_orders().await[0]["chainPayments"]
            .as_array()
            .unwrap()
            .len()
    }
    eventually("the watcher to read the payment", WAIT, || async {
        (attached(&w).await == 1).then_some(())
    })
    .await;

    w.server.stop();
    // Every block since the order, the payment's among them, replaced by empty ones.
    let reply = Client::new(&w.sandbox.url)
        .post("/sandbox/reorg", json!({"depth": 3}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    w.server.restart();

    eventually("the payment taken back", WAIT, || async {
        (attached(&w).await == 0).then_some(())
    })
    .await;
    let unmatched = w.admin_get("/api/admin/unmatched").await;
    assert_eq!(unmatched, json!([]), "nor kept as unmatched");
}

/// A checkout server on a configuration of its own, with no gateway (nothing listens at its
/// gateway's address) and no chain: for what a shopper's connection does to the server, and
/// what its database does, where a whole world of processes would only cost time. Killed on
/// drop.
struct Bare {
    url: String,
    address: std::net::SocketAddr,
    child: Option<std::process::Child>,
    config: std::path::PathBuf,
    /// Run by the shell that starts the server, before it: a `ulimit`.
    prelude: String,
    /// As `database =` names it.
    database: String,
    _dir: usdt_checkout_testkit::tempdir::Dir,
}

impl Bare {
    /// `database` as `database =` names it; `None`: an SQLite file of its own. `extra` is more
    /// of the configuration's top level.
    fn start(name: &str, database: Option<&str>, extra: &str, prelude: &str) -> Self {
        Self::with_gateway(name, database, extra, prelude, "http://127.0.0.1:1")
    }

    /// [`Bare::start`], its gateway at `gateway`.
    fn with_gateway(
        name: &str,
        database: Option<&str>,
        extra: &str,
        prelude: &str,
        gateway: &str,
    ) -> Self {
        let dir = usdt_checkout_testkit::tempdir::Dir::new(name);
        let sqlite = dir.path.join("checkout.sqlite").display().to_string();
        let database = database.unwrap_or(&sqlite).to_owned();
        let merchant = usdt_checkout_protocol::signature::V1PrivateKey::generate();
        let gateway_key = usdt_checkout_protocol::signature::V1PrivateKey::generate();
        let config = dir.path.join("checkout.toml");
        std::fs::write(
            &config,
            format!(
                r#"listen = "127.0.0.1:0"
database = "{database}"
{extra}

[gateway]
url = "{gateway}"
api_key = "pk_bare"
private_key = "{private}"
webhook_public_key = "{public}"

[admin]
token = "{ADMIN_TOKEN}"
"#,
                private = merchant.to_base64_pkcs8(),
                public = gateway_key.public_key().to_base64_spki(),
            ),
        )
        .unwrap();
        let mut bare = Self {
            url: String::new(),
            address: "127.0.0.1:1".parse().unwrap(),
            child: None,
            config,
            prelude: prelude.to_owned(),
            database,
            _dir: dir,
        };
        bare.spawn();
        bare
    }

    fn spawn(&mut self) {
        use std::io::BufRead;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} exec \"$0\" serve --config \"$1\"",
                self.prelude
            ))
            .arg(env!("CARGO_BIN_EXE_checkout-server"))
            .arg(&self.config)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "usdt_checkout_server=warn".into()),
            )
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the checkout server starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready: Value = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Ok(value) = serde_json::from_str(&line) {
                        break value;
                    }
                }
                _ => panic!("the checkout server exited before it was ready"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        self.address = ready["listen"].as_str().unwrap().parse().unwrap();
        self.url = format!("http://{}", self.address);
        self.child = Some(child);
    }

    /// Killed, as by a crash (SIGKILL), and started again on the same configuration.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn health(&self) -> Value {
        reqwest::get(format!("{}/healthz", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Slowloris: a client that sends half a request line and stalls held its connection (a file
/// descriptor, a task) for as long as it liked. It is closed once the header timeout passes,
/// while whole requests are answered meanwhile.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_client_stalling_in_its_request_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Bare::start("slow-headers", None, "", "");
    let mut stalled = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    stalled.write_all(b"GET /heal").await.unwrap();
    assert_eq!(server.health().await["status"], "ok", "others are served");

    let closed = tokio::time::timeout(Duration::from_secs(90), async {
        let mut buffer = [0u8; 1024];
        // Whatever the server says last (a 408, or nothing), then the end of the stream.
        loop {
            match stalled.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the stalled connection is still open after 90 s"
    );
    assert_eq!(server.health().await["status"], "ok");
}

/// A storefront's checkout on `server` (no gateway needed), and its status's ETag.
async fn storefront_checkout(server: &Bare) -> (String, String) {
    let http = reqwest::Client::new();
    let made: Value = http
        .post(format!("{}/api/admin/checkouts", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"amount": "5", "currency": "USDT", "description": "Sticker"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().expect("a checkout").to_owned();
    let status = http
        .get(format!("{}/api/checkouts/{id}", server.url))
        .send()
        .await
        .unwrap();
    let tag = status.headers()["etag"].to_str().unwrap().to_owned();
    (id, tag)
}

/// Past its cap on held polls (three quarters of the open-files limit) the server answers a
/// poll at once, to save the descriptors it has left; the attack found those connections kept
/// open all the same, each holding the very descriptor the cap is there to save. Such an answer
/// now says `Connection: close`, and the connection is closed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_poll_over_the_cap_is_answered_and_its_connection_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // 200 descriptors: polls are held up to 150.
    let server = Bare::start("poll-cap", None, "", "ulimit -n 200;");
    let (id, tag) = storefront_checkout(&server).await;
    let request = format!(
        "GET /api/checkouts/{id}?wait=25 HTTP/1.1\r\nHost: shop\r\nIf-None-Match: {tag}\r\n\r\n"
    );
    let mut held = vec![];
    for _ in 0..150 {
        let mut poll = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        poll.write_all(request.as_bytes()).await.unwrap();
        held.push(poll);
    }

    // The head of an answer that comes within 3 s; none: the poll is held.
    async fn head_within(poll: &mut tokio::net::TcpStream) -> Option<String> {
        let mut text = Vec::new();
        let mut buffer = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(3), async {
            while !text.windows(4).any(|w| w == b"\r\n\r\n") {
                match poll.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => text.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await
        .ok()?;
        Some(String::from_utf8_lossy(&text).to_lowercase())
    }
    // A poll that overtook one of the 150 is held: it is kept open (closed, its room would go to
    // the next), and the next one asks again.
    let mut answered = None;
    for _ in 0..20 {
        let mut poll = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        poll.write_all(request.as_bytes()).await.unwrap();
        match head_within(&mut poll).await {
            Some(head) => {
                answered = Some((head, poll));
                break;
            }
            None => held.push(poll),
        }
    }
    let (head, mut declined) = answered.expect("a poll answered at once");
    assert!(head.contains("retry-after: 2"), "{head}");
    assert!(head.starts_with("http/1.1 304"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match declined.read(&mut rest).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the declined poll's connection is still open"
    );

    let health = server.health().await;
    assert_eq!(health["longPolls"]["cap"], 150, "{health}");
    assert_eq!(health["longPolls"]["held"], 150, "{health}");
    drop(held);
}

/// A PostgreSQL cluster of the test's own, to stop and start again mid-test (the tests'
/// shared one serves every other test of the process). Stopped and removed on drop.
struct OwnPostgres {
    bin: std::path::PathBuf,
    root: bool,
    data: std::path::PathBuf,
    port: u16,
    _dir: usdt_checkout_testkit::tempdir::Dir,
}

impl OwnPostgres {
    fn start(name: &str) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries (cargo xtask setup installs them)")
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version: u32 = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("pg_ctl").exists().then_some((version, bin))
            })
            .max_by_key(|(version, _)| *version)
            .map(|(_, bin)| bin)
            .expect("a PostgreSQL with pg_ctl");
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
        let dir = usdt_checkout_testkit::tempdir::Dir::new(name);
        if root {
            // initdb and postgres refuse to run as root.
            let chown = std::process::Command::new("chown")
                .arg("postgres:")
                .arg(&dir.path)
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let own = Self {
            bin,
            root,
            data: dir.path.join("data"),
            port: usdt_checkout_testkit::free_port(),
            _dir: dir,
        };
        own.run(
            "initdb",
            &[
                "-D",
                own.data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        own.resume();
        own
    }

    /// `program args…` from the cluster's binaries, as its owner; panics with its output if it
    /// fails.
    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.root {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        };
        let output = command
            .args(args)
            .current_dir(&self._dir.path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the cluster (again), on the same port, and waits until it takes connections.
    fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self._dir.path.display()
        );
        let log = self._dir.path.join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops it as an operator does (`pg_ctl stop`, fast: connections are ended).
    fn pause(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// A new, empty database on it, as `database =` names it.
    async fn database(&self, name: &str) -> String {
        use sqlx::Connection;
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new(if self.root { "runuser" } else { "sh" })
            .args(if self.root {
                vec!["-u", "postgres", "--"]
            } else {
                vec!["-c", "exec \"$@\"", "sh"]
            })
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

/// Postgres stops under a running server. Writes are refused at once with 503
/// `database_unavailable` and `Retry-After` (they hung on the pool for 30 s, then the request
/// timed out with 408), `/healthz` says the database is unavailable (it said ok), and once
/// Postgres is back the same request succeeds and nothing made before is lost. (That status
/// polls of checkouts being paid go on from memory meanwhile: tests/api.rs.)
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn a_database_that_stops_is_refused_at_once_said_in_healthz_and_nothing_is_lost() {
    let postgres = OwnPostgres::start("db-stops");
    let database = postgres.database("checkout").await;
    let server = Bare::start("db-stops", Some(&database), "", "");
    let (kept, _) = storefront_checkout(&server).await;
    let health = server.health().await;
    assert_eq!(health["status"], "ok", "{health}");

    postgres.pause();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let create = || {
        http.post(format!("{}/api/admin/checkouts", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"amount": "7", "currency": "USDT", "description": "Mug", "reference": "cart-7"}))
            .send()
    };
    let refused = create().await.unwrap();
    let status = refused.status().as_u16();
    let retry_after = refused.headers().get("retry-after").cloned();
    let body: Value = refused.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "database_unavailable", "{body}");
    assert!(retry_after.is_some(), "{body}");

    let health = server.health().await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["database"]["available"], false, "{health}");
    assert!(health["database"]["error"].is_string(), "{health}");

    postgres.resume();
    let made: Value = eventually("a creation once Postgres is back", WAIT, || async {
        let reply = create().await.ok()?;
        (reply.status() == 201).then_some(())?;
        reply.json().await.ok()
    })
    .await;
    let health = eventually("healthz to say the database is back", WAIT, || async {
        let health = server.health().await;
        (health["database"]["available"] == true).then_some(health)
    })
    .await;
    assert_eq!(health["database"]["writes"], "ok", "{health}");
    let orders: Value = http
        .get(format!("{}/api/admin/orders", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "the refused creation made nothing: {orders}");
    assert!(ids.contains(&kept.as_str()), "{orders}");
    assert!(ids.contains(&made["id"].as_str().unwrap()), "{orders}");
}

/// A gateway that lists chain 31337's USDT and answers every signed call 429 with
/// `Retry-After: 3600`, as the attack made it: the address it listens on.
async fn gateway_asking_an_hour() -> String {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{any, get};
    let refuse = || async {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3600".parse().unwrap());
        (
            StatusCode::TOO_MANY_REQUESTS,
            headers,
            axum::Json(json!({"code": "000429", "msg": "rate limited"})),
        )
    };
    let app = axum::Router::new()
        .route(
            "/api/v1/public/networklist",
            get(|| async { axum::Json(json!([{"chainId": "31337", "name": "Local chain"}])) }),
        )
        .route(
            "/api/v1/public/cryptocurrencies",
            get(|| async {
                axum::Json(json!([{"chainId": "31337", "symbol": "USDT",
                    "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "decimals": 6}]))
            }),
        )
        .fallback(any(refuse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// The attack: one 429 with `Retry-After: 3600` refused every new checkout for an hour, and a
/// restart (even SIGKILL) kept the pause, with nothing in `/healthz` to say why. A 429 pauses
/// calls for at most a minute (BlockATM counts calls per minute), a pause read back from the
/// database (another server's, one kept across a restart) is never longer than the longest an
/// answer may ask (5 minutes, a 418's block), and `/healthz` says the pause and until when.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn one_retry_after_cannot_stop_checkouts_for_an_hour() {
    let gateway = gateway_asking_an_hour().await;
    let mut server = Bare::with_gateway("retry-after", None, "", "", &gateway);
    let (id, _) = storefront_checkout(&server).await;
    let http = reqwest::Client::new();
    let pay = |server: &str, key: &'static str| {
        http.post(format!("{server}/api/checkouts"))
            .json(&json!({"checkoutId": id, "chainId": 31337, "symbol": "USDT", "idempotencyKey": key}))
            .send()
    };
    let refused = pay(&server.url, "retry-after-0001").await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "gateway_rate_limited", "{body}");
    let asked = body["retryAfter"].as_u64().unwrap();
    assert!((1..=60).contains(&asked), "retry after {asked} s: {body}");

    let until = |health: &Value| health["gatewayPause"]["until"].as_u64();
    let health = server.health().await;
    let paused = until(&health).unwrap_or_else(|| panic!("no pause in {health}"));
    assert!(paused <= now_ms() + 61_000, "{health}");
    assert_eq!(health["gateway"]["state"], "rate_limited", "{health}");

    // Killed and started again: the pause is kept (the gateway asked it), no longer.
    server.restart();
    let health = server.health().await;
    assert_eq!(until(&health), Some(paused), "{health}");
    assert_eq!(health["gateway"]["state"], "rate_limited", "{health}");

    // An hour's pause in the database, as an earlier server kept one: read back, it is cut to
    // the longest an answer may ask.
    server.stop();
    {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&format!("sqlite://{}", server.database))
            .await
            .unwrap();
        let hour = now_ms() + 3_600_000;
        db.execute(sqlx::raw_sql(&format!(
            "UPDATE gateway_budget SET paused_until = {hour}"
        )))
        .await
        .unwrap();
    }
    server.spawn();
    let health = server.health().await;
    let paused = until(&health).unwrap_or_else(|| panic!("no pause in {health}"));
    assert!(paused <= now_ms() + 301_000, "{health}");
    let refused: Value = pay(&server.url, "retry-after-0002")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let asked = refused["retryAfter"].as_u64().unwrap();
    assert!(
        (1..=300).contains(&asked),
        "retry after {asked} s: {refused}"
    );
}
