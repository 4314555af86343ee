// A worker terminated in the middle of a save, at many points of it: the stored index is
// always one whole version (the previous one, or the new one if the save had finished),
// and what killed saves leave behind (OPFS temporary files, IndexedDB pages of an
// uncommitted generation) is gone after the next open or save of that name.
import init, { Index, createIndexWorker } from "vectrove";
import { test, done, assert, equal } from "./harness.js";
import { buildVersion, fingerprint, whichVersion, leftovers } from "./versions.js";

const KILLS = 12;
await init();
// Over 4 MiB each, so an IndexedDB save writes its pages in more than one transaction.
const versions = [await buildVersion(0, 18000, 64), await buildVersion(1, 16000, 64)];
const expected = [await fingerprint(versions[0]), await fingerprint(versions[1])];
const bytes = versions.map((v) => v.toBytes());

function openOptions(storage) {
  return { storage: storage === "indexeddb" ? "indexeddb" : "memory", cacheBytes: 64 * 1024 };
}

// Waits until no one holds the name's lock (a terminated worker lets go of it soon, not at
// once): the lock every save of the name holds, which the package documents.
function idle(name, storage) {
  return navigator.locks.request(`vectrove:${storage === "indexeddb" ? "idb" : "opfs"}/${name}`, () => {});
}

async function stored(name, storage) {
  await idle(name, storage);
  const index = await Index.open(name, openOptions(storage));
  try {
    return await whichVersion(index, expected);
  } finally {
    index.free();
  }
}

// How long a whole save of version v takes in a fresh worker.
async function saveTime(name, storage, v) {
  const w = await createIndexWorker();
  const r = await w.fromBytes(bytes[v]);
  const t0 = performance.now();
  await r.save(name, { storage });
  const ms = performance.now() - t0;
  w.terminate();
  return ms;
}

for (const storage of ["opfs", "indexeddb"]) {
  const name = `npm-test-crash-${storage}`;
  test(`${storage}: ${KILLS} workers terminated during a save or import leave one whole version each time`, async () => {
    if (await Index.exists(name, { storage })) await Index.remove(name, { storage });
    const full = Math.max(await saveTime(name, storage, 1), await saveTime(name, storage, 0));
    let current = await stored(name, storage);
    equal(current, 0, "version 0 stored first");
    let kept = 0;
    let replaced = 0;
    for (let i = 0; i < KILLS; i++) {
      const next = 1 - current;
      const w = await createIndexWorker();
      // Every other time an import of the new version instead of a save: it writes the
      // same way.
      const r = i % 2 === 0 ? await w.fromBytes(bytes[next]) : null;
      // From the start of the save to a little past its usual end.
      const delay = (full * 1.2 * (i + Math.random())) / KILLS;
      const write = r ? r.save(name, { storage }) : w.import(name, bytes[next], { storage });
      const saving = write.then(() => "saved", (err) => err.name);
      await new Promise((ok) => setTimeout(ok, delay));
      w.terminate();
      const ended = await saving;
      assert(ended === "saved" || ended === "AbortError", `the save ended as ${ended}`);
      const now = await stored(name, storage);
      if (ended === "saved") equal(now, next, "a save that resolved is stored");
      assert(now === current || now === next, "the stored index is the previous or the new version");
      if (now === current) kept++;
      else replaced++;
      current = now;
    }
    assert(kept > 0, `some saves were cut off before they replaced the index (${replaced} finished)`);
    return `${kept} kept the previous version, ${replaced} had finished (a whole save takes ${Math.round(full)} ms)`;
  }, 240_000);

  test(`${storage}: what killed saves leave is removed by the next open, and by the next save`, async () => {
    // Kill saves early, when they have written something but not committed.
    let left;
    for (let attempt = 0; attempt < 20; attempt++) {
      const w = await createIndexWorker();
      const r = await w.fromBytes(bytes[attempt % 2]);
      const saving = r.save(name, { storage }).catch(() => {});
      // Wait until the save has left something behind, then kill it.
      for (let spin = 0; spin < 2000; spin++) {
        left = await leftovers(name);
        if (left.tmp.length > 0 || left.orphans > 0) break;
      }
      w.terminate();
      await saving;
      left = await leftovers(name);
      if (left.tmp.length > 0 || left.orphans > 0) break;
    }
    assert(left.tmp.length > 0 || left.orphans > 0, "a killed save left something to clean up");
    const before = `${left.tmp.length} temporary files, ${left.orphans} orphan pages`;
    const v = await stored(name, storage); // an open of the name
    left = await leftovers(name);
    equal(left.tmp.length, 0, `temporary files after an open (${left.tmp.join(", ")})`);
    equal(left.orphans, 0, "orphan pages after an open");
    // And a save cleans up too: kill one more, then save.
    const w = await createIndexWorker();
    const r = await w.fromBytes(bytes[1 - v]);
    const saving = r.save(name, { storage }).catch(() => {});
    for (let spin = 0; spin < 2000; spin++) {
      const l = await leftovers(name);
      if (l.tmp.length > 0 || l.orphans > 0) break;
    }
    w.terminate();
    await saving;
    await versions[v].save(name, { storage: storage === "indexeddb" ? "indexeddb" : "memory" });
    left = await leftovers(name);
    equal(left.tmp.length, 0, "temporary files after a save");
    equal(left.orphans, 0, "orphan pages after a save");
    equal(await stored(name, storage), v, "the saved version is stored");
    await Index.remove(name, { storage });
    return `left before: ${before}`;
  }, 240_000);
}

await done();
