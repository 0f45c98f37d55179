//! Project tasks: `cargo xtask setup | test | demo`. Each installs what it needs first, so a fresh
//! machine needs nothing but these commands. No dependencies, so it builds in seconds.

mod bench;
mod contrast;
mod demo;
mod fuzz;
mod native;
mod setup;
mod simulate;
mod widget;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  setup   install the tools the project needs (skips what is already there)
  test    formatting, lints, native tests, and the widget's tests in headless Chromium
  demo    run the demo storefront
  widget  build the release widget into dist/checkout/
  size    build the release widget and print what a storefront downloads, gzipped
  contrast  print the widget's lowest text contrast in light and dark, failing below WCAG AA
  screenshots  with the demo running: the widget's payment states in light and dark, desktop and phone
  bench   measure payload, time to QR, detection and status serving; write BENCHMARKS.md
  fuzz [--seconds N]  run every fuzz target in fuzz/ for N seconds (default 15), seeds in fuzz/corpus
  simulate [--payments N] [--seed S]  the seeded payment simulation, N payments (default 200)";

/// Builds the servers' binaries as `cargo test --workspace --all-features` resolves their
/// features: a binary's file has no per-feature name, so a build resolved otherwise would
/// replace it, and the tests and the demo would each rebuild what the other just built.
pub const SERVERS_BUILD: &str = "cargo build --workspace --all-features --bins";

/// The widget's tests, for headless Chromium (`--no-run`: built, not run).
const WIDGET_TESTS_BUILD: &str =
    "cargo test -p usdt-checkout --target wasm32-unknown-unknown --lib --tests --no-run";

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let result = match command.as_str() {
        "setup" => setup::all(),
        "test" => test(),
        "demo" => demo(),
        "widget" => setup::for_tests().and_then(|()| widget::build().map(drop)),
        "size" => setup::for_tests().and_then(|()| widget::size()),
        "contrast" => contrast::check(),
        "screenshots" => setup::all().and_then(|()| screenshots()),
        "bench" => bench::bench(),
        "fuzz" => fuzz::command(std::env::args().skip(2)),
        "simulate" => simulate::command(std::env::args().skip(2)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// A command line (split on whitespace; no quoting needed here) run from the workspace root with
/// the project's tools first on PATH.
pub fn cmd(line: &str) -> Command {
    let mut words = line.split_whitespace();
    let mut command = Command::new(words.next().expect("a command line names a program"));
    command
        .args(words)
        .current_dir(root())
        .env("PATH", setup::path());
    command
}

/// Runs a command, failing with its name if it fails.
pub fn run(mut command: Command) -> Result {
    let name = describe(&command);
    let status = command
        .status()
        .map_err(|e| format!("could not start `{name}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{name}` failed ({status})"))
    }
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Totals of the test runs, from cargo's `test result:` lines.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    /// Adds the results of every `test result:` line in `output`.
    fn count(&mut self, output: &str) {
        for summary in output
            .lines()
            .filter_map(|l| l.strip_prefix("test result: "))
        {
            self.passed += count(summary, "passed");
            self.failed += count(summary, "failed");
            self.ignored += count(summary, "ignored");
        }
    }
}

/// The number before `word` in "ok. 3 passed; 0 failed; ...".
fn count(summary: &str, word: &str) -> u64 {
    summary
        .split([';', '.'])
        .filter_map(|part| part.trim().strip_suffix(word))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

fn step<T>(name: &str, action: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("\n== {name}");
    let started = Instant::now();
    let result = action();
    println!("== {name}: {:.0?}", started.elapsed());
    result
}

/// Crates that hold or handle secrets; none may reach the widget's wasm.
const SECRET_BEARING: [&str; 5] = ["p256", "hmac", "sha2", "base64", "rand_core"];

fn test() -> Result {
    let started = Instant::now();
    step("setup", setup::for_tests)?;
    step("format", || run(cmd("cargo fmt --all -- --check")))?;
    // Lints ride on the builds the tests use (see `native`): clippy's driver compiles the
    // workspace's crates, so no dependency is compiled twice. This build makes the servers'
    // binaries the tests start too.
    let native_jobs = step("lints and build (native)", native::build)?;
    step("lints and build (widget, wasm32)", || {
        run(native::linted(cmd(WIDGET_TESTS_BUILD)))
    })?;
    step(
        "widget carries no secret-bearing crate",
        check_widget_dependencies,
    )?;
    // The journeys in the native tests load this very bundle from the checkout server.
    step("widget bundle: within its size budget, complete", || {
        widget::size()?;
        widget::check_bundle()?;
        widget::check_no_serde_json()
    })?;
    step("widget colours meet WCAG AA contrast", contrast::check)?;
    step("compiled contracts match their sources", || {
        run(cmd("node contracts/compile.mjs --check"))
    })?;
    // Built before the tests, not beside them: a cold build takes both cores for minutes,
    // which starved the journeys' headless Chromium.
    step("fuzz targets, built", fuzz::build)?;
    let mut tally = Tally::default();
    let outcome = step(
        "tests: native, the widget's in headless Chromium, fuzzing",
        || {
            // Fuzzing keeps one core busy while most of the tests wait on their processes.
            let fuzzing = std::thread::spawn(|| fuzz::run(fuzz::CI_SECONDS));
            let mut jobs = native_jobs;
            let mut widget = native::linted(cmd(&WIDGET_TESTS_BUILD.replace(" --no-run", "")));
            widget.env("CHROMEDRIVER", setup::CHROMEDRIVER);
            jobs.push(native::Job {
                name: "the widget, in headless Chromium".into(),
                command: widget,
            });
            jobs.push(native::Job {
                name: "documentation examples".into(),
                command: cmd("cargo test --workspace --all-features --doc"),
            });
            let tests = native::run(jobs, &mut tally);
            let fuzzed = fuzzing
                .join()
                .unwrap_or_else(|_| Err("fuzzing panicked".into()));
            tests.and(fuzzed)
        },
    );
    println!("\ncargo xtask test took {:.0?}", started.elapsed());
    let closing = format!("{} passed, {} failed", tally.passed, tally.failed);
    match tally.ignored {
        0 => println!("{closing}"),
        ignored => println!("{closing}, {ignored} skipped"),
    }
    outcome
}

fn check_widget_dependencies() -> Result {
    let output =
        cmd("cargo tree -p usdt-checkout --target wasm32-unknown-unknown -e normal --prefix none")
            .output()
            .map_err(|e| format!("could not run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err("cargo tree failed".into());
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let mut crates: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    crates.sort_unstable();
    crates.dedup();
    let leaked: Vec<&str> = crates
        .iter()
        .copied()
        .filter(|name| SECRET_BEARING.contains(name))
        .collect();
    if !leaked.is_empty() {
        return Err(format!("the widget depends on {}", leaked.join(", ")));
    }
    println!(
        "the widget's wasm build uses {} crates, none of {}",
        crates.len(),
        SECRET_BEARING.join(", ")
    );
    Ok(())
}

fn demo() -> Result {
    setup::all()?;
    demo::run_demo()
}

fn screenshots() -> Result {
    for (port, what) in [
        (8080, "storefront"),
        (4020, "checkout server"),
        (4010, "sandbox gateway"),
    ] {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return Err(format!(
                "the demo's {what} is not running on port {port}: start `cargo xtask demo` first"
            ));
        }
    }
    run(cmd("node www/demo/screenshots.mjs screenshots"))?;
    println!("screenshots: in {}", root().join("screenshots").display());
    Ok(())
}
