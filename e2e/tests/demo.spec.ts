// The demo page (web/) in headless Chromium, built with Vite as scripts/setup
// builds it, on the threaded build (served with COOP/COEP, so the page is
// cross-origin isolated) and on the single-thread build (served plain): load
// the embedded model, generate with every KV preset and see the text stream
// and the chart agree with engine.stats(), stop mid-generation, survive a
// corrupt file, load the shared model through the file input and a file
// dropped on the page, refuse a model too large. Screenshots go to
// build/e2e/screenshots/.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { expect, test, type Page } from "@playwright/test";

import { cacheFigures, type KvPlan } from "../../web/src/kv-accounting.ts";
import { PRESETS } from "../../web/src/presets.ts";
import { serveStatic, type StaticServer } from "../support/static-server.ts";

const repoRoot = join(import.meta.dirname, "../..");
const webDir = join(repoRoot, "web");
const pageDir = join(repoRoot, "build/e2e/demo-page");
const screenshots = join(repoRoot, "build/e2e/screenshots");
const sharedModel = join(repoRoot, "../shared/models/stories260K.gguf");
const embeddedModel = join(webDir, "public/models/kvlite-kjv-q8_0.gguf");

let built = false;

// Builds the page once per run: typecheck, then vite build into build/e2e.
// npm ci only when web/node_modules is missing or older than the lock file.
function buildPage(): void {
  if (built) return;
  if (!existsSync(join(repoRoot, "wasm/dist/index.js"))) {
    throw new Error("the kvlite package is not built: run `node wasm/build.mjs` (scripts/test does)");
  }
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: webDir, stdio: ["ignore", "inherit", "inherit"] });
  const installed = join(webDir, "node_modules/.package-lock.json");
  if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(join(webDir, "package-lock.json")).mtimeMs) {
    run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
  }
  run("npx", ["tsc", "-p", "tsconfig.json"]);
  run("npx", ["vite", "build", "--logLevel", "warn", "--outDir", pageDir, "--emptyOutDir"]);
  mkdirSync(screenshots, { recursive: true });
  built = true;
}

// A copy of a GGUF file with one more metadata string (the key must be new):
// the metadata is followed by the tensor table and, at the next multiple of
// the alignment, the tensor data, whose offsets are relative to its start.
function withMetadataString(file: string, key: string, value: string): Buffer {
  const src = readFileSync(file);
  let at = 24;
  const u64 = () => Number(src.readBigUInt64LE((at += 8) - 8));
  const str = () => src.toString("utf8", at + 8, (at += 8 + Number(src.readBigUInt64LE(at))));
  const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skipValue = (type: number): void => {
    if (type === 8) str();
    else if (type === 9) {
      const elem = src.readUInt32LE(at);
      at += 4;
      for (let i = 0, n = u64(); i < n; ++i) skipValue(elem);
    } else at += sizes[type];
  };
  const nTensors = Number(src.readBigUInt64LE(8));
  const nKv = Number(src.readBigUInt64LE(16));
  let alignment = 32;
  for (let i = 0; i < nKv; ++i) {
    const k = str();
    const type = src.readUInt32LE(at);
    at += 4;
    if (k === "general.alignment") alignment = src.readUInt32LE(at);
    skipValue(type);
  }
  const kvEnd = at;
  for (let i = 0; i < nTensors; ++i) {
    str();
    const dims = src.readUInt32LE(at);
    at += 4 + 8 * dims + 4 + 8;
  }
  const infoEnd = at;
  const dataStart = Math.ceil(infoEnd / alignment) * alignment;
  const header = Buffer.from(src.subarray(0, 24));
  header.writeBigUInt64LE(BigInt(nKv + 1), 16);
  const text = (t: string) => {
    const b = Buffer.from(t, "utf8");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([len, b]);
  };
  const type = Buffer.alloc(4);
  type.writeUInt32LE(8);
  const head = Buffer.concat([header, src.subarray(24, kvEnd), text(key), type, text(value), src.subarray(kvEnd, infoEnd)]);
  const pad = Buffer.alloc(Math.ceil(head.length / alignment) * alignment - head.length);
  return Buffer.concat([head, pad, src.subarray(dataStart)]);
}

type Demo = Window["kvliteDemo"];
declare global {
  interface Window {
    kvliteDemo: import("../../web/src/main.ts").DemoHandle;
    streamWatch?: { mutations: number; chartPointsWhileStreaming: number; observer: MutationObserver };
  }
}

async function whenIdle(page: Page): Promise<void> {
  await page.waitForFunction(() => window.kvliteDemo?.busy === "idle", null, { timeout: 120_000 });
}

// Counts DOM updates of the output while a generation streams, and how many
// points the chart held at the latest of them (it must grow during the run,
// not only at the end). `stopAfter` presses Stop after that many updates.
async function watchStream(page: Page, stopAfter = 0): Promise<void> {
  await page.evaluate((stopAt) => {
    window.streamWatch?.observer.disconnect();
    const watch = { mutations: 0, chartPointsWhileStreaming: 0, observer: null as unknown as MutationObserver };
    watch.observer = new MutationObserver((records) => {
      watch.mutations += records.length;
      if (window.kvliteDemo.busy === "generating") {
        watch.chartPointsWhileStreaming = window.kvliteDemo.chartData()[0]?.length ?? 0;
      }
      if (stopAt && watch.mutations >= stopAt) document.querySelector<HTMLButtonElement>("#stop")!.click();
    });
    watch.observer.observe(document.querySelector("#output")!, { childList: true, subtree: true, characterData: true });
    window.streamWatch = watch;
  }, stopAfter);
}

async function generate(page: Page, options: { maxTokens: number; stopAfter?: number }): Promise<void> {
  await page.fill("#max-tokens", String(options.maxTokens));
  await watchStream(page, options.stopAfter);
  await page.click("#generate");
  await whenIdle(page);
}

interface Reading {
  fresh: Awaited<ReturnType<NonNullable<Demo["engine"]>["stats"]>>;
  log: { tokens: number; usedBytes: number }[];
  data: number[][];
  labels: string[];
  plan: KvPlan;
  refs: ReturnType<Demo["references"]>;
  shape: { nLayer: number; nHeadKv: number; headDim: number; nCtx: number };
  watch: { mutations: number; chartPointsWhileStreaming: number };
  text: string;
}

async function reading(page: Page): Promise<Reading> {
  return page.evaluate(async () => {
    const d = window.kvliteDemo;
    const fresh = await d.engine!.stats();
    const m = d.model!;
    return {
      fresh,
      log: d.statsLog.filter((s) => s.kv).map((s) => ({ tokens: s.kv!.tokensSeen, usedBytes: s.kv!.usedBytes })),
      data: d.chartData(),
      labels: d.chartLabels(),
      plan: d.plan,
      refs: d.references(),
      shape: { nLayer: m.nLayer, nHeadKv: m.nHeadKv, headDim: m.headDim, nCtx: fresh.nCtx ?? m.nCtxTrain },
      watch: { mutations: window.streamWatch!.mutations, chartPointsWhileStreaming: window.streamWatch!.chartPointsWhileStreaming },
      text: document.querySelector("#output .generated")?.textContent ?? "",
    };
  });
}

// The chart's plotted points are the engine's readings, and its comparison
// lines are the accounting formulas at the same token counts.
function expectChartMatchesStats(r: Reading): void {
  const [tokens, active, f32, f16, progressive, evicting] = r.data;
  const kv = r.fresh.kv!;
  const n = tokens.length;
  expect(n, "points on the chart").toBeGreaterThan(5);
  expect(tokens[n - 1]).toBe(kv.tokensSeen);
  expect(active[n - 1]).toBe(kv.usedBytes);
  expect(f32[n - 1]).toBe(kv.f32Bytes);
  expect(f16[n - 1]).toBe(kv.f16Bytes);
  const logged = new Map(r.log.map((p) => [p.tokens, p.usedBytes]));
  const mismatches: string[] = [];
  for (let i = 0; i < n; ++i) {
    const t = tokens[i];
    const want = {
      active: logged.get(t),
      activeFormula: cacheFigures(r.shape, r.plan, t).usedBytes,
      f32: cacheFigures(r.shape, { ...r.plan, kType: "f32", vType: "f32", eviction: "none", budget: 0, pyramid: "none", sliding: false }, t).usedBytes,
      progressive: cacheFigures(r.shape, r.refs.progressive.plan, t).usedBytes,
      evicting: cacheFigures(r.shape, r.refs.evicting.plan, t).usedBytes,
    };
    const got = { active: active[i], activeFormula: active[i], f32: f32[i], progressive: progressive[i], evicting: evicting[i] };
    if (JSON.stringify(want) !== JSON.stringify(got)) mismatches.push(`at ${t} tokens: chart ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    if (f16[i] !== f32[i] / 2) mismatches.push(`at ${t} tokens: FP16 ${f16[i]} is not half of FP32 ${f32[i]}`);
  }
  expect(mismatches.slice(0, 5)).toEqual([]);
}

const flavours = [
  { name: "threaded build, cross-origin isolated page", isolated: true, flavour: "mt" },
  { name: "single-thread build, plain page", isolated: false, flavour: "st" },
] as const;

for (const f of flavours) {
  test.describe(`demo page: ${f.name}`, () => {
    test.describe.configure({ mode: "serial" });

    let server: StaticServer;
    let page: Page;
    const pageErrors: string[] = [];
    const shot = (name: string) => page.screenshot({ path: join(screenshots, `demo-${f.flavour}-${name}.png`), fullPage: true });

    test.beforeAll(async ({ browser }) => {
      test.setTimeout(5 * 60 * 1000);
      buildPage();
      server = await serveStatic(pageDir, f.isolated);
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on("pageerror", (e) => pageErrors.push(e.message));
      await page.goto(server.url);
      await whenIdle(page);
    });

    test.afterAll(async () => {
      await page?.close();
      await server?.close();
    });

    test(`the page starts the ${f.flavour} engine`, async () => {
      const runtime = await page.evaluate(() => ({
        isolated: crossOriginIsolated,
        flavour: window.kvliteDemo.engine?.flavour,
        text: document.querySelector("#runtime")!.textContent,
      }));
      expect(runtime.isolated).toBe(f.isolated);
      expect(runtime.flavour).toBe(f.flavour);
      expect(runtime.text).toContain(f.flavour === "mt" ? "threaded" : "single-thread");
      await expect(page.locator("#generate")).toBeDisabled();
    });

    test("the embedded model loads with one click, with a progress bar", async () => {
      await page.click("#load-default");
      await whenIdle(page);
      const state = await page.evaluate(() => ({
        model: window.kvliteDemo.model,
        progress: (document.querySelector("#load-progress") as HTMLProgressElement).value,
        max: (document.querySelector("#load-progress") as HTMLProgressElement).max,
      }));
      expect(state.model?.nLayer).toBeGreaterThan(0);
      expect(state.progress).toBe(state.max);
      await expect(page.locator("#load-text")).toContainText("loaded kvlite-kjv");
      await expect(page.locator("#error")).toBeHidden();
      await expect(page.locator("#generate")).toBeEnabled();
      await expect(page.locator("#extrapolation-table tbody tr")).toHaveCount(2 + PRESETS.length - 1);
    });

    for (const preset of PRESETS) {
      test(`preset "${preset.label}": text streams token by token, the chart matches engine.stats()`, async () => {
        await page.check(`input[name=preset][value=${preset.id}]`);
        // Enough tokens to pass sinks + window (132) and the eviction budget (256).
        await generate(page, { maxTokens: 300 });
        const r = await reading(page);
        expect(pageErrors).toEqual([]);
        await expect(page.locator("#error")).toBeHidden();
        expect(r.plan).toEqual(preset.plan);
        expect(r.text.length).toBeGreaterThan(100);
        expect(r.watch.mutations, "DOM updates of the output").toBeGreaterThan(100);
        expect(r.watch.chartPointsWhileStreaming, "chart points drawn while streaming").toBeGreaterThan(20);
        expect(r.fresh.generation!.generatedTokens).toBeGreaterThan(250);
        expect(r.labels[1]).toContain(preset.label);
        expectChartMatchesStats(r);

        const kv = r.fresh.kv!;
        await expect(page.locator("#ratio-f32")).toHaveText(`${(kv.f32Bytes / kv.usedBytes).toFixed(2)}x`);
        await expect(page.locator("#layers-table tbody tr")).toHaveCount(r.shape.nLayer);
        await expect(page.locator("#prefill-speed")).not.toHaveText("–");
        await expect(page.locator("#decode-speed")).not.toHaveText("–");
        expect(kv.layers.every((l) => l.entropyBits > 0 && l.recentShare > 0 && l.recentShare <= 1)).toBe(true);
        const evicted = kv.layers.reduce((a, l) => a + l.evicted, 0);
        if (preset.plan.eviction === "none") {
          expect(evicted).toBe(0);
          if (preset.id !== "fp32") expect(kv.usedBytes).toBeLessThan(kv.f32Bytes);
        } else {
          expect(evicted).toBeGreaterThan(0);
          await expect(page.locator("#evicted-total")).toHaveText(String(evicted));
        }
        if (preset.plan.pyramid === "fixed") {
          const budgets = kv.layers.map((l) => l.budget);
          expect(budgets).toEqual([...budgets].sort((a, b) => b - a));
          expect(budgets[0]).toBeGreaterThan(budgets.at(-1)!);
        }
        await shot(`preset-${preset.id}`);
      });
    }

    test("Stop ends a generation mid-way and the page stays usable", async () => {
      await page.check("input[name=preset][value=k4v4]");
      await generate(page, { maxTokens: 480, stopAfter: 5 });
      const r = await reading(page);
      expect(r.fresh.generation!.cancelled).toBe(true);
      // Stopped at the 5th piece; the worker runs at most 4 pieces ahead of the page.
      expect(r.fresh.generation!.generatedTokens).toBeLessThanOrEqual(5 + 4 + 1);
      expect(r.text.length).toBeGreaterThan(0);
      await expect(page.locator("#error")).toBeHidden();
      await expect(page.locator("#generate")).toBeEnabled();
      await expect(page.locator("#stop")).toBeDisabled();
    });

    test("a corrupt file shows an error; then a good model loads", async () => {
      const garbage = Buffer.alloc(4096, 0x5a);
      garbage.write("GGUF", 0, "latin1");
      await page.setInputFiles("#file", { name: "corrupt.gguf", mimeType: "application/octet-stream", buffer: garbage });
      await whenIdle(page);
      await expect(page.locator("#error")).toBeVisible();
      await expect(page.locator("#error-text")).toContainText("corrupt.gguf");
      await expect(page.locator("#generate")).toBeDisabled();
      await shot("corrupt-file");

      await page.click("#load-default");
      await whenIdle(page);
      await expect(page.locator("#error")).toBeHidden();
      await generate(page, { maxTokens: 40 });
      expect((await reading(page)).text.length).toBeGreaterThan(10);
    });

    test("a shared model loads through the file input and generates", async () => {
      test.skip(!existsSync(sharedModel), `needs ${sharedModel} (../shared is absent): skipped`);
      await page.setInputFiles("#file", sharedModel);
      await whenIdle(page);
      await expect(page.locator("#error")).toBeHidden();
      expect(await page.evaluate(() => window.kvliteDemo.model?.nLayer)).toBe(5);
      await page.fill("#prompt", "Once upon a time");
      await page.fill("#temperature", "0");
      await page.check("input[name=preset][value=k4v4]");
      await generate(page, { maxTokens: 300 });
      const r = await reading(page);
      expect(r.text).toMatch(/^, there was a little girl named Lily/);
      expect(r.watch.mutations).toBeGreaterThan(100);
      expectChartMatchesStats(r);
      await shot("stories260K");
    });

    test("a GGUF dropped on the page loads", async () => {
      const drop = await page.evaluateHandle(async () => {
        const bytes = await (await fetch("models/kvlite-kjv-q8_0.gguf")).arrayBuffer();
        const data = new DataTransfer();
        data.items.add(new File([bytes], "dropped.gguf"));
        return data;
      });
      await page.dispatchEvent("#kv-card", "dragenter", { dataTransfer: drop });
      await expect(page.locator("#drop-overlay")).toBeVisible();
      await page.dispatchEvent("#kv-card", "drop", { dataTransfer: drop });
      await whenIdle(page);
      await expect(page.locator("#drop-overlay")).toBeHidden();
      await expect(page.locator("#load-text")).toContainText("loaded dropped.gguf");
      await expect(page.locator("#generate")).toBeEnabled();
    });

    test("a model with a chat template runs in chat mode, turn after turn", async () => {
      const chatModel = withMetadataString(embeddedModel, "tokenizer.chat_template", "{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}");
      await page.setInputFiles("#file", { name: "kjv-chat.gguf", mimeType: "application/octet-stream", buffer: chatModel });
      await whenIdle(page);
      await expect(page.locator("#error")).toBeHidden();
      await expect(page.locator("#mode")).toContainText("chat mode (llama2 template)");
      await expect(page.locator("#new-chat")).toBeVisible();
      await page.fill("#temperature", "0.8");
      for (const [turn, prompt] of ["Who made the heaven?", "And the earth?"].entries()) {
        await page.fill("#prompt", prompt);
        await generate(page, { maxTokens: 24 });
        await expect(page.locator("#output .turn")).toHaveCount(2 * (turn + 1));
        await expect(page.locator("#output .turn.user .text").last()).toHaveText(prompt);
        expect((await page.locator("#output .turn.assistant .text").last().textContent())!.length).toBeGreaterThan(5);
        expect(await page.evaluate(() => window.streamWatch!.mutations)).toBeGreaterThan(5);
      }
      await expect(page.locator("#prompt")).toHaveValue("");
      await page.click("#new-chat");
      await expect(page.locator("#output .turn")).toHaveCount(0);
    });

    test("a model too large for memory is refused with a message, before it is read", async () => {
      // ?maxWeightBytes makes the page act like a device with 1 MB to spare.
      await page.goto(`${server.url}?maxWeightBytes=1000000`);
      await whenIdle(page);
      await page.click("#load-default");
      await whenIdle(page);
      await expect(page.locator("#error-text")).toContainText("too large");
      await expect(page.locator("#error-text")).toContainText("bytes for its weights");
      expect(await page.evaluate(() => window.kvliteDemo.model)).toBeNull();
      await expect(page.locator("#generate")).toBeDisabled();
      await expect(page.locator("#load-default")).toBeEnabled();
      expect(pageErrors).toEqual([]);
    });
  });
}
