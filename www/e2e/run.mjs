// End-to-end test of the demo in headless Chromium (playwright-core, the system
// chromium), against the build that `bash www/demo.sh --build-only` leaves in www/dist:
//
//   node www/e2e/run.mjs        (VECTROVE_BIN=path/to/vectrove: the CLI to compare with;
//                                VECTROVE_DATA=path/to/debian-384: the data)
//
// 1. the first visit downloads the index once and imports it into OPFS, and the model
//    once into Cache Storage, each with progress;
// 2. queries are embedded in the page's worker: twenty package descriptions give back
//    their own stored vectors (cosine >= 0.99), and two plain-language questions find
//    what their words ask for, judged by the descriptions of the results;
// 3. finding packages by name and words, and their neighbours with similarity scores,
//    which are the ids the native CLI finds for the same vectors;
// 4. k-means in a vectrove worker: named clusters, sizes, samples, a map that shows a
//    package on hover; no horizontal scrolling on a phone-sized screen;
// 5. a reload opens the index from OPFS and the model from Cache Storage: nothing
//    downloaded again; with the server gone, a reload still starts and searches.
// Screenshots go to target/www-e2e/. Prints the figures the README reports.
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
const DATA = process.env.VECTROVE_DATA ?? join(ROOT, "..", "shared", "data", "debian-384");
const INDEX_PATH = "/index/debian-50k.vtrv";
const MODEL_PATH = "/model/model.safetensors";
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
const packages = JSON.parse(readFileSync(join(WWW, "dist", "data", "packages.json"), "utf8"));
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

let server = await startServer({ root: join(WWW, "dist") });
/**
 * Headless Chromium, in a fresh profile. A browser that dies while it starts (it happens on
 * shared machines, before any page runs) is started again, up to three times in all.
 */
async function launch() {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "vectrove-demo-e2e-"));
    try {
      const ctx = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 900 },
        args: [
          "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run",
        ],
      });
      return { ctx, dir };
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= 3) throw e;
      console.log(`Chromium did not start (attempt ${attempt} of 3): ${String(e?.message ?? e).split("\n")[0]}`);
    }
  }
}
const { ctx: context, dir: profile } = await launch();
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
    timeout: 180_000,
  });
  const error = await p.locator("#error").textContent();
  assert((await p.evaluate(() => document.documentElement.dataset.state)) === "ready", `the page failed: ${error}`);
}
/** Waits until page `p` has its sentence encoder (or failed to load it, which throws). */
async function modelReady(p = page) {
  await p.waitForFunction(() => ["ready", "error"].includes(document.documentElement.dataset.model ?? ""), null, {
    timeout: 180_000,
  });
  const fact = await p.locator("#fact-model").textContent();
  equal(await p.evaluate(() => document.documentElement.dataset.model), "ready", `the model (${fact})`);
}

/** Types `text`, waits for the results by meaning, and returns them with the timings shown. */
async function ask(text, p = page) {
  await p.fill("#query", text);
  await p.waitForFunction((want) => document.documentElement.dataset.semanticFor === want, text.trim(), {
    timeout: 30_000,
  });
  const hits = await p.$$eval("#semantic button.package", (buttons) =>
    buttons.map((b) => ({ id: Number(b.dataset.id), similarity: Number(b.dataset.similarity) })));
  const root = await p.evaluate(() => ({ ...document.documentElement.dataset }));
  return { hits, embedMs: Number(root.embedMs), searchMs: Number(root.searchMs) };
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

const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const served = () => [...server.bytes.values()].reduce((a, b) => a + b, 0);
const timings = {};
try {
  await test("first visit: downloads the index and the model once, with progress, and stores them", async () => {
    const t0 = Date.now();
    await page.goto(server.url);
    await ready();
    timings.firstIndex = Date.now() - t0;
    await modelReady();
    timings.firstModel = Date.now() - t0;
    timings.firstBytes = served();
    equal(await state("openMode"), "imported", "open mode");
    equal(await state("imports"), "1", "import counter");
    equal(Number(await state("importedBytes")), manifest.bytes, "bytes the progress bar reached");
    equal(server.requests.get(INDEX_PATH), 1, "downloads of the index file");
    equal(server.requests.get(MODEL_PATH), 1, "downloads of the model");
    equal(await state("modelCached"), "false", "the model came from the network");
    assert(await page.locator("#loading").isHidden(), "the progress bar is gone once ready");
    assert(await page.locator("#model-loading").isHidden(), "the model's progress bar is gone once ready");
    const facts = await page.locator("#facts").innerText();
    assert(/OPFS/.test(facts), `the storage backend is shown: ${facts}`);
    assert(/50,000 × 384-d/.test(facts), `all the packages are in the index: ${facts}`);
    assert(/all-MiniLM-L6-v2, [\d.]+ MB downloaded/.test(facts), `the model is shown: ${facts}`);
    await page.waitForFunction(() => navigator.serviceWorker.ready.then(() => true), null, { timeout: 30_000 });
    return `index ready in ${timings.firstIndex} ms, model in ${timings.firstModel} ms ` +
      `(the page measured ${await state("openMs")} and ${await state("modelMs")} ms); ` +
      `${(timings.firstBytes / 1e6).toFixed(1)} MB served`;
  });

  await test("twenty descriptions embedded in the browser give back their stored vectors (cosine >= 0.99)", async () => {
    const embed = [];
    const search = [];
    const worst = { similarity: 2, id: -1 };
    for (let j = 0; j < 20; j++) {
      const id = (j * 2503 + 11) % manifest.count;
      const { hits, embedMs, searchMs } = await ask(packages.descriptions[id]);
      embed.push(embedMs);
      search.push(searchMs);
      const own = hits.find((h) => h.id === id);
      assert(own, `"${packages.descriptions[id]}" (${id}) is not among its own results: ${JSON.stringify(hits)}`);
      assert(own.similarity >= 0.99, `"${packages.descriptions[id]}": cosine ${own.similarity} with its stored vector`);
      if (own.similarity < worst.similarity) Object.assign(worst, { similarity: own.similarity, id });
    }
    timings.embedP50 = p50(embed);
    timings.searchP50 = p50(search);
    return `lowest cosine ${worst.similarity.toFixed(5)}; embedding p50 ${timings.embedP50.toFixed(1)} ms, ` +
      `search p50 ${timings.searchP50.toFixed(2)} ms (page to worker and back)`;
  });

  // Judged by what the results' descriptions say, not by package names chosen in advance.
  const questions = [
    ["software to edit photos", "an image editor",
      (d) => /\b(image|images|photo|photos|photograph\w*|picture|pictures|bitmap|raster|graphics)\b/i.test(d) &&
        /\b(edit\w*|manipulat\w*|paint\w*|retouch\w*)\b/i.test(d)],
    ["play music from the command line", "a console audio player",
      (d) => /\b(music|audio|sound|mp3|songs?|media)\b/i.test(d) && /\bplay(er|ers|back|s|ing)?\b/i.test(d) &&
        /\b(console|command[- ]line|terminal|curses|ncurses|cli|text[- ]based|text[- ]mode|shell)\b/i.test(d)],
  ];
  for (const [question, what, fits] of questions) {
    await test(`"${question}" finds ${what} in the top ${K}`, async () => {
      const { hits } = await ask(question);
      equal(hits.length, K, "results");
      const found = hits.filter((h) => fits(packages.descriptions[h.id]));
      assert(found.length > 0, `no result describes ${what}: ` +
        hits.map((h) => `${packages.names[h.id]}: ${packages.descriptions[h.id]}`).join(" | "));
      for (let i = 1; i < hits.length; i++) assert(hits[i].similarity <= hits[i - 1].similarity, "nearest first");
      return found.map((h) => `${packages.names[h.id]} (${packages.descriptions[h.id]}, ${h.similarity.toFixed(3)})`).join("; ");
    });
  }

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
    const ids = [0, 1, 2, 4, 1234, 25000, 49999].filter((id) => id < manifest.count);
    const base = readFileSync(join(DATA, "base.fvecs"));
    const queries = Buffer.concat(ids.map((id) => base.subarray(id * RECORD, (id + 1) * RECORD)));
    const qfile = join(OUT, "queries.fvecs");
    const ofile = join(OUT, "cli-top.ivecs");
    writeFileSync(qfile, queries);
    execFileSync(CLI, ["search", "--index", join(WWW, "dist", "index", manifest.file), "--queries", qfile,
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

  await test("clusters: k-means in a worker, named by their words, on a map to hover", async () => {
    await page.selectOption("#k", "12");
    await page.click("#run-kmeans");
    await page.waitForFunction(() => document.documentElement.dataset.clusters === "12", null, { timeout: 180_000 });
    assert(Number(await state("kmeansIterations")) >= 1, "k-means reported progress");
    const sizes = await page.$$eval("#cluster-list .size", (els) => els.map((e) => Number(e.textContent.replace(/\D/g, ""))));
    equal(sizes.length, 12, "clusters listed");
    equal(sizes.reduce((a, b) => a + b, 0), manifest.count, "packages in all clusters");
    const titles = await page.$$eval("#cluster-list .cluster h3 .label", (els) => els.map((e) => e.textContent.trim()));
    for (const t of titles) assert(/^[a-z0-9+#.-]+( · [a-z0-9+#.-]+){2}$/.test(t), `a cluster named by three words: "${t}"`);
    assert(new Set(titles).size === titles.length, `every cluster has its own name: ${titles.join(" | ")}`);
    const samples = await page.locator("#cluster-list .cluster").first().locator("li").count();
    assert(samples >= 1, "a cluster shows sample packages");
    const caption = await page.locator("#map-caption").innerText();
    assert(/One disc per cluster/.test(caption), `the map says what it shows: ${caption}`);
    // Hover the map until the tooltip names a package.
    await page.locator("#map").scrollIntoViewIfNeeded();
    const box = await page.locator("#map").boundingBox();
    let tip = null;
    for (let i = 0; i < 100 && !tip; i++) {
      const x = box.x + box.width * (0.1 + 0.8 * ((i * 7) % 10) / 10);
      const y = box.y + box.height * (0.1 + 0.8 * Math.floor(i / 10) / 10);
      await page.mouse.move(x, y);
      if (await page.locator("#tooltip").isVisible()) tip = await page.locator("#tooltip").innerText();
    }
    assert(tip && packages.names.some((n) => tip.startsWith(n)), `hovering shows a package: ${tip}`);
    await page.screenshot({ path: join(OUT, "demo.png"), fullPage: true });
    return `${titles.map((t, i) => `${t} (${sizes[i]})`).join(", ")}; ${await page.locator("#kmeans-status").innerText()}`;
  });

  await test("accessible names and a layout that fits a phone", async () => {
    const unlabelled = await page.$$eval("input, select, button, canvas", (els) =>
      els.filter((e) => {
        if (e.closest("[hidden]")) return false;
        const labelled = e.id && document.querySelector(`label[for="${e.id}"]`);
        return !labelled && !e.getAttribute("aria-label") && !e.textContent.trim();
      }).map((e) => e.outerHTML.slice(0, 80)));
    equal(unlabelled, [], "controls without an accessible name");
    await ask("software to edit photos");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `the page scrolls sideways by ${overflow} px at 390 px wide`);
    await page.screenshot({ path: join(OUT, "demo-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await test("reload: the index from OPFS, the model from Cache Storage, nothing downloaded again", async () => {
    const t0 = Date.now();
    await page.reload();
    await ready();
    await modelReady();
    timings.reload = Date.now() - t0;
    equal(await state("openMode"), "opened", "open mode");
    equal(await state("imports"), "1", "import counter");
    equal(server.requests.get(INDEX_PATH), 1, "downloads of the index file");
    equal(server.requests.get(MODEL_PATH), 1, "downloads of the model");
    equal(await state("modelCached"), "true", "the model came from the browser");
    assert(await page.evaluate(() => navigator.serviceWorker.controller !== null), "the service worker controls the page");
    const facts = await page.locator("#facts").innerText();
    assert(/From OPFS/.test(facts), `the page says where the index came from: ${facts}`);
    const id = packages.names.indexOf("numlockx");
    equal((await neighboursOf(id)).length, K, "neighbours after the reload");
    // Queries on the index opened lazily from OPFS (the first visit's was the import's).
    const embed = [];
    const search = [];
    for (let j = 0; j < 20; j++) {
      const { hits, embedMs, searchMs } = await ask(packages.descriptions[(j * 2477 + 5) % manifest.count]);
      equal(hits.length, K, "results by meaning");
      embed.push(embedMs);
      search.push(searchMs);
    }
    timings.lazyEmbedP50 = p50(embed);
    timings.lazySearchP50 = p50(search);
    return `${timings.reload} ms until the index and the model are ready (the page measured ${await state("openMs")} ms ` +
      `for the index, ${await state("modelMs")} ms for the model); 20 queries: embedding p50 ` +
      `${timings.lazyEmbedP50.toFixed(1)} ms, search p50 ${timings.lazySearchP50.toFixed(2)} ms`;
  });

  await test("a second tab: the file is in use, so it reads a copy into memory", async () => {
    const other = await context.newPage();
    try {
      await other.goto(server.url);
      await ready(other);
      await modelReady(other);
      const root = await other.evaluate(() => ({ ...document.documentElement.dataset }));
      equal([root.state, root.openMode, root.storage], ["ready", "opened", "memory"], "second tab");
      equal(server.requests.get(INDEX_PATH), 1, "downloads of the index file");
      const { hits } = await ask("numlockx", other);
      equal(hits.length, K, "results by meaning in the second tab");
      const id = packages.names.indexOf("numlockx");
      await other.locator(`#matches button.package[data-id="${id}"]`).click();
      await other.waitForFunction((want) => document.documentElement.dataset.neighboursOf === want, String(id));
      equal(await other.locator("#neighbours button.package").count(), K, "neighbours in the second tab");
    } finally {
      await other.close();
    }
  });

  await test("no errors in the console", async () => {
    equal(problems, [], "console errors and page errors");
  });

  await test("offline: with the server gone, a reload starts the page and searches by meaning", async () => {
    const url = server.url;
    await server.close();
    server = null;
    const t0 = Date.now();
    await page.goto(url);
    await ready();
    await modelReady();
    timings.offline = Date.now() - t0;
    equal(await state("openMode"), "opened", "open mode");
    const { hits } = await ask("software to edit photos");
    equal(hits.length, K, "results by meaning while offline");
    return `${timings.offline} ms until ready; top result ${packages.names[hits[0].id]}`;
  });
} finally {
  await context.close();
  await server?.close();
  rmSync(profile, { recursive: true, force: true });
}

const ms = (x) => (x === undefined ? "-" : `${Math.round(x)} ms`);
console.log(
  `first visit: ${timings.firstBytes === undefined ? "-" : (timings.firstBytes / 1e6).toFixed(1)} MB served, ` +
    `index ready ${ms(timings.firstIndex)}, model ready ${ms(timings.firstModel)}; reload ${ms(timings.reload)}; ` +
    `offline reload ${ms(timings.offline)}; query embedding p50 ${timings.embedP50?.toFixed(1) ?? "-"} ms; ` +
    `search p50 ${timings.searchP50?.toFixed(2) ?? "-"} ms; after the reload (index opened lazily from OPFS) ` +
    `embedding p50 ${timings.lazyEmbedP50?.toFixed(1) ?? "-"} ms, search p50 ${timings.lazySearchP50?.toFixed(2) ?? "-"} ms; ` +
    `screenshots in ${OUT}`,
);
if (failures) {
  console.log(`${failures} of ${count} demo tests FAILED`);
  process.exit(1);
}
console.log(`all ${count} demo tests passed`);
