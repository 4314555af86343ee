// Messages between the page and the encoder worker (encoder-worker.ts). The index and the
// clustering run in the vectrove package's own workers (createIndexWorker).

/** What encoder/model.py writes beside the model's files. */
export interface ModelManifest {
  model: string;
  source: string;
  files: Record<"model.safetensors" | "config.json" | "tokenizer.json", { bytes: number; sha256: string }>;
}

export type EncoderRequest =
  | { op: "load"; base: string; manifest: ModelManifest }
  | { op: "embed"; texts: string[] };

export interface LoadResult {
  /** True when every file came from Cache Storage (nothing downloaded). */
  cached: boolean;
  bytes: number;
  /** Time to have the files (cache or network). */
  fetchMs: number;
  /** Time until the model was ready, files included. */
  ms: number;
}

export interface EmbedResult {
  /** texts.length × 384 values, unit length. */
  vectors: Float32Array;
  ms: number;
}

export interface Progress {
  done: number;
  total: number | null;
}

export type EncoderReply =
  | { seq: number; ok: true; value: unknown }
  | { seq: number; ok: false; error: { name: string; message: string } }
  | { seq: number; progress: Progress };
