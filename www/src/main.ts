// The demo page: opens the index in a worker (imported into OPFS on the first visit),
// finds packages by name or words, shows their nearest neighbours, and clusters them.

import "./style.css";
import packagesUrl from "../data/packages.json?url";
import { ClusterMap, clusterColour } from "./map";
import type { ClusterResult, NeighboursResult, OpenResult, StorageInfo } from "./protocol";
import { WorkerClient } from "./rpc";
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
const searcher = new WorkerClient();
let clusterer: WorkerClient | null = null;
let manifest: Manifest;
let storageNote = "";

/** The served manifest; the one of the stored index when the server cannot be reached. */
async function loadManifest(): Promise<Manifest> {
  let response: Response;
  try {
    response = await fetch("index/manifest.json", { cache: "no-cache" });
  } catch (e) {
    const kept = localStorage.getItem(MANIFEST_KEY);
    if (kept) return JSON.parse(kept) as Manifest;
    throw e;
  }
  if (!response.ok) throw new Error(`index/manifest.json: HTTP ${response.status} (run the demo's build first)`);
  return (await response.json()) as Manifest;
}

async function start() {
  root.dataset.state = "loading";
  const t0 = performance.now();
  const [m, p] = await Promise.all([loadManifest(), fetch(packagesUrl).then((r) => r.json() as Promise<Packages>)]);
  manifest = m;
  packages = p;
  finder = new TextSearch(packages);

  // The content hash names the stored copy: a rebuilt index is imported afresh, and the
  // copy of an older build is deleted.
  const name = `debian-${manifest.sha256.slice(0, 16)}`;
  const previous = localStorage.getItem(STORED_KEY);
  const progress = $<HTMLProgressElement>("import-progress");
  const label = $("import-label");
  const opened = await searcher.call<OpenResult>(
    {
      op: "open",
      name,
      url: new URL(`index/${manifest.file}`, location.href).href,
      previous,
      cacheBytes: CACHE_BYTES,
    },
    {
      onProgress: ({ done, total }) => {
        const of = total ?? manifest.bytes;
        progress.max = of;
        progress.value = done;
        root.dataset.importedBytes = String(done);
        label.textContent = `Storing the index in this browser: ${megabytes(done)} of ${megabytes(of)}`;
      },
    },
  );
  localStorage.setItem(STORED_KEY, name);
  localStorage.setItem(MANIFEST_KEY, JSON.stringify(manifest));
  if (opened.imported) localStorage.setItem(IMPORTS_KEY, String(Number(localStorage.getItem(IMPORTS_KEY) ?? 0) + 1));
  const total = performance.now() - t0;

  root.dataset.openMode = opened.imported ? "imported" : "opened";
  root.dataset.imports = localStorage.getItem(IMPORTS_KEY) ?? "0";
  root.dataset.openMs = total.toFixed(1);
  root.dataset.storage = opened.storage;
  storageNote = opened.storage === "opfs" ? "vectors from OPFS" : "vectors in memory";
  $("fact-storage").textContent =
    opened.storage === "opfs"
      ? `OPFS, read lazily through a ${megabytes(CACHE_BYTES)} cache`
      : `OPFS, read into memory (another tab holds the file)`;
  $("fact-index").textContent = `${number.format(opened.length)} × ${opened.dim}-d, ${opened.metric}, HNSW M ${manifest.m}`;
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

async function refreshStorage() {
  const info = await searcher.call<StorageInfo>({ op: "storage" });
  const used = info.usage === null ? "" : ` · the site stores ${megabytes(info.usage)} in all`;
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
    const result = await searcher.call<NeighboursResult>({ op: "neighbours", id, k: K, ef: EF });
    if (shown !== id) return;
    $("chosen-name").textContent = packages.names[id];
    $("chosen-desc").textContent = packages.descriptions[id];
    const c = result.cache;
    const rate = c.hits + c.misses > 0 ? Math.round((100 * c.hits) / (c.hits + c.misses)) : 0;
    $("latency").textContent =
      `Searched in ${millis(result.ms)} · HNSW, ef ${EF} · ${storageNote}` +
      (c.budget > 0 ? `, cache ${megabytes(c.bytes)} of ${megabytes(c.budget)} (${rate}% hits so far)` : "");
    const list = $("neighbours");
    list.replaceChildren(
      ...result.hits.map((hit) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "package";
        button.dataset.id = String(hit.id);
        const similarity = 1 - hit.distance;
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
        button.addEventListener("click", () => void showNeighbours(hit.id));
        li.append(button);
        return li;
      }),
    );
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
    tag.textContent = `cluster ${lastClusters.labels[id] + 1}`;
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
let lastClusters: ClusterResult | null = null;
let vectorsLoaded: Promise<void> | null = null;

async function loadVectors(c: WorkerClient) {
  // The search worker reads every vector from OPFS and hands the copy over; the cluster
  // worker keeps it for later runs.
  const data = await searcher.call<Float32Array>({ op: "vectors" });
  await c.call({ op: "load", data, dim: manifest.dim }, { transfer: [data.buffer] });
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
    clusterer ??= new WorkerClient();
    status.textContent = "Reading the vectors…";
    vectorsLoaded ??= loadVectors(clusterer);
    await vectorsLoaded;
    status.textContent = "Training…";
    const result = await clusterer.call<ClusterResult>(
      { op: "cluster", k, seed: 1, iters },
      {
        onProgress: ({ done, total }) => {
          progress.max = total ?? iters;
          progress.value = done;
          root.dataset.kmeansIterations = String(done);
          status.textContent = `Iteration ${done} of at most ${total ?? iters}`;
        },
      },
    );
    lastClusters = result;
    showClusters(result);
    status.textContent =
      `${result.k} clusters in ${result.iterations} iterations, ${millis(result.kmeansMs)}; ` +
      `PCA ${millis(result.pcaMs)}`;
    root.dataset.clusters = String(result.k);
  } catch (err) {
    vectorsLoaded = null;
    status.textContent = "";
    showError(err);
  } finally {
    button.disabled = false;
    progress.hidden = true;
  }
});

function showClusters(r: ClusterResult) {
  $("cluster-view").hidden = false;
  map.set({ coords: r.coords, labels: r.labels });
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  $("map-caption").textContent =
    `Each dot is a package, placed by the first two principal components of its embedding ` +
    `(${pct(r.explained[0])} and ${pct(r.explained[1])} of the variance). Hover to read, click to see its neighbours.`;
  const order = r.sizes.map((_, c) => c).sort((a, b) => r.sizes[b] - r.sizes[a]);
  $("cluster-list").replaceChildren(
    ...order.map((c) => {
      const li = document.createElement("li");
      li.className = "cluster";
      li.style.setProperty("--c", clusterColour(c));
      li.tabIndex = 0;
      const head = document.createElement("h3");
      head.textContent = `Cluster ${c + 1}`;
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

start().catch(showError);
