// Index files read in place over HTTP (storage "http") from the range mount of
// server.mjs, which serves the fixtures of scripts/wasm-fixtures.sh: the results equal
// those of the same file in memory, the rounds a query takes, every failure mode of the
// server as its named error (and a search that works again after a passing failure),
// a cross-origin server, and the same through createIndexWorker.
import init, { Index, createIndexWorker, errorNames } from "vectrove";
import { test, done, assert, equal, failsWith } from "./harness.js";

const params = new URL(location.href).searchParams;
const OTHER = params.get("other"); // the same server on another origin
const DEAD = params.get("dead"); // a port nothing listens on
const QUERIES = 40;
const HNSW_SQ8 = "/range/golden-sq8.vtrv";
const IVF_SQ8 = "/range/golden-ivf-sq8.vtrv";
const HNSW = "/range/golden.vtrv";
const IVF = "/range/golden-ivf.vtrv";

await init();

async function control(query = "") {
  const res = await fetch(`/range-control?${query}`);
  if (!res.ok) throw new Error(`range-control?${query}: ${res.status} ${await res.text()}`);
  return res.json();
}

// The requests and bytes the server counted for `path` since the last reset.
async function served(path) {
  return (await control())[path] ?? { requests: 0, bytes: 0 };
}

async function whole(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

// .fvecs: each record is an int32 dimension, then that many f32.
function fvecs(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dim = view.getInt32(0, true);
  const out = [];
  for (let at = 0; at < bytes.byteLength; at += 4 + dim * 4) {
    out.push(new Float32Array(bytes.slice(at + 4, at + 4 + dim * 4).buffer));
  }
  return out;
}

const queries = fvecs(await whole("/range/queries-100.fvecs")).slice(0, QUERIES);
const files = {};
for (const path of [HNSW_SQ8, IVF_SQ8, HNSW, IVF]) files[path] = await whole(path);
await control("reset=1");

function sameHits(got, want, what) {
  equal(got.length, want.length, `${what}: hit count`);
  for (let i = 0; i < want.length; i++) {
    equal(got[i].id, want[i].id, `${what}: id of hit ${i}`);
    equal(got[i].distance, want[i].distance, `${what}: distance of hit ${i}`);
  }
}

// Opens `path` over HTTP and checks every query against the same file in memory;
// returns the per-query rounds and requests, and what the opening cost.
async function compare(path, options, searchOptions, open = (p, o) => Index.open(p, o)) {
  await control("reset=1");
  const remote = await open(path, { storage: "http", ...options });
  const opening = await served(path);
  const local = Index.fromBytes(files[path]);
  try {
    equal(remote.storage, "http", "storage");
    equal(remote.kind, local.kind, "kind");
    equal(remote.length, local.length, "length");
    equal(remote.dim, local.dim, "dim");
    equal(remote.quantization, local.quantization, "quantization");
    const rounds = [];
    const requests = [];
    for (const [i, q] of queries.entries()) {
      const before = await remote.stats();
      const hits = await remote.search(q, 10, searchOptions);
      const after = await remote.stats();
      rounds.push(after.fetches - before.fetches);
      requests.push(after.requests - before.requests);
      sameHits(hits, local.searchSync(q, 10, searchOptions), `query ${i}`);
    }
    const stats = await remote.stats();
    const total = await served(path);
    equal(stats.requests, total.requests, "the index counts every request the server saw");
    equal(stats.bytes, total.bytes, "and every byte");
    return { remote, rounds, requests, opening, stats };
  } finally {
    local.free();
  }
}

function summary({ rounds, requests, opening, stats }) {
  const max = Math.max(...rounds);
  const mean = (xs) => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2);
  return `open: ${opening.requests} requests, ${(opening.bytes / 1024).toFixed(0)} KiB; ` +
    `per query: ${mean(rounds)} rounds (max ${max}), ${mean(requests)} requests; ` +
    `${(stats.bytes / 1024).toFixed(0)} KiB in all`;
}

test("IVF with codes over HTTP: the results of the file in memory, at most 2 rounds a query", async () => {
  const r = await compare(IVF_SQ8, {}, { nprobe: 8 });
  assert(r.opening.requests <= 3, `opening takes at most 3 requests (${r.opening.requests})`);
  assert(r.opening.bytes < files[IVF_SQ8].length / 4, "opening reads neither the vectors nor the codes");
  assert(Math.max(...r.rounds) <= 2, `at most 2 rounds per query (${r.rounds})`);
  assert(r.rounds.some((n) => n === 2), "queries fetch their lists' codes, then their rerank's vectors");
  r.remote.free();
  return summary(r);
});

test("HNSW with codes over HTTP: the results of the file in memory, at most 1 round a query", async () => {
  const r = await compare(HNSW_SQ8, {}, { ef: 64 });
  assert(Math.max(...r.rounds) <= 1, `at most 1 round per query, the rerank (${r.rounds})`);
  r.remote.free();
  return summary(r);
});

test("HNSW and IVF without codes over HTTP: the results of the file in memory", async () => {
  const h = await compare(HNSW, { cacheBytes: 4 << 20 }, { ef: 32 });
  h.remote.free();
  const i = await compare(IVF, {}, { nprobe: 4 });
  assert(Math.max(...i.rounds) <= 1, `IVF without codes: its lists' vectors in 1 round (${i.rounds})`);
  i.remote.free();
  return `HNSW: ${summary(h)}; IVF: ${summary(i)}`;
});

test("searches at once, and a 4 MiB cache: the same results; a cache too small for one step: StorageError", async () => {
  const local = Index.fromBytes(files[IVF_SQ8]);
  for (const cacheBytes of [32 << 20, 4 << 20]) {
    const index = await Index.open(IVF_SQ8, { storage: "http", cacheBytes });
    // Vectors are fetched in checksummed blocks of 64 KiB: a step of 16 reranked
    // candidates needs up to 1 MiB of them at once.
    const opts = { nprobe: 16, rerank: 16 };
    const together = await Promise.all(queries.slice(0, 12).map((q) => index.search(q, 10, opts)));
    for (const [i, hits] of together.entries()) {
      sameHits(hits, local.searchSync(queries[i], 10, opts), `${cacheBytes} B cache, query ${i}`);
    }
    const stats = index.stats();
    assert(stats.cacheBytes <= stats.cacheBudget, `the cache stays within its budget (${stats.cacheBytes} of ${stats.cacheBudget})`);
    index.free();
  }
  local.free();
  const tiny = await Index.open(IVF_SQ8, { storage: "http", cacheBytes: 256 << 10 });
  const err = await failsWith("StorageError", () => tiny.search(queries[0], 10, { nprobe: 16 }));
  assert(/cacheBytes/.test(err.message), `says what to do: ${err.message}`);
  tiny.free();
});

test("30 ms a request: a round's requests wait out their latency together", async () => {
  await control("reset=1&latency=30");
  try {
    const index = await Index.open(IVF_SQ8, { storage: "http" });
    const t0 = performance.now();
    const before = await index.stats();
    for (const q of queries.slice(10, 15)) await index.search(q, 10, { nprobe: 8 });
    const ms = (performance.now() - t0) / 5;
    const after = await index.stats();
    const rounds = (after.fetches - before.fetches) / 5;
    const requests = (after.requests - before.requests) / 5;
    index.free();
    const { peak } = await served(IVF_SQ8);
    assert(requests > rounds, `more requests than rounds (${requests} for ${rounds})`);
    // Sent one after another, no two requests would ever be at the server together.
    assert(peak >= 2, `requests of a round overlap at the server (at most ${peak} at once)`);
    return `${ms.toFixed(0)} ms a query, ${rounds} rounds, ${requests} requests, up to ${peak} at once`;
  } finally {
    await control("reset=1");
  }
});

test("an index over HTTP is read-only: UnsupportedError; searchSync on a cold cache: NotResidentError", async () => {
  const index = await Index.open(IVF_SQ8, { storage: "http" });
  await failsWith("NotResidentError", () => index.searchSync(queries[0], 10));
  await failsWith("UnsupportedError", () => index.add(1e6, queries[0]));
  await failsWith("UnsupportedError", () => index.addMany([1e6], queries[0]));
  await failsWith("UnsupportedError", () => index.delete(1));
  await failsWith("UnsupportedError", () => index.save("x", { storage: "indexeddb" }));
  await failsWith("UnsupportedError", () => index.toBytes());
  await failsWith("UnsupportedError", () => index.quantize("sq8"));
  await failsWith("UnsupportedError", () => Index.import("x", IVF_SQ8, { storage: "http" }));
  equal((await index.search(queries[0], 10)).length, 10, "searches still work");
  index.free();
});

// Each failure mode of the server, switched on for the searches of an index opened
// while the server was well; then switched off, and the same index searches correctly.
async function failing(mode, name, options = {}) {
  await control("reset=1");
  const index = await Index.open(IVF_SQ8, { storage: "http", ...options });
  const local = Index.fromBytes(files[IVF_SQ8]);
  try {
    await control(`mode=${mode}`);
    const err = await failsWith(name, () => index.search(queries[1], 10));
    await control("mode=ok");
    sameHits(await index.search(queries[1], 10), local.searchSync(queries[1], 10), "after the failure");
    return err;
  } finally {
    index.free();
    local.free();
    await control("reset=1");
  }
}

test("server failures during searches give named errors, and nothing bad is cached", async () => {
  const e500 = await failing("500", "HttpError");
  equal(e500.status, 500, "HttpError.status");
  const e404 = await failing("404", "NotFoundError");
  equal(e404.status, 404, "NotFoundError.status");
  const ignored = await failing("ignore-range", "UnsupportedError");
  assert(/whole file/.test(ignored.message), `says the server ignored the range: ${ignored.message}`);
  await failing("truncate", "CorruptIndexError");
  const t0 = performance.now();
  const hang = await failing("hang", "TimeoutError", { timeoutMs: 300 });
  const waited = performance.now() - t0;
  assert(waited < 5000, `the timeout fired (${waited.toFixed(0)} ms)`);
  return `messages: ${e500.message} | ${hang.message}`;
});

test("a file replaced since opening: IndexChangedError; opened again, it works", async () => {
  await control("reset=1");
  const index = await Index.open(IVF_SQ8, { storage: "http" });
  const cold = await Index.open(IVF_SQ8, { storage: "http" });
  try {
    await index.search(queries[2], 10);
    // A new version of the same bytes (another ETag): If-Range fails, the server sends 200.
    await control("replace=golden-ivf-sq8.vtrv");
    await failsWith("IndexChangedError", () => index.search(queries[3], 10));
    // Another file under the name (another length too).
    await control("replace=golden-ivf-sq8.vtrv&with=golden-ivf.vtrv");
    await failsWith("IndexChangedError", () => cold.search(queries[3], 10));
    const again = await Index.open(IVF_SQ8, { storage: "http" });
    equal(again.quantization, null, "the new file is the one without codes");
    equal((await again.search(queries[3], 10)).length, 10, "the new version searches");
    again.free();
  } finally {
    index.free();
    cold.free();
    await control("reset=1");
  }
});

test("failures while opening: named errors", async () => {
  await control("reset=1");
  const missing = await failsWith("NotFoundError", () => Index.open("/range/no-such.vtrv", { storage: "http" }));
  equal(missing.status, 404, "status");
  await control("mode=ignore-range");
  await failsWith("UnsupportedError", () => Index.open(IVF_SQ8, { storage: "http" }));
  await control("mode=500");
  equal((await failsWith("HttpError", () => Index.open(IVF_SQ8, { storage: "http" }))).status, 500, "status");
  await control("mode=hang");
  await failsWith("TimeoutError", () => Index.open(IVF_SQ8, { storage: "http", timeoutMs: 200 }));
  await control("mode=truncate");
  await failsWith("CorruptIndexError", () => Index.open(IVF_SQ8, { storage: "http" }));
  await control("reset=1");
  await failsWith("CorruptIndexError", () => Index.open("/range/queries-100.fvecs", { storage: "http" }));
  // Nothing listens there: the connection is refused.
  await failsWith("NetworkError", () => Index.open(`http://127.0.0.1:${DEAD}/x.vtrv`, { storage: "http" }));
  // The other origin serves /pkg/ without CORS headers: the browser hides the answer.
  await failsWith("NetworkError", () => Index.open(`${OTHER}/pkg/package.json`, { storage: "http" }));
  await failsWith("InvalidArgumentError", () => Index.open(IVF_SQ8, { storage: "http", timeoutMs: 0 }));
  await failsWith("InvalidArgumentError", () => Index.open(IVF_SQ8, { storage: "ftp" }));
  for (const n of ["IndexChangedError", "HttpError", "TimeoutError", "NetworkError"]) {
    assert(errorNames.includes(n), `errorNames has ${n}`);
  }
});

test("a server without ETag or Last-Modified: still read in place", async () => {
  await control("reset=1&mode=no-headers");
  try {
    const r = await compare(IVF_SQ8, {}, {}, async (url, o) => {
      await control("mode=no-headers");
      return Index.open(url, o);
    });
    r.remote.free();
  } finally {
    await control("reset=1");
  }
});

test("a server on another origin (CORS)", async () => {
  assert(OTHER && OTHER !== location.origin, "the page knows the other origin");
  await control("reset=1");
  const index = await Index.open(`${OTHER}${IVF_SQ8}`, { storage: "http" });
  const local = Index.fromBytes(files[IVF_SQ8]);
  for (const q of queries.slice(0, 5)) sameHits(await index.search(q, 10), local.searchSync(q, 10), "cross-origin");
  index.free();
  local.free();
});

test("through createIndexWorker: the same results, counters and error names", async () => {
  const w = await createIndexWorker();
  try {
    // A relative URL is resolved against the page (here the worker's would give the same).
    const r = await compare(IVF_SQ8, {}, {}, (p, o) => w.open(`..${p}`, o));
    equal(r.remote.storage, "http", "storage");
    await r.remote.close();
    await control("reset=1");
    const index = await w.open(IVF_SQ8, { storage: "http" });
    await control("mode=500");
    const err = await failsWith("HttpError", () => index.search(queries[5], 10));
    equal(err.status, 500, "status crosses the worker");
    await control("mode=ok");
    equal((await index.search(queries[5], 10)).length, 10, "works again");
    await failsWith("UnsupportedError", () => index.add(1e6, queries[0]));
    await index.close();
    return summary(r);
  } finally {
    await control("reset=1");
    w.terminate();
  }
});

// Every file under vectrove/http-cache/ ending in `ext`, opened by the page.
async function keptFiles(ext) {
  const root = await navigator.storage.getDirectory();
  const dir = await (await root.getDirectoryHandle("vectrove", { create: true }))
    .getDirectoryHandle("http-cache", { create: true });
  const out = [];
  for await (const [name, handle] of dir.entries()) if (name.endsWith(ext)) out.push(handle);
  return out;
}

// Searches `index` with the first `n` queries, checking each against `local`.
async function searchAll(index, local, n, options, what) {
  for (const [i, q] of queries.slice(0, n).entries()) {
    sameHits(await index.search(q, 10, options), local.searchSync(q, 10, options), `${what}, query ${i}`);
  }
}

test("persist: a later visit reads what earlier ones fetched from OPFS, not from the server", async () => {
  await failsWith("UnsupportedError", () => Index.open(IVF_SQ8, { storage: "http", persist: true }));
  await failsWith("InvalidArgumentError", () => Index.open("x", { storage: "indexeddb", persist: true }));
  const visits = [await createIndexWorker(), await createIndexWorker()];
  const [w, later] = visits;
  const local = Index.fromBytes(files[IVF_SQ8]);
  const plain = Index.fromBytes(files[IVF]);
  const hnsw = Index.fromBytes(files[HNSW_SQ8]);
  const opts = { nprobe: 8 };
  const http = { storage: "http", persist: true };
  const lines = [];
  try {
    for (const p of [IVF_SQ8, HNSW_SQ8]) await w.remove(p, { storage: "http" });
    equal(await w.exists(IVF_SQ8, { storage: "http" }), false, "nothing kept at first");

    // The first visit fetches from the server and keeps what it fetched.
    await control("reset=1");
    const first = await w.open(IVF_SQ8, http);
    equal((await first.stats()).persisted, true, "the first visit keeps what it fetches");
    await searchAll(first, local, 20, opts, "first visit");
    const cold = await served(IVF_SQ8);
    await first.close();
    equal(await w.exists(IVF_SQ8, { storage: "http" }), true, "kept after the first visit");

    // A later visit (another worker) sends the one request that checks the version.
    await control("reset=1");
    const second = await later.open(IVF_SQ8, http);
    await searchAll(second, local, 20, opts, "later visit");
    const warm = await served(IVF_SQ8);
    const stats = await second.stats();
    equal(warm.requests, 1, "a later visit sends only the request that pins the version");
    equal(stats.requests, 1, "and counts it");
    assert(stats.persistedReads > 0, "it reads from OPFS");
    lines.push(`IVF: first visit ${cold.requests} requests, ${(cold.bytes / 1024).toFixed(0)} KiB; ` +
      `later visit ${warm.requests} request, ${(warm.bytes / 1024).toFixed(0)} KiB, ` +
      `${(stats.persistedReads / 1024).toFixed(0)} KiB from OPFS`);
    // A query the first visit did not make goes to the server, and is kept too.
    await searchAll(second, local, 30, opts, "new queries");
    assert((await served(IVF_SQ8)).requests > 1, "new queries fetch what is not kept");

    // While that index uses the copy, another open of the URL reads from the network alone.
    const third = await w.open(IVF_SQ8, http);
    equal((await third.stats()).persisted, false, "a second user of the copy keeps nothing");
    await searchAll(third, local, 5, opts, "while the copy is in use");
    await third.close();
    await failsWith("IndexLockedError", () => w.remove(IVF_SQ8, { storage: "http" }));
    await second.close();

    // A new version on the server: the old copy is not used.
    await control("reset=1&replace=golden-ivf-sq8.vtrv&with=golden-ivf.vtrv");
    const replaced = await w.open(IVF_SQ8, http);
    equal(replaced.quantization, null, "the new file is the one without codes");
    await searchAll(replaced, plain, 10, {}, "new version");
    equal((await replaced.stats()).persistedReads, 0, "nothing of the old version is read");
    await replaced.close();
    // ...and back to the first version: kept anew, since the copy held the other one.
    await control("reset=1");
    const back = await w.open(IVF_SQ8, http);
    await searchAll(back, local, 30, opts, "first version again");
    await back.close();
    await control("reset=1");
    const again = await later.open(IVF_SQ8, http);
    await searchAll(again, local, 30, opts, "kept anew");
    equal((await served(IVF_SQ8)).requests, 1, "what the last visit fetched is kept anew");
    await again.close();

    // A log whose last record is torn (a crash while appending): the records before it
    // still count, and new ones follow them.
    for (const handle of await keptFiles(".log")) {
      const out = await handle.createWritable({ keepExistingData: true });
      await out.write({ type: "write", position: (await handle.getFile()).size, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7]) });
      await out.close();
    }
    await control("reset=1");
    const torn = await w.open(IVF_SQ8, http);
    await searchAll(torn, local, 30, opts, "after a torn record");
    equal((await served(IVF_SQ8)).requests, 1, "the records before a torn one count");
    await searchAll(torn, local, 35, opts, "more after a torn record");
    await torn.close();
    await control("reset=1");
    const after = await later.open(IVF_SQ8, http);
    await searchAll(after, local, 35, opts, "kept after a torn record");
    equal((await served(IVF_SQ8)).requests, 1, "records written after a torn one count too");
    await after.close();

    // A damaged copy: every kept byte overwritten. The answers stay right; the
    // damaged parts are fetched again.
    for (const handle of await keptFiles(".data")) {
      const size = (await handle.getFile()).size;
      const out = await handle.createWritable({ keepExistingData: true });
      for (let at = 0; at < size; at += 64 << 10) {
        await out.write({ type: "write", position: at, data: new Uint8Array(Math.min(64 << 10, size - at)).fill(0xa5) });
      }
      await out.close();
    }
    await control("reset=1");
    const damaged = await later.open(IVF_SQ8, http);
    await searchAll(damaged, local, 10, opts, "damaged copy");
    assert((await served(IVF_SQ8)).requests > 1, "the damaged parts are fetched again");
    await damaged.close();
    await control("reset=1");
    const healed = await w.open(IVF_SQ8, http);
    await searchAll(healed, local, 10, opts, "after the damage");
    equal((await served(IVF_SQ8)).requests, 1, "and kept again");
    await healed.close();

    // HNSW: the graph (metadata) is kept as well as the vectors.
    await control("reset=1");
    const h1 = await w.open(HNSW_SQ8, http);
    await searchAll(h1, hnsw, 20, { ef: 64 }, "HNSW, first visit");
    const hcold = await served(HNSW_SQ8);
    await h1.close();
    await control("reset=1");
    const h2 = await later.open(HNSW_SQ8, http);
    await searchAll(h2, hnsw, 20, { ef: 64 }, "HNSW, later visit");
    equal((await served(HNSW_SQ8)).requests, 1, "HNSW: a later visit sends one request");
    await h2.close();
    lines.push(`HNSW: first visit ${hcold.requests} requests, ${(hcold.bytes / 1024).toFixed(0)} KiB; later visit 1`);

    // A server that names no version: nothing can be checked against it, so nothing is kept.
    await w.remove(IVF_SQ8, { storage: "http" });
    await control("reset=1&mode=no-headers");
    const unnamed = await w.open(IVF_SQ8, http);
    equal((await unnamed.stats()).persisted, false, "no ETag or Last-Modified: nothing kept");
    await searchAll(unnamed, local, 5, opts, "a server without versions");
    await unnamed.close();
    equal(await w.exists(IVF_SQ8, { storage: "http" }), false, "no copy started");
    await control("reset=1");

    await w.remove(IVF_SQ8, { storage: "http" });
    await w.remove(HNSW_SQ8, { storage: "http" });
    equal(await w.exists(IVF_SQ8, { storage: "http" }), false, "removed");
    equal((await keptFiles("")).length, 0, "nothing left in vectrove/http-cache");
    return lines.join("; ");
  } finally {
    local.free();
    plain.free();
    hnsw.free();
    for (const v of visits) v.terminate();
    await control("reset=1");
  }
});

await done();
