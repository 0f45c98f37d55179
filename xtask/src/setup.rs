//! `cargo xtask setup`: installs the project's tools, each skipped when the right version is
//! already there. Versions are the ones known to build and run on these machines.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::{Result, cmd, root, run};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Must equal the `wasm-bindgen` pinned in Cargo.toml.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// 0.22 needs a newer rustc than the project's.
const TRUNK_VERSION: &str = "0.21.14";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Everything: the tests' tools and trunk, which serves the demo storefront.
pub fn all() -> Result {
    for_tests()?;
    cargo_tool("trunk", "trunk", TRUNK_VERSION, "--locked")?;
    println!("setup: all tools present");
    Ok(())
}

/// What `cargo xtask test` (and building the widget) needs; not trunk, whose build alone takes a
/// new machine a quarter of an hour.
pub fn for_tests() -> Result {
    wasm_target()?;
    // wasm-bindgen-cli's own lockfile pins a crate the registry lacks, so no --locked.
    cargo_tool("wasm-bindgen", "wasm-bindgen-cli", WASM_BINDGEN_VERSION, "")?;
    chromium()?;
    postgresql()?;
    node_packages()
}

/// PATH with the project's npm tools (wasm-opt, anvil, solc) and cargo's binaries first.
pub fn path() -> OsString {
    let mut dirs = vec![root().join("node_modules/.bin")];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries have no separator in them")
}

fn wasm_target() -> Result {
    let installed = output(cmd("rustup target list --installed"))?;
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    println!("setup: adding the {WASM_TARGET} target");
    run(cmd(&format!("rustup target add {WASM_TARGET}")))
}

pub fn cargo_tool(binary: &str, package: &str, version: &str, extra: &str) -> Result {
    let found = output(cmd(&format!("{binary} --version"))).unwrap_or_default();
    if found.split_whitespace().nth(1) == Some(version) {
        return Ok(());
    }
    println!("setup: installing {package} {version} (a few minutes, once)");
    run(cmd(&format!(
        "cargo install {package} --version {version} {extra}"
    )))
}

fn chromium() -> Result {
    if [CHROMIUM, CHROMEDRIVER]
        .iter()
        .all(|p| std::path::Path::new(p).exists())
    {
        return Ok(());
    }
    debian_packages(
        "Chromium and chromedriver",
        "chromium chromium-driver",
        &format!("they must be at {CHROMIUM} and {CHROMEDRIVER}"),
    )
}

/// PostgreSQL's server binaries, from which the tests start a throwaway cluster when
/// `DATABASE_URL` names no server (crates/testkit/src/postgres.rs). Any version will do: the
/// tests take the newest installed.
fn postgresql() -> Result {
    let installed = std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|mut versions| {
        versions.any(|entry| entry.is_ok_and(|e| e.path().join("bin/postgres").exists()))
    });
    if installed {
        return Ok(());
    }
    debian_packages(
        "PostgreSQL",
        "postgresql",
        "the tests look for /usr/lib/postgresql/*/bin/postgres; or set DATABASE_URL to a server \
         of yours",
    )
}

/// Installs Debian's `packages` as root; anyone else is told the command, since setup would
/// otherwise stop at a sudo password prompt.
fn debian_packages(what: &str, packages: &str, note: &str) -> Result {
    let root_user = output(cmd("id -u")).is_ok_and(|uid| uid.trim() == "0");
    if !root_user {
        return Err(format!(
            "{what} not installed; install with \
             `sudo apt-get update && sudo apt-get install -y {packages}` ({note})"
        ));
    }
    println!("setup: installing {what} from Debian");
    run(cmd("apt-get update -q"))?;
    let mut install = cmd(&format!("apt-get install -y -q {packages}"));
    install.env("DEBIAN_FRONTEND", "noninteractive");
    run(install)
}

/// binaryen (wasm-opt), esbuild, anvil, solc and axe-core, pinned by package-lock.json. Installed again only when
/// the lockfile changes: a copy of the one installed is kept beside the packages.
fn node_packages() -> Result {
    let lock = root().join("package-lock.json");
    let stamp = root().join("node_modules/.installed-package-lock.json");
    let wanted = std::fs::read(&lock).map_err(|e| format!("reading package-lock.json: {e}"))?;
    if std::fs::read(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(());
    }
    println!("setup: installing node packages (binaryen, esbuild, anvil, solc, axe-core)");
    run(cmd("npm ci --no-audit --no-fund"))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("writing {}: {e}", stamp.display()))
}

pub fn output(mut command: Command) -> Result<String> {
    let output = command.output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
