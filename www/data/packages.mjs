// Writes the demo's package list from the debian-384 data: the name and the one-line
// description of each of its 50,000 base vectors, in the vectors' order (line i of the
// texts is vector i, so the index's id i is package i).
//
//   node www/data/packages.mjs <debian-384 dir> <out.json>
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [src, out] = process.argv.slice(2);
if (!src || !out) {
  console.error("usage: node www/data/packages.mjs <debian-384 dir> <out.json>");
  process.exit(2);
}
const DIM = 384;
const RECORD = 4 + DIM * 4;
const count = readFileSync(join(src, "base.fvecs")).length / RECORD;
if (!Number.isInteger(count)) throw new Error(`${src}/base.fvecs is not a whole number of ${DIM}-d vectors`);
const lines = (file) => {
  const all = readFileSync(join(src, file), "utf8").split("\n");
  if (all.at(-1) === "") all.pop();
  if (all.length !== count) throw new Error(`${src}/${file} has ${all.length} lines for ${count} vectors`);
  return all;
};
writeFileSync(out, JSON.stringify({ names: lines("base_packages.txt"), descriptions: lines("base.txt") }) + "\n");
console.log(`wrote ${count} packages to ${out}`);
