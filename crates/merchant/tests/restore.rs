//! A backup restored under a real world (anvil, the sandbox gateway, the checkout server): what
//! was paid since the backup comes back from the gateway and the chain, and what was made since
//! is gone, as the README's "Running in production" says.

mod common;

use std::process::Command;

use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn after_a_restore_what_was_paid_since_the_backup_is_recovered() {
    let mut w = common::world("restore").await;
    let before = w.checkout("mug", "restore-before").await;
    let since = w.checkout("mug", "restore-since").await;
    let before_id = before["id"].as_str().unwrap().to_owned();
    let since_id = since["id"].as_str().unwrap().to_owned();
    w.pay(&before, json!({})).await;
    // Its confirmations.
    w.mine().await;
    w.mine().await;
    w.wait_state(&before_id, "paid").await;
    w.fulfilled_once(&before_id).await;

    // Backed up while the server runs.
    let database = w.database();
    let copy = format!("{database}.backup");
    let backed = Command::new(env!("CARGO_BIN_EXE_checkout-server"))
        .args(["backup", "--database", &database, "--to", &copy])
        .output()
        .unwrap();
    assert!(
        backed.status.success(),
        "{}",
        String::from_utf8_lossy(&backed.stderr)
    );

    // Since the backup: one order paid, one made.
    w.pay(&since, json!({})).await;
    w.mine().await;
    w.mine().await;
    w.wait_state(&since_id, "paid").await;
    let after = w.checkout("mug", "restore-after").await;
    let after_id = after["id"].as_str().unwrap().to_owned();

    // Restored as the README says: stopped, the file and its WAL put aside, the copy put back.
    w.server.stop();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{database}{suffix}"));
    }
    std::fs::copy(&copy, &database).unwrap();
    w.server.restart();

    // What the copy holds is there; what was paid since, the copy has as waiting, until the
    // reconciler (the gateway's order query) or the watcher (the chain again from the backup's
    // cursor) brings it back to paid.
    assert_eq!(w.status(&before_id).await["state"], "paid");
    w.wait_state(&since_id, "paid").await;
    // Its fulfillment event went again, with its id: the shop dedupes it.
    let events = w.fulfilled();
    let since_events: Vec<_> = events
        .iter()
        .filter(|e| e["checkoutId"] == since_id.as_str())
        .collect();
    assert!(!since_events.is_empty(), "{events:?}");
    assert!(
        since_events
            .iter()
            .all(|e| e["id"] == since_events[0]["id"])
    );
    // An order made since the backup is not known: nothing can ask the gateway for it.
    let response = w
        .http
        .get(format!("{}/api/checkouts/{after_id}", w.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
