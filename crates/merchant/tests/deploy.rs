//! What deploy/ ships, with the real binary: the systemd unit passes `systemd-analyze verify`
//! (where systemd is installed), its system call filter allows every call the server makes
//! (traced with strace while it serves), the sample configuration starts with its secrets from the
//! environment and logs JSON, the image's health check passes against a running server and
//! fails once it stopped, and `check-config` says what `serve` says of a configuration that
//! would not start. No OCI builder can run here (no engine, and no registry of base images is
//! reached), so the image's runtime steps are run as this test: its configuration, its entry
//! point and its health check.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use usdt_checkout_protocol::signature::V1PrivateKey;

const BIN: &str = env!("CARGO_BIN_EXE_checkout-server");

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("checkout-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The secrets secrets.env.example lists, filled in (the private key as a file, as the unit's
/// credentials give it), and the database in `dir`.
fn environment(dir: &Path) -> Vec<(&'static str, String)> {
    let merchant = V1PrivateKey::generate().to_base64_pkcs8();
    let key_file = dir.join("gateway-private-key");
    std::fs::write(&key_file, format!("{merchant}\n")).unwrap();
    vec![
        ("CHECKOUT_GATEWAY_API_KEY", "pk_live_API_KEY_VALUE".into()),
        (
            "CHECKOUT_GATEWAY_PRIVATE_KEY_FILE",
            key_file.display().to_string(),
        ),
        (
            "CHECKOUT_WEBHOOK_PUBLIC_KEY",
            V1PrivateKey::generate().public_key().to_base64_spki(),
        ),
        (
            "CHECKOUT_FULFILLMENT_SECRET",
            "FULFILLMENT_SECRET_VALUE_123".into(),
        ),
        ("CHECKOUT_ADMIN_TOKEN", "ADMIN_TOKEN_VALUE_123456".into()),
        (
            "CHECKOUT_DATABASE",
            dir.join("checkout.sqlite").display().to_string(),
        ),
        // Nothing is asked of a gateway here; were it, it would be of this machine.
        ("CHECKOUT_GATEWAY_URL", "http://127.0.0.1:1".into()),
    ]
}

/// The secrets' values in `env`, those given as files read (the webhook key is the gateway's
/// public one, shown to be compared).
fn secrets(env: &[(&str, String)]) -> Vec<String> {
    env.iter()
        .filter_map(|(name, value)| {
            if name.ends_with("_FILE") {
                Some(std::fs::read_to_string(value).unwrap().trim().to_owned())
            } else if name.contains("SECRET") || name.contains("TOKEN") || name.ends_with("API_KEY")
            {
                Some(value.clone())
            } else {
                None
            }
        })
        .collect()
}

fn checkout_server(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env_clear().env("PATH", "/usr/bin:/bin");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: the unit is not verified here");
        return;
    }
    let dir = scratch("unit");
    let verify = |unit: &str| -> Output {
        // Its binary where this build put it: verify checks that ExecStart's exists.
        let unit = unit.replace("/usr/local/bin/checkout-server", BIN);
        let path = dir.join("checkout-server.service");
        std::fs::write(&path, unit).unwrap();
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap()
    };
    let unit = std::fs::read_to_string(deploy("checkout-server.service")).unwrap();
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "StateDirectory=checkout-server",
        "User=checkout",
        "LoadCredential=gateway-private-key:",
        "CHECKOUT_GATEWAY_PRIVATE_KEY_FILE=%d/gateway-private-key",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let verified = verify(&unit);
    // systemd-analyze exits 0 on a misspelt setting it ignores, saying so on stderr: anything
    // it says is a failure.
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "{}",
        text(&verified.stderr)
    );
    // And it says it: a misspelt hardening setting would silently harden nothing.
    let misspelt = verify(&unit.replace("NoNewPrivileges=", "NoNewPrivilege="));
    assert!(
        text(&misspelt.stderr).contains("NoNewPrivilege"),
        "{misspelt:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn the_sample_configuration_starts_from_the_environment_and_the_health_check_follows_it() {
    let dir = scratch("sample");
    let config = deploy("checkout.toml");
    let config = config.to_str().unwrap();
    let mut env = environment(&dir);

    let checked = checkout_server(&["check-config", "--config", config], &env)
        .output()
        .unwrap();
    let printed = text(&checked.stdout);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(
        printed.contains("gateway.api_key = set (redacted)"),
        "{printed}"
    );
    assert!(printed.contains("log_format = json"), "{printed}");
    let secrets = secrets(&env);
    assert_eq!(secrets.len(), 4);
    for secret in &secrets {
        assert!(!printed.contains(secret.as_str()), "shown: {printed}");
    }
    // Without its environment, it would not start: nothing secret is in the file.
    let bare = checkout_server(&["check-config", "--config", config], &[])
        .output()
        .unwrap();
    assert_eq!(bare.status.code(), Some(2));
    assert!(
        text(&bare.stderr).contains("CHECKOUT_GATEWAY_API_KEY"),
        "{}",
        text(&bare.stderr)
    );

    // As the image runs it: its entry point with the sample configuration.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.push(("CHECKOUT_LISTEN", format!("127.0.0.1:{port}")));
    env.push(("CHECKOUT_CONFIG", config.to_owned()));
    let mut server = checkout_server(&["serve"], &env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut listening = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut listening)
        .unwrap();
    assert!(listening.contains(&port.to_string()), "{listening}");

    let health = || {
        Command::new(deploy("healthcheck.sh"))
            .env_clear()
            .env("CHECKOUT_LISTEN", format!("0.0.0.0:{port}"))
            .output()
            .unwrap()
    };
    let healthy = health();
    assert!(healthy.status.success(), "{}", text(&healthy.stderr));

    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    server.wait().unwrap();
    assert!(!health().status.success(), "healthy with no server");

    // Its log, as `log_format = "json"` asks: a JSON object a line, no secret in any.
    let mut log = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut log).unwrap();
    assert!(!log.trim().is_empty());
    for line in log.lines() {
        let line: serde_json::Value = serde_json::from_str(line).expect(line);
        assert!(line["timestamp"].is_string() && line["level"].is_string());
    }
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret logged: {log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn check_config_says_what_startup_says_of_a_configuration_that_would_not_start() {
    let dir = scratch("refused");
    let env = environment(&dir);
    let config = dir.join("checkout.toml");
    for (text_of_file, says) in [
        ("listen = \"0.0.0.0:4020\"\nlisen = 1\n", "unknown field"),
        ("order_lifetime_seconds = 5\n", "order_lifetime_seconds"),
        ("header_timeout_seconds = 0\n", "header_timeout_seconds"),
    ] {
        std::fs::write(&config, text_of_file).unwrap();
        let config = config.to_str().unwrap();
        let checked = checkout_server(&["check-config", "--config", config], &env)
            .output()
            .unwrap();
        let served = checkout_server(&["serve", "--config", config], &env)
            .output()
            .unwrap();
        assert_eq!(checked.status.code(), Some(2), "{says}");
        assert_eq!(served.status.code(), Some(2), "{says}");
        assert!(text(&checked.stderr).contains(says), "{says}");
        assert_eq!(text(&checked.stderr), text(&served.stderr));
        assert!(checked.stdout.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn backup_on_the_command_line_copies_once_and_never_over_a_file() {
    let dir = scratch("backup-cli");
    let env = environment(&dir);
    let database = dir.join("checkout.sqlite");
    // A database as `serve` leaves it: made by `staff add`, which opens and migrates it.
    let mut add = checkout_server(&["staff", "add", "ops", "--role", "owner"], &env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(add.stdin.as_mut().unwrap(), b"a long enough password 1\n").unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(added.status.success(), "{}", text(&added.stderr));
    let copy = dir.join("copy.sqlite");
    let args = ["backup", "--to", copy.to_str().unwrap()];
    let backed = checkout_server(&args, &env).output().unwrap();
    assert!(backed.status.success(), "{}", text(&backed.stderr));
    assert!(
        text(&backed.stdout).contains("0 checkouts"),
        "{}",
        text(&backed.stdout)
    );
    let again = checkout_server(&args, &env).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("exists"),
        "{}",
        text(&again.stderr)
    );
    assert!(database.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The system calls `group` allows, its subgroups expanded, as systemd-analyze lists them.
fn syscalls(group: &str) -> std::collections::BTreeSet<String> {
    let listed = Command::new("systemd-analyze")
        .args(["syscall-filter", group])
        .output()
        .unwrap();
    let mut calls = std::collections::BTreeSet::new();
    for line in text(&listed.stdout).lines().skip(1) {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if name.starts_with('@') {
            calls.extend(syscalls(name));
        } else {
            calls.insert(name.to_owned());
        }
    }
    calls
}

/// `GET` or `POST` on the server at `port`, over a fresh connection: the status line.
fn http(port: u16, request: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
#[ignore = "starts processes: cargo xtask test runs it"]
fn every_system_call_the_server_makes_is_one_the_units_filter_allows() {
    let present = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !present("strace") || !present("systemd-analyze") {
        eprintln!("strace or systemd-analyze is not installed: the filter is not checked here");
        return;
    }
    // A container may forbid ptrace (seccomp, or no CAP_SYS_PTRACE): then nothing can be traced.
    let traces = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|status| status.success());
    if !traces {
        eprintln!("strace cannot trace in this environment: the filter is not checked here");
        return;
    }
    // The filter as the unit writes it: the groups allowed, less those after a `~`.
    let unit = std::fs::read_to_string(deploy("checkout-server.service")).unwrap();
    let (mut allowed, mut denied) = (std::collections::BTreeSet::new(), Vec::new());
    for groups in unit
        .lines()
        .filter_map(|line| line.strip_prefix("SystemCallFilter="))
    {
        match groups.strip_prefix('~') {
            Some(groups) => denied.extend(groups.split_whitespace().flat_map(syscalls)),
            None => allowed.extend(groups.split_whitespace().flat_map(syscalls)),
        }
    }
    for call in &denied {
        allowed.remove(call);
    }
    assert!(allowed.contains("read") && !allowed.contains("mount"));

    let dir = scratch("syscalls");
    let trace = dir.join("trace");
    let mut env = environment(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.push(("CHECKOUT_LISTEN", format!("127.0.0.1:{port}")));
    env.push((
        "CHECKOUT_CONFIG",
        deploy("checkout.toml").display().to_string(),
    ));
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in &env {
        strace.env(name, value);
    }
    let mut traced = strace.spawn().unwrap();
    let mut listening = String::new();
    BufReader::new(traced.stdout.take().unwrap())
        .read_line(&mut listening)
        .unwrap();
    assert!(listening.contains(&port.to_string()), "{listening}");

    // What a server does: answers probes, makes an order (its database written), lists orders.
    assert!(http(port, "GET /livez HTTP/1.0\r\n\r\n").contains(" 200"));
    assert!(http(port, "GET /readyz HTTP/1.0\r\n\r\n").contains(" 200"));
    let admin = &env
        .iter()
        .find(|(name, _)| *name == "CHECKOUT_ADMIN_TOKEN")
        .unwrap()
        .1;
    let body = r#"{"amount": "40.00", "currency": "USD", "description": "Cart #1"}"#;
    let created = http(
        port,
        &format!(
            "POST /api/admin/checkouts HTTP/1.0\r\nAuthorization: Bearer {admin}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(created.contains(" 201"), "{created}");
    let listed = http(
        port,
        &format!("GET /api/admin/orders HTTP/1.0\r\nAuthorization: Bearer {admin}\r\n\r\n"),
    );
    assert!(listed.contains(" 200"), "{listed}");

    // Stopped as systemd stops it: SIGTERM to the server, strace's child.
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", traced.id())).unwrap();
    let server: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: a signal to the process this test started.
    unsafe { libc::kill(server, libc::SIGTERM) };
    traced.wait().unwrap();

    let made: std::collections::BTreeSet<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let call = line.split_once(' ')?.1.trim_start();
            let name: String = call
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            call[name.len()..].starts_with('(').then_some(name)
        })
        .collect();
    assert!(
        made.contains("write") && made.contains("accept4"),
        "{made:?}"
    );
    // SQLite gives its -wal and -shm files the database's owner when run as root, as this test
    // is; the unit's user is not, and were it called, the unit's SystemCallErrorNumber makes it
    // an EPERM, which SQLite ignores.
    let refused: Vec<&String> = made
        .iter()
        .filter(|call| !allowed.contains(*call) && *call != "fchown")
        .collect();
    assert!(refused.is_empty(), "the unit's filter refuses {refused:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
