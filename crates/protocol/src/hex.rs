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
    let mut bytes = vec![0; text.len() / 2];
    decode_into(text, &mut bytes).then_some(bytes)
}

/// Fills `out` from exactly twice as many hex digits, either case; `false` (and `out` left in
/// any state) for anything else. Without an allocation, for fixed-size values such as addresses.
pub fn decode_into(text: &str, out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => *byte = high << 4 | low,
            _ => return false,
        }
    }
    true
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
        let mut two = [0u8; 2];
        assert!(decode_into("a9Ff", &mut two));
        assert_eq!(two, [0xa9, 0xff]);
        assert!(!decode_into("a9f", &mut two), "too short");
        assert!(!decode_into("a9ff00", &mut two), "too long");
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
