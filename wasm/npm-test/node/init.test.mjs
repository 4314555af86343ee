// The package under Node, run by Node's own test runner (`node --test`): `init()` with no
// argument finds the bundled .wasm, and an index works in memory and through its bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import init, { Index, errorNames } from "vectrove";

test("init() finds the bundled .wasm under Node, and twice is once", async () => {
  const [a, b] = await Promise.all([init(), init()]);
  assert.equal(a, b);
});

test("an index in memory: add, search, toBytes and fromBytes", async () => {
  await init();
  const index = new Index(3, { metric: "l2" });
  for (let i = 0; i < 100; i++) index.add(i, [i, i % 7, 1]);
  const hits = await index.search([42, 0, 1], 3);
  assert.equal(hits[0].id, 42);
  const copy = Index.fromBytes(index.toBytes());
  assert.deepEqual(copy.searchSync([42, 0, 1], 3), index.searchSync([42, 0, 1], 3));
  copy.free();
  index.free();
});

test("bad input is a named error", async () => {
  await init();
  const index = new Index(3);
  assert.throws(() => index.add(1, [1, 2]), (e) => e.name === "DimensionMismatchError" && errorNames.includes(e.name));
  index.free();
});

test("the browser's own storages are refused under Node with UnsupportedError", async () => {
  await init();
  const index = new Index(3);
  index.add(1, [1, 2, 3]);
  for (const storage of ["opfs", "indexeddb"]) {
    await assert.rejects(index.save("x", { storage }), { name: "UnsupportedError" }, `save to ${storage}`);
    await assert.rejects(Index.open("x", { storage }), { name: "UnsupportedError" }, `open from ${storage}`);
  }
  index.free();
});
