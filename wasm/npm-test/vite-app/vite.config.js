// Builds the test app against the package in wasm/pkg, resolved as "vectrove" through its
// package.json exports map (the alias stands in for `npm install ../../pkg`).
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/vite/",
  logLevel: "warn",
  resolve: {
    alias: [{ find: /^vectrove$/, replacement: fileURLToPath(new URL("../../pkg", import.meta.url)) }],
  },
  // Module workers keep `import.meta.url`, which the wasm glue uses to find the .wasm.
  worker: { format: "es" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
  },
});
