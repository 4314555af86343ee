// The values the npm README's code blocks use without defining them (`embedding`, `ids`,
// `vectors`, `query`, `index`, ...), made from the debian-384 fixtures that
// scripts/wasm-fixtures.sh writes. readme.mjs puts an import of this module before each
// block, asking only for the names the block uses and does not declare itself. It runs on
// a page, in a module worker and under Node; `load(file)` reads a fixture there.

export const DIM = 384;
// The fixture vectors used as the documents a block adds (`ids`, `vectors`); `embedding`
// and the queries are not among them.
const DOCS = 1000;
// A block run twice (a first visit, then a later one) adds new documents on the second
// run, as a later visit would: `ids` start at FIRST_ID + run * ID_STRIDE. The fixture index
// served as /indexes/docs.vtrv holds ids 0..1999 (row numbers), so these never collide.
const FIRST_ID = 10_000;
const ID_STRIDE = 10_000;

// The vectors of an .fvecs file (each record: an i32 dimension, then that many f32s).
function fvecs(buffer) {
  const view = new DataView(buffer);
  const record = 4 + DIM * 4;
  if (buffer.byteLength % record !== 0 || view.getInt32(0, true) !== DIM) {
    throw new Error(`not an .fvecs file of dimension ${DIM} (${buffer.byteLength} bytes)`);
  }
  const n = buffer.byteLength / record;
  const out = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) out.set(new Float32Array(buffer, i * record + 4, DIM), i * DIM);
  return out;
}

/**
 * Resolves to an object holding each of `names` that this module knows (others are left
 * out, so the block's own code or the package defines them).
 * `vectrove` is the package's module namespace (initialised), `load(file)` resolves to the
 * bytes (ArrayBuffer) of a fixture file, `run` is 0 for a block's first run, 1 for its second.
 */
export async function placeholders(vectrove, names, { load, run = 0 }) {
  const { Index } = vectrove;
  const want = new Set(names);
  const base = fvecs(await load("debian-2k.fvecs"));
  const queries = fvecs(await load("queries-100.fvecs"));
  const docs = base.subarray(0, DOCS * DIM);
  const docIds = Array.from({ length: DOCS }, (_, i) => FIRST_ID + run * ID_STRIDE + i);
  let built;
  const index = async () => {
    if (!built) {
      built = new Index(DIM, { metric: "cosine", seed: 1 });
      await built.addMany(docIds, docs);
    }
    return built;
  };
  const out = {};
  const lazy = {
    dim: () => DIM,
    // One vector that is not among `vectors`.
    embedding: () => base.slice((base.length / DIM - 1) * DIM),
    ids: () => docIds.slice(),
    vectors: () => docs.slice(),
    // k-means and PCA input: all 2,000 fixture vectors, back to back.
    data: () => base.slice(),
    query: () => queries.slice(0, DIM),
    queries: () => queries.slice(),
    index,
    bytes: async () => (await index()).toBytes(),
    // A second index holding the same documents (without codes).
    other: async () => {
      const o = new Index(DIM, { metric: "cosine", seed: 2 });
      await o.addMany(docIds, docs);
      return o;
    },
    // Ids of the served index (0..1999) and of `ids`, every third one.
    allowedIds: () => new Set([...Array.from({ length: 2000 }, (_, i) => i), ...docIds].filter((id) => id % 3 === 0)),
    onProgress: () => () => {},
    wrongLength: () => new Float32Array(DIM - 1),
  };
  for (const name of want) {
    if (Object.hasOwn(lazy, name)) out[name] = await lazy[name]();
  }
  return out;
}
