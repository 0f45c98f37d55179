//! The native tests, built once with their lints and run as a pool.
//!
//! Clippy rides on the test build: its driver compiles the workspace's own crates (lints, then
//! code, exactly as `rustc` would), so the dependencies are compiled once for the tests instead of
//! once more, in check mode, for `cargo clippy`.
//!
//! `cargo test` runs its test binaries one after another. Most of these tests wait on processes
//! (anvil's blocks, a server's polls, headless Chromium) rather than on a core, so the binaries
//! run side by side here, each with its own output, printed whole when it ends. Every test runs,
//! the ones `#[ignore]`d out of the plain `cargo test` tier (they start processes) included.

use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Result, Tally, cmd, describe, root};

/// Test binaries running at once, and test threads in each.
const BINARIES_AT_ONCE: usize = 4;
const THREADS_EACH: usize = 3;

/// Binaries whose tests take longest, started first so none of them starts last.
const LONGEST_FIRST: [&str; 5] = ["journeys", "simulation", "load", "server", "hostile"];

/// `command` with clippy's driver compiling the workspace's own crates, warnings denied: what
/// `cargo clippy -- -D warnings` does, in a build that also produces the code.
pub fn linted(mut command: Command) -> Command {
    command
        .env("RUSTC_WORKSPACE_WRAPPER", "clippy-driver")
        // How `cargo clippy` hands its arguments to the driver.
        .env(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        );
    command
}

/// A test binary cargo built, and the package directory `cargo test` would run it in.
pub struct Binary {
    /// "tests/journeys.rs" or "unittests src/lib.rs" of a package, as cargo names them.
    name: String,
    executable: PathBuf,
    package_dir: PathBuf,
}

/// Builds every target of the workspace (lints included) and returns its test binaries.
pub fn build() -> Result<Vec<Binary>> {
    let mut command = linted(cmd(
        "cargo test --workspace --all-features --all-targets --no-run \
         --message-format=json-render-diagnostics",
    ));
    let name = describe(&command);
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start `{name}`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{name}` failed ({})", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.lines().filter_map(test_binary).collect())
}

/// The test binary a line of cargo's JSON messages announces, if it does: a test harness
/// (`profile.test`) of a library, binary or integration test, not a benchmark or example.
fn test_binary(line: &str) -> Option<Binary> {
    if !line.contains(r#""reason":"compiler-artifact""#) || !line.contains(r#""test":true"#) {
        return None;
    }
    let kind = string_after(line, r#""kind":["#)?;
    if !matches!(kind.as_str(), "lib" | "bin" | "test") {
        return None;
    }
    let executable = PathBuf::from(string_after(line, r#""executable":"#)?);
    let manifest = PathBuf::from(string_after(line, r#""manifest_path":"#)?);
    let package_dir = manifest.parent()?.to_path_buf();
    let source = PathBuf::from(string_after(line, r#""src_path":"#)?);
    let relative = source.strip_prefix(&package_dir).unwrap_or(&source);
    let package = package_dir
        .strip_prefix(root())
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| ".".into(), |p| p.display().to_string());
    let name = match kind.as_str() {
        "test" => format!("{package}: {}", relative.display()),
        _ => format!("{package}: unittests {}", relative.display()),
    };
    Some(Binary {
        name,
        executable,
        package_dir,
    })
}

/// The JSON string right after `key` in `line` (paths and names here hold no escapes).
fn string_after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// How one binary's run ended.
struct Finished {
    name: String,
    output: String,
    passed: bool,
    took: Duration,
}

/// Runs every binary, [`BINARIES_AT_ONCE`] at a time, and adds their results to `tally`.
pub fn run(binaries: Vec<Binary>, tally: &mut Tally) -> Result {
    let mut binaries = binaries;
    // Longest first; the rest keep cargo's order (the sort is stable).
    binaries.sort_by_key(|b| {
        LONGEST_FIRST
            .iter()
            .position(|slow| b.name.ends_with(&format!("tests/{slow}.rs")))
            .unwrap_or(LONGEST_FIRST.len())
    });
    let mut queue = VecDeque::from(binaries);
    let (done, finished) = mpsc::channel();
    let mut running = 0;
    let mut failed = Vec::new();
    loop {
        while running < BINARIES_AT_ONCE {
            let Some(binary) = queue.pop_front() else {
                break;
            };
            let done = done.clone();
            std::thread::spawn(move || {
                let _ = done.send(run_one(binary));
            });
            running += 1;
        }
        if running == 0 {
            break;
        }
        let finished = finished.recv().map_err(|e| e.to_string())?;
        running -= 1;
        println!(
            "\n-- {} ({:.0?})\n{}",
            finished.name, finished.took, finished.output
        );
        tally.count(&finished.output);
        if !finished.passed {
            failed.push(finished.name);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("tests failed in {}", failed.join(", ")))
    }
}

/// One binary, every test in it, its output (stdout and stderr, as they interleaved) kept.
fn run_one(binary: Binary) -> Finished {
    let started = Instant::now();
    let outcome = (|| -> std::io::Result<(bool, String)> {
        let (mut reader, writer) = std::io::pipe()?;
        let mut command = Command::new(&binary.executable);
        command
            .args(["--include-ignored", "--test-threads"])
            .arg(THREADS_EACH.to_string())
            // What `cargo test` gives a test binary it runs.
            .current_dir(&binary.package_dir)
            .env("CARGO_MANIFEST_DIR", &binary.package_dir)
            .env("PATH", crate::setup::path())
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer);
        let mut child = command.spawn()?;
        // The command holds the pipe's writing ends: dropped, the read ends with the process.
        drop(command);
        let mut output = Vec::new();
        reader.read_to_end(&mut output)?;
        let status = child.wait()?;
        Ok((
            status.success(),
            String::from_utf8_lossy(&output).into_owned(),
        ))
    })();
    let (passed, output) = outcome.unwrap_or_else(|e| {
        (
            false,
            format!("could not run {}: {e}", binary.executable.display()),
        )
    });
    Finished {
        name: binary.name,
        output,
        passed,
        took: started.elapsed(),
    }
}
