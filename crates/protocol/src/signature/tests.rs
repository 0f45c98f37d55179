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
