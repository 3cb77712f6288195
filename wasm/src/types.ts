// The public shapes of the kvlite browser API. Defaults are documented where
// they apply; every field is optional unless stated.

/** Which WebAssembly build runs the engine. */
export type Flavour = "st" | "mt";

/**
 * Which SIMD kernels: "relaxed" adds relaxed SIMD's 8-bit dot products
 * (Chromium 114 and later), "simd128" runs on any browser with SIMD128. Both
 * give bit-identical results; relaxed is faster (docs/kernel-bench.md).
 */
export type Simd = "relaxed" | "simd128";

export interface EngineOptions {
  /**
   * Compute threads. Above 1 needs the threaded build, which needs a
   * cross-origin-isolated page (COOP/COEP headers); elsewhere the engine
   * falls back to one thread. Default: 1 on a non-isolated page,
   * min(4, navigator.hardwareConcurrency) on an isolated one.
   */
  threads?: number;
  /** Force a build: "st" (single thread) or "mt". Default: "mt" when threads > 1 and isolated. */
  flavour?: Flavour;
  /**
   * Force the SIMD kernels. Default: "relaxed" where the browser validates
   * relaxed SIMD, else "simd128". Asking for "relaxed" where it does not run
   * fails create() with code "bad-argument". Node always runs "simd128".
   */
  simd?: Simd;
}

export interface LoadProgress {
  /** "download" while a URL is fetched whole (no Range support), then "weights". */
  phase: "download" | "weights";
  loaded: number;
  total: number;
}

export interface LoadOptions {
  onProgress?: (progress: LoadProgress) => void;
  /** Cancels the load; on a non-isolated page it takes effect when the current tensor is read. */
  signal?: AbortSignal;
  /** Context length of the session. Default: the model's, capped at 4096. */
  contextLength?: number;
  /** Refuse models whose weights exceed this (default: what wasm memory has left). */
  maxWeightBytes?: number;
  /** A name for error messages. Default: the File's name, the URL, or "buffer". */
  name?: string;
}

export type KvType = "f32" | "f16" | "q8" | "q4" | "q3" | "q2" | "q4_0" | "q4t" | "q4c" | "q4h";

/** KV-cache configuration (see the core's KvConfig). Default: FP32 everything. */
export interface KvOptions {
  kType?: KvType;
  vType?: KvType;
  /** Newest tokens kept in FP32. Default 128. */
  window?: number;
  /** First tokens kept in FP32 and never evicted. Default 4. */
  sinks?: number;
  eviction?: "none" | "h2o";
  /** Tokens per layer under eviction (the mean with a pyramid). */
  budget?: number;
  pyramid?: "none" | "fixed" | "entropy";
  /** Keep only sinks + window and generate past the context length. */
  sliding?: boolean;
  /** Collect per-layer attention entropy and recent share. */
  attentionStats?: boolean;
}

export interface GenerateOptions {
  /** Default 256. */
  maxTokens?: number;
  /** 0 is greedy. Default 0.8. */
  temperature?: number;
  /** Default 40 (0: off). */
  topK?: number;
  /** Default 0.95 (1: off). */
  topP?: number;
  /** Default 0.05 (0: off). */
  minP?: number;
  /** Default 1 (off). */
  repeatPenalty?: number;
  /** Tokens the repeat penalty looks back over. Default 64. */
  repeatLastN?: number;
  /** Default 24301 (the CLI's). */
  seed?: number;
  /** A new KV configuration starts a new conversation (the cache is rebuilt). */
  kv?: KvOptions;
  /** Stops generation within one token; the iterator then throws the signal's reason. */
  signal?: AbortSignal;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ModelInfo {
  architecture: string;
  name: string;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  nVocab: number;
  nCtxTrain: number;
  weightBytes: number;
  fileBytes: number;
  bos: number;
  eos: number;
  /** GGUF metadata except the tokenizer tables, values as text. */
  metadata: Record<string, string>;
  /** Chat family detected from tokenizer.chat_template (or, without one, the architecture), or null. */
  chatTemplate: ChatFamily | null;
}

export type ChatFamily = "llama3" | "chatml" | "gemma" | "phi3" | "llama2";

export interface KvLayerStats {
  tokens: number;
  compressedTokens: number;
  budget: number;
  evicted: number;
  bytes: number;
  usedBytes: number;
  compressedBytes: number;
  compressedF32Bytes: number;
  f32Bytes: number;
  f16Bytes: number;
  entropyBits: number;
  recentShare: number;
}

export interface KvStats {
  kType: string;
  vType: string;
  window: number;
  sinks: number;
  tokensSeen: number;
  bytes: number;
  usedBytes: number;
  f32Bytes: number;
  f16Bytes: number;
  layers: KvLayerStats[];
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  promptSeconds: number;
  generateSeconds: number;
  promptTokensPerSecond: number;
  generateTokensPerSecond: number;
  stoppedAtEos: boolean;
  stoppedAtContext: boolean;
  cancelled: boolean;
}

export interface EngineStats {
  flavour: Flavour;
  threads: number;
  /** The kernel set computing: "simd128" or "simd128-relaxed". */
  kernels: string;
  /** wasm memory size (it only grows; freed memory is reused). */
  heapBytes: number;
  /** Bytes malloc holds now. */
  mallocBytes: number;
  nPast?: number;
  nCtx?: number;
  kv?: KvStats;
  /** The last (or running) generation. */
  generation?: GenerationStats;
}

/** Why an engine call failed: `code` says what kind of failure. */
export class KvliteError extends Error {
  constructor(
    message: string,
    readonly code: "bad-model" | "too-large" | "no-model" | "bad-argument" | "aborted" | "internal",
    /** For "too-large": the bytes the model needs. */
    readonly bytesNeeded?: number,
  ) {
    super(message);
    this.name = "KvliteError";
  }
}
