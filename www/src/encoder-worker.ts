// The demo's encoder worker: turns a query into the same kind of vector the index holds,
// with all-MiniLM-L6-v2 run by candle (www/encoder, compiled to wasm). The model's files
// are downloaded once and kept in Cache Storage, so later visits, offline ones included,
// load them from the browser.

import init, { Encoder } from "./encoder-pkg/vectrove_demo_encoder.js";
import wasmUrl from "./encoder-pkg/vectrove_demo_encoder_bg.wasm?url";
import type { EncoderReply, EncoderRequest, ModelManifest } from "./protocol";

interface Scope {
  postMessage(message: EncoderReply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<{ seq: number; request: EncoderRequest }>) => void) | null;
}
const scope = self as unknown as Scope;

/** The Cache Storage cache that holds the model's files. */
const CACHE = "vectrove-demo-model";
const FILES = ["model.safetensors", "config.json", "tokenizer.json"] as const;

let encoder: Encoder | null = null;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A file of the model: from the cache when it holds this version, else downloaded (with progress) and kept. */
async function modelFile(
  cache: Cache,
  url: string,
  want: { bytes: number; sha256: string },
  progress: (bytes: number) => void,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; cached: boolean }> {
  // The key names the version, so a new model never meets an old file.
  const key = `${url}?sha256=${want.sha256}`;
  const kept = await cache.match(key);
  if (kept) {
    const bytes = new Uint8Array(await kept.arrayBuffer());
    if (bytes.length === want.bytes) {
      progress(bytes.length);
      return { bytes, cached: true };
    }
    await cache.delete(key);
  }
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok || !response.body) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(want.bytes);
  let at = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > bytes.length) throw new Error(`${url}: longer than the ${want.bytes} bytes of the manifest`);
    bytes.set(value, at);
    at += value.length;
    progress(at);
  }
  if (at !== want.bytes) throw new Error(`${url}: ${at} bytes, the manifest says ${want.bytes}`);
  if ((await sha256(bytes)) !== want.sha256) throw new Error(`${url}: not the file the manifest names (SHA-256)`);
  try {
    await cache.put(key, new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } }));
  } catch (e) {
    // No room (the quota) or no Cache Storage: the model still runs, and the next visit
    // downloads it again.
    console.warn(`the model's ${url} is not kept: ${e}`);
  }
  return { bytes, cached: false };
}

async function load(base: string, manifest: ModelManifest, progress: (done: number, total: number) => void) {
  const t0 = performance.now();
  await init({ module_or_path: wasmUrl });
  const cache = await caches.open(CACHE);
  const total = FILES.reduce((sum, f) => sum + manifest.files[f].bytes, 0);
  const done = new Map<string, number>();
  const report = () => progress([...done.values()].reduce((a, b) => a + b, 0), total);
  const files = await Promise.all(
    FILES.map((f) =>
      modelFile(cache, new URL(f, base).href, manifest.files[f], (n) => {
        done.set(f, n);
        report();
      }),
    ),
  );
  // Drop what an earlier model version left.
  const current = new Set(FILES.map((f) => `${new URL(f, base).href}?sha256=${manifest.files[f].sha256}`));
  for (const request of await cache.keys()) if (!current.has(request.url)) await cache.delete(request);
  const fetched = performance.now() - t0;
  const [weights, config, tokenizer] = files.map((f) => f.bytes);
  encoder?.free();
  encoder = new Encoder(weights, config, tokenizer);
  return {
    cached: files.every((f) => f.cached),
    bytes: total,
    fetchMs: fetched,
    ms: performance.now() - t0,
  };
}

function embed(texts: string[]) {
  if (!encoder) throw new Error("the model is not loaded yet");
  const t0 = performance.now();
  const vectors = encoder.embed(texts);
  return { vectors, ms: performance.now() - t0 };
}

// Requests are handled one at a time, in order.
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (event) => {
  const { seq, request } = event.data;
  queue = queue.then(async () => {
    try {
      if (request.op === "load") {
        const value = await load(request.base, request.manifest, (done, total) =>
          scope.postMessage({ seq, progress: { done, total } }),
        );
        scope.postMessage({ seq, ok: true, value });
      } else {
        const value = embed(request.texts);
        scope.postMessage({ seq, ok: true, value }, [value.vectors.buffer]);
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      scope.postMessage({ seq, ok: false, error: { name: err.name, message: err.message } });
    }
  });
};
