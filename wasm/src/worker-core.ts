// The worker's side: owns the wasm engine, answers the Engine's requests one
// at a time, and streams tokens. Platform differences (how the module is
// instantiated, how to yield, whether synchronous file reads exist) come in
// through `Platform`, so the browser worker and the Node test worker share
// every line of protocol and engine handling.
import { detectChatFamily } from "./chat.js";
import { CANCEL_SLOT, PIECES_AHEAD, type ModelSource, type Reply, type Request, type SamplingOptions } from "./protocol.js";
import type { EngineStats, Flavour, KvOptions, ModelInfo, Simd } from "./types.js";

/** The Emscripten module built from wasm/bindings.cpp. */
export interface WasmModule {
  Engine: new () => WasmEngine;
  heapInUse(): number;
}

interface WasmEngine {
  load(source: number, size: number, name: string, maxWeightBytes: number): string;
  unload(): void;
  loaded(): boolean;
  configure(
    nCtx: number, threads: number, kType: string, vType: string, window: number, sinks: number,
    eviction: string, budget: number, pyramid: string, sliding: boolean, attentionStats: boolean, maxKvBytes: number,
  ): string;
  start(
    prompt: string, maxTokens: number, temperature: number, topK: number, topP: number, minP: number,
    repeatPenalty: number, repeatLastN: number, seed: number,
  ): string;
  step(): string;
  reset(): void;
  tokenize(text: string): string;
  info(): string;
  stats(): string;
}

/** What bindings.cpp calls back into (Module.kvliteHost). */
export interface Host {
  read(source: number, offset: number, heap: Uint8Array, dst: number, n: number): string;
  progress(done: number, total: number): boolean;
}

export interface Platform {
  /** Instantiates a build; throws UnsupportedError where `simd` cannot run. */
  // `threads`: the engine's thread count (the threaded build's worker pool is sized from it).
  createModule(flavour: Flavour, simd: Simd | "auto", host: Host, threads: number): Promise<WasmModule>;
  yieldToEventLoop(): Promise<void>;
  post(reply: Reply): void;
  onMessage(handler: (request: Request) => void): void;
}

/** Reads byte ranges of a model synchronously (the core's loader pulls). */
interface Reader {
  size: number;
  readInto(offset: number, heap: Uint8Array, dst: number, n: number): void;
  /** Releases what the reader holds (a helper worker). */
  close?(): void;
}

// wasm32 with -sMAXIMUM_MEMORY=4GB; what the loader may still claim is this
// minus what malloc holds, minus room for the stack, static data and scratch.
const MAX_HEAP = 4 * 1024 ** 3;
const HEAP_RESERVE = 64 * 1024 ** 2;
// Largest slice held in JS at once while copying a File or URL into wasm memory.
const CHUNK = 64 * 1024 ** 2;

class WorkerError extends Error {
  constructor(message: string, readonly code: string, readonly bytesNeeded?: number) {
    super(message);
  }
}

/** A build the caller asked for that cannot run here (a "bad-argument" error). */
export class UnsupportedError extends WorkerError {
  constructor(message: string) {
    super(message, "bad-argument");
  }
}

function bufferReader(buffer: ArrayBuffer): Reader {
  const bytes = new Uint8Array(buffer);
  return {
    size: bytes.byteLength,
    readInto(offset, heap, dst, n) {
      heap.set(bytes.subarray(offset, offset + n), dst);
    },
  };
}

// Each chunk read arrives in a fresh ArrayBuffer. Its JS object is small and
// young, and the load runs synchronously with no idle time for the GC, so
// dead chunks pile up (measured: 400-800 MB above the model on a 1.3 GB load)
// until a major GC. Allocating a few MB of short-lived objects after each
// chunk makes V8 run a scavenge, which frees the dead chunks' memory soon
// after. One slot, so nothing of it survives a scavenge: survivors make V8
// grow its young generation, which then stays grown to the end of the load
// (measured: 25 MiB more renderer memory with 1024 live slots).
const churnSlot: unknown[] = [null];
function releaseDeadChunks(): void {
  for (let i = 0; i < 20_000; i++) churnSlot[0] = [i, i, i, i];
}

// Chunks not yet collected. V8 returns a dead chunk's memory only after a
// collection, which the synchronous load does not bring about on its own: the
// last ones (50-60 MiB, measured) were still held while the KV cache was
// allocated and zeroed right after the weights, on top of everything. So
// between the two the load allocates a large ArrayBuffer and drops it without
// writing to it (external memory, which makes V8 collect; no pages are
// touched), waits until a FinalizationRegistry reports the chunks collected,
// then yields a little longer, in which V8 hands their memory back (measured:
// freed within those 100 ms; without them, only after the cache was zeroed).
let chunksAlive = 0;
const chunkRegistry =
  typeof FinalizationRegistry === "function" ? new FinalizationRegistry<null>(() => void chunksAlive--) : null;
function deadChunk(chunk: ArrayBuffer): void {
  if (chunkRegistry) {
    chunksAlive++;
    chunkRegistry.register(chunk, null);
  }
  releaseDeadChunks();
}
const COLLECT_WAIT_MS = 1000;
const RELEASE_WAIT_MS = 100;
async function collectDeadChunks(): Promise<void> {
  if (chunksAlive === 0) return;
  void new ArrayBuffer(4 * CHUNK);
  const sleep = () => new Promise((resolve) => setTimeout(resolve, 5));
  for (const deadline = Date.now() + COLLECT_WAIT_MS; chunksAlive > 0 && Date.now() < deadline; ) {
    releaseDeadChunks();
    await sleep();
  }
  for (const until = Date.now() + RELEASE_WAIT_MS; Date.now() < until; ) await sleep();
}

// FileReaderSync exists only in workers: slices are read synchronously, one
// chunk at a time, straight into the tensor's allocation.
function blobReader(blob: Blob): Reader {
  const reader = new FileReaderSync();
  return {
    size: blob.size,
    readInto(offset, heap, dst, n) {
      for (let done = 0; done < n; ) {
        const len = Math.min(CHUNK, n - done);
        const chunk = reader.readAsArrayBuffer(blob.slice(offset + done, offset + done + len));
        if (chunk.byteLength !== len) throw new Error(`short read: ${chunk.byteLength} of ${len} bytes`);
        heap.set(new Uint8Array(chunk), dst + done);
        done += len;
        deadChunk(chunk);
      }
    },
  };
}

// Threaded build: a File's large ranges are read by two readers at once, this
// worker and a helper worker that FileReaderSync-reads the second half of the
// range straight into the shared wasm memory while this one reads the first;
// this worker then Atomics.waits for it. The helper always answers (its
// errors included), so the wait ends; a range it could not read is read here.
const PARALLEL_MIN = 8 * 1024 ** 2;
// A helper that has not answered in this long is taken for dead (stopped by
// the browser, out of memory): it is stopped and the load fails, rather than
// waiting forever on it.
const HELPER_TIMEOUT_MS = 60_000;
// Control words: [0] the last request the helper finished, [1] 0 if it read
// its half, 1 if not.
const HELPER_SOURCE = `
let blob, reader, ctl, heap;
const slot = [null];
onmessage = ({ data: m }) => {
  if (m.blob) {
    blob = m.blob; reader = new FileReaderSync(); ctl = new Int32Array(m.ctl);
    postMessage("ready");
    return;
  }
  if (m.heap) heap = new Uint8Array(m.heap);
  let failed = 0;
  try {
    for (let done = 0; done < m.n; ) {
      const len = Math.min(m.chunk, m.n - done);
      const bytes = reader.readAsArrayBuffer(blob.slice(m.offset + done, m.offset + done + len));
      if (bytes.byteLength !== len) throw new Error("short read");
      heap.set(new Uint8Array(bytes), m.dst + done);
      done += len;
      for (let i = 0; i < 20000; i++) slot[0] = [i, i, i, i];  // see releaseDeadChunks
    }
  } catch {
    failed = 1;
  }
  Atomics.store(ctl, 1, failed);
  Atomics.store(ctl, 0, m.seq);
  Atomics.notify(ctl, 0);
};`;

interface Helper {
  readHalf(offset: number, heap: Uint8Array, dst: number, n: number): () => boolean;
  close(): void;
}

// Starts the helper and waits (briefly) for it to be up; null where it cannot
// run (no shared memory, no nested workers, or it did not start).
async function startHelper(blob: Blob): Promise<Helper | null> {
  if (typeof Worker === "undefined" || typeof SharedArrayBuffer === "undefined" || !globalThis.crossOriginIsolated) {
    return null;
  }
  const url = URL.createObjectURL(new Blob([HELPER_SOURCE], { type: "text/javascript" }));
  let worker: Worker;
  try {
    worker = new Worker(url);
  } catch {
    URL.revokeObjectURL(url);
    return null;
  }
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5000);
    worker.onmessage = () => (clearTimeout(timer), resolve(true));
    worker.onerror = () => (clearTimeout(timer), resolve(false));
    worker.postMessage({ blob, ctl: ctl.buffer });
  });
  URL.revokeObjectURL(url);
  if (!ready) {
    worker.terminate();
    return null;
  }
  let seq = 0;
  let sentHeap: ArrayBufferLike | null = null;
  return {
    // Posts the request and returns the wait for it (true: the helper read it).
    readHalf(offset, heap, dst, n) {
      const id = ++seq;
      const grown = heap.buffer !== sentHeap;
      sentHeap = heap.buffer;
      worker.postMessage({ seq: id, offset, dst, n, chunk: CHUNK, heap: grown ? heap.buffer : undefined });
      return () => {
        const deadline = Date.now() + HELPER_TIMEOUT_MS;
        for (let seen = Atomics.load(ctl, 0); seen !== id; seen = Atomics.load(ctl, 0)) {
          const left = deadline - Date.now();
          if (left <= 0) {
            worker.terminate();
            throw new Error(`reading the model: the helper reader did not answer within ${HELPER_TIMEOUT_MS / 1000} s`);
          }
          Atomics.wait(ctl, 0, seen, left);
        }
        return Atomics.load(ctl, 1) === 0;
      };
    },
    close: () => worker.terminate(),
  };
}

function parallelBlobReader(blob: Blob, helper: Helper): Reader & { close(): void } {
  const own = blobReader(blob);
  return {
    size: blob.size,
    readInto(offset, heap, dst, n) {
      if (n < PARALLEL_MIN || !(heap.buffer instanceof SharedArrayBuffer)) return own.readInto(offset, heap, dst, n);
      const half = Math.floor(n / 2);
      const wait = helper.readHalf(offset + half, heap, dst + half, n - half);
      let error: unknown = null;
      try {
        own.readInto(offset, heap, dst, half);
      } catch (e) {
        error = e;
      }
      // Always wait: the helper must be done with the memory before it is used.
      const helped = wait();
      if (error) throw error;
      if (!helped) own.readInto(offset + half, heap, dst + half, n - half);
    },
    close: () => helper.close(),
  };
}

// A server that answers Range requests lets the loader pull each tensor with
// a synchronous XHR (allowed in workers), so nothing but one chunk is in JS.
function rangeReader(url: string, size: number): Reader {
  return {
    size,
    readInto(offset, heap, dst, n) {
      for (let done = 0; done < n; ) {
        const len = Math.min(CHUNK, n - done);
        const xhr = new XMLHttpRequest();
        xhr.open("GET", url, false);
        xhr.responseType = "arraybuffer";
        xhr.setRequestHeader("Range", `bytes=${offset + done}-${offset + done + len - 1}`);
        xhr.send();
        const body = xhr.response as ArrayBuffer | null;
        if (xhr.status !== 206 || !body || body.byteLength !== len) {
          throw new Error(`range request for ${len} bytes at ${offset + done} answered ${xhr.status}`);
        }
        heap.set(new Uint8Array(body), dst + done);
        done += len;
        deadChunk(body);
      }
    },
  };
}

function classifyLoadError(message: string): WorkerError {
  const tooLarge = /(?:model needs|needs up to) (\d+) bytes/.exec(message);
  if (tooLarge) return new WorkerError(message, "too-large", Number(tooLarge[1]));
  if (/cancelled/.test(message)) return new WorkerError(message, "aborted");
  return new WorkerError(message, "bad-model");
}

const DEFAULT_KV: Required<KvOptions> = {
  kType: "f32", vType: "f32", window: 128, sinks: 4, eviction: "none", budget: 0, pyramid: "none",
  sliding: false, attentionStats: false,
};

export function serve(platform: Platform): void {
  let module: WasmModule | null = null;
  let engine: WasmEngine | null = null;
  let flavour: Flavour = "st";
  let threads = 1;
  let cancelFlag: Int32Array | null = null;
  let contextLength = 0;
  let kv: Required<KvOptions> = DEFAULT_KV;
  let info: ModelInfo | null = null;
  let lastCancelled = false;

  const readers = new Map<number, Reader>();
  const cancelled = new Set<number>();
  // Flow control of the running generation: pieces the consumer took, and a
  // waiter woken by the next credit or cancel message.
  let taken = 0;
  let wakeGenerator: (() => void) | null = null;
  let nextReader = 1;
  let progressRequest = 0;  // the load running now (its cancel is checked per tensor)
  let progressWanted = false;
  let lastProgress = 0;

  const isCancelled = (id: number) =>
    cancelled.has(id) || (cancelFlag !== null && Atomics.load(cancelFlag, CANCEL_SLOT) === id);

  const host: Host = {
    read(source, offset, heap, dst, n) {
      const reader = readers.get(source);
      if (!reader) return "the model source is gone";
      try {
        reader.readInto(offset, heap, dst, n);
        return "";
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    },
    progress(done, total) {
      // Tensors can be a few KB: post at most every 1% so messages stay few.
      if (progressWanted && (done - lastProgress >= total / 100 || done === total)) {
        lastProgress = done;
        platform.post({ id: progressRequest, type: "progress", phase: "weights", loaded: done, total });
      }
      return !isCancelled(progressRequest);
    },
  };

  const need = (): WasmEngine => {
    if (!engine) throw new WorkerError("the engine is not initialised", "internal");
    return engine;
  };
  const needModel = (): WasmEngine => {
    const e = need();
    if (!e.loaded()) throw new WorkerError("no model is loaded: call load() first", "no-model");
    return e;
  };

  async function openSource(id: number, source: ModelSource, wantsProgress: boolean): Promise<Reader> {
    if (source.kind === "buffer") return bufferReader(source.buffer);
    if (source.kind === "blob") {
      if (typeof FileReaderSync !== "undefined") {
        const helper = flavour === "mt" ? await startHelper(source.blob) : null;
        return helper ? parallelBlobReader(source.blob, helper) : blobReader(source.blob);
      }
      return bufferReader(await source.blob.arrayBuffer());  // Node: no synchronous Blob reads
    }
    if (typeof XMLHttpRequest !== "undefined") {
      const probe = await fetch(source.url, { headers: { Range: "bytes=0-0" } });
      const range = /\/(\d+)$/.exec(probe.headers.get("Content-Range") ?? "");
      await probe.body?.cancel();
      if (probe.status === 206 && range) return rangeReader(source.url, Number(range[1]));
    }
    // No Range support: stream the body into a list of chunks (no single
    // growing buffer), then read it like a File.
    const response = await fetch(source.url);
    if (!response.ok || !response.body) throw new WorkerError(`fetching ${source.url}: HTTP ${response.status}`, "bad-model");
    const total = Number(response.headers.get("Content-Length") ?? 0);
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let loaded = 0;
    const body = response.body.getReader();
    for (;;) {
      const { done, value } = await body.read();
      if (done) break;
      chunks.push(value as Uint8Array<ArrayBuffer>);
      loaded += value.byteLength;
      if (wantsProgress) platform.post({ id, type: "progress", phase: "download", loaded, total: total || loaded });
      if (isCancelled(id)) {
        await body.cancel();
        throw new WorkerError("model load cancelled", "aborted");
      }
    }
    const blob = new Blob(chunks);
    chunks.length = 0;
    if (typeof FileReaderSync !== "undefined") return blobReader(blob);
    return bufferReader(await blob.arrayBuffer());
  }

  function configure(kvOptions: Required<KvOptions>): void {
    const e = needModel();
    const maxKv = MAX_HEAP - module!.heapInUse() - HEAP_RESERVE;
    const k = kvOptions;
    const err = e.configure(contextLength, threads, k.kType, k.vType, k.window, k.sinks, k.eviction, k.budget,
      k.pyramid, k.sliding, k.attentionStats, maxKv);
    if (err) throw new WorkerError(err, "bad-argument");
    kv = kvOptions;
  }

  async function load(req: Extract<Request, { type: "load" }>): Promise<ModelInfo> {
    const e = need();
    e.unload();
    info = null;
    const reader = await openSource(req.id, req.source, req.wantsProgress);
    const readerId = nextReader++;
    readers.set(readerId, reader);
    progressRequest = req.id;
    progressWanted = req.wantsProgress;
    lastProgress = 0;
    try {
      const maxWeights = req.maxWeightBytes > 0 ? req.maxWeightBytes : MAX_HEAP - module!.heapInUse() - HEAP_RESERVE;
      const err = e.load(readerId, reader.size, req.source.name, Math.max(1, maxWeights));
      if (err) throw classifyLoadError(err);
    } finally {
      readers.delete(readerId);
      reader.close?.();
      progressRequest = 0;
    }
    await collectDeadChunks();
    // A cancel that arrived while the load ran synchronously (no shared flag)
    // or while the read slices were collected.
    if (isCancelled(req.id)) {
      e.unload();
      throw new WorkerError("model load cancelled", "aborted");
    }
    contextLength = req.contextLength;
    try {
      configure(DEFAULT_KV);
    } catch (err) {
      e.unload();
      // The weights fit but their KV cache does not: too large all the same.
      throw err instanceof WorkerError ? classifyLoadError(err.message) : err;
    }
    const parsed = JSON.parse(e.info()) as Omit<ModelInfo, "chatTemplate">;
    info = {
      ...parsed,
      chatTemplate: detectChatFamily(parsed.metadata["tokenizer.chat_template"], parsed.architecture),
    };
    return info;
  }

  async function generate(req: Extract<Request, { type: "generate" }>): Promise<EngineStats> {
    const e = needModel();
    if (req.kv) {
      const wanted = { ...DEFAULT_KV, ...req.kv };
      if (JSON.stringify(wanted) !== JSON.stringify(kv)) configure(wanted);
    }
    const s: SamplingOptions = req.sampling;
    lastCancelled = false;
    taken = 0;
    let posted = 0;
    const err = e.start(req.prompt, s.maxTokens ?? 256, s.temperature ?? 0.8, s.topK ?? 40, s.topP ?? 0.95,
      s.minP ?? 0.05, s.repeatPenalty ?? 1, s.repeatLastN ?? 64, s.seed ?? 24301);
    if (err) throw new WorkerError(err, "bad-argument");
    for (;;) {
      // Back to the event loop so a "cancel" message is seen before the next token.
      await platform.yieldToEventLoop();
      while (posted - taken >= PIECES_AHEAD && !isCancelled(req.id)) {
        await new Promise<void>((resolve) => (wakeGenerator = resolve));
      }
      if (isCancelled(req.id)) {
        lastCancelled = true;
        break;
      }
      const step = JSON.parse(e.step()) as { piece?: string; done?: boolean; error?: string };
      if (step.error) throw new WorkerError(step.error, "internal");
      if (step.piece) {
        platform.post({ id: req.id, type: "piece", text: step.piece });
        posted++;
      }
      if (step.done) break;
    }
    return stats();
  }

  function stats(): EngineStats {
    const raw = engine ? JSON.parse(engine.stats()) : {};
    if (raw.generation) raw.generation.cancelled = lastCancelled;
    return { flavour, threads, ...raw };
  }

  async function handle(req: Request): Promise<unknown> {
    switch (req.type) {
      case "init": {
        flavour = req.flavour;
        threads = req.flavour === "mt" ? Math.max(1, req.threads) : 1;
        cancelFlag = req.cancelFlag;
        module = await platform.createModule(flavour, req.simd, host, threads);
        engine = new module.Engine();
        return { flavour, threads };
      }
      case "load":
        return load(req);
      case "generate":
        return generate(req);
      case "stats":
        return stats();
      case "reset":
        needModel().reset();
        return null;
      case "unload":
        need().unload();
        info = null;
        return null;
      case "tokenize":
        return JSON.parse(needModel().tokenize(req.text));
      case "cancel":
      case "credit":
        return null;
    }
  }

  // Requests run one after another; "cancel" and "stats" jump the queue.
  let queue: Promise<void> = Promise.resolve();
  platform.onMessage((req) => {
    // Stats are read between tokens of a running generation (no engine call
    // is in progress when a message is handled), so a page can chart the
    // cache live instead of waiting for the generation to finish.
    if (req.type === "stats") {
      platform.post({ id: req.id, type: "done", value: stats() });
      return;
    }
    if (req.type === "cancel" || req.type === "credit") {
      if (req.type === "cancel") cancelled.add(req.target);
      else taken = Math.max(taken, req.taken);
      wakeGenerator?.();
      wakeGenerator = null;
      return;
    }
    queue = queue.then(async () => {
      try {
        if (isCancelled(req.id)) throw new WorkerError("cancelled before it started", "aborted");
        const value = await handle(req);
        platform.post({ id: req.id, type: "done", value });
      } catch (e) {
        const err = e instanceof WorkerError ? e : new WorkerError(e instanceof Error ? e.message : String(e), "internal");
        platform.post({ id: req.id, type: "error", message: err.message, code: err.code, bytesNeeded: err.bytesNeeded });
      } finally {
        cancelled.delete(req.id);
      }
    });
  });
}
