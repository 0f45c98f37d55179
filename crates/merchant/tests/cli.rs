//! `checkout-server keygen` and `signature sign|verify`: what a merchant uses when the gateway
//! answers 401.

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
