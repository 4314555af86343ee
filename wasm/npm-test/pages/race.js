// One of two tabs (same origin, same browser profile) saving one name at the same time.
// The runner (run-tests.mjs) loads this page in two tabs and drives them through
// window.race: each round, both tabs save their own version of the index under the same
// name at once, then one tab checks what is stored.
import init, { Index, createIndexWorker } from "vectrove";
import { buildVersion, fingerprint, whichVersion } from "./versions.js";

const tab = Number(new URL(location.href).searchParams.get("tab") ?? "0");
await init();
// Tab 0 saves a large version (an IndexedDB save of it takes several transactions, like a
// slow import), tab 1 a small one; tab 0 also checks what is stored, so it builds both.
const versions = [];
if (tab === 0) versions[0] = await buildVersion(0, 36000, 64);
versions[1] = await buildVersion(1, 3000, 64);
const expected = await Promise.all(versions.map((v) => fingerprint(v)));
const bytes = versions[tab].toBytes();
const worker = await createIndexWorker();
const remote = await worker.fromBytes(bytes);
let reader = null;
let readerVersion = -1;

function outcome(promise) {
  return promise.then(() => "saved", (err) => `${err.name}: ${err.message}`);
}

window.race = {
  tab,
  // Save this tab's version: "idb" on the page, "opfs" through the worker's sync access
  // handles, "opfs-page" through the page's asynchronous OPFS API.
  async save(name, how, delay = 0) {
    if (delay > 0) await new Promise((ok) => setTimeout(ok, delay));
    switch (how) {
      case "idb": return outcome(versions[tab].save(name, { storage: "indexeddb" }));
      case "opfs": return outcome(remote.save(name, { storage: "opfs" }));
      case "opfs-page": return outcome(versions[tab].save(name, { storage: "memory" }));
      default: throw new Error(`unknown save ${how}`);
    }
  },
  // How long one save takes, alone.
  async timeSave(name, how) {
    const t0 = performance.now();
    const done = await window.race.save(name, how);
    if (done !== "saved") throw new Error(done);
    return performance.now() - t0;
  },
  // Which version is stored under `name` (opened fresh), or an error message.
  async check(name, storage) {
    const index = await Index.open(name, { storage: storage === "idb" ? "indexeddb" : "memory", cacheBytes: 64 * 1024 });
    try {
      return await whichVersion(index, expected);
    } finally {
      index.free();
    }
  },
  // A lazily read IndexedDB index kept open across the rounds.
  async openReader(name) {
    reader = await Index.open(name, { storage: "indexeddb", cacheBytes: 8 * 1024 });
    readerVersion = await whichVersion(reader, expected);
    return readerVersion;
  },
  // The reader either answers as the version it opened, or fails with a StorageError that
  // says the index was replaced.
  async useReader() {
    try {
      const v = await whichVersion(reader, expected);
      if (v !== readerVersion) return `the reader opened version ${readerVersion} but answers as ${v}`;
      return "works";
    } catch (err) {
      if (err.name === "StorageError" && /was replaced or removed since it was opened/.test(err.message)) {
        return `fails cleanly (${err.name}: ${err.message})`;
      }
      return `fails with an untyped error: ${err.name}: ${err.message}`;
    }
  },
  async remove(name) {
    await Index.remove(name, { storage: "indexeddb" });
    await worker.remove(name, { storage: "opfs" });
  },
};
window.__ready = true;
