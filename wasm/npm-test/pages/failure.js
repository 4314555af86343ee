// Saves whose move fails, or whose reopening fails, for real: another worker takes the
// index file in the moment the saving worker lets go of it (during the move, or just
// after). The index must go on working (searches, additions) with its unsaved additions,
// and a later save must succeed and hold everything.
import init, { createIndexWorker } from "vectrove";
import { test, done, assert, equal, randomVectors, row } from "./harness.js";

const DIM = 16;
const N = 2000;
const CYCLES = 4;
const NAME = "npm-test-failed-save";
const data = randomVectors(N, DIM, 31);
const extra = randomVectors(2000, DIM, 32);

await init();

function ask(worker, message) {
  return new Promise((ok) => {
    worker.addEventListener("message", ({ data }) => ok(data), { once: true });
    worker.postMessage(message);
  });
}

test(`OPFS: ${CYCLES} saves that lose the file to another worker keep the index working, additions and all`, async () => {
  const w = await createIndexWorker();
  if (await w.exists(NAME)) await w.remove(NAME);
  const built = await w.create(DIM, { metric: "l2", seed: 3, m: 6, efConstruction: 24 });
  await built.addMany(Float64Array.from({ length: N }, (_, i) => i), data);
  await built.save(NAME, { storage: "opfs" });
  await built.close();
  let added = 0; // extra[i] has id 10,000 + i
  const report = [];
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    // A small cache, so searches and saves read the vectors from the file.
    const index = await w.open(NAME, { storage: "opfs", cacheBytes: 8 * 1024 });
    equal(index.storage, "opfs", "opened lazily from OPFS");
    equal(index.length, N + added, "every earlier addition was saved");
    const grabber = new Worker(new URL("./grabber.js", import.meta.url), { type: "module" });
    const grabbed = ask(grabber, { op: "grab", file: `${NAME}.vtrv` });
    let taken = null;
    grabbed.then((r) => { taken = r; });
    // Each save lets go of the file for a moment; the grabber takes it in one of them.
    const outcomes = [];
    for (let i = 0; i < 200 && taken === null; i++) {
      await index.add(10_000 + added, row(extra, DIM, added));
      added++;
      outcomes.push(await index.save().then(() => "saved", (err) => err.name));
    }
    if (taken === null) {
      grabber.postMessage({ op: "release" });
      await grabbed;
    }
    assert(taken?.grabbed, `the other worker took the file during one of ${outcomes.length} saves`);
    const last = outcomes[outcomes.length - 1];
    assert(last === "saved" || last === "IndexLockedError", `the failed save is typed (${last})`);
    report.push(`${last === "saved" ? "reopening failed" : "the move failed"} (now ${index.storage})`);

    // The index goes on, with every addition, while the other worker holds the file.
    equal(index.length, N + added, "length");
    for (let i = 0; i < added; i++) {
      const hit = await index.search(row(extra, DIM, i), 1);
      equal(hit[0].id, 10_000 + i, `addition ${i} is found`);
    }
    equal((await index.search(row(data, DIM, 123), 1))[0].id, 123, "and the saved vectors");
    await index.add(10_000 + added, row(extra, DIM, added));
    equal((await index.search(row(extra, DIM, added), 1))[0].id, 10_000 + added, "an addition after the failure");
    added++;

    // Once the file is free again, a save succeeds and holds everything.
    await ask(grabber, { op: "release" });
    grabber.terminate();
    await index.save();
    await index.close();
  }
  const again = await w.open(NAME, { storage: "opfs" });
  equal(again.length, N + added, "the last save stored every addition");
  for (let i = 0; i < added; i++) {
    equal((await again.search(row(extra, DIM, i), 1))[0].id, 10_000 + i, `addition ${i} is stored`);
  }
  await again.close();
  await w.remove(NAME);
  w.terminate();
  return report.join("; ");
}, 240_000);

test("OPFS: an open in another worker during a save waits for the save and never takes the file from the saving index", async () => {
  const name = `${NAME}-open`;
  const saver = await createIndexWorker();
  const other = await createIndexWorker();
  if (await saver.exists(name)) await saver.remove(name);
  const built = await saver.create(DIM, { metric: "l2", seed: 3, m: 6, efConstruction: 24 });
  await built.addMany(Float64Array.from({ length: N }, (_, i) => i), data);
  await built.save(name, { storage: "opfs" });
  await built.close();
  const index = await saver.open(name, { storage: "opfs", cacheBytes: 8 * 1024 });
  // The other worker tries to open the index again and again while it is saved.
  let stop = false;
  const opens = { locked: 0, opened: 0, other: [] };
  const opener = (async () => {
    while (!stop) {
      try {
        const copy = await other.open(name, { storage: "opfs" });
        opens.opened++;
        await copy.close();
      } catch (err) {
        if (err.name === "IndexLockedError") opens.locked++;
        else opens.other.push(err.name);
      }
    }
  })();
  const SAVES = 40;
  for (let i = 0; i < SAVES; i++) {
    await index.add(10_000 + i, row(extra, DIM, i));
    await index.save();
    equal(index.storage, "opfs", `after save ${i} the index still reads its file`);
  }
  stop = true;
  await opener;
  equal(opens.opened, 0, "opens in the other worker that took the file");
  equal(opens.other.join(), "", "other errors of those opens");
  assert(opens.locked > 0, "the other worker tried to open it");
  await index.close();
  const again = await other.open(name, { storage: "opfs" });
  equal(again.length, N + SAVES, "every addition was saved");
  await again.close();
  await other.remove(name);
  saver.terminate();
  other.terminate();
  return `${opens.locked} opens during ${SAVES} saves, each IndexLockedError`;
}, 240_000);

await done();
