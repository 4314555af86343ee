// Runs the npm package's tests: type-checks index.d.ts, builds the Vite app, then drives
// headless Chromium (playwright-core, the system chromium) through the test pages served
// by server.mjs. Prints one line per test and exits non-zero if any fails.
//
// Expects wasm/pkg to be built; run.sh takes care of that and of npm ci.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { build } from "vite";
import { startServer, defaultMounts } from "./server.mjs";
import { readmeTests } from "./readme.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PAGE_TIMEOUT_MS = 120_000;
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--no-first-run",
];

let failures = 0;
let count = 0;

function report(name, ok, ms, detail) {
  count++;
  if (!ok) failures++;
  const line = `${ok ? "ok  " : "FAIL"} ${name} (${ms} ms)${detail ? ` -- ${detail}` : ""}`;
  console.log(line);
}

async function timed(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    report(name, true, Date.now() - t0, detail);
    return true;
  } catch (err) {
    report(name, false, Date.now() - t0, String(err?.message ?? err).trim());
    return false;
  }
}

// Loads a test page (or reloads the current one) and reports each of its tests.
async function runPage(page, label, url, { reload = false, timeout = PAGE_TIMEOUT_MS } = {}) {
  const logs = [];
  const onConsole = (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") logs.push(`[${msg.type()}] ${msg.text()}`);
  };
  const onPageError = (err) => logs.push(`[pageerror] ${err.message}`);
  page.on("console", onConsole);
  page.on("pageerror", onPageError);
  const t0 = Date.now();
  try {
    if (reload) {
      await page.evaluate((next) => history.replaceState(null, "", next), url);
      await page.reload();
    } else {
      await page.goto(url);
    }
    await page.waitForFunction(() => window.__done || window.__fatal, null, { timeout });
    const fatal = await page.evaluate(() => window.__fatal);
    if (fatal) throw new Error(fatal);
    const results = await page.evaluate(() => window.__results);
    for (const r of results) report(`${label}: ${r.name}`, r.ok, r.ms, r.detail);
    if (results.some((r) => !r.ok) && logs.length) console.log(logs.map((l) => `     ${l}`).join("\n"));
  } catch (err) {
    report(`${label}: page ${url}`, false, Date.now() - t0, err.message.split("\n")[0]);
    if (logs.length) console.log(logs.map((l) => `     ${l}`).join("\n"));
  } finally {
    page.off("console", onConsole);
    page.off("pageerror", onPageError);
  }
}

if (!existsSync(join(HERE, "..", "pkg", "dist", "vectrove_wasm_bg.wasm"))) {
  console.error("wasm/pkg is not built; run: bash scripts/build-npm.sh (or bash wasm/npm-test/run.sh)");
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  console.error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  process.exit(1);
}

// Two tabs of one profile (same origin) save the same name at the same time, round after
// round, for each storage; after each round the stored index must be one whole version.
// With `nolocks` the tabs act as a browser without the Web Locks API: saves may then fail,
// but only with a typed error, and what is stored is still one whole version.
async function twoTabs(context, origin, { nolocks = false } = {}) {
  const NAME = "npm-test-race";
  const ROUNDS = 8;
  const label0 = nolocks ? "two tabs without Web Locks" : "two tabs";
  const tabs = [await context.newPage(), await context.newPage()];
  try {
    const loaded = await timed(`${label0}: both load the package and build their versions`, async () => {
      await Promise.all(tabs.map((p, i) => p.goto(`${origin}/pages/race.html?tab=${i}&nolocks=${nolocks ? 1 : 0}`)));
      for (const p of tabs) {
        await p.waitForFunction(() => window.__ready || window.__fatal, null, { timeout: PAGE_TIMEOUT_MS });
        const fatal = await p.evaluate(() => window.__fatal);
        if (fatal) throw new Error(fatal);
      }
    });
    if (!loaded) return;
    const cases = nolocks ? [["IndexedDB", ["idb", "idb"], "idb"]] : [
      ["IndexedDB", ["idb", "idb"], "idb"],
      ["OPFS, both through workers", ["opfs", "opfs"], "opfs"],
      ["OPFS, a worker and a page", ["opfs", "opfs-page"], "opfs"],
    ];
    const promise = nolocks ? "each save resolves or fails with BusyError" : "every save resolves";
    for (const [label, hows, storage] of cases) {
      await timed(`${label0}: ${label}: ${ROUNDS} rounds of saving one name at once; ${promise}, and one whole version is stored`, async () => {
        const seen = [0, 0];
        let refused = 0;
        let reader = "";
        // Tab 1 starts its (short) save at a different point of tab 0's (long) one each round.
        const long = await tabs[0].evaluate(([name, how]) => window.race.timeSave(name, how), [NAME, hows[0]]);
        for (let round = 0; round < ROUNDS; round++) {
          const delays = [0, (long * round) / ROUNDS];
          const outcomes = await Promise.all(tabs.map((p, i) =>
            p.evaluate(([name, how, delay]) => window.race.save(name, how, delay), [NAME, hows[i], delays[i]])));
          for (const o of outcomes) {
            if (o === "saved") continue;
            if (nolocks && o.startsWith("BusyError:")) refused++;
            else throw new Error(`round ${round}: ${outcomes.join(" / ")}`);
          }
          const v = await tabs[0].evaluate(([name, s]) => window.race.check(name, s), [NAME, storage]);
          seen[v]++;
          if (storage === "idb" && round === 0) await tabs[0].evaluate((name) => window.race.openReader(name), NAME);
        }
        if (storage === "idb") {
          reader = await tabs[0].evaluate(() => window.race.useReader());
          if (!/^(works|fails cleanly)/.test(reader)) throw new Error(`the reader opened before: ${reader}`);
          reader = `; the reader opened before ${reader}`;
        }
        await tabs[0].evaluate((name) => window.race.remove(name), NAME);
        const refusals = nolocks ? `; ${refused} saves refused with BusyError` : "";
        return `stored: version 0 ${seen[0]}x, version 1 ${seen[1]}x (a long save takes ${Math.round(long)} ms)${refusals}${reader}`;
      });
    }
  } finally {
    for (const p of tabs) await p.close();
  }
}

const started = Date.now();
// NPM_TEST_ONLY=http (a comma-separated list of words) runs only the tests whose label
// holds one of them.
const only = process.env.NPM_TEST_ONLY?.split(",").filter(Boolean);
const want = (label) => !only || only.some((w) => label.includes(w));

if (want("types")) await timed("types: index.d.ts accepts the documented usage and rejects misuse", () => {
  const tsc = join(HERE, "node_modules", ".bin", "tsc");
  const out = spawnSync(tsc, ["-p", join(HERE, "types", "tsconfig.json")], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`tsc failed:\n${out.stdout}${out.stderr}`);
});

if (want("node")) await timed("node: the package under Node's test runner (init finds the .wasm)", () => {
  // Resolved as an installed package would be: node_modules/vectrove -> wasm/pkg.
  const modules = join(HERE, "node", "node_modules");
  mkdirSync(modules, { recursive: true });
  rmSync(join(modules, "vectrove"), { recursive: true, force: true });
  symlinkSync(join("..", "..", "..", "pkg"), join(modules, "vectrove"), "dir");
  const out = spawnSync(process.execPath, ["--test", join(HERE, "node")], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`node --test failed:\n${out.stdout}${out.stderr}`);
  return /# pass (\d+)/.exec(out.stdout)?.[0] ?? "";
});

const viteBuilt = want("vite") && await timed("vite: build of vite-app (worker and .wasm emitted as assets)", async () => {
  // The app depends on the built package as an installed one would: node_modules/vectrove.
  const modules = join(HERE, "vite-app", "node_modules");
  mkdirSync(modules, { recursive: true });
  rmSync(join(modules, "vectrove"), { recursive: true, force: true });
  symlinkSync(join("..", "..", "..", "pkg"), join(modules, "vectrove"), "dir");
  await build({ configFile: join(HERE, "vite-app", "vite.config.js") });
  const assets = readdirSync(join(HERE, "vite-app", "dist", "assets"));
  const wasm = assets.filter((f) => f.endsWith(".wasm"));
  const workers = assets.filter((f) => /^worker-.*\.js$/.test(f));
  if (wasm.length === 0) throw new Error(`no .wasm among ${assets.join(", ")}`);
  if (workers.length === 0) throw new Error(`no worker chunk among ${assets.join(", ")}`);
  return `${assets.length} assets`;
});

const server = await startServer(defaultMounts());
const profile = mkdtempSync(join(tmpdir(), "vectrove-npm-test-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  const page = context.pages()[0] ?? await context.newPage();
  const o = server.origin;
  if (want("plain")) await runPage(page, "plain page", `${o}/pages/plain.html`);
  if (want("worker")) {
    await runPage(page, "worker", `${o}/pages/worker.html?phase=1`);
    await runPage(page, "worker after reload", `${o}/pages/worker.html?phase=2`, { reload: true });
  }
  if (want("http")) {
    // A port nothing listens on, for a refused connection.
    const dead = createNetServer();
    await new Promise((ok) => dead.listen(0, "127.0.0.1", ok));
    const port = dead.address().port;
    await new Promise((ok) => dead.close(ok));
    const other = encodeURIComponent(server.otherOrigin);
    await runPage(page, "http", `${o}/pages/http.html?other=${other}&dead=${port}`);
  }
  if (viteBuilt) await runPage(page, "vite app", `${o}/vite/`);
  if (want("readme")) {
    await readmeTests({ origin: o, runPage: (label, url) => runPage(page, label, url), timed, report });
  }
  if (want("tabs")) {
    await twoTabs(context, o);
    await twoTabs(context, o, { nolocks: true });
  }
  if (want("saves")) {
    await runPage(page, "killed saves", `${o}/pages/crash.html`, { timeout: 600_000 });
    await runPage(page, "failed saves", `${o}/pages/failure.html`, { timeout: 300_000 });
  }

} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}

// Quota: a fresh profile whose origin may store 4 MiB, set before the page first runs.
const quotaProfile = mkdtempSync(join(tmpdir(), "vectrove-npm-quota-"));
let quotaContext;
try {
  quotaContext = await chromium.launchPersistentContext(quotaProfile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  const page = quotaContext.pages()[0] ?? await quotaContext.newPage();
  const cdp = await quotaContext.newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.origin, quotaSize: 4 << 20 });
  if (want("quota")) await runPage(page, "storage quota", `${server.origin}/pages/quota.html`);
} finally {
  await quotaContext?.close();
  await server.close();
  rmSync(quotaProfile, { recursive: true, force: true });
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (failures) {
  console.log(`${failures} of ${count} tests FAILED (${seconds} s)`);
  process.exit(1);
}
console.log(`all ${count} tests passed (${seconds} s)`);
