// The page of benches/browser/remote.mjs: opens an index over HTTP and measures it. Every
// figure comes from the package's own counters (Index.stats) and performance.now().

import init, { Index, createIndexWorker } from '/pkg/index.js';

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

// texmex .fvecs / .ivecs rows, packed without their dimension words.
function parseVecs(bytes, Kind, limit) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dim = view.getInt32(0, true);
  const rowBytes = 4 + 4 * dim;
  const rows = Math.min(limit, bytes.byteLength / rowBytes);
  const out = new Kind(rows * dim);
  for (let i = 0; i < rows; i++) out.set(new Kind(bytes.buffer, bytes.byteOffset + i * rowBytes + 4, dim), i * dim);
  return { rows, dim, data: out };
}

const row = (m, i) => m.data.subarray(i * m.dim, (i + 1) * m.dim);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.round((s.length - 1) * p)] : 0;
};

function hits(got, gt, i, k) {
  const truth = gt.data.subarray(i * gt.dim, i * gt.dim + k);
  return got.slice(0, k).filter((h) => truth.includes(Number(h.id))).length;
}

window.runRemoteBench = async (cfg) => {
  const queries = parseVecs(await fetchBytes(cfg.queriesUrl), Float32Array, cfg.nq);
  const gt = parseVecs(await fetchBytes(cfg.groundtruthUrl), Int32Array, cfg.nq);
  const opts = { storage: 'http', cacheBytes: cfg.cacheBytes };
  const open = [];
  let openRequests = 0;
  let openBytes = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const index = await Index.open(cfg.url, opts);
    open.push(performance.now() - t);
    const s = index.stats();
    openRequests = s.requests;
    openBytes = s.bytes;
    index.free();
  }
  const rows = [];
  for (const value of cfg.values) {
    const search = { [cfg.knob]: value };
    // Cold: a freshly opened index per query, so nothing is cached.
    const cold = [];
    let rounds = 0;
    let requests = 0;
    let bytes = 0;
    for (let i = 0; i < Math.min(cfg.cold, queries.rows); i++) {
      const index = await Index.open(cfg.url, opts);
      const before = index.stats();
      const t = performance.now();
      await index.search(row(queries, i), cfg.k, search);
      cold.push(performance.now() - t);
      const after = index.stats();
      rounds += after.fetches - before.fetches;
      requests += after.requests - before.requests;
      bytes += after.bytes - before.bytes;
      index.free();
    }
    const n = cold.length;
    // Cached: one index, every query once to fill the cache, then timed again.
    const index = await Index.open(cfg.url, opts);
    let found = 0;
    for (let i = 0; i < queries.rows; i++) found += hits(await index.search(row(queries, i), cfg.k, search), gt, i, cfg.k);
    const cached = [];
    const before = index.stats();
    for (let i = 0; i < queries.rows; i++) {
      const t = performance.now();
      await index.search(row(queries, i), cfg.k, search);
      cached.push(performance.now() - t);
    }
    const after = index.stats();
    index.free();
    const row_ = {
      value,
      recall: found / (queries.rows * cfg.k),
      coldP50: pct(cold, 0.5),
      coldP95: pct(cold, 0.95),
      rounds: rounds / n,
      requests: requests / n,
      bytes: bytes / n,
      cachedP50: pct(cached, 0.5),
      cachedP95: pct(cached, 0.95),
      cachedRequests: (after.requests - before.requests) / queries.rows,
    };
    console.log(JSON.stringify(row_));
    rows.push(row_);
  }
  // A later visit (persist: true, in a worker): a first visit runs the cold queries and
  // keeps what they fetch in OPFS; a second visit (another worker) opens and runs them again.
  let warm = null;
  if (cfg.warm) {
    const search = { [cfg.knob]: cfg.values[0] };
    const n = Math.min(cfg.cold, queries.rows);
    const persist = { ...opts, persist: true };
    const first = await createIndexWorker();
    await first.remove(cfg.url, { storage: 'http' });
    let t = performance.now();
    const a = await first.open(cfg.url, persist);
    const firstOpen = performance.now() - t;
    const firstTimes = [];
    for (let i = 0; i < n; i++) {
      t = performance.now();
      await a.search(row(queries, i), cfg.k, search);
      firstTimes.push(performance.now() - t);
    }
    await a.close();
    first.terminate();
    const later = await createIndexWorker();
    t = performance.now();
    const b = await later.open(cfg.url, persist);
    const laterOpen = performance.now() - t;
    const opened = await b.stats();
    const times = [];
    for (let i = 0; i < n; i++) {
      t = performance.now();
      await b.search(row(queries, i), cfg.k, search);
      times.push(performance.now() - t);
    }
    const s = await b.stats();
    await b.close();
    await later.remove(cfg.url, { storage: 'http' });
    later.terminate();
    warm = {
      value: cfg.values[0],
      firstOpen,
      firstP50: pct(firstTimes, 0.5),
      firstP95: pct(firstTimes, 0.95),
      laterOpen,
      openRequests: opened.requests,
      p50: pct(times, 0.5),
      p95: pct(times, 0.95),
      requests: (s.requests - opened.requests) / n,
      openDiskBytes: opened.persistedReads,
      diskBytes: (s.persistedReads - opened.persistedReads) / n,
    };
    console.log(JSON.stringify(warm));
  }
  return { knob: cfg.knob, open, openRequests, openBytes, rows, warm };
};

await init();
window.remoteBenchReady = true;
