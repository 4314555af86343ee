// A promise-based client for the encoder worker (see encoder-worker.ts and protocol.ts).

import type { EncoderReply as Reply, EncoderRequest as Request, Progress } from "./protocol";

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onProgress?: (p: Progress) => void;
}

export class EncoderClient {
  private worker: Worker;
  private seq = 0;
  private pending = new Map<number, Pending>();

  constructor() {
    this.worker = new Worker(new URL("./encoder-worker.ts", import.meta.url), { type: "module" });
    this.worker.onmessage = (event: MessageEvent<Reply>) => {
      const reply = event.data;
      const p = this.pending.get(reply.seq);
      if (!p) return;
      if ("progress" in reply) {
        p.onProgress?.(reply.progress);
        return;
      }
      this.pending.delete(reply.seq);
      if (reply.ok) {
        p.resolve(reply.value);
      } else {
        const error = new Error(reply.error.message);
        error.name = reply.error.name;
        p.reject(error);
      }
    };
    this.worker.onerror = (event) => {
      const error = new Error(event.message || "the worker failed to start");
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  call<T>(request: Request, options: { onProgress?: (p: Progress) => void; transfer?: Transferable[] } = {}): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, onProgress: options.onProgress });
      this.worker.postMessage({ seq, request }, options.transfer ?? []);
    });
  }
}
