// A small static file server for the browser tests (Node's http module only).
//
// Responses are uncached, so a rebuilt package is always what the browser loads, and
// cross-origin isolated (COOP/COEP), so pages get SharedArrayBuffer, except under mounts
// marked `isolated: false` (the usual deployment, tested too). `mounts` maps a URL prefix
// such as "/pkg/" to a directory, or to `{ dir, isolated }`. "/blob/<key>" keeps bodies PUT there in memory
// and serves them back, which gives the tests real URLs for uploaded index files.
//
// Run alone to look at the pages by hand: node server.mjs [port]
import { createServer } from "node:http";
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

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function startServer(mounts, port = 0) {
  const roots = Object.entries(mounts).map(([prefix, m]) =>
    typeof m === "string" ? [prefix, resolve(m), ISOLATED] : [prefix, resolve(m.dir), m.isolated === false ? PLAIN : ISOLATED]);
  const blobs = new Map();

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://127.0.0.1");
      const path = decodeURIComponent(url.pathname);

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
      const [prefix, dir, headers] = mount;
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
      return send(res, 500, Buffer.from(`${err.stack ?? err}\n`));
    }
  });

  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", ok);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

export function defaultMounts() {
  const here = fileURLToPath(new URL(".", import.meta.url));
  return {
    "/pkg/": join(here, "..", "pkg"),
    "/pages/": join(here, "pages"),
    // The Vite app is served the way most sites are: not cross-origin isolated.
    "/vite/": { dir: join(here, "vite-app", "dist"), isolated: false },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { origin } = await startServer(defaultMounts(), Number(process.argv[2] ?? 8000));
  console.log(`serving ${origin}/pages/plain.html, ${origin}/pages/worker.html, ${origin}/vite/`);
}
