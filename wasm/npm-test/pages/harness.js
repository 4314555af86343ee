// A minimal in-page test harness. Tests run one after another; the runner (run-tests.mjs)
// waits for `window.__done` and reads `window.__results`, one entry per test.
const tests = [];

export function test(name, fn, timeoutMs = 60_000) {
  tests.push({ name, fn, timeoutMs });
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function equal(actual, expected, message) {
  if (!Object.is(actual, expected)) {
    throw new Error(`${message}: expected ${String(expected)}, got ${String(actual)}`);
  }
}

// Runs `fn` (sync or async) and checks that it fails with an Error named `name`.
export async function failsWith(name, fn) {
  let error;
  try {
    await fn();
  } catch (err) {
    error = err;
  }
  if (error === undefined) throw new Error(`expected ${name}, but nothing was thrown`);
  if (!(error instanceof Error)) {
    throw new Error(`expected an Error named ${name}, got ${Object.prototype.toString.call(error)} ${String(error)}`);
  }
  if (error.name !== name) {
    throw new Error(`expected ${name}, got ${error.name}: ${error.message}`);
  }
  assert(error.message.length > 0 && !error.message.includes("\n"), `${name} has a one-line message`);
  return error;
}

// Deterministic pseudo-random vectors (mulberry32).
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomVectors(n, dim, seed) {
  const next = rng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = next() * 2 - 1;
  return out;
}

export function row(vectors, dim, i) {
  return vectors.slice(i * dim, (i + 1) * dim);
}

export function sameVector(a, b) {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

export function bruteForce(vectors, dim, query, k) {
  const n = vectors.length / dim;
  const all = [];
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let j = 0; j < dim; j++) {
      const x = vectors[i * dim + j] - query[j];
      d += x * x;
    }
    all.push({ id: i, distance: d });
  }
  all.sort((x, y) => x.distance - y.distance);
  return all.slice(0, k);
}

export async function done() {
  const results = [];
  for (const { name, fn, timeoutMs } of tests) {
    const t0 = performance.now();
    let timer;
    try {
      const detail = await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      const ms = Math.round(performance.now() - t0);
      results.push({ name, ok: true, ms, detail: typeof detail === "string" ? detail : undefined });
    } catch (err) {
      const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      results.push({ name, ok: false, ms: Math.round(performance.now() - t0), detail });
      console.error(`${name}: ${err?.stack ?? detail}`);
    } finally {
      clearTimeout(timer);
    }
  }
  window.__results = results;
  window.__done = true;
}
