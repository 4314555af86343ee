// The worker side of `createIndexWorker` (see remote.js for the page side). Runs as a
// dedicated module worker: loads the wasm module, keeps Index objects by handle and
// answers the page's requests. OPFS-backed indexes work here because a dedicated worker
// may hold FileSystemSyncAccessHandles.
//
// It imports the wasm glue directly rather than index.js: index.js also holds the code
// that starts this worker, and bundlers would otherwise try to nest the worker in itself.
import init, { Index, KMeans, Pca, version } from "./dist/vectrove_wasm.js";

const indexes = new Map(); // handle -> Index
let nextHandle = 1;
const controllers = new Map(); // request id -> AbortController (until the request ends)
let ready = null;
let memory = null; // the wasm memory, whose buffer must never be transferred

function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

function toWire(err) {
  if (err !== null && typeof err === "object" && "message" in err) {
    const wire = { name: String(err.name || "Error"), message: String(err.message) };
    if (typeof err.status === "number") wire.status = err.status;
    return wire;
  }
  return { name: "Error", message: String(err) };
}

function namedError(name, message) {
  const err = new Error(message);
  err.name = name;
  return err;
}

// Hands a result's buffer over to the page instead of copying it, when it is safe to.
function give(value, transfer) {
  if (ArrayBuffer.isView(value)) {
    const { buffer } = value;
    if (buffer instanceof ArrayBuffer && buffer !== memory?.buffer &&
        value.byteOffset === 0 && value.byteLength === buffer.byteLength) {
      transfer.push(buffer);
      return value;
    }
    return value.slice();
  }
  return value;
}

function snapshot(index) {
  return {
    length: index.length,
    dim: index.dim,
    metric: index.metric,
    kind: index.kind,
    storage: index.storage,
    name: index.name ?? undefined,
    quantization: index.quantization ?? null,
    quantized: index.quantized,
    idType: index.idType,
  };
}

function adopt(index) {
  const handle = nextHandle++;
  indexes.set(handle, index);
  return { handle, info: snapshot(index) };
}

function progressTo(id, wanted) {
  return wanted ? (...args) => post({ t: "progress", id, args }) : undefined;
}

// close() throws BusyError while an asynchronous call holds the index; the handle then
// stays valid, as the Index itself stays usable.
function release(handle) {
  const index = indexes.get(handle);
  if (index === undefined) return;
  index.close();
  indexes.delete(handle);
  index.free();
}

// The index's properties, or undefined when they cannot be read right now (another
// call holds it); the page then keeps the values it had.
function trySnapshot(handle) {
  const index = indexes.get(handle);
  if (index === undefined) return undefined;
  try {
    return snapshot(index);
  } catch {
    return undefined;
  }
}

function importSource(source) {
  switch (source.kind) {
    case "response":
      return new Response(source.value, { headers: source.headers });
    default:
      return source.value;
  }
}

const operations = {
  create([dim, options]) {
    return adopt(new Index(dim, options));
  },
  trainIvf([dim, training, options]) {
    return adopt(Index.trainIvf(dim, training, options));
  },
  async open([name, options]) {
    return adopt(await Index.open(name, options));
  },
  async import([name, source, options], id) {
    const { progress, ...rest } = options;
    const index = await Index.import(name, importSource(source), {
      ...rest,
      onProgress: progressTo(id, progress),
    });
    return adopt(index);
  },
  fromBytes([bytes, options]) {
    return adopt(Index.fromBytes(bytes, options));
  },
  exists([name, options]) {
    return Index.exists(name, options);
  },
  async remove([name, options]) {
    await Index.remove(name, options);
  },
  trainKMeans([data, dim, options], id, transfer) {
    const flag = options.abortFlag ? new Int32Array(options.abortFlag) : null;
    const signal = controllers.get(id).signal;
    const report = progressTo(id, options.progress);
    let stopped = false;
    const train = { ...options.train };
    if (report || flag) {
      train.onProgress = (iteration, inertia) => {
        report?.(iteration, inertia);
        if (signal.aborted || (flag !== null && Atomics.load(flag, 0) !== 0)) {
          stopped = true;
          return false;
        }
        return true;
      };
    }
    if (signal.aborted) throw namedError("AbortError", "k-means training was aborted");
    const model = KMeans.train(data, dim, train);
    try {
      if (stopped) throw namedError("AbortError", "k-means training was aborted");
      const result = {
        centroids: give(model.centroids, transfer),
        k: model.k,
        dim: model.dim,
        metric: model.metric,
        inertia: model.inertia,
        iterations: model.iterations,
      };
      if (options.assignments) result.assignments = give(model.assign(data), transfer);
      return result;
    } finally {
      model.free();
    }
  },
  fitPca([data, dim, options], _id, transfer) {
    const pca = Pca.fit(data, dim, options.fit);
    try {
      const result = {
        components: give(pca.components, transfer),
        mean: give(pca.mean, transfer),
        explainedVariance: give(pca.explainedVariance, transfer),
        explainedVarianceRatio: give(pca.explainedVarianceRatio, transfer),
        dim: pca.dim,
        nComponents: pca.nComponents,
        iterations: pca.iterations,
      };
      if (options.transform) result.projection = give(pca.transform(data), transfer);
      return result;
    } finally {
      pca.free();
    }
  },
};

// The allowed ids arrive as one typed array, which the index takes as its filter.
function searchOptions(options) {
  const { allow, ...rest } = options;
  if (allow !== undefined) rest.filter = allow;
  return rest;
}

const methods = {
  add: (index, [id, vector]) => index.add(id, vector),
  addMany: (index, [ids, vectors, options], id) => index.addMany(ids, vectors, {
    onProgress: progressTo(id, options.progress),
    signal: controllers.get(id).signal,
  }),
  search: (index, [query, k, options]) => index.search(query, k, searchOptions(options)),
  searchSync: (index, [query, k, options]) => index.searchSync(query, k, searchOptions(options)),
  searchMany: async (index, [queries, k, options], _id, transfer) => {
    const batch = await index.searchMany(queries, k, searchOptions(options));
    transfer.push(batch.ids.buffer, batch.distances.buffer, batch.counts.buffer);
    return batch;
  },
  delete: (index, [key]) => index.delete(key),
  contains: (index, [key]) => index.contains(key),
  get: (index, [key], _id, transfer) => give(index.get(key), transfer),
  getMany: (index, [ids], _id, transfer) => give(index.getMany(ids), transfer),
  quantize: (index, [kind]) => index.quantize(kind),
  save: (index, [name, options]) => index.save(name, options),
  toBytes: (index, _args, _id, transfer) => give(index.toBytes(), transfer),
  stats: (index) => index.stats(),
  info: () => undefined,
};

async function handle(message) {
  const { id } = message;
  const transfer = [];
  const onIndex = message.op === "index";
  let reply;
  try {
    await ready;
    let value;
    if (onIndex) {
      const index = indexes.get(message.handle);
      if (message.method === "close") {
        release(message.handle); // closing a closed index does nothing, as in Index
      } else if (index === undefined) {
        throw namedError("InvalidArgumentError", `${message.method}: the index is closed`);
      } else {
        value = await methods[message.method](index, message.args, id, transfer);
      }
    } else {
      value = await operations[message.op](message.args, id, transfer);
    }
    reply = { t: "done", id, value };
  } catch (err) {
    reply = { t: "fail", id, error: toWire(err) };
    transfer.length = 0;
  } finally {
    if (onIndex) {
      const info = trySnapshot(message.handle);
      if (info !== undefined) reply.info = info;
    }
    try {
      post(reply, transfer);
    } catch (err) {
      // A result that cannot be cloned still answers the request.
      post({ t: "fail", id, error: toWire(err) });
    }
    controllers.delete(id);
  }
}

self.addEventListener("message", (event) => {
  const message = event.data;
  switch (message?.t) {
    case "init":
      ready = init(message.wasm === undefined ? undefined : { module_or_path: message.wasm }).then(
        (exports) => {
          memory = exports.memory;
          post({ t: "ready", version: version() });
        },
        (err) => {
          post({ t: "fatal", error: toWire(err) });
          throw err;
        },
      );
      ready.catch(() => {});
      break;
    case "call": {
      // Created before anything is awaited, so an abort that follows at once is not lost.
      const controller = new AbortController();
      if (message.aborted) controller.abort();
      controllers.set(message.id, controller);
      handle(message);
      break;
    }
    case "abort":
      controllers.get(message.id)?.abort();
      break;
    case "release":
      try {
        release(message.handle);
      } catch {
        // Nothing waits for this answer; the handle is gone either way.
      }
      break;
  }
});
