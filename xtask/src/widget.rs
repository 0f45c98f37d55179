//! The widget as a storefront downloads it: the release wasm, optimised for size, its JS
//! bindings, the embed module and the stylesheet, in `dist/checkout/`; and the tables of the
//! languages other than English, in `dist/checkout/locales/`, fetched only by a shopper who
//! reads one.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cmd, root, run};

/// What a storefront may download, gzipped, before `cargo xtask size` fails: the widget on the
/// stack its design names, as an English shopper gets it (another language adds its table, each
/// printed on its own). For scale, measured on 2026-11-24, gzipped: a page
/// with only React on it, 69 KB; RainbowKit connect-only, 411 KB; Reown AppKit with Pay, 465 KB.
pub const BUDGET_BYTES: u64 = 150_000;

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
    // The layout `trunk serve` also produces for the demo: the embed module and stylesheet, and
    // the widget's wasm-bindgen module under core/, which the embed imports.
    let core = out.join("core");
    let mut bindgen =
        cmd("wasm-bindgen --target web --typescript --out-name usdt-checkout --out-dir");
    bindgen.arg(&core).arg(&wasm);
    run(bindgen)?;
    let optimised = core.join("usdt-checkout_bg.wasm");
    // --low-memory-unused: Rust puts its 1 MiB stack at the bottom of memory and data above it,
    // so the first KiB is never addressed and binaryen may fold constants into load offsets.
    // The producers and target-features sections only describe the build; browsers ignore them.
    let mut opt = cmd(&format!(
        "wasm-opt -Oz --converge --low-memory-unused --strip-producers --strip-target-features {WASM_FEATURES} -o"
    ));
    opt.arg(&optimised).arg(&optimised);
    run(opt)?;
    package(&core)?;
    short_names(&core)?;
    // What a storefront downloads is minified, as any production asset; pkg/ keeps the readable
    // bindings, since an app's bundler minifies them itself.
    minify(
        &root().join("www/usdt-checkout.js"),
        &out.join("usdt-checkout.js"),
    )?;
    minify(
        &root().join("www/usdt-checkout.css"),
        &out.join("usdt-checkout.css"),
    )?;
    let bindings = core.join("usdt-checkout.js");
    minify(&bindings, &bindings)?;
    let files = downloaded(&out);
    let tables = locale_tables(&out)?;
    let mut precompress = Command::new("node");
    precompress
        .arg(root().join("xtask/precompress.mjs"))
        .args(&files)
        .args(&tables);
    run(precompress)?;
    println!("widget: built into {} and pkg/", out.display());
    Ok(files)
}

/// What the widget's wasm uses beyond the MVP, for wasm-opt once the features section is
/// stripped (wasm-bindgen's shims return several values).
const WASM_FEATURES: &str = "--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-reference-types --enable-mutable-globals --enable-multivalue";

/// Short names for the wasm's imports and exports, in it and in its bindings, in what a storefront
/// downloads (pkg/ keeps wasm-bindgen's, for an app's bundler): wasm-bindgen names each of its
/// ~170 imports with a 16-digit hash, written in the wasm and again in the bindings, which gzip
/// cannot shorten (5.0 KB of the gzipped download). wasm-opt renames them and writes the mapping;
/// `xtask/short-names.mjs` rewrites the bindings by it and checks every import is provided.
fn short_names(core: &Path) -> Result {
    let wasm = core.join("usdt-checkout_bg.wasm");
    let mapping = target_dir().join("usdt-checkout-names.json");
    let file =
        std::fs::File::create(&mapping).map_err(|e| format!("{}: {e}", mapping.display()))?;
    let mut rename = cmd(&format!(
        "wasm-opt --minify-imports-and-exports-and-modules {WASM_FEATURES} -o"
    ));
    rename.arg(&wasm).arg(&wasm).stdout(file);
    run(rename)?;
    let mut rewrite = Command::new("node");
    rewrite
        .arg(root().join("xtask/short-names.mjs"))
        .arg(&mapping)
        .arg(&wasm)
        .arg(core.join("usdt-checkout.js"));
    run(rewrite)
}

/// `www/locales/*.json` into `out/locales/`, minified; returns the copies. Not `en.json`, the
/// translators' reference: the widget has English compiled in and never fetches it.
fn locale_tables(out: &std::path::Path) -> Result<Vec<PathBuf>> {
    let (from, to) = (root().join("www/locales"), out.join("locales"));
    std::fs::create_dir_all(&to).map_err(|e| format!("{}: {e}", to.display()))?;
    let mut tables = Vec::new();
    for entry in std::fs::read_dir(&from).map_err(|e| format!("{}: {e}", from.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|ext| ext != "json") || path.ends_with("en.json") {
            continue;
        }
        let json =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let copy = to.join(path.file_name().unwrap_or_default());
        std::fs::write(&copy, minify_json(&json))
            .map_err(|e| format!("{}: {e}", copy.display()))?;
        tables.push(copy);
    }
    tables.sort();
    Ok(tables)
}

/// JSON without the whitespace between its tokens.
fn minify_json(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(json.len()), false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// The files a storefront downloads.
fn downloaded(out: &std::path::Path) -> Vec<PathBuf> {
    [
        "usdt-checkout.js",
        "core/usdt-checkout.js",
        "core/usdt-checkout_bg.wasm",
        "usdt-checkout.css",
    ]
    .iter()
    .map(|f| out.join(f))
    .collect()
}

fn minify(from: &std::path::Path, to: &std::path::Path) -> Result {
    let mut esbuild = Command::new(root().join("node_modules/@esbuild/linux-x64/bin/esbuild"));
    esbuild
        .arg(from)
        .arg("--minify")
        .arg("--log-level=warning")
        .arg("--allow-overwrite")
        .arg(format!("--outfile={}", to.display()));
    run(esbuild)
}

/// `pkg/`: the same module, importable from an app's bundler (`import init, { mount } from
/// "usdt-checkout"`), with its TypeScript declarations.
fn package(core: &std::path::Path) -> Result {
    let pkg = root().join("pkg");
    std::fs::create_dir_all(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    for file in [
        "usdt-checkout.js",
        "usdt-checkout.d.ts",
        "usdt-checkout_bg.wasm",
        "usdt-checkout_bg.wasm.d.ts",
    ] {
        std::fs::copy(core.join(file), pkg.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    let version = env!("CARGO_PKG_VERSION");
    std::fs::write(
        pkg.join("package.json"),
        format!(
            r#"{{
  "name": "usdt-checkout",
  "version": "{version}",
  "description": "USDT checkout widget: mount(element, options) renders it; see www/README.md",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "usdt-checkout.js",
  "types": "usdt-checkout.d.ts",
  "files": ["usdt-checkout.js", "usdt-checkout.d.ts", "usdt-checkout_bg.wasm", "usdt-checkout_bg.wasm.d.ts"],
  "sideEffects": false
}}
"#
        ),
    )
    .map_err(|e| e.to_string())
}

fn gzipped(path: &Path) -> Result<u64> {
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

/// One file a storefront downloads: its name in the bundle, and its size raw, gzipped (`-9`)
/// and as served with brotli.
pub struct FileSize {
    pub name: String,
    pub raw: u64,
    pub gzip: u64,
    pub brotli: u64,
}

/// What a storefront downloads: the files every shopper gets, then each language's table,
/// fetched only by its readers.
pub struct Sizes {
    pub files: Vec<FileSize>,
    pub tables: Vec<FileSize>,
}

impl Sizes {
    pub fn gzip(&self) -> u64 {
        self.files.iter().map(|f| f.gzip).sum()
    }

    pub fn brotli(&self) -> u64 {
        self.files.iter().map(|f| f.brotli).sum()
    }
}

fn file_size(file: &Path) -> Result<FileSize> {
    let raw = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    // What the checkout server serves to a browser that accepts brotli (all current ones).
    let mut br = file.to_path_buf().into_os_string();
    br.push(".br");
    let brotli = std::fs::metadata(&br)
        .map_err(|e| format!("{}: {e}", PathBuf::from(&br).display()))?
        .len();
    Ok(FileSize {
        name: file
            .strip_prefix(out_dir())
            .unwrap_or(file)
            .display()
            .to_string(),
        raw,
        gzip: gzipped(file)?,
        brotli,
    })
}

/// Builds the widget and measures what a storefront downloads.
pub fn sizes() -> Result<Sizes> {
    let files = build()?
        .iter()
        .map(|f| file_size(f))
        .collect::<Result<Vec<_>>>()?;
    let mut tables: Vec<PathBuf> = std::fs::read_dir(out_dir().join("locales"))
        .map_err(|e| format!("locales: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    tables.sort();
    let tables = tables
        .iter()
        .map(|t| file_size(t))
        .collect::<Result<Vec<_>>>()?;
    Ok(Sizes { files, tables })
}

pub fn size() -> Result {
    let sizes = sizes()?;
    let row = |f: &FileSize| {
        println!(
            "{:<32} {:>10} {:>10} {:>10}",
            f.name, f.raw, f.gzip, f.brotli
        )
    };
    println!(
        "\n{:<32} {:>10} {:>10} {:>10}",
        "file", "bytes", "gzip -9", "brotli"
    );
    sizes.files.iter().for_each(row);
    let total = sizes.gzip();
    println!(
        "widget download, as an English shopper gets it: {:.1} KB gzipped (budget {} KB), {:.1} KB as served with brotli",
        total as f64 / 1000.0,
        BUDGET_BYTES / 1000,
        sizes.brotli() as f64 / 1000.0
    );
    println!("\nand for a shopper in another language, one of these besides (not in the budget):");
    sizes.tables.iter().for_each(row);
    if total > BUDGET_BYTES {
        return Err(format!(
            "the widget is {total} bytes gzipped, over the {BUDGET_BYTES}-byte budget"
        ));
    }
    Ok(())
}

/// Checks that every file the (built) embed module refers to, its `core/` module and wasm and the
/// stylesheet, is in the bundle: the embed and the build must agree on the layout.
/// No serde_json code is linked into the widget: the browser parses JSON itself, and a second
/// parser is weight every shopper carries. (It is in the widget's dependency tree all the same:
/// Yew depends on all of gloo, whose `net` and `storage` bring it; none of that is linked.) Read
/// from the function names of the release build, before wasm-opt strips them.
pub fn check_no_serde_json() -> Result {
    let wasm = target_dir().join("wasm32-unknown-unknown/release/usdt_checkout.wasm");
    let bytes = std::fs::read(&wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
    let linked = bytes.windows(10).filter(|w| *w == b"serde_json").count();
    if linked > 0 {
        return Err(format!(
            "the widget's wasm links serde_json ({linked} names): read the browser's parsed JSON with serde-wasm-bindgen"
        ));
    }
    println!("the widget's wasm links no serde_json code");
    Ok(())
}

pub fn check_bundle() -> Result {
    let embed = std::fs::read_to_string(out_dir().join("usdt-checkout.js"))
        .map_err(|e| format!("the embed module: {e}"))?;
    let referenced: Vec<&str> = embed
        .split('"')
        .filter(|part| {
            part.starts_with("./") || part.starts_with("core/") || part.ends_with(".css")
        })
        .filter(|part| !part.contains(' ') && !part.contains('$'))
        .collect();
    if referenced.is_empty() {
        return Err("the embed module refers to no file: the check is out of date".into());
    }
    let missing: Vec<&str> = referenced
        .iter()
        .copied()
        .filter(|path| !out_dir().join(path.trim_start_matches("./")).exists())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the embed module refers to {} but the build has no such file",
            missing.join(", ")
        ));
    }
    println!(
        "widget bundle: the embed's {} files are all there ({})",
        referenced.len(),
        referenced.join(", ")
    );
    Ok(())
}
