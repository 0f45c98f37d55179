//! Signed receipts: a receipt file (`SignedReceipt::parse`) verified against the server's key
//! (`SignedReceipt::verify`), and a bare receipt's JSON read, signed and verified.
//!
//! Input: the text of a receipt file.
//!
//! Beyond not panicking: only what the key signed verifies, whatever the file's layout (the
//! signature covers the receipt's canonical JSON: the one the key would sign now, RFC 6979 being
//! deterministic), and a verified receipt is the one that was signed.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use usdt_checkout_protocol::receipt::{Receipt, SignedReceipt};
use usdt_checkout_protocol::signature::V1PrivateKey;

/// The key of the seeds in fuzz/corpus/receipt: the openssl-made key of the protocol's
/// interoperability test.
const PRIVATE_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9mrrjasg7oWYLKo6bWIBZk9AH8gtCrsaKBeZCWtP/EehRANCAAQufiSi21LDW+MFvgyVCDtKSe93F3dwvNcHP7O0ozbn9UBJQVZnzTYBxa5YotKzQt9ScP9yYaSnV8nWnCVk1+vb";

/// Read once: a key's scalar multiplication would otherwise be most of each execution.
static KEY: LazyLock<V1PrivateKey> =
    LazyLock::new(|| V1PrivateKey::from_base64_pkcs8(PRIVATE_KEY).expect("the test key"));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = &*KEY;
    let public = key.public_key();

    if let Ok(signed) = SignedReceipt::parse(text)
        && let Ok(receipt) = signed.verify(&public)
    {
        // serde_json's objects are sorted maps: `to_string` is the canonical form signed.
        let canonical = signed.receipt.to_string();
        assert_eq!(
            key.sign(&canonical),
            signed.signature.trim(),
            "verified a signature the key would not make"
        );
        assert_eq!(receipt.sign(key).verify(&public), Ok(receipt));
    }
    if let Ok(receipt) = serde_json::from_str::<Receipt>(text) {
        let signed = receipt.sign(key);
        let file = serde_json::to_string_pretty(&signed).expect("a receipt writes");
        let read = SignedReceipt::parse(&file).expect("a written receipt reads");
        assert_eq!(read.verify(&public), Ok(receipt));
    }
});
