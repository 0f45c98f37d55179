//! Which gateway dialect, with the keys that sign calls to it and check its webhooks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use usdt_checkout_protocol::ChainId;
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey, V2SecretKey};

use super::Config;
use crate::gateway::{BlockatmV1, BlockatmV2, GatewayApi, GatewayClient};

/// The gateway's keys as the file and the environment give them (the environment's over the
/// file's).
pub(super) struct Keys {
    pub private_key: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub v2_secret: Option<String>,
    pub webhook_public_key: Option<String>,
    pub webhook_secret: Option<String>,
}

/// What a dialect without a key to sign calls with is told, whichever it is.
const NO_SIGNING_KEY: &str = "gateway.private_key (V1, base64 PKCS#8; or \
     CHECKOUT_GATEWAY_PRIVATE_KEY) or gateway.v2_secret is required to sign calls to the gateway; \
     `checkout-server keygen` makes a V1 key pair";
/// What a dialect without a key to check webhooks with is told, whichever it is.
const NO_WEBHOOK_KEY: &str = "gateway.webhook_public_key (the gateway's, from its console) or \
     gateway.webhook_secret is required to verify webhooks";

/// The dialect `api` names (blockatm-v1 unless said), with its own settings from `keys` and none
/// of the other's: for V1 the merchant's private key and the gateway's public key; for V2 the
/// two secrets, the `cashier_id` and the receiving `addresses`.
pub(super) fn gateway_api(
    api: Option<&str>,
    keys: Keys,
    cashier_id: Option<String>,
    addresses: &BTreeMap<String, String>,
) -> Result<GatewayApi, String> {
    the_dialects_own(api, &keys)?;
    match api.unwrap_or("blockatm-v1") {
        "blockatm-v1" => {
            let key = match (keys.private_key, keys.private_key_file) {
                (Some(key), _) => key,
                (None, Some(file)) => std::fs::read_to_string(&file)
                    .map_err(|e| format!("gateway.private_key_file {}: {e}", file.display()))?,
                (None, None) => return Err(NO_SIGNING_KEY.into()),
            };
            let key = V1PrivateKey::from_base64_pkcs8(&key).map_err(|e| {
                format!("gateway.private_key (or CHECKOUT_GATEWAY_PRIVATE_KEY): {e}")
            })?;
            let webhook_key = keys.webhook_public_key.ok_or(NO_WEBHOOK_KEY)?;
            let webhook_key = V1PublicKey::from_base64_spki(&webhook_key)
                .map_err(|e| format!("gateway.webhook_public_key: {e}"))?;
            Ok(GatewayApi::BlockatmV1(BlockatmV1 { key, webhook_key }))
        }
        "blockatm-v2" => {
            let secret = V2SecretKey::new(&keys.v2_secret.ok_or(NO_SIGNING_KEY)?)
                .map_err(|e| format!("gateway.v2_secret: {e}"))?;
            let webhook_secret = V2SecretKey::new(&keys.webhook_secret.ok_or(NO_WEBHOOK_KEY)?)
                .map_err(|e| format!("gateway.webhook_secret: {e}"))?;
            Ok(GatewayApi::BlockatmV2(BlockatmV2 {
                secret,
                webhook_secret,
                receiving_addresses: receiving_addresses(addresses)?,
                cashier_id: v2_cashier(cashier_id)?,
            }))
        }
        other => Err(format!(
            "gateway.api {other:?} must be \"blockatm-v1\" or \"blockatm-v2\""
        )),
    }
}

impl Config {
    /// The client that calls the gateway this configuration names.
    pub fn gateway_client(&self) -> GatewayClient {
        GatewayClient::new(
            self.gateway_url.clone(),
            self.api_key.clone(),
            self.requests_per_minute,
            self.gateway_timeout,
            self.gateway_api.clone(),
        )
    }
}

/// Refuses a key of the other dialect than `api`'s: a V1 key with blockatm-v2 signed every call
/// with V1's signature, which V2 does not read, and a V2 secret with blockatm-v1 (the default)
/// likewise; the server started, and every call and webhook failed. An unknown `api` is
/// [`gateway_api`]'s to refuse.
fn the_dialects_own(api: Option<&str>, keys: &Keys) -> Result<(), String> {
    let (others, given) = match api.unwrap_or("blockatm-v1") {
        "blockatm-v1" => (
            "a V2 setting; blockatm-v1 takes private_key and webhook_public_key \
             (gateway.api = \"blockatm-v2\" for V2)",
            [
                (
                    "gateway.v2_secret (or CHECKOUT_GATEWAY_V2_SECRET)",
                    keys.v2_secret.is_some(),
                ),
                (
                    "gateway.webhook_secret (or CHECKOUT_WEBHOOK_SECRET)",
                    keys.webhook_secret.is_some(),
                ),
            ]
            .to_vec(),
        ),
        "blockatm-v2" => (
            "a V1 setting; blockatm-v2 takes v2_secret and webhook_secret",
            [
                (
                    "gateway.private_key (or CHECKOUT_GATEWAY_PRIVATE_KEY)",
                    keys.private_key.is_some(),
                ),
                ("gateway.private_key_file", keys.private_key_file.is_some()),
                (
                    "gateway.webhook_public_key (or CHECKOUT_WEBHOOK_PUBLIC_KEY)",
                    keys.webhook_public_key.is_some(),
                ),
            ]
            .to_vec(),
        ),
        _ => return Ok(()),
    };
    match given.into_iter().find(|(_, given)| *given) {
        Some((setting, _)) => Err(format!("{setting} is {others}")),
        None => Ok(()),
    }
}

/// V2's receiving address per chain: the cashier's receiving contracts, from the console.
fn receiving_addresses(
    addresses: &BTreeMap<String, String>,
) -> Result<BTreeMap<ChainId, usdt_checkout_protocol::Address>, String> {
    let mut receiving_addresses = BTreeMap::new();
    for (chain, address) in addresses {
        let chain = chain
            .parse()
            .map(ChainId)
            .map_err(|_| format!("gateway.receiving_addresses: {chain:?} is not a chain id"))?;
        let address = address
            .parse()
            .map_err(|e| format!("gateway.receiving_addresses.{chain}: {address:?}: {e}"))?;
        receiving_addresses.insert(chain, address);
    }
    if receiving_addresses.is_empty() {
        return Err("gateway.receiving_addresses is required with blockatm-v2: \
            the cashier's receiving contract per chain id, from the BlockATM console"
            .into());
    }
    Ok(receiving_addresses)
}

/// V2's cashier: order creation names it (S11's `pay/order`: `cashierId`); without it the
/// server started, and every checkout failed.
fn v2_cashier(cashier_id: Option<String>) -> Result<String, String> {
    match cashier_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) => Ok(id.to_owned()),
        Some(id) => Err(format!(
            "gateway.cashier_id {id:?} must be the cashier's id, from the BlockATM \
             console, such as \"86100021\""
        )),
        None => Err("gateway.cashier_id is required with blockatm-v2: the \
            cashier's id, from the BlockATM console (order creation sends it as \
            cashierId)"
            .into()),
    }
}

#[cfg(test)]
mod tests {
    use usdt_checkout_protocol::ChainId;

    use super::*;
    use crate::config::Config;
    use crate::config::tests::{keys, with, with_base};

    const V2_SECRET: &str = "sk_test_for_the_config_tests";
    const WEBHOOK_SECRET: &str = "whsec_test_for_the_config_tests";

    /// The configuration `file` makes with V2's keys in the environment.
    fn with_v2(file: &str) -> Result<Config, String> {
        with(
            file,
            &[
                ("CHECKOUT_GATEWAY_API_KEY", "k"),
                ("CHECKOUT_GATEWAY_V2_SECRET", V2_SECRET),
                ("CHECKOUT_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ],
        )
    }

    #[test]
    fn the_gateway_dialect_is_chosen_and_v2_needs_its_receiving_addresses_and_cashier() {
        assert!(matches!(
            with_base("").unwrap().gateway_api,
            GatewayApi::BlockatmV1(_)
        ));
        let error = with_v2("[gateway]\napi = \"blockatm-v2\"").unwrap_err();
        assert!(error.contains("gateway.receiving_addresses"), "{error}");
        let v2 = with_v2(
            "[gateway]\napi = \"blockatm-v2\"\ncashier_id = \"91\"\n\
             receiving_addresses = { 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }",
        )
        .unwrap();
        let GatewayApi::BlockatmV2(BlockatmV2 {
            cashier_id,
            receiving_addresses,
            ..
        }) = v2.gateway_api
        else {
            panic!("v2")
        };
        assert_eq!(cashier_id, "91");
        assert!(receiving_addresses.contains_key(&ChainId(31337)));
        let error =
            with_v2("[gateway]\napi = \"blockatm-v2\"\nreceiving_addresses = { 31337 = \"0x12\" }")
                .unwrap_err();
        assert!(error.contains("receiving_addresses.31337"), "{error}");
        let addresses =
            "receiving_addresses = { 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }";
        let error = with_v2(&format!("[gateway]\napi = \"blockatm-v2\"\n{addresses}")).unwrap_err();
        assert!(
            error.contains("gateway.cashier_id is required with blockatm-v2"),
            "{error}"
        );
        for bad in ["", " ", "86 100021"] {
            let file =
                format!("[gateway]\napi = \"blockatm-v2\"\ncashier_id = \"{bad}\"\n{addresses}");
            let error = with_v2(&file).unwrap_err();
            assert!(error.contains("gateway.cashier_id"), "{bad:?}: {error}");
        }
        let error = with_base("[gateway]\napi = \"stripe\"").unwrap_err();
        assert!(error.contains("blockatm-v1"), "{error}");
    }

    #[test]
    fn blockatm_v2_refuses_v1_keys_instead_of_or_beside_its_own() {
        let v2 = "[gateway]\napi = \"blockatm-v2\"\ncashier_id = \"91\"\n\
                  receiving_addresses = { 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }";
        let config = with_v2(v2).unwrap();
        assert!(matches!(config.gateway_api, GatewayApi::BlockatmV2(_)));
        let (private, public) = keys();
        // Instead of V2's: the V1 keys in the environment.
        let error = with_base(v2).unwrap_err();
        assert_eq!(
            error,
            "gateway.private_key (or CHECKOUT_GATEWAY_PRIVATE_KEY) is a V1 setting; blockatm-v2 \
             takes v2_secret and webhook_secret"
        );
        // Beside V2's: each V1 setting is named.
        for (setting, named) in [
            (
                format!("private_key = \"{private}\""),
                "gateway.private_key ",
            ),
            (
                "private_key_file = \"merchant.key\"".to_owned(),
                "gateway.private_key_file ",
            ),
            (
                format!("webhook_public_key = \"{public}\""),
                "gateway.webhook_public_key ",
            ),
        ] {
            let error = with_v2(&format!("{v2}\n{setting}")).unwrap_err();
            assert!(error.starts_with(named), "{setting}: {error}");
            assert!(
                error.contains("is a V1 setting; blockatm-v2 takes v2_secret"),
                "{error}"
            );
        }
    }

    #[test]
    fn blockatm_v1_refuses_v2_secrets_instead_of_or_beside_its_own() {
        for api in ["", "api = \"blockatm-v1\"\n"] {
            // Instead of V1's: the V2 secrets in the environment.
            let error = with_v2(&format!("[gateway]\n{api}")).unwrap_err();
            assert_eq!(
                error,
                "gateway.v2_secret (or CHECKOUT_GATEWAY_V2_SECRET) is a V2 setting; blockatm-v1 \
                 takes private_key and webhook_public_key (gateway.api = \"blockatm-v2\" for V2)"
            );
            // Beside V1's.
            for (setting, named) in [
                (format!("v2_secret = \"{V2_SECRET}\""), "gateway.v2_secret "),
                (
                    format!("webhook_secret = \"{WEBHOOK_SECRET}\""),
                    "gateway.webhook_secret ",
                ),
            ] {
                let error = with_base(&format!("[gateway]\n{api}{setting}")).unwrap_err();
                assert!(error.starts_with(named), "{setting}: {error}");
                assert!(
                    error.contains("is a V2 setting; blockatm-v1 takes"),
                    "{error}"
                );
            }
        }
    }
}
