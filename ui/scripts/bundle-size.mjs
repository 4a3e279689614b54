// Prints the production bundle's size per file and in total (raw and gzip), after `vite build`.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

const root = new URL("../dist/", import.meta.url).pathname;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
let raw = 0;
let gz = 0;
const rows = files(root)
  .map((p) => {
    const data = readFileSync(p);
    const z = gzipSync(data, { level: 9 }).length;
    raw += data.length;
    gz += z;
    return [relative(root, p), data.length, z];
  })
  .sort((a, b) => b[1] - a[1]);
for (const [name, size, z] of rows) {
  console.log(`  ${name.padEnd(40)} ${kib(size).padStart(11)}  gzip ${kib(z).padStart(10)}`);
}
console.log(`ui bundle: ${rows.length} files, ${kib(raw)} (gzip ${kib(gz)})`);
