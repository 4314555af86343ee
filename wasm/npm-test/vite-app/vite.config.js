// Builds the test app against the package in wasm/pkg. run-tests.mjs links it in as
// node_modules/vectrove (what `npm install ../../pkg` does), so "vectrove" and
// "vectrove/worker" resolve through the package's own exports map.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/vite/",
  logLevel: "warn",
  // Module workers keep `import.meta.url`, which the wasm glue uses to find the .wasm.
  worker: { format: "es" },
  optimizeDeps: { exclude: ["vectrove"] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
  },
});
