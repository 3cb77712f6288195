// What a KV cache holds, in bytes, for a model's shapes, a configuration and
// a number of tokens: the core's accounting (core/kv/kv_stats.cpp) written
// out as formulas, so the page can draw what other configurations would hold
// for the same tokens and extrapolate to long contexts. The e2e tests check
// these formulas against the engine's own figures token by token.
import type { KvOptions, KvType } from "kvlite";

export type KvPlan = Required<Pick<KvOptions, "kType" | "vType" | "window" | "sinks" | "eviction" | "budget" | "pyramid" | "sliding">>;

export interface KvShape {
  nLayer: number;
  nHeadKv: number;
  headDim: number;
  /** The session's context length; Infinity to extrapolate past it. */
  nCtx: number;
}

export interface LayerFigures {
  tokens: number;
  compressedTokens: number;
  budget: number;
  evicted: number;
  usedBytes: number;
}

export interface CacheFigures {
  usedBytes: number;
  f32Bytes: number;
  f16Bytes: number;
  evicted: number;
  layers: LayerFigures[];
}

const F32 = 4;
// With eviction every held token also carries its accumulated attention (a
// float per KV head) and, once compressed, its position (an int32).
const SCORE_BYTES = 4;
const POSITION_BYTES = 4;

// Bits per value of the block formats; their blocks run along the head
// dimension with one scale each: 4-bit formats min(16, d) values to a
// one-byte scale; the others min(32, d) values, to an fp16 scale for blocks
// of 16 or more and one byte for shorter ones (core/kv/kv_format.cpp,
// block_layout).
const BLOCK_BITS: Partial<Record<KvType, number>> = { q8: 8, q4: 4, q3: 3, q2: 2, q4t: 4, q4c: 4, q4h: 4 };

/** Bytes of one head vector of `d` values in a KV format, scales included. */
export function vectorBytes(type: KvType, d: number): number {
  if (type === "f32") return d * 4;
  if (type === "f16") return d * 2;
  if (type === "q4_0") return Math.floor(d / 32) * 18;  // llama.cpp: 32 values, an fp16 scale and 16 bytes
  const bits = BLOCK_BITS[type];
  if (bits === undefined) throw new Error(`unknown KV type ${type}`);
  const block = Math.min(bits === 4 ? 16 : 32, d);
  const scaleBytes = bits !== 4 && block >= 16 ? 2 : 1;
  return Math.ceil(d / block) * scaleBytes + Math.ceil((d * bits) / 8);
}

/** The cache is the plain FP32 one: every token in FP32, nothing reserved. */
export function isPlain(plan: KvPlan): boolean {
  return plan.kType === "f32" && plan.vType === "f32" && plan.eviction === "none" && !plan.sliding;
}

/**
 * Tokens each layer may hold under eviction. PyramidKV's fixed schedule gives
 * layer l of L a share 2 (L - l) / (L + 1) of the tokens above sinks and
 * window; the entropy schedule is set by the engine from measured attention
 * (before that, and without a pyramid, every layer gets the mean).
 */
export function layerBudgets(plan: KvPlan, nLayer: number): number[] {
  const reserved = plan.sinks + plan.window;
  const extra = plan.budget - reserved;
  const budgets = new Array<number>(nLayer).fill(plan.budget);
  if (plan.pyramid !== "fixed" || extra <= 0 || nLayer < 2) return budgets;
  return budgets.map((_, l) => reserved + Math.round((2 * extra * (nLayer - l)) / (nLayer + 1)));
}

/**
 * What each layer and the whole cache hold after `tokens` tokens. `budgets`
 * overrides the per-layer budgets (the engine's, for the entropy pyramid).
 */
export function cacheFigures(shape: KvShape, plan: KvPlan, tokens: number, budgets?: number[]): CacheFigures {
  const kvDim = shape.nHeadKv * shape.headDim;
  const f32Bytes = shape.nLayer * tokens * 2 * kvDim * F32;
  const perLayerBudget = budgets ?? layerBudgets(plan, shape.nLayer);
  const layers: LayerFigures[] = [];
  for (let l = 0; l < shape.nLayer; ++l) layers.push(layerFigures(shape, plan, tokens, perLayerBudget[l]));
  return {
    usedBytes: sum(layers.map((x) => x.usedBytes)),
    f32Bytes,
    f16Bytes: f32Bytes / 2,
    evicted: sum(layers.map((x) => x.evicted)),
    layers,
  };
}

function layerFigures(shape: KvShape, plan: KvPlan, tokens: number, budget: number): LayerFigures {
  const { nHeadKv, headDim } = shape;
  const kvDim = nHeadKv * headDim;
  if (isPlain(plan)) {
    return { tokens, compressedTokens: 0, budget: 0, evicted: 0, usedBytes: tokens * 2 * kvDim * F32 };
  }
  const evict = plan.eviction !== "none";
  // Sinks and the window are FP32 slots; older tokens move to compressed
  // slots, as many as the context (or the budget) leaves after them.
  const reserved = plan.sinks + plan.window;
  const fp = Math.min(reserved, tokens);
  const older = Math.max(0, tokens - reserved);
  const capacity = plan.sliding ? 0 : Math.max(0, (evict ? budget : shape.nCtx) - reserved);
  const compressed = Math.min(older, capacity);
  const perSlot = vectorBytes(plan.kType, headDim) + vectorBytes(plan.vType, headDim) + (evict ? SCORE_BYTES + POSITION_BYTES : 0);
  // Per-channel scaled formats keep one divisor per channel, fixed when the
  // first token leaves the window.
  const channels = older > 0 ? [plan.kType, plan.vType].filter((t) => t === "q4c").length * kvDim * F32 : 0;
  return {
    tokens: fp + compressed,
    compressedTokens: compressed,
    budget: evict ? budget : 0,
    evicted: (older - compressed) * nHeadKv,
    usedBytes: fp * (2 * kvDim * F32 + (evict ? nHeadKv * SCORE_BYTES : 0)) + compressed * nHeadKv * perSlot + channels,
  };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
