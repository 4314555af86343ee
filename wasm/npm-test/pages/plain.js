// The package used directly on a page: in-memory indexes, k-means, error names, file bytes.
import init, { Index, KMeans, version, errorNames } from "vectrove";
import {
  test, done, assert, equal, failsWith, randomVectors, row, sameVector, bruteForce,
} from "./harness.js";

const DIM = 16;
const N = 1000;
const data = randomVectors(N, DIM, 42);
let index;

test("init twice, version", async () => {
  const first = init();
  const second = init();
  await Promise.all([first, second]);
  await init();
  assert(/^\d+\.\d+\.\d+/.test(version()), `version() is a semver string (${version()})`);
  equal(errorNames.length, 18, "errorNames lists every error name");
});

test("add, addMany with progress, search (HNSW, l2)", async () => {
  index = new Index(DIM, { metric: "l2", seed: 7 });
  equal(index.dim, DIM, "dim");
  equal(index.metric, "l2", "metric");
  equal(index.kind, "hnsw", "kind");
  equal(index.storage, "memory", "storage");
  for (let i = 0; i < 100; i++) index.add(i, row(data, DIM, i));
  const ids = new Float64Array(N - 100).map((_, i) => i + 100);
  const progress = [];
  await index.addMany(ids, data.slice(100 * DIM), {
    onProgress: (doneCount, total) => progress.push([doneCount, total]),
  });
  equal(index.length, N, "length after add and addMany");
  assert(progress.length > 0, "onProgress was called");
  const [last, total] = progress[progress.length - 1];
  equal(total, N - 100, "progress total");
  equal(last, N - 100, "progress ends at the total");
  assert(progress.every(([d], i) => i === 0 || d >= progress[i - 1][0]), "progress never goes back");

  const hits = await index.search(row(data, DIM, 500), 10);
  equal(hits.length, 10, "k hits");
  equal(hits[0].id, 500, "the vector itself is nearest");
  assert(Math.abs(hits[0].distance) < 1e-5, `distance to itself is 0 (${hits[0].distance})`);
  assert(hits.every((h, i) => i === 0 || h.distance >= hits[i - 1].distance), "hits are sorted");
  assert(hits.every((h) => Object.keys(h).sort().join() === "distance,id"), "hits are {id, distance}");
  const sync = index.searchSync(row(data, DIM, 500), 10);
  assert(sync.length === 10 && sync.every((h, i) => h.id === hits[i].id), "searchSync agrees with search");

  // Recall against brute force on a few random queries.
  const queries = randomVectors(20, DIM, 9);
  let found = 0;
  for (let q = 0; q < 20; q++) {
    const query = row(queries, DIM, q);
    const truth = new Set(bruteForce(data, DIM, query, 10).map((h) => h.id));
    for (const h of await index.search(query, 10, { ef: 64 })) found += truth.has(h.id) ? 1 : 0;
  }
  assert(found / 200 >= 0.9, `recall@10 >= 0.9 (${found / 200})`);
});

test("a filter as a function or as a collection of ids: the same hits", async () => {
  const q = row(data, DIM, 501);
  const allowed = [];
  for (let id = 0; id < N; id += 3) allowed.push(id);
  const want = await index.search(q, 10, { filter: (id) => id % 3 === 0 });
  equal(want.length, 10, "hit count");
  for (const [what, filter] of [
    ["an array", allowed],
    ["a Set", new Set(allowed)],
    ["a Float64Array", Float64Array.from(allowed)],
    ["a Uint32Array", Uint32Array.from(allowed)],
    ["a BigUint64Array", BigUint64Array.from(allowed, BigInt)],
    ["a generator", (function* () { yield* allowed; })()],
  ]) {
    const got = index.searchSync(q, 10, { filter });
    equal(JSON.stringify(got), JSON.stringify(want), `${what} as the filter`);
  }
  equal((await index.search(q, 10, { filter: [] })).length, 0, "an empty collection allows nothing");
  await failsWith("TypeError", () => index.search(q, 10, { filter: 3 }));
  await failsWith("InvalidArgumentError", () => index.search(q, 10, { filter: [1, -2] }));
  await failsWith("TypeError", () => index.search(q, 10, { filter: ["1"] }));
});

test("filter, get, contains, delete", async () => {
  const even = await index.search(row(data, DIM, 501), 10, { filter: (id) => id % 2 === 0 });
  assert(even.length === 10 && even.every((h) => h.id % 2 === 0), "filter keeps even ids only");
  assert(index.contains(7), "contains 7");
  assert(sameVector(index.get(7), row(data, DIM, 7)), "get returns the vector");
  equal(index.get(123456), undefined, "get of a missing id");
  equal(index.delete(7), true, "delete returns true");
  equal(index.contains(7), false, "deleted id is gone");
  equal(index.length, N - 1, "length after delete");
  const hits = await index.search(row(data, DIM, 7), 5);
  assert(hits.every((h) => h.id !== 7), "deleted id is not returned");
});

test("error names", async () => {
  const mismatch = await failsWith("DimensionMismatchError", () => index.add(5000, new Float32Array(DIM - 1)));
  assert(mismatch instanceof Error, "errors are Error objects");
  await failsWith("DimensionMismatchError", () => index.search(new Float32Array(DIM + 1), 5));
  await failsWith("DuplicateIdError", () => index.add(1, row(data, DIM, 1)));
  await failsWith("InvalidVectorError", () => index.add(5001, new Float32Array(DIM).fill(NaN)));
  const cosine = new Index(4, { metric: "cosine" });
  await failsWith("InvalidVectorError", () => cosine.add(1, new Float32Array(4)));
  cosine.free();
  await failsWith("CorruptIndexError", () => Index.fromBytes(new Uint8Array([1, 2, 3, 4])));
  await failsWith("UnsupportedError", () => Index.open("npm-test-page", { storage: "opfs" }));
});

test("toBytes / fromBytes round trip", async () => {
  const bytes = index.toBytes();
  assert(bytes instanceof Uint8Array && bytes.length > N * DIM * 4, "toBytes returns the file");
  const copy = Index.fromBytes(bytes);
  equal(copy.length, index.length, "length");
  equal(copy.dim, DIM, "dim");
  equal(copy.metric, "l2", "metric");
  equal(copy.kind, "hnsw", "kind");
  const query = row(data, DIM, 321);
  const a = await index.search(query, 10);
  const b = await copy.search(query, 10);
  assert(a.every((h, i) => h.id === b[i].id && h.distance === b[i].distance), "same search results");
  assert(sameVector(copy.get(321), query), "same vectors");
  assert(!copy.contains(7), "deletions survive");
  const again = copy.toBytes();
  assert(again.length === bytes.length && again.every((x, i) => x === bytes[i]), "bytes are stable");
  copy.free();
  const broken = bytes.slice();
  broken[broken.length >> 1] ^= 0xff;
  await failsWith("CorruptIndexError", () => Index.fromBytes(broken));
});

test("addMany abort on the page", async () => {
  const big = new Index(DIM, { seed: 3 });
  const n = 20000;
  const vectors = randomVectors(n, DIM, 5);
  const ids = new Uint32Array(n).map((_, i) => i);
  const controller = new AbortController();
  let seen = 0;
  const err = await failsWith("AbortError", () => big.addMany(ids, vectors, {
    signal: controller.signal,
    onProgress: (d) => {
      seen = d;
      controller.abort();
    },
  }));
  assert(err instanceof Error, "AbortError is an Error");
  assert(big.length >= seen && big.length < n, `vectors before the abort stay (${big.length} of ${n})`);
  big.free();
});

test("IVF-Flat", async () => {
  const ivf = Index.trainIvf(DIM, data, { nlist: 16, seed: 1 });
  equal(ivf.kind, "ivf", "kind");
  equal(ivf.length, 0, "trained index is empty");
  await ivf.addMany(new Float64Array(N).map((_, i) => i), data);
  equal(ivf.length, N, "length");
  const hits = await ivf.search(row(data, DIM, 77), 5, { nprobe: 4 });
  equal(hits[0].id, 77, "exact match first");
  const copy = Index.fromBytes(ivf.toBytes());
  equal(copy.kind, "ivf", "IVF survives toBytes/fromBytes");
  copy.free();
  ivf.free();
});

test("quantisation: option, quantize(), rerank, errors", async () => {
  const q = new Index(DIM, { metric: "l2", seed: 4, quantize: "sq8" });
  equal(q.quantization, "sq8", "quantization chosen at creation");
  equal(q.quantized, false, "not trained while empty");
  await q.addMany(new Float64Array(N).map((_, i) => i), data);
  equal(q.quantized, true, "trained once it holds 1,000 vectors");
  const hits = await q.search(row(data, DIM, 321), 5, { ef: 64, rerank: 20 });
  equal(hits[0].id, 321, "searching for a stored vector finds it on codes");
  equal(hits[0].distance, 0, "its distance is exact (reranked)");
  const copy = Index.fromBytes(q.toBytes());
  equal(copy.quantized, true, "codes survive toBytes/fromBytes");
  copy.free();
  const plainIndex = new Index(DIM, { metric: "l2" });
  equal(plainIndex.quantization, null, "no codes by default");
  await failsWith("InvalidArgumentError", () => plainIndex.quantize("sq8"));
  plainIndex.add(1, row(data, DIM, 1));
  await failsWith("InvalidArgumentError", () => plainIndex.quantize("pq"));
  equal(plainIndex.quantization, null, "a failed quantize changes nothing");
  plainIndex.quantize("sq8");
  equal(plainIndex.quantized, true, "quantize() trains now");
  await failsWith("InvalidArgumentError", () => new Index(DIM, { quantize: "sq16" }));
  await failsWith("InvalidArgumentError", () => q.searchSync(row(data, DIM, 1), 1, { rerank: -3 }));
  plainIndex.free();
  q.free();
});

test("KMeans", async () => {
  const dim = 4;
  const centers = [[0, 0, 0, 0], [10, 10, 10, 10], [-10, 10, -10, 10]];
  const noise = randomVectors(300, dim, 11);
  const points = new Float32Array(300 * dim).map((_, i) => centers[Math.floor(i / dim) % 3][i % dim] + noise[i] * 0.5);
  const iterations = [];
  const model = KMeans.train(points, dim, { k: 3, seed: 2, iters: 20, onProgress: (it) => { iterations.push(it); } });
  equal(model.k, 3, "k");
  equal(model.dim, dim, "dim");
  equal(model.centroids.length, 3 * dim, "centroids");
  assert(iterations.length > 0, "onProgress was called");
  const labels = model.assign(points);
  equal(labels.length, 300, "one label per point");
  for (let i = 3; i < 300; i++) equal(labels[i], labels[i % 3], `point ${i} is with its cluster`);
  assert(new Set(labels).size === 3, "three clusters");
  model.free();
  const stopped = KMeans.train(points, dim, { k: 3, seed: 2, iters: 20, tolerance: 0, onProgress: () => false });
  equal(stopped.iterations, 1, "returning false from onProgress stops after one iteration");
  stopped.free();
});

test("IndexedDB storage on the page", async () => {
  const name = "npm-test-page-idb";
  if (await Index.exists(name, { storage: "indexeddb" })) await Index.remove(name, { storage: "indexeddb" });
  await index.save(name, { storage: "indexeddb" });
  equal(await Index.exists(name, { storage: "indexeddb" }), true, "exists after save");
  const opened = await Index.open(name, { storage: "indexeddb", cacheBytes: 64 * 1024 });
  equal(opened.storage, "indexeddb", "storage");
  equal(opened.name, name, "name");
  equal(opened.length, index.length, "length");
  const hits = await opened.search(row(data, DIM, 600), 5);
  equal(hits[0].id, 600, "search through IndexedDB");
  const stats = opened.stats();
  assert(stats.transactions > 0, `IndexedDB transactions counted (${JSON.stringify(stats)})`);
  opened.close();
  await Index.remove(name, { storage: "indexeddb" });
  equal(await Index.exists(name, { storage: "indexeddb" }), false, "removed");
  await failsWith("NotFoundError", () => Index.open(name, { storage: "indexeddb" }));
});

await done();
