//! The gateway's signed string, from a JSON body (`for_json_body`) and from a query string
//! (`for_query`): whatever a webhook or a request carries.
//!
//! Input: the text, read both as a body and as a query.
//!
//! Beyond not panicking: each result is checked against an oracle written here from the rules in
//! `signed_string.rs`'s documentation. An accepted body's string holds exactly its non-null
//! scalars, one segment each, sorted, then the time; so it maps back to the body's `key=value`s
//! (and bare array values) with nothing re-partitioned. A refusal as `Ambiguous` happens exactly
//! when some key or value could be read as a separator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use usdt_checkout_protocol::signed_string::{SignedStringError, for_json_body, for_query};

/// BlockATM's documented example time (docs/blockatm-api.md F1).
const TIME: u64 = 1_696_947_336_603;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    body(text);
    query(text);
});

fn body(text: &str) {
    let signed = for_json_body(text, TIME);
    if text.trim().is_empty() {
        assert_eq!(signed, Ok(format!("time={TIME}")));
        return;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        // RawValue reads numbers (1e400) that Value cannot hold; such a body is signed as
        // written, and the shape of its string still holds.
        if let Ok(signed) = signed {
            segments(&signed);
        }
        return;
    };
    let Value::Object(_) = value else {
        assert_eq!(signed, Err(SignedStringError::NotAnObject), "{text:?}");
        return;
    };
    let mut leaves = Vec::new();
    let ambiguous = walk(&value, &mut leaves);
    match signed {
        Err(SignedStringError::Ambiguous(_)) => assert!(ambiguous, "refused {text:?}"),
        Err(other) => panic!("{text:?}: {other}"),
        Ok(signed) => {
            assert!(!ambiguous, "accepted the ambiguous {text:?} as {signed:?}");
            maps_back(&segments(&signed), leaves, text);
        }
    }
}

/// The segments before the time: sorted, and the string ends with the time.
fn segments(signed: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = signed.split('&').collect();
    assert_eq!(
        parts.pop(),
        Some(format!("time={TIME}").as_str()),
        "{signed:?}"
    );
    assert!(parts.is_sorted(), "{signed:?}");
    parts
}

/// A scalar the signed string must carry: under its key (an object's member) or bare (an array's
/// element).
type Leaf = (Option<String>, Value);

/// Collects the non-null scalars as the documentation says they are signed; whether any of them
/// is ambiguous.
fn walk(value: &Value, leaves: &mut Vec<Leaf>) -> bool {
    let mut ambiguous = false;
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::Null => {}
                    Value::Object(_) | Value::Array(_) => ambiguous |= walk(value, leaves),
                    scalar => {
                        ambiguous |= key.contains(['&', '='])
                            || matches!(scalar, Value::String(s) if s.contains('&'));
                        leaves.push((Some(key.clone()), scalar.clone()));
                    }
                }
            }
        }
        Value::Array(elements) => {
            for element in elements {
                match element {
                    Value::Null => {}
                    Value::Object(_) | Value::Array(_) => ambiguous |= walk(element, leaves),
                    scalar => {
                        ambiguous |= matches!(scalar, Value::String(s) if s.contains(['&', '=']));
                        leaves.push((None, scalar.clone()));
                    }
                }
            }
        }
        _ => unreachable!("only containers are walked"),
    }
    ambiguous
}

/// Every segment is one leaf and every leaf one segment: strings and booleans as their exact
/// text, numbers as text that reads as the same number.
fn maps_back(segments: &[&str], mut leaves: Vec<Leaf>, text: &str) {
    assert_eq!(
        segments.len(),
        leaves.len(),
        "{text:?} signed as {segments:?}"
    );
    let read: Vec<(Option<&str>, &str)> = segments
        .iter()
        .map(|segment| match segment.split_once('=') {
            // Keys hold no '=', bare values neither: the first '=' ends the key.
            Some((key, value)) => (Some(key), value),
            None => (None, *segment),
        })
        .collect();
    let mut unmatched = Vec::new();
    for (key, value) in read {
        let exact = leaves.iter().position(|(k, leaf)| {
            k.as_deref() == key
                && match leaf {
                    Value::String(s) => s == value,
                    Value::Bool(b) => b.to_string() == value,
                    _ => false,
                }
        });
        match exact {
            Some(i) => drop(leaves.swap_remove(i)),
            None => unmatched.push((key, value)),
        }
    }
    for (key, value) in unmatched {
        let number = serde_json::from_str::<Value>(value).ok();
        let i = leaves
            .iter()
            .position(|(k, leaf)| {
                k.as_deref() == key && leaf.is_number() && Some(leaf) == number.as_ref()
            })
            .unwrap_or_else(|| {
                panic!("{text:?}: segment {key:?}={value:?} is no leaf of the body")
            });
        leaves.swap_remove(i);
    }
}

fn query(text: &str) {
    let signed = for_query(text, TIME);
    let pairs: Result<Vec<String>, SignedStringError> = text
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (decode(key)?, decode(value)?);
            if key.contains(['&', '=']) {
                return Err(SignedStringError::Ambiguous(key));
            }
            if value.contains('&') {
                return Err(SignedStringError::Ambiguous(value));
            }
            Ok(format!("{key}={value}"))
        })
        .collect();
    let expected = pairs.map(|mut pairs| {
        pairs.sort_unstable();
        pairs.push(format!("time={TIME}"));
        pairs.join("&")
    });
    assert_eq!(signed, expected, "{text:?}");
}

/// Percent-decoding as the documentation says (`+` a space), written apart from the code under
/// test.
fn decode(text: &str) -> Result<String, SignedStringError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| {
                        u8::from_str_radix(h, 16)
                            .ok()
                            .filter(|_| !h.starts_with('+'))
                    })
                    .ok_or(SignedStringError::BadPercentEscape)?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| SignedStringError::BadPercentEscape)
}
