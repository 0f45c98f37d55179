//! `cargo xtask simulate [--payments N] [--seed S]`: the seeded payment simulation
//! (`crates/merchant/tests/simulation.rs`) at any size, on the real processes. `cargo xtask
//! test` runs it at its default size; this is the long run, and the replay of a failing seed.

use crate::{Result, SERVERS_BUILD, cmd, run, setup};

pub fn command(args: impl Iterator<Item = String>) -> Result {
    let (mut payments, mut seed) = (None, None);
    let mut args = args;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag} {value:?} is not a whole number"))?;
        match flag.as_str() {
            "--payments" if number > 0 => payments = Some(number),
            "--seed" => seed = Some(number),
            _ => return Err("usage: cargo xtask simulate [--payments N] [--seed S]".into()),
        }
    }
    setup::for_tests()?;
    // The simulation starts the sandbox's binary.
    run(cmd(SERVERS_BUILD))?;
    let mut test = cmd(
        "cargo test --workspace --all-features --test simulation -- --nocapture --test-threads 1",
    );
    if let Some(payments) = payments {
        test.env("SIMULATION_PAYMENTS", payments.to_string());
    }
    // A new plan each run unless one is asked for again; the test prints the seed it used.
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64)
    });
    test.env("SIMULATION_SEED", seed.to_string());
    // The figures and what went wrong, not each process's warning for every unmatched payment.
    test.env("RUST_LOG", "error");
    run(test)
}
