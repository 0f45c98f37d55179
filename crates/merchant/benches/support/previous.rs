//! The figures of the run before, as BENCHMARKS.md has them (the benches run before `cargo xtask
//! bench` writes it again), so that each figure is printed beside its previous value; and the
//! budgets' verdicts.

use std::collections::HashMap;

/// The cells of the row whose first cell is `first` in the first table after the heading
/// `heading`, by their column's name; empty when BENCHMARKS.md has no such row.
pub fn row(heading: &str, first: &str) -> HashMap<String, String> {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../BENCHMARKS.md"),
    )
    .unwrap_or_default();
    row_in(&page, heading, first)
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|cell| now_of(cell.trim()).to_owned())
        .collect()
}

fn row_in(page: &str, heading: &str, first: &str) -> HashMap<String, String> {
    let mut lines = page
        .lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .skip_while(|l| !l.starts_with('|'));
    let Some(header) = lines.next() else {
        return HashMap::new();
    };
    let names = cells(header);
    lines
        .take_while(|l| l.starts_with('|'))
        .map(cells)
        .find(|row| row.first().is_some_and(|cell| cell == first))
        .map(|row| names.into_iter().zip(row).collect())
        .unwrap_or_default()
}

/// A cell's figure without what it was before.
fn now_of(cell: &str) -> &str {
    cell.split(" (before").next().unwrap_or(cell).trim()
}

/// `now`, and beside it what it was before, when known and different.
pub fn beside(now: String, before: Option<&String>) -> String {
    match before {
        Some(before) if !before.is_empty() && *before != now => {
            format!("{now} (before: {before})")
        }
        _ => now,
    }
}

pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}
