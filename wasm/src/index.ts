// kvlite for browsers: `const engine = await Engine.create()`, then load,
// generate, chat, stats, reset, unload. The engine runs in a module Worker;
// the threaded build is used when the page is cross-origin isolated.
import { EngineCore, type PlatformChoice } from "./engine.js";
import type { Reply } from "./protocol.js";
import type { EngineOptions } from "./types.js";

export * from "./types.js";
export { detectChatFamily, formatChat } from "./chat.js";
export type { ModelInput } from "./engine.js";

export class Engine extends EngineCore {
  /** Starts the worker and instantiates the WebAssembly build. */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const isolated = globalThis.crossOriginIsolated === true;
    const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
    const threads = options.threads ?? (isolated ? Math.min(4, cores) : 1);
    // The threaded build needs SharedArrayBuffer, which only isolated pages have.
    const flavour = isolated && (options.flavour === "mt" || (options.flavour === undefined && threads > 1)) ? "mt" : "st";
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "kvlite" });
    const choice: PlatformChoice = {
      flavour,
      threads: flavour === "mt" ? Math.max(1, threads) : 1,
      simd: options.simd ?? "auto",
      shared: isolated,
      port: {
        post: (request, transfer) => worker.postMessage(request, transfer ?? []),
        onReply: (handler) => worker.addEventListener("message", (e: MessageEvent<Reply>) => handler(e.data)),
        onCrash: (handler) => worker.addEventListener("error", (e) => handler(e.message || "worker error")),
        terminate: () => worker.terminate(),
      },
    };
    const engine = new Engine(choice);
    try {
      await engine.init();
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return engine;
  }
}
