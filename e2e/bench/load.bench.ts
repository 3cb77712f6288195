// Load time and peak renderer memory of a big GGUF in headless Chromium,
// through the kvlite package on a plain page (single-thread build) and an
// isolated one (threaded build). The model comes from a file input, as a user
// would pick it. The renderer process (found through CDP's process list)
// holds the page, the worker and its wasm memory. Two figures: its private
// memory (anonymous + shared-memory resident pages, sampled every 100 ms from
// Engine.create through the load and 16 generated tokens: what Chrome's task
// manager calls the memory footprint; also its peak during the load alone and
// its value right after the load) and VmHWM (peak resident
// set, which also counts Chromium's own code pages shared with every other
// process). The target, at most 10% above the model's weights plus its KV
// cache, is judged on the private peak.
//
// Right before kvlite's load, a platform-floor probe runs in a throwaway
// worker on the same File: (a) reading the whole File with
// FileReaderSync in the loader's slice size, data discarded (the loader's
// read path without the copy), and (b) writing one byte per 4 KiB page of a
// fresh WebAssembly.Memory of the file's size (the page faults that putting
// the weights into wasm memory costs, without any reading). The probe runs
// in another browser context's tab, closed before the engine starts and
// memory is sampled.
//
// Environment (scripts/bench-load sets it):
//   KVLITE_BENCH_MODEL   the GGUF (required)
//   KVLITE_BENCH_RUNS    runs per case (default 1)
//   KVLITE_BENCH_CHUNKS  comma list of read-slice sizes in MiB: each but the
//                        package's own is served from
//                        build/bench/load/dist-chunkN (bench/load-variant.mjs)
//   KVLITE_BENCH_CASES   st, mt or st,mt (default st,mt)
//   KVLITE_BENCH_CTX     context length of the load (default 4096)
// Each run writes build/bench/load/CASE-chunkN-runI.json; bench/load-report.mjs
// turns them into docs/bench-load.md. Run: scripts/bench-load.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";

import { test } from "@playwright/test";

import { serveStatic } from "../support/static-server.ts";
import { repoRoot } from "../support/throwaway-app.ts";

const modelPath = process.env.KVLITE_BENCH_MODEL ?? "";
const runs = Number(process.env.KVLITE_BENCH_RUNS ?? 1);
const contextLength = Number(process.env.KVLITE_BENCH_CTX || 4096);
const MiB = 1024 * 1024;

// The package's own slice size, read from the source so the default run
// needs no variant build.
const shippedChunkMiB = (() => {
  const src = readFileSync(join(repoRoot, "wasm/src/worker-core.ts"), "utf8");
  const m = /^const CHUNK = (\d+) \* 1024 \*\* 2;$/m.exec(src);
  if (!m) throw new Error("wasm/src/worker-core.ts: no `const CHUNK = N * 1024 ** 2;` line");
  return Number(m[1]);
})();
const chunks = (process.env.KVLITE_BENCH_CHUNKS || String(shippedChunkMiB)).split(",").map(Number);
const wantedCases = (process.env.KVLITE_BENCH_CASES || "st,mt").split(",");
const distFor = (chunkMiB: number) =>
  chunkMiB === shippedChunkMiB ? "wasm/dist" : `build/bench/load/dist-chunk${chunkMiB}`;

// The probe worker's source (a blob: URL keeps the page's origin, so on the
// isolated page it may allocate shared memory like the threaded build does).
const PROBE = `
onmessage = ({ data: { file, chunk, shared } }) => {
  // (a) the loader's reads (same slices, same per-slice scavenge), data dropped
  const ring = new Array(1024);
  const reader = new FileReaderSync();
  let t0 = performance.now();
  let bytes = 0;
  for (let at = 0; at < file.size; at += chunk) {
    bytes += reader.readAsArrayBuffer(file.slice(at, Math.min(file.size, at + chunk))).byteLength;
    for (let i = 0; i < 200000; i++) ring[i & 1023] = [i, i, i, i];
  }
  const readSeconds = (performance.now() - t0) / 1000;
  if (bytes !== file.size) throw new Error("short read: " + bytes + " of " + file.size);
  // (b) first touch of a fresh wasm memory of the file's size
  const pages = Math.ceil(file.size / 65536);
  t0 = performance.now();
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  const heap = new Uint8Array(memory.buffer);
  for (let at = 0; at < heap.length; at += 4096) heap[at] = 1;
  const touchSeconds = (performance.now() - t0) / 1000;
  postMessage({ readSeconds, touchSeconds });
};`;

const PAGE = (dist: string) => `<!doctype html><meta charset="utf-8"><input type="file" id="file">
<script type="module">
import { Engine } from "/${dist}/index.js";
const PROBE = ${JSON.stringify(PROBE)};
window.floor = async ({ chunk }) => {
  const file = document.querySelector("#file").files[0];
  const url = URL.createObjectURL(new Blob([PROBE], { type: "text/javascript" }));
  const worker = new Worker(url);
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage({ file, chunk, shared: self.crossOriginIsolated });
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
};
let engine = null;
window.load = async ({ flavour, threads, contextLength }) => {
  const tc = performance.now();
  engine = await Engine.create({ flavour, threads });
  const createSeconds = (performance.now() - tc) / 1000;
  const file = document.querySelector("#file").files[0];
  const t0 = performance.now();
  const info = await engine.load(file, { contextLength });
  const loadSeconds = (performance.now() - t0) / 1000;
  const loaded = await engine.stats();
  return { info, loadSeconds, loaded, createSeconds };
};
window.generate = async () => {
  let pieces = 0;
  let text = "";
  for await (const piece of engine.generate("Once upon a time", { maxTokens: 16, temperature: 0 })) {
    pieces++;
    text += piece;
  }
  const after = await engine.stats();
  await engine.unload();
  engine.terminate();
  return { after, pieces, text };
};
</script>`;

// A renderer that has exited (Chromium's spare renderer, taken by the probe
// tab and gone with it) counts as nothing.
function status(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let text = "";
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const m = /^((?:Vm|Rss)\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}
const privateBytes = (pid: number) => {
  const s = status(pid);
  return (s.RssAnon ?? 0) + (s.RssShmem ?? 0);
};

const CASES = [
  { key: "st", name: "single-thread build, plain page", isolated: false, flavour: "st", threads: 1 },
  { key: "mt", name: "threaded build, isolated page", isolated: true, flavour: "mt", threads: 2 },
].filter((c) => wantedCases.includes(c.key));

test.describe("load benchmark", () => {
  test.skip(!modelPath, "set KVLITE_BENCH_MODEL (scripts/bench-load does)");

  // Runs outermost and slice sizes interleaved, so a slow spell of the shared
  // machine does not land on one configuration only.
  for (let run = 1; run <= runs; run++) {
    for (const chunkMiB of chunks) {
      for (const c of CASES) {
        test(`${c.name}, ${chunkMiB} MiB slices, run ${run}`, async ({ browser, page }) => {
          // A run takes under a minute; one that hangs fails alone.
          test.setTimeout(5 * 60 * 1000);
          const outDir = join(repoRoot, "build/bench/load");
          mkdirSync(outDir, { recursive: true });
          const dist = distFor(chunkMiB);
          const pageFile = `build/bench/load/index-chunk${chunkMiB}.html`;
          writeFileSync(join(repoRoot, pageFile), PAGE(dist));
          const server = await serveStatic(repoRoot, c.isolated);
          try {
            const cdp = await browser.newBrowserCDPSession();
            await page.goto(`${server.url}${pageFile}`);
            await page.setInputFiles("#file", modelPath);
            const { processInfo } = (await cdp.send("SystemInfo.getProcessInfo")) as {
              processInfo: { type: string; id: number }[];
            };
            const renderers = processInfo.filter((p) => p.type === "renderer").map((p) => p.id);
            // The probe runs in a tab of a second browser context (Chromium
            // never shares a renderer across contexts), closed afterwards, so
            // none of its memory is in the renderers measured below.
            const load1 = loadavg()[0];
            const probeContext = await browser.newContext();
            const probe = await probeContext.newPage();
            await probe.goto(`${server.url}${pageFile}`);
            await probe.setInputFiles("#file", modelPath);
            const floor = (await probe.evaluate((args) => (window as any).floor(args), { chunk: chunkMiB * MiB })) as {
              readSeconds: number;
              touchSeconds: number;
            };
            await probeContext.close();
            // The page's own memory before the engine starts.
            const rendererBytes = () => renderers.reduce((sum, pid) => sum + privateBytes(pid), 0);
            const pageBytes = rendererBytes();
            let privatePeak = 0;
            // [ms since Engine.create, private MiB]: where in the load the peak falls.
            const timeline: [number, number][] = [];
            const t0 = Date.now();
            const timer = setInterval(() => {
              const now = rendererBytes();
              privatePeak = Math.max(privatePeak, now);
              timeline.push([Date.now() - t0, Math.round(now / MiB)]);
            }, 100);
            const r = await page.evaluate((args) => (window as any).load(args), { flavour: c.flavour, threads: c.threads, contextLength });
            const loadEndMs = Date.now() - t0;
            // What the loaded engine keeps, against what the load needed on the way (slices in flight, dead ones).
            const loadPeak = privatePeak;
            const settledBytes = rendererBytes();
            const g = await page.evaluate(() => (window as any).generate());
            clearInterval(timer);
            const pageCdp = await page.context().newCDPSession(page);
            await pageCdp.send("Performance.enable");
            const { metrics } = await pageCdp.send("Performance.getMetrics");
            const jsHeap = metrics.find((m) => m.name === "JSHeapTotalSize")?.value ?? 0;
            const peak = Math.max(...renderers.map((pid) => status(pid).VmHWM ?? 0));
            const weights = r.info.weightBytes;
            const kv = r.loaded.kv.bytes;
            const base = weights + kv;
            const tag = `bench-load [${c.name}, ${chunkMiB} MiB slices, run ${run}]`;
            const lines = [
              `${tag} model ${(r.info.fileBytes / MiB).toFixed(0)} MiB file, ` +
                `${(weights / MiB).toFixed(0)} MiB weights, KV cache ${(kv / MiB).toFixed(0)} MiB (${r.loaded.nCtx} tokens, f32); ` +
                `load average ${load1.toFixed(2)}`,
              `${tag} platform floor: FileReaderSync read of the file in ${chunkMiB} MiB slices ${floor.readSeconds.toFixed(2)} s, ` +
                `first touch of a fresh ${(r.info.fileBytes / MiB).toFixed(0)} MiB wasm memory ${floor.touchSeconds.toFixed(2)} s ` +
                `(sum ${(floor.readSeconds + floor.touchSeconds).toFixed(2)} s)`,
              `${tag} kvlite load ${r.loadSeconds.toFixed(2)} s (${(r.info.fileBytes / MiB / r.loadSeconds).toFixed(0)} MiB/s); ` +
                `decode ${g.after.generation.generateTokensPerSecond.toFixed(2)} tokens/s, prefill ${g.after.generation.promptTokensPerSecond.toFixed(2)} tokens/s`,
              `${tag} weights + KV = ${(base / MiB).toFixed(0)} MiB; wasm heap ${(r.loaded.heapBytes / MiB).toFixed(0)} MiB; ` +
                `page JS heap ${(jsHeap / MiB).toFixed(0)} MiB; renderer private memory: page before the engine ${(pageBytes / MiB).toFixed(0)} MiB, ` +
                `peak during the load ${(loadPeak / MiB).toFixed(0)} MiB, right after it ${(settledBytes / MiB).toFixed(0)} MiB`,
              `${tag} renderer private memory peak ${(privatePeak / MiB).toFixed(0)} MiB = ` +
                `${((privatePeak / base - 1) * 100).toFixed(1)}% above weights + KV (target <= 10%: ${privatePeak <= base * 1.1 ? "met" : "NOT met"}); ` +
                `VmHWM ${(peak / MiB).toFixed(0)} MiB (${((peak / base - 1) * 100).toFixed(1)}% above)`,
            ];
            for (const line of lines) console.log(line);
            writeFileSync(
              join(outDir, `${c.key}-chunk${chunkMiB}-run${run}.json`),
              JSON.stringify({
                date: new Date().toISOString(),
                case: c.key,
                name: c.name,
                chunkMiB,
                shippedChunkMiB,
                run,
                loadAverage: load1,
                model: modelPath.split("/").pop(),
                fileBytes: r.info.fileBytes,
                weightBytes: weights,
                kvBytes: kv,
                nCtx: r.loaded.nCtx,
                floorReadSeconds: floor.readSeconds,
                floorTouchSeconds: floor.touchSeconds,
                loadSeconds: r.loadSeconds,
                decodeTokensPerSecond: g.after.generation.generateTokensPerSecond,
                // Greedy output: the same bytes loaded give the same text in every build and run.
                text: g.text,
                pageBytes,
                loadPeakBytes: loadPeak,
                settledBytes,
                privatePeakBytes: privatePeak,
                vmHwmBytes: peak,
                heapBytes: r.loaded.heapBytes,
                mallocBytes: r.loaded.mallocBytes,
                createSeconds: r.createSeconds,
                loadEndMs,
                timeline,
              }, null, 1) + "\n",
            );
            await cdp.detach();
          } finally {
            await server.close();
          }
        });
      }
    }
  }
});
