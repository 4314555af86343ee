// The demo's worker. As the search worker it imports the index file into OPFS once and
// opens it lazily from then on (vectors are read through a small cache as searches need
// them); as the cluster worker it trains k-means and a PCA projection on the vectors.

import init, { Index, KMeans, Pca } from "vectrove";
import type { ClusterRequest, ClusterResult, OpenRequest, OpenResult, Progress, Reply, Request } from "./protocol";

interface Scope {
  postMessage(message: Reply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<{ seq: number; request: Request }>) => void) | null;
}
const scope = self as unknown as Scope;

let index: Index | null = null;
let data: Float32Array | null = null;
let dim = 0;
let projection: { coords: Float32Array; explained: number[]; ms: number } | null = null;

function needIndex(): Index {
  if (!index) throw new Error("the index is not open yet");
  return index;
}

async function open(req: OpenRequest, progress: (p: Progress) => void): Promise<OpenResult> {
  await init();
  const t0 = performance.now();
  const options = { storage: "opfs" as const, cacheBytes: req.cacheBytes };
  if (req.previous && req.previous !== req.name && (await Index.exists(req.previous, options))) {
    await Index.remove(req.previous, options);
  }
  let imported = false;
  if (await Index.exists(req.name, options)) {
    try {
      index = await Index.open(req.name, options);
    } catch (e) {
      // Another tab's worker holds the file's access handle: read a copy into memory.
      if (!(e instanceof Error && e.name === "IndexLockedError")) throw e;
      index = await Index.open(req.name, { storage: "memory" });
    }
  } else {
    index = await Index.import(req.name, req.url, {
      ...options,
      onProgress: (done, total) => progress({ done, total: total ?? null }),
    });
    imported = true;
  }
  return {
    imported,
    ms: performance.now() - t0,
    length: index.length,
    dim: index.dim,
    metric: index.metric,
    storage: index.storage,
  };
}

async function neighbours(id: number, k: number, ef: number) {
  const idx = needIndex();
  const query = idx.get(id);
  if (!query) throw new Error(`no package ${id} in the index`);
  const t0 = performance.now();
  // One more than asked: the package itself is its own nearest neighbour.
  const hits = await idx.search(query, k + 1, { ef });
  const ms = performance.now() - t0;
  const s = idx.stats();
  return {
    hits: hits.filter((h) => h.id !== id).slice(0, k),
    ms,
    cache: { bytes: s.cacheBytes, budget: s.cacheBudget, hits: s.cacheHits, misses: s.cacheMisses },
  };
}

function vectors(): Float32Array {
  const idx = needIndex();
  const n = idx.length;
  const out = new Float32Array(n * idx.dim);
  for (let id = 0; id < n; id++) {
    const v = idx.get(id);
    if (!v) throw new Error(`no package ${id} in the index`);
    out.set(v, id * idx.dim);
  }
  return out;
}

async function cluster(req: ClusterRequest, progress: (p: Progress) => void): Promise<ClusterResult> {
  await init();
  if (!data) throw new Error("no vectors loaded");
  const n = data.length / dim;
  if (!projection) {
    const t0 = performance.now();
    const pca = Pca.fit(data, dim, { components: 2, seed: 1 });
    projection = {
      coords: pca.transform(data),
      explained: Array.from(pca.explainedVarianceRatio),
      ms: performance.now() - t0,
    };
    pca.free();
  }
  const t0 = performance.now();
  const km = KMeans.train(data, dim, {
    k: req.k,
    metric: "cosine",
    seed: req.seed,
    iters: req.iters,
    onProgress: (iteration) => progress({ done: iteration, total: req.iters }),
  });
  const labels = km.assign(data);
  const centroids = km.centroids;
  const iterations = km.iterations;
  km.free();
  const kmeansMs = performance.now() - t0;

  // The members nearest each centroid describe the cluster best (the vectors are
  // unit length, so the largest dot product is the smallest cosine distance).
  const sizes = new Array<number>(req.k).fill(0);
  const best: Array<Array<{ id: number; score: number }>> = Array.from({ length: req.k }, () => []);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    sizes[c]++;
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += data[i * dim + j] * centroids[c * dim + j];
    const list = best[c];
    if (list.length < 3 || dot > list[list.length - 1].score) {
      list.push({ id: i, score: dot });
      list.sort((a, b) => b.score - a.score);
      if (list.length > 3) list.pop();
    }
  }
  return {
    k: req.k,
    labels,
    coords: projection.coords.slice(),
    sizes,
    samples: best.map((list) => list.map((e) => e.id)),
    iterations,
    kmeansMs,
    pcaMs: projection.ms,
    explained: projection.explained,
  };
}

async function handle(request: Request, progress: (p: Progress) => void): Promise<[unknown, Transferable[]]> {
  switch (request.op) {
    case "open":
      return [await open(request, progress), []];
    case "neighbours":
      return [await neighbours(request.id, request.k, request.ef), []];
    case "storage": {
      const estimate = await navigator.storage.estimate();
      return [{ usage: estimate.usage ?? null, quota: estimate.quota ?? null }, []];
    }
    case "vectors": {
      const v = vectors();
      return [v, [v.buffer]];
    }
    case "load":
      data = request.data;
      dim = request.dim;
      projection = null;
      return [null, []];
    case "cluster": {
      const result = await cluster(request, progress);
      return [result, [result.labels.buffer, result.coords.buffer]];
    }
  }
}

// Requests are handled one at a time, in order.
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (event) => {
  const { seq, request } = event.data;
  queue = queue.then(async () => {
    try {
      const [value, transfer] = await handle(request, (progress) => scope.postMessage({ seq, progress }));
      scope.postMessage({ seq, ok: true, value }, transfer);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      scope.postMessage({ seq, ok: false, error: { name: err.name, message: err.message } });
    }
  });
};
