// Writes `<file>.br` and `<file>.gz` beside each file named on the command line, at the highest
// levels: the checkout server serves them to browsers that accept them (compressed once, at
// build time). Node's zlib, so no other tool is needed.
import { readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

for (const file of process.argv.slice(2)) {
  const bytes = readFileSync(file);
  writeFileSync(`${file}.br`, brotliCompressSync(bytes, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  }));
  writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
}
