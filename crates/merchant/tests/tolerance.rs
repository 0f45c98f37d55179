//! Underpayment tolerance (#27), against the real sandbox gateway on a real anvil chain: a
//! payment short of the amount by no more than the token's tolerance is paid (the gateway calls
//! it partly paid; the chain's confirmations settle it), and says by how much in the widget's
//! status, the fulfillment event and the signed receipt; one short by more is still partly paid.

mod common;

use common::*;
use serde_json::{Value, json};

on_both!(
    processes:
    a_payment_short_within_the_tolerance_is_paid_and_says_by_how_much,
);

async fn receipt(w: &World, id: &str) -> (u16, String) {
    let reply = w
        .http
        .get(format!("{}/api/checkouts/{id}/receipt", w.server.url))
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

async fn a_payment_short_within_the_tolerance_is_paid_and_says_by_how_much(db: Db) {
    let w = world_with(
        "tolerance",
        Storefront {
            db,
            underpaid_tolerance: Some(r#"USDT = { amount = "1" }"#),
            ..Storefront::default()
        },
    )
    .await;

    // The T-shirt asks 24.995001 USDT; an exchange kept a 1 USDT fee.
    let view = w.checkout("tee", "key-short-0001").await;
    let id = view["id"].as_str().unwrap();
    assert_eq!(view["payment"]["amount"], "24.995001");
    w.pay(&view, json!({"amount": "23.995001"})).await;
    let confirming = w.wait_state(id, "confirming").await;
    assert_eq!(
        confirming["payment"]["remaining"], "0",
        "nothing is left for the shopper to send: {confirming}"
    );
    w.mine().await;
    let paid = w.wait_state(id, "paid").await;
    assert_eq!(paid["payment"]["paid"], "23.995001");
    assert_eq!(paid["payment"]["remaining"], "0");

    let event = w.fulfilled_once(id).await;
    assert_eq!(event["type"], "checkout.paid");
    assert_eq!(event["amountPaid"], "23.995001");
    assert_eq!(event["amountShortfall"], "1");
    assert_eq!(event["amountOverpaid"], "0");

    let (status, text) = receipt(&w, id).await;
    assert_eq!(status, 200, "{text}");
    let signed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(signed["receipt"]["paid"], "23.995001");
    assert_eq!(signed["receipt"]["shortfall"], "1");
    let key = w.receipt_key().await;
    let public = key["publicKey"].as_str().unwrap();
    let said = verify_receipt(&text, public).unwrap();
    assert!(
        said.contains("accepted short by 1 USDT"),
        "the CLI says it: {said}"
    );
    let forged = text.replace(r#""shortfall":"1""#, r#""shortfall":"0.5""#);
    assert_ne!(forged, text);
    assert!(
        verify_receipt(&forged, public).is_err(),
        "the shortfall is signed"
    );

    // Short by more than the tolerance: partly paid, however many blocks pass, and the rest is
    // asked in full (the tolerance is the merchant's, not offered to the shopper).
    let view = w.checkout("tee", "key-short-0002").await;
    let id = view["id"].as_str().unwrap();
    let asked: u128 = view["payment"]["amountAtomic"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let sent = usdt_checkout_protocol::format_units(asked - 1_100_000, 6);
    w.pay(
        &view,
        json!({"amount": sent, "method": "deposit", "payer": 2}),
    )
    .await;
    w.wait_state(id, "partially_paid").await;
    w.mine().await;
    w.mine().await;
    let partly = w.status(id).await;
    assert_eq!(partly["state"], "partially_paid", "{partly}");
    assert_eq!(partly["payment"]["remaining"], "1.1");
    assert_eq!(receipt(&w, id).await.0, 409, "no receipt: not paid");
    assert_eq!(w.fulfilled().len(), 1, "no event for it");
}
