// The demo's service worker, written into dist/sw.js by vite.config.js with the list of
// the build's files. It keeps the app shell (the page, its scripts, styles and .wasm, the
// package list and the manifests) in Cache Storage, so that a reload without a network
// still starts the page. The big files are not its business: the index lives in OPFS and
// the model in its own cache, each stored by the page's workers.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = `vectrove-demo-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("vectrove-demo-shell-") && key !== CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  // The index file and the model's files: stored by the workers that read them.
  if (path.endsWith(".vtrv") || (path.includes("/model/") && !path.endsWith("/manifest.json"))) return;
  if (path.includes("/assets/")) {
    // Content-hashed names: what is cached is right for good.
    event.respondWith(caches.match(request).then((hit) => hit ?? fetchAndKeep(request)));
    return;
  }
  // Everything else: the network first, so that a new build shows; the cache when offline.
  event.respondWith(
    fetchAndKeep(request).catch(async (e) => {
      const hit = await caches.match(request, { ignoreSearch: true });
      if (hit) return hit;
      throw e;
    }),
  );
});

async function fetchAndKeep(request) {
  const response = await fetch(request);
  if (response.ok && response.status === 200) {
    const copy = response.clone();
    caches.open(CACHE).then((cache) => cache.put(request, copy));
  }
  return response;
}
