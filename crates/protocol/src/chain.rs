//! Chains and the tokens accepted on them. Decimals are per chain and token (USDT has 6 on
//! Ethereum and 18 on BNB Smart Chain), so they are always looked up here, never assumed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::amount::MAX_DECIMALS;

/// An EIP-155 chain id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub u64);

impl ChainId {
    pub const ETHEREUM: Self = Self(1);
    pub const BNB_SMART_CHAIN: Self = Self(56);
    pub const POLYGON: Self = Self(137);
    pub const ARBITRUM: Self = Self(42161);
    pub const SEPOLIA: Self = Self(11_155_111);
    /// anvil's and hardhat's default chain id.
    pub const LOCAL: Self = Self(31337);
    /// A second local chain, whose USDT has 18 decimals as on BNB Smart Chain: what the demo and
    /// the tests run beside [`ChainId::LOCAL`].
    pub const LOCAL_BNB: Self = Self(31338);
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Token {
    /// As the gateway writes it, e.g. `USDT`.
    pub symbol: String,
    pub contract: Address,
    pub decimals: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chain {
    pub id: ChainId,
    pub name: String,
    /// Base URL of a block explorer, without a trailing slash; none for a local chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explorer_url: Option<String>,
    pub tokens: Vec<Token>,
}

impl Chain {
    pub fn token(&self, symbol: &str) -> Option<&Token> {
        self.tokens.iter().find(|token| token.symbol == symbol)
    }

    /// Where a shopper can see a transaction, if the chain has an explorer.
    pub fn transaction_url(&self, tx_hash: &str) -> Option<String> {
        self.explorer_url
            .as_ref()
            .map(|base| format!("{base}/tx/{tx_hash}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("chain {0} is not supported")]
    UnknownChain(ChainId),
    #[error("token {symbol} is not supported on chain {chain}")]
    UnknownToken { chain: ChainId, symbol: String },
    #[error("token {symbol} on chain {chain} is listed twice")]
    DuplicateToken { chain: ChainId, symbol: String },
    #[error(
        "token {symbol} on chain {chain} has {decimals} decimals; at most {MAX_DECIMALS} are supported"
    )]
    UnsupportedDecimals {
        chain: ChainId,
        symbol: String,
        decimals: u8,
    },
    #[error("chain {0} has an explorer URL that is not http(s) or ends with '/'")]
    BadExplorerUrl(ChainId),
}

/// The chains and tokens a deployment accepts. A few chains, kept in a list ordered by id: the
/// widget describes the gateway's lists with it too, and a map's code would be weight every
/// shopper downloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainRegistry {
    chains: Vec<Chain>,
}

impl ChainRegistry {
    /// Builds a registry from a list of chains, validating each.
    pub fn new(chains: impl IntoIterator<Item = Chain>) -> Result<Self, RegistryError> {
        let mut registry = Self { chains: Vec::new() };
        registry.set(chains)?;
        Ok(registry)
    }

    /// The built-in chains: mainnets with their USDT contracts, Sepolia, and a local anvil chain.
    /// Written in id order and valid (a test holds it to [`ChainRegistry::new`]'s checks), so
    /// nothing is parsed or checked when it is made.
    pub fn builtin() -> Self {
        let mut chains = Vec::with_capacity(BUILTIN.len());
        for &(id, name, explorer, contract, decimals) in &BUILTIN {
            chains.push(Chain {
                id,
                name: name.into(),
                explorer_url: explorer.map(Into::into),
                tokens: vec![Token {
                    symbol: "USDT".into(),
                    contract,
                    decimals,
                }],
            });
        }
        Self { chains }
    }

    /// Adds or replaces chains: a configured chain replaces the one with the same id whole, so
    /// what a configuration says about a chain is all there is to it.
    pub fn set(&mut self, chains: impl IntoIterator<Item = Chain>) -> Result<(), RegistryError> {
        let chains: Vec<Chain> = chains.into_iter().collect();
        for chain in &chains {
            validate(chain)?;
        }
        for chain in chains {
            match self.chains.binary_search_by_key(&chain.id, |c| c.id) {
                Ok(at) => self.chains[at] = chain,
                Err(at) => self.chains.insert(at, chain),
            }
        }
        Ok(())
    }

    /// Keeps only the given chains (a deployment that accepts fewer than all it knows).
    pub fn retain(&mut self, ids: &[ChainId]) {
        self.chains.retain(|chain| ids.contains(&chain.id));
    }

    pub fn chain(&self, id: ChainId) -> Result<&Chain, RegistryError> {
        self.get(id).ok_or(RegistryError::UnknownChain(id))
    }

    /// [`ChainRegistry::chain`] without the error, for a caller that says its own.
    pub fn get(&self, id: ChainId) -> Option<&Chain> {
        self.chains.iter().find(|chain| chain.id == id)
    }

    pub fn token(&self, id: ChainId, symbol: &str) -> Result<&Token, RegistryError> {
        self.chain(id)?
            .token(symbol)
            .ok_or_else(|| RegistryError::UnknownToken {
                chain: id,
                symbol: symbol.into(),
            })
    }

    /// In id order.
    pub fn chains(&self) -> impl Iterator<Item = &Chain> {
        self.chains.iter()
    }
}

/// Where anvil's first account deploys its first contract on a fresh chain.
const LOCAL_FIRST_CONTRACT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

/// The built-in chains, in id order, each with its USDT: id, name, explorer, contract, decimals.
/// A table read by one loop, not a list of constructions: the widget carries it.
#[allow(clippy::type_complexity)]
const BUILTIN: [(ChainId, &str, Option<&str>, Address, u8); 7] = [
    (
        ChainId::ETHEREUM,
        "Ethereum",
        Some("https://etherscan.io"),
        address("0xdAC17F958D2ee523a2206206994597C13D831ec7"),
        6,
    ),
    (
        ChainId::BNB_SMART_CHAIN,
        "BNB Smart Chain",
        Some("https://bscscan.com"),
        address("0x55d398326f99059fF775485246999027B3197955"),
        18,
    ),
    (
        ChainId::POLYGON,
        "Polygon",
        Some("https://polygonscan.com"),
        address("0xc2132D05D31c914a87C6611C10748AEb04B58e8F"),
        6,
    ),
    // The first contract deployed by anvil's first account on a fresh chain, which is where the
    // sandbox's deployment puts its test USDT.
    (
        ChainId::LOCAL,
        "Local chain",
        None,
        address(LOCAL_FIRST_CONTRACT),
        6,
    ),
    // The same deployment on a second fresh chain, with USDT's decimals on BNB Smart Chain.
    (
        ChainId::LOCAL_BNB,
        "Local BNB chain",
        None,
        address(LOCAL_FIRST_CONTRACT),
        18,
    ),
    (
        ChainId::ARBITRUM,
        "Arbitrum One",
        Some("https://arbiscan.io"),
        address("0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9"),
        6,
    ),
    // Testnets have no official USDT; this is a widely used 6-decimal test token. Configuration
    // overrides it with the one a gateway actually watches.
    (
        ChainId::SEPOLIA,
        "Sepolia",
        Some("https://sepolia.etherscan.io"),
        address("0x7169D38820dfd117C3FA1f22a697dBA58d90BA06"),
        6,
    ),
];

/// An address written as `0x` and 40 hex digits, read at compile time (its checksum is not
/// checked here: a test reads each built-in one again with [`Address`]'s parser).
const fn address(text: &str) -> Address {
    const fn digit(byte: u8) -> u8 {
        match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            b'A'..=b'F' => byte - b'A' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let text = text.as_bytes();
    assert!(text.len() == 42 && text[0] == b'0' && text[1] == b'x');
    let mut bytes = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        bytes[i] = digit(text[2 + 2 * i]) << 4 | digit(text[3 + 2 * i]);
        i += 1;
    }
    Address::from_bytes(bytes)
}

fn validate(chain: &Chain) -> Result<(), RegistryError> {
    if let Some(url) = &chain.explorer_url
        && (!(url.starts_with("https://") || url.starts_with("http://")) || url.ends_with('/'))
    {
        return Err(RegistryError::BadExplorerUrl(chain.id));
    }
    for (i, token) in chain.tokens.iter().enumerate() {
        if token.decimals > MAX_DECIMALS {
            return Err(RegistryError::UnsupportedDecimals {
                chain: chain.id,
                symbol: token.symbol.clone(),
                decimals: token.decimals,
            });
        }
        if chain.tokens[..i].iter().any(|t| t.symbol == token.symbol) {
            return Err(RegistryError::DuplicateToken {
                chain: chain.id,
                symbol: token.symbol.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_decimals_differ_by_chain() {
        let registry = ChainRegistry::builtin();
        assert_eq!(
            registry.token(ChainId::ETHEREUM, "USDT").unwrap().decimals,
            6
        );
        assert_eq!(
            registry
                .token(ChainId::BNB_SMART_CHAIN, "USDT")
                .unwrap()
                .decimals,
            18
        );
        let ids: Vec<u64> = registry.chains().map(|c| c.id.0).collect();
        assert_eq!(ids, [1, 56, 137, 31337, 31338, 42161, 11_155_111]);
        assert_eq!(
            registry.token(ChainId::LOCAL_BNB, "USDT").unwrap().decimals,
            18
        );
    }

    #[test]
    fn the_builtin_registry_passes_the_checks_a_configured_one_does() {
        let builtin = ChainRegistry::builtin();
        let mut chains: Vec<Chain> = builtin.chains().cloned().collect();
        chains.reverse();
        let checked = ChainRegistry::new(chains).unwrap();
        assert_eq!(checked, builtin, "valid, and written in id order");
        for chain in builtin.chains() {
            for token in &chain.tokens {
                let text = token.contract.to_string();
                assert_eq!(text.parse::<Address>(), Ok(token.contract), "{text}");
            }
        }
        assert_eq!(
            builtin
                .token(ChainId::LOCAL, "USDT")
                .unwrap()
                .contract
                .to_string(),
            LOCAL_FIRST_CONTRACT
        );
    }

    #[test]
    fn unknown_chain_and_token_are_specific_errors() {
        let registry = ChainRegistry::builtin();
        assert_eq!(
            registry.chain(ChainId(5)),
            Err(RegistryError::UnknownChain(ChainId(5)))
        );
        assert_eq!(
            registry.token(ChainId::ETHEREUM, "DAI"),
            Err(RegistryError::UnknownToken {
                chain: ChainId::ETHEREUM,
                symbol: "DAI".into()
            })
        );
    }

    #[test]
    fn configuration_replaces_a_chain_whole_and_adds_new_ones() {
        let mut registry = ChainRegistry::builtin();
        let configured: Vec<Chain> = serde_json::from_str(
            r#"[{"id": 31337, "name": "Sandbox chain", "tokens": [
                    {"symbol": "USDT", "contract": "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512", "decimals": 6},
                    {"symbol": "USDC", "contract": "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0", "decimals": 6}]},
                {"id": 10, "name": "OP Mainnet", "explorerUrl": "https://optimistic.etherscan.io", "tokens": []}]"#,
        )
        .unwrap();
        registry.set(configured).unwrap();
        let local = registry.chain(ChainId::LOCAL).unwrap();
        assert_eq!(local.name, "Sandbox chain");
        assert_eq!(
            local.token("USDT").unwrap().contract.to_string(),
            "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        );
        assert!(registry.chain(ChainId(10)).is_ok());
        registry.retain(&[ChainId::LOCAL]);
        assert_eq!(registry.chains().count(), 1);
    }

    #[test]
    fn invalid_configuration_is_rejected_and_changes_nothing() {
        let mut registry = ChainRegistry::builtin();
        let before = registry.clone();
        let token = Token {
            symbol: "USDT".into(),
            contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
            decimals: 6,
        };
        let twice = Chain {
            id: ChainId::LOCAL,
            name: "twice".into(),
            explorer_url: None,
            tokens: vec![token.clone(), token.clone()],
        };
        let bad_explorer = Chain {
            id: ChainId(10),
            name: "x".into(),
            explorer_url: Some("https://example.org/".into()),
            tokens: vec![],
        };
        // A valid chain listed before an invalid one must not be applied either.
        let valid = ChainRegistry::builtin()
            .chain(ChainId::ETHEREUM)
            .unwrap()
            .clone();
        assert!(matches!(
            registry.set([valid, twice]),
            Err(RegistryError::DuplicateToken { .. })
        ));
        assert_eq!(
            registry.set([bad_explorer]),
            Err(RegistryError::BadExplorerUrl(ChainId(10)))
        );
        assert_eq!(registry, before);
        let mut bad_decimals = token;
        bad_decimals.decimals = 39;
        assert!(matches!(
            ChainRegistry::new([Chain {
                id: ChainId(10),
                name: "x".into(),
                explorer_url: None,
                tokens: vec![bad_decimals]
            }]),
            Err(RegistryError::UnsupportedDecimals { decimals: 39, .. })
        ));
    }

    #[test]
    fn explorer_links_point_at_the_transaction() {
        let registry = ChainRegistry::builtin();
        assert_eq!(
            registry
                .chain(ChainId::ETHEREUM)
                .unwrap()
                .transaction_url("0xabc"),
            Some("https://etherscan.io/tx/0xabc".into())
        );
        assert_eq!(
            registry
                .chain(ChainId::LOCAL)
                .unwrap()
                .transaction_url("0xabc"),
            None
        );
    }
}
