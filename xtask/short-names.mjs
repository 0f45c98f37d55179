// Gives the widget's JS bindings the short import and export names wasm-opt gave its wasm
// (`--minify-imports-and-exports-and-modules`, whose mapping is the first argument): the names
// wasm-bindgen writes end in a 16-digit hash each, about 170 of them, written twice (in the wasm
// and in its bindings), and gzip cannot shorten a hash. Arguments: the mapping (JSON), the wasm
// as renamed, the bindings to rewrite in place. Fails, and writes nothing, unless every import
// the wasm asks for is provided under its new name and no old name is left.
import { readFileSync, writeFileSync } from "node:fs";

const [mapFile, wasmFile, jsFile] = process.argv.slice(2);
const map = JSON.parse(readFileSync(mapFile, "utf8"));
let js = readFileSync(jsFile, "utf8");
const wanted = WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasmFile)));
const fail = (why) => {
  console.error(`short-names: ${why}`);
  process.exit(1);
};

const modules = new Set(wanted.map((i) => i.module));
const oldModules = new Set(map.imports.map(([module]) => module));
if (modules.size !== 1 || oldModules.size !== 1) {
  fail(`expected one import module, got ${[...oldModules]} renamed to ${[...modules]}`);
}
const [module] = modules;
const [oldModule] = oldModules;
const moduleKey = JSON.stringify(oldModule);
if (js.split(moduleKey).length !== 2) fail(`the bindings name ${moduleKey} other than once`);
js = js.replace(moduleKey, JSON.stringify(module));

// An import is a key of the bindings' import object (`name: function(...)`); an export is read
// as `wasm.name`. The old names are unique (hashed or prefixed), so whole-word matches are them.
const word = (name) => new RegExp(`(?<![\\w$])${name.replace(/\$/g, "\\$")}(?![\\w$])`, "g");
for (const [, name, short] of map.imports) {
  const key = new RegExp(`(?<![\\w$.])${name.replace(/\$/g, "\\$")}(?=\\s*:)`, "g");
  if ((js.match(key) ?? []).length !== 1) fail(`import ${name} is not one key of the bindings`);
  js = js.replace(key, JSON.stringify(short));
}
for (const [name, short] of map.exports) {
  js = js.replace(new RegExp(`\\bwasm\\.${name}(?![\\w$])`, "g"), `wasm[${JSON.stringify(short)}]`);
}
for (const [, name] of map.imports) {
  if (word(name).test(js)) fail(`import ${name} is still named in the bindings`);
}
for (const [name] of map.exports) {
  if (new RegExp(`\\bwasm\\.${name}(?![\\w$])`).test(js)) fail(`export ${name} is still read`);
}
for (const { name } of wanted) {
  if (!js.includes(`${JSON.stringify(name)}:`)) fail(`the wasm's import ${name} is not provided`);
}
writeFileSync(jsFile, js);
