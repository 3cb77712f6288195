// The Engine: a main-thread handle on a worker that owns the wasm engine.
// Every method is a request/response over the protocol; generation streams
// "piece" messages into an async iterator. Cancel goes two ways at once: a
// "cancel" message (always works: the worker yields between tokens) and, when
// SharedArrayBuffer exists, a shared flag the worker reads even mid-load.
import { formatChat } from "./chat.js";
import { CANCEL_SLOT, type ModelSource, type Reply, type Request } from "./protocol.js";
import {
  KvliteError,
  type ChatMessage,
  type EngineOptions,
  type EngineStats,
  type Flavour,
  type GenerateOptions,
  type LoadOptions,
  type ModelInfo,
  type Simd,
} from "./types.js";

/** How an entry point (browser, Node) starts and talks to its worker. */
export interface WorkerPort {
  post(request: Request, transfer?: Transferable[]): void;
  onReply(handler: (reply: Reply) => void): void;
  onCrash(handler: (message: string) => void): void;
  terminate(): void;
}

export interface PlatformChoice {
  flavour: Flavour;
  threads: number;
  simd: Simd | "auto";
  port: WorkerPort;
  shared: boolean;  // SharedArrayBuffer usable
}

export type ModelInput = Blob | ArrayBuffer | Uint8Array | string | URL;

type Handlers = {
  resolve(value: unknown): void;
  reject(error: Error): void;
  progress?(reply: Extract<Reply, { type: "progress" }>): void;
  piece?(text: string): void;
};

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return reason instanceof Error ? reason : new KvliteError("aborted", "aborted");
}

export class EngineCore {
  #port: WorkerPort;
  #pending = new Map<number, Handlers>();
  #nextId = 1;
  #cancelFlag: Int32Array | null;
  #info: ModelInfo | null = null;
  #dead: string | null = null;
  readonly flavour: Flavour;
  readonly threads: number;
  #simd: Simd | "auto";

  protected constructor(choice: PlatformChoice) {
    this.#port = choice.port;
    this.flavour = choice.flavour;
    this.threads = choice.threads;
    this.#simd = choice.simd;
    this.#cancelFlag = choice.shared ? new Int32Array(new SharedArrayBuffer(8)) : null;
    this.#port.onReply((reply) => this.#receive(reply));
    this.#port.onCrash((message) => {
      this.#dead = `the kvlite worker stopped: ${message}`;
      for (const h of this.#pending.values()) h.reject(new KvliteError(this.#dead, "internal"));
      this.#pending.clear();
    });
  }

  protected async init(): Promise<void> {
    await this.#request({
      type: "init",
      flavour: this.flavour,
      threads: this.threads,
      simd: this.#simd,
      cancelFlag: this.#cancelFlag,
    });
  }

  /** The loaded model, or null. */
  get model(): ModelInfo | null {
    return this.#info;
  }

  /**
   * Loads a GGUF model from a File/Blob, an ArrayBuffer (copied; the caller
   * keeps it), a Uint8Array, or a URL. Resolves with the model's description.
   */
  async load(input: ModelInput, options: LoadOptions = {}): Promise<ModelInfo> {
    const { source, transfer } = toSource(input, options.name);
    this.#info = null;
    const info = (await this.#load(source, transfer, options)) as ModelInfo;
    this.#info = info;
    return info;
  }

  async #load(source: ModelSource, transfer: Transferable[], options: LoadOptions): Promise<unknown> {
    const request = {
      type: "load",
      source,
      contextLength: options.contextLength ?? 0,
      maxWeightBytes: options.maxWeightBytes ?? 0,
      wantsProgress: Boolean(options.onProgress),
    } as const;
    try {
      return await this.#request(request, {
        transfer,
        signal: options.signal,
        progress: (p) => options.onProgress?.({ phase: p.phase, loaded: p.loaded, total: p.total }),
      });
    } catch (e) {
      // An abort that came as the load finished leaves a model the caller gave up on.
      if (options.signal?.aborted) await this.#request({ type: "unload" }).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Streams the continuation of `prompt`, piece by piece (whole UTF-8 text).
   * Continues the conversation; call reset() to start afresh. With `signal`
   * aborted, the worker stops within one token and the iterator throws the
   * signal's reason. Breaking out of the loop also stops generation.
   */
  async *generate(prompt: string, options: GenerateOptions = {}): AsyncGenerator<string, void, undefined> {
    const { signal, kv, ...sampling } = options;
    const pieces: string[] = [];
    let wake: (() => void) | null = null;
    let finished = false;
    let failure: Error | null = null;
    const id = this.#nextId;
    const done = this.#request(
      { type: "generate", prompt, sampling, kv: kv ?? null },
      {
        signal,
        piece: (text) => {
          pieces.push(text);
          wake?.();
        },
      },
    ).then(
      () => {
        finished = true;
        wake?.();
      },
      (e: Error) => {
        failure = e;
        finished = true;
        wake?.();
      },
    );
    let taken = 0;
    try {
      for (;;) {
        // After an abort nothing more is handed out, even pieces already here.
        if (signal?.aborted) throw abortError(signal);
        if (pieces.length) {
          yield pieces.shift()!;
          this.#port.post({ id: 0, type: "credit", target: id, taken: ++taken });
          continue;
        }
        if (failure) throw failure;
        if (finished) break;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      if (!finished) this.#cancel(id);
      await done;
    }
  }

  /**
   * A chat turn: formats `messages` with the model's template family (Llama 3,
   * ChatML, Llama 2, or a plain transcript) and streams the reply. Each call
   * starts a fresh conversation from the whole message list.
   */
  async *chat(messages: ChatMessage[], options: GenerateOptions = {}): AsyncGenerator<string, void, undefined> {
    if (!this.#info) throw new KvliteError("no model is loaded: call load() first", "no-model");
    await this.reset();
    yield* this.generate(formatChat(this.#info.chatTemplate, messages), options);
  }

  /**
   * Speed, memory and KV-cache figures (see EngineStats). Answered at once,
   * also while a generation runs (as of the tokens evaluated so far), so a
   * page can follow the cache live.
   */
  async stats(): Promise<EngineStats> {
    return (await this.#request({ type: "stats" })) as EngineStats;
  }

  /** Forgets the conversation (the KV cache is emptied, the model stays). */
  async reset(): Promise<void> {
    await this.#request({ type: "reset" });
  }

  /** Frees the model; its memory is reused by the next load. */
  async unload(): Promise<void> {
    this.#info = null;
    await this.#request({ type: "unload" });
  }

  /** Token ids of `text` (BOS included, special tokens parsed). */
  async tokenize(text: string): Promise<number[]> {
    return (await this.#request({ type: "tokenize", text })) as number[];
  }

  /** Stops the worker; the engine cannot be used afterwards. */
  terminate(): void {
    this.#dead = "the engine was terminated";
    this.#port.terminate();
    for (const h of this.#pending.values()) h.reject(new KvliteError(this.#dead, "internal"));
    this.#pending.clear();
  }

  #cancel(id: number): void {
    if (this.#cancelFlag) Atomics.store(this.#cancelFlag, CANCEL_SLOT, id);
    this.#port.post({ id: 0, type: "cancel", target: id });
  }

  #request(
    body: DistributiveOmit<Request, "id">,
    extra: { transfer?: Transferable[]; signal?: AbortSignal } & Pick<Handlers, "progress" | "piece"> = {},
  ): Promise<unknown> {
    if (this.#dead) return Promise.reject(new KvliteError(this.#dead, "internal"));
    const { signal } = extra;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#cancel(id);
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle = () => signal?.removeEventListener("abort", onAbort);
      this.#pending.set(id, {
        resolve: (v) => {
          settle();
          // Finished, but the caller asked to stop before it heard so: the
          // abort wins, as the caller may already have moved on.
          if (signal?.aborted) reject(abortError(signal));
          else resolve(v);
        },
        reject: (e) => {
          settle();
          reject(signal?.aborted ? abortError(signal) : e);
        },
        progress: extra.progress,
        piece: extra.piece,
      });
      this.#port.post({ ...body, id } as Request, extra.transfer);
    });
  }

  #receive(reply: Reply): void {
    const h = this.#pending.get(reply.id);
    if (!h) return;
    switch (reply.type) {
      case "progress":
        h.progress?.(reply);
        break;
      case "piece":
        h.piece?.(reply.text);
        break;
      case "done":
        this.#pending.delete(reply.id);
        h.resolve(reply.value);
        break;
      case "error":
        this.#pending.delete(reply.id);
        h.reject(new KvliteError(reply.message, reply.code as KvliteError["code"], reply.bytesNeeded));
        break;
    }
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

function toSource(input: ModelInput, name?: string): { source: ModelSource; transfer: Transferable[] } {
  if (typeof Blob !== "undefined" && input instanceof Blob) {
    const fileName = (input as Blob & { name?: string }).name;
    return { source: { kind: "blob", blob: input, name: name ?? fileName ?? "blob" }, transfer: [] };
  }
  if (input instanceof ArrayBuffer) {
    const copy = input.slice(0);  // one copy, moved to the worker; the caller keeps theirs
    return { source: { kind: "buffer", buffer: copy, name: name ?? "buffer" }, transfer: [copy] };
  }
  if (input instanceof Uint8Array) {
    const copy = input.slice().buffer as ArrayBuffer;
    return { source: { kind: "buffer", buffer: copy, name: name ?? "buffer" }, transfer: [copy] };
  }
  if (typeof input === "string" || input instanceof URL) {
    const base = typeof location !== "undefined" ? location.href : undefined;
    const url = new URL(String(input), base).href;
    return { source: { kind: "url", url, name: name ?? url }, transfer: [] };
  }
  throw new KvliteError("load() takes a File/Blob, an ArrayBuffer, a Uint8Array or a URL", "bad-argument");
}
