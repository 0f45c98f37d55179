//! The widget as a storefront downloads it: the release wasm, optimised for size, its JS
//! bindings, the embed module and the stylesheet, in `dist/checkout/`; and the tables of the
//! languages other than English, in `dist/checkout/locales/`, fetched only by a shopper who
//! reads one.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cmd, root, run, setup};

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
    build_all().map(|built| built.files)
}

/// What a build published into `dist/checkout/`.
struct Built {
    /// The files every storefront downloads: the entry first.
    files: Vec<PathBuf>,
    /// The language tables, one fetched by a shopper who reads it.
    tables: Vec<PathBuf>,
}

/// Builds the widget in a stage (under target/), names each file the entry loads by its content,
/// then publishes it into `dist/checkout/`: the new content-named files first, the entry last,
/// then the previous build's files are removed. A server serving the folder meanwhile (the demo,
/// a journey) serves one build or the other, never an entry naming files not there yet.
fn build_all() -> Result<Built> {
    let stage = target_dir().join("widget-stage");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).map_err(|e| format!("{}: {e}", stage.display()))?;
    }
    run(cmd(
        "cargo build -p usdt-checkout --release --target wasm32-unknown-unknown",
    ))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/release/usdt_checkout.wasm");
    // The embed module and stylesheet, and the widget's wasm-bindgen module under core/, which
    // the embed imports.
    let core = stage.join("core");
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
        &stage.join("usdt-checkout.js"),
    )?;
    minify(
        &root().join("www/usdt-checkout.css"),
        &stage.join("usdt-checkout.css"),
    )?;
    let bindings = core.join("usdt-checkout.js");
    minify(&bindings, &bindings)?;
    let tables = locale_tables(&stage)?;
    let staged = name_by_content(&stage, &tables)?;
    let mut precompress = Command::new("node");
    precompress
        .arg(root().join("xtask/precompress.mjs"))
        .args(staged.files.iter().map(|f| stage.join(f)))
        .args(staged.tables.iter().map(|f| stage.join(f)));
    run(precompress)?;
    let built = publish(&stage, &staged)?;
    println!("widget: built into {} and pkg/", out_dir().display());
    Ok(built)
}

/// A staged build's files by their names in `dist/checkout/` (relative), the entry first.
struct Staged {
    files: Vec<String>,
    tables: Vec<String>,
}

/// Renames the files the entry loads to names carrying a hash of their content, and rewrites
/// the references to them: the wasm's in its bindings, then the bindings', the stylesheet's and
/// the tables' folder's in the entry. (A table's name is the widget's `<localesUrl><tag>.json`,
/// so the tables' folder is named by a hash of all of them.)
fn name_by_content(stage: &Path, tables: &[PathBuf]) -> Result<Staged> {
    let rename = |from: &str, hash: &str| -> Result<String> {
        let to = hashed_name(from, hash);
        std::fs::rename(stage.join(from), stage.join(&to)).map_err(|e| format!("{from}: {e}"))?;
        Ok(to)
    };
    let wasm = "core/usdt-checkout_bg.wasm";
    let wasm_hashed = rename(wasm, &content_hash(&[stage.join(wasm)])?)?;
    let bindings = "core/usdt-checkout.js";
    rewrite(
        &stage.join(bindings),
        &[("usdt-checkout_bg.wasm", file_name(&wasm_hashed))],
    )?;
    let bindings_hashed = rename(bindings, &content_hash(&[stage.join(bindings)])?)?;
    let css = "usdt-checkout.css";
    let css_hashed = rename(css, &content_hash(&[stage.join(css)])?)?;
    let tables_hash = content_hash(tables)?;
    let folder = stage.join("locales").join(&tables_hash);
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let mut table_names = Vec::new();
    for table in tables {
        let name = file_name_of(table);
        std::fs::rename(table, folder.join(&name)).map_err(|e| format!("{name}: {e}"))?;
        table_names.push(format!("locales/{tables_hash}/{name}"));
    }
    let entry = "usdt-checkout.js";
    rewrite(
        &stage.join(entry),
        &[
            (&format!("./{bindings}"), &format!("./{bindings_hashed}")),
            (&format!("./{wasm}"), &format!("./{wasm_hashed}")),
            (&format!("./{css}"), &format!("./{css_hashed}")),
            ("./locales/", &format!("./locales/{tables_hash}/")),
        ],
    )?;
    Ok(Staged {
        files: vec![entry.into(), bindings_hashed, wasm_hashed, css_hashed],
        tables: table_names,
    })
}

/// The digits of a content hash in a name, as the checkout server recognises them
/// (`widget_files::HASH_DIGITS`): 64 bits of SHA-256.
const HASH_DIGITS: usize = 16;

/// `core/usdt-checkout_bg.wasm` with `hash` → `core/usdt-checkout_bg.<hash>.wasm`.
fn hashed_name(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.ends_with('/') && !ext.contains('/') => {
            format!("{stem}.{hash}.{ext}")
        }
        _ => format!("{name}.{hash}"),
    }
}

/// Whether `name` (a file or folder name) is one a build named by content.
fn is_hashed(name: &str) -> bool {
    name.split('.').any(|part| {
        part.len() == HASH_DIGITS && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The first digits of the SHA-256 of the files' names and contents, in order.
fn content_hash(files: &[PathBuf]) -> Result<String> {
    let output = Command::new("sha256sum")
        .args(files)
        .output()
        .map_err(|e| format!("sha256sum: {e}"))?;
    if !output.status.success() {
        return Err("sha256sum failed".into());
    }
    // One line per file, `<digest>  <path>`: its digest and the file's name, for each.
    let listing: String = String::from_utf8_lossy(&output.stdout)
        .lines()
        .zip(files)
        .map(|(line, file)| format!("{} {}\n", &line[..64.min(line.len())], file_name_of(file)))
        .collect();
    if files.len() == 1 {
        let line = listing.split(' ').next().unwrap_or_default();
        return Ok(line[..HASH_DIGITS].to_owned());
    }
    let mut sum = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("sha256sum: {e}"))?;
    std::io::Write::write_all(
        &mut sum.stdin.take().ok_or("sha256sum: no stdin")?,
        listing.as_bytes(),
    )
    .map_err(|e| format!("sha256sum: {e}"))?;
    let output = sum
        .wait_with_output()
        .map_err(|e| format!("sha256sum: {e}"))?;
    let digest = String::from_utf8_lossy(&output.stdout);
    digest
        .get(..HASH_DIGITS)
        .map(str::to_owned)
        .ok_or_else(|| "sha256sum said nothing".into())
}

/// A built file's name with its hash said as `[hash]`: the same from one build to the next.
fn without_hash(name: &str) -> String {
    name.split('/')
        .map(|segment| {
            segment
                .split('.')
                .map(|part| if is_hashed(part) { "[hash]" } else { part })
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Replaces each quoted `"from"` in the file by `"to"`; each must be there exactly once, or the
/// file and the build disagree on what it loads.
fn rewrite(file: &Path, renames: &[(&str, &str)]) -> Result {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let text = renamed(&text, renames).map_err(|e| format!("{}: {e}", file.display()))?;
    std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))
}

fn renamed(text: &str, renames: &[(&str, &str)]) -> Result<String> {
    let mut text = text.to_owned();
    for (from, to) in renames {
        let quoted = format!("\"{from}\"");
        match text.matches(&quoted).count() {
            1 => text = text.replace(&quoted, &format!("\"{to}\"")),
            n => return Err(format!("names {quoted} {n} times, not once")),
        }
    }
    Ok(text)
}

/// Copies the staged build into `dist/checkout/`: the content-named files (each with its `.br`
/// and `.gz`), then the entry, then removes what the previous builds named by content there.
fn publish(stage: &Path, staged: &Staged) -> Result<Built> {
    let out = out_dir();
    let copy = |name: &str| -> Result {
        for suffix in ["", ".br", ".gz"] {
            let (from, to) = (
                stage.join(format!("{name}{suffix}")),
                out.join(format!("{name}{suffix}")),
            );
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            // Through a temporary name: a reader sees the old file or the new, never half of one.
            let partial = out.join(format!(".{}.partial", file_name(name)));
            std::fs::copy(&from, &partial).map_err(|e| format!("{}: {e}", from.display()))?;
            std::fs::rename(&partial, &to).map_err(|e| format!("{}: {e}", to.display()))?;
        }
        Ok(())
    };
    let (entry, loaded) = staged.files.split_first().ok_or("nothing built")?;
    for name in loaded.iter().chain(&staged.tables) {
        copy(name)?;
    }
    copy(entry)?;
    let current: Vec<PathBuf> = staged
        .files
        .iter()
        .chain(&staged.tables)
        .map(|name| out.join(name))
        .collect();
    remove_previous(&out, &current)?;
    Ok(Built {
        files: staged.files.iter().map(|f| out.join(f)).collect(),
        tables: staged.tables.iter().map(|f| out.join(f)).collect(),
    })
}

/// Removes under `dir` every file or folder named by content that is not one of `current` (nor
/// holds one), and what earlier layouts left (`core/usdt-checkout_bg.wasm`, `locales/de.json`):
/// a name of a previous build answers 404.
fn remove_previous(dir: &Path, current: &[PathBuf]) -> Result {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = file_name_of(&path);
        let kept = current.iter().any(|c| {
            // The file, a folder holding it, or its compressed copies.
            c == &path
                || c.starts_with(&path)
                || ["br", "gz"].iter().any(|ext| {
                    let mut copy = c.clone().into_os_string();
                    copy.push(format!(".{ext}"));
                    path.as_os_str() == copy
                })
        });
        if kept {
            if path.is_dir() {
                remove_previous(&path, current)?;
            }
            continue;
        }
        let earlier_layout = name.starts_with("usdt-checkout.css")
            || path
                .parent()
                .is_some_and(|p| p.ends_with("core") || p.ends_with("locales"));
        if !is_hashed(&name) && !earlier_layout {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
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
        name: without_hash(
            &file
                .strip_prefix(out_dir())
                .unwrap_or(file)
                .display()
                .to_string(),
        ),
        raw,
        gzip: gzipped(file)?,
        brotli,
    })
}

/// Builds the widget and measures what a storefront downloads.
pub fn sizes() -> Result<Sizes> {
    let built = build_all()?;
    let measure = |files: &[PathBuf]| {
        files
            .iter()
            .map(|f| file_size(f))
            .collect::<Result<Vec<_>>>()
    };
    Ok(Sizes {
        files: measure(&built.files)?,
        tables: measure(&built.tables)?,
    })
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
    if let Some(table) = breakdown()? {
        println!("\nwho owns the wasm's bytes (before gzip):\n{table}");
    }
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
            "the widget's wasm links serde_json ({linked} names): read the browser's parsed JSON by hand, as src/view.rs does"
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

/// Who owns the wasm's bytes, as a Markdown table: twiggy's sizes of each function and data
/// segment, summed by owner. Read from a build that keeps its function names (wasm-opt `-g`, the
/// same passes otherwise), so before gzip and before the names are shortened; `None`, said on
/// the console, where twiggy is not installed (`cargo install twiggy`).
pub fn breakdown() -> Result<Option<String>> {
    let Ok(twiggy) = which("twiggy") else {
        println!("twiggy is not installed (cargo install twiggy): no breakdown of the wasm");
        return Ok(None);
    };
    let dir = target_dir().join("widget-breakdown");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/release/usdt_checkout.wasm");
    let mut bindgen = cmd("wasm-bindgen --target web --out-name named --out-dir");
    bindgen.arg(&dir).arg(&wasm);
    run(bindgen)?;
    let named = dir.join("named_bg.wasm");
    let mut opt = cmd(&format!(
        "wasm-opt -g -Oz --converge --low-memory-unused --strip-producers --strip-target-features {WASM_FEATURES} -o"
    ));
    opt.arg(&named).arg(&named);
    run(opt)?;
    let output = Command::new(twiggy)
        .args(["top", "-n", "1000000", "--format", "csv"])
        .arg(&named)
        .output()
        .map_err(|e| format!("twiggy: {e}"))?;
    if !output.status.success() {
        return Err("twiggy top failed".into());
    }
    let mut owners: Vec<(&str, u64)> = Vec::new();
    let mut total = 0;
    for line in String::from_utf8_lossy(&output.stdout).lines().skip(1) {
        let (name, size) = csv_name_and_size(line);
        let Some(owner) = owner(&name) else { continue };
        total += size;
        match owners.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, bytes)) => *bytes += size,
            None => owners.push((owner, size)),
        }
    }
    owners.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    let mut table = String::from("| owner | bytes | share |\n|---|---|---|\n");
    for (owner, bytes) in &owners {
        table.push_str(&format!(
            "| {owner} | {bytes} | {:.1}% |\n",
            *bytes as f64 * 100.0 / total.max(1) as f64
        ));
    }
    table.push_str(&format!("| **total** | **{total}** | |\n"));
    Ok(Some(table))
}

fn which(program: &str) -> Result<PathBuf> {
    std::env::split_paths(&setup::path())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("{program} is not on PATH"))
}

/// The first two fields of a line of twiggy's CSV: the item's name (quoted when it holds a comma
/// or a quote, quotes doubled) and its shallow size.
fn csv_name_and_size(line: &str) -> (String, u64) {
    let (mut name, mut rest) = (String::new(), line);
    if let Some(quoted) = line.strip_prefix('"') {
        let mut chars = quoted.char_indices().peekable();
        rest = "";
        while let Some((i, c)) = chars.next() {
            if c != '"' {
                name.push(c);
            } else if chars.peek().is_some_and(|(_, next)| *next == '"') {
                name.push('"');
                chars.next();
            } else {
                rest = quoted[i + 1..].trim_start_matches(',');
                break;
            }
        }
    } else if let Some((first, after)) = line.split_once(',') {
        name = first.to_owned();
        rest = after;
    }
    let size = rest.split(',').next().unwrap_or("").parse().unwrap_or(0);
    (name, size)
}

/// Who an item of the wasm is there for, by its (demangled) name; `None` for the name section,
/// which the download does not carry. First match wins: a generic of core or Yew instantiated for
/// the widget's own types is the widget's.
fn owner(name: &str) -> Option<&'static str> {
    let has = |part: &str| name.contains(part);
    Some(
        if name.contains("names\" subsection") || has("section 'name'") {
            return None;
        } else if name.starts_with("data segment") {
            "data: English texts, class and field names, panic messages and their source paths, Unicode and QR tables"
        } else if has("CompStateInner<COMP> as yew::html::component::lifecycle::Stateful>::view") {
            "the widget's markup: its components' `html!`, compiled into Yew's generic view"
        } else if has("usdt_checkout_protocol") || name.starts_with("tiny_keccak") {
            "the protocol crate: addresses (EIP-55 by Keccak), chain registry, error codes"
        } else if has("usdt_checkout") {
            "the widget's own code: hooks, requests, the view reader, options, texts, QR segments"
        } else if has("qrcode") || has("find_map::check") {
            // The QR code's version search (a find_map), where qrcode's encoder is inlined.
            "the QR encoder (qrcode): error correction, masks, module placement"
        } else if has("yew")
            || has("implicit_clone")
            || has("indexmap")
            || has("hashbrown")
            || has("type_id")
        {
            "Yew's runtime: virtual DOM, reconciler, scheduler, hooks, event registry"
        } else if has("gloo_net") || name.starts_with("http::") {
            "gloo-net: HTTP requests"
        } else if has("wasm_bindgen")
            || has("js_sys")
            || has("web_sys")
            || has("gloo_")
            || has("shim")
            || has("externref")
        {
            "wasm-bindgen, js-sys, web-sys: the Rust side of the bindings"
        } else if has("talc") {
            "the allocator (talc)"
        } else if [
            "import ", "export ", "type[", "elem", "table", "global", "memory", "code[",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || has("headers")
            || has("magic bytes")
        {
            "wasm structure: imports, exports, types, function table, unnamed shims"
        } else if has("fmt")
            || has("panic")
            || has("slice_error")
            || has("unicode")
            || has("_failed")
        {
            "Rust core: formatting and panic messages (index and unwrap checks in Yew and std)"
        } else {
            "Rust core and alloc: strings, Vec, Rc, BTreeMap (Yew's scheduler), memcpy"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef";

    #[test]
    fn a_file_is_named_by_its_content_before_its_extension() {
        assert_eq!(
            hashed_name("core/usdt-checkout_bg.wasm", HASH),
            "core/usdt-checkout_bg.0123456789abcdef.wasm"
        );
        assert_eq!(
            hashed_name("usdt-checkout.css", HASH),
            "usdt-checkout.0123456789abcdef.css"
        );
        assert!(is_hashed(&hashed_name("core/usdt-checkout.js", HASH)));
        assert!(is_hashed(HASH));
        assert!(!is_hashed("usdt-checkout.js"));
        assert!(!is_hashed("usdt-checkout.0123456789ABCDEF.js"));
        assert_eq!(
            without_hash("locales/0123456789abcdef/de.json"),
            "locales/[hash]/de.json"
        );
        assert_eq!(
            without_hash("core/usdt-checkout.0123456789abcdef.js"),
            "core/usdt-checkout.[hash].js"
        );
    }

    #[test]
    fn each_reference_is_renamed_once_or_the_build_fails() {
        let embed =
            r#"const w=fetch(new URL("./core/a.wasm",import.meta.url)),c=import("./core/a.js");"#;
        assert_eq!(
            renamed(embed, &[("./core/a.js", "./core/a.1.js")]).unwrap(),
            r#"const w=fetch(new URL("./core/a.wasm",import.meta.url)),c=import("./core/a.1.js");"#
        );
        // Gone (the embed changed and the build did not), or there twice: never guessed.
        assert!(renamed(embed, &[("./core/b.js", "./core/b.1.js")]).is_err());
        assert!(renamed(&format!("{embed}{embed}"), &[("./core/a.js", "x")]).is_err());
        // Only a whole quoted name: `./core/a.js` is not renamed inside another.
        assert!(renamed(r#"import("./core/a.js.map")"#, &[("./core/a.js", "x")]).is_err());
    }

    #[test]
    fn publishing_removes_the_previous_builds_files_and_keeps_the_current() {
        let dir = std::env::temp_dir().join(format!("widget-publish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let current = [
            "usdt-checkout.js",
            "core/usdt-checkout.0123456789abcdef.js",
            "locales/0123456789abcdef/de.json",
        ];
        let previous = [
            "core/usdt-checkout.fedcba9876543210.js",
            "core/usdt-checkout.fedcba9876543210.js.br",
            "locales/fedcba9876543210/de.json",
            // The layout before names carried hashes.
            "core/usdt-checkout_bg.wasm",
            "core/usdt-checkout.d.ts",
            "locales/de.json",
            "usdt-checkout.css",
            "usdt-checkout.css.gz",
        ];
        let mut files: Vec<String> = current.iter().map(|f| f.to_string()).collect();
        files.extend(current.iter().map(|f| format!("{f}.br")));
        files.extend(current.iter().map(|f| format!("{f}.gz")));
        for file in files.iter().map(String::as_str).chain(previous) {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        let kept: Vec<PathBuf> = current.iter().map(|f| dir.join(f)).collect();
        remove_previous(&dir, &kept).unwrap();
        for file in &files {
            assert!(dir.join(file).exists(), "{file} was removed");
        }
        for file in previous {
            assert!(!dir.join(file).exists(), "{file} is left");
        }
        assert!(!dir.join("locales/fedcba9876543210").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn twiggys_csv_is_read_with_commas_and_quotes_in_names() {
        assert_eq!(
            csv_name_and_size("usdt_checkout::cat::h88,109,0.02,,"),
            ("usdt_checkout::cat::h88".into(), 109)
        );
        assert_eq!(
            csv_name_and_size(r#""core::ptr::drop_in_place<(A,B)>::h1",203,0.04,,"#),
            ("core::ptr::drop_in_place<(A,B)>::h1".into(), 203)
        );
        assert_eq!(
            csv_name_and_size(r#""""function names"" subsection",125778,29.07,,"#),
            (r#""function names" subsection"#.into(), 125778)
        );
    }

    #[test]
    fn each_item_has_one_owner_and_the_name_section_none() {
        assert_eq!(owner(r#""function names" subsection"#), None);
        let of = |name| owner(name).unwrap().split(':').next().unwrap().to_owned();
        assert_eq!(of("data segment \".rodata\""), "data");
        assert_eq!(
            of(
                "<yew::html::component::lifecycle::CompStateInner<COMP> as yew::html::component::lifecycle::Stateful>::view::h96"
            ),
            "the widget's markup"
        );
        assert_eq!(
            of("<alloc::rc::Rc<T> as yew::utils::RcExt<T>>::unwrap_or_clone::h0e"),
            "Yew's runtime"
        );
        assert_eq!(
            of("core::ptr::drop_in_place<alloc::rc::Rc<usdt_checkout::client::Offer>>::h44"),
            "the widget's own code"
        );
        assert_eq!(
            of(
                "<usdt_checkout_protocol::address::Address as core::str::traits::FromStr>::from_str::ha7"
            ),
            "the protocol crate"
        );
        assert_eq!(
            of("<char as core[c5930c85a12de822]::fmt::Debug>::fmt"),
            "Rust core"
        );
        assert_eq!(of("import ./w_bg.js::__wbg_fetch_858f"), "wasm structure");
    }
}
