//! `cargo xtask fuzz --seconds N`: builds every target of `fuzz/` once, then runs each for N
//! seconds on its corpus, and prints one line a target: executions, executions a second, corpus
//! size, and `crash` with the input that crashed it.
//!
//! The committed seeds (`fuzz/corpus/<target>`) stay as they are: libFuzzer writes what it
//! finds to the first corpus directory it is given, here a work directory under `target/fuzz`
//! (kept between runs, so a long run goes on where the last stopped), and reads the seeds from
//! the second. Crashing inputs go to `fuzz/artifacts/<target>/` (git-ignored).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::setup::{self, output};
use crate::{Result, cmd, root, run as run_command};

/// The version known to build with `--locked` on these machines.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// What `cargo xtask test` gives each target: enough to replay the seeds and the work corpus
/// and mutate them for a while; `cargo xtask fuzz --seconds N` is for longer runs.
pub const CI_SECONDS: u64 = 15;

/// `fuzz --seconds N` (its arguments after the command's name).
pub fn command(mut args: impl Iterator<Item = String>) -> Result {
    let seconds = match (args.next().as_deref(), args.next()) {
        (Some("--seconds"), Some(n)) => n
            .parse()
            .map_err(|_| format!("--seconds {n:?} is not a whole number of seconds"))?,
        (None, _) => CI_SECONDS,
        _ => return Err("usage: cargo xtask fuzz [--seconds N]".into()),
    };
    fuzz(seconds)
}

/// Builds and runs every target for `seconds` each; an error if any crashed.
pub fn fuzz(seconds: u64) -> Result {
    build()?;
    run(seconds)
}

/// Builds every target (nightly and cargo-fuzz installed first when missing).
pub fn build() -> Result {
    tools()?;
    let started = Instant::now();
    // Sanitizer none: the targets are safe Rust, so what there is to find is panics (failed
    // assertions, slicing, unwraps) and integer overflow, which debug assertions turn into
    // panics. AddressSanitizer finds memory errors safe Rust cannot make, and makes every
    // dependency's build (the merchant server's whole tree) several times slower and each
    // execution about twice as slow.
    run_command(cmd(
        "cargo +nightly fuzz build --fuzz-dir fuzz --sanitizer none --debug-assertions \
         --target-dir target/fuzz",
    ))?;
    println!("fuzz: built in {:.0?}", started.elapsed());
    Ok(())
}

/// Runs every built target for `seconds` each; an error if any crashed.
pub fn run(seconds: u64) -> Result {
    let started = Instant::now();
    let binaries = binaries()?;
    let targets = targets()?;
    let mut crashed = Vec::new();
    for target in &targets {
        let outcome = run_target(&binaries.join(target), target, seconds)?;
        println!("{}", outcome.line(target));
        if outcome.crash.is_some() {
            crashed.push(target.as_str());
        }
    }
    println!(
        "fuzz: {} targets, {seconds} s each, {:.0?} in all",
        targets.len(),
        started.elapsed()
    );
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets crashed: {} (reproduce: target/fuzz/<triple>/release/<target> <artifact>)",
            crashed.join(", ")
        ))
    }
}

/// Nightly (libFuzzer's instrumentation needs it) and cargo-fuzz, each installed once.
fn tools() -> Result {
    let toolchains = output(cmd("rustup toolchain list"))?;
    if !toolchains.lines().any(|line| line.starts_with("nightly")) {
        println!("setup: installing the nightly toolchain (for fuzzing)");
        run_command(cmd("rustup toolchain install nightly --profile minimal"))?;
    }
    setup::cargo_tool("cargo-fuzz", "cargo-fuzz", CARGO_FUZZ_VERSION, "--locked")
}

/// Where cargo-fuzz puts the targets: it builds for the host's triple.
fn binaries() -> Result<PathBuf> {
    let version = output(cmd("rustc +nightly -vV"))?;
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .ok_or("rustc -vV names no host")?;
    Ok(root().join("target/fuzz").join(host.trim()).join("release"))
}

fn targets() -> Result<Vec<String>> {
    let list = output(cmd("cargo +nightly fuzz list --fuzz-dir fuzz"))?;
    Ok(list.split_whitespace().map(str::to_owned).collect())
}

struct Outcome {
    executions: Option<u64>,
    per_second: Option<u64>,
    corpus: Option<u64>,
    /// The input that crashed the target, and the log that says how.
    crash: Option<(String, PathBuf)>,
}

impl Outcome {
    fn line(&self, target: &str) -> String {
        let number = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let verdict = match &self.crash {
            None => "ok".to_owned(),
            Some((artifact, log)) => format!("crash {artifact} (log: {})", log.display()),
        };
        format!(
            "{target:<18} {:>12} executions {:>8}/s   corpus {:>5}   {verdict}",
            number(self.executions),
            number(self.per_second),
            number(self.corpus),
        )
    }
}

fn run_target(binary: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    let root = root();
    let work = root.join("target/fuzz/corpus").join(target);
    let seeds = root.join("fuzz/corpus").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    let logs = root.join("target/fuzz/logs");
    for dir in [&work, &artifacts, &logs] {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let log = logs.join(format!("{target}.log"));
    let output = Command::new(binary)
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        // A hang is a finding too; libFuzzer's default waits 20 minutes for one input.
        .arg("-timeout=10")
        // The path must end with '/': libFuzzer prepends it to the file's name.
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&work)
        .arg(&seeds)
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    // libFuzzer reports on stderr; a target's panic message is there too.
    let report = String::from_utf8_lossy(&output.stderr);
    std::fs::write(&log, report.as_bytes())
        .map_err(|e| format!("writing {}: {e}", log.display()))?;
    let stat = |name: &str| {
        report
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
    };
    // The last status line (`#1234 DONE cov: 1 ft: 2 corp: 30/900b ...`) has the corpus size.
    let corpus = report.lines().rev().find_map(|line| {
        let after = line.split_once(" corp: ")?.1;
        after.split('/').next()?.parse().ok()
    });
    let artifact = report.lines().find_map(|line| {
        let path = line.split_once("Test unit written to ")?.1.trim();
        Some(
            Path::new(path)
                .strip_prefix(&root)
                .map_or_else(|_| path.to_owned(), |p| p.display().to_string()),
        )
    });
    let crash = match (output.status.success(), artifact) {
        (true, _) => None,
        (false, artifact) => Some((
            artifact.unwrap_or_else(|| format!("(none written; {})", output.status)),
            log.strip_prefix(&root).unwrap_or(&log).to_path_buf(),
        )),
    };
    Ok(Outcome {
        executions: stat("stat::number_of_executed_units:"),
        per_second: stat("stat::average_exec_per_sec:"),
        corpus,
        crash,
    })
}
