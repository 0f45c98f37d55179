//! Transaction hashes: `0x` and 64 hex digits. Parsed once where a hash comes in (a chain's log,
//! a gateway's report, a shopper's paste) and held in lower case from then on: a gateway may
//! write a hash in upper case and a shopper may paste it so, and both spellings are one
//! transaction, so every later comparison is a plain `==`.

use std::fmt;
use std::str::FromStr;

/// A transaction hash, in lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxHash(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxHashError {
    #[error("a transaction hash must start with 0x")]
    MissingPrefix,
    #[error("a transaction hash has 64 hex digits after 0x, found {0}")]
    WrongLength(usize),
    #[error("a transaction hash contains '{0}', which is not a hex digit")]
    NotHex(char),
}

impl TxHash {
    /// The hash of these 32 bytes, as a chain client reads it.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(format!("0x{}", crate::hex::encode(&bytes)))
    }

    /// Its 32 bytes, as a chain client asks for it.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // Cannot fail: 64 hex digits, checked when parsed.
        crate::hex::decode_into(&self.0[2..], &mut bytes);
        bytes
    }

    /// `0x` and 64 lower-case hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TxHash {
    type Err = TxHashError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .ok_or(TxHashError::MissingPrefix)?;
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(TxHashError::NotHex(bad));
        }
        if digits.len() != 64 {
            return Err(TxHashError::WrongLength(digits.len()));
        }
        Ok(Self(format!("0x{}", digits.to_ascii_lowercase())))
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHash({})", self.0)
    }
}

impl serde::Serialize for TxHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TxHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_case_is_one_hash_in_lower_case() {
        let upper = format!("0X{}", "AB".repeat(32));
        let lower = format!("0x{}", "ab".repeat(32));
        let parsed: TxHash = upper.parse().unwrap();
        assert_eq!(parsed, lower.parse().unwrap());
        assert_eq!(parsed.as_str(), lower);
        assert_eq!(parsed.to_string(), lower);
        assert_eq!(parsed, TxHash::from_bytes([0xab; 32]));
        assert_eq!(parsed.to_bytes(), [0xab; 32]);
    }

    #[test]
    fn malformed_hashes_are_refused_with_their_reason() {
        let cases = [
            ("ab".repeat(32), TxHashError::MissingPrefix),
            ("0x".into(), TxHashError::WrongLength(0)),
            (
                format!("0x{}", "1".repeat(63)),
                TxHashError::WrongLength(63),
            ),
            (format!("0x{}", "g".repeat(64)), TxHashError::NotHex('g')),
            (format!(" 0x{}", "1".repeat(64)), TxHashError::MissingPrefix),
        ];
        for (text, error) in cases {
            assert_eq!(text.parse::<TxHash>(), Err(error), "{text:?}");
        }
    }

    #[test]
    fn serde_reads_either_case_and_writes_lower_case() {
        let hash: TxHash = serde_json::from_str(&format!("\"0x{}\"", "Cd".repeat(32))).unwrap();
        assert_eq!(
            serde_json::to_string(&hash).unwrap(),
            format!("\"0x{}\"", "cd".repeat(32))
        );
        assert!(serde_json::from_str::<TxHash>("\"0x1t\"").is_err());
    }
}
