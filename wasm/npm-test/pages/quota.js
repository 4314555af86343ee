// Storage quota exhaustion: the runner opens this page in a fresh browser profile whose
// origin quota it has set to 4 MiB (Chrome DevTools Protocol,
// Storage.overrideQuotaForOrigin). A small index fits; a larger import under the same name
// must fail with QuotaExceededError and leave the small index as it was, in OPFS (through
// the worker) and in IndexedDB (on the page).
import init, { Index, createIndexWorker } from "vectrove";
import { test, done, equal, failsWith, randomVectors, row } from "./harness.js";

const DIM = 32;
const small = randomVectors(500, DIM, 1);
// About 5 MB of vectors: more than the whole quota.
const BIG_DIM = 64;
const big = randomVectors(20000, BIG_DIM, 2);

async function build(vectors, dim) {
  const index = new Index(dim, { metric: "l2", seed: 3, m: 4, efConstruction: 16 });
  await index.addMany(Float64Array.from({ length: vectors.length / dim }, (_, i) => i), vectors);
  return index.toBytes();
}

await init();
const smallBytes = await build(small, DIM);
const bigBytes = await build(big, BIG_DIM);
const w = await createIndexWorker();
for (const storage of ["opfs", "indexeddb"]) {
  if (await w.exists("quota", { storage })) await w.remove("quota", { storage });
}

// The small index, stored everywhere first.
const opfsSmall = await w.import("quota", smallBytes, { storage: "opfs" });
await opfsSmall.close();
(await Index.import("quota", smallBytes, { storage: "indexeddb" })).close();
async function intact(open) {
  const index = await open();
  equal(index.length, 500, "the earlier index is still whole");
  const hits = await index.search(row(small, DIM, 42), 1);
  equal(hits[0].id, 42, "and finds its own vectors");
  await index.close();
}

test("OPFS: an import over the quota fails with QuotaExceededError; the earlier index stays", async () => {
  await failsWith("QuotaExceededError", () => w.import("quota", bigBytes, { storage: "opfs" }));
  await intact(() => w.open("quota", { storage: "opfs" }));
});

test("IndexedDB: an import over the quota fails with QuotaExceededError; the earlier index stays", async () => {
  await failsWith("QuotaExceededError", () => Index.import("quota", bigBytes, { storage: "indexeddb" }));
  await intact(() => Index.open("quota", { storage: "indexeddb" }));
});

test("saving over the quota fails the same way", async () => {
  const index = Index.fromBytes(bigBytes);
  await failsWith("QuotaExceededError", () => index.save("quota", { storage: "indexeddb" }));
  await intact(() => Index.open("quota", { storage: "indexeddb" }));
});

await done();
