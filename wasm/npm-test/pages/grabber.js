// A plain worker (not the package) that takes a file of the vectrove OPFS directory the
// moment it can: it tries to open a sync access handle on it over and over (each try
// fails while someone else holds the file) and keeps it once it has it, until told to let
// go. Used to make a save's move, or the reopening after it, fail for real.
let handle = null;
let stop = false;

self.onmessage = async ({ data }) => {
  if (data.op === "grab") {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle("vectrove");
    const file = await dir.getFileHandle(data.file);
    stop = false;
    let tries = 0;
    while (!stop) {
      tries++;
      try {
        handle = await file.createSyncAccessHandle();
        postMessage({ grabbed: true, tries });
        return;
      } catch {
        // Held by someone else: try again.
      }
    }
    postMessage({ grabbed: false, tries });
  } else if (data.op === "release") {
    stop = true;
    handle?.close();
    handle = null;
    postMessage({ released: true });
  }
};
