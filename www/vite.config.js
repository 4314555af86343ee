// Builds the demo page into dist/. The index, the package list and the model are copied
// in from public/, where demo.sh writes them; sw.js (the service worker) is written from
// sw.template.js with the list of the build's files.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

/** Emits sw.js: the template with the app shell's files and a version naming them. */
function serviceWorker() {
  return {
    name: "vectrove-demo-service-worker",
    apply: "build",
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle).sort();
      const shell = ["./", ...files.map((f) => `./${f}`), "./data/packages.json", "./index/manifest.json", "./model/manifest.json"];
      const version = createHash("sha256").update(files.join("\n")).digest("hex").slice(0, 16);
      const template = readFileSync(fileURLToPath(new URL("sw.template.js", import.meta.url)), "utf8");
      this.emitFile({
        type: "asset",
        fileName: "sw.js",
        source: template.replace("__VERSION__", version).replace("__SHELL__", JSON.stringify(shell)),
      });
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  // Module workers keep `import.meta.url`, which the wasm glue uses to find the .wasm.
  worker: { format: "es" },
  optimizeDeps: { exclude: ["vectrove"] },
  plugins: [serviceWorker()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 2000 },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
