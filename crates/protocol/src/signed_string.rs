//! What the gateway's signatures cover, and when a signed request is fresh enough to accept.
//!
//! The signed string, as the gateway's docs give it and as this product reads them where they are
//! silent:
//! - The request's top-level JSON fields (for a GET, the query string's `k=v` pairs) become
//!   `key=value` strings with the raw value: strings unquoted and unescaped, numbers and booleans
//!   exactly as written in the body, nothing percent-encoded. Null fields are skipped.
//! - A nested object contributes its own `key=value` strings, recursively, its parent key dropped.
//! - An array contributes its elements as bare values (objects in it as their `key=value`s).
//! - A body nested more than [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH) containers deep (the body
//!   itself the first) is refused: no documented body comes near it.
//! - All those strings are sorted by byte (ASCII) order and joined with `&`; then
//!   `&time=<BlockATM-Request-Time>` is appended. With no fields at all the string is
//!   `time=<BlockATM-Request-Time>`.
//! - Query pairs are percent-decoded (`+` as a space) before they are signed, so a client and a
//!   server that encode a value differently still agree on it.
//!
//! - A key or value that holds `&`, a key that holds `=`, or a bare array value that holds
//!   either, is refused when signing and when verifying: the string could not tell it from a
//!   separator, so one signed body could be re-partitioned into another with the same string
//!   (`{"symbol":"USDT&txId=0x1"}` would sign as `symbol=USDT` and `txId=0x1`). No documented
//!   field takes such characters.
//!
//! The string is computed from the exact body text that is sent or received, never from a
//! re-serialised struct, so signer and verifier cannot disagree about number formatting.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::MAX_JSON_DEPTH;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedStringError {
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("query string has a malformed percent-escape")]
    BadPercentEscape,
    #[error("{0:?} holds '&' or '=', which the signed string cannot tell from its separators")]
    Ambiguous(String),
    #[error("request body is nested more than {MAX_JSON_DEPTH} levels deep")]
    TooDeep,
}

/// `key=value`, refused if either could be read as separators.
fn pair(key: &str, value: &str) -> Result<String, SignedStringError> {
    if key.contains(['&', '=']) {
        return Err(SignedStringError::Ambiguous(key.to_owned()));
    }
    if value.contains('&') {
        return Err(SignedStringError::Ambiguous(value.to_owned()));
    }
    Ok(format!("{key}={value}"))
}

/// The signed string of a JSON request or webhook body.
pub fn for_json_body(body: &str, request_time_ms: u64) -> Result<String, SignedStringError> {
    let mut parts = Vec::new();
    if !body.trim().is_empty() {
        let raw: &RawValue = serde_json::from_str(body)
            .map_err(|error| SignedStringError::InvalidJson(error.to_string()))?;
        if !raw.get().starts_with('{') {
            return Err(SignedStringError::NotAnObject);
        }
        push_object(raw, &mut parts, 1)?;
    }
    Ok(join(parts, request_time_ms))
}

/// The signed string of a GET request, from its query string (without the `?`).
pub fn for_query(query: &str, request_time_ms: u64) -> Result<String, SignedStringError> {
    let parts = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            self::pair(&percent_decode(key)?, &percent_decode(value)?)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(join(parts, request_time_ms))
}

fn join(mut parts: Vec<String>, request_time_ms: u64) -> String {
    parts.sort_unstable();
    parts.push(format!("time={request_time_ms}"));
    parts.join("&")
}

/// Each walks one container `depth` deep (the body itself is 1), refusing one deeper than
/// [`MAX_JSON_DEPTH`]: a body is walked before its signature is checked, and serde_json reads a
/// `RawValue` of any depth, so this is the only bound on the recursion.
fn push_object(
    raw: &RawValue,
    parts: &mut Vec<String>,
    depth: usize,
) -> Result<(), SignedStringError> {
    if depth > MAX_JSON_DEPTH {
        return Err(SignedStringError::TooDeep);
    }
    let fields: BTreeMap<String, &RawValue> = parse(raw)?;
    for (key, value) in fields {
        match value.get().as_bytes().first() {
            Some(b'n') => {} // null
            Some(b'{') => push_object(value, parts, depth + 1)?,
            Some(b'[') => push_array(value, parts, depth + 1)?,
            _ => parts.push(pair(&key, &scalar(value)?)?),
        }
    }
    Ok(())
}

fn push_array(
    raw: &RawValue,
    parts: &mut Vec<String>,
    depth: usize,
) -> Result<(), SignedStringError> {
    if depth > MAX_JSON_DEPTH {
        return Err(SignedStringError::TooDeep);
    }
    let elements: Vec<&RawValue> = parse(raw)?;
    for element in elements {
        match element.get().as_bytes().first() {
            Some(b'n') => {}
            Some(b'{') => push_object(element, parts, depth + 1)?,
            Some(b'[') => push_array(element, parts, depth + 1)?,
            _ => {
                let value = scalar(element)?;
                if value.contains(['&', '=']) {
                    return Err(SignedStringError::Ambiguous(value));
                }
                parts.push(value);
            }
        }
    }
    Ok(())
}

/// A string's content, or a number's or boolean's text as written.
fn scalar(raw: &RawValue) -> Result<String, SignedStringError> {
    if raw.get().starts_with('"') {
        parse(raw)
    } else {
        Ok(raw.get().to_owned())
    }
}

fn parse<'a, T: serde::Deserialize<'a>>(raw: &'a RawValue) -> Result<T, SignedStringError> {
    serde_json::from_str(raw.get())
        .map_err(|error| SignedStringError::InvalidJson(error.to_string()))
}

fn percent_decode(text: &str) -> Result<String, SignedStringError> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        bytes.push(match byte {
            b'+' => b' ',
            b'%' => {
                let high = input.next().and_then(|d| (d as char).to_digit(16));
                let low = input.next().and_then(|d| (d as char).to_digit(16));
                match (high, low) {
                    (Some(high), Some(low)) => (high * 16 + low) as u8,
                    _ => return Err(SignedStringError::BadPercentEscape),
                }
            }
            other => other,
        });
    }
    String::from_utf8(bytes).map_err(|_| SignedStringError::BadPercentEscape)
}

/// The freshness window a request may declare in `BlockATM-Rec_Window`, in milliseconds.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 30_000;
pub const MAX_RECV_WINDOW_MS: u64 = 60_000;
/// How far ahead of the receiver's clock a request time may be. The docs require
/// `request_time <= server_time`; real clocks drift, so a second of forward skew is accepted.
pub const MAX_FORWARD_SKEW_MS: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreshnessError {
    #[error("BlockATM-Rec_Window is {0} ms; at most {MAX_RECV_WINDOW_MS} ms is allowed")]
    WindowTooLarge(u64),
    #[error("BlockATM-Request-Time is {0} ms ahead of the server's clock")]
    FromTheFuture(u64),
    #[error("BlockATM-Request-Time is {age} ms old, outside the {window} ms window")]
    Stale { age: u64, window: u64 },
}

/// Whether a request signed at `request_time_ms` may be accepted at `now_ms`, given the window it
/// declared (if any).
pub fn check_freshness(
    request_time_ms: u64,
    now_ms: u64,
    recv_window_ms: Option<u64>,
) -> Result<(), FreshnessError> {
    let window = recv_window_ms.unwrap_or(DEFAULT_RECV_WINDOW_MS);
    if window > MAX_RECV_WINDOW_MS {
        return Err(FreshnessError::WindowTooLarge(window));
    }
    if request_time_ms > now_ms + MAX_FORWARD_SKEW_MS {
        return Err(FreshnessError::FromTheFuture(request_time_ms - now_ms));
    }
    let age = now_ms.saturating_sub(request_time_ms);
    if age > window {
        return Err(FreshnessError::Stale { age, window });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_example() {
        let body = r#"{"symbol":"USDT","custNo":"C1","chainId":5,"amount":13.41}"#;
        assert_eq!(
            for_json_body(body, 1_696_947_336_603).unwrap(),
            "amount=13.41&chainId=5&custNo=C1&symbol=USDT&time=1696947336603"
        );
    }

    #[test]
    fn numbers_are_signed_as_written_and_nulls_skipped() {
        let body = r#"{"amount": 13.410, "big": 123456789012345678901234567890, "memo": null, "ok": true}"#;
        assert_eq!(
            for_json_body(body, 7).unwrap(),
            "amount=13.410&big=123456789012345678901234567890&ok=true&time=7"
        );
    }

    #[test]
    fn strings_are_unescaped_and_unquoted_never_percent_encoded() {
        let body = r#"{"note": "a \"b\" c=d\u00e9", "url": "https://x.test/?a=1"}"#;
        assert_eq!(
            for_json_body(body, 1).unwrap(),
            "note=a \"b\" c=dé&url=https://x.test/?a=1&time=1"
        );
    }

    #[test]
    fn nested_objects_flatten_and_arrays_give_bare_values() {
        let body = r#"{"orderNo": "O1", "extra": {"z": 1, "b": "x", "deep": {"a": null, "c": 2}}, "ids": [3, "k", {"m": 4}, null]}"#;
        assert_eq!(
            for_json_body(body, 9).unwrap(),
            "3&b=x&c=2&k&m=4&orderNo=O1&z=1&time=9"
        );
    }

    #[test]
    fn sorting_is_of_the_whole_key_value_strings_by_byte() {
        // "a1=" sorts before "a=" because '1' < '='; a sort by key alone would differ.
        let body = r#"{"a": "x", "a1": "y", "B": "z"}"#;
        assert_eq!(for_json_body(body, 0).unwrap(), "B=z&a1=y&a=x&time=0");
    }

    #[test]
    fn empty_bodies_sign_just_the_time() {
        assert_eq!(for_json_body("", 5).unwrap(), "time=5");
        assert_eq!(for_json_body("{}", 5).unwrap(), "time=5");
        assert_eq!(for_query("", 5).unwrap(), "time=5");
    }

    #[test]
    fn the_v2_documented_message_is_what_a_query_signs() {
        let query = "orderNo=C202503225&custNo=C86002201&apiKey=pk_payment_my3T68cbuIXf1x3QOEbWtFEfcJPxeBr8wTewDVM";
        assert_eq!(
            for_query(query, 1).unwrap(),
            "apiKey=pk_payment_my3T68cbuIXf1x3QOEbWtFEfcJPxeBr8wTewDVM&custNo=C86002201&orderNo=C202503225&time=1"
        );
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(
            for_query("status=1&from=2026-01-01T00%3A00%3A00Z&q=a+b", 3).unwrap(),
            "from=2026-01-01T00:00:00Z&q=a b&status=1&time=3"
        );
        assert_eq!(
            for_query("a=%zz", 3),
            Err(SignedStringError::BadPercentEscape)
        );
        assert_eq!(
            for_query("a=%ff", 3),
            Err(SignedStringError::BadPercentEscape)
        );
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_errors() {
        assert_eq!(for_json_body("[1]", 0), Err(SignedStringError::NotAnObject));
        assert!(matches!(
            for_json_body("{\"a\":", 0),
            Err(SignedStringError::InvalidJson(_))
        ));
    }

    #[test]
    fn a_body_that_could_be_read_as_another_is_refused() {
        // The genuine webhook, and one re-partitioned to sign the same string without its txId.
        let genuine = r#"{"symbol":"USDT","txId":"0xabc"}"#;
        let forged = r#"{"symbol":"USDT&txId=0xabc"}"#;
        assert_eq!(
            for_json_body(genuine, 1),
            Ok("symbol=USDT&txId=0xabc&time=1".into())
        );
        assert_eq!(
            for_json_body(forged, 1),
            Err(SignedStringError::Ambiguous("USDT&txId=0xabc".into()))
        );
        for ambiguous in [
            r#"{"a=b":"c"}"#,
            r#"{"a&b":"c"}"#,
            r#"{"list":["x=y"]}"#,
            r#"{"list":["x&y"]}"#,
            r#"{"outer":{"v":"1&time=2"}}"#,
        ] {
            assert!(
                matches!(
                    for_json_body(ambiguous, 1),
                    Err(SignedStringError::Ambiguous(_))
                ),
                "{ambiguous}"
            );
        }
        // A value may hold '=' (base64, say): only '&' separates pairs.
        assert_eq!(
            for_json_body(r#"{"k":"YQ=="}"#, 1),
            Ok("k=YQ==&time=1".into())
        );
        for query in ["a=1%262", "a%3Db=1", "a%26b=1"] {
            assert!(
                matches!(for_query(query, 1), Err(SignedStringError::Ambiguous(_))),
                "{query}"
            );
        }
    }

    /// A body whose innermost value sits `depth` containers deep (the body itself the first):
    /// objects, arrays, or the two in turn.
    fn nested(depth: usize, shape: &str) -> String {
        let (mut open, mut close) = (String::from("{"), String::new());
        for level in 1..depth {
            let array = match shape {
                "objects" => false,
                "arrays" => true,
                _ => level % 2 == 1,
            };
            // An object's member needs a key; an array's element does not.
            if !open.ends_with('[') {
                open.push_str("\"k\":");
            }
            open.push(if array { '[' } else { '{' });
            close.insert(0, if array { ']' } else { '}' });
        }
        if !open.ends_with('[') {
            open.push_str("\"k\":");
        }
        format!("{open}1{close}}}")
    }

    /// Runs `f` on a thread with a small stack (an async runtime's worker has 2 MiB), so a walk
    /// that recursed once per level would overflow it here as it did the servers.
    fn on_a_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn a_body_nested_deeper_than_the_limit_is_refused_not_overflowing_the_stack() {
        for shape in ["objects", "arrays", "mixed"] {
            for depth in [2_000, 100_000, MAX_JSON_DEPTH + 1] {
                let body = nested(depth, shape);
                assert!(serde_json::from_str::<&RawValue>(&body).is_ok(), "{shape}");
                assert_eq!(
                    on_a_small_stack(move || for_json_body(&body, 1)),
                    Err(SignedStringError::TooDeep),
                    "{depth} {shape}"
                );
            }
        }
    }

    #[test]
    fn a_body_nested_as_deep_as_the_limit_signs() {
        for shape in ["objects", "arrays", "mixed"] {
            let body = nested(MAX_JSON_DEPTH, shape);
            let signed = on_a_small_stack(move || for_json_body(&body, 1));
            let expected = if shape == "objects" {
                "k=1&time=1"
            } else {
                "1&time=1"
            };
            assert_eq!(signed.as_deref(), Ok(expected), "{shape}");
        }
        assert_eq!(
            for_json_body(&nested(2, "objects"), 1).as_deref(),
            Ok("k=1&time=1")
        );
        assert_eq!(nested(3, "mixed"), r#"{"k":[{"k":1}]}"#);
        assert_eq!(nested(3, "arrays"), r#"{"k":[[1]]}"#);
    }

    #[test]
    fn freshness_follows_the_window() {
        let now = 1_000_000;
        assert_eq!(check_freshness(now, now, None), Ok(()));
        assert_eq!(check_freshness(now - 30_000, now, None), Ok(()));
        assert_eq!(
            check_freshness(now - 30_001, now, None),
            Err(FreshnessError::Stale {
                age: 30_001,
                window: 30_000
            })
        );
        assert_eq!(check_freshness(now - 59_000, now, Some(60_000)), Ok(()));
        assert_eq!(
            check_freshness(now, now, Some(60_001)),
            Err(FreshnessError::WindowTooLarge(60_001))
        );
        assert_eq!(check_freshness(now + 1_000, now, None), Ok(()));
        assert_eq!(
            check_freshness(now + 1_001, now, None),
            Err(FreshnessError::FromTheFuture(1_001))
        );
    }
}
