// Entry point of the `vectrove` package: the wasm classes, an init that may be called
// any number of times, and createIndexWorker for running indexes in a dedicated worker
// (needed for OPFS-backed indexes, which read through synchronous access handles).
import wasmInit, { initSync as wasmInitSync, Index, KMeans, Pca, version } from "./dist/vectrove_wasm.js";

export { Index, KMeans, Pca, version };
export { createIndexWorker, RemoteIndex } from "./remote.js";

/** The `name` of every error the library throws, in the worker and on the page alike. */
export const errorNames = Object.freeze([
  "DimensionMismatchError",
  "InvalidVectorError",
  "DuplicateIdError",
  "UnknownIdError",
  "InvalidArgumentError",
  "CorruptIndexError",
  "StorageError",
  "QuotaExceededError",
  "IndexLockedError",
  "NotFoundError",
  "NotResidentError",
  "UnsupportedError",
  "AbortError",
  "BusyError",
  "IndexChangedError",
  "HttpError",
  "TimeoutError",
  "NetworkError",
]);

let pending = null;
let loaded = false;

// wasm-bindgen's init takes `{ module_or_path }`; accept the bare value too.
function wrapInput(input) {
  if (input === undefined || input === null) return undefined;
  if (typeof input === "object" && !(input instanceof URL) && !(input instanceof Request) &&
      !(input instanceof Response) && !(input instanceof WebAssembly.Module) &&
      !(input instanceof ArrayBuffer) && !ArrayBuffer.isView(input) &&
      !(typeof input.then === "function") && "module_or_path" in input) {
    return input;
  }
  return { module_or_path: input };
}

// Under Node the package's own .wasm is a file: URL, which Node's fetch does not read, so
// it is read from the disk. Elsewhere (browsers, bundlers) the default stands: undefined.
// The module name is a variable so that bundlers for the browser leave it alone.
async function bundledFile() {
  const url = new URL("./dist/vectrove_wasm_bg.wasm", import.meta.url);
  if (url.protocol !== "file:" || typeof process === "undefined" || !process.versions?.node) return undefined;
  const fs = "node:fs/promises";
  const { readFile } = await import(/* @vite-ignore */ fs);
  return readFile(url);
}

/**
 * Loads and instantiates the WebAssembly module. Await it once before using Index,
 * KMeans or Pca; later calls (also concurrent ones) share the first load. If a load
 * fails, the next call tries again.
 *
 * @param {string|URL|Request|Response|BufferSource|WebAssembly.Module|Promise<any>} [input]
 *   where the .wasm is; by default `dist/vectrove_wasm_bg.wasm` next to this package
 *   (fetched in browsers, read from the disk under Node).
 */
export default function init(input) {
  if (pending === null) {
    pending = (input === undefined || input === null ? bundledFile() : Promise.resolve(input))
      .then((source) => wasmInit(wrapInput(source)))
      .then(
        (exports) => {
          loaded = true;
          return exports;
        },
        (err) => {
          pending = null;
          throw err;
        },
      );
  }
  return pending;
}

export { init };

/** Synchronous init from bytes or a compiled module; a no-op once the module is loaded. */
export function initSync(module) {
  if (loaded) return;
  const input = module instanceof WebAssembly.Module || ArrayBuffer.isView(module) ||
    module instanceof ArrayBuffer ? { module } : module;
  const exports = wasmInitSync(input);
  loaded = true;
  pending = Promise.resolve(exports);
}
