// The browser worker: instantiates the chosen build and serves the Engine.
// The URLs are written as `new URL("./file", import.meta.url)` literals so
// bundlers (Vite, webpack) see and ship the glue, the .wasm and the pthread
// worker next to this file. The glue is imported at run time, not bundled:
// the threaded build's workers import the glue by its own URL.
import { serve, UnsupportedError, type WasmModule } from "./worker-core.js";
import type { Reply, Request } from "./protocol.js";

const files = {
  st: { glue: new URL("./kvlite-st.js", import.meta.url), wasm: new URL("./kvlite-st.wasm", import.meta.url) },
  mt: { glue: new URL("./kvlite-mt.js", import.meta.url), wasm: new URL("./kvlite-mt.wasm", import.meta.url) },
  "st-relaxed": {
    glue: new URL("./kvlite-st-relaxed.js", import.meta.url),
    wasm: new URL("./kvlite-st-relaxed.wasm", import.meta.url),
  },
  "mt-relaxed": {
    glue: new URL("./kvlite-mt-relaxed.js", import.meta.url),
    wasm: new URL("./kvlite-mt-relaxed.wasm", import.meta.url),
  },
};

// The smallest module using relaxed SIMD: one function returning
// i32x4.relaxed_dot_i8x16_i7x16_add_s of three zero vectors. A browser that
// validates it runs the -relaxed builds.
function v128Zero(): number[] {
  return [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
}
const relaxedProbe = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,  // type: () -> v128
  0x03, 0x02, 0x01, 0x00,  // one function of that type
  0x0a, 0x3d, 0x01, 0x3b, 0x00,  // code: one body of 59 bytes, no locals
  ...v128Zero(), ...v128Zero(), ...v128Zero(),
  0xfd, 0x93, 0x02,  // i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113)
  0x0b,
]);
export const relaxedSimdSupported = (): boolean => WebAssembly.validate(relaxedProbe);
const pthreadWorker = new URL("./kvlite-mt.worker.js", import.meta.url);

// Bundlers may inline the small pthread script as a data: URL (Vite does under
// 4 KB), but a worker from a data: URL has an opaque origin and cannot import
// the glue or share memory. A blob: URL keeps this worker's origin.
let pthreadScript: string | null = null;
function sameOriginUrl(url: URL): string {
  if (url.protocol !== "data:") return url.href;
  if (pthreadScript) return pthreadScript;
  const comma = url.href.indexOf(",");
  const meta = url.href.slice(5, comma);
  const body = url.href.slice(comma + 1);
  const text = meta.endsWith(";base64") ? atob(body) : decodeURIComponent(body);
  pthreadScript = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
  return pthreadScript;
}

const scope = self as unknown as {
  postMessage(message: Reply): void;
  addEventListener(type: "message", listener: (event: MessageEvent<Request>) => void): void;
};

// A MessageChannel round trip is a task without setTimeout's 4 ms clamp.
const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();

serve({
  async createModule(flavour, simd, host, threads) {
    const relaxed = simd === "relaxed" || (simd === "auto" && relaxedSimdSupported());
    if (relaxed && !relaxedSimdSupported()) throw new UnsupportedError("this browser does not run relaxed SIMD");
    const f = files[relaxed ? (`${flavour}-relaxed` as const) : flavour];
    const factory = (await import(/* @vite-ignore */ f.glue.href)).default as (m: object) => Promise<WasmModule>;
    return factory({
      kvliteHost: host,
      // The threaded build's pthread workers, started before the module is
      // ready: the engine's threads but the calling one, plus one spare, as a
      // reconfigured session starts its threads before the old ones' workers
      // are handed back (that waits for this worker's event loop). Each idle
      // worker holds a few MiB.
      kvlitePoolSize: threads,
      mainScriptUrlOrBlob: f.glue.href,
      locateFile: (path: string) =>
        path.endsWith(".wasm") ? f.wasm.href : path.endsWith(".worker.js") ? sameOriginUrl(pthreadWorker) : path,
    });
  },
  yieldToEventLoop: () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      channel.port2.postMessage(0);
    }),
  post: (reply) => scope.postMessage(reply),
  onMessage: (handler) => scope.addEventListener("message", (event) => handler(event.data)),
});
