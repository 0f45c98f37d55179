//! `checkout-server keygen`, `signature sign|verify` (what a merchant uses when the gateway
//! answers 401) and `receipt verify`.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_checkout-server"))
        .args(args)
        .output()
        .expect("checkout-server runs")
}

fn line_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .skip_while(|l| !l.starts_with(label))
        .nth(1)
        .unwrap_or_else(|| panic!("no {label} in {text}"))
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn verify_accepts_what_sign_made_and_rejects_a_changed_body() {
    let keygen = run(&["keygen"]);
    assert!(keygen.status.success());
    let keys = String::from_utf8(keygen.stdout).unwrap();
    let private = line_after(&keys, "private key");
    let public = line_after(&keys, "public key");

    let dir = std::env::temp_dir().join(format!("checkout-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = dir.join("body.json");
    std::fs::write(
        &body,
        r#"{"orderNo":"co_1","chainId":31337,"symbol":"USDT","amount":"12"}"#,
    )
    .unwrap();
    let body = body.to_str().unwrap();

    let signed = run(&[
        "signature",
        "sign",
        "--private-key",
        private,
        "--time",
        "1700000000000",
        "--body",
        body,
    ]);
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let signed = String::from_utf8(signed.stdout).unwrap();
    assert!(
        signed.contains(
            "signed string: amount=12&chainId=31337&orderNo=co_1&symbol=USDT&time=1700000000000"
        ),
        "{signed}"
    );
    let signature = signed
        .lines()
        .find_map(|l| l.strip_prefix("signature: "))
        .unwrap();

    let verify = |body: &str, time: &str| {
        run(&[
            "signature",
            "verify",
            "--public-key",
            public,
            "--signature",
            signature,
            "--time",
            time,
            "--body",
            body,
        ])
    };
    let valid = verify(body, "1700000000000");
    assert_eq!(
        valid.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&valid.stdout)
    );

    let changed = dir.join("changed.json");
    std::fs::write(
        &changed,
        r#"{"orderNo":"co_1","chainId":31337,"symbol":"USDT","amount":"1"}"#,
    )
    .unwrap();
    assert_eq!(
        verify(changed.to_str().unwrap(), "1700000000000")
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        verify(body, "1700000000001").status.code(),
        Some(1),
        "another time"
    );

    let garbage = run(&[
        "signature",
        "verify",
        "--public-key",
        "not-a-key",
        "--signature",
        signature,
        "--time",
        "1",
        "--query",
        "",
    ]);
    assert_eq!(
        garbage.status.code(),
        Some(2),
        "a malformed key is an error, not a verdict"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn a_price_its_token_cannot_carry_stops_the_server_naming_the_item() {
    use usdt_checkout_protocol::signature::V1PrivateKey;
    let dir = std::env::temp_dir().join(format!("checkout-cli-price-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = V1PrivateKey::generate();
    let config = dir.join("checkout.toml");
    std::fs::write(
        &config,
        format!(
            "database = \"{}\"\n[gateway]\napi_key = \"k\"\nprivate_key = \"{}\"\nwebhook_public_key = \"{}\"\n\
             [[items]]\nid = \"sticker\"\nname = \"Sticker\"\nprice = \"0.1234567\"\ncurrency = \"USDT\"\n",
            dir.join("checkout.sqlite").display(),
            key.to_base64_pkcs8(),
            key.public_key().to_base64_spki(),
        ),
    )
    .unwrap();
    let output = run(&["serve", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("items \"sticker\""), "{stderr}");
    assert!(stderr.contains("USDT has 6 decimals"), "{stderr}");
    assert!(
        !dir.join("checkout.sqlite").exists(),
        "nothing was started, not even the database"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// V2 without `gateway.cashier_id` started, and then every checkout failed (its order creation
/// names the cashier): now it does not start, and says what is missing.
#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn v2_without_a_cashier_id_stops_the_server_naming_the_setting() {
    let dir = std::env::temp_dir().join(format!("checkout-cli-cashier-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("checkout.toml");
    std::fs::write(
        &config,
        format!(
            "database = \"{}\"\n[gateway]\napi = \"blockatm-v2\"\napi_key = \"k\"\n\
             v2_secret = \"sck_QOoPSlHDSsgXYeNyTP2i0ug1HKLRjHw9Ug7mCc1Q0\"\n\
             webhook_secret = \"whsec_for_the_cli_test_only\"\n\
             receiving_addresses = {{ 31337 = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\" }}\n",
            dir.join("checkout.sqlite").display(),
        ),
    )
    .unwrap();
    let output = run(&["serve", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gateway.cashier_id is required with blockatm-v2"),
        "{stderr}"
    );
    assert!(
        !dir.join("checkout.sqlite").exists(),
        "nothing was started, not even the database"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `receipt verify` as the README says: 0 and what it says for a genuine receipt; 1 for one that
/// is not the key's (a byte of it changed, or another server's); 2 when there is nothing to
/// judge (a file that cannot be read or is no receipt, a malformed key).
#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn receipt_verify_exits_1_for_a_tampered_receipt_and_2_for_malformed_input() {
    use usdt_checkout_protocol::receipt::Receipt;
    use usdt_checkout_protocol::signature::V1PrivateKey;
    let dir = std::env::temp_dir().join(format!("checkout-cli-receipt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = V1PrivateKey::generate();
    let public = key.public_key().to_base64_spki();
    let receipt: Receipt = serde_json::from_str(
        r#"{"merchant":"Shop","checkoutId":"co_1","item":"tee","description":"T-shirt",
            "price":{"amount":"25.00","currency":"USD"},"paid":"24.995001","symbol":"USDT",
            "chainId":31337,"network":"Local chain",
            "tokenContract":"0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "toAddress":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
            "transactions":[{"hash":"0xabc","explorerUrl":null,"amount":"24.995001"}],
            "state":"paid","paidAt":1800000000000,"issuedAt":1800000001000}"#,
    )
    .unwrap();
    let genuine = serde_json::to_string_pretty(&receipt.sign(&key)).unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let verify = |path: &str, key: &str| {
        let output = run(&["receipt", "verify", path, "--public-key", key]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), said)
    };

    let (code, said) = verify(&file("genuine.json", &genuine), &public);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("valid: Shop paid 24.995001 USDT"), "{said}");

    let tampered = genuine.replace("24.995001", "24.995002");
    assert_ne!(tampered, genuine);
    let (code, said) = verify(&file("tampered.json", &tampered), &public);
    assert_eq!(code, Some(1), "a tampered receipt is invalid: {said}");
    let signature = receipt.sign(&key).signature;
    let flipped = signature.replacen(&signature[10..11], "A", 1);
    let flipped = if flipped == signature {
        signature.replacen(&signature[10..11], "B", 1)
    } else {
        flipped
    };
    let (code, said) = verify(
        &file("signature.json", &genuine.replace(&signature, &flipped)),
        &public,
    );
    assert_eq!(code, Some(1), "a changed signature: {said}");
    let stranger = V1PrivateKey::generate().public_key().to_base64_spki();
    let (code, said) = verify(&file("genuine.json", &genuine), &stranger);
    assert_eq!(code, Some(1), "another server's key: {said}");

    for (what, path, key) in [
        (
            "not JSON",
            file("not-json.json", "receipt?"),
            public.clone(),
        ),
        (
            "no receipt",
            file("other.json", r#"{"a":1}"#),
            public.clone(),
        ),
        (
            "no file",
            dir.join("missing.json").to_str().unwrap().to_owned(),
            public.clone(),
        ),
        (
            "a malformed key",
            file("genuine.json", &genuine),
            "not-a-key".to_owned(),
        ),
        (
            "a key file that is not there",
            file("genuine.json", &genuine),
            format!("@{}", dir.join("missing.pub").display()),
        ),
    ] {
        let (code, said) = verify(&path, &key);
        assert_eq!(code, Some(2), "{what}: {said}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
