// A small static file server for the browser tests (Node's http module only).
//
// Responses are uncached, so a rebuilt package is always what the browser loads, and
// cross-origin isolated (COOP/COEP), so pages get SharedArrayBuffer, except under mounts
// marked `isolated: false` (the usual deployment, tested too). `mounts` maps a URL prefix
// such as "/pkg/" to a directory, or to `{ dir, isolated, ranges }`; a mount with
// `ranges: true` answers as "/range/" below does. "/blob/<key>" keeps bodies PUT there in memory
// and serves them back, which gives the tests real URLs for uploaded index files.
//
// "/range/<file>" serves the files of `rangeDir` the way a static host or CDN does for an
// index read in place: single byte ranges (206, Content-Range, Accept-Ranges), ETag and
// Last-Modified, If-Range, and CORS (so a page of another origin reads it too). What it
// serves can be bent at run time through "/range-control?..." (see `control` below): a
// latency per request, failure modes, a file replaced by a new version; it counts the
// requests and body bytes of each path. The server listens on a second port too
// (`otherOrigin`), for cross-origin pages.
//
// Run alone to look at the pages by hand: node server.mjs [port]
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { stat, readFile } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

const ISOLATED = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};
const PLAIN = { "Cache-Control": "no-store" };

function send(res, status, body, type = "text/plain; charset=utf-8", headers = ISOLATED) {
  res.writeHead(status, { ...headers, "Content-Type": type, "Content-Length": body.length });
  res.end(body);
}

// CORS for the range mount: any origin may read, send Range and If-Range, and see the
// headers an index reader checks.
const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD",
  "Access-Control-Allow-Headers": "Range, If-Range",
  "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified",
  "Access-Control-Max-Age": "600",
  "Cross-Origin-Resource-Policy": "cross-origin",
  "Cache-Control": "no-store",
};
const MODES = ["ok", "ignore-range", "truncate", "500", "404", "hang", "no-headers"];

// The range mount's state: versions of replaced files, counters, latency, failure mode.
function rangeState() {
  return {
    versions: new Map(), // path -> { version, body (a replacement) }
    counts: new Map(), // path -> { requests, bytes }
    latency: 0,
    mode: "ok",
    times: Infinity, // requests left in `mode`, then "ok" again
    hung: new Set(),
    files: new Map(), // file -> { mtimeMs, body }: read once while unchanged
  };
}

async function fileBody(state, file, info) {
  const cached = state.files.get(file);
  if (cached?.mtimeMs === info.mtimeMs) return cached.body;
  const body = await readFile(file);
  state.files.set(file, { mtimeMs: info.mtimeMs, body });
  return body;
}

// "/range-control?reset=1&latency=30&mode=500&times=1&replace=golden.vtrv&with=other.vtrv":
// every parameter is optional; `reset` clears the counters, the mode, the latency and
// every replacement; `mode` is one of MODES, for the next `times` requests (default all);
// `replace` gives that file a new version (a new ETag and Last-Modified), holding the
// bytes of `with` when given. Answers the counters as JSON: { "<path>": { requests, bytes } }.
async function control(state, dir, params) {
  if (params.has("reset")) {
    state.versions.clear();
    state.counts.clear();
    state.latency = 0;
    state.mode = "ok";
    state.times = Infinity;
  }
  if (params.has("latency")) state.latency = Math.max(0, Number(params.get("latency")) || 0);
  if (params.has("mode")) {
    const mode = params.get("mode");
    if (!MODES.includes(mode)) throw new Error(`unknown mode ${mode}: use one of ${MODES.join(", ")}`);
    state.mode = mode;
    state.times = params.has("times") ? Number(params.get("times")) : Infinity;
  }
  if (state.mode !== "hang") {
    for (const res of state.hung) res.destroy();
    state.hung.clear();
  }
  if (params.has("replace")) {
    const path = `/range/${params.get("replace")}`;
    const v = state.versions.get(path) ?? { version: 0, body: null };
    v.version++;
    if (params.has("with")) v.body = await readFile(safeJoin(dir, params.get("with")));
    state.versions.set(path, v);
  }
  return Object.fromEntries(state.counts);
}

function safeJoin(dir, rel) {
  const file = normalize(join(dir, rel));
  if (!file.startsWith(dir + sep)) throw new Error(`outside the range mount: ${rel}`);
  return file;
}

// A single "bytes=a-b", "bytes=a-" or "bytes=-n" range of a body of `size` bytes:
// [start, end) when satisfiable, "unsatisfiable", or null for none (or several).
function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? "");
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start;
  let end;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1);
  }
  return start < end ? [start, end] : "unsatisfiable";
}

async function serveRange(state, dir, req, res, path, rel = path.slice("/range/".length)) {
  const counts = state.counts.get(path) ?? { requests: 0, bytes: 0, waiting: 0, peak: 0 };
  state.counts.set(path, counts);
  counts.requests++;
  if (state.latency > 0) {
    // How many requests wait out their latency at once: those of one round overlap.
    counts.peak = Math.max(counts.peak, ++counts.waiting);
    await new Promise((ok) => setTimeout(ok, state.latency));
    counts.waiting--;
  }
  let mode = "ok";
  if (state.mode !== "ok" && state.times > 0) {
    mode = state.mode;
    state.times--;
  }
  const reply = (status, headers, body = Buffer.alloc(0)) => {
    res.writeHead(status, { ...CORS, ...headers, "Content-Length": body.length });
    if (req.method !== "HEAD") {
      counts.bytes += body.length;
      res.end(body);
    } else {
      res.end();
    }
  };
  if (mode === "hang") {
    state.hung.add(res);
    res.on("close", () => state.hung.delete(res));
    return;
  }
  if (mode === "500") return reply(500, { "Content-Type": "text/plain" }, Buffer.from("injected failure\n"));
  if (mode === "404") return reply(404, { "Content-Type": "text/plain" }, Buffer.from("not found\n"));

  const file = safeJoin(dir, rel);
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) return reply(404, { "Content-Type": "text/plain" }, Buffer.from("not found\n"));
  const v = state.versions.get(path) ?? { version: 0, body: null };
  const body = v.body ?? await fileBody(state, file, info);
  const etag = `"${body.length.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}-${v.version}"`;
  const modified = new Date(Math.floor(info.mtimeMs / 1000) * 1000 + v.version * 1000).toUTCString();
  const validators = mode === "no-headers" ? {} : { ETag: etag, "Last-Modified": modified };
  const base = { "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", ...validators };
  let range = mode === "ignore-range" ? null : parseRange(req.headers.range, body.length);
  const ifRange = req.headers["if-range"];
  if (range !== null && ifRange !== undefined && ifRange !== etag && ifRange !== modified) range = null;
  if (range === null) return reply(200, base, body);
  if (range === "unsatisfiable") return reply(416, { ...base, "Content-Range": `bytes */${body.length}` });
  const [start, end] = range;
  // "truncate": the headers of the whole range, half of its bytes.
  const sent = body.subarray(start, mode === "truncate" ? start + Math.floor((end - start) / 2) : end);
  return reply(206, { ...base, "Content-Range": `bytes ${start}-${end - 1}/${body.length}` }, sent);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function startServer(mounts, port = 0, rangeDir = defaultRangeDir()) {
  const roots = Object.entries(mounts).map(([prefix, m]) =>
    typeof m === "string"
      ? [prefix, resolve(m), ISOLATED, false]
      : [prefix, resolve(m.dir), m.isolated === false ? PLAIN : ISOLATED, m.ranges === true]);
  const blobs = new Map();
  const range = rangeState();
  const rangeRoot = resolve(rangeDir);

  const handler = async (req, res) => {
    try {
      const url = new URL(req.url, "http://127.0.0.1");
      const path = decodeURIComponent(url.pathname);

      if (path === "/range-control" || path.startsWith("/range/")) {
        if (req.method === "OPTIONS") {
          res.writeHead(204, CORS);
          return res.end();
        }
        if (path === "/range-control") {
          const body = Buffer.from(JSON.stringify(await control(range, rangeRoot, url.searchParams)));
          return send(res, 200, body, "application/json", CORS);
        }
        if (req.method !== "GET" && req.method !== "HEAD") {
          return send(res, 405, Buffer.from("method not allowed\n"), "text/plain", CORS);
        }
        return await serveRange(range, rangeRoot, req, res, path);
      }

      if (path.startsWith("/blob/")) {
        if (req.method === "PUT") {
          blobs.set(path, await readBody(req));
          return send(res, 204, Buffer.alloc(0));
        }
        const body = blobs.get(path);
        if (!body) return send(res, 404, Buffer.from("no such blob\n"));
        return send(res, 200, body, "application/octet-stream");
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        return send(res, 405, Buffer.from("method not allowed\n"));
      }

      const mount = roots.find(([prefix]) => path.startsWith(prefix));
      if (!mount) return send(res, 404, Buffer.from("not found\n"));
      const [prefix, dir, headers, ranges] = mount;
      // A mount with `ranges` serves its files as the range mount does (a static host).
      if (ranges) return await serveRange(range, dir, req, res, path, path.slice(prefix.length));
      let file = normalize(join(dir, path.slice(prefix.length)));
      if (file !== dir && !file.startsWith(dir + sep)) {
        return send(res, 403, Buffer.from("forbidden\n"));
      }
      let info = await stat(file).catch(() => null);
      if (info?.isDirectory()) {
        file = join(file, "index.html");
        info = await stat(file).catch(() => null);
      }
      if (!info?.isFile()) return send(res, 404, Buffer.from(`not found: ${path}\n`));
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      const body = await readFile(file);
      if (req.method === "HEAD") {
        res.writeHead(200, { ...headers, "Content-Type": type, "Content-Length": body.length });
        return res.end();
      }
      return send(res, 200, body, type, headers);
    } catch (err) {
      if (res.headersSent) return res.destroy();
      return send(res, 500, Buffer.from(`${err.stack ?? err}\n`));
    }
  };

  // The same handler on two ports: two origins, for cross-origin pages.
  const servers = [createServer(handler), createServer(handler)];
  for (const [i, server] of servers.entries()) {
    await new Promise((ok, fail) => {
      server.once("error", fail);
      server.listen(i === 0 ? port : 0, "127.0.0.1", ok);
    });
  }
  const [origin, otherOrigin] = servers.map((s) => `http://127.0.0.1:${s.address().port}`);
  return {
    origin,
    otherOrigin,
    close: () => Promise.all(servers.map((s) => new Promise((ok) => {
      for (const res of range.hung) res.destroy();
      s.close(ok);
      s.closeAllConnections();
    }))),
  };
}

// The fixtures scripts/wasm-fixtures.sh writes (index files and vectors).
export function defaultRangeDir() {
  const fixtures = fileURLToPath(new URL("../../target/wasm-fixtures", import.meta.url));
  return existsSync(fixtures) ? fixtures : fileURLToPath(new URL(".", import.meta.url));
}

export function defaultMounts() {
  const here = fileURLToPath(new URL(".", import.meta.url));
  return {
    "/pkg/": join(here, "..", "pkg"),
    "/pages/": join(here, "pages"),
    // The Vite app is served the way most sites are: not cross-origin isolated.
    "/vite/": { dir: join(here, "vite-app", "dist"), isolated: false },
    // The README's code blocks (readme.mjs writes them to readme-blocks/): the package where
    // the README's import map says, the index file its examples download or open in place,
    // and the Vite app made of its Vite blocks.
    "/readme/": join(here, "readme-blocks"),
    "/node_modules/vectrove/": join(here, "..", "pkg"),
    "/indexes/": { dir: join(here, "readme-blocks", "indexes"), ranges: true },
    "/readme-vite/": { dir: join(here, "readme-blocks", "vite-dist"), isolated: false },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { origin } = await startServer(defaultMounts(), Number(process.argv[2] ?? 8000));
  console.log(`serving ${origin}/pages/plain.html, ${origin}/pages/worker.html, ${origin}/vite/`);
}
