// The demo page: embeds what the user types with the model the package vectors were made
// with (encoder-worker.ts), searches the 50,000 packages' index in a vectrove worker (the
// index imported into OPFS on the first visit, opened lazily from there on), finds
// packages by name or words meanwhile, shows neighbours, and clusters the packages.

import "./style.css";
import { createIndexWorker, type IndexWorker, type RemoteIndex, type SearchHit } from "vectrove";
import { clusterNames, layout } from "./clusters";
import { ClusterMap, clusterColour } from "./map";
import type { EmbedResult, LoadResult, ModelManifest } from "./protocol";
import { EncoderClient } from "./rpc";
import { TextSearch, highlight, type Packages } from "./text-search";

/** What build.sh writes next to the index file. */
interface Manifest {
  file: string;
  bytes: number;
  sha256: string;
  count: number;
  dim: number;
  metric: string;
  m: number;
  efConstruction: number;
}

const K = 10;
const EF = 64;
const CACHE_BYTES = 4 << 20;
const STORED_KEY = "vectrove-demo:index";
const IMPORTS_KEY = "vectrove-demo:imports";
const MANIFEST_KEY = "vectrove-demo:manifest";
const MODEL_KEY = "vectrove-demo:model";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const root = document.documentElement;
const number = new Intl.NumberFormat("en");

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function millis(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function showError(e: unknown) {
  const err = e instanceof Error ? e : new Error(String(e));
  const box = $("error");
  box.textContent = `${err.name}: ${err.message}`;
  box.hidden = false;
  root.dataset.state = "error";
}

function packageLine(id: number, query = ""): DocumentFragment {
  const frag = document.createDocumentFragment();
  const name = document.createElement("span");
  name.className = "name";
  const desc = document.createElement("span");
  desc.className = "desc";
  for (const [el, text] of [[name, packages.names[id]], [desc, packages.descriptions[id]]] as const) {
    for (const piece of highlight(text, query)) {
      if (piece.mark) {
        const mark = document.createElement("mark");
        mark.textContent = piece.text;
        el.append(mark);
      } else {
        el.append(piece.text);
      }
    }
  }
  frag.append(name, desc);
  return frag;
}

let packages: Packages = { names: [], descriptions: [] };
let finder: TextSearch | null = null;
const searchWorker: Promise<IndexWorker> = createIndexWorker();
let index: RemoteIndex | null = null;
let clusterWorker: Promise<IndexWorker> | null = null;
const encoder = new EncoderClient();
let encoderReady = false;
let manifest: Manifest;
let storageNote = "";

function needIndex(): RemoteIndex {
  if (!index) throw new Error("the index is not open yet");
  return index;
}

/** A served JSON file; the copy kept under `key` when the server cannot be reached. */
async function loadJson<T>(url: string, key: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { cache: "no-cache" });
  } catch (e) {
    const kept = localStorage.getItem(key);
    if (kept) return JSON.parse(kept) as T;
    throw e;
  }
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} (run the demo's build first)`);
  const value = (await response.json()) as T;
  localStorage.setItem(key, JSON.stringify(value));
  return value;
}

/** Opens the index in the search worker: from OPFS when stored, else imported there first. */
async function openIndex(name: string, url: string, previous: string | null, onProgress: (done: number, total: number | undefined) => void) {
  const iw = await searchWorker;
  const t0 = performance.now();
  const options = { storage: "opfs" as const, cacheBytes: CACHE_BYTES };
  if (previous && previous !== name && (await iw.exists(previous, options))) await iw.remove(previous, options);
  let imported = false;
  let opened: RemoteIndex;
  if (await iw.exists(name, options)) {
    try {
      opened = await iw.open(name, options);
    } catch (e) {
      // Another tab's worker holds the file's access handle: read a copy into memory.
      if (!(e instanceof Error && e.name === "IndexLockedError")) throw e;
      opened = await iw.open(name, { storage: "memory" });
    }
  } else {
    opened = await iw.import(name, url, { ...options, onProgress });
    imported = true;
  }
  return { index: opened, imported, ms: performance.now() - t0 };
}

async function start() {
  root.dataset.state = "loading";
  const t0 = performance.now();
  const [m, p] = await Promise.all([
    loadJson<Manifest>("index/manifest.json", MANIFEST_KEY),
    fetch("data/packages.json").then((r) => {
      if (!r.ok) throw new Error(`data/packages.json: HTTP ${r.status}`);
      return r.json() as Promise<Packages>;
    }),
  ]);
  manifest = m;
  packages = p;
  finder = new TextSearch(packages);
  void loadModel();

  // The content hash names the stored copy: a rebuilt index is imported afresh, and the
  // copy of an older build is deleted.
  const name = `debian-${manifest.sha256.slice(0, 16)}`;
  const previous = localStorage.getItem(STORED_KEY);
  const progress = $<HTMLProgressElement>("import-progress");
  const label = $("import-label");
  const opened = await openIndex(name, new URL(`index/${manifest.file}`, location.href).href, previous, (done, total) => {
    const of = total ?? manifest.bytes;
    progress.max = of;
    progress.value = done;
    root.dataset.importedBytes = String(done);
    label.textContent = `Storing the index in this browser: ${megabytes(done)} of ${megabytes(of)}`;
  });
  index = opened.index;
  localStorage.setItem(STORED_KEY, name);
  if (opened.imported) localStorage.setItem(IMPORTS_KEY, String(Number(localStorage.getItem(IMPORTS_KEY) ?? 0) + 1));
  const total = performance.now() - t0;

  root.dataset.openMode = opened.imported ? "imported" : "opened";
  root.dataset.imports = localStorage.getItem(IMPORTS_KEY) ?? "0";
  root.dataset.openMs = total.toFixed(1);
  root.dataset.storage = index.storage;
  storageNote = index.storage === "opfs" ? "vectors from OPFS" : "vectors in memory";
  $("fact-storage").textContent =
    index.storage === "opfs"
      ? `OPFS, read lazily through a ${megabytes(CACHE_BYTES)} cache`
      : `OPFS, read into memory (another tab holds the file)`;
  $("fact-index").textContent = `${number.format(index.length)} × ${index.dim}-d, ${index.metric}, HNSW M ${manifest.m}`;
  $("fact-open").textContent = opened.imported
    ? `Downloaded and stored in ${millis(opened.ms)} (first visit)`
    : `From OPFS in ${millis(opened.ms)}, nothing downloaded`;
  $("loading").hidden = true;
  await refreshStorage();

  const query = $<HTMLInputElement>("query");
  query.disabled = false;
  $<HTMLButtonElement>("run-kmeans").disabled = false;
  root.dataset.state = "ready";
  if (!query.value) query.focus();
  else runQuery();
}

/** Loads the sentence encoder in its worker, with progress; word search serves until then. */
async function loadModel() {
  const progress = $<HTMLProgressElement>("model-progress");
  const label = $("model-label");
  root.dataset.model = "loading";
  try {
    const modelManifest = await loadJson<ModelManifest>("model/manifest.json", MODEL_KEY);
    const result = await encoder.call<LoadResult>(
      { op: "load", base: new URL("model/", location.href).href, manifest: modelManifest },
      {
        onProgress: ({ done, total }) => {
          progress.max = total ?? 1;
          progress.value = done;
          label.textContent = `Loading the sentence encoder: ${megabytes(done)} of ${megabytes(total ?? 0)}`;
        },
      },
    );
    encoderReady = true;
    root.dataset.model = "ready";
    root.dataset.modelCached = String(result.cached);
    root.dataset.modelMs = result.ms.toFixed(1);
    $("fact-model").textContent = result.cached
      ? `all-MiniLM-L6-v2, from this browser in ${millis(result.ms)}`
      : `all-MiniLM-L6-v2, ${megabytes(result.bytes)} downloaded and kept, ready in ${millis(result.ms)}`;
    $("model-loading").hidden = true;
    runQuery();
  } catch (e) {
    root.dataset.model = "error";
    $("model-loading").hidden = true;
    $("fact-model").textContent = `not available (${e instanceof Error ? e.message : String(e)}); word search only`;
  }
}

async function refreshStorage() {
  const estimate = await navigator.storage.estimate();
  const used = estimate.usage === undefined ? "" : ` · the site stores ${megabytes(estimate.usage)} in all`;
  $("fact-bytes").textContent = `${megabytes(manifest.bytes)} index file${used}`;
}

// --- finding a package ----------------------------------------------------------------

function runQuery() {
  if (!finder) return;
  const q = $<HTMLInputElement>("query").value;
  const list = $("matches");
  const matches = finder.find(q, 50);
  list.replaceChildren(
    ...matches.map(({ id }) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "package";
      button.dataset.id = String(id);
      button.append(packageLine(id, q));
      button.addEventListener("click", () => void showNeighbours(id));
      li.append(button);
      return li;
    }),
  );
  $("match-count").textContent = q.trim()
    ? matches.length === 0
      ? "No package matches."
      : `${matches.length === 50 ? "The first 50" : matches.length} matching package${matches.length === 1 ? "" : "s"}.`
    : "";
  $("examples").hidden = q.trim() !== "";
  $("words-title").hidden = q.trim() === "" || !encoderReady;
  void runSemantic(q.trim());
}

// --- search by meaning ------------------------------------------------------------------

let semanticSeq = 0;
async function runSemantic(q: string) {
  const seq = ++semanticSeq;
  const block = $("semantic-block");
  if (!encoderReady || !index || q.length < 2) {
    block.hidden = true;
    return;
  }
  try {
    const { vectors, ms: embedMs } = await encoder.call<EmbedResult>({ op: "embed", texts: [q] });
    if (seq !== semanticSeq) return;
    const t0 = performance.now();
    const hits = await needIndex().search(vectors, K, { ef: EF });
    const searchMs = performance.now() - t0;
    if (seq !== semanticSeq) return;
    $("semantic").replaceChildren(...hits.map((hit) => hitItem(hit)));
    $("semantic-status").textContent =
      `Embedded in ${millis(embedMs)}, searched in ${millis(searchMs)} · HNSW, ef ${EF} · ${storageNote}`;
    block.hidden = false;
    Object.assign(root.dataset, { semanticFor: q, embedMs: embedMs.toFixed(2), searchMs: searchMs.toFixed(2) });
  } catch (e) {
    showError(e);
  }
}

/** A result line: the package, its cosine similarity and a bar; a click shows its neighbours. */
function hitItem(hit: SearchHit): HTMLLIElement {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "package";
  button.dataset.id = String(hit.id);
  const similarity = 1 - hit.distance;
  button.dataset.similarity = String(similarity);
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = similarity.toFixed(3);
  score.title = "cosine similarity";
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.setAttribute("aria-hidden", "true");
  bar.style.setProperty("--w", `${Math.max(0, Math.min(1, similarity)) * 100}%`);
  button.append(packageLine(hit.id), score, bar);
  button.setAttribute("aria-label", `${packages.names[hit.id]}, similarity ${similarity.toFixed(3)}: ${packages.descriptions[hit.id]}`);
  button.addEventListener("click", () => {
    void showNeighbours(hit.id);
    $("similar").scrollIntoView({ behavior: "smooth", block: "start" });
  });
  li.append(button);
  return li;
}

let timer = 0;
$("query").addEventListener("input", () => {
  clearTimeout(timer);
  timer = window.setTimeout(runQuery, 80);
});
$("examples").addEventListener("click", (e) => {
  const chip = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-query]");
  if (!chip) return;
  const input = $<HTMLInputElement>("query");
  input.value = chip.dataset.query ?? "";
  runQuery();
  input.focus();
});

// --- nearest neighbours ---------------------------------------------------------------

let shown = -1;
async function showNeighbours(id: number) {
  shown = id;
  try {
    const idx = needIndex();
    const query = await idx.get(id);
    if (!query) throw new Error(`no package ${id} in the index`);
    const t0 = performance.now();
    // One more than asked: the package itself is its own nearest neighbour.
    const found = await idx.search(query, K + 1, { ef: EF });
    const ms = performance.now() - t0;
    const c = await idx.stats();
    if (shown !== id) return;
    const hits = found.filter((h) => h.id !== id).slice(0, K);
    $("chosen-name").textContent = packages.names[id];
    $("chosen-desc").textContent = packages.descriptions[id];
    const rate = c.cacheHits + c.cacheMisses > 0 ? Math.round((100 * c.cacheHits) / (c.cacheHits + c.cacheMisses)) : 0;
    $("latency").textContent =
      `Searched in ${millis(ms)} · HNSW, ef ${EF} · ${storageNote}` +
      (c.cacheBudget > 0 ? `, cache ${megabytes(c.cacheBytes)} of ${megabytes(c.cacheBudget)} (${rate}% hits so far)` : "");
    $("neighbours").replaceChildren(...hits.map((hit) => hitItem(hit)));
    $("similar-hint").hidden = true;
    $("similar-body").hidden = false;
    root.dataset.neighboursOf = String(id);
  } catch (e) {
    showError(e);
  }
}

// --- clusters -------------------------------------------------------------------------

const tooltip = $("tooltip");
const map = new ClusterMap(
  $<HTMLCanvasElement>("map"),
  (id, x, y) => {
    if (id === null || !lastClusters) {
      tooltip.hidden = true;
      return;
    }
    tooltip.replaceChildren(packageLine(id));
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = clusterTitle(lastClusters, lastClusters.labels[id]);
    tag.style.setProperty("--c", clusterColour(lastClusters.labels[id]));
    tooltip.append(tag);
    tooltip.hidden = false;
    const canvas = $<HTMLCanvasElement>("map");
    const left = Math.min(x + 14, canvas.clientWidth - tooltip.offsetWidth - 4);
    tooltip.style.left = `${Math.max(4, left)}px`;
    tooltip.style.top = `${y + 14}px`;
  },
  (id) => {
    void showNeighbours(id);
    $("similar").scrollIntoView({ behavior: "smooth", block: "start" });
  },
);
/** What the page shows of a clustering. */
interface Clusters {
  k: number;
  labels: Uint32Array;
  coords: Float32Array;
  sizes: number[];
  names: string[][];
  /** Per cluster, the packages nearest its centroid, nearest first. */
  samples: number[][];
  iterations: number;
  kmeansMs: number;
  layoutMs: number;
}
let lastClusters: Clusters | null = null;
let vectors: Promise<Float32Array> | null = null;

/** Every package's stored vector, read once from the index (OPFS) in the search worker. */
function allVectors(): Promise<Float32Array> {
  vectors ??= needIndex().getMany(Uint32Array.from({ length: manifest.count }, (_, i) => i));
  return vectors;
}

/** Each cluster's members nearest its centroid (the vectors are unit length: largest dot product). */
function nearestMembers(data: Float32Array, dim: number, labels: Uint32Array, centroids: Float32Array, k: number, count: number) {
  const best: Array<Array<{ id: number; score: number }>> = Array.from({ length: k }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += data[i * dim + j] * centroids[c * dim + j];
    const list = best[c];
    if (list.length < count || dot > list[list.length - 1].score) {
      list.push({ id: i, score: dot });
      list.sort((a, b) => b.score - a.score);
      if (list.length > count) list.pop();
    }
  }
  return best.map((list) => list.map((e) => e.id));
}

async function cluster(k: number, iters: number, onIteration: (i: number) => void): Promise<Clusters> {
  const cw = await (clusterWorker ??= createIndexWorker());
  const data = await allVectors();
  const dim = manifest.dim;
  const t0 = performance.now();
  const km = await cw.trainKMeans(data, dim, {
    k,
    metric: "cosine",
    seed: 1,
    iters,
    assignments: true,
    onProgress: (iteration) => onIteration(iteration),
  });
  const labels = km.assignments!;
  const kmeansMs = performance.now() - t0;

  // The layout: the clusters' places from the first two principal axes of their
  // centroids, and each package's place in its cluster from that cluster's own two.
  const t1 = performance.now();
  const anchors = (await cw.fitPca(km.centroids, dim, { components: 2, seed: 1, transform: true })).projection!;
  const sizes = new Array<number>(k).fill(0);
  for (const c of labels) sizes[c]++;
  const members: number[][] = Array.from({ length: k }, () => []);
  labels.forEach((c, i) => members[c].push(i));
  const local = new Float32Array(2 * labels.length);
  for (let c = 0; c < k; c++) {
    const ids = members[c];
    if (ids.length < 3) continue;
    const subset = new Float32Array(ids.length * dim);
    ids.forEach((id, j) => subset.set(data.subarray(id * dim, (id + 1) * dim), j * dim));
    const fit = await cw.fitPca(subset, dim, { components: 2, seed: 1, transform: true, transfer: true });
    const projection = fit.projection!;
    ids.forEach((id, j) => {
      local[2 * id] = projection[2 * j];
      local[2 * id + 1] = projection[2 * j + 1];
    });
  }
  const coords = layout({ k, labels, anchors, local });
  const layoutMs = performance.now() - t1;
  return {
    k,
    labels,
    coords,
    sizes,
    names: clusterNames(packages.descriptions, labels, k),
    samples: nearestMembers(data, dim, labels, km.centroids, k, 3),
    iterations: km.iterations,
    kmeansMs,
    layoutMs,
  };
}

$("cluster-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = $<HTMLButtonElement>("run-kmeans");
  const progress = $<HTMLProgressElement>("kmeans-progress");
  const status = $("kmeans-status");
  const k = Number($<HTMLSelectElement>("k").value);
  const iters = 25;
  button.disabled = true;
  progress.hidden = false;
  progress.removeAttribute("value");
  root.dataset.clusters = "running";
  try {
    status.textContent = "Reading the vectors…";
    const result = await cluster(k, iters, (done) => {
      progress.max = iters;
      progress.value = done;
      root.dataset.kmeansIterations = String(done);
      status.textContent = `Iteration ${done} of at most ${iters}`;
    });
    lastClusters = result;
    showClusters(result);
    status.textContent =
      `${result.k} clusters in ${result.iterations} iterations, ${millis(result.kmeansMs)}; ` +
      `map ${millis(result.layoutMs)}`;
    root.dataset.clusters = String(result.k);
  } catch (err) {
    vectors = null;
    status.textContent = "";
    showError(err);
  } finally {
    button.disabled = false;
    progress.hidden = true;
  }
});

function clusterTitle(r: Clusters, c: number): string {
  return r.names[c].length ? r.names[c].join(" · ") : `Cluster ${c + 1}`;
}

function showClusters(r: Clusters) {
  $("cluster-view").hidden = false;
  map.set({ coords: r.coords, labels: r.labels });
  $("map-caption").textContent =
    `One disc per cluster, its area in proportion to its size. Discs sit where the first two principal axes ` +
    `of the cluster centres put them, pushed apart so that none hides another; inside a disc each package ` +
    `lies along its cluster's own two principal axes. Hover to read, click to see its neighbours.`;
  const order = r.sizes.map((_, c) => c).sort((a, b) => r.sizes[b] - r.sizes[a]);
  $("cluster-list").replaceChildren(
    ...order.map((c) => {
      const li = document.createElement("li");
      li.className = "cluster";
      li.style.setProperty("--c", clusterColour(c));
      li.tabIndex = 0;
      const head = document.createElement("h3");
      const num = document.createElement("span");
      num.className = "num";
      num.textContent = String(c + 1);
      num.title = `cluster ${c + 1} on the map`;
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = clusterTitle(r, c);
      head.append(num, label);
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = `${number.format(r.sizes[c])} packages`;
      head.append(" ", size);
      const samples = document.createElement("ul");
      for (const id of r.samples[c]) {
        const item = document.createElement("li");
        item.append(packageLine(id));
        samples.append(item);
      }
      li.append(head, samples);
      const on = () => map.highlight(c);
      const off = () => map.highlight(null);
      li.addEventListener("pointerenter", on);
      li.addEventListener("pointerleave", off);
      li.addEventListener("focus", on);
      li.addEventListener("blur", off);
      return li;
    }),
  );
}

// The app shell (page, scripts, styles, the package list) is kept by a service worker,
// so that a reload without a network starts the page; the index is in OPFS and the
// model in Cache Storage.
if ("serviceWorker" in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register("sw.js").catch((e) => console.warn("service worker:", e));
}

start().catch(showError);
