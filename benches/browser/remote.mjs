#!/usr/bin/env node
// Benchmark of indexes read in place over HTTP in headless Chromium: open time, query latency
// from a cold cache and once cached, round trips, requests and bytes per query, recall@10,
// against a loopback server that honours Range and adds a fixed latency to every request.
//
//   node benches/browser/remote.mjs [flags]
//
// Flags (all optional):
//   --dir DIR        folder holding the index files and data/ (default target/remote-bench, as
//                    scripts/remotebench.sh writes it)
//   --files LIST     index files in DIR to measure (default ivf-sq8.vtrv,hnsw-sq8.vtrv)
//   --latency MS     added to every request by the server (default 30)
//   --queries N      queries for the cached pass (default 1000)
//   --cold N         queries measured from a cold cache, each on a freshly opened index (default 50)
//   --nprobe LIST    IVF lists probed (default 2,4)
//   --ef LIST        HNSW beam widths (default 32,64)
//   --cache-mb N     cacheBytes of the opened index (default 256)
//   --json FILE      also write the figures to FILE
//   --no-warm        skip the later visit: by default the cold queries run once more in a
//                    worker opened with persist: true after a first visit kept their bytes in OPFS
//   --native BIN     also run `BIN bench` (the native CLI) on the same URLs, once with
//                    --no-warmup (the first queries meet an empty cache; later ones share what
//                    earlier ones fetched) and once after a warm-up pass (cached)
//
// Data: DIR/data/queries.fvecs and DIR/data/groundtruth.ivecs (the 1M x 128 set of
// `vectrove generate --n 1000000 --dim 128 --seed 7`). The package is wasm/pkg (built by
// scripts/build-npm.sh when missing). Runs on the main thread of one page.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../wasm/npm-test/server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const PKG = join(ROOT, 'wasm', 'pkg');
const CHROMIUM = '/usr/bin/chromium';

function parseArgs(argv) {
  const o = {
    dir: join(ROOT, 'target', 'remote-bench'),
    files: ['ivf-sq8.vtrv', 'hnsw-sq8.vtrv'],
    latency: 30,
    queries: 1000,
    cold: 50,
    nprobe: [2, 4],
    ef: [32, 64],
    cacheMb: 256,
    json: null,
    native: null,
    warm: true,
  };
  const list = (s) => s.split(',').filter(Boolean);
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--dir') o.dir = resolve(v());
    else if (a === '--files') o.files = list(v());
    else if (a === '--latency') o.latency = Number(v());
    else if (a === '--queries') o.queries = Number(v());
    else if (a === '--cold') o.cold = Number(v());
    else if (a === '--nprobe') o.nprobe = list(v()).map(Number);
    else if (a === '--ef') o.ef = list(v()).map(Number);
    else if (a === '--cache-mb') o.cacheMb = Number(v());
    else if (a === '--json') o.json = resolve(v());
    else if (a === '--native') o.native = resolve(v());
    else if (a === '--no-warm') o.warm = false;
    else if (a === '--help') {
      console.log(
        'usage: node benches/browser/remote.mjs [--dir D] [--files a,b] [--latency MS] [--queries N] [--cold N] [--nprobe L] [--ef L] [--cache-mb N] [--json F] [--no-warm]',
      );
      process.exit(0);
    } else throw new Error(`unknown flag ${a}`);
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv);
  for (const f of o.files) {
    if (!existsSync(join(o.dir, f))) throw new Error(`${join(o.dir, f)} is missing (see scripts/remotebench.sh)`);
  }
  if (!existsSync(join(PKG, 'dist', 'vectrove_wasm_bg.wasm'))) {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'build-npm.sh'), '--if-stale'], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('building the npm package failed');
  }
  const { chromium } = await import('playwright-core');
  const server = await startServer({ '/pkg/': PKG, '/data/': join(o.dir, 'data'), '/': HERE }, 0, o.dir);
  const control = async (q) => (await fetch(`${server.origin}/range-control?${q}`)).json();
  // The server reads each file into memory on its first request: do that before timing.
  for (const f of o.files) await (await fetch(`${server.origin}/range/${f}`, { headers: { Range: 'bytes=0-0' } })).arrayBuffer();
  await control(`reset=1&latency=${o.latency}`);
  console.log(`server ${server.origin}, ${o.latency} ms added to every range request`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const results = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`  [page] ${m.text()}`));
    page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
    await page.goto(`${server.origin}/remote.html`);
    await page.waitForFunction(() => window.remoteBenchReady === true);
    for (const file of o.files) {
      const ivf = file.startsWith('ivf');
      const cfg = {
        url: `${server.origin}/range/${file}`,
        queriesUrl: '/data/queries.fvecs',
        groundtruthUrl: '/data/groundtruth.ivecs',
        nq: o.queries,
        cold: o.cold,
        k: 10,
        cacheBytes: o.cacheMb << 20,
        knob: ivf ? 'nprobe' : 'ef',
        values: ivf ? o.nprobe : o.ef,
        warm: o.warm,
      };
      console.log(`\n${file}: ${cfg.knob} ${cfg.values.join(',')}`);
      const r = await page.evaluate((c) => window.runRemoteBench(c), cfg);
      const served = await control('');
      r.file = file;
      r.served = served[`/range/${file}`] ?? null;
      results.push(r);
      printTable(r, o.latency);
    }
    if (o.native) {
      for (const file of o.files) {
        const ivf = file.startsWith('ivf');
        const knob = ivf ? ['--nprobe', o.nprobe.join(',')] : ['--ef', o.ef.join(',')];
        for (const warm of [false, true]) {
          const args = ['bench', '--index', `${server.origin}/range/${file}`,
            '--queries', join(o.dir, 'data', 'queries.fvecs'), '--groundtruth', join(o.dir, 'data', 'groundtruth.ivecs'),
            '--k', '10', '--cache-mb', String(o.cacheMb), '--limit', String(warm ? o.queries : o.cold), ...knob];
          if (!warm) args.push('--no-warmup');
          console.log(`
native: ${file}, ${warm ? 'after a warm-up pass' : 'no warm-up'}`);
          // Not spawnSync: the server answering it runs in this process.
          const status = await new Promise((done) => {
            const child = spawn(o.native, args, { stdio: ['ignore', 'inherit', 'inherit'] });
            child.on('close', done);
          });
          if (status !== 0) console.log(`native bench exited with ${status}`);
        }
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ latency: o.latency, results }, null, 2));
    console.log(`\nwrote ${o.json}`);
  }
}

function printTable(r, latency) {
  console.log(
    `open: ${r.open.map((x) => x.toFixed(0)).join(', ')} ms (${r.openRequests} requests, ${(r.openBytes / 1e6).toFixed(1)} MB)`,
  );
  console.log(
    `| ${r.knob} | recall@10 | cold p50 ms | cold p95 ms | rounds/query | requests/query | KB/query | cached p50 ms | cached p95 ms |`,
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const x of r.rows) {
    console.log(
      `| ${x.value} | ${x.recall.toFixed(4)} | ${x.coldP50.toFixed(1)} | ${x.coldP95.toFixed(1)} | ${x.rounds.toFixed(2)} | ${x.requests.toFixed(1)} | ${(x.bytes / 1024).toFixed(0)} | ${x.cachedP50.toFixed(2)} | ${x.cachedP95.toFixed(2)} |`,
    );
  }
  console.log(`(latency added per request: ${latency} ms; a round of at most six requests costs one latency)`);
  const w = r.warm;
  if (w) {
    console.log(
      `later visit (persist: true, worker; ${r.knob} ${w.value}, the cold queries again): open ${w.laterOpen.toFixed(0)} ms ` +
        `(${w.openRequests} request, ${(w.openDiskBytes / 1e6).toFixed(1)} MB from OPFS; first visit ${w.firstOpen.toFixed(0)} ms, its queries p50 ${w.firstP50.toFixed(1)} / p95 ${w.firstP95.toFixed(1)} ms with the copy written), p50 ${w.p50.toFixed(2)} / p95 ${w.p95.toFixed(2)} ms, ` +
        `${w.requests.toFixed(2)} requests and ${(w.diskBytes / 1024).toFixed(0)} KB from OPFS a query`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
