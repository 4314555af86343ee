// A tiny app bundled by Vite that uses the package the way an application would.
import init, { Index, createIndexWorker, version } from "vectrove";
// The "./worker" export, bundled by Vite as a worker of its own and passed as workerUrl.
import workerUrl from "vectrove/worker?worker&url";
import { test, done, assert, equal, failsWith, randomVectors, row } from "../pages/harness.js";

const DIM = 8;
const N = 500;
const data = randomVectors(N, DIM, 8);
const ids = new Float64Array(N).map((_, i) => i);

test("vite: init and an index on the page", async () => {
  await init();
  const index = new Index(DIM, { seed: 1 });
  await index.addMany(ids, data);
  equal((await index.search(row(data, DIM, 3), 1))[0].id, 3, "search");
  await failsWith("DimensionMismatchError", () => index.add(N, new Float32Array(2)));
  index.free();
});

test("vite: createIndexWorker with an OPFS index", async () => {
  const w = await createIndexWorker();
  equal(w.version, version(), "worker version");
  const name = "npm-test-vite";
  if (await w.exists(name, { storage: "opfs" })) await w.remove(name, { storage: "opfs" });
  const remote = await w.create(DIM, { seed: 1 });
  const progress = [];
  await remote.addMany(ids, data, { onProgress: (d) => progress.push(d) });
  assert(progress.length > 0, "progress");
  await remote.save(name, { storage: "opfs" });
  const opened = await w.open(name, { storage: "opfs" });
  equal(opened.storage, "opfs", "storage");
  equal(opened.length, N, "length");
  equal((await opened.search(row(data, DIM, 250), 1))[0].id, 250, "search");
  await failsWith("IndexLockedError", () => w.open(name, { storage: "opfs" }));
  await opened.close();
  await w.remove(name, { storage: "opfs" });
  w.terminate();
});

test("vite: createIndexWorker({ workerUrl }) with the vectrove/worker export", async () => {
  const w = await createIndexWorker({ workerUrl });
  const remote = await w.fromBytes(await (async () => {
    const index = new Index(DIM, { seed: 2 });
    await index.addMany(ids, data);
    const bytes = index.toBytes();
    index.free();
    return bytes;
  })());
  equal(remote.length, N, "length");
  equal((await remote.search(row(data, DIM, 42), 1))[0].id, 42, "search");
  w.terminate();
});

test("vite: not cross-origin isolated; trainKMeans abort rejects at once", async () => {
  equal(globalThis.crossOriginIsolated, false, "served without COOP/COEP");
  const w = await createIndexWorker();
  const points = randomVectors(20000, 16, 4);
  const controller = new AbortController();
  const training = w.trainKMeans(points, 16, { k: 32, iters: 100, seed: 1, signal: controller.signal });
  controller.abort();
  await failsWith("AbortError", () => training);
  const result = await w.trainKMeans(points.subarray(0, 1600), 16, { k: 4, iters: 3 });
  equal(result.centroids.length, 4 * 16, "the worker goes on after a dropped result");
  equal(points.length, 20000 * 16, "the caller's data is not detached");
  w.terminate();
});

await done();
