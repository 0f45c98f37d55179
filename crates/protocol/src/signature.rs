//! The gateway's two signature schemes over the signed string (see [`crate::signed_string`]):
//! - V1: ECDSA on P-256 with SHA-256 (Java's `SHA256withECDSA`), the signature DER-encoded then
//!   standard base64. Keys are base64 of DER: PKCS#8 for the private key, X.509
//!   SubjectPublicKeyInfo for the public key, which is what the gateway's console takes.
//! - V2: HMAC-SHA256 keyed with the merchant's secret, as lowercase hex.
//!
//! Verification never panics: every malformed input is an error saying what was wrong.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::Sha256;

use crate::gateway::{
    HEADER_RECV_WINDOW, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1, HEADER_SIGNATURE_V2,
};
use crate::signed_string::{
    self, DEFAULT_RECV_WINDOW_MS, FreshnessError, SignedStringError, check_freshness,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is not valid base64")]
    NotBase64,
    #[error("private key is not a P-256 key in PKCS#8 DER")]
    NotPkcs8,
    #[error("public key is not a P-256 key in X.509 SubjectPublicKeyInfo DER")]
    NotSpki,
    #[error("secret key is empty")]
    EmptySecret,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is not valid base64")]
    NotBase64,
    #[error("signature is not a DER-encoded ECDSA signature")]
    NotDer,
    #[error("signature is not 64 lowercase hex digits")]
    NotHex,
    #[error("signature does not match the request")]
    Mismatch,
    #[error("signature has the high s of the two that verify; only the low one is accepted")]
    HighS,
    #[error("signature is not written as base64 of its DER, exactly")]
    NotCanonical,
}

/// The merchant's (or the gateway's) V1 private key.
#[derive(Clone)]
pub struct V1PrivateKey(SigningKey);

/// A V1 public key, as uploaded to (or downloaded from) the gateway's console.
#[derive(Clone, PartialEq, Eq)]
pub struct V1PublicKey(VerifyingKey);

impl V1PrivateKey {
    /// A new random key pair, from the operating system's randomness.
    pub fn generate() -> Self {
        Self(SigningKey::random(&mut rand_core::OsRng))
    }

    pub fn from_base64_pkcs8(text: &str) -> Result<Self, KeyError> {
        let der = BASE64
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64)?;
        SigningKey::from_pkcs8_der(&der)
            .map(Self)
            .map_err(|_| KeyError::NotPkcs8)
    }

    pub fn to_base64_pkcs8(&self) -> String {
        let der = self
            .0
            .to_pkcs8_der()
            .expect("a valid P-256 key always encodes");
        BASE64.encode(der.as_bytes())
    }

    pub fn public_key(&self) -> V1PublicKey {
        V1PublicKey(*self.0.verifying_key())
    }

    /// Base64 of the DER signature of `signed_string`. RFC 6979 makes it deterministic, and its
    /// s is always the low one of the two that verify (`n - s` verifies as well): the only form
    /// [`V1PublicKey::verify_strict`] accepts, and one every verifier takes.
    pub fn sign(&self, signed_string: &str) -> String {
        let signature: Signature = self.0.sign(signed_string.as_bytes());
        let signature = signature.normalize_s().unwrap_or(signature);
        BASE64.encode(signature.to_der().as_bytes())
    }
}

/// Never prints the key: it must not reach a log.
impl fmt::Debug for V1PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "V1PrivateKey(public: {})",
            self.public_key().to_base64_spki()
        )
    }
}

impl V1PublicKey {
    pub fn from_base64_spki(text: &str) -> Result<Self, KeyError> {
        let der = BASE64
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64)?;
        VerifyingKey::from_public_key_der(&der)
            .map(Self)
            .map_err(|_| KeyError::NotSpki)
    }

    pub fn to_base64_spki(&self) -> String {
        let der = self
            .0
            .to_public_key_der()
            .expect("a valid P-256 key always encodes");
        BASE64.encode(der.as_bytes())
    }

    /// Whether `signature_base64` is a signature of `signed_string` by this key's private half,
    /// in any of the forms that verify: the gateway's (Java's `SHA256withECDSA`) s is high or
    /// low, at random.
    pub fn verify(
        &self,
        signed_string: &str,
        signature_base64: &str,
    ) -> Result<(), SignatureError> {
        let signature = Self::decode(signature_base64.trim())?;
        self.check(signed_string, &signature)
    }

    /// As [`verify`](Self::verify), but of the one form [`V1PrivateKey::sign`] makes: base64 of
    /// the DER exactly (no space around it) and the low s. ECDSA's (r, s) and (r, n - s) both
    /// verify, so a signature that must be the only one of its message (a receipt's) refuses the
    /// high s, which anyone could make of a genuine signature.
    pub fn verify_strict(
        &self,
        signed_string: &str,
        signature_base64: &str,
    ) -> Result<(), SignatureError> {
        let signature = Self::decode(signature_base64.trim())?;
        if BASE64.encode(signature.to_der().as_bytes()) != signature_base64 {
            return Err(SignatureError::NotCanonical);
        }
        if signature.normalize_s().is_some() {
            return Err(SignatureError::HighS);
        }
        self.check(signed_string, &signature)
    }

    fn decode(signature_base64: &str) -> Result<Signature, SignatureError> {
        let der = BASE64
            .decode(signature_base64)
            .map_err(|_| SignatureError::NotBase64)?;
        Signature::from_der(&der).map_err(|_| SignatureError::NotDer)
    }

    fn check(&self, signed_string: &str, signature: &Signature) -> Result<(), SignatureError> {
        self.0
            .verify(signed_string.as_bytes(), signature)
            .map_err(|_| SignatureError::Mismatch)
    }
}

impl fmt::Debug for V1PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V1PublicKey({})", self.to_base64_spki())
    }
}

/// The shared secret of V2 signatures.
#[derive(Clone)]
pub struct V2SecretKey(Vec<u8>);

impl V2SecretKey {
    pub fn new(secret: &str) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    fn mac(&self, signed_string: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(signed_string.as_bytes());
        mac
    }

    /// Lowercase hex of HMAC-SHA256(secret, signed string).
    pub fn sign(&self, signed_string: &str) -> String {
        crate::hex::encode(&self.mac(signed_string).finalize().into_bytes())
    }

    /// Compares in constant time, so the signature cannot be guessed byte by byte.
    pub fn verify(&self, signed_string: &str, signature_hex: &str) -> Result<(), SignatureError> {
        let bytes = decode_lowercase_hex(signature_hex).ok_or(SignatureError::NotHex)?;
        self.mac(signed_string)
            .verify_slice(&bytes)
            .map_err(|_| SignatureError::Mismatch)
    }
}

impl fmt::Debug for V2SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("V2SecretKey(redacted)")
    }
}

fn decode_lowercase_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    crate::hex::decode(text)
}

/// Whether `given` equals `expected`, compared in constant time (as HMACs of both), so a secret
/// such as an admin token cannot be guessed byte by byte from response times.
pub fn secrets_equal(expected: &str, given: &str) -> bool {
    let mac = |text: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secrets-equal")
            .expect("HMAC takes keys of any length");
        mac.update(text.as_bytes());
        mac
    };
    mac(given)
        .verify_slice(&mac(expected).finalize().into_bytes())
        .is_ok()
}

/// What a request's signature covers.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// A POST's JSON body.
    Body(&'a str),
    /// A GET's query string, without `?`.
    Query(&'a str),
}

/// Why a request was not verified. Each says what the sender has to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {HEADER_SIGNATURE_V1} (or {HEADER_SIGNATURE_V2})")]
    MissingSignature,
    #[error("missing header {HEADER_REQUEST_TIME}")]
    MissingTime,
    #[error("{HEADER_REQUEST_TIME} must be Unix time in milliseconds")]
    MalformedTime,
    #[error("{HEADER_RECV_WINDOW} must be milliseconds")]
    MalformedWindow,
    #[error(transparent)]
    Stale(#[from] FreshnessError),
    /// The body or query cannot be put in the signed string: the request itself is malformed.
    #[error(transparent)]
    Malformed(#[from] SignedStringError),
    #[error("this receiver has no {0} key; sign with the other scheme")]
    NoKeyFor(&'static str),
    #[error("{error}")]
    Signature {
        error: SignatureError,
        /// What the receiver verified, for the sender to compare with its own.
        signed_string: String,
    },
}

/// Checks the signature of a request or a webhook: the gateway checks the merchant's calls with
/// it, and the merchant checks the gateway's webhooks, so both sides agree on every rule.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    v1: Option<V1PublicKey>,
    v2: Option<V2SecretKey>,
    /// The widest freshness window this receiver grants, whatever a request declares; `None`:
    /// BlockATM's rule for its own API, the request's `BlockATM-Rec_Window` up to 60,000 ms.
    max_window_ms: Option<u64>,
}

impl Verifier {
    /// Accepts V1 signatures made with the private half of `v1`, V2 ones made with `v2`.
    pub fn new(v1: Option<V1PublicKey>, v2: Option<V2SecretKey>) -> Self {
        Self {
            v1,
            v2,
            max_window_ms: None,
        }
    }

    /// Grants no request more than `max_ms` of age, whatever window it declares.
    /// `BlockATM-Rec_Window` is a header the signature does not cover: anyone replaying a signed
    /// request can write any window in it, so a receiver that keeps its own window (the
    /// merchant's, for webhooks) takes the narrower of the two. Without a declared window,
    /// BlockATM's default (30,000 ms) or `max_ms`, whichever is narrower.
    pub fn with_max_window_ms(self, max_ms: u64) -> Self {
        Self {
            max_window_ms: Some(max_ms),
            ..self
        }
    }

    /// Verifies a request whose headers `header` looks up by name: the signature is present, the
    /// request time is fresh (within `BlockATM-Rec_Window` if it declares one, and never wider
    /// than [`Verifier::with_max_window_ms`]), and the signature matches the signed string of
    /// `signed` at that time.
    pub fn verify_request<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        signed: Signed<'_>,
        now_ms: u64,
    ) -> Result<(), VerifyError> {
        let (v1, v2) = (header(HEADER_SIGNATURE_V1), header(HEADER_SIGNATURE_V2));
        if v1.is_none() && v2.is_none() {
            return Err(VerifyError::MissingSignature);
        }
        let time: u64 = header(HEADER_REQUEST_TIME)
            .ok_or(VerifyError::MissingTime)?
            .trim()
            .parse()
            .map_err(|_| VerifyError::MalformedTime)?;
        let declared: Option<u64> = header(HEADER_RECV_WINDOW)
            .map(|w| w.trim().parse().map_err(|_| VerifyError::MalformedWindow))
            .transpose()?;
        let window = match self.max_window_ms {
            None => declared,
            Some(max) => Some(declared.unwrap_or(DEFAULT_RECV_WINDOW_MS).min(max)),
        };
        check_freshness(time, now_ms, window)?;
        let string = match signed {
            Signed::Body(body) => signed_string::for_json_body(body, time),
            Signed::Query(query) => signed_string::for_query(query, time),
        }?;
        let verified = match (v1, v2) {
            (Some(signature), _) => self
                .v1
                .as_ref()
                .ok_or(VerifyError::NoKeyFor("V1"))?
                .verify(&string, signature),
            (None, Some(signature)) => self
                .v2
                .as_ref()
                .ok_or(VerifyError::NoKeyFor("V2"))?
                .verify(&string, signature),
            (None, None) => unreachable!("refused above"),
        };
        verified.map_err(|error| VerifyError::Signature {
            error,
            signed_string: string,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed_string;

    #[test]
    fn v2_matches_the_documented_vector() {
        let key = V2SecretKey::new("sk_ci_QOoPSlHDSsgXYeNyTP2i0ug1HKLRjHw9Ug7mCc1Q0").unwrap();
        let message = "apiKey=pk_payment_my3T68cbuIXf1x3QOEbWtFEfcJPxeBr8wTewDVM&custNo=C86002201&orderNo=C202503225";
        let expected = "5b2419abcb925389c3f6cb42f35eed85ec36b95578a9d25ee500f9fafdeb08dc";
        assert_eq!(key.sign(message), expected);
        assert_eq!(key.verify(message, expected), Ok(()));
        assert_eq!(
            key.verify(&message.replace("C86002201", "C86002202"), expected),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            key.verify(message, &expected.to_uppercase()),
            Err(SignatureError::NotHex)
        );
        assert_eq!(
            key.verify(message, &expected[..62]),
            Err(SignatureError::NotHex)
        );
        assert_eq!(V2SecretKey::new("").err(), Some(KeyError::EmptySecret));
    }

    fn signed(body: &str, time: u64) -> String {
        signed_string::for_json_body(body, time).unwrap()
    }

    #[test]
    fn v1_signs_and_verifies_through_base64_keys() {
        let private = V1PrivateKey::generate();
        // Keys travel as base64 DER: go through that form as a merchant's configuration does.
        let private = V1PrivateKey::from_base64_pkcs8(&private.to_base64_pkcs8()).unwrap();
        let public = V1PublicKey::from_base64_spki(&private.public_key().to_base64_spki()).unwrap();
        let body = r#"{"orderNo":"O-1","amount":"13.41","chainId":1,"symbol":"USDT"}"#;
        let signature = private.sign(&signed(body, 1_700_000_000_000));
        assert_eq!(
            public.verify(&signed(body, 1_700_000_000_000), &signature),
            Ok(())
        );
    }

    #[test]
    fn v1_verification_fails_for_any_change() {
        let private = V1PrivateKey::generate();
        let public = private.public_key();
        let body = r#"{"orderNo":"O-1","amount":"13.41"}"#;
        let signature = private.sign(&signed(body, 1_000));
        let mismatch = Err(SignatureError::Mismatch);
        assert_eq!(
            public.verify(
                &signed(r#"{"orderNo":"O-1","amount":"13.42"}"#, 1_000),
                &signature
            ),
            mismatch
        );
        assert_eq!(public.verify(&signed(body, 1_001), &signature), mismatch);
        let stranger = V1PrivateKey::generate().public_key();
        assert_eq!(stranger.verify(&signed(body, 1_000), &signature), mismatch);
        let truncated = BASE64.encode(&BASE64.decode(&signature).unwrap()[..40]);
        assert_eq!(
            public.verify(&signed(body, 1_000), &truncated),
            Err(SignatureError::NotDer)
        );
        assert_eq!(
            public.verify(&signed(body, 1_000), "not base64!"),
            Err(SignatureError::NotBase64)
        );
        assert_eq!(
            public.verify(&signed(body, 1_000), ""),
            Err(SignatureError::NotDer)
        );
    }

    /// The gateway signs with Java's `SHA256withECDSA`, whose s is high half the time: its
    /// webhooks verify either way. Only `verify_strict` (receipts) takes the low s alone, and
    /// what this crate signs is always in that form.
    #[test]
    fn v1_signs_the_low_s_and_only_strict_verification_refuses_the_high() {
        let private = V1PrivateKey::generate();
        let public = private.public_key();
        for n in 0..16 {
            let message = format!("amount={n}&time=1");
            let signature = private.sign(&message);
            let low = Signature::from_der(&BASE64.decode(&signature).unwrap()).unwrap();
            assert!(low.normalize_s().is_none(), "{signature}");
            let high = Signature::from_scalars(low.r(), -*low.s()).unwrap();
            let high = BASE64.encode(high.to_der().as_bytes());
            assert_eq!(public.verify(&message, &signature), Ok(()));
            assert_eq!(public.verify(&message, &high), Ok(()));
            assert_eq!(public.verify_strict(&message, &signature), Ok(()));
            assert_eq!(
                public.verify_strict(&message, &high),
                Err(SignatureError::HighS)
            );
            assert_eq!(
                public.verify_strict(&format!("{message}0"), &signature),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                public.verify_strict(&message, &format!("{signature} ")),
                Err(SignatureError::NotCanonical)
            );
        }
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert_eq!(
            V1PrivateKey::from_base64_pkcs8("%%%").err(),
            Some(KeyError::NotBase64)
        );
        assert_eq!(
            V1PrivateKey::from_base64_pkcs8(&BASE64.encode(b"hello")).err(),
            Some(KeyError::NotPkcs8)
        );
        let public = V1PrivateKey::generate().public_key().to_base64_spki();
        assert_eq!(
            V1PrivateKey::from_base64_pkcs8(&public).err(),
            Some(KeyError::NotPkcs8),
            "a public key is not a private key"
        );
        assert_eq!(
            V1PublicKey::from_base64_spki(&BASE64.encode(b"hello")).err(),
            Some(KeyError::NotSpki)
        );
    }

    #[test]
    fn interoperates_with_keys_and_signatures_made_by_openssl() {
        // Made by `openssl ecparam -name prime256v1 -genkey`, `openssl pkcs8 -topk8 -outform DER`,
        // `openssl ec -pubout -outform DER` and `openssl dgst -sha256 -sign`: the same DER forms
        // Java's KeyPairGenerator("EC") and SHA256withECDSA produce, as in the gateway's demo.
        let private = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9mrrjasg7oWYLKo6bWIBZk9AH8gtCrsaKBeZCWtP/EehRANCAAQufiSi21LDW+MFvgyVCDtKSe93F3dwvNcHP7O0ozbn9UBJQVZnzTYBxa5YotKzQt9ScP9yYaSnV8nWnCVk1+vb";
        let public = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELn4kottSw1vjBb4MlQg7Sknvdxd3cLzXBz+ztKM25/VASUFWZ802AcWuWKLSs0LfUnD/cmGkp1fJ1pwlZNfr2w==";
        let openssl_signature = "MEUCIC3gD7VY3XAZwQUTPrxrwQz4XsqjjcKvKOtsY+HvZ9poAiEA0MBo0hAeqaLNlHb763aX8Oi+dlVNb8Hlfhw9rDtRGXg=";
        let message = "amount=13.41&chainId=5&custNo=C1&symbol=USDT&time=1696947336603";
        let private = V1PrivateKey::from_base64_pkcs8(private).unwrap();
        assert_eq!(private.public_key().to_base64_spki(), public);
        let public = V1PublicKey::from_base64_spki(public).unwrap();
        assert_eq!(public.verify(message, openssl_signature), Ok(()));
        assert_eq!(public.verify(message, &private.sign(message)), Ok(()));
        assert_eq!(
            public.verify(&message.replace("13.41", "13.40"), openssl_signature),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let private = V1PrivateKey::generate();
        let secret = private.to_base64_pkcs8();
        assert!(!format!("{private:?}").contains(&secret[40..]));
        let v2 = V2SecretKey::new("sk_live_abc").unwrap();
        assert!(!format!("{v2:?}").contains("sk_live_abc"));
    }

    /// BlockATM's own V1 webhook example (readme.io "Signature" page, docs/blockatm-api.md F1):
    /// its body, request time and signature, checked with the public key of BlockATM's Java
    /// signing demo. Numbers (`status`, `type`) and strings are signed alike.
    #[test]
    fn verifies_blockatms_documented_webhook_example() {
        use crate::gateway::examples::*;
        let body = V1_SIGNED_CALLBACK;
        let public = V1PublicKey::from_base64_spki(V1_DEMO_PUBLIC_KEY).unwrap();
        let signature = V1_SIGNED_CALLBACK_SIGNATURE;
        let time = V1_SIGNED_CALLBACK_TIME;
        assert_eq!(
            signed(body, time),
            "amount=13.410037&chainId=5&custNo=OrderNO_123456&fee=2&network=TRON&platOrderNo=8210000374&status=1&symbol=USDT&txId=1t&type=1&time=1696947336603"
        );
        let verifier = Verifier::new(Some(public), None);
        let pairs = [
            (HEADER_REQUEST_TIME, time.to_string()),
            (HEADER_SIGNATURE_V1, signature.to_owned()),
        ];
        assert_eq!(
            verifier.verify_request(headers(&pairs), Signed::Body(body), time + 1_000),
            Ok(())
        );
        assert!(matches!(
            verifier.verify_request(
                headers(&pairs),
                Signed::Body(&body.replace("13.410037", "13.410038")),
                time + 1_000
            ),
            Err(VerifyError::Signature { .. })
        ));
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(secrets_equal("admin-token", "admin-token"));
        assert!(!secrets_equal("admin-token", "admin-tokeN"));
        assert!(!secrets_equal("admin-token", "admin-token "));
        assert!(!secrets_equal("admin-token", ""));
    }

    /// Headers as a request carries them.
    fn headers<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn a_verifier_accepts_either_scheme_it_holds_and_names_every_refusal() {
        let private = V1PrivateKey::generate();
        let secret = V2SecretKey::new("sk_test").unwrap();
        let verifier = Verifier::new(Some(private.public_key()), Some(secret.clone()));
        let body = r#"{"orderNo":"O-1","amount":"13.41"}"#;
        let now = 1_700_000_000_000u64;
        let time = now.to_string();
        let v1 = private.sign(&signed(body, now));
        let v2 = secret.sign(&signed(body, now));
        let check = |pairs: &[(&str, String)], payload: Signed| {
            verifier.verify_request(headers(pairs), payload, now)
        };
        let with = |name: &'static str, sig: &str| {
            vec![(HEADER_REQUEST_TIME, time.clone()), (name, sig.to_owned())]
        };
        assert_eq!(
            check(&with(HEADER_SIGNATURE_V1, &v1), Signed::Body(body)),
            Ok(())
        );
        assert_eq!(
            check(&with(HEADER_SIGNATURE_V2, &v2), Signed::Body(body)),
            Ok(())
        );

        assert_eq!(
            check(&[(HEADER_REQUEST_TIME, time.clone())], Signed::Body(body)),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(
            check(&[(HEADER_SIGNATURE_V1, v1.clone())], Signed::Body(body)),
            Err(VerifyError::MissingTime)
        );
        let mut malformed = with(HEADER_SIGNATURE_V1, &v1);
        malformed[0].1 = "yesterday".into();
        assert_eq!(
            check(&malformed, Signed::Body(body)),
            Err(VerifyError::MalformedTime)
        );
        let mut wide = with(HEADER_SIGNATURE_V1, &v1);
        wide.push((HEADER_RECV_WINDOW, "600000".into()));
        assert_eq!(
            check(&wide, Signed::Body(body)),
            Err(VerifyError::Stale(FreshnessError::WindowTooLarge(600_000)))
        );
        wide[2].1 = "soon".into();
        assert_eq!(
            check(&wide, Signed::Body(body)),
            Err(VerifyError::MalformedWindow)
        );
        let stale = verifier.verify_request(
            headers(&with(HEADER_SIGNATURE_V1, &v1)),
            Signed::Body(body),
            now + 60_000,
        );
        assert!(matches!(
            stale,
            Err(VerifyError::Stale(FreshnessError::Stale { .. }))
        ));
        assert!(matches!(
            check(&with(HEADER_SIGNATURE_V1, &v1), Signed::Body("[1]")),
            Err(VerifyError::Malformed(_))
        ));
        let tampered = check(
            &with(HEADER_SIGNATURE_V1, &v1),
            Signed::Body(r#"{"orderNo":"O-1","amount":"13.42"}"#),
        );
        assert_eq!(
            tampered,
            Err(VerifyError::Signature {
                error: SignatureError::Mismatch,
                signed_string: "amount=13.42&orderNo=O-1&time=1700000000000".into(),
            })
        );

        let v1_only = Verifier::new(Some(private.public_key()), None);
        assert_eq!(
            v1_only.verify_request(
                headers(&with(HEADER_SIGNATURE_V2, &v2)),
                Signed::Body(body),
                now
            ),
            Err(VerifyError::NoKeyFor("V2"))
        );
    }

    /// The attack on the running checkout server: `BlockATM-Rec_Window: 60000` (unsigned) made a
    /// 45-second-old webhook fresh. A receiver with its own window grants no more; BlockATM's
    /// rule (the sandbox's: the declared window, up to 60,000 ms) stays the default.
    #[test]
    fn a_receivers_own_window_caps_what_a_request_declares() {
        let private = V1PrivateKey::generate();
        let body = r#"{"orderNo":"O-1","amount":"13.41"}"#;
        let now = 1_700_000_000_000u64;
        let gateway = Verifier::new(Some(private.public_key()), None);
        let merchant = gateway.clone().with_max_window_ms(30_000);
        let aged = |verifier: &Verifier, age: u64, window: Option<&str>| {
            let time = now - age;
            let mut pairs = vec![
                (HEADER_REQUEST_TIME, time.to_string()),
                (HEADER_SIGNATURE_V1, private.sign(&signed(body, time))),
            ];
            if let Some(window) = window {
                pairs.push((HEADER_RECV_WINDOW, window.to_owned()));
            }
            verifier.verify_request(headers(&pairs), Signed::Body(body), now)
        };
        let stale = |age, window| Err(VerifyError::Stale(FreshnessError::Stale { age, window }));

        assert_eq!(
            aged(&gateway, 45_000, Some("60000")),
            Ok(()),
            "BlockATM's rule"
        );
        assert_eq!(
            aged(&merchant, 45_000, Some("60000")),
            stale(45_000, 30_000)
        );
        assert_eq!(
            aged(&merchant, 45_000, Some("600000")),
            stale(45_000, 30_000)
        );
        assert_eq!(
            aged(&gateway, 0, Some("600000")),
            Err(VerifyError::Stale(FreshnessError::WindowTooLarge(600_000)))
        );
        assert_eq!(
            aged(&merchant, 45_000, Some(&u64::MAX.to_string())),
            stale(45_000, 30_000)
        );
        assert_eq!(aged(&merchant, 29_000, Some("60000")), Ok(()));
        assert_eq!(aged(&merchant, 29_000, None), Ok(()));
        assert_eq!(aged(&merchant, 31_000, None), stale(31_000, 30_000));
        assert_eq!(
            aged(&merchant, 10_000, Some("5000")),
            stale(10_000, 5_000),
            "a sender may narrow the window"
        );
        let strict = gateway.with_max_window_ms(20_000);
        assert_eq!(aged(&strict, 25_000, None), stale(25_000, 20_000));
        assert_eq!(aged(&strict, 19_000, None), Ok(()));
    }

    /// The attack on the running servers: a webhook (or a sandbox call) nested 2,000 deep, with
    /// any signature at all, is refused as malformed before any key is used.
    #[test]
    fn a_body_nested_too_deep_is_malformed_whatever_its_signature() {
        let private = V1PrivateKey::generate();
        let verifier = Verifier::new(Some(private.public_key()), None);
        let body = format!(
            "{{\"a\":{}1{}}}",
            "[{\"a\":".repeat(1_000),
            "}]".repeat(1_000)
        );
        let signature = private.sign("time=5");
        let refused = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let pairs = [
                    (HEADER_REQUEST_TIME, "5".to_owned()),
                    (HEADER_SIGNATURE_V1, signature),
                ];
                verifier.verify_request(headers(&pairs), Signed::Body(&body), 5)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            refused,
            Err(VerifyError::Malformed(SignedStringError::TooDeep))
        );
    }

    #[test]
    fn a_query_is_verified_over_its_pairs() {
        let secret = V2SecretKey::new("sk_test").unwrap();
        let verifier = Verifier::new(None, Some(secret.clone()));
        let query = "orderNo=A,B&pageSize=100";
        let signature = secret.sign(&signed_string::for_query(query, 5_000).unwrap());
        let pairs = [
            (HEADER_REQUEST_TIME, "5000".to_owned()),
            (HEADER_SIGNATURE_V2, signature),
        ];
        assert_eq!(
            verifier.verify_request(headers(&pairs), Signed::Query(query), 5_000),
            Ok(())
        );
        assert!(matches!(
            verifier.verify_request(headers(&pairs), Signed::Query("orderNo=A"), 5_000),
            Err(VerifyError::Signature { .. })
        ));
    }
}
