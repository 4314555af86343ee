// A small static file server for the browser benchmark, with no dependencies.
//
// It listens on 127.0.0.1 only (a secure context, so OPFS works), serves
// `.wasm` as application/wasm, and sends the COOP/COEP/CORP headers that make
// the page cross-origin isolated (SharedArrayBuffer, precise timers).
//
//   import { startServer } from './server.mjs';
//   const server = await startServer({ '/': dir, '/pkg/': pkgDir }, { port: 0 });
//   server.url  // "http://127.0.0.1:PORT"
//   await server.close();
//
// `mounts` maps URL prefixes (ending in "/") to directories; the longest
// matching prefix wins. Paths that escape their directory are refused.
// Single byte ranges (`Range: bytes=a-b`) are honoured.

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
};

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

function resolveMount(mounts, urlPath) {
  let best = null;
  for (const prefix of Object.keys(mounts)) {
    if (urlPath.startsWith(prefix) && (!best || prefix.length > best.length)) best = prefix;
  }
  if (best === null) return null;
  const root = resolve(mounts[best]);
  const rest = normalize(decodeURIComponent(urlPath.slice(best.length)) || '.');
  const file = resolve(join(root, rest));
  if (file !== root && !file.startsWith(root + sep)) return null;
  return file;
}

function send(res, status, text) {
  res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

async function handle(mounts, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
  const url = new URL(req.url, 'http://127.0.0.1');
  let file = resolveMount(mounts, url.pathname);
  if (url.pathname === '/favicon.ico') {
    res.writeHead(204, ISOLATION_HEADERS);
    return res.end();
  }
  if (!file) return send(res, 404, 'not found\n');
  let info;
  try {
    info = await stat(file);
    if (info.isDirectory()) {
      file = join(file, 'index.html');
      info = await stat(file);
    }
  } catch {
    return send(res, 404, 'not found\n');
  }
  const headers = {
    ...ISOLATION_HEADERS,
    'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Accept-Ranges': 'bytes',
  };
  let start = 0;
  let end = info.size - 1;
  let status = 200;
  const range = req.headers.range && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range);
  if (range && (range[1] !== '' || range[2] !== '')) {
    if (range[1] === '') {
      start = Math.max(0, info.size - Number(range[2]));
    } else {
      start = Number(range[1]);
      if (range[2] !== '') end = Math.min(end, Number(range[2]));
    }
    if (start > end || start >= info.size) {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${info.size}` });
      return res.end();
    }
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${info.size}`;
  }
  headers['Content-Length'] = String(info.size === 0 ? 0 : end - start + 1);
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || info.size === 0) return res.end();
  const stream = createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

export function startServer(mounts, { port = 0 } = {}) {
  const server = createServer((req, res) => {
    handle(mounts, req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, `${e?.message ?? e}\n`);
      else res.destroy();
    });
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address();
      resolvePromise({
        url: `http://127.0.0.1:${actual}`,
        port: actual,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}
