//! When a shopper gets it wrong, against the real sandbox gateway on two real anvil chains (USDT
//! with 6 decimals on one, 18 on the other, as on BNB Smart Chain): paying on the 18-decimal
//! chain, sending on the wrong network, and "I already paid" with every reason a transaction is
//! not attached.

mod common;

use common::*;
use serde_json::{Value, json};
use usdt_checkout_protocol::Address;
use usdt_checkout_testkit::eventually;

on_both!(
    processes:
    a_checkout_on_the_18_decimal_chain_is_paid_in_its_units,
    a_transfer_on_the_wrong_network_is_named_and_never_counted,
    i_already_paid_attaches_what_the_gateway_could_not_match_or_says_why_not,
);

async fn two_chains(name: &str, db: Db) -> World {
    world_with(
        name,
        Storefront {
            db,
            second_chain: true,
            ..Storefront::default()
        },
    )
    .await
}

async fn checkout_on(w: &World, item: &str, chain: u64, key: &str) -> Value {
    let (status, view) = w
        .post(
            "/api/checkouts",
            json!({"item": item, "chainId": chain, "symbol": "USDT", "idempotencyKey": key}),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    view
}

async fn a_checkout_on_the_18_decimal_chain_is_paid_in_its_units(db: Db) {
    let w = two_chains("bnb-paid", db).await;
    let view = checkout_on(&w, "tee", 31338, "key-bnb-0001").await;
    let payment = &view["payment"];
    assert_eq!(payment["network"], "Local BNB chain");
    assert_eq!(payment["decimals"], 18);
    assert_eq!(payment["amount"], "24.995001");
    assert_eq!(payment["amountAtomic"], "24995001000000000000");
    let uri = payment["paymentUri"].as_str().unwrap();
    assert!(
        uri.contains("@31338/transfer?address=") && uri.ends_with("&uint256=24995001000000000000"),
        "{uri}"
    );
    let id = view["id"].as_str().unwrap();
    w.pay(&view, json!({})).await;
    w.wait_state(id, "confirming").await;
    mine_on(&w, 31338).await;
    let paid = w.wait_state(id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "24.995001");
    let event = w.fulfilled_once(id).await;
    assert_eq!(event["amountPaid"], "24.995001");
}

async fn mine_on(w: &World, chain: u64) {
    let reply = usdt_checkout_testkit::Client::new(&w.sandbox.url)
        .post("/sandbox/mine", json!({"blocks": 1, "chainId": chain}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn a_transfer_on_the_wrong_network_is_named_and_never_counted(db: Db) {
    let w = two_chains("wrong-network", db).await;
    let view = checkout_on(&w, "tee", 31337, "key-wrong-0001").await;
    let id = view["id"].as_str().unwrap();
    // The order's amount, to the order's address, on the other chain.
    w.pay(&view, json!({"chainId": 31338})).await;
    let told = eventually("the wrong-network transfer in the view", WAIT, || async {
        let view = w.status(id).await;
        let unmatched = view["payment"]["unmatched"].as_array().cloned()?;
        (!unmatched.is_empty()).then_some(unmatched)
    })
    .await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["network"], "Local BNB chain");
    assert_eq!(told[0]["amount"], "24.995001", "in that chain's decimals");
    let listed = w.admin_get("/api/admin/unmatched").await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["chainId"], 31338);
    assert_eq!(listed[0]["txHash"], told[0]["hash"]);
    assert_eq!(listed[0]["wrongNetworkFor"], json!([id]));
    mine_on(&w, 31338).await;
    mine_on(&w, 31338).await;
    let view = w.status(id).await;
    assert_eq!(view["state"], "waiting", "flagged, not counted: {view}");
    assert_eq!(view["payment"]["paid"], "0");
}

/// `POST /api/checkouts/{id}/claims` without proof: the status and the body.
async fn claim(w: &World, id: &str, tx_hash: &str) -> (u16, Value) {
    w.post(
        &format!("/api/checkouts/{id}/claims"),
        json!({"txHash": tx_hash}),
    )
    .await
}

async fn refused(w: &World, id: &str, tx_hash: &str, code: &str) -> Value {
    let (status, body) = claim(w, id, tx_hash).await;
    assert_eq!((status, body["code"].as_str()), (422, Some(code)), "{body}");
    body["params"].clone()
}

async fn i_already_paid_attaches_what_the_gateway_could_not_match_or_says_why_not(db: Db) {
    let w = two_chains("claims", db).await;
    let address = |view: &Value| -> Address {
        view["payment"]["toAddress"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let token = |view: &Value| -> Address {
        view["payment"]["tokenContract"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let wallet = Wallet::on(&w.anvil.rpc_url, 5).await;
    // Mined before the other checkouts were made: it can be none of theirs.
    let first = checkout_on(&w, "tee", 31337, "key-claim-0000").await;
    let (to, usdt) = (address(&first), token(&first));
    // From another wallet: a sender who paid part of an order is matched to it again.
    let earlier = Wallet::on(&w.anvil.rpc_url, 7).await;
    let old = earlier.send(usdt, to, 1_000_000).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    // Three more checkouts wait at one address, so 5 USDT from a new sender matches none: the
    // gateway and the watcher keep it unmatched.
    let tee = checkout_on(&w, "tee", 31337, "key-claim-0001").await;
    let mug = checkout_on(&w, "mug", 31337, "key-claim-0002").await;
    let other = checkout_on(&w, "mug", 31337, "key-claim-0003").await;
    let (id, mug_id, other_id) = (
        tee["id"].as_str().unwrap(),
        mug["id"].as_str().unwrap(),
        other["id"].as_str().unwrap(),
    );
    let part = wallet.send(usdt, to, 5_000_000).await;
    eventually("the part to be kept unmatched", WAIT, || async {
        let view = w.status(id).await;
        (view["payment"]["unmatched"].as_array()?.len() == 1).then_some(())
    })
    .await;

    // The tee's shopper pastes it, with no proof it is theirs: kept for the merchant to
    // review, with the sender and the message that would prove it; nothing credited.
    let (status, review) = claim(&w, id, &part).await;
    assert_eq!(
        (status, review["code"].as_str()),
        (202, Some("claim_under_review")),
        "{review}"
    );
    assert_eq!(review["params"]["sender"], wallet.shopper.to_string());
    assert_eq!(w.status(id).await["payment"]["paid"], "0");
    let listed = w.admin_get("/api/admin/unmatched").await;
    let kept = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["txHash"] == part.as_str())
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(kept["claims"][0]["checkoutId"], id);
    assert_eq!(kept["claims"][0]["proven"], false);
    // Signed by another wallet than the one that sent it: refused, nothing changed.
    let (status, body) = proven_claim(&w, &earlier, id, &part).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("claim_not_sender")),
        "{body}"
    );
    assert_eq!(w.status(id).await["payment"]["paid"], "0");

    // Proven by the wallet that sent it: attached, once, and no longer unmatched.
    let (status, view) = proven_claim(&w, &wallet, id, &part).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "partially_paid");
    assert_eq!(view["payment"]["paid"], "5");
    // The second T-shirt waiting at this address asks one millionth more: 24.995002.
    assert_eq!(tee["payment"]["amount"], "24.995002");
    assert_eq!(view["payment"]["remaining"], "19.995002");
    assert_eq!(view["payment"]["unmatched"], json!([]));
    let (status, again) = claim(&w, id, &part).await;
    assert_eq!(status, 200, "claiming again changes nothing: {again}");
    assert_eq!(again["payment"]["paid"], "5");
    let listed = w.admin_get("/api/admin/unmatched").await;
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["txHash"] == part.as_str()),
        "{listed}"
    );

    // The reasons, each precisely, for the mug's shopper.
    let params = refused(
        &w,
        mug_id,
        &format!("0x{}", "ab".repeat(32)),
        "tx_not_found",
    )
    .await;
    assert_eq!(params["networks"], "Local chain, Local BNB chain");
    let (status, body) = claim(&w, mug_id, "0x1234").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("tx_hash_invalid"))
    );
    let other_token = wallet.chain.deploy_token(wallet.minter, 6).await.unwrap();
    let wrong_token = wallet.send(other_token, to, 5_000_000).await;
    let params = refused(&w, mug_id, &wrong_token, "tx_wrong_token").await;
    assert_eq!(params["symbol"], "USDT");
    let wrong_recipient = wallet.send(usdt, wallet.minter, 5_000_000).await;
    let params = refused(&w, mug_id, &wrong_recipient, "tx_wrong_recipient").await;
    assert_eq!(params["address"], wallet.minter.to_string());
    refused(&w, mug_id, &old, "tx_before_order").await;
    let bnb = Wallet::on(&w.second_anvil.as_ref().unwrap().rpc_url, 5).await;
    let on_bnb = bnb.send(usdt, to, 5_000_000).await;
    let params = refused(&w, mug_id, &on_bnb, "tx_wrong_chain").await;
    assert_eq!(params["network"], "Local BNB chain");
    assert_eq!(params["expected"], "Local chain");
    // Five claims a minute at most: the sixth waits.
    let (status, body) = claim(&w, mug_id, &part).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_claims")),
        "{body}"
    );
    assert!(body["retryAfter"].as_u64().unwrap() >= 1, "{body}");

    // Another shopper's: one already counted, and one of too much.
    refused(&w, other_id, &part, "tx_credited_elsewhere").await;
    let stranger = Wallet::on(&w.anvil.rpc_url, 6).await;
    let too_much = stranger.send(usdt, to, 30_000_000).await;
    let params = refused(&w, other_id, &too_much, "tx_amount_differs").await;
    assert_eq!(other["payment"]["amount"], "12.000001", "the second mug's");
    assert_eq!(
        (&params["sent"], &params["asked"], &params["difference"]),
        (&json!("30"), &json!("12.000001"), &json!("17.999999"))
    );

    // The rest, sent as the widget asks: matched by its exact remaining amount, and the chain,
    // not the gateway (which never matched the part), says paid once confirmed.
    let rest = wallet.send(usdt, to, 19_995_002).await;
    let confirming = w.wait_state(id, "confirming").await;
    assert_eq!(confirming["payment"]["paid"], "24.995002");
    w.mine().await;
    let paid = w.wait_state(id, "paid").await;
    let hashes: Vec<&str> = paid["payment"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes, [part.as_str(), rest.as_str()]);
    let event = w.fulfilled_once(id).await;
    assert_eq!(event["amountPaid"], "24.995002");
    let merchant = w.admin_orders().await;
    let order = merchant
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .unwrap();
    let note = order["disagreement"].as_str().unwrap_or_default();
    assert!(note.contains("attached"), "the merchant sees why: {order}");
}
