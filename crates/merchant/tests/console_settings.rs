//! The console's Settings page in-process (SQLite and PostgreSQL): every member of staff reads
//! the configuration the server runs with, and no secret of it is on the page.

mod common;

use axum::http::StatusCode;
use common::Db;
use common::console::*;
use usdt_checkout_server::staff::Role;

on_both!(every_role_reads_the_configuration_and_no_secret_is_on_the_page);

const FULFILLMENT_SECRET: &str = "Qx7fulfilmentSecretForTheSettingsTest";
const NODE_KEY: &str = "Zk9nodeProviderKey0123456789";
const QUERY_TOKEN: &str = "Wq4queryTokenForTheSettingsTest";

async fn every_role_reads_the_configuration_and_no_secret_is_on_the_page(db: Db) {
    let extra = format!(
        "[fulfillment]\nurl = \"https://shop.example/paid?token={QUERY_TOKEN}\"\n\
         secret = \"{FULFILLMENT_SECRET}\"\n\
         [[chains]]\nid = 1\nrpc_url = \"https://mainnet.node.example/v3/{NODE_KEY}\"\n\
         confirmations = 3"
    );
    let h = harness(db, "settings", &extra).await;
    // The harness's own secrets: its admin token, its gateway's API key and signing key, and
    // the database URL's password when it has one.
    let setting = |name: &str| {
        let line = h
            .toml
            .lines()
            .find(|l| l.starts_with(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{name} in {}", h.toml));
        line.split('"').nth(1).unwrap().to_owned()
    };
    let private_key = setting("private_key");
    let database = setting("database");
    let mut secrets = vec![
        ADMIN.to_owned(),
        FULFILLMENT_SECRET.to_owned(),
        NODE_KEY.to_owned(),
        QUERY_TOKEN.to_owned(),
        setting("api_key"),
        // A PKCS#8 key's first characters are its header, which every key (a public one too)
        // shares: its last are its own.
        private_key[private_key.len() - 24..].to_owned(),
    ];
    if let Some((_, rest)) = database.split_once("://")
        && let Some((userinfo, _)) = rest.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        secrets.push(password.to_owned());
    }
    for (name, role) in [
        ("vera", Role::Viewer),
        ("otto", Role::Operator),
        ("olga", Role::Owner),
    ] {
        let (mut browser, _) = h.signed_in(name, role).await;
        let page = h.get(&mut browser, "/console/settings").await;
        assert_eq!(page.status, StatusCode::OK, "{role}: {}", page.body);
        for secret in &secrets {
            assert!(
                !page.body.contains(secret.as_str()),
                "{role}'s page shows {secret:?}"
            );
            let start: String = secret.chars().take(6).collect();
            if secret != &private_key[private_key.len() - 24..] && secret.len() > 8 {
                assert!(
                    !page.body.contains(&start),
                    "{role}'s page shows {secret:?}'s first characters"
                );
            }
        }
        for shown in [
            "Configuration",
            "admin.token",
            "fulfillment.secret",
            "gateway.private_key",
            "set (redacted)",
            "https://shop.example/paid?(query redacted)",
            "https://mainnet.node.example/(path redacted)",
            "Chain 1 (Ethereum)",
        ] {
            assert!(
                page.body.contains(shown),
                "{role}: {shown} in {}",
                page.body
            );
        }
        let manages = page.body.contains("Add a member of staff");
        assert_eq!(manages, role == Role::Owner, "{role}");
    }
}
