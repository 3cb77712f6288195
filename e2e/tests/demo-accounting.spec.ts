// The demo page's KV accounting (web/src/kv-accounting.ts): the formulas the
// chart's comparison lines and the extrapolation table are drawn from. Worked
// examples first, then the formulas against the engine itself (the kvlite
// package under Node), token by token, for every preset and a spread of
// other configurations: same tokens held, budgets, evictions and bytes.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { expect, test } from "@playwright/test";

import { cacheFigures, layerBudgets, vectorBytes, type KvPlan } from "../../web/src/kv-accounting.ts";
import { FP32_PLAN, PRESETS, references } from "../../web/src/presets.ts";

const repoRoot = join(import.meta.dirname, "../..");
const embeddedModel = join(repoRoot, "web/public/models/kvlite-kjv-q8_0.gguf");
const nodePackage = join(repoRoot, "wasm/dist/node.js");

test.describe("KV accounting formulas", () => {
  test("vector sizes count every scale", () => {
    expect(vectorBytes("f32", 32)).toBe(128);
    expect(vectorBytes("f16", 32)).toBe(64);
    // 4-bit: a one-byte scale per block of min(16, d) values.
    expect(vectorBytes("q4", 32)).toBe(2 + 16);
    expect(vectorBytes("q4", 8)).toBe(1 + 4);
    expect(vectorBytes("q4", 64)).toBe(4 + 32);
    expect(vectorBytes("q4", 40)).toBe(3 + 20);
    // Other widths: min(32, d) values per scale, fp16 for blocks of 16 or more, else one byte.
    expect(vectorBytes("q8", 8)).toBe(1 + 8);
    expect(vectorBytes("q8", 40)).toBe(4 + 40);
    expect(vectorBytes("q3", 32)).toBe(2 + 12);
    expect(vectorBytes("q2", 8)).toBe(1 + 2);
    // llama.cpp's q4_0: 32 values in 18 bytes (an fp16 scale).
    expect(vectorBytes("q4_0", 64)).toBe(36);
  });

  test("PyramidKV's fixed budgets shrink with depth and keep the mean", () => {
    const plan: KvPlan = { ...FP32_PLAN, kType: "q4", vType: "q4", eviction: "h2o", budget: 256, pyramid: "fixed" };
    const budgets = layerBudgets(plan, 6);
    expect(budgets).toEqual([345, 309, 274, 238, 203, 167]);
    expect(budgets.reduce((a, b) => a + b) / 6).toBeCloseTo(256, 0);
    // The core's own example: 1.67x .. 0.33x of the mean on 5 layers (nothing reserved).
    expect(layerBudgets({ ...plan, budget: 300, window: 0, sinks: 0 }, 5)).toEqual([500, 400, 300, 200, 100]);
    expect(layerBudgets({ ...plan, pyramid: "none" }, 3)).toEqual([256, 256, 256]);
  });

  test("plain FP32 is every token in FP32; compressed caches part from it after the window", () => {
    const shape = { nLayer: 6, nHeadKv: 2, headDim: 32, nCtx: 512 };
    const perToken = 6 * 2 * 64 * 4;
    expect(cacheFigures(shape, FP32_PLAN, 100).usedBytes).toBe(100 * perToken);
    const k4v4 = PRESETS.find((p) => p.id === "k4v4")!.plan;
    expect(cacheFigures(shape, k4v4, 132).usedBytes).toBe(132 * perToken);
    // Each token past sinks + window: 2 heads x (18 + 18) bytes per layer.
    expect(cacheFigures(shape, k4v4, 200).usedBytes).toBe(132 * perToken + 68 * 6 * 2 * 36);
    // The context caps the compressed slots.
    expect(cacheFigures(shape, k4v4, 600).usedBytes).toBe(cacheFigures(shape, k4v4, 512).usedBytes);
  });

  test("eviction stops growth at the budget and counts what it drops", () => {
    const shape = { nLayer: 2, nHeadKv: 2, headDim: 32, nCtx: Infinity };
    const h2o = PRESETS.find((p) => p.id === "h2o")!.plan;
    const at = (n: number) => cacheFigures(shape, h2o, n);
    expect(at(4096).usedBytes).toBe(at(131072).usedBytes);
    expect(at(256).evicted).toBe(0);
    expect(at(300).evicted).toBe(2 * 2 * (300 - 256));
    expect(at(300).layers[0].tokens).toBe(256);
  });

  test("reference lines follow the active formats, window and budget", () => {
    const k4v16 = PRESETS.find((p) => p.id === "k4v16")!.plan;
    const refs = references(k4v16);
    expect(refs.progressive.plan).toMatchObject({ kType: "q4", vType: "f16", window: 128, eviction: "none" });
    expect(refs.evicting.plan).toMatchObject({ kType: "q4", vType: "f16", eviction: "h2o", budget: 256 });
    expect(references(FP32_PLAN).progressive.plan).toMatchObject({ kType: "q4", vType: "q4" });
  });
});

test.describe("KV accounting formulas against the engine", () => {
  // scripts/test builds the package before e2e; a missing one is a failure, not a skip.
  test.beforeAll(() => {
    expect(existsSync(nodePackage), `needs the kvlite package built (node wasm/build.mjs): ${nodePackage} is missing`).toBe(true);
  });

  const configs: { name: string; plan: KvPlan }[] = [
    ...PRESETS.map((p) => ({ name: p.id, plan: p.plan })),
    { name: "f16/f16", plan: { ...FP32_PLAN, kType: "f16", vType: "f16" } },
    { name: "q8/q8 window 32", plan: { ...FP32_PLAN, kType: "q8", vType: "q8", window: 32 } },
    { name: "q3/q2, no sinks", plan: { ...FP32_PLAN, kType: "q3", vType: "q2", sinks: 0 } },
    { name: "q4_0 and q4h", plan: { ...FP32_PLAN, kType: "q4_0", vType: "q4h" } },
    { name: "q4c/q4t (channel scales)", plan: { ...FP32_PLAN, kType: "q4c", vType: "q4t", window: 64 } },
    { name: "no window", plan: { ...FP32_PLAN, kType: "q4", vType: "q4", window: 0 } },
    { name: "sliding", plan: { ...FP32_PLAN, kType: "f32", vType: "f32", window: 64, sliding: true } },
    { name: "h2o tight budget", plan: { ...FP32_PLAN, kType: "q4", vType: "f16", window: 32, eviction: "h2o", budget: 48 } },
    { name: "h2o budget below window", plan: { ...FP32_PLAN, kType: "q4", vType: "q4", eviction: "h2o", budget: 100 } },
    {
      name: "entropy pyramid",
      plan: { ...FP32_PLAN, kType: "q4", vType: "q4", window: 32, eviction: "h2o", budget: 96, pyramid: "entropy" },
    },
  ];

  test("bytes, tokens, budgets and evictions agree token by token", async () => {
    test.setTimeout(3 * 60 * 1000);
    const { Engine } = await import(pathToFileURL(nodePackage).href);
    const engine = await Engine.create();
    // Mismatches are collected and checked once: thousands of expect() calls
    // would each become a reported step.
    const mismatches: string[] = [];
    const readings: Record<string, number> = {};
    try {
      const model = await engine.load(new Uint8Array(readFileSync(embeddedModel)));
      for (const { name, plan } of configs) {
        readings[name] = 0;
        const check = async () => {
          const stats = await engine.stats();
          const kv = stats.kv;
          const shape = { nLayer: model.nLayer, nHeadKv: model.nHeadKv, headDim: model.headDim, nCtx: stats.nCtx };
          // The entropy pyramid's budgets are measured by the engine.
          const budgets = plan.pyramid === "entropy" ? kv.layers.map((l: { budget: number }) => l.budget) : undefined;
          const predicted = cacheFigures(shape, plan, kv.tokensSeen, budgets);
          const real = {
            usedBytes: kv.usedBytes,
            f32Bytes: kv.f32Bytes,
            f16Bytes: kv.f16Bytes,
            evicted: kv.layers.reduce((a: number, l: { evicted: number }) => a + l.evicted, 0),
            layers: kv.layers.map((l: Record<string, number>) => ({
              tokens: l.tokens, compressedTokens: l.compressedTokens, budget: l.budget, evicted: l.evicted, usedBytes: l.usedBytes,
            })),
          };
          if (JSON.stringify(real) !== JSON.stringify(predicted)) {
            mismatches.push(`${name} at ${kv.tokensSeen} tokens: engine ${JSON.stringify(real)} formulas ${JSON.stringify(predicted)}`);
          }
          readings[name]++;
        };
        await engine.reset();
        for await (const _ of engine.generate("In the beginning God created the heaven and the earth. And", {
          maxTokens: 300, temperature: 0.8, seed: 7, kv: plan,
        })) {
          await check();
        }
        await check();
      }
    } finally {
      engine.terminate();
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    for (const { name } of configs) expect(readings[name], name).toBeGreaterThan(250);
  });
});
