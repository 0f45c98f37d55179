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
mod tests;
