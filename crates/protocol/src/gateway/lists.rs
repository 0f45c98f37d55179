//! The gateway's public lists (V1 `networklist` and `cryptocurrencies`, V2 `allNetworks` and
//! `symbolList`), read for what BlockATM's documents let a reader rely on: which chains and
//! tokens are enabled. The docs name the lists but none of their fields (`docs/blockatm-api.md`
//! §2.6, §4.7, §7.2); every other BlockATM body names a chain `chainId` (a string or a number)
//! and a token `symbol`, so an entry is read for those two and nothing else. Names, contracts and
//! decimals come from the product's [`ChainRegistry`] (the built-in chains, with what the
//! merchant's configuration adds), and an entry it cannot describe is skipped, said by a
//! [`Skipped`] that names it. The checkout server and the widget both describe the lists with
//! [`describe`].

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::wire::chain_id_text;
use super::{Cryptocurrency, Network};
use crate::chain::{Chain, ChainId, ChainRegistry};

/// The largest whole number a browser's JSON reads exactly (2^53 - 1): a `chainId` number
/// beyond it is not read, so the widget and the servers read the same lists alike.
pub const MAX_EXACT_NUMBER: u64 = (1 << 53) - 1;

/// One entry of a public list, as read: its `chainId` and `symbol`, each as a string's text or
/// a whole number's digits (from 0 to [`MAX_EXACT_NUMBER`]); `None` when absent or anything
/// else. Any other field, and an entry that is no object, is tolerated: it says nothing, and is
/// skipped when described. Written (by the sandbox's minimal lists) with only the fields it has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
}

impl Listed {
    /// An entry of the network list.
    pub fn chain(chain_id: impl Into<String>) -> Self {
        Self {
            chain_id: Some(chain_id.into()),
            symbol: None,
        }
    }

    /// An entry of the token list.
    pub fn token(chain_id: impl Into<String>, symbol: impl Into<String>) -> Self {
        Self {
            chain_id: Some(chain_id.into()),
            symbol: Some(symbol.into()),
        }
    }
}

/// Which list an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Networks,
    Tokens,
}

/// Why an entry was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No `chainId`, or one that is no EVM chain id (TRON's `"TRON"` in docs.blockatm.net's
    /// examples, a negative number, text).
    NoChainId,
    /// A token entry without a `symbol`.
    NoSymbol,
    /// Neither the registry nor the configuration knows the chain.
    UnknownChain,
    /// The chain is known, the token on it is not: no contract, no decimals.
    UnknownToken,
}

impl Reason {
    /// What the warning says of it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoChainId => "not a chain id",
            Self::NoSymbol => "no symbol",
            Self::UnknownChain => "unknown chain",
            Self::UnknownToken => "unknown token on this chain",
        }
    }
}

/// An entry skipped, named as the gateway wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub list: List,
    pub chain_id: Option<String>,
    pub symbol: Option<String>,
    pub reason: Reason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.list {
            List::Networks => "the gateway's network list: ",
            List::Tokens => "the gateway's token list: ",
        })?;
        if let Some(symbol) = &self.symbol {
            write!(f, "{symbol:?} on ")?;
        }
        match &self.chain_id {
            Some(id) => write!(f, "chainId {id:?}")?,
            None => f.write_str("an entry without a chainId")?,
        }
        f.write_str(" skipped: ")?;
        f.write_str(self.reason.as_str())
    }
}

/// The lists as the product describes them, in the gateway's order, each chain and token once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Described {
    pub networks: Vec<Network>,
    pub tokens: Vec<Cryptocurrency>,
    pub skipped: Vec<Skipped>,
}

/// Describes the gateway's `networks` and `tokens` entries from `registry`: each enabled chain
/// with the registry's name and explorer (`required_confirmations` 0: the gateway says none),
/// each enabled token with the registry's contract and decimals. An entry the registry cannot
/// describe is skipped and said; one listed twice is kept once.
pub fn describe(networks: &[Listed], tokens: &[Listed], registry: &ChainRegistry) -> Described {
    let mut described = Described::default();
    for entry in networks {
        match chain_of(entry, registry) {
            Ok(chain) => {
                if !described.networks.iter().any(|n| n.chain_id == chain.id) {
                    described.networks.push(Network {
                        chain_id: chain.id,
                        name: chain.name.clone(),
                        explorer_url: chain.explorer_url.clone(),
                        required_confirmations: 0,
                    });
                }
            }
            Err(reason) => described
                .skipped
                .push(skipped(List::Networks, entry, reason)),
        }
    }
    for entry in tokens {
        let token = chain_of(entry, registry).and_then(|chain| {
            let symbol = entry.symbol.as_deref().ok_or(Reason::NoSymbol)?;
            let token = chain.token(symbol).ok_or(Reason::UnknownToken)?;
            Ok((chain.id, token))
        });
        match token {
            Ok((chain_id, token)) => {
                if !described
                    .tokens
                    .iter()
                    .any(|t| t.chain_id == chain_id && t.contract == token.contract)
                {
                    described.tokens.push(Cryptocurrency {
                        chain_id,
                        symbol: token.symbol.clone(),
                        contract: token.contract,
                        decimals: token.decimals,
                    });
                }
            }
            Err(reason) => described.skipped.push(skipped(List::Tokens, entry, reason)),
        }
    }
    described
}

fn skipped(list: List, entry: &Listed, reason: Reason) -> Skipped {
    Skipped {
        list,
        chain_id: entry.chain_id.clone(),
        symbol: entry.symbol.clone(),
        reason,
    }
}

/// The chain an entry names, as the registry describes it.
fn chain_of<'a>(entry: &Listed, registry: &'a ChainRegistry) -> Result<&'a Chain, Reason> {
    let id: ChainId = entry
        .chain_id
        .as_deref()
        .and_then(chain_id_text::parse)
        .ok_or(Reason::NoChainId)?;
    registry.get(id).ok_or(Reason::UnknownChain)
}

// Read by hand, not derived: an entry that is no object, or a field of another type, must not
// refuse the whole list (it is skipped when described), and fields other than the two are
// ignored whatever they hold.
impl<'de> Deserialize<'de> for Listed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = Listed;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entry of a public list")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Listed, A::Error> {
                let mut entry = Listed::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::ChainId => entry.chain_id = map.next_value::<Scalar>()?.0,
                        Key::Symbol => entry.symbol = map.next_value::<Scalar>()?.0,
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(entry)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Listed, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Listed::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Listed, E> {
                Ok(Listed::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Listed, E> {
                Ok(Listed::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Listed, E> {
                Ok(Listed::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Listed, E> {
                Ok(Listed::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Listed, E> {
                Ok(Listed::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Listed, E> {
                Ok(Listed::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Listed, E> {
                Ok(Listed::default())
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

/// A key of an entry: the two read, or another.
enum Key {
    ChainId,
    Symbol,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(match name {
                    "chainId" => Key::ChainId,
                    "symbol" => Key::Symbol,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(Name)
    }
}

/// A value read as text: a string's, or a whole number's digits up to [`MAX_EXACT_NUMBER`];
/// anything else is `None` (and consumed).
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> Visitor<'de> for Value {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(text.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar((n <= MAX_EXACT_NUMBER).then(|| n.to_string())))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Ok(Scalar(None)),
                }
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar, E> {
                if n.fract() == 0.0 && (0.0..=MAX_EXACT_NUMBER as f64).contains(&n) {
                    self.visit_u64(n as u64)
                } else {
                    Ok(Scalar(None))
                }
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Scalar(None))
            }
        }
        deserializer.deserialize_any(Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Token;

    fn read(json: &str) -> Vec<Listed> {
        serde_json::from_str(json).unwrap()
    }

    fn registry_with_op() -> ChainRegistry {
        let mut registry = ChainRegistry::builtin();
        registry
            .set([Chain {
                id: ChainId(10),
                name: "OP Mainnet".into(),
                explorer_url: Some("https://optimistic.etherscan.io".into()),
                tokens: vec![Token {
                    symbol: "USDT".into(),
                    contract: "0x94b008aA00579c1307B0EF2c499aD98a8ce58e58"
                        .parse()
                        .unwrap(),
                    decimals: 6,
                }],
            }])
            .unwrap();
        registry
    }

    #[test]
    fn chain_ids_are_read_from_strings_and_numbers_and_nothing_else_is_needed() {
        let networks = read(r#"[{"chainId": "1"}, {"chainId": 56}, {"chainId": "0x89"}]"#);
        let tokens = read(
            r#"[{"chainId": "1", "symbol": "USDT"}, {"chainId": 56, "symbol": "USDT"},
                {"chainId": "0x89", "symbol": "USDT"}]"#,
        );
        let described = describe(&networks, &tokens, &ChainRegistry::builtin());
        assert_eq!(described.skipped, []);
        let names: Vec<(u64, &str)> = described
            .networks
            .iter()
            .map(|n| (n.chain_id.0, n.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [(1, "Ethereum"), (56, "BNB Smart Chain"), (137, "Polygon")]
        );
        assert_eq!(
            described.networks[0].explorer_url.as_deref(),
            Some("https://etherscan.io")
        );
        assert_eq!(described.networks[0].required_confirmations, 0);
        let tokens: Vec<(u64, String, u8)> = described
            .tokens
            .iter()
            .map(|t| (t.chain_id.0, t.contract.to_string(), t.decimals))
            .collect();
        assert_eq!(
            tokens,
            [
                (1, "0xdAC17F958D2ee523a2206206994597C13D831ec7".into(), 6),
                (56, "0x55d398326f99059fF775485246999027B3197955".into(), 18),
                (137, "0xc2132D05D31c914a87C6611C10748AEb04B58e8F".into(), 6),
            ]
        );
    }

    #[test]
    fn other_fields_are_tolerated_and_decide_nothing() {
        // The fields the product's own sandbox writes, and docs.blockatm.net's (S11, unconfirmed)
        // `networkName`, `contractAddress`, `minAmount`: whatever they say, the registry
        // describes the entry.
        let networks = read(
            r#"[{"chainId": "31337", "name": "Somebody's chain", "explorerUrl": null,
                 "requiredConfirmations": 99, "networkName": "X", "status": "active",
                 "nested": {"chainId": 5}, "list": [1, {"a": null}]}]"#,
        );
        let tokens = read(
            r#"[{"chainId": "31337", "symbol": "USDT", "contract": "0x0000000000000000000000000000000000000001",
                 "decimals": 18, "contractAddress": "nonsense", "minAmount": "10", "name": "Tether"}]"#,
        );
        assert_eq!(networks, [Listed::chain("31337")]);
        assert_eq!(tokens, [Listed::token("31337", "USDT")]);
        let described = describe(&networks, &tokens, &ChainRegistry::builtin());
        assert_eq!(described.skipped, []);
        assert_eq!(described.networks[0].name, "Local chain");
        assert_eq!(described.networks[0].required_confirmations, 0);
        assert_eq!(
            described.tokens[0].contract.to_string(),
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
        assert_eq!(described.tokens[0].decimals, 6);
    }

    #[test]
    fn entries_that_say_nothing_are_read_not_refused() {
        let entries = read(
            r#"[5, "USDT", null, true, [1], {}, {"chainId": null, "symbol": 7},
                {"chainId": -1}, {"chainId": 1.5}, {"chainId": 9007199254740992},
                {"chainId": 9007199254740991}, {"chainId": {"id": 1}, "symbol": ["USDT"]},
                {"chainId": "TRON", "symbol": "USDT"}]"#,
        );
        let none = Listed::default();
        assert_eq!(
            entries,
            [
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                Listed {
                    chain_id: None,
                    symbol: Some("7".into())
                },
                none.clone(),
                none.clone(),
                none.clone(),
                Listed::chain("9007199254740991"),
                none,
                Listed::token("TRON", "USDT"),
            ]
        );
        assert!(serde_json::from_str::<Vec<Listed>>(r#"{"chainId": "1"}"#).is_err());
    }

    #[test]
    fn an_unknown_chain_is_skipped_and_named() {
        let networks = [
            Listed::chain("5"),
            Listed::chain("TRON"),
            Listed::default(),
            Listed::chain("1"),
        ];
        let tokens = [
            Listed::token("5", "USDT"),
            Listed::token("0x2b6653dc", "USDT"),
        ];
        let described = describe(&networks, &tokens, &ChainRegistry::builtin());
        assert_eq!(described.networks.len(), 1, "Ethereum only");
        assert_eq!(described.tokens, []);
        let reasons: Vec<(List, Option<&str>, Reason)> = described
            .skipped
            .iter()
            .map(|s| (s.list, s.chain_id.as_deref(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (List::Networks, Some("5"), Reason::UnknownChain),
                (List::Networks, Some("TRON"), Reason::NoChainId),
                (List::Networks, None, Reason::NoChainId),
                (List::Tokens, Some("5"), Reason::UnknownChain),
                (List::Tokens, Some("0x2b6653dc"), Reason::UnknownChain),
            ]
        );
        let said = described.skipped[0].to_string();
        assert!(said.contains("network list"), "{said}");
        assert!(said.contains(r#"chainId "5""#), "{said}");
        assert!(said.ends_with("skipped: unknown chain"), "{said}");
        let said = described.skipped[1].to_string();
        assert!(said.contains(r#"chainId "TRON""#), "{said}");
        assert!(said.ends_with("skipped: not a chain id"), "{said}");
        let said = described.skipped[3].to_string();
        assert!(said.contains(r#""USDT" on chainId "5""#), "{said}");
    }

    #[test]
    fn a_token_the_registry_has_no_contract_for_is_skipped() {
        let networks = [Listed::chain("1")];
        let tokens = [
            Listed::token("1", "DAI"),
            Listed::token("1", "usdt"),
            Listed {
                chain_id: Some("1".into()),
                symbol: None,
            },
            Listed::token("1", "USDT"),
        ];
        let described = describe(&networks, &tokens, &ChainRegistry::builtin());
        assert_eq!(described.tokens.len(), 1);
        assert_eq!(described.tokens[0].symbol, "USDT");
        let reasons: Vec<(Option<&str>, Reason)> = described
            .skipped
            .iter()
            .map(|s| (s.symbol.as_deref(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (Some("DAI"), Reason::UnknownToken),
                (Some("usdt"), Reason::UnknownToken),
                (None, Reason::NoSymbol),
            ]
        );
        let said = described.skipped[0].to_string();
        assert!(said.contains("token list"), "{said}");
        assert!(said.contains(r#""DAI" on chainId "1""#), "{said}");
        assert!(
            said.ends_with("skipped: unknown token on this chain"),
            "{said}"
        );
    }

    #[test]
    fn a_chain_the_configuration_adds_is_described_from_it() {
        let networks = read(r#"[{"chainId": "10"}, {"chainId": 10}]"#);
        let tokens =
            read(r#"[{"chainId": 10, "symbol": "USDT"}, {"chainId": "0xa", "symbol": "USDT"}]"#);
        let unknown = describe(&networks, &tokens, &ChainRegistry::builtin());
        assert_eq!((unknown.networks.len(), unknown.tokens.len()), (0, 0));
        assert_eq!(unknown.skipped.len(), 4);

        let described = describe(&networks, &tokens, &registry_with_op());
        assert_eq!(described.skipped, [], "each listed twice is kept once");
        assert_eq!(described.networks.len(), 1);
        assert_eq!(described.networks[0].name, "OP Mainnet");
        assert_eq!(described.tokens.len(), 1);
        assert_eq!(described.tokens[0].chain_id, ChainId(10));
        assert_eq!(
            described.tokens[0].contract.to_string(),
            "0x94b008aA00579c1307B0EF2c499aD98a8ce58e58"
        );
    }

    #[test]
    fn the_minimal_shape_is_written_with_only_what_it_has() {
        assert_eq!(
            serde_json::to_string(&[Listed::chain("31337")]).unwrap(),
            r#"[{"chainId":"31337"}]"#
        );
        assert_eq!(
            serde_json::to_string(&[Listed::token("31337", "USDT")]).unwrap(),
            r#"[{"chainId":"31337","symbol":"USDT"}]"#
        );
    }
}
