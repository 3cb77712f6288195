// Messages between the Engine (main thread) and its worker. Every request
// carries an id; the worker answers with exactly one "done" or "error" for it,
// after any number of "progress" / "piece" messages. "cancel" and "credit"
// are the messages the worker acts on while another request runs.
//
// Generation is paced by its consumer: the worker runs at most
// PIECES_AHEAD pieces ahead of what the async iterator has handed out, so a
// Stop takes effect within one token of where the reader is, and a slow
// reader never piles up text in memory.
import type { EngineStats, Flavour, GenerateOptions, KvOptions, ModelInfo, Simd } from "./types.js";

export type ModelSource =
  | { kind: "blob"; blob: Blob; name: string }
  | { kind: "buffer"; buffer: ArrayBuffer; name: string }
  | { kind: "url"; url: string; name: string };

export type SamplingOptions = Omit<GenerateOptions, "signal" | "kv">;

export type Request =
  | { id: number; type: "init"; flavour: Flavour; threads: number; simd: Simd | "auto"; cancelFlag: Int32Array | null }
  | {
      id: number;
      type: "load";
      source: ModelSource;
      contextLength: number;
      maxWeightBytes: number;
      wantsProgress: boolean;
    }
  | { id: number; type: "generate"; prompt: string; sampling: SamplingOptions; kv: KvOptions | null }
  | { id: number; type: "stats" }
  | { id: number; type: "reset" }
  | { id: number; type: "unload" }
  | { id: number; type: "tokenize"; text: string }
  | { id: number; type: "cancel"; target: number }
  // The consumer took `taken` pieces of generation `target` (flow control).
  | { id: number; type: "credit"; target: number; taken: number };

export type Reply =
  | { id: number; type: "done"; value: unknown }
  | { id: number; type: "error"; message: string; code: string; bytesNeeded?: number }
  | { id: number; type: "progress"; phase: "download" | "weights"; loaded: number; total: number }
  | { id: number; type: "piece"; text: string };

export type InitResult = { flavour: Flavour; threads: number };
export type LoadResult = ModelInfo;
export type StatsResult = EngineStats;

export const PIECES_AHEAD = 4;

/** Slot of the shared cancel flag: the id of the request to stop (0: none). */
export const CANCEL_SLOT = 0;
