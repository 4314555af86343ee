// Builds the demo page into dist/. The index file and its manifest are copied in from
// public/index/, where build.sh writes them.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  // Module workers keep `import.meta.url`, which the wasm glue uses to find the .wasm.
  worker: { format: "es" },
  optimizeDeps: { exclude: ["vectrove"] },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 2000 },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
