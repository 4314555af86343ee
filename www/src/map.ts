// The 2-D map of the clusters: every package at its PCA coordinates, coloured by its
// k-means cluster, drawn on a canvas. Hovering shows the nearest package.

export function clusterColour(c: number): string {
  // Hues a golden angle apart stay distinct for the first few dozen clusters.
  const hue = (c * 137.508 + 210) % 360;
  const light = c % 2 === 0 ? 44 : 56;
  return `hsl(${hue.toFixed(1)} 70% ${light}%)`;
}

export interface MapData {
  coords: Float32Array;
  labels: Uint32Array;
}

export class ClusterMap {
  private data: MapData | null = null;
  private highlighted: number | null = null;
  private hovered: number | null = null;
  private screen = new Float32Array(0);
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly onHover: (id: number | null, x: number, y: number) => void,
    onPick: (id: number) => void,
  ) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no 2-D canvas");
    this.ctx = ctx;
    new ResizeObserver(() => this.draw()).observe(canvas);
    canvas.addEventListener("pointermove", (e) => {
      const id = this.nearest(e.offsetX, e.offsetY);
      if (id !== this.hovered) {
        this.hovered = id;
        this.draw();
      }
      this.onHover(id, e.offsetX, e.offsetY);
    });
    canvas.addEventListener("pointerleave", () => {
      this.hovered = null;
      this.draw();
      this.onHover(null, 0, 0);
    });
    canvas.addEventListener("click", (e) => {
      const id = this.nearest(e.offsetX, e.offsetY);
      if (id !== null) onPick(id);
    });
  }

  set(data: MapData): void {
    this.data = data;
    this.hovered = null;
    this.draw();
  }

  /** Draws one cluster in front and the others faded; null shows them all alike. */
  highlight(cluster: number | null): void {
    this.highlighted = cluster;
    this.draw();
  }

  /** Where package `id` is drawn, in CSS pixels of the canvas. */
  position(id: number): { x: number; y: number } {
    return { x: this.screen[2 * id], y: this.screen[2 * id + 1] };
  }

  private nearest(x: number, y: number): number | null {
    if (!this.data) return null;
    let best: number | null = null;
    let bestD = 10 * 10; // within 10 CSS pixels
    const n = this.data.labels.length;
    for (let i = 0; i < n; i++) {
      const dx = this.screen[2 * i] - x;
      const dy = this.screen[2 * i + 1] - y;
      const d = dx * dx + dy * dy;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  private draw(): void {
    const { canvas, ctx } = this;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!this.data || width === 0) return;
    const { coords, labels } = this.data;
    const n = labels.length;

    // Fit the points in the canvas with a margin, keeping the axes' proportions.
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, coords[2 * i]);
      maxX = Math.max(maxX, coords[2 * i]);
      minY = Math.min(minY, coords[2 * i + 1]);
      maxY = Math.max(maxY, coords[2 * i + 1]);
    }
    const margin = 12;
    const scale = Math.min((width - 2 * margin) / (maxX - minX || 1), (height - 2 * margin) / (maxY - minY || 1));
    const offX = (width - scale * (maxX - minX)) / 2;
    const offY = (height - scale * (maxY - minY)) / 2;
    if (this.screen.length !== 2 * n) this.screen = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      this.screen[2 * i] = offX + (coords[2 * i] - minX) * scale;
      this.screen[2 * i + 1] = height - (offY + (coords[2 * i + 1] - minY) * scale);
    }

    const r = width < 500 ? 1.6 : 2.2;
    let k = 0;
    for (let i = 0; i < n; i++) k = Math.max(k, labels[i] + 1);
    const drawCluster = (only: number | null, alpha: number) => {
      ctx.globalAlpha = alpha;
      for (let c = 0; c < k; c++) {
        if (only !== null && c !== only) continue;
        ctx.fillStyle = clusterColour(c);
        for (let i = 0; i < n; i++) {
          if (labels[i] === c) ctx.fillRect(this.screen[2 * i] - r, this.screen[2 * i + 1] - r, 2 * r, 2 * r);
        }
      }
    };
    if (this.highlighted === null) {
      drawCluster(null, 0.75);
    } else {
      drawCluster(null, 0.12);
      drawCluster(this.highlighted, 1);
    }
    ctx.globalAlpha = 1;
    // Each cluster's number at the middle of its points on the map.
    const sum = new Float64Array(3 * k);
    for (let i = 0; i < n; i++) {
      sum[3 * labels[i]] += this.screen[2 * i];
      sum[3 * labels[i] + 1] += this.screen[2 * i + 1];
      sum[3 * labels[i] + 2] += 1;
    }
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (let c = 0; c < k; c++) {
      if (sum[3 * c + 2] === 0 || (this.highlighted !== null && c !== this.highlighted)) continue;
      const x = sum[3 * c] / sum[3 * c + 2];
      const y = sum[3 * c + 1] / sum[3 * c + 2];
      ctx.beginPath();
      ctx.arc(x, y, 10, 0, 2 * Math.PI);
      ctx.fillStyle = clusterColour(c);
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      ctx.fillStyle = "#fff";
      ctx.fillText(String(c + 1), x, y + 0.5);
    }
    if (this.hovered !== null) {
      ctx.beginPath();
      ctx.arc(this.screen[2 * this.hovered], this.screen[2 * this.hovered + 1], 6, 0, 2 * Math.PI);
      ctx.lineWidth = 2;
      ctx.strokeStyle = getComputedStyle(canvas).color;
      ctx.stroke();
    }
  }
}
