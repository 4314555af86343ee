// End-to-end test of the demo in headless Chromium (playwright-core, the system
// chromium), against the build that `bash www/demo.sh --build-only` leaves in www/dist:
//
//   node www/e2e/run.mjs        (VECTROVE_BIN=path/to/vectrove: the CLI to compare with)
//
// 1. the first visit downloads the index once and imports it into OPFS, with progress;
// 2. finding packages by name and words, and their neighbours with similarity scores;
// 3. the neighbours are the ids the native CLI finds for the same vectors;
// 4. k-means and PCA in a worker: clusters, sizes, samples, a map that shows a package on
//    hover; no horizontal scrolling on a phone-sized screen;
// 5. a reload opens the index from OPFS: no second download, no second import.
// Screenshots go to target/www-e2e/. Prints the first-load and reload timings.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../server.mjs";

const WWW = dirname(dirname(fileURLToPath(import.meta.url)));
const ROOT = dirname(WWW);
const OUT = join(ROOT, "target", "www-e2e");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CLI = process.env.VECTROVE_BIN ?? join(ROOT, "target", "release", "vectrove");
const INDEX_PATH = "/index/debian-10k.vtrv";
const DIM = 384;
const RECORD = 4 + DIM * 4;
const K = 10;
const EF = 64;

for (const [what, path] of [["the demo build", join(WWW, "dist", "index.html")], ["the CLI", CLI], ["Chromium", CHROMIUM]]) {
  if (!existsSync(path)) {
    console.error(`e2e: ${what} is missing at ${path} (run: bash www/demo.sh --build-only)`);
    process.exit(1);
  }
}
mkdirSync(OUT, { recursive: true });
const packages = JSON.parse(readFileSync(join(WWW, "data", "packages.json"), "utf8"));
const manifest = JSON.parse(readFileSync(join(WWW, "dist", "index", "manifest.json"), "utf8"));

let failures = 0;
let count = 0;
async function test(name, body) {
  count++;
  const t0 = Date.now();
  try {
    const note = await body();
    console.log(`ok   ${name} (${Date.now() - t0} ms)${note ? `: ${note}` : ""}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
function equal(actual, expected, message) {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error(`${message}: got ${a}, expected ${b}`);
}

const server = await startServer({ root: join(WWW, "dist") });
const profile = mkdtempSync(join(tmpdir(), "vectrove-demo-e2e-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => {
  if (m.type() === "error") problems.push(`console error: ${m.text()}`);
});

const state = (name) => page.evaluate((n) => document.documentElement.dataset[n] ?? null, name);
/** Waits until page `p` has opened the index (or failed, which throws). */
async function ready(p = page) {
  await p.waitForFunction(() => ["ready", "error"].includes(document.documentElement.dataset.state ?? ""), null, {
    timeout: 120_000,
  });
  const error = await p.locator("#error").textContent();
  assert((await p.evaluate(() => document.documentElement.dataset.state)) === "ready", `the page failed: ${error}`);
}

/** Types a package's exact name, picks it, and returns the neighbours shown. */
async function neighboursOf(id) {
  await page.fill("#query", packages.names[id]);
  const first = page.locator("#matches button.package").first();
  await first.waitFor();
  await page.waitForFunction((want) => {
    const b = document.querySelector("#matches button.package");
    return b?.querySelector(".name")?.textContent === want;
  }, packages.names[id]);
  equal(Number(await first.getAttribute("data-id")), id, `the first match for "${packages.names[id]}"`);
  await first.click();
  await page.waitForFunction((want) => document.documentElement.dataset.neighboursOf === want, String(id));
  return page.$$eval("#neighbours button.package", (buttons) =>
    buttons.map((b) => ({ id: Number(b.dataset.id), score: Number(b.querySelector(".score")?.textContent) })));
}

const timings = {};
try {
  await test("first visit: downloads the index once and imports it into OPFS", async () => {
    const t0 = Date.now();
    await page.goto(server.url);
    await ready();
    timings.firstLoad = Date.now() - t0;
    equal(await state("openMode"), "imported", "open mode");
    equal(await state("imports"), "1", "import counter");
    equal(Number(await state("importedBytes")), manifest.bytes, "bytes the progress bar reached");
    equal(server.requests.get(INDEX_PATH), 1, "downloads of the index file");
    assert(await page.locator("#loading").isHidden(), "the progress bar is gone once ready");
    const facts = await page.locator("#facts").innerText();
    assert(/OPFS/.test(facts), `the storage backend is shown: ${facts}`);
    assert(/16\.\d MB index file/.test(facts), `the bytes stored are shown: ${facts}`);
    return `${timings.firstLoad} ms to ready (the page measured ${await state("openMs")} ms)`;
  });

  await test("finds packages by words and by name", async () => {
    await page.fill("#query", "kerberos");
    await page.locator("#matches button.package").first().waitFor();
    const names = await page.$$eval("#matches .name", (els) => els.map((e) => e.textContent));
    assert(names.length >= 3, `matches for "kerberos": ${names}`);
    const texts = await page.$$eval("#matches button.package", (els) => els.map((e) => e.textContent.toLowerCase()));
    assert(texts.every((t) => t.includes("kerberos")), "every match mentions kerberos");
    assert((await page.locator("#matches mark").count()) > 0, "the matching words are marked");
    const id = packages.names.indexOf("numlockx");
    const hits = await neighboursOf(id);
    equal(hits.length, K, "neighbours shown");
    assert(hits.every((h) => h.id !== id), "the package itself is not among its neighbours");
    for (let i = 1; i < hits.length; i++) assert(hits[i].score <= hits[i - 1].score, "nearest first");
    assert(hits.every((h) => h.score > 0 && h.score <= 1), "cosine similarities");
    const latency = await page.locator("#latency").innerText();
    assert(/Searched in [\d.]+ (ms|s)/.test(latency), `the latency is shown: ${latency}`);
    return `numlockx → ${hits.slice(0, 3).map((h) => `${packages.names[h.id]} ${h.score}`).join(", ")}; ${latency}`;
  });

  await test("neighbours are the ids the native CLI finds for the same vectors", async () => {
    const ids = [0, 1, 2, 4, 1234, 5000, 9999].filter((id) => id < manifest.count);
    const base = readFileSync(join(WWW, "data", "debian-10k.fvecs"));
    const queries = Buffer.concat(ids.map((id) => base.subarray(id * RECORD, (id + 1) * RECORD)));
    const qfile = join(OUT, "queries.fvecs");
    const ofile = join(OUT, "cli-top.ivecs");
    writeFileSync(qfile, queries);
    execFileSync(CLI, ["search", "--index", join(WWW, "dist", "index", "debian-10k.vtrv"), "--queries", qfile,
      "--k", String(K + 1), "--ef", String(EF), "--threads", "1", "--output", ofile], { stdio: "pipe" });
    const out = readFileSync(ofile);
    const row = 4 + (K + 1) * 4;
    for (const [q, id] of ids.entries()) {
      const cli = [];
      for (let j = 0; j < K + 1; j++) cli.push(out.readInt32LE(q * row + 4 + j * 4));
      const expected = cli.filter((x) => x !== id && x >= 0).slice(0, K);
      const shown = (await neighboursOf(id)).map((h) => h.id);
      equal(shown, expected, `neighbours of ${packages.names[id]} (${id})`);
    }
    return `${ids.length} packages, top ${K} at ef ${EF}`;
  });

  await test("clusters: k-means and PCA in a worker, a map to hover", async () => {
    await page.selectOption("#k", "12");
    await page.click("#run-kmeans");
    await page.waitForFunction(() => document.documentElement.dataset.clusters === "12", null, { timeout: 120_000 });
    assert(Number(await state("kmeansIterations")) >= 1, "k-means reported progress");
    const sizes = await page.$$eval("#cluster-list .size", (els) => els.map((e) => Number(e.textContent.replace(/\D/g, ""))));
    equal(sizes.length, 12, "clusters listed");
    equal(sizes.reduce((a, b) => a + b, 0), manifest.count, "packages in all clusters");
    const samples = await page.locator("#cluster-list .cluster").first().locator("li").count();
    assert(samples >= 1, "a cluster shows sample packages");
    const caption = await page.locator("#map-caption").innerText();
    assert(/principal components/.test(caption), `the map says what it shows: ${caption}`);
    // Hover the map until the tooltip names a package.
    await page.locator("#map").scrollIntoViewIfNeeded();
    const box = await page.locator("#map").boundingBox();
    let tip = null;
    for (let i = 0; i < 60 && !tip; i++) {
      const x = box.x + box.width * (0.3 + 0.4 * ((i * 7) % 10) / 10);
      const y = box.y + box.height * (0.3 + 0.4 * Math.floor(i / 6) / 10);
      await page.mouse.move(x, y);
      if (await page.locator("#tooltip").isVisible()) tip = await page.locator("#tooltip").innerText();
    }
    assert(tip && packages.names.some((n) => tip.startsWith(n)), `hovering shows a package: ${tip}`);
    await page.screenshot({ path: join(OUT, "demo.png"), fullPage: true });
    return `sizes ${sizes.join(" ")}; ${await page.locator("#kmeans-status").innerText()}; hover: ${tip.split("\n")[0]}`;
  });

  await test("accessible names and a layout that fits a phone", async () => {
    const unlabelled = await page.$$eval("input, select, button, canvas", (els) =>
      els.filter((e) => {
        if (e.closest("[hidden]")) return false;
        const labelled = e.id && document.querySelector(`label[for="${e.id}"]`);
        return !labelled && !e.getAttribute("aria-label") && !e.textContent.trim();
      }).map((e) => e.outerHTML.slice(0, 80)));
    equal(unlabelled, [], "controls without an accessible name");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `the page scrolls sideways by ${overflow} px at 390 px wide`);
    await page.screenshot({ path: join(OUT, "demo-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await test("reload: the index opens from OPFS, nothing downloaded or imported again", async () => {
    const t0 = Date.now();
    await page.reload();
    await ready();
    timings.reload = Date.now() - t0;
    equal(await state("openMode"), "opened", "open mode");
    equal(await state("imports"), "1", "import counter");
    equal(server.requests.get(INDEX_PATH), 1, "downloads of the index file");
    const facts = await page.locator("#facts").innerText();
    assert(/From OPFS/.test(facts), `the page says where the index came from: ${facts}`);
    const id = packages.names.indexOf("numlockx");
    equal((await neighboursOf(id)).length, K, "neighbours after the reload");
    return `${timings.reload} ms to ready (the page measured ${await state("openMs")} ms)`;
  });

  await test("a second tab: the file is in use, so it reads a copy into memory", async () => {
    const other = await context.newPage();
    try {
      await other.goto(server.url);
      await ready(other);
      const root = await other.evaluate(() => ({ ...document.documentElement.dataset }));
      equal([root.state, root.openMode, root.storage], ["ready", "opened", "memory"], "second tab");
      equal(server.requests.get(INDEX_PATH), 1, "downloads of the index file");
      await other.fill("#query", "numlockx");
      await other.locator("#matches button.package").first().click();
      await other.locator("#neighbours button.package").nth(K - 1).waitFor();
    } finally {
      await other.close();
    }
  });

  await test("no errors in the console", async () => {
    equal(problems, [], "console errors and page errors");
  });
} finally {
  await context.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`first load ${timings.firstLoad ?? "-"} ms, reload ${timings.reload ?? "-"} ms; screenshots in ${OUT}`);
if (failures) {
  console.log(`${failures} of ${count} demo tests FAILED`);
  process.exit(1);
}
console.log(`all ${count} demo tests passed`);
