// Runs the code blocks of the npm package's README (wasm/npm/README.md) as they are written,
// so that what users copy works. Every fenced block must be marked, on the line before its
// fence, with where it runs:
//
//   <!-- test: page -->          a module on a page (an html block is the page itself)
//   <!-- test: page, twice -->   the same, run a second time as a later visit would
//   <!-- test: node -->          a module under Node, in a fresh working directory
//   <!-- test: vite config -->   the vite.config.js of an app built by Vite ...
//   <!-- test: vite -->          ... whose modules these blocks are, loaded in the browser
//   <!-- test: not run: why -->  said on the test's line; only for what cannot run here
//
// A block uses values it does not define (`embedding`, `ids`, `query`, `index`, ...):
// readme-prelude.js makes them from the debian-384 fixtures, and each block gets an import
// of the ones it uses and does not declare, plus an import of the package's names it uses
// without importing them. The README's example host `https://cdn.example.com/` is this test
// server, and its `/indexes/docs.vtrv` is the fixture index golden.vtrv, served as a static
// host does (ranges, ETag). The blocks are written to readme-blocks/ (not committed).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const README = join(HERE, "..", "npm", "README.md");
const OUT = join(HERE, "readme-blocks");
const FIXTURES = fileURLToPath(new URL("../../target/wasm-fixtures/", import.meta.url));
const EXAMPLE_HOST = "https://cdn.example.com/";

// The values readme-prelude.js can make, and the package's exports a block may use bare.
const PLACEHOLDERS = [
  "dim", "embedding", "ids", "vectors", "data", "query", "queries", "index", "bytes", "other",
  "allowedIds", "onProgress", "wrongLength",
];
const EXPORTS = ["Index", "KMeans", "Pca", "createIndexWorker", "errorNames"];
const KINDS = ["page", "page, twice", "node", "vite config", "vite"];

/** The README's fenced blocks: { n, line, lang, marker, code }. */
export function readmeBlocks(text = readFileSync(README, "utf8")) {
  const lines = text.split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    if (end === lines.length) throw new Error(`README.md:${start + 1}: the block never closes`);
    const mark = /^<!-- test: (.*) -->$/.exec(lines[start - 1] ?? "");
    blocks.push({
      n: blocks.length + 1,
      line: start + 1,
      lang: open[1],
      marker: mark ? mark[1].trim() : null,
      code: lines.slice(start + 1, end).join("\n"),
    });
    i = end;
  }
  return blocks;
}

// The code without line comments (a `//` after a space or at a line's start: not a URL's).
function uncommented(code) {
  return code.replace(/(^|\s)\/\/.*$/gm, "$1");
}

function declares(code, name) {
  const n = `\\b${name}\\b`;
  return [
    new RegExp(`\\b(?:const|let|var|function|class)\\s+${n}`),
    new RegExp(`\\b(?:const|let|var)\\s*[{[][^}\\]]*${n}[^}\\]]*[}\\]]\\s*=`),
    new RegExp(`\\bimport\\s+${n}`),
    new RegExp(`\\bimport\\s+(?:[\\w$]+\\s*,\\s*)?\\{[^}]*${n}[^}]*\\}`),
  ].some((re) => re.test(code));
}

function uses(code, name) {
  return new RegExp(`(?<![\\w$.])${name}\\b`).test(code);
}

// What goes before a block's code: imports of the package's names and the placeholders it
// uses without defining them. `load` is the source of a function reading a fixture's bytes.
function header(code, load) {
  const plain = uncommented(code);
  const api = EXPORTS.filter((n) => uses(plain, n) && !declares(plain, n));
  const wanted = PLACEHOLDERS.filter((n) => uses(plain, n) && !declares(plain, n));
  const out = [];
  if (api.length) out.push(`import { ${api.join(", ")} } from "vectrove";`);
  if (wanted.length) {
    out.push(
      `import * as __vectrove from "vectrove";`,
      `import { placeholders as __placeholders } from "./readme-prelude.js";`,
      `await __vectrove.default();`,
      `const { ${wanted.join(", ")} } = await __placeholders(__vectrove, ${JSON.stringify(wanted)}, {`,
      `  load: ${load},`,
      `  run: Number(new URL(import.meta.url).searchParams.get("run") ?? 0),`,
      `});`,
    );
  }
  return out.join("\n");
}

const PAGE_LOAD = `(file) => fetch("/range/" + file).then((r) => r.arrayBuffer())`;
const NODE_LOAD = `async (file) => { const b = (await import("node:fs")).readFileSync(${JSON.stringify(FIXTURES)} + file); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }`;

function rewriteHosts(code, origin) {
  return code.replaceAll(EXAMPLE_HOST, `${origin}/`);
}

function label(b) {
  return `readme: block ${b.n} (README.md:${b.line}, ${b.marker})`;
}

function linkPackage(dir) {
  const modules = join(dir, "node_modules");
  mkdirSync(modules, { recursive: true });
  rmSync(join(modules, "vectrove"), { recursive: true, force: true });
  symlinkSync(join(HERE, "..", "pkg"), join(modules, "vectrove"), "dir");
}

// An html block as a test page: errors land in `__fatal`, the end of its module script
// sets `__done`.
function htmlPage(b, origin) {
  const code = rewriteHosts(b.code, origin);
  const m = /<script type="module">\n([\s\S]*?)<\/script>/.exec(code);
  if (!m) throw new Error(`README.md:${b.line}: an html block needs a <script type="module">`);
  const body = m[1];
  const script = `<script type="module">\n${header(body, PAGE_LOAD)}\n${body}\n` +
    `window.__results = [{ name: "runs", ok: true, ms: 0 }]; window.__done = true;\n</script>`;
  const capture = `<script>
  addEventListener("error", (e) => { window.__fatal = String(e.error?.stack ?? e.message); });
  addEventListener("unhandledrejection", (e) => { window.__fatal = String(e.reason?.stack ?? e.reason); });
</script>\n`;
  return capture + code.replace(m[0], script);
}

// The page that imports each page block in turn (twice for "twice") and reports each.
function blocksPage(entries) {
  return `<!doctype html>
<meta charset="utf-8">
<title>README blocks</title>
<script type="importmap">{ "imports": { "vectrove": "/node_modules/vectrove/index.js" } }</script>
<script type="module">
const results = [];
for (const [name, url] of ${JSON.stringify(entries)}) {
  const t0 = performance.now();
  try {
    await import(url);
    results.push({ name, ok: true, ms: Math.round(performance.now() - t0) });
  } catch (e) {
    results.push({ name, ok: false, ms: Math.round(performance.now() - t0), detail: String(e?.name ?? "") + ": " + String(e?.message ?? e) });
  }
}
window.__results = results;
window.__done = true;
</script>
`;
}

/**
 * Writes the blocks out and runs them: `runPage(label, url)` loads a page that sets
 * `__results`/`__done` (run-tests.mjs's), `timed(name, fn)` runs and reports one test,
 * `report(name, ok, ms, detail)` reports a line.
 */
export async function readmeTests({ origin, runPage, timed, report }) {
  let blocks;
  try {
    blocks = readmeBlocks();
    for (const b of blocks) {
      if (b.marker === null) throw new Error(`README.md:${b.line}: a code block without a <!-- test: ... --> line before it`);
      if (!KINDS.includes(b.marker) && !b.marker.startsWith("not run: ")) {
        throw new Error(`README.md:${b.line}: unknown marker "${b.marker}" (one of: ${KINDS.join("; ")}; not run: why)`);
      }
      if (b.lang === "html" && b.marker !== "page") throw new Error(`README.md:${b.line}: an html block runs as a page`);
    }
  } catch (err) {
    report("readme: every code block is marked", false, 0, err.message);
    return;
  }
  rmSync(OUT, { recursive: true, force: true });
  for (const dir of ["", "node", "vite", "indexes"]) mkdirSync(join(OUT, dir), { recursive: true });
  linkPackage(OUT);
  for (const dir of ["", "node", "vite"]) copyFileSync(join(HERE, "readme-prelude.js"), join(OUT, dir, "readme-prelude.js"));
  copyFileSync(join(FIXTURES, "golden.vtrv"), join(OUT, "indexes", "docs.vtrv"));

  const entries = [];
  const htmlPages = [];
  const vite = [];
  let config = null;
  for (const b of blocks) {
    if (b.marker.startsWith("not run: ")) {
      report(`readme: block ${b.n} (README.md:${b.line}, ${b.lang}) not run: ${b.marker.slice("not run: ".length)}`, true, 0);
      continue;
    }
    if (b.lang === "html") {
      writeFileSync(join(OUT, `b${b.n}.html`), htmlPage(b, origin));
      htmlPages.push(b);
      continue;
    }
    const code = rewriteHosts(b.code, origin);
    if (b.marker === "node") {
      writeFileSync(join(OUT, "node", `b${b.n}.mjs`), `${header(code, NODE_LOAD)}\n${code}\n`);
    } else if (b.marker === "vite config") {
      config = b;
      writeFileSync(join(OUT, "vite", "vite.config.js"), `${code}\n`);
    } else if (b.marker === "vite") {
      vite.push(b);
      writeFileSync(join(OUT, "vite", `b${b.n}.js`), `${header(code, PAGE_LOAD)}\n${code}\n`);
    } else {
      writeFileSync(join(OUT, `b${b.n}.js`), `${header(code, PAGE_LOAD)}\n${code}\n`);
      const runs = b.marker === "page, twice" ? [["first visit", 0], ["a later visit", 1]] : [[null, 0]];
      for (const [visit, run] of runs) {
        entries.push([`block ${b.n} (README.md:${b.line})${visit ? `, ${visit}` : ""}`, `/readme/b${b.n}.js?run=${run}`]);
      }
    }
  }

  for (const b of blocks.filter((x) => x.marker === "node")) {
    await timed(label(b), () => {
      const cwd = mkdtempSync(join(tmpdir(), "vectrove-readme-"));
      try {
        const out = spawnSync(process.execPath, [join(OUT, "node", `b${b.n}.mjs`)], { cwd, encoding: "utf8", timeout: 120_000 });
        if (out.status !== 0) throw new Error(`exit ${out.status ?? out.signal}:\n${out.stdout}${out.stderr}`);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
  for (const b of htmlPages) await runPage(label(b), `${origin}/readme/b${b.n}.html`);
  writeFileSync(join(OUT, "blocks.html"), blocksPage(entries));
  await runPage("readme", `${origin}/readme/blocks.html`);

  if (vite.length) {
    const built = await timed(`readme: the Vite app of blocks ${vite.map((b) => b.n).join(", ")} builds with the config of block ${config?.n}`, async () => {
      if (!config) throw new Error("no block is marked `vite config`");
      const dir = join(OUT, "vite");
      writeFileSync(join(dir, "index.html"), `<!doctype html>
<meta charset="utf-8">
<script>addEventListener("error", (e) => { window.__fatal = String(e.error?.stack ?? e.message); });</script>
<script type="module" src="./main.js"></script>
`);
      const imports = vite.map((b) => `  [${JSON.stringify(`block ${b.n} (README.md:${b.line})`)}, () => import("./b${b.n}.js")],`);
      writeFileSync(join(dir, "main.js"), `const results = [];
for (const [name, load] of [
${imports.join("\n")}
]) {
  const t0 = performance.now();
  try {
    await load();
    results.push({ name, ok: true, ms: Math.round(performance.now() - t0) });
  } catch (e) {
    results.push({ name, ok: false, ms: Math.round(performance.now() - t0), detail: String(e?.name ?? "") + ": " + String(e?.message ?? e) });
  }
}
window.__results = results;
window.__done = true;
`);
      await build({
        root: dir,
        configFile: join(dir, "vite.config.js"),
        base: "/readme-vite/",
        logLevel: "warn",
        build: { outDir: join(OUT, "vite-dist"), emptyOutDir: true },
      });
    });
    if (built) await runPage("readme, Vite", `${origin}/readme-vite/`);
  }
}
