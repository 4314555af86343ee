// Types of the `vectrove` package. The classes mirror the wasm-bindgen output in
// dist/vectrove_wasm.d.ts, with the options objects and results spelled out.

declare global {
  // The symbols `using` and `await using` call (ES2026 explicit resource management),
  // declared as TypeScript's own lib declares them, for projects whose `lib` predates them.
  interface SymbolConstructor {
    readonly dispose: unique symbol;
    readonly asyncDispose: unique symbol;
  }
}

/** Distance used by an index or by k-means. */
export type Metric = "l2" | "cosine" | "ip";
/** The index structure. */
export type IndexKind = "hnsw" | "ivf";
/**
 * Where an index's vectors live ("http": a file on a web server, read by range requests;
 * "file": a file on Node's file system, read lazily).
 */
export type Storage = "memory" | "opfs" | "indexeddb" | "http" | "file";
/** Where an index can be saved or stored ("file": under Node, where `name` is a path). */
export type StoredStorage = "memory" | "opfs" | "indexeddb" | "file";
/**
 * Compact codes an index can search on, always resident, with the best candidates
 * reranked exactly: "sq8" keeps one byte a dimension (a quarter of the f32 vector),
 * "sq4" half a byte (an eighth; coarser, so it wants a longer rerank).
 */
export type Quantization = "sq8" | "sq4";

/** The `name` of every error thrown by the library. Messages are one line. */
export type VectroveErrorName =
  | "DimensionMismatchError"
  | "InvalidVectorError"
  | "DuplicateIdError"
  | "UnknownIdError"
  | "InvalidArgumentError"
  | "CorruptIndexError"
  | "StorageError"
  | "QuotaExceededError"
  | "IndexLockedError"
  | "NotFoundError"
  | "NotResidentError"
  | "UnsupportedError"
  | "AbortError"
  | "BusyError"
  | "IndexChangedError"
  | "HttpError"
  | "TimeoutError"
  | "NetworkError";

/** A plain `Error` whose `name` is one of {@link VectroveErrorName}. */
export interface VectroveError extends Error {
  name: VectroveErrorName;
  /** The HTTP status of an error from an index read over HTTP (HttpError, NotFoundError). */
  status?: number;
}

/** Every error name, in a frozen array (e.g. for `errorNames.includes(err.name)`). */
export const errorNames: readonly VectroveErrorName[];

/** The JS type of the ids an index gives back, by its `idType`. */
export interface IdTypes {
  number: number;
  bigint: bigint;
}

/**
 * What an index gives ids back as, fixed when it is created or opened: "number" (the
 * default; ids up to 2^53 - 1) or "bigint" (any u64).
 */
export type IdType = keyof IdTypes;

/**
 * One search result: the caller's id and its distance to the query (smaller is nearer):
 * squared Euclidean distance for "l2", 1 - cosine similarity for "cosine", minus the dot
 * product for "ip".
 */
export interface SearchHit<I extends Id = number> {
  id: I;
  distance: number;
}

/**
 * The results of {@link Index.searchMany}: row `i` is `ids` and `distances` from `i * k`
 * to `i * k + counts[i]`, nearest first; the rest of a short row is padding (id 0,
 * distance Infinity).
 */
export interface SearchBatch<T extends IdType = "number"> {
  /** The row width: the `k` asked for, at most the number of points. */
  k: number;
  ids: T extends "bigint" ? BigUint64Array : Float64Array;
  distances: Float32Array;
  counts: Uint32Array;
}

/** An id given to the library: an integer from 0 to 2^53 - 1, or a BigInt up to 2^64 - 1. */
export type Id = number | bigint;

export interface IdTypeOption<T extends IdType = IdType> {
  /**
   * What ids come back as (default "number"). An index of numbers refuses ids above
   * 2^53 - 1, and opening a file that holds one, with InvalidArgumentError.
   */
  idType?: T;
}

/** Ids of vectors, e.g. a Float64Array, Uint32Array, BigUint64Array or array of numbers. */
export type Ids = ArrayLike<number | bigint>;

export interface HnswOptions<T extends IdType = IdType> extends IdTypeOption<T> {
  /** Default "cosine". */
  metric?: Metric;
  /** Links per node. */
  m?: number;
  efConstruction?: number;
  seed?: number;
  /**
   * Search on codes: the quantiser trains itself on the stored vectors at the end of the
   * add or addMany that brings the index to 1,000 vectors (add a representative batch
   * first; {@link Index.quantize} retrains at any time). Unknown names throw
   * InvalidArgumentError.
   */
  quantize?: Quantization;
}

export interface IvfOptions<T extends IdType = IdType> extends IdTypeOption<T> {
  /** Default "cosine". */
  metric?: Metric;
  /** Number of inverted lists (k-means clusters); default 4·√n. */
  nlist?: number;
  /** k-means iterations. */
  iters?: number;
  seed?: number;
  /** How k-means starts (default "kmeans++"); see KMeansOptions.init. */
  init?: KMeansInit;
  /** Trains the lists on at most nlist times this many points (default 256). */
  maxPointsPerCentroid?: number;
  /** Scan the lists on codes, trained once the index holds 1,000 vectors (see HnswOptions). */
  quantize?: Quantization;
}

export interface AddManyOptions {
  /** Called between chunks with the number of vectors inserted so far. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting rejects with an AbortError; vectors inserted before that stay. */
  signal?: AbortSignal;
}

export interface SearchOptions<I extends Id = number> {
  /** HNSW: candidate list size during search. */
  ef?: number;
  /** IVF: number of lists scanned. */
  nprobe?: number;
  /**
   * An index with codes: how many of the best candidates found on codes get exact
   * distances (read in one batch; one IndexedDB transaction when some are not cached).
   * Default max(4k, 32); raised to k; with HNSW at most the `ef` candidates the walk kept.
   * Ignored by an index without codes.
   */
  rerank?: number;
  /**
   * Only these ids are returned: a function of the id that returns true for the allowed ones
   * (called during the search, so it sees each candidate), a bitmap (a `Uint8Array`: id `i`
   * is allowed when bit `i % 8` of byte `i >> 3` is set), or a collection of the allowed ids
   * (an array, a `Set`, another typed array; read once when the search starts). Through
   * createIndexWorker only a bitmap or a collection works: a function cannot cross to the
   * worker.
   */
  filter?: ((id: I) => boolean) | Iterable<Id> | Uint8Array;
}

export interface StorageOptions {
  /**
   * Default "opfs" in a dedicated worker, "memory" (the OPFS file, written whole) elsewhere
   * in a browser, "file" under Node (the name is a path).
   */
  storage?: StoredStorage;
}

export interface OpenOptions<T extends IdType = IdType> extends IdTypeOption<T> {
  /**
   * Default "opfs" in a browser ("memory" means the OPFS file read whole into memory),
   * "file" under Node (`name` is a path; "memory" reads that file whole). With "http" the
   * name is the URL of an index file, read in place by range requests (read-only).
   */
  storage?: Storage;
  /** Byte budget of the cache of lazily read vectors (OPFS, IndexedDB, HTTP); default 32 MiB. */
  cacheBytes?: number;
  /** Check every vector block's checksum on open (always done for "memory"). */
  verify?: boolean;
  /** "http": how long one batch of range requests may take, in ms (default 30,000). */
  timeoutMs?: number;
  /**
   * "http", in a dedicated worker (createIndexWorker): keep what searches fetch in OPFS, so
   * that a later visit reads it from the disk and sends only the request that checks the
   * file's version. Needs a server that sends a strong ETag or Last-Modified; while another tab or
   * worker uses the same URL's copy, this index reads from the network alone
   * (`stats().persisted` is false). On the main thread: UnsupportedError.
   */
  persist?: boolean;
}

/**
 * Options of `exists`, `remove` and `save`. They also take the other options of `open`
 * (ignored there), so that one options object can describe where a named index lives.
 */
export interface StoredOptions extends Omit<OpenOptions, "storage"> {
  /**
   * Default "opfs". With "http", `name` is a URL and the call asks about, or deletes, the
   * parts of that file kept in OPFS by `persist`.
   */
  storage?: Storage;
}

export interface ImportOptions<T extends IdType = IdType>
  extends Omit<OpenOptions<T>, "storage" | "timeoutMs" | "persist"> {
  storage?: StoredStorage;
  /** Bytes stored so far, and the total when known. */
  onProgress?: (bytes: number, total: number | undefined) => void;
}

/** Sources `Index.import` reads an index file from. A string or URL is fetched. */
export type ImportSource =
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | Response
  | ReadableStream<Uint8Array>
  | string
  | URL;

export interface IndexStats {
  /** Async fetch rounds of searches (IndexedDB, HTTP): one per dependent round trip. */
  fetches: number;
  /** IndexedDB read transactions. */
  transactions: number;
  /** HTTP range requests, opening included. */
  requests: number;
  /** Bytes those requests brought. */
  bytes: number;
  /** "http" with `persist`: whether fetched bytes are being kept in OPFS. */
  persisted: boolean;
  /** Bytes read back from OPFS instead of the network (`persist`). */
  persistedReads: number;
  cacheHits: number;
  cacheMisses: number;
  cacheBytes: number;
  cacheBudget: number;
}

/**
 * An HNSW or IVF-Flat index. All counters are since the index was opened. `T` is its
 * {@link IdType}: what search results and filter functions give ids as.
 */
export class Index<T extends IdType = "number"> {
  free(): void;
  /** The same as free(), for `using`. */
  [Symbol.dispose](): void;
  /** A new, empty in-memory HNSW index. */
  constructor(dim: number, options?: HnswOptions<T>);
  /** A new in-memory IVF-Flat index, trained on `training` (n*dim values) and empty. */
  static trainIvf<T extends IdType = "number">(
    dim: number, training: Float32Array | number[], options?: IvfOptions<T>): Index<T>;
  /** A whole index file (as written by toBytes or the native CLI), loaded into memory. */
  static fromBytes<T extends IdType = "number">(bytes: Uint8Array, options?: IdTypeOption<T>): Index<T>;
  /** "number" or "bigint": what ids come back as. */
  readonly idType: T;
  /** The index file; the same format as the native library writes. */
  toBytes(): Uint8Array;
  add(id: Id, vector: Float32Array | number[]): void;
  /**
   * `vectors` holds ids.length*dim values. Yields to the event loop between chunks; searches
   * made meanwhile answer on the points inserted so far, while other changes (add, delete,
   * save, close, another addMany) reject with BusyError until it ends.
   */
  addMany(ids: Ids, vectors: Float32Array | number[], options?: AddManyOptions): Promise<void>;
  /** Nearest first. */
  search(query: Float32Array | number[], k: number, options?: SearchOptions<IdTypes[T]>): Promise<SearchHit<IdTypes[T]>[]>;
  /** Memory, OPFS and file storage only; IndexedDB and HTTP may throw NotResidentError. */
  searchSync(query: Float32Array | number[], k: number, options?: SearchOptions<IdTypes[T]>): SearchHit<IdTypes[T]>[];
  /** Many queries (n*dim values) at once, the options applying to each: typed arrays back. */
  searchMany(queries: Float32Array | number[], k: number, options?: SearchOptions<IdTypes[T]>): Promise<SearchBatch<T>>;
  /** Returns whether the id was there. */
  delete(id: Id): boolean;
  contains(id: Id): boolean;
  /** The stored vector (normalised for cosine), or undefined. */
  get(id: Id): Float32Array | undefined;
  /**
   * The stored vectors of `ids` in one array (`ids.length * dim` values, normalised for
   * cosine): the bulk form of get(). An id not in the index throws UnknownIdError.
   */
  getMany(ids: Ids): Float32Array;
  /**
   * Trains codes of `kind` on the stored vectors now, encodes them all, and searches on
   * them from now on (vectors added later are encoded as they come; calling it again
   * retrains). Saved with the index. Throws InvalidArgumentError for an unknown kind or
   * an empty index, and UnsupportedError for an index read lazily from IndexedDB.
   */
  quantize(kind: Quantization): void;
  /** The codes the index has or will train ("sq8" or "sq4"), or null without any. */
  readonly quantization: Quantization | null;
  /**
   * Whether searches traverse on codes now: false without codes, and with `quantize`
   * chosen at creation until the index holds 1,000 vectors.
   */
  readonly quantized: boolean;
  readonly length: number;
  readonly dim: number;
  readonly metric: Metric;
  readonly kind: IndexKind;
  readonly storage: Storage;
  readonly name: string | undefined;
  stats(): IndexStats;
  /**
   * Opens a stored index. "opfs" needs a dedicated worker (see createIndexWorker);
   * elsewhere it rejects with UnsupportedError. A missing name rejects with NotFoundError.
   * An "opfs" open waits for a save of that name running in another tab or worker to end
   * (then rejects with IndexLockedError if that index holds the file).
   *
   * With `storage: "http"`, `name` is the URL of an index file on a server that serves byte
   * ranges: its metadata is read now, its vectors (and an IVF file's codes) as searches
   * need them. The index is read-only (changes, quantize, save and toBytes throw
   * UnsupportedError). Failures: UnsupportedError (the server ignores ranges),
   * IndexChangedError (the file changed since it was opened), NotFoundError and HttpError
   * (with `status`), CorruptIndexError, TimeoutError (`timeoutMs`), NetworkError.
   */
  static open<T extends IdType = "number">(name: string, options?: OpenOptions<T>): Promise<Index<T>>;
  /**
   * Stores an index file under `name` (atomically, after validating it) and opens it.
   * Like {@link Index.save}, it holds the name's Web Lock while it stores, so saves and
   * imports of one name in other tabs and workers wait for it.
   */
  static import<T extends IdType = "number">(
    name: string, source: ImportSource, options?: ImportOptions<T>): Promise<Index<T>>;
  /**
   * Saves the index; without a name, to where it was opened from or last saved.
   *
   * Atomic: whoever opens the name sees the previous version or the new one, whole, never
   * a mix, also when the tab or worker dies halfway.
   *
   * One writer at a time: every save, import and removal of a stored name holds the Web
   * Lock `vectrove:opfs/<name>` or `vectrove:idb/<name>` (an app may request it too, to
   * keep writers out), so writers in other tabs and workers wait for each other and the
   * last to finish is what is stored. Without the Web Locks API stored data still stays
   * whole: an IndexedDB save that overlapped another save or removal of the name rejects
   * with BusyError and stores nothing (the other one's version stays); an OPFS save onto a
   * file another tab or worker has open rejects with IndexLockedError.
   *
   * What dead saves leave (OPFS files `<name>.vtrv.<hex>.tmp`, IndexedDB pages no index
   * record points to) is deleted by the next save, import or removal of the name, and by
   * the next open of it while no save of the name runs.
   *
   * An index opened from OPFS that saves over its own file lets go of the file for the
   * move. If the move fails, or another tab or worker opens the new file first, the index
   * goes on from a whole copy of the new version in memory (`storage` becomes "memory"):
   * searches, additions and later saves work, and no unsaved addition is lost.
   *
   * An index opened from IndexedDB before another save replaced it keeps the pages it
   * has cached; a search that needs another page of the replaced version rejects with a
   * StorageError saying so: open it again.
   */
  save(name?: string, options?: StorageOptions & Omit<OpenOptions, "storage">): Promise<void>;
  static exists(name: string, options?: StoredOptions): Promise<boolean>;
  /**
   * Deletes the stored index; waits for a save of that name in another tab or worker to
   * end. With `storage: "http"`, deletes what `persist` kept of the file at URL `name`
   * (IndexLockedError while an open index uses it).
   */
  static remove(name: string, options?: StoredOptions): Promise<void>;
  /** Releases the storage (an OPFS file handle); the object is unusable afterwards. */
  close(): void;
}

/**
 * How k-means starts: "kmeans++" (the default), "random" (k distinct points), or
 * "hierarchical" for k in the tens of thousands (about √k parts by a small k-means, each
 * clustered into its share of k; far cheaper than k-means++ there, then refined by the same
 * iterations).
 */
export type KMeansInit = "kmeans++" | "random" | "hierarchical";

export interface KMeansOptions {
  k: number;
  /** Default "l2". */
  metric?: Metric;
  /** Default 25. */
  iters?: number;
  seed?: number;
  tolerance?: number;
  /** Caps the training sample at k times this many points. */
  maxPointsPerCentroid?: number;
  /** Default "kmeans++". */
  init?: KMeansInit;
  /** Called after each iteration; returning false stops training. */
  onProgress?: (iteration: number, inertia: number) => boolean | void;
}

export class KMeans {
  private constructor();
  free(): void;
  [Symbol.dispose](): void;
  /** Trains on `data` (n*dim values), synchronously. */
  static train(data: Float32Array, dim: number, options: KMeansOptions): KMeans;
  static fromCentroids(centroids: Float32Array, dim: number, metric?: Metric): KMeans;
  /** The nearest centroid of each vector. */
  assign(vectors: Float32Array): Uint32Array;
  /** k*dim values. */
  readonly centroids: Float32Array;
  readonly k: number;
  readonly dim: number;
  readonly metric: Metric;
  /** Inertia after the last iteration (undefined for fromCentroids). */
  readonly inertia: number | undefined;
  readonly iterations: number;
}

export interface PcaOptions {
  /** Principal components to keep, from 1 to dim. Default 2. */
  components?: number;
  /** Most subspace iterations. Default 300. */
  maxIters?: number;
  /** Stop when each component's residual is this small relative to the top eigenvalue. Default 1e-7. */
  tolerance?: number;
  /** Fits on a random sample of at most this many vectors (0: all). Default 100000. */
  maxPoints?: number;
  seed?: number;
}

/** Principal component analysis, e.g. to project embeddings to 2-D for a plot. */
export class Pca {
  private constructor();
  free(): void;
  [Symbol.dispose](): void;
  /** Fits on `data` (n*dim values), synchronously. Deterministic for a seed. */
  static fit(data: Float32Array, dim: number, options?: PcaOptions): Pca;
  /** Projects vectors (m*dim values) onto the components: m*nComponents values, row by row. */
  transform(data: Float32Array): Float32Array;
  /**
   * nComponents*dim values: unit vectors by decreasing variance, each signed so that its
   * largest-magnitude coordinate is positive.
   */
  readonly components: Float32Array;
  /** dim values. */
  readonly mean: Float32Array;
  /** The variance along each component (the covariance's eigenvalues), largest first. */
  readonly explainedVariance: Float64Array;
  /** Each component's share of the total variance. */
  readonly explainedVarianceRatio: Float64Array;
  readonly dim: number;
  readonly nComponents: number;
  readonly iterations: number;
}

/** The library version. */
export function version(): string;

export type InitInput =
  | string
  | URL
  | Request
  | Response
  | BufferSource
  | WebAssembly.Module
  | Promise<Response | BufferSource | WebAssembly.Module>;

/**
 * Loads the wasm module (by default dist/vectrove_wasm_bg.wasm beside the package).
 * Await it before using Index, KMeans or Pca. Calling it again returns the same promise.
 */
export default function init(input?: InitInput | { module_or_path: InitInput }): Promise<unknown>;
export { init };
/** Loads the wasm module synchronously; does nothing once it is loaded. */
export function initSync(module: BufferSource | WebAssembly.Module | { module: BufferSource | WebAssembly.Module }): void;

// ---- Running indexes in a dedicated worker --------------------------------------------

export interface CreateIndexWorkerOptions {
  /** Where worker.js is served from; by default found next to this module. */
  workerUrl?: string | URL;
  /** Where the .wasm is; by default dist/vectrove_wasm_bg.wasm next to worker.js. */
  wasmUrl?: string | URL;
}

export interface TransferOption {
  /**
   * Hand the caller's buffers to the worker instead of copying them. The caller's arrays
   * are detached (empty) afterwards. Ignored for views that do not span their buffer.
   */
  transfer?: boolean;
}

export interface RemoteSearchOptions {
  ef?: number;
  nprobe?: number;
  /** See {@link SearchOptions.rerank}. */
  rerank?: number;
  /**
   * The ids allowed in the results. Functions cannot be sent to a worker, so the remote
   * filter is a collection of ids (as {@link SearchOptions.filter} also takes); passing a
   * function rejects with InvalidArgumentError.
   */
  filter?: Iterable<Id> | Uint8Array;
}

export interface RemoteIndexInfo<T extends IdType = IdType> {
  length: number;
  dim: number;
  metric: Metric;
  kind: IndexKind;
  storage: Storage;
  name: string | undefined;
  quantization: Quantization | null;
  quantized: boolean;
  idType: T;
}

/**
 * An Index living in the worker: every method returns a promise. The properties hold the
 * worker index's values after the last call made through this proxy completed (refresh()
 * fetches them). Arguments are copied to the worker; results are transferred back.
 */
export class RemoteIndex<T extends IdType = "number"> {
  private constructor();
  readonly idType: T;
  readonly length: number;
  readonly dim: number;
  readonly metric: Metric;
  readonly kind: IndexKind;
  readonly storage: Storage;
  readonly name: string | undefined;
  readonly quantization: Quantization | null;
  readonly quantized: boolean;
  /** True after close() or once the worker is terminated. */
  readonly closed: boolean;
  add(id: Id, vector: Float32Array | number[]): Promise<void>;
  addMany(ids: Ids, vectors: Float32Array | number[], options?: AddManyOptions & TransferOption): Promise<void>;
  search(query: Float32Array | number[], k: number, options?: RemoteSearchOptions): Promise<SearchHit<IdTypes[T]>[]>;
  searchSync(query: Float32Array | number[], k: number, options?: RemoteSearchOptions): Promise<SearchHit<IdTypes[T]>[]>;
  /** See {@link Index.searchMany}; the arrays are transferred from the worker. */
  searchMany(queries: Float32Array | number[], k: number, options?: RemoteSearchOptions): Promise<SearchBatch<T>>;
  delete(id: Id): Promise<boolean>;
  contains(id: Id): Promise<boolean>;
  get(id: Id): Promise<Float32Array | undefined>;
  /** See {@link Index.getMany}; the array is transferred from the worker. */
  getMany(ids: Ids): Promise<Float32Array>;
  /** See {@link Index.quantize}. */
  quantize(kind: Quantization): Promise<void>;
  /** See {@link Index.save}: atomic, one writer of a name at a time across tabs and workers. */
  save(name?: string, options?: StorageOptions & Omit<OpenOptions, "storage">): Promise<void>;
  toBytes(): Promise<Uint8Array>;
  stats(): Promise<IndexStats>;
  refresh(): Promise<RemoteIndexInfo<T>>;
  /** Closes and frees the index in the worker; later calls reject with InvalidArgumentError. */
  close(): Promise<void>;
  /** Same as close(). */
  free(): Promise<void>;
  /** The same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface RemoteKMeansOptions extends Omit<KMeansOptions, "onProgress">, TransferOption {
  /** Called on the calling thread after each iteration; the return value is ignored. */
  onProgress?: (iteration: number, inertia: number) => void;
  /**
   * Stops training: between iterations on cross-origin isolated pages (SharedArrayBuffer),
   * otherwise the promise rejects at once and the worker's result is dropped.
   */
  signal?: AbortSignal;
  /** Also return each vector's cluster. */
  assignments?: boolean;
}

export interface KMeansResult {
  /** k*dim values. */
  centroids: Float32Array;
  k: number;
  dim: number;
  metric: Metric;
  inertia: number | undefined;
  iterations: number;
  /** Present when requested with `assignments: true`. */
  assignments?: Uint32Array;
}

export interface RemotePcaOptions extends PcaOptions, TransferOption {
  /** Also return `data` projected onto the components. */
  transform?: boolean;
}

/** What IndexWorker.fitPca returns: a fitted Pca's values as plain arrays. */
export interface PcaResult {
  /** nComponents*dim values (see {@link Pca.components}). */
  components: Float32Array;
  /** dim values. */
  mean: Float32Array;
  explainedVariance: Float64Array;
  explainedVarianceRatio: Float64Array;
  dim: number;
  nComponents: number;
  iterations: number;
  /** n*nComponents values, present when requested with `transform: true`. */
  projection?: Float32Array;
}

/** The handle createIndexWorker resolves to. */
export interface IndexWorker {
  /** The library version running in the worker. */
  readonly version: string;
  readonly worker: Worker;
  create<T extends IdType = "number">(dim: number, options?: HnswOptions<T>): Promise<RemoteIndex<T>>;
  trainIvf<T extends IdType = "number">(
    dim: number, training: Float32Array, options?: IvfOptions<T> & TransferOption): Promise<RemoteIndex<T>>;
  /**
   * OPFS-backed indexes (storage "opfs") work here, unlike on the page. With storage
   * "http" a relative URL is resolved against the page.
   */
  open<T extends IdType = "number">(name: string, options?: OpenOptions<T>): Promise<RemoteIndex<T>>;
  /** URLs are resolved against the page; a Response or ReadableStream is consumed. */
  import<T extends IdType = "number">(
    name: string, source: ImportSource, options?: ImportOptions<T> & TransferOption): Promise<RemoteIndex<T>>;
  fromBytes<T extends IdType = "number">(
    bytes: Uint8Array | ArrayBuffer, options?: IdTypeOption<T> & TransferOption): Promise<RemoteIndex<T>>;
  exists(name: string, options?: StoredOptions): Promise<boolean>;
  remove(name: string, options?: StoredOptions): Promise<void>;
  trainKMeans(data: Float32Array, dim: number, options: RemoteKMeansOptions): Promise<KMeansResult>;
  /** `Pca.fit` in the worker, so that fitting does not block the page. */
  fitPca(data: Float32Array, dim: number, options?: RemotePcaOptions): Promise<PcaResult>;
  /** Stops the worker. Pending calls reject with AbortError; every RemoteIndex is closed. */
  terminate(): void;
}

/** Starts a dedicated module worker running vectrove; resolves once its wasm is loaded. */
export function createIndexWorker(options?: CreateIndexWorkerOptions): Promise<IndexWorker>;
