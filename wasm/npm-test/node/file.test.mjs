// The package under Node with storage "file": index files on the file system, read lazily
// through a file descriptor; also searchMany, the idType option and searches while an
// addMany runs. Real data: the first 2,000 debian-384 vectors and an index of them built by
// the native CLI (target/wasm-fixtures, made by scripts/wasm-fixtures.sh).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import init, { Index } from "vectrove";

const FIXTURES = fileURLToPath(new URL("../../../target/wasm-fixtures/", import.meta.url));
const DIM = 384;

function fvecs(path, limit = Infinity) {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const record = 4 + DIM * 4;
  const n = Math.min(limit, buf.byteLength / record);
  const out = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    assert.equal(view.getInt32(i * record, true), DIM);
    for (let d = 0; d < DIM; d++) out[i * DIM + d] = view.getFloat32(i * record + 4 + d * 4, true);
  }
  return out;
}

let dir;
let base;
let queries;
const row = (data, i) => data.subarray(i * DIM, (i + 1) * DIM);

before(async () => {
  await init();
  dir = mkdtempSync(join(tmpdir(), "vectrove-node-"));
  base = fvecs(join(FIXTURES, "debian-2k.fvecs"));
  queries = fvecs(join(FIXTURES, "queries-100.fvecs"), 50);
});

after(() => rmSync(dir, { recursive: true, force: true }));

function built(n = 2000) {
  const index = new Index(DIM, { metric: "cosine", seed: 1 });
  const ids = Float64Array.from({ length: n }, (_, i) => i);
  return { index, ready: index.addMany(ids, base.subarray(0, n * DIM)) };
}

const noTemp = () => assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);

test("save(path) and open(path): the vectors read lazily from the file, the same results", async () => {
  const { index, ready } = built();
  await ready;
  const path = join(dir, "docs.vtrv");
  await index.save(path); // storage "file" is the default under Node
  assert.equal(index.name, path);
  noTemp();
  assert.deepEqual(readFileSync(path), Buffer.from(index.toBytes()));

  const opened = await Index.open(path, { cacheBytes: 64 << 10 });
  assert.equal(opened.storage, "file");
  assert.equal(opened.length, 2000);
  for (let q = 0; q < 50; q++) {
    const want = index.searchSync(row(queries, q), 10, { ef: 64 });
    assert.deepEqual(opened.searchSync(row(queries, q), 10, { ef: 64 }), want);
    assert.deepEqual(await opened.search(row(queries, q), 10, { ef: 64 }), want);
  }
  const s = opened.stats();
  assert.ok(s.cacheMisses > 0, "vectors were read from the file");
  assert.ok(s.cacheBytes <= 64 << 10, `the cache stays within its budget: ${s.cacheBytes}`);

  const whole = await Index.open(path, { storage: "memory" });
  assert.equal(whole.storage, "memory");
  assert.deepEqual(whole.searchSync(row(queries, 0), 10), index.searchSync(row(queries, 0), 10));
  for (const i of [index, opened, whole]) i.free();
});

test("the native CLI's index file opens from the file system and answers as from its bytes", async () => {
  const path = join(FIXTURES, "golden.vtrv");
  const lazy = await Index.open(path, { storage: "file", verify: true });
  const mem = Index.fromBytes(readFileSync(path));
  assert.equal(lazy.length, mem.length);
  for (let q = 0; q < 20; q++) {
    assert.deepEqual(lazy.searchSync(row(queries, q), 10), mem.searchSync(row(queries, q), 10));
  }
  lazy.free();
  mem.free();
});

test("a lazily opened file takes additions and saves over itself", async () => {
  const { index, ready } = built(500);
  await ready;
  const path = join(dir, "grow.vtrv");
  await index.save(path);
  index.free();
  const opened = await Index.open(path);
  opened.add(5000, row(base, 1999));
  assert.equal(opened.length, 501);
  await opened.save(); // to the file it was opened from
  noTemp();
  assert.equal(opened.storage, "file");
  assert.equal((await opened.search(row(base, 1999), 1))[0].id, 5000);
  opened.free();
  const again = await Index.open(path);
  assert.equal(again.length, 501);
  assert.equal(again.searchSync(row(base, 1999), 1)[0].id, 5000);
  again.free();
});

test("import, exists and remove on the file system", async () => {
  const path = join(dir, "imported.vtrv");
  assert.equal(await Index.exists(path), false);
  const bytes = readFileSync(join(FIXTURES, "golden.vtrv"));
  const index = await Index.import(path, new Blob([bytes]));
  assert.equal(index.storage, "file");
  assert.equal(await Index.exists(path), true);
  // One options object for a name serves open, exists and remove alike; a misspelt key
  // is still a TypeError.
  const options = { storage: "file", cacheBytes: 1 << 20, verify: true };
  assert.equal(await Index.exists(path, options), true);
  await assert.rejects(Index.exists(path, { storage: "file", cacheByte: 1 }), {
    name: "TypeError",
    message: /cacheByte.*cacheBytes/,
  });
  assert.deepEqual(readFileSync(path), bytes);
  index.free();
  // A truncated source stores nothing.
  const cut = join(dir, "cut.vtrv");
  await assert.rejects(Index.import(cut, bytes.subarray(0, bytes.length - 100)), { name: "CorruptIndexError" });
  assert.equal(await Index.exists(cut), false);
  noTemp();
  await Index.remove(path, options);
  assert.equal(await Index.exists(path), false);
  await Index.remove(path); // removing what is not there is fine
});

test("bad files and paths are named errors, and a failed save leaves nothing behind", async () => {
  await assert.rejects(Index.open(join(dir, "missing.vtrv")), (e) => e.name === "NotFoundError" && e.message.includes("missing.vtrv"));
  const junk = join(dir, "junk.vtrv");
  writeFileSync(junk, "not an index at all, not at all");
  await assert.rejects(Index.open(junk), { name: "CorruptIndexError" });

  const { index, ready } = built(300);
  await ready;
  const cut = join(dir, "cut-open.vtrv");
  await index.save(cut);
  truncateSync(cut, statSync(cut).size - 1000);
  await assert.rejects(Index.open(cut), { name: "CorruptIndexError" });

  // A directory where the file should go: the rename fails, the temporary file is removed.
  const taken = join(dir, "taken.vtrv");
  mkdirSync(taken);
  await assert.rejects(index.save(taken), { name: "StorageError" });
  assert.ok(statSync(taken).isDirectory());
  noTemp();
  await assert.rejects(index.save(join(dir, "no", "such", "dir.vtrv")), { name: "NotFoundError" });
  await assert.rejects(index.save(""), { name: "InvalidArgumentError" });
  for (const storage of ["opfs", "indexeddb"]) {
    await assert.rejects(index.save("x", { storage }), { name: "UnsupportedError" }, storage);
  }
  index.free();
});

test("searchMany: every query's hits in typed arrays, the same as search", async () => {
  const { index, ready } = built(1000);
  await ready;
  const n = 50;
  const batch = await index.searchMany(queries.subarray(0, n * DIM), 10, { ef: 64 });
  assert.equal(batch.k, 10);
  assert.ok(batch.ids instanceof Float64Array && batch.distances instanceof Float32Array);
  assert.ok(batch.counts instanceof Uint32Array && batch.counts.length === n);
  for (let q = 0; q < n; q++) {
    const want = index.searchSync(row(queries, q), 10, { ef: 64 });
    assert.equal(batch.counts[q], want.length);
    want.forEach((hit, j) => {
      assert.equal(batch.ids[q * 10 + j], hit.id);
      assert.equal(batch.distances[q * 10 + j], Math.fround(hit.distance));
    });
  }
  // A filter that leaves three points: rows of three hits, padded.
  const few = await index.searchMany(queries.subarray(0, 2 * DIM), 10, { filter: [1, 2, 3] });
  assert.deepEqual([...few.counts], [3, 3]);
  assert.deepEqual([...few.ids.subarray(0, 3)].sort(), [1, 2, 3]);
  assert.equal(few.distances[5], Infinity);
  // The same filter as a bitmap: bits 1, 2 and 3 of byte 0.
  const bitmap = new Uint8Array(125);
  bitmap[0] = 0b1110;
  const viaBits = await index.searchMany(queries.subarray(0, 2 * DIM), 10, { filter: bitmap });
  assert.deepEqual([...viaBits.ids], [...few.ids]);
  bitmap[124] = 0x80; // id 999
  assert.ok(index.searchSync(row(base, 999), 1, { filter: bitmap })[0].id === 999);
  await assert.rejects(index.searchMany(new Float32Array(DIM + 1), 10), { name: "DimensionMismatchError" });
  index.free();
});

test("idType: ids come back as one type per index", async () => {
  const big = 2n ** 60n + 7n;
  const numbers = new Index(3, { metric: "l2" });
  assert.equal(numbers.idType, "number");
  numbers.add(7n, [1, 0, 0]); // a BigInt that a number holds is fine
  assert.throws(() => numbers.add(big, [0, 1, 0]), (e) => e.name === "InvalidArgumentError" && /idType/.test(e.message));
  assert.equal(typeof numbers.searchSync([1, 0, 0], 1)[0].id, "number");

  const bigints = new Index(3, { metric: "l2", idType: "bigint" });
  assert.equal(bigints.idType, "bigint");
  bigints.add(big, [0, 1, 0]);
  bigints.add(3, [1, 0, 0]);
  const hits = bigints.searchSync([0, 1, 0], 2);
  assert.deepEqual(hits.map((h) => h.id), [big, 3n]);
  const seen = [];
  bigints.searchSync([0, 1, 0], 2, { filter: (id) => { seen.push(typeof id); return true; } });
  assert.ok(seen.length > 0 && seen.every((t) => t === "bigint"));
  const batch = await bigints.searchMany(new Float32Array([0, 1, 0]), 2);
  assert.ok(batch.ids instanceof BigUint64Array);
  assert.deepEqual([...batch.ids], [big, 3n]);

  // A file with an id above 2^53 - 1 opens as "number" only if asked for "bigint".
  const bytes = bigints.toBytes();
  assert.throws(() => Index.fromBytes(bytes), (e) => e.name === "InvalidArgumentError" && /idType/.test(e.message));
  const back = Index.fromBytes(bytes, { idType: "bigint" });
  assert.deepEqual(back.searchSync([0, 1, 0], 1)[0].id, big);
  assert.throws(() => new Index(3, { idType: "string" }), { name: "InvalidArgumentError" });
  for (const i of [numbers, bigints, back]) i.free();
});

test("searches answer while an addMany runs, on the points inserted so far", async () => {
  const index = new Index(DIM, { metric: "cosine", seed: 1 });
  const ids = Float64Array.from({ length: 2000 }, (_, i) => i);
  let done = 0;
  const adding = index.addMany(ids, base, { onProgress: (d) => { done = d; } });
  const answered = [];
  let busy = null;
  while (done < 2000) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (done === 0 || done === 2000) continue;
    const seenDone = done;
    const hits = index.searchSync(row(base, 0), 5);
    const asynchronous = await index.search(row(base, 0), 5);
    assert.ok(hits.every((h) => h.id < index.length));
    answered.push([seenDone, hits.length, asynchronous.length]);
    if (busy === null) {
      try {
        index.add(99999, row(base, 1));
      } catch (e) {
        busy = e.name;
      }
    }
  }
  await adding;
  assert.ok(answered.length > 0, "some searches ran during the addMany");
  assert.ok(answered.every(([, a, b]) => a > 0 && b > 0));
  assert.equal(busy, "BusyError", "other changes wait for the addMany");
  assert.equal(index.length, 2000);
  assert.equal(index.searchSync(row(base, 1234), 1)[0].id, 1234);
  index.free();
});
