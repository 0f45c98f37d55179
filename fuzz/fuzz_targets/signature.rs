//! Signatures on arbitrary bytes: a webhook's or request's headers and body through
//! `Verifier::verify_request` (freshness, the signed string, V1 ECDSA and V2 HMAC), the schemes'
//! `verify` on any message and signature, and keys in their base64 DER forms.
//!
//! Input, one field a line: `BlockATM-Request-Time`, `BlockATM-Rec_Window`,
//! `BlockATM-Signature-V1`, `BlockATM-Signature-V2` (an empty line: the header is absent), then
//! the body; a body starting with `?` is a GET's query string instead.
//!
//! The verifier holds BlockATM's demo V1 public key, whose one known signature is the documented
//! webhook example (F1), and a V2 secret. Nothing verifies unless it is signed: V1 only F1's
//! signed string with F1's signature, V2 only the HMAC of the signed string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usdt_checkout_protocol::gateway::examples::{
    V1_DEMO_PUBLIC_KEY, V1_SIGNED_CALLBACK, V1_SIGNED_CALLBACK_SIGNATURE, V1_SIGNED_CALLBACK_TIME,
};
use usdt_checkout_protocol::gateway::{
    HEADER_RECV_WINDOW, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1, HEADER_SIGNATURE_V2,
};
use usdt_checkout_protocol::signature::{
    Signed, V1PrivateKey, V1PublicKey, V2SecretKey, Verifier, VerifyError, secrets_equal,
};
use usdt_checkout_protocol::signed_string;

/// The V2 secret of the seeds (fuzz/corpus/signature).
const V2_SECRET: &str = "sk_test_fuzz_secret";
/// The receiver's clock: a second after F1 was signed, so F1 is fresh.
const NOW: u64 = V1_SIGNED_CALLBACK_TIME + 1_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.splitn(5, '\n');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let (time, window, v1, v2) = (next(), next(), next(), next());
    let body = next().unwrap_or("");

    let public = V1PublicKey::from_base64_spki(V1_DEMO_PUBLIC_KEY).expect("the demo key");
    let secret = V2SecretKey::new(V2_SECRET).expect("a secret");
    let f1_string = signed_string::for_json_body(V1_SIGNED_CALLBACK, V1_SIGNED_CALLBACK_TIME)
        .expect("F1 signs");

    request(&public, &secret, &f1_string, [time, window, v1, v2], body);

    // The schemes alone, the body as the message.
    let (v1, v2) = (v1.unwrap_or(""), v2.unwrap_or(""));
    if public.verify(body, v1).is_ok() {
        assert_eq!(body, f1_string);
        assert_eq!(
            v1.trim(),
            V1_SIGNED_CALLBACK_SIGNATURE,
            "another encoding verified"
        );
    }
    assert_eq!(secret.verify(body, v2).is_ok(), secret.sign(body) == v2);

    // Keys as a configuration or the gateway's console gives them: read back as written.
    if let Ok(key) = V1PublicKey::from_base64_spki(v1) {
        assert_eq!(
            V1PublicKey::from_base64_spki(&key.to_base64_spki()),
            Ok(key)
        );
    }
    if let Ok(key) = V1PrivateKey::from_base64_pkcs8(body) {
        let again = V1PrivateKey::from_base64_pkcs8(&key.to_base64_pkcs8()).expect("reads back");
        assert_eq!(again.public_key(), key.public_key());
    }
    assert_eq!(secrets_equal(v1, v2), v1 == v2);
});

fn request(
    public: &V1PublicKey,
    secret: &V2SecretKey,
    f1_string: &str,
    [time, window, v1, v2]: [Option<&str>; 4],
    body: &str,
) {
    let verifier = Verifier::new(Some(public.clone()), Some(secret.clone()));
    let header = |name: &str| match name {
        HEADER_REQUEST_TIME => time,
        HEADER_RECV_WINDOW => window,
        HEADER_SIGNATURE_V1 => v1,
        HEADER_SIGNATURE_V2 => v2,
        _ => None,
    };
    let signed = match body.strip_prefix('?') {
        Some(query) => Signed::Query(query),
        None => Signed::Body(body),
    };
    let string = |time: u64| match signed {
        Signed::Body(body) => signed_string::for_json_body(body, time),
        Signed::Query(query) => signed_string::for_query(query, time),
    };
    match verifier.verify_request(header, signed, NOW) {
        Ok(()) => {
            let time: u64 = time.expect("a time").trim().parse().expect("a number");
            let string = string(time).expect("verified, so it signs");
            match v1 {
                Some(v1) => {
                    assert_eq!(string, f1_string, "V1 verified a string nobody signed");
                    assert_eq!(v1.trim(), V1_SIGNED_CALLBACK_SIGNATURE);
                }
                None => assert_eq!(Some(secret.sign(&string).as_str()), v2),
            }
        }
        // What the receiver verified is what the sender is told to compare with.
        Err(VerifyError::Signature { signed_string, .. }) => {
            let time: u64 = time.expect("a time").trim().parse().expect("a number");
            assert_eq!(Ok(signed_string), string(time));
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}
