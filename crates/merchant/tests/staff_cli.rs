//! `checkout-server staff add|list|passwd|remove`: the console's accounts, managed from the
//! command line on the server's database, each change audited.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use usdt_checkout_server::store::{Database, Store};

/// `checkout-server staff ARGS --database DB`, `stdin` written to its standard input (not a
/// terminal, so the password is its first line).
fn staff(db: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkout-server"))
        .arg("staff")
        .args(args)
        .args(["--database", db])
        .env_remove("CHECKOUT_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("checkout-server runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn staff_are_added_listed_given_a_new_password_and_removed_each_audited() {
    let dir = std::env::temp_dir().join(format!("checkout-staff-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_path = dir.join("checkout.sqlite");
    let db = db_path.to_str().unwrap();

    let added = staff(
        db,
        &["add", "ana", "--role", "owner"],
        "correct horse battery\n",
    );
    assert!(added.status.success(), "{}", text(&added));
    assert!(
        text(&added).contains("added ana (owner)"),
        "{}",
        text(&added)
    );
    let viewer = staff(
        db,
        &["add", "bo", "--role", "viewer"],
        "bo's long passphrase\n",
    );
    assert!(viewer.status.success(), "{}", text(&viewer));

    let again = staff(
        db,
        &["add", "ana", "--role", "viewer"],
        "another long password\n",
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("already"), "{}", text(&again));
    let weak = staff(db, &["add", "cy", "--role", "viewer"], "short\n");
    assert!(!weak.status.success());
    assert!(text(&weak).contains("at least 12"), "{}", text(&weak));
    let role = staff(
        db,
        &["add", "cy", "--role", "admin"],
        "a long enough password\n",
    );
    assert!(!role.status.success(), "{}", text(&role));

    let listed = staff(db, &["list"], "");
    assert!(listed.status.success(), "{}", text(&listed));
    let lines: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("ana\towner\t"), "{lines:?}");
    assert!(lines[0].ends_with("\topen"), "{lines:?}");
    assert!(lines[1].starts_with("bo\tviewer\t"), "{lines:?}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(Store::open(&Database::Sqlite(db_path.clone())))
        .unwrap();
    let hash = |name: &str| {
        runtime
            .block_on(store.staff_member(name))
            .unwrap()
            .unwrap()
            .password_hash
    };
    let first = hash("ana");
    assert!(first.starts_with("$argon2id$"), "{first}");
    assert!(!first.contains("correct horse"), "{first}");

    let passwd = staff(db, &["passwd", "ana"], "a brand new passphrase\n");
    assert!(passwd.status.success(), "{}", text(&passwd));
    assert_ne!(hash("ana"), first);
    assert!(usdt_checkout_server::staff::verify_password(
        &hash("ana"),
        "a brand new passphrase"
    ));
    let nobody = staff(db, &["passwd", "nobody"], "a brand new passphrase\n");
    assert!(!nobody.status.success());
    assert!(
        text(&nobody).contains("no member of staff"),
        "{}",
        text(&nobody)
    );

    let removed = staff(db, &["remove", "bo"], "");
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(
        runtime
            .block_on(store.staff_member("bo"))
            .unwrap()
            .is_none()
    );

    let audit = runtime.block_on(store.audit_page(10, None)).unwrap();
    let actions: Vec<(&str, Option<&str>)> = audit
        .iter()
        .map(|r| (r.entry.action.as_str(), r.entry.subject.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("staff.remove", Some("bo")),
            ("staff.passwd", Some("ana")),
            ("staff.add", Some("bo")),
            ("staff.add", Some("ana")),
        ],
        "newest first, the refused ones not at all"
    );
    assert!(audit.iter().all(|r| r.entry.actor == "command line"));
    let _ = std::fs::remove_dir_all(&dir);
}
