// Load time and peak renderer memory of a big GGUF in headless Chromium,
// through the kvlite package (wasm/dist) on a plain page (single-thread
// build) and an isolated one (threaded build). The model comes from a file
// input, as a user would pick it. The renderer process (found through CDP's
// process list) holds the page, the worker and its wasm memory. Two figures:
// its private memory (anonymous + shared-memory resident pages, sampled every
// 100 ms: what Chrome's task manager calls the memory footprint) and VmHWM
// (peak resident set, which also counts Chromium's own code pages shared with
// every other process). The target, at most 10% above the model's weights
// plus its KV cache, is judged on the private peak. Run: scripts/bench-load.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

import { test } from "@playwright/test";

import { serveStatic } from "../support/static-server.ts";
import { repoRoot } from "../support/throwaway-app.ts";

const modelPath = process.env.KVLITE_BENCH_MODEL ?? "";
const MiB = 1024 * 1024;

const PAGE = `<!doctype html><meta charset="utf-8"><input type="file" id="file">
<script type="module">
import { Engine } from "/wasm/dist/index.js";
window.bench = async ({ flavour, threads }) => {
  const engine = await Engine.create({ flavour, threads });
  const file = document.querySelector("#file").files[0];
  const t0 = performance.now();
  const info = await engine.load(file, { contextLength: 4096 });
  const loadSeconds = (performance.now() - t0) / 1000;
  const loaded = await engine.stats();
  let pieces = 0;
  for await (const _ of engine.generate("Once upon a time", { maxTokens: 16, temperature: 0 })) pieces++;
  const after = await engine.stats();
  await engine.unload();
  engine.terminate();
  return { info, loadSeconds, loaded, after, pieces };
};
</script>`;

function status(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const m = /^((?:Vm|Rss)\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

test.describe("load benchmark", () => {
  test.skip(!modelPath, "set KVLITE_BENCH_MODEL (scripts/bench-load does)");

  for (const c of [
    { name: "single-thread build, plain page", isolated: false, flavour: "st", threads: 1 },
    { name: "threaded build, isolated page", isolated: true, flavour: "mt", threads: 2 },
  ]) {
    test(c.name, async ({ browser, page }) => {
      const benchDir = join(repoRoot, "build/bench");
      mkdirSync(benchDir, { recursive: true });
      writeFileSync(join(benchDir, "index.html"), PAGE);
      const server = await serveStatic(repoRoot, c.isolated);
      try {
        const cdp = await browser.newBrowserCDPSession();
        await page.goto(`${server.url}build/bench/index.html`);
        await page.setInputFiles("#file", modelPath);
        const { processInfo } = (await cdp.send("SystemInfo.getProcessInfo")) as {
          processInfo: { type: string; id: number }[];
        };
        const renderers = processInfo.filter((p) => p.type === "renderer").map((p) => p.id);
        let privatePeak = 0;
        const timer = setInterval(() => {
          for (const pid of renderers) {
            const s = status(pid);
            privatePeak = Math.max(privatePeak, (s.RssAnon ?? 0) + (s.RssShmem ?? 0));
          }
        }, 100);
        const r = await page.evaluate((args) => (window as any).bench(args), { flavour: c.flavour, threads: c.threads });
        clearInterval(timer);
        const pageCdp = await page.context().newCDPSession(page);
        await pageCdp.send("Performance.enable");
        const { metrics } = await pageCdp.send("Performance.getMetrics");
        const jsHeap = metrics.find((m) => m.name === "JSHeapTotalSize")?.value ?? 0;
        const peak = Math.max(...renderers.map((pid) => status(pid).VmHWM ?? 0));
        const weights = r.info.weightBytes;
        const kv = r.loaded.kv.bytes;
        const base = weights + kv;
        const lines = [
          `bench-load [${c.name}] model ${(r.info.fileBytes / MiB).toFixed(0)} MiB file, ` +
            `${(weights / MiB).toFixed(0)} MiB weights, KV cache ${(kv / MiB).toFixed(0)} MiB (${r.loaded.nCtx} tokens, f32)`,
          `bench-load [${c.name}] load ${r.loadSeconds.toFixed(2)} s (${(r.info.fileBytes / MiB / r.loadSeconds).toFixed(0)} MiB/s); ` +
            `decode ${r.after.generation.generateTokensPerSecond.toFixed(2)} tokens/s, prefill ${r.after.generation.promptTokensPerSecond.toFixed(2)} tokens/s`,
          `bench-load [${c.name}] weights + KV = ${(base / MiB).toFixed(0)} MiB; wasm heap ${(r.loaded.heapBytes / MiB).toFixed(0)} MiB; ` +
            `page JS heap ${(jsHeap / MiB).toFixed(0)} MiB`,
          `bench-load [${c.name}] renderer private memory peak ${(privatePeak / MiB).toFixed(0)} MiB = ` +
            `${((privatePeak / base - 1) * 100).toFixed(1)}% above weights + KV (target <= 10%: ${privatePeak <= base * 1.1 ? "met" : "NOT met"}); ` +
            `VmHWM ${(peak / MiB).toFixed(0)} MiB (${((peak / base - 1) * 100).toFixed(1)}% above)`,
        ];
        for (const line of lines) console.log(line);
      } finally {
        await server.close();
      }
    });
  }
});
