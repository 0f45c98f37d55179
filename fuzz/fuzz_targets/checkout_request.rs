//! What the checkout API reads from a browser or a storefront: the request bodies
//! (`CreateCheckout`, the admin `StorefrontCheckout`, the "I already paid" `ClaimRequest`) and the
//! edge checks the server applies to them that are pure (`Price::parse`, `parse_tx_hash`); the
//! values inside them and in URLs (addresses, hex, chain ids, state names, EIP-681 payment URIs);
//! and the `CheckoutView` the widget reads back from the server.
//!
//! Input: the text, given to every reader.
//!
//! Beyond not panicking: what is read is written back and reads as the same; an accepted address,
//! hash or URI has one canonical spelling that reads back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use usdt_checkout_protocol::address::Address;
use usdt_checkout_protocol::checkout::{
    CheckoutState, CheckoutView, ClaimRequest, CreateCheckout, StorefrontCheckout,
};
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::gateway::wire::chain_id_text;
use usdt_checkout_protocol::{ChainRegistry, OrderStatus, TransferRequest, hex};
use usdt_checkout_server::claim::parse_tx_hash;
use usdt_checkout_server::domain::Price;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = ChainRegistry::builtin();

    if let Some(request) = round_trip::<CreateCheckout>(text) {
        let _ = (request.item, request.checkout_id, request.chain_id);
    }
    if let Some(request) = round_trip::<StorefrontCheckout>(text) {
        price(&request.amount, &request.currency, &registry);
    }
    if let Some(claim) = round_trip::<ClaimRequest>(text) {
        tx_hash(&claim.tx_hash);
    }
    if let Ok(view) = serde_json::from_str::<CheckoutView>(text) {
        let written = serde_json::to_string(&view).expect("a view writes");
        assert_eq!(
            serde_json::from_str::<CheckoutView>(&written).ok(),
            Some(view),
            "{written}"
        );
    }

    // The text as one value, as a path segment or a field would carry it.
    tx_hash(text);
    if let Ok(address) = text.parse::<Address>() {
        let shown = address.to_string();
        assert_eq!(shown.parse::<Address>(), Ok(address));
        assert_eq!(shown.to_lowercase().parse::<Address>(), Ok(address));
        assert!(
            text[2..].eq_ignore_ascii_case(&shown[2..]),
            "{text:?} shown as {shown}"
        );
    }
    if let Some(bytes) = hex::decode(text) {
        assert_eq!(hex::encode(&bytes), text.to_ascii_lowercase());
    }
    assert_eq!(hex::decode(&hex::encode(data)).as_deref(), Some(data));
    if let Ok(request) = TransferRequest::parse_eip681(text) {
        assert_eq!(
            TransferRequest::parse_eip681(&request.eip681()),
            Ok(request)
        );
        let _ = (request.metamask_link(), request.transfer_calldata());
    }
    if let Some(id) = chain_id_text::parse(text) {
        assert!(id.0 > 0);
        assert_eq!(chain_id_text::parse(&id.to_string()), Some(id));
    }
    if let Some(state) = CheckoutState::from_name(text) {
        assert_eq!(state.as_str(), text);
    }
    if let Some(status) = OrderStatus::from_name(text) {
        assert_eq!(status.as_str(), text);
    }
    if let Some(status) = GatewayStatus::parse(text) {
        assert_eq!(GatewayStatus::parse(status.as_str()), Some(status));
    }
    if let Some((amount, currency)) = text.split_once(' ') {
        price(amount, currency, &registry);
    }
});

/// `T` read from `text`, once it is checked to read back the same from what it writes.
fn round_trip<T: Serialize + DeserializeOwned>(text: &str) -> Option<T> {
    let value: T = serde_json::from_str(text).ok()?;
    let written = serde_json::to_value(&value).expect("a request writes");
    let again: T = serde_json::from_value(written.clone())
        .unwrap_or_else(|e| panic!("{written} does not read back: {e}"));
    assert_eq!(serde_json::to_value(&again).expect("writes"), written);
    Some(value)
}

/// A price the server accepts is a positive amount in a currency code.
fn price(amount: &str, currency: &str, registry: &ChainRegistry) {
    if Price::parse(amount, currency, registry).is_ok() {
        assert!(!currency.is_empty() && currency.len() <= 10 && currency.is_ascii());
        assert!(
            amount.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
            "{amount:?}"
        );
        assert!(
            amount.bytes().any(|b| (b'1'..=b'9').contains(&b)),
            "{amount:?} is zero"
        );
    }
}

/// An accepted hash is `0x` and 64 lower-case hex digits, the text's own digits, and reads back
/// as itself.
fn tx_hash(text: &str) {
    if let Some(parsed) = parse_tx_hash(text) {
        let hash = parsed.as_str();
        assert_eq!(hash.len(), 66);
        assert!(hash.starts_with("0x"));
        assert!(
            hash[2..]
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert!(text.trim()[2..].eq_ignore_ascii_case(&hash[2..]));
        assert_eq!(parse_tx_hash(hash).as_ref(), Some(&parsed));
    }
}
