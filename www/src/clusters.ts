// What the page makes of a k-means result: a name for each cluster from the words of its
// packages' descriptions, and a 2-D layout in which the clusters stand apart.

/** Words too common to name anything. */
const STOP = new Set(
  ("a an and are as at be by for from in into is it its of on or that the this to with " +
    "via your you can which using based other some all also not more than these those " +
    "files file package packages support data tool tools").split(" "),
);

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z][a-z0-9+#]*(?:[-.][a-z0-9+#]+)*/g) ?? [];
}

/**
 * The `count` most distinctive words of each cluster, by class-based TF-IDF: a word scores
 * its share of the cluster's words times log(1 + the average words per cluster / its count
 * over all clusters), so a word frequent here and rare elsewhere wins. A word counts once
 * per package, and it must appear in at least 1% of the cluster's packages.
 */
export function clusterNames(texts: string[], labels: Uint32Array, k: number, count = 3): string[][] {
  const perCluster: Array<Map<string, number>> = Array.from({ length: k }, () => new Map());
  const overall = new Map<string, number>();
  const sizes = new Array<number>(k).fill(0);
  const totals = new Array<number>(k).fill(0);
  for (let i = 0; i < texts.length; i++) {
    const c = labels[i];
    sizes[c]++;
    for (const w of new Set(words(texts[i]))) {
      if (STOP.has(w) || w.length < 2) continue;
      const m = perCluster[c];
      m.set(w, (m.get(w) ?? 0) + 1);
      overall.set(w, (overall.get(w) ?? 0) + 1);
      totals[c]++;
    }
  }
  const average = totals.reduce((a, b) => a + b, 0) / k;
  return perCluster.map((m, c) => {
    const floor = Math.max(2, 0.01 * sizes[c]);
    const scored: Array<[string, number]> = [];
    for (const [w, n] of m) {
      if (n < floor) continue;
      scored.push([w, (n / Math.max(1, totals[c])) * Math.log(1 + average / (overall.get(w) ?? 1))]);
    }
    scored.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    // One form of a word: "library" and "libraries" name the same thing.
    const stem = (w: string) => w.replace(/ies$/, "y").replace(/(?<=[^s])s$/, "");
    const chosen: string[] = [];
    const stems = new Set<string>();
    for (const [w] of scored) {
      if (chosen.length === count) break;
      if (stems.has(stem(w))) continue;
      stems.add(stem(w));
      chosen.push(w);
    }
    return chosen;
  });
}

export interface LayoutInput {
  k: number;
  labels: Uint32Array;
  /** Each cluster's centre on the plane (2 values each): its place relative to the others. */
  anchors: Float32Array;
  /** Each package's position inside its cluster (2 values each), in any unit. */
  local: Float32Array;
}

/**
 * The map's coordinates (x, y per package). Each cluster becomes a disc of area in
 * proportion to its size, centred near its anchor; discs that would overlap are pushed
 * apart (a few hundred rounds of pairwise separation, so the result is deterministic), so
 * every cluster is visible on its own. Inside a disc a package sits at its local position,
 * scaled so that 95% of the cluster falls within the disc (the rest at its rim).
 */
export function layout({ k, labels, anchors, local }: LayoutInput): Float32Array {
  const n = labels.length;
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) sizes[labels[i]]++;

  // Anchors scaled to a unit box; radii so that the discs cover about half of it.
  let span = 0;
  for (let c = 0; c < k; c++) span = Math.max(span, Math.abs(anchors[2 * c]), Math.abs(anchors[2 * c + 1]));
  const centre = Array.from({ length: k }, (_, c) => [anchors[2 * c] / (span || 1), anchors[2 * c + 1] / (span || 1)]);
  const radius = sizes.map((s) => Math.sqrt((0.5 * 4 * s) / (Math.PI * Math.max(1, n))));
  const gap = 0.04;
  for (let round = 0; round < 400; round++) {
    let moved = false;
    for (let a = 0; a < k; a++) {
      for (let b = a + 1; b < k; b++) {
        const dx = centre[b][0] - centre[a][0];
        const dy = centre[b][1] - centre[a][1];
        const d = Math.hypot(dx, dy);
        const want = radius[a] + radius[b] + gap;
        if (d >= want) continue;
        moved = true;
        // Apart along the line between them (a fixed direction when they coincide),
        // the smaller disc moving more.
        const [ux, uy] = d > 1e-9 ? [dx / d, dy / d] : [Math.cos(a + b), Math.sin(a + b)];
        const push = want - d;
        const wa = radius[b] / (radius[a] + radius[b]);
        centre[a][0] -= ux * push * wa;
        centre[a][1] -= uy * push * wa;
        centre[b][0] += ux * push * (1 - wa);
        centre[b][1] += uy * push * (1 - wa);
      }
    }
    if (!moved) break;
  }

  // Each cluster's 95th percentile of local distance from its own mean sets its scale.
  const mean = new Float64Array(2 * k);
  for (let i = 0; i < n; i++) {
    mean[2 * labels[i]] += local[2 * i];
    mean[2 * labels[i] + 1] += local[2 * i + 1];
  }
  for (let c = 0; c < k; c++) {
    mean[2 * c] /= Math.max(1, sizes[c]);
    mean[2 * c + 1] /= Math.max(1, sizes[c]);
  }
  const dists: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    dists[c].push(Math.hypot(local[2 * i] - mean[2 * c], local[2 * i + 1] - mean[2 * c + 1]));
  }
  const scale = dists.map((d, c) => {
    d.sort((x, y) => x - y);
    const p95 = d[Math.min(d.length - 1, Math.floor(0.95 * d.length))] ?? 0;
    return p95 > 0 ? radius[c] / p95 : 0;
  });
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    let x = (local[2 * i] - mean[2 * c]) * scale[c];
    let y = (local[2 * i + 1] - mean[2 * c + 1]) * scale[c];
    const r = Math.hypot(x, y);
    if (r > radius[c]) {
      x *= radius[c] / r;
      y *= radius[c] / r;
    }
    out[2 * i] = centre[c][0] + x;
    out[2 * i + 1] = centre[c][1] + y;
  }
  return out;
}
