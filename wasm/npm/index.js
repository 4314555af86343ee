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

/**
 * Loads and instantiates the WebAssembly module. Await it once before using Index,
 * KMeans or Pca; later calls (also concurrent ones) share the first load. If a load
 * fails, the next call tries again.
 *
 * @param {string|URL|Request|Response|BufferSource|WebAssembly.Module|Promise<any>} [input]
 *   where the .wasm is; by default `dist/vectrove_wasm_bg.wasm` next to this package.
 */
export default function init(input) {
  if (pending === null) {
    pending = wasmInit(wrapInput(input)).then(
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
