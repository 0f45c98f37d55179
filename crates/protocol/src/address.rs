//! EVM addresses. Parsed from `0x`-hex; a mixed-case address carries an EIP-55 checksum, which
//! must be right (one mistyped letter in a receiving address loses a payment). Displayed
//! checksummed, which is what wallets and explorers show.

use std::fmt;
use std::str::FromStr;

use tiny_keccak::{Hasher, Keccak};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 20]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address must start with 0x")]
    MissingPrefix,
    #[error("address must have 40 hex digits after 0x, found {0}")]
    WrongLength(usize),
    #[error("address contains '{0}', which is not a hex digit")]
    NotHex(char),
    #[error("address has a mixed-case EIP-55 checksum that does not match; expected {expected}")]
    BadChecksum { expected: String },
}

impl Address {
    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 form: `0x` and hex, each letter upper-case where the matching nibble of
    /// keccak256(lower-case hex) is 8 or more.
    pub fn to_checksummed(&self) -> String {
        let lower = self.to_lowercase_hex();
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }

    fn to_lowercase_hex(self) -> String {
        crate::hex::encode(&self.0)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .ok_or(AddressError::MissingPrefix)?;
        if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(AddressError::NotHex(bad));
        }
        if hex.len() != 40 {
            return Err(AddressError::WrongLength(hex.len()));
        }
        let mut bytes = [0u8; 20];
        // Cannot fail: 40 hex digits, checked above.
        crate::hex::decode_into(hex, &mut bytes);
        let address = Address(bytes);
        let has_lower = hex.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = hex.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper {
            let expected = address.to_checksummed();
            if expected[2..] != *hex {
                return Err(AddressError::BadChecksum { expected });
            }
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksummed())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Keccak-256, Ethereum's hash (not NIST SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak::v256();
    hasher.update(data);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of EIP-55 itself.
    const EIP55_VECTORS: [&str; 8] = [
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn checksums_match_the_eip55_vectors() {
        for vector in EIP55_VECTORS {
            let address: Address = vector.parse().unwrap();
            assert_eq!(address.to_string(), vector);
            let lower: Address = vector.to_lowercase().parse().unwrap();
            assert_eq!(lower, address, "all lower-case carries no checksum");
        }
    }

    #[test]
    fn a_single_wrong_case_is_rejected() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let bad = good.replacen("aA", "aa", 1);
        assert_eq!(
            bad.parse::<Address>(),
            Err(AddressError::BadChecksum {
                expected: good.to_string()
            })
        );
    }

    #[test]
    fn malformed_addresses_are_rejected_with_their_reason() {
        assert_eq!(
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".parse::<Address>(),
            Err(AddressError::MissingPrefix)
        );
        assert_eq!(
            "0x5aAeb6".parse::<Address>(),
            Err(AddressError::WrongLength(6))
        );
        assert_eq!(
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg".parse::<Address>(),
            Err(AddressError::NotHex('g'))
        );
    }

    #[test]
    fn serde_uses_the_checksummed_string() {
        let address: Address =
            serde_json::from_str("\"0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb\"").unwrap();
        assert_eq!(
            serde_json::to_string(&address).unwrap(),
            "\"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb\""
        );
        assert!(
            serde_json::from_str::<Address>("\"0x52908400098527886e0F7030069857D2E4169EE7\"")
                .is_err()
        );
    }
}
