// createIndexWorker from a page: OPFS-backed indexes, progress, abort, errors that keep
// their names, and persistence across a reload. The runner loads this page with ?phase=1,
// then reloads it with ?phase=2 (same browser profile) to check what phase 1 stored.
import init, { Index, Pca, createIndexWorker, version } from "vectrove";
import {
  test, done, assert, equal, failsWith, randomVectors, row, sameVector,
} from "./harness.js";

const DIM = 24;
const N = 3000;
const data = randomVectors(N, DIM, 1234);
const ids = new Float64Array(N).map((_, i) => i * 10); // ids that are not slot numbers
const PERSIST = "npm-test-persist";
const IMPORTED = "npm-test-import";
const FROM_URL = "npm-test-url";
const IDB = "npm-test-idb";
const phase = new URL(location.href).searchParams.get("phase") ?? "1";

await init();
let w;
let remote;

async function clean(name, storage) {
  if (await w.exists(name, { storage })) await w.remove(name, { storage });
}

test(`[${phase}] createIndexWorker starts and loads wasm`, async () => {
  equal(globalThis.crossOriginIsolated, true, "the test page is cross-origin isolated");
  w = await createIndexWorker();
  equal(w.version, version(), "worker runs the same version");
  assert(w.worker instanceof Worker, "exposes the Worker");
});

if (phase === "1") {
  test("create, addMany with progress, search", async () => {
    for (const name of [PERSIST, IMPORTED, FROM_URL]) await clean(name, "opfs");
    await clean(IDB, "indexeddb");
    remote = await w.create(DIM, { metric: "l2", seed: 5 });
    equal(remote.dim, DIM, "dim");
    equal(remote.length, 0, "empty");
    equal(remote.kind, "hnsw", "kind");
    equal(remote.storage, "memory", "storage");
    equal(remote.metric, "l2", "metric");
    const progress = [];
    await remote.addMany(ids, data, { onProgress: (d, t) => progress.push([d, t]) });
    equal(remote.length, N, "length property refreshed after addMany");
    assert(progress.length > 1, `several progress messages (${progress.length})`);
    assert(progress.every(([, t]) => t === N), "progress total");
    equal(progress[progress.length - 1][0], N, "progress reaches the total");
    const hits = await remote.search(row(data, DIM, 17), 5);
    equal(hits[0].id, 170, "nearest is the vector itself");
    const filtered = await remote.search(row(data, DIM, 17), 5, { filter: [20, 30, 40] });
    assert(filtered.length === 3 && filtered.every((h) => [20, 30, 40].includes(h.id)), "filter by allowed ids");
    assert(sameVector(await remote.get(170), row(data, DIM, 17)), "get");
    equal(await remote.contains(170), true, "contains");
    await remote.add(99999, row(data, DIM, 3));
    equal(remote.length, N + 1, "length after add");
    equal(await remote.delete(99999), true, "delete");
    equal(remote.length, N, "length after delete");
    const stats = await remote.stats();
    assert(typeof stats.cacheHits === "number", "stats");
    equal((await remote.searchSync(row(data, DIM, 17), 1))[0].id, 170, "searchSync");
  });

  test("errors keep their name and message across the worker", async () => {
    const local = new Index(DIM);
    const short = new Float32Array(DIM - 1);
    const here = await failsWith("DimensionMismatchError", () => local.add(1, short));
    const there = await failsWith("DimensionMismatchError", () => remote.add(1, short));
    equal(there.message, here.message, "same message as on the page");
    local.add(170, row(data, DIM, 0));
    const dupHere = await failsWith("DuplicateIdError", () => local.add(170, row(data, DIM, 0)));
    const dupThere = await failsWith("DuplicateIdError", () => remote.add(170, row(data, DIM, 0)));
    equal(dupThere.message, dupHere.message, "same DuplicateIdError message");
    local.free();
    await failsWith("DimensionMismatchError", () => remote.search(new Float32Array(3), 1));
    await failsWith("NotFoundError", () => w.open("npm-test-missing", { storage: "opfs" }));
    await failsWith("CorruptIndexError", () => w.fromBytes(new Uint8Array(100)));
    await failsWith("InvalidArgumentError", () => remote.search(row(data, DIM, 0), 1, { filter: () => true }));
    equal(remote.length, N, "the index is intact after errors");
  });

  test("addMany abort via AbortSignal -> AbortError on the page", async () => {
    const big = await w.create(DIM, { seed: 9 });
    const n = 30000;
    const vectors = randomVectors(n, DIM, 77);
    const bigIds = new Uint32Array(n).map((_, i) => i);
    const controller = new AbortController();
    let seen = 0;
    const err = await failsWith("AbortError", () => big.addMany(bigIds, vectors, {
      signal: controller.signal,
      onProgress: (d) => {
        if (seen === 0) controller.abort();
        seen = d;
      },
    }));
    assert(err instanceof Error, "an Error");
    assert(big.length > 0 && big.length < n, `vectors inserted before the abort stay (${big.length})`);
    equal(vectors.length, n * DIM, "the caller's vectors are not detached");
    const before = big.length;
    await failsWith("AbortError", () => big.addMany([n + 1], row(vectors, DIM, 0), { signal: AbortSignal.abort() }));
    equal(big.length, before, "an already aborted signal stops the call before it inserts");
    await big.add(n + 2, row(vectors, DIM, 1));
    // A long insert: close meanwhile gets BusyError while a search answers on the points
    // inserted so far (it has many slices, so the worker reads those messages while it
    // runs), then it is aborted.
    const stop = new AbortController();
    const adding = big.addMany(
      new Float64Array(20000).map((_, i) => n + 10 + i), vectors.subarray(0, 20000 * DIM), { signal: stop.signal });
    await failsWith("BusyError", () => big.close());
    equal((await big.search(row(vectors, DIM, 1), 1)).length, 1, "a search answers during addMany");
    equal(big.closed, false, "a busy close leaves the index open");
    stop.abort();
    await failsWith("AbortError", () => adding);
    assert(big.length > before + 1, "the insert ran until the abort");
    await Promise.all([big.close(), big.close()]);
    equal(big.closed, true, "closed");
    await failsWith("InvalidArgumentError", () => big.search(row(vectors, DIM, 1), 1));
  });

  test("through the worker: searchMany, idType, checked options (TypeError)", async () => {
    const batch = await remote.searchMany(data.subarray(0, 4 * DIM), 5);
    assert(batch.ids instanceof Float64Array && batch.distances instanceof Float32Array, "typed arrays");
    equal(batch.k, 5, "k");
    for (let q = 0; q < 4; q++) {
      const one = await remote.search(row(data, DIM, q), 5);
      equal(JSON.stringify([...batch.ids.subarray(q * 5, q * 5 + batch.counts[q])]),
        JSON.stringify(one.map((h) => h.id)), `row ${q} is search's answer`);
    }
    const bits = new Uint8Array(8); // ids 20, 30 and 40 as a bitmap
    for (const id of [20, 30, 40]) bits[id >> 3] |= 1 << (id % 8);
    const viaBits = await remote.search(row(data, DIM, 17), 5, { filter: bits });
    equal(JSON.stringify(viaBits.map((h) => h.id).sort()), "[20,30,40]", "a bitmap filter through the worker");
    const keyed = await w.create(DIM, { metric: "l2", idType: "bigint" });
    equal(keyed.idType, "bigint", "idType property");
    const big = 2n ** 63n + 5n;
    await keyed.addMany([big, 1n], data.subarray(0, 2 * DIM));
    const hits = await keyed.search(row(data, DIM, 0), 2);
    equal(typeof hits[0].id, "bigint", "bigint ids through the worker");
    equal(hits[0].id, big, "the id itself");
    const keyedBatch = await keyed.searchMany(data.subarray(0, DIM), 2);
    assert(keyedBatch.ids instanceof BigUint64Array, "a BigUint64Array batch");
    const bytes = await keyed.toBytes();
    await failsWith("InvalidArgumentError", () => w.fromBytes(bytes));
    equal((await w.fromBytes(bytes, { idType: "bigint" })).idType, "bigint", "fromBytes with idType");
    await keyed.close();
    for (const [what, call] of [
      ["create", () => w.create(DIM, { metrc: "l2" })],
      ["search", () => remote.search(row(data, DIM, 0), 3, { efSearch: 10 })],
      ["search callback", () => remote.search(row(data, DIM, 0), 3, { onProgres: () => {} })],
      ["addMany", () => remote.addMany([1], row(data, DIM, 0), { onProgres: () => {} })],
      ["open", () => w.open("x", { storag: "opfs" })],
      ["k", () => remote.search(row(data, DIM, 0), "3")],
      ["vector", () => remote.add(5, Array.from({ length: DIM }, () => "1"))],
    ]) {
      let err;
      try { await call(); } catch (e) { err = e; }
      assert(err instanceof TypeError, `${what}: a TypeError (${err?.name}: ${err?.message})`);
    }
  });

  test("quantisation through the worker", async () => {
    const q = await w.create(DIM, { metric: "l2", seed: 6 });
    await q.addMany(ids, data);
    equal(q.quantization, null, "no codes yet");
    equal(q.quantized, false, "not quantised");
    await q.quantize("sq8");
    equal(q.quantization, "sq8", "the property follows quantize()");
    equal(q.quantized, true, "quantised");
    const hits = await q.search(row(data, DIM, 40), 3, { rerank: 12 });
    equal(hits[0].id, 400, "search on codes, reranked");
    await failsWith("InvalidArgumentError", () => q.quantize("nope"));
    const info = await q.refresh();
    equal(info.quantization, "sq8", "refresh() reports the quantisation");
    const created = await w.create(DIM, { quantize: "sq8" });
    equal(created.quantization, "sq8", "the creation option crosses to the worker");
    equal(created.quantized, false, "pending until 1,000 vectors");
    await created.close();
    await q.close();
  });

  test("save to OPFS, open lazily, lock, reopen", async () => {
    await remote.save(PERSIST, { storage: "opfs" });
    equal(await w.exists(PERSIST, { storage: "opfs" }), true, "exists after save");
    const opened = await w.open(PERSIST, { storage: "opfs", cacheBytes: 256 * 1024 });
    equal(opened.storage, "opfs", "storage");
    equal(opened.name, PERSIST, "name");
    equal(opened.length, N, "length");
    const query = row(data, DIM, 1000);
    const a = await remote.search(query, 10);
    const b = await opened.search(query, 10);
    assert(a.every((h, i) => h.id === b[i].id), "same results as the in-memory index");
    await failsWith("IndexLockedError", () => w.open(PERSIST, { storage: "opfs" }));
    await opened.add(123457, row(data, DIM, 5));
    await opened.save();
    await opened.close();
    const again = await w.open(PERSIST, { storage: "opfs" });
    equal(again.length, N + 1, "reopened after close, with the saved addition");
    await again.close();
  });

  test("import into OPFS from bytes, URL, Response, Blob", async () => {
    const bytes = await remote.toBytes();
    const size = bytes.byteLength;
    const progress = [];
    const imported = await w.import(IMPORTED, bytes, { storage: "opfs", onProgress: (b, t) => progress.push([b, t]) });
    equal(bytes.byteLength, size, "the caller's bytes are not detached");
    equal(imported.length, N, "length");
    equal(imported.storage, "opfs", "storage");
    assert(progress.length > 0, "import progress");
    equal(progress[progress.length - 1][0], size, "import progress reaches the size");
    await imported.close();

    const put = await fetch("/blob/index.vtrv", { method: "PUT", body: bytes });
    assert(put.ok, "uploaded the index file");
    const viaUrl = await w.import(FROM_URL, "/blob/index.vtrv", { storage: "opfs" });
    equal(viaUrl.length, N, "import from a relative URL (resolved against the page)");
    await viaUrl.close();
    const viaResponse = await w.import(FROM_URL, await fetch("/blob/index.vtrv"), { storage: "memory" });
    equal(viaResponse.length, N, "import from a Response");
    await viaResponse.close();
    const viaBlob = await w.import(FROM_URL, new Blob([bytes]), { storage: "opfs" });
    equal(viaBlob.length, N, "import from a Blob");
    await viaBlob.close();

    const broken = bytes.slice(0, 1000);
    await failsWith("CorruptIndexError", () => w.import(IMPORTED, broken, { storage: "opfs" }));
    const kept = await w.open(IMPORTED, { storage: "opfs" });
    equal(kept.length, N, "a failed import leaves the previous index intact");
    await kept.close();
  });

  test("IndexedDB storage in the worker", async () => {
    await remote.save(IDB, { storage: "indexeddb" });
    const opened = await w.open(IDB, { storage: "indexeddb", cacheBytes: 32 * 1024 });
    equal(opened.storage, "indexeddb", "storage");
    equal((await opened.search(row(data, DIM, 2500), 3))[0].id, 25000, "search");
    assert((await opened.stats()).transactions > 0, "read through IndexedDB transactions");
    await opened.close();
  });

  test("toBytes/fromBytes and trainIvf through the worker; transfer option", async () => {
    const bytes = await remote.toBytes();
    const copy = await w.fromBytes(bytes);
    equal(copy.length, N, "fromBytes");
    equal(copy.storage, "memory", "in memory");
    assert(bytes.byteLength > 0, "not detached without transfer");
    const other = await w.fromBytes(bytes, { transfer: true });
    equal(bytes.byteLength, 0, "detached with transfer: true");
    equal(other.length, N, "transferred bytes arrive");
    await copy.close();
    await other.close();

    const ivf = await w.trainIvf(DIM, data, { nlist: 16, seed: 2, metric: "l2" });
    equal(ivf.kind, "ivf", "trainIvf in the worker");
    const vectors = data.slice();
    const ivfIds = ids.slice();
    await ivf.addMany(ivfIds, vectors, { transfer: true });
    equal(vectors.length, 0, "addMany with transfer: true detaches the vectors");
    equal(ivfIds.length, 0, "and the ids");
    equal(ivf.length, N, "transferred vectors arrive");
    const allowed = new Set([12340, 12350, 50]);
    const hits = await ivf.search(row(data, DIM, 1234), 3, { nprobe: 4, filter: allowed });
    assert(hits.every((h) => allowed.has(h.id)), "a Set as the filter");
    equal(hits[0].id, 12340, "IVF search in the worker");
    await ivf.close();
  });

  test("trainKMeans in the worker, with progress and abort", async () => {
    const iterations = [];
    const result = await w.trainKMeans(data, DIM, {
      k: 8, seed: 3, iters: 5, assignments: true, onProgress: (it) => iterations.push(it),
    });
    equal(result.k, 8, "k");
    equal(result.dim, DIM, "dim");
    equal(result.centroids.length, 8 * DIM, "centroids");
    equal(result.assignments.length, N, "assignments");
    assert(result.assignments.every((c) => c < 8), "assignments in range");
    assert(iterations.length > 0 && result.iterations > 0, "progress and iterations");
    assert(typeof result.inertia === "number" && result.inertia > 0, "inertia");
    // Cross-origin isolated: the abort reaches the training loop through a shared flag, so
    // the worker stops between iterations (the run is long enough not to finish first).
    const points = randomVectors(20000, 16, 4);
    const controller = new AbortController();
    const seen = [];
    await failsWith("AbortError", () => w.trainKMeans(points, 16, {
      k: 64, seed: 3, iters: 200, signal: controller.signal,
      onProgress: (it) => { seen.push(it); controller.abort(); },
    }));
    assert(seen.length >= 1, "aborted from a progress callback");
    equal((await w.exists("npm-test-missing")), false, "the worker answers after the abort");
  });

  test("getMany and fitPca in the worker: the stored vectors in bulk, and their projection", async () => {
    const index = await w.create(DIM, { metric: "l2", seed: 2 });
    await index.addMany(ids.slice(0, 500), data.slice(0, 500 * DIM));
    const want = [ids[7], ids[0], ids[499], ids[7]];
    const bulk = await index.getMany(want);
    equal(bulk.length, want.length * DIM, "ids.length * dim values");
    for (const [j, id] of want.entries()) {
      assert(sameVector(bulk.subarray(j * DIM, (j + 1) * DIM), await index.get(id)), `vector of ${id}`);
    }
    equal((await index.getMany(new Float64Array(0))).length, 0, "no ids, no values");
    await failsWith("UnknownIdError", () => index.getMany([ids[1], 3]));
    await failsWith("TypeError", () => index.getMany("not ids"));
    const local = new Index(DIM, { metric: "l2" });
    local.add(5, row(data, DIM, 5));
    assert(sameVector(local.getMany([5]), row(data, DIM, 5)), "Index.getMany on the page");
    await failsWith("UnknownIdError", async () => local.getMany([6]));
    await failsWith("InvalidArgumentError", async () => local.getMany("not ids"));
    local.free();
    const all = await index.getMany(ids.slice(0, 500));
    const fit = await w.fitPca(all, DIM, { components: 3, seed: 1, transform: true });
    equal(fit.dim, DIM, "dim");
    equal(fit.nComponents, 3, "components kept");
    equal(fit.components.length, 3 * DIM, "components");
    equal(fit.mean.length, DIM, "mean");
    equal(fit.projection.length, 500 * 3, "the data projected");
    assert(fit.explainedVariance[0] >= fit.explainedVariance[1], "largest variance first");
    const same = Pca.fit(all, DIM, { components: 3, seed: 1 });
    assert(sameVector(fit.projection, same.transform(all)), "the same projection as Pca on the page");
    same.free();
    equal((await w.fitPca(all, DIM)).projection, undefined, "no projection unless asked");
    await failsWith("DimensionMismatchError", () => w.fitPca(all, 7)); // 500 * 24 values are not rows of 7
    await index.close();
  });

  test("workerUrl and wasmUrl options; start-up failures reject", async () => {
    const explicit = await createIndexWorker({ workerUrl: "/pkg/worker.js", wasmUrl: "/pkg/dist/vectrove_wasm_bg.wasm" });
    equal(explicit.version, version(), "started from explicit URLs");
    explicit.terminate();
    const noScript = await failsWith("Error", () => createIndexWorker({ workerUrl: "/pkg/missing-worker.js" }));
    assert(/could not start/.test(noScript.message), `missing worker script: ${noScript.message}`);
    const noWasm = await createIndexWorker({ wasmUrl: "/pkg/missing.wasm" }).then(() => null, (err) => err);
    assert(noWasm instanceof Error && noWasm.message.length > 0, `a missing .wasm rejects (${noWasm})`);
  });

  test("terminate rejects pending calls", async () => {
    const other = await createIndexWorker();
    const idx = await other.create(DIM);
    const pending = idx.addMany(ids, data);
    other.terminate();
    await failsWith("AbortError", () => pending);
    await failsWith("AbortError", () => other.create(DIM));
    equal(idx.closed, true, "proxies are closed");
  });
} else {
  test("an OPFS index survives the reload", async () => {
    equal(await w.exists(PERSIST, { storage: "opfs" }), true, "exists");
    const opened = await w.open(PERSIST, { storage: "opfs" });
    equal(opened.length, N + 1, "length");
    equal(opened.name, PERSIST, "name");
    assert(sameVector(await opened.get(10 * 42), row(data, DIM, 42)), "vectors read back from OPFS");
    assert(sameVector(await opened.get(123457), row(data, DIM, 5)), "the vector added before save");
    equal((await opened.search(row(data, DIM, 2999), 1))[0].id, 29990, "search");
    await opened.close();
  });

  test("imported indexes survive the reload", async () => {
    for (const name of [IMPORTED, FROM_URL]) {
      const opened = await w.open(name, { storage: "opfs" });
      equal(opened.length, N, `${name} length`);
      await opened.close();
    }
  });

  test("an IndexedDB index survives the reload", async () => {
    const opened = await w.open(IDB, { storage: "indexeddb" });
    equal(opened.length, N, "length");
    equal((await opened.search(row(data, DIM, 7), 1))[0].id, 70, "search");
    await opened.close();
  });

  test("the page reads the OPFS file whole (storage: memory)", async () => {
    const onPage = await Index.open(PERSIST, { storage: "memory" });
    equal(onPage.length, N + 1, "length");
    equal((await onPage.search(row(data, DIM, 9), 1))[0].id, 90, "search on the page");
    onPage.free();
  });

  test("remove cleans up", async () => {
    for (const name of [PERSIST, IMPORTED, FROM_URL]) {
      await w.remove(name, { storage: "opfs" });
      equal(await w.exists(name, { storage: "opfs" }), false, `${name} removed`);
    }
    await w.remove(IDB, { storage: "indexeddb" });
    equal(await w.exists(IDB, { storage: "indexeddb" }), false, "IndexedDB index removed");
    w.terminate();
  });
}

await done();
