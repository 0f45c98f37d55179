//! Hex digits, written and read in one place: addresses, calldata, signatures and ids all use it.

/// Lowercase hex of `bytes`, two digits a byte, no prefix.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The bytes of an even number of hex digits, either case; `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

fn digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(encode(&[0x00, 0x0f, 0xa9, 0xff]), "000fa9ff");
        assert_eq!(decode("000FA9ff"), Some(vec![0x00, 0x0f, 0xa9, 0xff]));
        assert_eq!(decode(""), Some(vec![]));
    }

    #[test]
    fn malformed_text_is_refused() {
        assert_eq!(decode("abc"), None, "odd length");
        assert_eq!(decode("zz"), None);
        assert_eq!(decode("0x00"), None, "no prefix is taken");
        assert_eq!(decode("é1"), None, "multi-byte characters");
    }

    proptest! {
        #[test]
        fn decoding_reverses_encoding(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode(&encode(&bytes)), Some(bytes));
        }
    }
}
