//! The widget as a storefront downloads it: the release wasm, optimised for size, its JS
//! bindings, the embed module and the stylesheet, in `dist/checkout/`.

use std::path::PathBuf;
use std::process::Command;

use crate::{Result, cmd, root, run};

/// What a storefront may download, gzipped, before `cargo xtask size` fails.
const BUDGET_BYTES: u64 = 130_000;

pub fn out_dir() -> PathBuf {
    root().join("dist/checkout")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Builds the widget; returns the files a storefront downloads.
pub fn build() -> Result<Vec<PathBuf>> {
    let out = out_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    run(cmd(
        "cargo build -p usdt-checkout --release --target wasm32-unknown-unknown",
    ))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/release/usdt_checkout.wasm");
    let mut bindgen =
        cmd("wasm-bindgen --target web --typescript --out-name usdt-checkout-core --out-dir");
    bindgen.arg(&out).arg(&wasm);
    run(bindgen)?;
    let optimised = out.join("usdt-checkout-core_bg.wasm");
    let mut opt = cmd(
        "wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-reference-types --enable-mutable-globals -o",
    );
    opt.arg(&optimised).arg(&optimised);
    run(opt)?;
    for file in ["usdt-checkout.js", "usdt-checkout.css"] {
        std::fs::copy(root().join("www").join(file), out.join(file))
            .map_err(|e| format!("{file}: {e}"))?;
    }
    println!("widget: built into {}", out.display());
    Ok([
        "usdt-checkout.js",
        "usdt-checkout-core.js",
        "usdt-checkout-core_bg.wasm",
        "usdt-checkout.css",
    ]
    .iter()
    .map(|f| out.join(f))
    .collect())
}

fn gzipped(path: &PathBuf) -> Result<u64> {
    let output = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    if !output.status.success() {
        return Err(format!("gzip failed on {}", path.display()));
    }
    Ok(output.stdout.len() as u64)
}

pub fn size() -> Result {
    let files = build()?;
    let mut total = 0;
    println!("\n{:<32} {:>10} {:>10}", "file", "bytes", "gzip -9");
    for file in &files {
        let raw = std::fs::metadata(file)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .len();
        let zipped = gzipped(file)?;
        total += zipped;
        let name = file
            .strip_prefix(out_dir())
            .unwrap_or(file)
            .display()
            .to_string();
        println!("{name:<32} {raw:>10} {zipped:>10}");
    }
    println!(
        "widget download: {:.1} KB gzipped (budget {} KB)",
        total as f64 / 1000.0,
        BUDGET_BYTES / 1000
    );
    if total > BUDGET_BYTES {
        return Err(format!(
            "the widget is {total} bytes gzipped, over the {BUDGET_BYTES}-byte budget"
        ));
    }
    Ok(())
}
