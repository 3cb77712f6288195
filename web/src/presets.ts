// The KV-cache presets the page offers, and the configurations the chart and
// the extrapolation table compare. Each is a plain KvPlan: what the engine is
// asked for is exactly what the formulas are computed for.
import type { KvPlan } from "./kv-accounting.ts";

/** Tokens per layer under H2O eviction unless the user changes it: twice the window. */
export const DEFAULT_BUDGET = 256;

export const FP32_PLAN: KvPlan = {
  kType: "f32", vType: "f32", window: 128, sinks: 4, eviction: "none", budget: 0, pyramid: "none", sliding: false,
};

export interface Preset {
  id: string;
  label: string;
  /** One line on what it does and why. */
  note: string;
  plan: KvPlan;
}

export const PRESETS: Preset[] = [
  { id: "fp32", label: "FP32 baseline", note: "every key and value in 32-bit floats: the reference", plan: FP32_PLAN },
  {
    id: "k4v16",
    label: "Progressive K4 + V16, window 128",
    note: "the newest 128 tokens (and 4 sinks) stay FP32; older keys move to 4 bits, older values to FP16",
    plan: { ...FP32_PLAN, kType: "q4", vType: "f16" },
  },
  {
    id: "k4v4",
    label: "Progressive K4 + V4, window 128",
    note: "keys and values outside the window in 4 bits, each block of up to 32 values with its own scale",
    plan: { ...FP32_PLAN, kType: "q4", vType: "q4" },
  },
  {
    id: "h2o",
    label: "+ H2O eviction",
    note: "K4 + V4, and each layer keeps at most the budget: the tokens with least attention go first",
    plan: { ...FP32_PLAN, kType: "q4", vType: "q4", eviction: "h2o", budget: DEFAULT_BUDGET },
  },
  {
    id: "pyramid",
    label: "+ PyramidKV",
    note: "H2O with budgets that shrink with depth: early layers attend broadly, late ones to a few tokens",
    plan: { ...FP32_PLAN, kType: "q4", vType: "q4", eviction: "h2o", budget: DEFAULT_BUDGET, pyramid: "fixed" },
  },
];

export function presetById(id: string): Preset | undefined {
  return PRESETS.find((p) => p.id === id);
}

/** The preset a plan is, if any (advanced controls may make it custom). */
export function matchPreset(plan: KvPlan): Preset | undefined {
  return PRESETS.find((p) => JSON.stringify(p.plan) === JSON.stringify(plan));
}

export interface Reference {
  label: string;
  plan: KvPlan;
}

/**
 * The lines drawn beside the active configuration (besides FP32 and FP16,
 * which are the engine's own figures): the progressive cache with and without eviction in the active formats, window
 * and budget (K4 + V4, window 128 and the default budget when the active one
 * is not compressed or evicting), so the comparison is like for like.
 */
export function references(active: KvPlan): { progressive: Reference; evicting: Reference } {
  const compressed = active.kType !== "f32" || active.vType !== "f32";
  const k = compressed ? active.kType : "q4";
  const v = compressed ? active.vType : "q4";
  const base: KvPlan = { ...active, kType: k, vType: v, eviction: "none", budget: 0, pyramid: "none", sliding: false };
  const budget = active.eviction !== "none" ? active.budget : DEFAULT_BUDGET;
  const name = `K${bitsLabel(k)} + V${bitsLabel(v)}, window ${active.window}`;
  return {
    progressive: { label: `progressive ${name}`, plan: base },
    evicting: {
      label: `progressive + H2O, budget ${budget}`,
      plan: { ...base, eviction: "h2o", budget, pyramid: active.eviction !== "none" ? active.pyramid : "none" },
    },
  };
}

/** "4" for q4, "16" for f16, the name for anything else. */
export function bitsLabel(type: string): string {
  const m = /^[qf](\d+)$/.exec(type);
  return m ? m[1] : type;
}
