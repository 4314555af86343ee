// Writes the demo's data from the full debian-384 set (../shared/data/debian-384):
// the first N package embeddings as .fvecs and their names and descriptions as JSON.
// The outputs are committed, so the demo builds from a fresh clone without the full set.
//
//   node www/data/make-subset.mjs [path/to/debian-384]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = process.argv[2] ?? join(here, "../../../shared/data/debian-384");
const n = 10000;
const DIM = 384;
const RECORD = 4 + DIM * 4;

const base = readFileSync(join(src, "base.fvecs"));
if (base.length < n * RECORD) throw new Error(`${src}/base.fvecs holds fewer than ${n} vectors`);
for (let i = 0; i < n; i++) {
  if (base.readUInt32LE(i * RECORD) !== DIM) throw new Error(`vector ${i} is not ${DIM}-d`);
}
const lines = (file) => readFileSync(join(src, file), "utf8").split("\n").slice(0, n);
const names = lines("base_packages.txt");
const descriptions = lines("base.txt");
if (names.length !== n || descriptions.length !== n) throw new Error("fewer texts than vectors");

writeFileSync(join(here, "debian-10k.fvecs"), base.subarray(0, n * RECORD));
writeFileSync(join(here, "packages.json"), JSON.stringify({ names, descriptions }) + "\n");
console.log(`wrote ${n} packages to ${here}`);
