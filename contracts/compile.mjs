// Compiles the contracts with solc from npm (pinned in package-lock.json) and writes
// build/<Name>.json as {abi, bytecode}. With --check, compares instead of writing and fails if
// the committed JSON is not what the sources compile to.
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");
const sources = Object.fromEntries(
  readdirSync(here)
    .filter((file) => file.endsWith(".sol"))
    .sort()
    .map((file) => [file, { content: readFileSync(join(here, file), "utf8") }]),
);

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    // No metadata hash: the bytecode then depends only on the sources, not on file paths.
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

let stale = [];
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, { abi, evm }] of Object.entries(contracts)) {
    const path = join(here, "build", `${name}.json`);
    const json = JSON.stringify({ abi, bytecode: `0x${evm.bytecode.object}` }, null, 2) + "\n";
    if (check) {
      let committed = "";
      try { committed = readFileSync(path, "utf8"); } catch {}
      if (committed !== json) stale.push(`build/${name}.json (from ${file})`);
    } else {
      writeFileSync(path, json);
      console.log(`wrote build/${name}.json`);
    }
  }
}
if (stale.length) {
  console.error(`out of date: ${stale.join(", ")}; run: node contracts/compile.mjs`);
  process.exit(1);
}
if (check) console.log(`contracts: compiled JSON matches the sources (solc ${solc.version()})`);
