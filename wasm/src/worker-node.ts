// The worker for Node (tests and scripts): the same engine in a worker_thread.
// Only the single-threaded build runs here; its glue is built for web and
// worker environments, so we hand it the .wasm bytes ourselves.
import { readFile } from "node:fs/promises";
import { parentPort } from "node:worker_threads";

import { serve, UnsupportedError, type WasmModule } from "./worker-core.js";
import type { Request } from "./protocol.js";

if (!parentPort) throw new Error("kvlite: worker-node.js must run in a worker thread");
const port = parentPort;

serve({
  async createModule(flavour, simd, host) {
    if (flavour !== "st") throw new Error("the threaded build runs only in browsers");
    // Node 20's V8 predates the final relaxed-SIMD opcodes.
    if (simd === "relaxed") throw new UnsupportedError("relaxed SIMD runs only in browsers here; use simd: \"simd128\"");
    const wasmBinary = await readFile(new URL("./kvlite-st.wasm", import.meta.url));
    const factory = (await import(new URL("./kvlite-st.js", import.meta.url).href)).default as (
      m: object,
    ) => Promise<WasmModule>;
    return factory({ kvliteHost: host, wasmBinary });
  },
  yieldToEventLoop: () => new Promise<void>((resolve) => setImmediate(resolve)),
  post: (reply) => port.postMessage(reply),
  onMessage: (handler) => port.on("message", (request: Request) => handler(request)),
});
