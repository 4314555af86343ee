// The page only starts the dedicated worker and relays its messages: every
// measurement (vectrove memory / OPFS / IndexedDB and hnswlib-wasm) runs in
// that one worker, so all backends share the same thread and timer.

const logEl = document.getElementById('log');

function log(text) {
  logEl.textContent += text + '\n';
  // bench.mjs exposes benchLog to forward progress to the terminal.
  if (typeof window.benchLog === 'function') window.benchLog(text);
}

window.runBench = (config) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
    worker.onmessage = ({ data }) => {
      if (data.type === 'log') {
        log(data.text);
      } else if (data.type === 'done') {
        worker.terminate();
        resolve(data.result);
      } else if (data.type === 'error') {
        worker.terminate();
        reject(new Error(data.message));
      }
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`worker error: ${e.message ?? e}`));
    };
    worker.postMessage({ type: 'run', config });
  });

window.benchPageReady = true;
