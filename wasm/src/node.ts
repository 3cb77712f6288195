// kvlite for Node (tests, scripts): the same API, the engine in a
// worker_thread running the single-threaded build.
import { Worker } from "node:worker_threads";

import { EngineCore, type PlatformChoice } from "./engine.js";
import type { Reply } from "./protocol.js";
import type { EngineOptions } from "./types.js";

export * from "./types.js";
export { detectChatFamily, formatChat } from "./chat.js";
export type { ModelInput } from "./engine.js";

export class Engine extends EngineCore {
  /** Starts the worker thread and instantiates the WebAssembly build. */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const worker = new Worker(new URL("./worker-node.js", import.meta.url));
    // An idle engine should not keep a script alive; pending requests hold a ref.
    worker.unref();
    let inFlight = 0;
    const choice: PlatformChoice = {
      flavour: "st",
      threads: 1,
      simd: options.simd ?? "auto",
      shared: true,
      port: {
        post: (request, transfer) => {
          if (request.type !== "cancel" && inFlight++ === 0) worker.ref();
          worker.postMessage(request, (transfer ?? []) as ArrayBuffer[]);
        },
        onReply: (handler) =>
          worker.on("message", (reply: Reply) => {
            if ((reply.type === "done" || reply.type === "error") && --inFlight === 0) worker.unref();
            handler(reply);
          }),
        onCrash: (handler) => worker.on("error", (e: Error) => handler(e.message)),
        terminate: () => void worker.terminate(),
      },
    };
    const engine = new Engine(choice);
    try {
      await engine.init();
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    return engine;
  }
}
