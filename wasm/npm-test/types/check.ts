// Compiled with `tsc --noEmit` by the test runner: the package's types must accept the
// documented usage and reject misuse (the @ts-expect-error lines).
import init, {
  Index, KMeans, version, createIndexWorker, errorNames,
  type SearchHit, type RemoteIndex, type VectroveErrorName, type KMeansResult, type PcaResult, type IndexWorker,
  type VectroveError,
} from "vectrove";

export async function usage(): Promise<void> {
  await init();
  await init("/custom/vectrove_wasm_bg.wasm");
  const v: string = version();
  const index = new Index(4, { metric: "cosine", m: 16, efConstruction: 100, seed: 1 });
  index.add(1, new Float32Array(4));
  await index.addMany([2, 3], new Float32Array(8), {
    onProgress: (done: number, total: number) => void [done, total],
    signal: new AbortController().signal,
  });
  const hits: SearchHit[] = await index.search(new Float32Array(4), 2, { ef: 32, filter: (id) => id > 1 });
  const first: number = hits[0].id + hits[0].distance;
  const metric: "l2" | "cosine" | "ip" = index.metric;
  const coded = new Index(4, { quantize: "sq8" });
  coded.quantize("sq8");
  const quantization: "sq8" | "sq4" | null = coded.quantization;
  const quantized: boolean = coded.quantized;
  await coded.search(new Float32Array(4), 2, { ef: 32, rerank: 16 });
  Index.trainIvf(4, new Float32Array(8), { nlist: 2, quantize: "sq8" });
  Index.trainIvf(4, new Float32Array(8), { nlist: 2, init: "hierarchical", maxPointsPerCentroid: 64 });
  const stored: Index = await Index.import("x", "/x.vtrv", { storage: "indexeddb", onProgress: (b, t) => void [b, t] });
  await stored.save();
  const bytes: Uint8Array = Index.fromBytes(index.toBytes()).toBytes();
  const model = KMeans.train(new Float32Array(8), 4, { k: 2, onProgress: (it, inertia) => it < 10 && inertia > 0 });
  const labels: Uint32Array = model.assign(new Float32Array(4));

  const w: IndexWorker = await createIndexWorker({ workerUrl: new URL("/w.js", location.href) });
  const remote: RemoteIndex = await w.open("x", { storage: "opfs", cacheBytes: 1 << 20 });
  const length: number = remote.length;
  await remote.quantize("sq8");
  const remoteCodes: "sq8" | "sq4" | null = remote.quantization;
  await remote.search([0, 0, 0, 1], 3, { rerank: 8 });
  const remoteHits: SearchHit[] = await remote.search([0, 0, 0, 1], 3, { filter: new Set([1, 2]) });
  await remote.addMany(new Uint32Array([5]), new Float32Array(4), { transfer: true, onProgress: () => {} });
  const trained: KMeansResult = await w.trainKMeans(new Float32Array(8), 4, { k: 2, assignments: true });
  await w.trainKMeans(new Float32Array(8), 4, { k: 2, init: "random", maxPointsPerCentroid: 8 });
  const fitted: PcaResult = await w.fitPca(new Float32Array(8), 4, { components: 2, transform: true });
  const projected: Float32Array | undefined = fitted.projection;
  const many: Float32Array = await (await w.create(4)).getMany([1, 2n]);
  void many;
  void projected;
  const assignments: Uint32Array | undefined = trained.assignments;
  await remote.close();
  w.terminate();

  const published: Index = await Index.open("https://cdn.example.com/docs.vtrv", {
    storage: "http", cacheBytes: 8 << 20, timeoutMs: 10_000,
  });
  const storageName: "memory" | "opfs" | "indexeddb" | "http" | "file" = published.storage;
  const { requests, bytes: fetched, fetches } = published.stats();
  const overHttp: RemoteIndex = await w.open("/docs.vtrv", { storage: "http", persist: true });
  const { persisted, persistedReads } = await overHttp.stats();
  const kept: boolean = await w.exists("/docs.vtrv", { storage: "http" });
  await Index.remove("https://cdn.example.com/docs.vtrv", { storage: "http" });
  void [persisted, persistedReads, kept];
  try {
    await published.search(new Float32Array(4), 10);
  } catch (err) {
    const e = err as VectroveError;
    if (e.name === "HttpError" || e.name === "NotFoundError") void (e.status ?? 0);
    if (e.name === "IndexChangedError" || e.name === "TimeoutError" || e.name === "NetworkError") void e;
  }
  void [storageName, requests, fetched, fetches, overHttp];

  try {
    index.add(9, new Float32Array(3));
  } catch (err) {
    const name = (err as Error).name as VectroveErrorName;
    if (errorNames.includes(name)) void name;
  }
  void [v, first, metric, bytes, labels, length, remoteHits, assignments, quantization, quantized, remoteCodes];

  // One id type per index: numbers by default, BigInts when asked for.
  const big = new Index(4, { idType: "bigint" });
  const bigId: bigint = (await big.search(new Float32Array(4), 1, { filter: (id: bigint) => id > 1n }))[0].id;
  const bigBatch = await big.searchMany(new Float32Array(8), 2);
  const bigIds: BigUint64Array = bigBatch.ids;
  const numBatch = await index.searchMany(new Float32Array(8), 2, { ef: 32 });
  const numIds: Float64Array = numBatch.ids;
  const counts: Uint32Array = numBatch.counts;
  const typeName: "number" = index.idType;
  const openedBig: Index<"bigint"> = await Index.open("/data/docs.vtrv", { storage: "file", idType: "bigint" });
  const fromBig: Index<"bigint"> = Index.fromBytes(big.toBytes(), { idType: "bigint" });
  const remoteBig: RemoteIndex<"bigint"> = await w.create(4, { idType: "bigint" });
  const remoteBigId: bigint = (await remoteBig.search([0, 0, 0, 1], 1))[0].id;
  const remoteBatch: BigUint64Array = (await remoteBig.searchMany([0, 0, 0, 1], 1)).ids;
  await index.save("/data/docs.vtrv", { storage: "file" });
  index[Symbol.dispose]();
  await remoteBig[Symbol.asyncDispose]();
  void [bigId, bigIds, numIds, counts, typeName, openedBig, fromBig, remoteBigId, remoteBatch];
}

export async function misuse(index: Index, remote: RemoteIndex): Promise<void> {
  // @ts-expect-error metric must be one of "l2" | "cosine" | "ip"
  new Index(4, { metric: "euclid" });
  // @ts-expect-error a remote filter is a collection of ids, not a function
  await remote.search(new Float32Array(4), 1, { filter: (id: number) => id > 0 });
  // @ts-expect-error the quantisations are "sq8" and "sq4"
  index.quantize("pq8");
  // @ts-expect-error k-means needs k
  KMeans.train(new Float32Array(8), 4, {});
  // @ts-expect-error the starts are "kmeans++", "random" and "hierarchical"
  KMeans.train(new Float32Array(8), 4, { k: 2, init: "k-means++" });
  // @ts-expect-error length is read-only
  index.length = 3;
  // @ts-expect-error KMeans objects come from train or fromCentroids
  new KMeans();
  // @ts-expect-error nothing is saved over HTTP
  await index.save("x", { storage: "http" });
  // @ts-expect-error nor imported
  await Index.import("x", "/x.vtrv", { storage: "http" });
  // @ts-expect-error persist is an open option
  await Index.import("x", "/x.vtrv", { persist: true });
  // @ts-expect-error a "bigint" index gives BigInt ids, not numbers
  const n: number = (await new Index(4, { idType: "bigint" }).search([0, 0, 0, 1], 1))[0].id;
  // @ts-expect-error the id types are "number" and "bigint"
  new Index(4, { idType: "string" });
  // @ts-expect-error a number index's batch ids are a Float64Array
  const b: BigUint64Array = (await index.searchMany([0, 0, 0, 1], 1)).ids;
  void [n, b];
}
