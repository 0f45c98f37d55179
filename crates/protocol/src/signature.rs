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
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::Sha256;

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

    /// Base64 of the DER signature of `signed_string`. RFC 6979 makes it deterministic.
    pub fn sign(&self, signed_string: &str) -> String {
        let signature: Signature = self.0.sign(signed_string.as_bytes());
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

    pub fn verify(
        &self,
        signed_string: &str,
        signature_base64: &str,
    ) -> Result<(), SignatureError> {
        let der = BASE64
            .decode(signature_base64.trim())
            .map_err(|_| SignatureError::NotBase64)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::NotDer)?;
        self.0
            .verify(signed_string.as_bytes(), &signature)
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
        self.mac(signed_string)
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
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
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
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
}
