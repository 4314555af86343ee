// The page side of `createIndexWorker`: a dedicated module worker (worker.js) owns the wasm
// instance and the Index objects; the page holds RemoteIndex proxies and talks to the worker
// with postMessage. Each request carries an id; the worker answers with "done" or "fail"
// (an error's name and message), and may send "progress" messages before that.
//
// Buffers sent to the worker are copied once into a fresh buffer that is then transferred,
// so the caller's arrays are never detached unless an option says `transfer: true`.
// Buffers coming back (toBytes, get, k-means centroids) are the worker's own copies and are
// transferred, not copied.

const INFO_KEYS = [
  "length", "dim", "metric", "kind", "storage", "name", "quantization", "quantized", "idType",
];

function namedError(name, message) {
  const err = new Error(message);
  err.name = name;
  return err;
}

function fromWire(error) {
  const message = String(error?.message ?? "unknown error");
  // A TypeError (an unknown option, a value of the wrong type) stays one.
  const err = error?.name === "TypeError" ? new TypeError(message) : namedError(String(error?.name ?? "Error"), message);
  // The HTTP status of an error from an index read over HTTP.
  if (typeof error?.status === "number") err.status = error.status;
  return err;
}

function checkOptions(options, what, known) {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`${what}: options must be an object`);
  }
  // The options handled on this side only; the rest are checked by the worker's Index.
  if (known !== undefined) {
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) {
        throw new TypeError(`${what}: unknown option \`${key}\` (it takes ${known.map((k) => `\`${k}\``).join(", ")})`);
      }
    }
  }
  return options;
}

// The options object for the worker: without the keys this file handles itself, and with
// callbacks and signals (which cannot be cloned) sent as null, so that the worker still
// sees their names and refuses a misspelt one. Undefined values are dropped.
function wireOptions(options, skip = []) {
  const out = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || skip.includes(key)) continue;
    const uncloneable = typeof value === "function" ||
      (typeof AbortSignal !== "undefined" && value instanceof AbortSignal);
    out[key] = uncloneable ? null : value;
  }
  return out;
}

// With storage "http" a name is a URL, resolved against the page (the worker's base
// differs); anything else goes as it is.
function resolveUrl(name, opts) {
  if (opts.storage === "http" && (typeof name === "string" || name instanceof URL)) {
    try {
      return new URL(name, baseHref()).href;
    } catch {
      // Not a URL: the worker's call says so, as Index's does.
    }
  }
  return name;
}

function isWholeOwnBuffer(view) {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 &&
    view.byteLength === view.buffer.byteLength;
}

// A typed array for the worker, pushed onto `transfer`. `Type` converts plain arrays and
// other numeric typed arrays; with `give` the caller's own buffer is transferred when the
// array spans all of it (the caller's array is then detached), otherwise it is copied.
function outgoing(value, Type, transfer, give, what) {
  let array;
  if (value instanceof Type) {
    array = give && isWholeOwnBuffer(value) ? value : value.slice();
  } else if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    if (Array.isArray(value) && Type !== Uint8Array) {
      const bad = value.findIndex((x) => typeof x !== "number");
      if (bad >= 0) throw new TypeError(`\`${what}[${bad}]\` must be a number, got ${typeof value[bad]}`);
    }
    if (value instanceof DataView) {
      throw namedError("InvalidArgumentError", `${what}: expected a ${Type.name}, got a DataView`);
    }
    array = Type.from(value);
  } else {
    throw new TypeError(`${what}: expected a ${Type.name} or an array of numbers`);
  }
  transfer.push(array.buffer);
  return array;
}

// Ids keep their type (any typed array, BigInt ones included); a plain array of numbers
// becomes a Float64Array, one with BigInts is cloned as it is.
function outgoingIds(ids, transfer, give) {
  if (ArrayBuffer.isView(ids) && !(ids instanceof DataView)) {
    return outgoing(ids, ids.constructor, transfer, give, "ids");
  }
  if (Array.isArray(ids) && ids.some((id) => typeof id !== "number")) return ids.slice();
  return outgoing(ids, Float64Array, transfer, give, "ids");
}

function outgoingBytes(bytes, transfer, give, what) {
  if (bytes instanceof ArrayBuffer) {
    const buffer = give ? bytes : bytes.slice(0);
    transfer.push(buffer);
    return new Uint8Array(buffer);
  }
  if (ArrayBuffer.isView(bytes)) {
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return outgoing(view, Uint8Array, transfer, give, what);
  }
  throw namedError("InvalidArgumentError", `${what}: expected an ArrayBuffer or Uint8Array`);
}

function baseHref() {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

// Index.import sources, made cloneable. URLs are resolved against the page, not the worker.
function outgoingSource(source, transfer, give) {
  if (typeof source === "string" || source instanceof URL) {
    return { kind: "url", value: new URL(source, baseHref()).href };
  }
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    return { kind: "bytes", value: outgoingBytes(source, transfer, give, "import source") };
  }
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    return { kind: "blob", value: source };
  }
  if (typeof Response !== "undefined" && source instanceof Response) {
    if (source.bodyUsed) {
      throw namedError("InvalidArgumentError", "import source: the Response body was already read");
    }
    if (source.body === null) {
      return { kind: "bytes", value: new Uint8Array(0) };
    }
    transfer.push(source.body);
    return { kind: "response", value: source.body, headers: [...source.headers] };
  }
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
    transfer.push(source);
    return { kind: "stream", value: source };
  }
  throw namedError(
    "InvalidArgumentError",
    "import source: expected an ArrayBuffer, Uint8Array, Blob, Response, ReadableStream or URL",
  );
}

function outgoingFilter(filter) {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter === "function") {
    throw namedError(
      "InvalidArgumentError",
      "search filter: a function cannot be sent to the worker; pass the allowed ids " +
        "(an array, Set or typed array of ids) instead",
    );
  }
  if (typeof filter[Symbol.iterator] !== "function") {
    throw new TypeError("search filter: expected an iterable of ids");
  }
  // Copied into one typed array, which crosses to the worker without a copy there; the
  // index checks each id as it reads them.
  // A Uint8Array is a bitmap of the allowed ids; these typed arrays cross as they are.
  if (filter instanceof Uint8Array || filter instanceof Uint32Array || filter instanceof BigUint64Array) {
    return filter.slice();
  }
  const ids = Array.from(filter);
  if (!ids.some((id) => typeof id === "bigint")) return Float64Array.from(ids);
  try {
    return BigUint64Array.from(ids, (id) => BigInt(id));
  } catch {
    throw namedError("InvalidArgumentError", "search filter: every id must be an integer from 0 to 2^64 - 1");
  }
}

class Connection {
  constructor(worker) {
    this.worker = worker;
    this.pending = new Map();
    this.nextId = 1;
    this.closed = null; // the error later calls reject with, once terminated
    worker.addEventListener("message", (event) => this.receive(event.data));
    worker.addEventListener("messageerror", () => {
      this.failAll(namedError("StorageError", "a message from the vectrove worker could not be read"));
    });
    this.ready = new Promise((resolve, reject) => {
      this.settleReady = { resolve, reject };
    });
    this.onError = (event) => {
      // Before "ready" this is a load failure (missing script, wrong MIME type, no module
      // worker support); afterwards the worker code itself catches everything it runs.
      event.preventDefault?.();
      const detail = event.message ? `: ${event.message}` : "";
      const err = new Error(`the vectrove worker could not start${detail}`);
      this.settleReady.reject(err);
      this.terminate(err);
    };
    worker.addEventListener("error", this.onError);
  }

  receive(message) {
    if (message === null || typeof message !== "object") return;
    if (message.t === "ready") {
      this.worker.removeEventListener("error", this.onError);
      this.settleReady.resolve(message.version);
      return;
    }
    if (message.t === "fatal") {
      const err = fromWire(message.error);
      this.settleReady.reject(err);
      this.terminate(err);
      return;
    }
    const call = this.pending.get(message.id);
    if (call === undefined) return;
    if (message.t === "progress") {
      if (call.onProgress) {
        try {
          call.onProgress(...message.args);
        } catch (err) {
          // Like an exception in an event listener: reported, and the operation goes on.
          if (typeof reportError === "function") reportError(err);
          else setTimeout(() => { throw err; });
        }
      }
      return;
    }
    this.pending.delete(message.id);
    call.cleanup();
    if (message.info !== undefined) call.onInfo?.(message.info);
    if (message.t === "done") call.resolve(message.value);
    else call.reject(fromWire(message.error));
  }

  post(message, transfer = []) {
    this.worker.postMessage(message, transfer);
  }

  // Sends one request. `extra`: onProgress, onInfo, signal, abortNow (reject as soon as
  // the signal fires instead of waiting for the worker to answer), onAbort.
  call(message, transfer = [], extra = {}) {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const { signal } = extra;
      let onAbort = null;
      const call = {
        resolve,
        reject,
        onProgress: extra.onProgress,
        onInfo: extra.onInfo,
        cleanup: () => {
          if (onAbort) signal.removeEventListener("abort", onAbort);
        },
      };
      this.pending.set(id, call);
      // A signal aborted before the call starts aborts it on arrival in the worker.
      const aborted = signal?.aborted === true;
      try {
        this.post({ ...message, t: "call", id, aborted }, transfer);
      } catch (err) {
        // DataCloneError and friends: nothing reached the worker.
        this.pending.delete(id);
        reject(err);
        return;
      }
      if (signal) {
        onAbort = () => {
          extra.onAbort?.();
          this.post({ t: "abort", id });
          if (extra.abortNow && this.pending.delete(id)) {
            call.cleanup();
            reject(namedError("AbortError", "the operation was aborted"));
          }
        };
        if (aborted) {
          extra.onAbort?.();
          if (extra.abortNow && this.pending.delete(id)) {
            reject(namedError("AbortError", "the operation was aborted"));
          }
        } else {
          signal.addEventListener("abort", onAbort, { once: true });
        }
      }
    });
  }

  failAll(err) {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) {
      call.cleanup();
      call.reject(err);
    }
  }

  terminate(err) {
    if (this.closed) return;
    this.closed = err;
    this.worker.terminate();
    this.failAll(err);
  }
}

// Handles of proxies dropped without close() are released in the worker.
const finalizer = typeof FinalizationRegistry === "function"
  ? new FinalizationRegistry(({ connection, handle }) => {
    if (!connection.closed) connection.post({ t: "release", handle });
  })
  : null;

const CONSTRUCT = Symbol("vectrove.RemoteIndex");

/**
 * An Index living in the worker. Every method of Index is here, returning a promise.
 * `length`, `dim`, `metric`, `kind`, `storage`, `name`, `quantization` and `quantized` are
 * plain properties holding the values of the worker's index after the last call on this
 * proxy completed (whether it succeeded or failed); `refresh()` fetches them without doing
 * anything else.
 */
export class RemoteIndex {
  #connection;
  #handle;
  #info;
  #closed = false;

  constructor(token, connection, handle, info) {
    if (token !== CONSTRUCT) {
      throw new TypeError("RemoteIndex objects come from createIndexWorker(), not from new");
    }
    this.#connection = connection;
    this.#handle = handle;
    this.#info = info;
    finalizer?.register(this, { connection, handle }, this);
  }

  get length() { return this.#info.length; }
  get dim() { return this.#info.dim; }
  get metric() { return this.#info.metric; }
  get kind() { return this.#info.kind; }
  get storage() { return this.#info.storage; }
  get name() { return this.#info.name; }
  get quantization() { return this.#info.quantization; }
  get quantized() { return this.#info.quantized; }
  get idType() { return this.#info.idType; }
  /** True after close() (or free()) or once the worker is terminated. */
  get closed() { return this.#closed || this.#connection.closed !== null; }

  #call(method, args = [], transfer = [], extra = {}) {
    if (this.#closed) {
      return Promise.reject(namedError("InvalidArgumentError", `${method}: the index is closed`));
    }
    return this.#connection.call(
      { op: "index", handle: this.#handle, method, args },
      transfer,
      { ...extra, onInfo: (info) => { this.#info = info; } },
    );
  }

  async add(id, vector) {
    const transfer = [];
    return this.#call("add", [id, outgoing(vector, Float32Array, transfer, false, "vector")], transfer);
  }

  async addMany(ids, vectors, options) {
    const opts = checkOptions(options, "addMany", ["onProgress", "signal", "transfer"]);
    const transfer = [];
    const give = opts.transfer === true;
    const args = [
      outgoingIds(ids, transfer, give),
      outgoing(vectors, Float32Array, transfer, give, "vectors"),
      { progress: typeof opts.onProgress === "function" },
    ];
    return this.#call("addMany", args, transfer, { onProgress: opts.onProgress, signal: opts.signal });
  }

  async search(query, k, options) {
    return this.#search("search", query, k, options);
  }

  async searchSync(query, k, options) {
    return this.#search("searchSync", query, k, options);
  }

  async searchMany(queries, k, options) {
    return this.#search("searchMany", queries, k, options);
  }

  #search(method, query, k, options) {
    const opts = checkOptions(options, method);
    const transfer = [];
    const wire = wireOptions(opts, ["filter"]);
    const allow = outgoingFilter(opts.filter);
    if (allow) {
      wire.allow = allow;
      transfer.push(allow.buffer);
    }
    const what = method === "searchMany" ? "queries" : "query";
    return this.#call(method, [outgoing(query, Float32Array, transfer, false, what), k, wire], transfer);
  }

  async delete(id) { return this.#call("delete", [id]); }
  async contains(id) { return this.#call("contains", [id]); }
  async get(id) { return this.#call("get", [id]); }
  /** See {@link Index.getMany}: the one array of vectors is transferred back. */
  async getMany(ids) {
    const transfer = [];
    return this.#call("getMany", [outgoingIds(ids, transfer, false)], transfer);
  }
  async quantize(kind) { return this.#call("quantize", [kind]); }

  async save(name, options) {
    return this.#call("save", [name, wireOptions(checkOptions(options, "save"))]);
  }

  async toBytes() { return this.#call("toBytes"); }
  async stats() { return this.#call("stats"); }

  /** Fetches the properties (length, dim, metric, kind, storage, name, quantization,
   * quantized); also returns them. */
  async refresh() {
    await this.#call("info");
    return Object.fromEntries(INFO_KEYS.map((key) => [key, this.#info[key]]));
  }

  /**
   * Closes the index in the worker (releasing an OPFS file handle) and frees it there.
   * Like Index.close, rejects with BusyError (and leaves the index open) while another
   * call on it is unfinished. Closing twice is harmless.
   */
  async close() {
    if (this.closed) return;
    await this.#connection.call({ op: "index", handle: this.#handle, method: "close", args: [] });
    this.#closed = true;
    finalizer?.unregister(this);
  }

  /** The same as close(): the worker's object is freed either way. */
  async free() { return this.close(); }

  async [Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")]() { return this.close(); }
}

class IndexWorker {
  #connection;

  constructor(connection, version) {
    this.#connection = connection;
    /** The library version the worker runs. */
    this.version = version;
    /** The underlying Worker object. */
    this.worker = connection.worker;
  }

  async #index(op, args, transfer = [], extra = {}) {
    const { handle, info } = await this.#connection.call({ op, args }, transfer, extra);
    return new RemoteIndex(CONSTRUCT, this.#connection, handle, info);
  }

  /** A new in-memory HNSW index (`new Index(dim, options)` in the worker). */
  async create(dim, options) {
    return this.#index("create", [dim, wireOptions(checkOptions(options, "create"))]);
  }

  /** A new, trained, empty IVF-Flat index (`Index.trainIvf` in the worker). */
  async trainIvf(dim, training, options) {
    const opts = checkOptions(options, "trainIvf");
    const transfer = [];
    const data = outgoing(training, Float32Array, transfer, opts.transfer === true, "training");
    return this.#index("trainIvf", [dim, data, wireOptions(opts, ["transfer"])], transfer);
  }

  /**
   * `Index.open` in the worker, where OPFS-backed indexes work. With storage "http" the
   * name is a URL, resolved against the page.
   */
  async open(name, options) {
    const opts = checkOptions(options, "open");
    return this.#index("open", [resolveUrl(name, opts), wireOptions(opts)]);
  }

  /** `Index.import` in the worker; onProgress(bytes, total) is called on this thread. */
  async import(name, source, options) {
    const opts = checkOptions(options, "import");
    const transfer = [];
    const wire = outgoingSource(source, transfer, opts.transfer === true);
    const args = [name, wire, {
      ...wireOptions(opts, ["transfer"]),
      progress: typeof opts.onProgress === "function",
    }];
    return this.#index("import", args, transfer, { onProgress: opts.onProgress });
  }

  /** `Index.fromBytes` in the worker. The bytes are copied unless `{ transfer: true }`. */
  async fromBytes(bytes, options) {
    const opts = checkOptions(options, "fromBytes");
    const transfer = [];
    const data = outgoingBytes(bytes, transfer, opts.transfer === true, "fromBytes");
    return this.#index("fromBytes", [data, wireOptions(opts, ["transfer"])], transfer);
  }

  async exists(name, options) {
    const opts = checkOptions(options, "exists");
    return this.#connection.call({ op: "exists", args: [resolveUrl(name, opts), wireOptions(opts)] });
  }

  async remove(name, options) {
    const opts = checkOptions(options, "remove");
    return this.#connection.call({ op: "remove", args: [resolveUrl(name, opts), wireOptions(opts)] });
  }

  /**
   * `KMeans.train` in the worker, returning plain data. onProgress(iteration, inertia) is
   * called on this thread; its return value is ignored (use `signal` to stop early).
   * With `assignments: true` the result also holds each point's cluster.
   */
  async trainKMeans(data, dim, options) {
    const opts = checkOptions(options, "trainKMeans");
    const transfer = [];
    const vectors = outgoing(data, Float32Array, transfer, opts.transfer === true, "data");
    const train = wireOptions(opts, ["transfer", "assignments", "signal"]);
    const wire = {
      train,
      progress: typeof opts.onProgress === "function",
      assignments: opts.assignments === true,
    };
    // Training is synchronous in the worker, so an abort message would only be read after
    // it ends. Where SharedArrayBuffer exists (cross-origin isolated pages) a shared flag
    // lets the worker stop between iterations; elsewhere the promise rejects at once and
    // the worker's result is dropped.
    let flag = null;
    if (opts.signal && typeof SharedArrayBuffer === "function" && globalThis.crossOriginIsolated) {
      flag = new Int32Array(new SharedArrayBuffer(4));
      wire.abortFlag = flag.buffer;
    }
    return this.#connection.call({ op: "trainKMeans", args: [vectors, dim, wire] }, transfer, {
      onProgress: opts.onProgress,
      signal: opts.signal,
      abortNow: flag === null,
      onAbort: () => {
        if (flag) Atomics.store(flag, 0, 1);
      },
    });
  }

  /**
   * `Pca.fit` in the worker, returning plain data: the components, the mean and the
   * explained variance, and with `transform: true` also `data` projected onto the
   * components (n*nComponents values).
   */
  async fitPca(data, dim, options) {
    const opts = checkOptions(options, "fitPca");
    const transfer = [];
    const vectors = outgoing(data, Float32Array, transfer, opts.transfer === true, "data");
    const wire = { fit: wireOptions(opts, ["transfer", "transform"]), transform: opts.transform === true };
    return this.#connection.call({ op: "fitPca", args: [vectors, dim, wire] }, transfer);
  }

  /** Stops the worker; pending calls reject with an AbortError and proxies are closed. */
  terminate() {
    this.#connection.terminate(namedError("AbortError", "the vectrove worker was terminated"));
  }
}

/**
 * Starts a dedicated module worker running vectrove and resolves once its wasm module is
 * loaded. Options: `workerUrl` (where worker.js is, when a bundler does not handle
 * `new URL("./worker.js", import.meta.url)`) and `wasmUrl` (where the .wasm is, passed to
 * init in the worker).
 */
export async function createIndexWorker(options) {
  const opts = checkOptions(options, "createIndexWorker", ["workerUrl", "wasmUrl"]);
  // Bundlers such as Vite find the worker through this exact `new Worker(new URL(...))` form.
  const worker = opts.workerUrl !== undefined
    ? new Worker(opts.workerUrl, { type: "module", name: "vectrove" })
    : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "vectrove" });
  const connection = new Connection(worker);
  const wasm = opts.wasmUrl === undefined ? undefined : new URL(opts.wasmUrl, baseHref()).href;
  connection.post({ t: "init", wasm });
  const version = await connection.ready;
  return new IndexWorker(connection, version);
}
