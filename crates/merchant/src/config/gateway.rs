//! Which gateway dialect, and how calls to it are signed and its webhooks checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey, V2SecretKey, Verifier};
use usdt_checkout_protocol::{Address, ChainId};

use super::WEBHOOK_WINDOW_MS;

/// Which gateway, and which of its documented dialects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayApi {
    BlockatmV1,
    BlockatmV2 {
        /// The cashier orders are made for: V2's `pay/order` names it (`cashierId`).
        cashier_id: String,
        receiving_addresses: BTreeMap<ChainId, Address>,
    },
}

/// How requests to the gateway are signed.
#[derive(Debug, Clone)]
pub enum Credentials {
    V1(V1PrivateKey),
    V2(V2SecretKey),
}

/// The gateway's keys as the file and the environment give them (the environment's over the
/// file's).
pub(super) struct Keys {
    pub private_key: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub v2_secret: Option<String>,
    pub webhook_public_key: Option<String>,
    pub webhook_secret: Option<String>,
}

/// How calls to the gateway are signed and its webhooks checked, from `keys`: the settings of
/// the dialect `api` names (blockatm-v1 unless said), and none of the other's.
pub(super) fn signing(api: Option<&str>, keys: Keys) -> Result<(Credentials, Verifier), String> {
    the_dialects_own(api, &keys)?;
    let private_key = match (keys.private_key, keys.private_key_file) {
        (Some(key), _) => Some(key),
        (None, Some(file)) => Some(
            std::fs::read_to_string(&file)
                .map_err(|e| format!("gateway.private_key_file {}: {e}", file.display()))?,
        ),
        (None, None) => None,
    };
    let credentials = match (private_key, keys.v2_secret) {
        (Some(key), _) => {
            Credentials::V1(V1PrivateKey::from_base64_pkcs8(&key).map_err(|e| {
                format!("gateway.private_key (or CHECKOUT_GATEWAY_PRIVATE_KEY): {e}")
            })?)
        }
        (None, Some(secret)) => Credentials::V2(
            V2SecretKey::new(&secret).map_err(|e| format!("gateway.v2_secret: {e}"))?,
        ),
        (None, None) => {
            return Err(
                "gateway.private_key (V1, base64 PKCS#8; or CHECKOUT_GATEWAY_PRIVATE_KEY) or \
                        gateway.v2_secret is required to sign calls to the gateway; \
                        `checkout-server keygen` makes a V1 key pair"
                    .into(),
            );
        }
    };
    let webhook_verifier = match (keys.webhook_public_key, keys.webhook_secret) {
        (Some(key), _) => Verifier::new(
            Some(
                V1PublicKey::from_base64_spki(&key)
                    .map_err(|e| format!("gateway.webhook_public_key: {e}"))?,
            ),
            None,
        )
        .with_max_window_ms(WEBHOOK_WINDOW_MS),
        (None, Some(secret)) => Verifier::new(
            None,
            Some(V2SecretKey::new(&secret).map_err(|e| format!("gateway.webhook_secret: {e}"))?),
        )
        .with_max_window_ms(WEBHOOK_WINDOW_MS),
        (None, None) => {
            return Err(
                "gateway.webhook_public_key (the gateway's, from its console) or \
                        gateway.webhook_secret is required to verify webhooks"
                    .into(),
            );
        }
    };
    Ok((credentials, webhook_verifier))
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

pub(super) fn gateway_api(
    name: Option<&str>,
    cashier_id: Option<String>,
    addresses: &BTreeMap<String, String>,
) -> Result<GatewayApi, String> {
    match name.unwrap_or("blockatm-v1") {
        "blockatm-v1" => Ok(GatewayApi::BlockatmV1),
        "blockatm-v2" => {
            let mut receiving_addresses = BTreeMap::new();
            for (chain, address) in addresses {
                let chain = chain.parse().map(ChainId).map_err(|_| {
                    format!("gateway.receiving_addresses: {chain:?} is not a chain id")
                })?;
                let address = address.parse().map_err(|e| {
                    format!("gateway.receiving_addresses.{chain}: {address:?}: {e}")
                })?;
                receiving_addresses.insert(chain, address);
            }
            if receiving_addresses.is_empty() {
                return Err("gateway.receiving_addresses is required with blockatm-v2: \
                    the cashier's receiving contract per chain id, from the BlockATM console"
                    .into());
            }
            // V2's order creation names the cashier (S11's `pay/order`: `cashierId`); without
            // it the server started, and every checkout failed.
            let cashier_id = match cashier_id.as_deref().map(str::trim) {
                Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) => id.to_owned(),
                Some(id) => {
                    return Err(format!(
                        "gateway.cashier_id {id:?} must be the cashier's id, from the BlockATM \
                         console, such as \"86100021\""
                    ));
                }
                None => {
                    return Err("gateway.cashier_id is required with blockatm-v2: the \
                        cashier's id, from the BlockATM console (order creation sends it as \
                        cashierId)"
                        .into());
                }
            };
            Ok(GatewayApi::BlockatmV2 {
                cashier_id,
                receiving_addresses,
            })
        }
        other => Err(format!(
            "gateway.api {other:?} must be \"blockatm-v1\" or \"blockatm-v2\""
        )),
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
        assert_eq!(with_base("").unwrap().gateway_api, GatewayApi::BlockatmV1);
        let error = with_v2("[gateway]\napi = \"blockatm-v2\"").unwrap_err();
        assert!(error.contains("gateway.receiving_addresses"), "{error}");
        let v2 = with_v2(
            "[gateway]\napi = \"blockatm-v2\"\ncashier_id = \"91\"\n\
             receiving_addresses = { 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }",
        )
        .unwrap();
        let GatewayApi::BlockatmV2 {
            cashier_id,
            receiving_addresses,
        } = v2.gateway_api
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
        assert!(matches!(config.credentials, Credentials::V2(_)));
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
