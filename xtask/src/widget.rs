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
