// Serves the built demo (www/dist) on 127.0.0.1, with Node's http module only:
//
//   node www/server.mjs [--port 8080] [--root www/dist]
//
// Files under assets/ have content hashes in their names and are cached for good; the
// rest is revalidated. Responses carry COOP/COEP headers, so the page is cross-origin
// isolated (finer timers for the latency it shows). The e2e test starts it in-process
// with startServer() and reads `requests` and `bytes` to see what the browser fetched.
import { createServer } from "node:http";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".vtrv": "application/octet-stream",
  ".svg": "image/svg+xml",
  ".safetensors": "application/octet-stream",
};

export async function startServer({ root = fileURLToPath(new URL("dist", import.meta.url)), port = 0 } = {}) {
  const base = resolve(root);
  /** Path → number of GET requests, and path → bytes of the bodies sent, for tests. */
  const requests = new Map();
  const bytes = new Map();
  const server = createServer(async (req, res) => {
    const headers = {
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "X-Content-Type-Options": "nosniff",
    };
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      let path = decodeURIComponent(url.pathname);
      requests.set(path, (requests.get(path) ?? 0) + 1);
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
        return;
      }
      if (path.endsWith("/")) path += "index.html";
      const file = resolve(join(base, path));
      if (file !== base && !file.startsWith(base + sep)) {
        res.writeHead(403, headers).end();
        return;
      }
      const info = await stat(file).catch(() => null);
      if (!info || !info.isFile()) {
        res.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end(`not found: ${path}\n`);
        return;
      }
      res.writeHead(200, {
        ...headers,
        "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
        "Content-Length": info.size,
        "Cache-Control": path.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
      });
      if (req.method === "HEAD") res.end();
      else {
        bytes.set(path, (bytes.get(path) ?? 0) + info.size);
        createReadStream(file).pipe(res);
      }
    } catch (e) {
      res.writeHead(500, { ...headers, "Content-Type": "text/plain" }).end(`${e}\n`);
    }
  });
  await new Promise((ok, fail) => server.once("error", fail).listen(port, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    requests,
    bytes,
    // Also ends kept-alive connections, so that the page cannot reach the server after.
    close: () =>
      new Promise((ok) => {
        server.close(ok);
        server.closeAllConnections();
      }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(name);
    return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
  };
  const port = Number(option("--port", "8080"));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`server: --port must be a port number, not ${option("--port")}`);
    process.exit(2);
  }
  try {
    const { url } = await startServer({ root: option("--root", undefined), port });
    console.log(`vectrove demo at ${url} (Ctrl-C stops it)`);
  } catch (e) {
    console.error(`server: ${e.message}`);
    process.exit(1);
  }
}
