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

/// Jobs running at once, and test threads in each test binary.
const JOBS_AT_ONCE: usize = 3;
const THREADS_EACH: usize = 4;

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

/// Tests to run: a test binary cargo built, or a command that runs tests of its own.
pub struct Job {
    /// "crates/merchant: tests/journeys.rs", "crates/protocol: unittests src/lib.rs", ...
    pub name: String,
    pub command: Command,
}

impl Job {
    /// The test binary at `executable`, run as `cargo test` would run it from `package_dir`,
    /// with every tier's tests.
    fn binary(name: String, executable: PathBuf, package_dir: PathBuf) -> Self {
        let mut command = Command::new(executable);
        command
            .args(["--include-ignored", "--test-threads"])
            .arg(THREADS_EACH.to_string())
            .current_dir(&package_dir)
            .env("CARGO_MANIFEST_DIR", &package_dir)
            .env("PATH", crate::setup::path());
        Self { name, command }
    }
}

/// Builds every target of the workspace (lints included) and returns its test binaries.
pub fn build() -> Result<Vec<Job>> {
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
fn test_binary(line: &str) -> Option<Job> {
    // `"test":true` also appears in the target's description (whether `cargo test` tests it by
    // default); the profile's says the artifact is a test harness.
    let profile = &line[line.find(r#""profile":{"#)?..];
    let profile = &profile[..profile.find('}')?];
    if !line.contains(r#""reason":"compiler-artifact""#) || !profile.contains(r#""test":true"#) {
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
    Some(Job::binary(name, executable, package_dir))
}

/// The JSON string right after `key` in `line` (paths and names here hold no escapes).
fn string_after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// How one job's run ended.
struct Finished {
    name: String,
    output: String,
    passed: bool,
    took: Duration,
}

/// Runs every job, [`JOBS_AT_ONCE`] at a time, and adds their results to `tally`.
pub fn run(mut jobs: Vec<Job>, tally: &mut Tally) -> Result {
    // Longest first; the rest keep their order (the sort is stable).
    jobs.sort_by_key(|b| {
        LONGEST_FIRST
            .iter()
            .position(|slow| b.name.ends_with(&format!("tests/{slow}.rs")))
            .unwrap_or(LONGEST_FIRST.len())
    });
    let mut queue = VecDeque::from(jobs);
    let (done, finished) = mpsc::channel();
    let mut running = 0;
    let mut failed = Vec::new();
    loop {
        while running < JOBS_AT_ONCE {
            let Some(job) = queue.pop_front() else {
                break;
            };
            let done = done.clone();
            std::thread::spawn(move || {
                let _ = done.send(run_one(job));
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

/// One job, its output (stdout and stderr, as they interleaved) kept.
fn run_one(job: Job) -> Finished {
    let Job { name, mut command } = job;
    let started = Instant::now();
    let outcome = (|| -> std::io::Result<(bool, String)> {
        let (mut reader, writer) = std::io::pipe()?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .spawn()?;
        // The command holds the pipe's writing ends: once they are closed, reading ends with
        // the process.
        drop(command);
        let mut output = Vec::new();
        reader.read_to_end(&mut output)?;
        Ok((
            child.wait()?.success(),
            String::from_utf8_lossy(&output).into_owned(),
        ))
    })();
    let (passed, output) = outcome.unwrap_or_else(|e| (false, format!("could not run it: {e}")));
    Finished {
        name,
        output,
        passed,
        took: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cargo's messages as `cargo test --no-run --message-format=json` writes them (a server's
    /// binary built for running, not testing, has `"test":true` in its target and not its
    /// profile).
    const BINARY: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/merchant#usdt-checkout-server@0.1.0","manifest_path":"/w/crates/merchant/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"checkout-server","src_path":"/w/crates/merchant/src/main.rs","edition":"2024","doc":true,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":"line-tables-only","debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/w/target/debug/checkout-server"],"executable":"/w/target/debug/checkout-server","fresh":true}"#;
    const HARNESS: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/testkit#usdt-checkout-testkit@0.0.0","manifest_path":"/w/crates/testkit/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"postgres","src_path":"/w/crates/testkit/tests/postgres.rs","edition":"2024","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":"line-tables-only","debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/w/target/debug/deps/postgres-b2e0"],"executable":"/w/target/debug/deps/postgres-b2e0","fresh":false}"#;

    #[test]
    fn only_test_harnesses_are_run() {
        assert!(
            test_binary(BINARY).is_none(),
            "the server itself is not run"
        );
        let job = test_binary(HARNESS).expect("a test harness");
        assert!(job.name.ends_with("tests/postgres.rs"), "{}", job.name);
        assert_eq!(
            job.command.get_program(),
            "/w/target/debug/deps/postgres-b2e0"
        );
        assert!(
            job.command.get_args().any(|a| a == "--include-ignored"),
            "every tier runs"
        );
        let bench = HARNESS.replace(r#""kind":["test"]"#, r#""kind":["bench"]"#);
        assert!(test_binary(&bench).is_none(), "benchmarks only measure");
    }
}
