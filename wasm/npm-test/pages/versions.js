// Two different versions of one index, built the same way in every tab and worker, and a
// way to tell which of them (if either) a stored index is: its length and its answers to
// fixed queries, which a mix of the two or a damaged copy would not reproduce.
import { Index } from "vectrove";
import { randomVectors } from "./harness.js";

const SIZES = [6000, 4500];
const PROBES = 12;

// Version v: an HNSW index of n vectors whose ids start at v * 1,000,000.
export async function buildVersion(v, n = SIZES[v], dim = 16) {
  const index = new Index(dim, { metric: "l2", seed: 11 + v, m: 6, efConstruction: 24 });
  const vectors = randomVectors(n, dim, 500 + v);
  await index.addMany(Float64Array.from({ length: n }, (_, i) => v * 1e6 + i), vectors);
  return index;
}

// What an index answers: its length and the ids it returns for the probe queries.
export async function fingerprint(index) {
  const dim = index.dim;
  const probes = randomVectors(PROBES, dim, 999);
  const hits = [];
  for (let q = 0; q < PROBES; q++) {
    const found = await index.search(probes.subarray(q * dim, (q + 1) * dim), 5, { ef: 32 });
    hits.push(found.map((h) => h.id).join(","));
  }
  return `${index.length}|${hits.join(";")}`;
}

// Which of `expected` (fingerprints by version) `index` is, or an Error saying it is neither.
export async function whichVersion(index, expected) {
  const got = await fingerprint(index);
  const v = expected.indexOf(got);
  if (v < 0) throw new Error(`the stored index is neither version (length ${index.length}): ${got.slice(0, 120)}`);
  return v;
}

// Index files an interrupted save of `name` may leave: OPFS temporary files, and
// IndexedDB pages of generations the record does not point to.
export async function leftovers(name) {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle("vectrove", { create: true });
  const tmp = [];
  for await (const k of dir.keys()) if (k.startsWith(`${name}.vtrv.`) && k.endsWith(".tmp")) tmp.push(k);
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open("vectrove");
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  try {
    const tx = db.transaction(["indexes", "chunks"], "readonly");
    const get = (r) => new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
    const record = await get(tx.objectStore("indexes").get(name));
    const keys = await get(tx.objectStore("chunks").getAllKeys(IDBKeyRange.bound([name], [name, []])));
    const orphans = keys.filter((k) => record === undefined || k[1] !== record.gen);
    return { tmp, orphans: orphans.length, pages: keys.length };
  } finally {
    db.close();
  }
}
