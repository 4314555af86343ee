// Messages between the page and its workers. One worker module plays two roles: the
// search worker holds the OPFS index, the cluster worker runs k-means and PCA on a copy
// of the vectors, so searching stays responsive while clusters are computed.

import type { SearchHit } from "vectrove";

export interface OpenRequest {
  op: "open";
  /** Name of the index in OPFS: the file's content hash is part of it. */
  name: string;
  /** Where the index file is served, fetched only when `name` is not stored yet. */
  url: string;
  /** An earlier index of the demo to delete from OPFS, if any. */
  previous: string | null;
  cacheBytes: number;
}

export interface OpenResult {
  /** True when the file was downloaded and imported, false when OPFS already had it. */
  imported: boolean;
  ms: number;
  length: number;
  dim: number;
  metric: string;
  storage: string;
}

export interface NeighboursRequest {
  op: "neighbours";
  id: number;
  k: number;
  ef: number;
}

export interface NeighboursResult {
  hits: SearchHit[];
  /** Time of the search alone, in the worker. */
  ms: number;
  cache: CacheInfo;
}

export interface CacheInfo {
  bytes: number;
  budget: number;
  hits: number;
  misses: number;
}

export interface StorageInfo {
  /** Bytes the origin stores (navigator.storage.estimate), when the browser says. */
  usage: number | null;
  quota: number | null;
}

export interface ClusterRequest {
  op: "cluster";
  k: number;
  seed: number;
  iters: number;
}

export interface ClusterResult {
  k: number;
  /** Cluster of each package. */
  labels: Uint32Array;
  /** PCA coordinates, x and y of each package in turn. */
  coords: Float32Array;
  sizes: number[];
  /** Per cluster, the packages nearest its centroid, nearest first. */
  samples: number[][];
  iterations: number;
  kmeansMs: number;
  pcaMs: number;
  /** Share of the total variance along each of the two axes. */
  explained: number[];
}

export type Request =
  | OpenRequest
  | NeighboursRequest
  | { op: "storage" }
  | { op: "vectors" }
  | { op: "load"; data: Float32Array; dim: number }
  | ClusterRequest;

export interface Progress {
  /** Import: bytes stored and the total; k-means: iterations done and the most. */
  done: number;
  total: number | null;
}

export type Reply =
  | { seq: number; ok: true; value: unknown }
  | { seq: number; ok: false; error: { name: string; message: string } }
  | { seq: number; progress: Progress };
