// Dedicated worker of the browser benchmark. It runs every measurement:
// vectrove's wasm Index over memory, OPFS (sync access handles, which exist
// only in dedicated workers) and IndexedDB, then hnswlib-wasm built in this
// same worker, with the same queries, ground truth, k and ef values.
//
// Message in:  { type: 'run', config }   (see bench.mjs for the fields)
// Messages out: { type: 'log', text }, { type: 'done', result }, { type: 'error', message }

const log = (text) => self.postMessage({ type: 'log', text });

// ----------------------------------------------------------------- data

// Whole buffers (byteOffset 0), so the typed-array views below are aligned.
async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

// texmex .fvecs / .ivecs: per row an int32 dimension then `dim` 4-byte values.
// Returns the rows packed back to back, without the dimension words.
function parseVecs(bytes, Kind, limit = Infinity) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new Error('empty vector file');
  const dim = view.getInt32(0, true);
  const rowBytes = 4 + 4 * dim;
  if (dim <= 0 || bytes.byteLength % rowBytes !== 0) throw new Error(`bad vector file (dim ${dim})`);
  const rows = Math.min(limit, bytes.byteLength / rowBytes);
  const out = new Kind(rows * dim);
  for (let i = 0; i < rows; i++) {
    const off = i * rowBytes;
    if (view.getInt32(off, true) !== dim) throw new Error(`row ${i}: dimension differs`);
    out.set(new Kind(bytes.buffer, bytes.byteOffset + off + 4, dim), i * dim);
  }
  return { rows, dim, data: out };
}

const row = (m, i) => m.data.subarray(i * m.dim, (i + 1) * m.dim);

// ----------------------------------------------------------- statistics

// Same rule as the native `vectrove bench`: index round((n - 1) * p) of the sorted latencies.
function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.round((sorted.length - 1) * p)];
}

function recallOf(idsPerQuery, gt, k) {
  let hits = 0;
  for (let i = 0; i < idsPerQuery.length; i++) {
    const truth = gt.data.subarray(i * gt.dim, i * gt.dim + k);
    const got = idsPerQuery[i];
    for (let j = 0; j < Math.min(k, got.length); j++) {
      if (truth.includes(got[j])) hits++;
    }
  }
  return hits / (idsPerQuery.length * k);
}

function summarise(lat, wallMs, ids, gt, k) {
  const sorted = Float64Array.from(lat).sort();
  return {
    recall: recallOf(ids, gt, k),
    qps: (lat.length * 1000) / wallMs,
    p50_ms: percentile(sorted, 0.5),
    p99_ms: percentile(sorted, 0.99),
    mean_ms: lat.reduce((a, b) => a + b, 0) / lat.length,
  };
}

// One pass over the queries, one at a time. `search` returns the ids of one
// query (sync or as a promise; `isAsync` says which, so the sync path never awaits).
// `after(i)`, if given, runs after each asynchronous query, outside its timing.
async function pass(queries, nq, search, isAsync, after) {
  const lat = new Float64Array(nq);
  const ids = new Array(nq);
  const t0 = performance.now();
  if (isAsync) {
    for (let i = 0; i < nq; i++) {
      const t = performance.now();
      ids[i] = await search(row(queries, i));
      lat[i] = performance.now() - t;
      after?.(i);
    }
  } else {
    for (let i = 0; i < nq; i++) {
      const t = performance.now();
      ids[i] = search(row(queries, i));
      lat[i] = performance.now() - t;
    }
  }
  return { lat, ids, wallMs: performance.now() - t0 };
}

const statsDelta = (a, b) => {
  if (!a || !b) return null;
  const d = {};
  for (const key of Object.keys(b)) {
    if (typeof b[key] === 'number') d[key] = b[key] - (a[key] ?? 0);
  }
  return d;
};

function plainStats(index) {
  try {
    const s = index.stats();
    // wasm-bindgen may hand back a class instance with getters; copy the fields.
    const out = {};
    for (const key of ['fetches', 'transactions', 'cacheHits', 'cacheMisses', 'cacheBytes', 'cacheBudget']) {
      if (typeof s?.[key] === 'number') out[key] = s[key];
    }
    return out;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------- vectrove

async function benchVectrove(cfg, storage, variant, queries, gt, mod) {
  const { Index } = mod;
  const { quantize, indexUrl } = variant;
  const name = storedName(cfg, quantize);
  const tag = `${storage} ${quantize}`;
  const vectorBytes = cfg.points * cfg.dim * 4;
  const cacheBytes = Math.round(vectorBytes * cfg.cacheFraction);
  const options = { storage };
  if (storage !== 'memory') options.cacheBytes = cacheBytes;
  log(`vectrove ${tag}: importing ${indexUrl}` + (options.cacheBytes ? ` (cacheBytes ${cacheBytes})` : ''));

  const t0 = performance.now();
  let index;
  let via = 'Index.import';
  try {
    index = await Index.import(name, indexUrl, options);
  } catch (e) {
    if (storage !== 'memory') throw e;
    // The in-memory index can also come straight from the file's bytes.
    log(`vectrove memory: Index.import failed (${e.name}: ${e.message}); using Index.fromBytes`);
    index = Index.fromBytes(await fetchBytes(indexUrl));
    via = 'Index.fromBytes';
  }
  const importMs = performance.now() - t0;
  const info = {
    length: index.length,
    dim: index.dim,
    metric: index.metric,
    kind: index.kind,
    storage: index.storage,
    quantization: index.quantization ?? null,
    quantized: index.quantized ?? false,
  };
  log(`vectrove ${tag}: ${via} in ${(importMs / 1000).toFixed(2)} s (${JSON.stringify(info)})`);
  if (info.length !== cfg.points || info.dim !== queries.dim) {
    throw new Error(`vectrove ${tag}: index has ${info.length} x ${info.dim}-d, expected ${cfg.points} x ${queries.dim}-d`);
  }
  if ((quantize === 'none') !== !info.quantized || (quantize !== 'none' && info.quantization !== quantize)) {
    throw new Error(`vectrove ${tag}: the index reports quantization ${info.quantization} (quantized: ${info.quantized})`);
  }

  const isAsync = storage === 'indexeddb';
  const k = cfg.k;
  const makeSearch = (ef) => {
    const opts = { ef };
    const toIds = (hits) => hits.map((h) => Number(h.id));
    return isAsync
      ? async (q) => toIds(await index.search(q, k, opts))
      : (q) => toIds(index.searchSync(q, k, opts));
  };

  const rows = [];
  let warmup = null;
  try {
    // One untimed-for-the-table pass (like the native bench's warm-up): it
    // compiles the hot paths and fills the page caches of the lazy backends.
    const s0 = plainStats(index);
    const w = await pass(queries, cfg.nq, makeSearch(cfg.efs[0]), isAsync);
    warmup = { ef: cfg.efs[0], ...summarise(w.lat, w.wallMs, w.ids, gt, k), stats: statsDelta(s0, plainStats(index)) };
    log(`vectrove ${tag}: warm-up pass at ef=${cfg.efs[0]}: ${warmup.qps.toFixed(0)} QPS, p50 ${warmup.p50_ms.toFixed(3)} ms`);

    for (const ef of cfg.efs) {
      const before = plainStats(index);
      // The most read transactions one query took (IndexedDB), counted between queries.
      let maxTx = null;
      let lastTx = before?.transactions ?? 0;
      const perQuery = isAsync
        ? () => {
          const tx = plainStats(index)?.transactions ?? 0;
          maxTx = Math.max(maxTx ?? 0, tx - lastTx);
          lastTx = tx;
        }
        : undefined;
      const r = await pass(queries, cfg.nq, makeSearch(ef), isAsync, perQuery);
      const after = plainStats(index);
      const stats = statsDelta(before, after);
      const summary = summarise(r.lat, r.wallMs, r.ids, gt, k);
      const out = {
        library: 'vectrove-wasm',
        backend: storage,
        quantize,
        ef,
        ...summary,
        idb_tx_per_query: storage === 'indexeddb' && stats ? stats.transactions / cfg.nq : null,
        max_idb_tx_per_query: storage === 'indexeddb' ? maxTx : null,
        stats,
        cache: after ? { bytes: after.cacheBytes, budget: after.cacheBudget } : null,
      };
      rows.push(out);
      log(
        `vectrove ${tag} ef=${ef}: recall ${summary.recall.toFixed(4)}, ${summary.qps.toFixed(0)} QPS, ` +
          `p50 ${summary.p50_ms.toFixed(3)} ms, p99 ${summary.p99_ms.toFixed(3)} ms` +
          (out.idb_tx_per_query !== null ? `, ${out.idb_tx_per_query.toFixed(2)} IDB tx/query (most ${maxTx})` : '') +
          (stats && stats.cacheHits + stats.cacheMisses > 0
            ? `, cache hits ${((100 * stats.cacheHits) / (stats.cacheHits + stats.cacheMisses)).toFixed(1)}%`
            : ''),
      );
    }
  } finally {
    try {
      index.close?.();
    } catch {
      /* already closed */
    }
    try {
      index.free?.();
    } catch {
      /* freed by close */
    }
  }
  return { backend: storage, quantize, via, importMs, cacheBytes: options.cacheBytes ?? null, warmup, rows };
}

// The stored name of a variant's index (memory and OPFS share its OPFS file).
const storedName = (cfg, quantize) => (quantize === 'none' ? cfg.name : `${cfg.name}-${quantize}`);

// ------------------------------------------------------------ hnswlib-wasm

async function benchHnswlib(cfg, queries, gt) {
  const mod = await import(cfg.hnswlibUrl);
  if (mod.__tla) await mod.__tla; // the bundle's top-level-await shim
  const t0 = performance.now();
  const lib = await mod.loadHnswlib();
  const loadMs = performance.now() - t0;
  log(`hnswlib-wasm: loaded in ${(loadMs / 1000).toFixed(2)} s; fetching ${cfg.baseUrl}`);

  const base = parseVecs(await fetchBytes(cfg.baseUrl), Float32Array, cfg.points);
  if (base.dim !== queries.dim) throw new Error(`base is ${base.dim}-d, queries ${queries.dim}-d`);

  // hnswlib's cosine space normalises and uses 1 - dot, the metric of the ground truth.
  const index = new lib.HierarchicalNSW(cfg.hnswlibSpace, base.dim, '');
  index.initIndex(base.rows, cfg.m, cfg.efConstruction, cfg.seed);
  log(`hnswlib-wasm: building ${base.rows} x ${base.dim}-d (${cfg.hnswlibSpace}, M=${cfg.m}, ef_construction=${cfg.efConstruction}) on 1 thread`);
  const tb = performance.now();
  let nextLog = tb + 10_000;
  for (let i = 0; i < base.rows; i++) {
    index.addPoint(row(base, i), i, false);
    if ((i & 255) === 0 && performance.now() > nextLog) {
      log(`hnswlib-wasm: ${i} / ${base.rows} inserted, ${((performance.now() - tb) / 1000).toFixed(0)} s`);
      nextLog = performance.now() + 10_000;
    }
  }
  const buildMs = performance.now() - tb;
  log(`hnswlib-wasm: built in ${(buildMs / 1000).toFixed(1)} s (${index.getCurrentCount?.() ?? base.rows} points)`);

  const k = cfg.k;
  const makeSearch = (ef) => {
    index.setEfSearch(ef);
    return (q) => index.searchKnn(q, k, undefined).neighbors;
  };
  const w = await pass(queries, cfg.nq, makeSearch(cfg.efs[0]), false);
  const warmup = { ef: cfg.efs[0], ...summarise(w.lat, w.wallMs, w.ids, gt, k) };
  log(`hnswlib-wasm: warm-up pass at ef=${cfg.efs[0]}: ${warmup.qps.toFixed(0)} QPS`);
  const rows = [];
  for (const ef of cfg.efs) {
    const r = await pass(queries, cfg.nq, makeSearch(ef), false);
    const summary = summarise(r.lat, r.wallMs, r.ids, gt, k);
    rows.push({ library: 'hnswlib-wasm', backend: 'memory', ef, ...summary, idb_tx_per_query: null });
    log(
      `hnswlib-wasm ef=${ef}: recall ${summary.recall.toFixed(4)}, ${summary.qps.toFixed(0)} QPS, ` +
        `p50 ${summary.p50_ms.toFixed(3)} ms, p99 ${summary.p99_ms.toFixed(3)} ms`,
    );
  }
  try {
    index.delete?.(); // embind objects own wasm memory
  } catch {
    /* nothing to free */
  }
  return { loadMs, buildMs, space: cfg.hnswlibSpace, warmup, rows };
}

// ------------------------------------------------------------------ main

async function run(cfg) {
  const env = {
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: self.crossOriginIsolated,
    opfs: typeof navigator.storage?.getDirectory === 'function',
    wasmSimd: WebAssembly.validate(
      new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]),
    ),
  };
  log(`worker: ${JSON.stringify(env)}`);

  const queries = parseVecs(await fetchBytes(cfg.queriesUrl), Float32Array, cfg.nq);
  const gt = parseVecs(await fetchBytes(cfg.groundtruthUrl), Int32Array, cfg.nq);
  if (gt.rows < queries.rows) throw new Error(`${gt.rows} ground-truth rows for ${queries.rows} queries`);
  if (gt.dim < cfg.k) throw new Error(`ground truth has ${gt.dim} neighbours per query, fewer than k=${cfg.k}`);
  cfg.nq = queries.rows;
  log(`worker: ${queries.rows} queries of ${queries.dim}-d, ground truth top-${gt.dim}`);

  const result = { env, nq: cfg.nq, k: cfg.k, efs: cfg.efs, vectrove: null, vectroveError: null, hnswlib: null, hnswlibError: null };

  if (cfg.backends.length > 0) {
    try {
      const mod = await import(cfg.pkgUrl);
      const init = mod.init ?? mod.default;
      if (typeof init === 'function') await init();
      result.vectrove = { version: typeof mod.version === 'function' ? mod.version() : null, backends: [] };
      log(`vectrove ${result.vectrove.version ?? ''} loaded from ${cfg.pkgUrl}`);
      for (const storage of cfg.backends) {
        for (const variant of cfg.variants) {
          try {
            result.vectrove.backends.push(await benchVectrove(cfg, storage, variant, queries, gt, mod));
          } catch (e) {
            log(`vectrove ${storage} ${variant.quantize}: FAILED ${e?.name ?? 'Error'}: ${e?.message ?? e}`);
            result.vectrove.backends.push({ backend: storage, quantize: variant.quantize, error: `${e?.name ?? 'Error'}: ${e?.message ?? e}`, rows: [] });
          }
        }
      }
      if (cfg.cleanup) {
        for (const storage of new Set(cfg.backends.map((b) => (b === 'memory' ? 'opfs' : b)))) {
          for (const variant of cfg.variants) {
            try {
              await mod.Index.remove(storedName(cfg, variant.quantize), { storage });
            } catch {
              /* nothing stored */
            }
          }
        }
      }
    } catch (e) {
      result.vectroveError = `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
      log(`vectrove: FAILED ${result.vectroveError}`);
    }
  }

  if (cfg.hnswlib) {
    try {
      result.hnswlib = await benchHnswlib(cfg, queries, gt);
    } catch (e) {
      result.hnswlibError = `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
      log(`hnswlib-wasm: FAILED ${result.hnswlibError}`);
    }
  }
  return result;
}

self.onmessage = async ({ data }) => {
  if (data?.type !== 'run') return;
  try {
    self.postMessage({ type: 'done', result: await run(data.config) });
  } catch (e) {
    self.postMessage({ type: 'error', message: `${e?.name ?? 'Error'}: ${e?.message ?? e}\n${e?.stack ?? ''}` });
  }
};
