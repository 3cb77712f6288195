// The speed race (scripts/bench-browser): kvlite and wllama (the pinned
// @wllama/wllama devDependency, llama.cpp in wasm) take turns in the same
// headless Chromium on the same GGUF files, read from a file input as a user
// would pick them, on a cross-origin-isolated page (both need it for
// threads). Each run is a fresh page: load, a 128-token prompt (BOS
// included), 128 greedy tokens. Figures per run: load time (File to ready),
// each engine's own prompt and generation timings, and the renderer's peak
// private memory (anonymous + shared-memory resident pages of the renderer
// processes, sampled every 50 ms: the page, its workers and their wasm
// memory). The native CLI runs the same files for the roofline column.
// Results go to build/bench/race/MODEL.json; e2e/bench/race-report.mjs writes
// the markdown tables.
// Settings (environment): KVLITE_RACE_MODELS (paths, comma-separated),
// KVLITE_RACE_RUNS (default 3), KVLITE_RACE_THREADS (default "1,2").
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

import { test, type Browser } from "@playwright/test";
import llama3Tokenizer from "llama3-tokenizer-js";

import { serveStatic } from "../support/static-server.ts";
import { repoRoot } from "../support/throwaway-app.ts";

const models = (process.env.KVLITE_RACE_MODELS ?? "").split(",").filter(Boolean);
const runs = Number(process.env.KVLITE_RACE_RUNS ?? 3);
const threadCounts = (process.env.KVLITE_RACE_THREADS ?? "1,2").split(",").map(Number);
const PROMPT_TOKENS = 128;  // BOS included
const GEN_TOKENS = 128;
const N_CTX = 512;

// 127 tokens of text (plus BOS: 128) that both engines tokenize alike, since
// both models carry Llama 3's tokenizer. Cut from a longer text by token
// count and checked to survive a decode/encode round trip.
function promptText(): string {
  const source =
    "The old lighthouse keeper climbed the spiral stairs every evening at dusk, counting each of the two " +
    "hundred and twelve steps as his father had taught him. From the lamp room he could see the whole bay: " +
    "fishing boats returning with their nets, gulls wheeling over the harbour wall, and far out on the " +
    "horizon the grey silhouette of the cargo ships bound for distant ports. He trimmed the wick, polished " +
    "the great lens until it shone, and wrote the weather in his logbook in a careful, slanting hand. Some " +
    "nights the fog rolled in so thick that the beam seemed to stop a few yards from the glass, and then he " +
    "would sound the horn every thirty seconds until dawn, drinking strong tea to stay awake and listening " +
    "for the answering bells of the buoys.";
  const ids = llama3Tokenizer.encode(source, { bos: false, eos: false }).slice(0, PROMPT_TOKENS - 1);
  const text = llama3Tokenizer.decode(ids);
  const again = llama3Tokenizer.encode(text, { bos: false, eos: false });
  if (again.length !== PROMPT_TOKENS - 1) throw new Error(`prompt re-encodes to ${again.length} tokens`);
  return text;
}

// wllama 3.13 fails a completion whose text holds a token that is not whole
// UTF-8 on its own (its worker protocol then reads "Invalid typed array
// length": a byte length gone astray), and random weights pick such byte
// fragments often. A logit bias of -100 keeps wllama off those 1352 tokens;
// that changes which tokens come out, not what a step costs. kvlite gets no
// bias (it has no such option, and needs none).
function utf8FragmentBias(): Record<string, number> {
  // GPT-2's byte-to-unicode alphabet: printable Latin-1 bytes stand for
  // themselves, the others for code points from 256 up, in byte order.
  const byteOf = new Map<string, number>();
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    byteOf.set(String.fromCodePoint(printable ? b : 256 + shifted++), b);
  }
  const strict = new TextDecoder("utf-8", { fatal: true });
  const bias: Record<string, number> = {};
  (llama3Tokenizer as unknown as { vocabById: string[] }).vocabById.forEach((token, id) => {
    if (token.startsWith("<|")) return;
    try {
      strict.decode(Uint8Array.from([...token].map((c) => byteOf.get(c) ?? 0)));
    } catch {
      bias[String(id)] = -100;
    }
  });
  return bias;
}

const PAGE = `<!doctype html><meta charset="utf-8"><input type="file" id="file">
<script type="module">
import { Engine } from "/wasm/dist/index.js";
import { Wllama } from "/e2e/node_modules/@wllama/wllama/esm/index.js";

const file = () => document.querySelector("#file").files[0];

window.runKvlite = async ({ threads, prompt, genTokens, nCtx, simd }) => {
  const engine = await Engine.create({ flavour: threads > 1 ? "mt" : "st", threads, simd });
  const t0 = performance.now();
  await engine.load(file(), { contextLength: nCtx });
  const loadSeconds = (performance.now() - t0) / 1000;
  for await (const _ of engine.generate(prompt, { maxTokens: genTokens, temperature: 0 })) {}
  const stats = await engine.stats();
  const g = stats.generation;
  await engine.unload();
  engine.terminate();
  return { loadSeconds, promptTokens: g.promptTokens, promptTps: g.promptTokensPerSecond,
           genTokens: g.generatedTokens, genTps: g.generateTokensPerSecond, kernels: stats.kernels };
};

window.runWllama = async ({ threads, prompt, genTokens, nCtx, bias }) => {
  // (suppressNativeLog: true breaks its worker protocol in this version: "Invalid typed array length".)
  const wllama = new Wllama({ default: "/e2e/node_modules/@wllama/wllama/esm/wasm/wllama.wasm" });
  const t0 = performance.now();
  // CPU only (headless Chromium has no GPU here), no warm-up pass: load is File to ready, as for kvlite.
  await wllama.loadModel([file()], { n_threads: threads, n_ctx: nCtx, n_gpu_layers: 0, warmup: false });
  const loadSeconds = (performance.now() - t0) / 1000;
  const r = await wllama.createCompletion({ prompt, max_tokens: genTokens, temperature: 0, ignore_eos: true,
                                          logit_bias: bias });
  await wllama.exit();
  const t = r.timings;
  return { loadSeconds, promptTokens: t.prompt_n, promptTps: t.prompt_per_second,
           genTokens: t.predicted_n, genTps: t.predicted_per_second };
};
</script>`;

// "kvlite": the package's default (relaxed SIMD where Chromium runs it);
// "kvlite simd128": the same forced onto its SIMD128 module, for the side-by-side gain.
type BrowserEngine = "kvlite" | "kvlite simd128" | "wllama";

interface Run {
  engine: BrowserEngine | "kvlite native";
  kernels?: string;
  threads: number;
  run: number;
  loadSeconds: number;
  promptTokens: number;
  promptTps: number;
  genTokens: number;
  genTps: number;
  peakBytes: number;
  baselineBytes: number;  // the renderers' private memory with the page loaded, before the engine starts
  error?: string;
}

function privateBytes(pid: number): number {
  try {
    let bytes = 0;
    for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      const m = /^(RssAnon|RssShmem):\s+(\d+) kB/.exec(line);
      if (m) bytes += Number(m[2]) * 1024;
    }
    return bytes;
  } catch {
    return 0;  // the process has gone
  }
}

async function browserRun(browser: Browser, url: string, model: string, engine: BrowserEngine,
                          threads: number, prompt: string, bias: Record<string, number>): Promise<Omit<Run, "run">> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await browser.newBrowserCDPSession();
  let peakBytes = 0, baselineBytes = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    await page.goto(url);
    await page.setInputFiles("#file", model);
    const { processInfo } = (await cdp.send("SystemInfo.getProcessInfo")) as {
      processInfo: { type: string; id: number }[];
    };
    const renderers = processInfo.filter((p) => p.type === "renderer").map((p) => p.id);
    const sample = () => renderers.reduce((sum, pid) => sum + privateBytes(pid), 0);
    baselineBytes = sample();
    timer = setInterval(() => {
      peakBytes = Math.max(peakBytes, sample());
    }, 50);
    const fn = engine === "wllama" ? "runWllama" : "runKvlite";
    const simd = engine === "kvlite simd128" ? "simd128" : undefined;
    const r = await page.evaluate(([f, args]) => (window as any)[f](args), [
      fn,
      { threads, prompt, genTokens: GEN_TOKENS, nCtx: N_CTX, bias, simd },
    ] as const);
    return { engine, threads, ...r, peakBytes, baselineBytes };
  } catch (e) {
    return { engine, threads, loadSeconds: 0, promptTokens: 0, promptTps: 0, genTokens: 0, genTps: 0, peakBytes,
             baselineBytes, error: String(e).split("\n")[0] };
  } finally {
    clearInterval(timer);
    await cdp.detach().catch(() => {});
    await context.close();
  }
}

// The native CLI: the same file, prompt and token counts; its own timings.
function nativeRun(model: string, threads: number, prompt: string): Omit<Run, "run"> {
  const kvlite = join(repoRoot, "build/native/bin/kvlite");
  const t0 = performance.now();
  const out = execFileSync(
    "bash",
    ["-c", '"$0" generate -m "$1" -p "$2" -n "$3" --temp 0 -t "$4" -c "$5" 2>&1 >/dev/null',
     kvlite, model, prompt, String(GEN_TOKENS), String(threads), String(N_CTX)],
    { encoding: "utf8" },
  );
  const wall = (performance.now() - t0) / 1000;
  const p = /prompt: (\d+) tokens in ([\d.]+) s/.exec(out);
  const g = /generate: (\d+) tokens in ([\d.]+) s/.exec(out);
  if (!p || !g) throw new Error(`kvlite generate printed no timings: ${out}`);
  return {
    engine: "kvlite native", threads,
    loadSeconds: wall - Number(p[2]) - Number(g[2]),
    promptTokens: Number(p[1]), promptTps: Number(p[1]) / Number(p[2]),
    genTokens: Number(g[1]), genTps: Number(g[1]) / Number(g[2]),
    peakBytes: 0,
    baselineBytes: 0,
  };
}

test.describe("speed race", () => {
  test.skip(models.length === 0, "set KVLITE_RACE_MODELS (scripts/bench-browser does)");

  test("kvlite vs wllama", async ({ browser }) => {
    // A 1B model on a busy 2-core machine takes about half an hour per run set.
    test.setTimeout(4 * 60 * 60 * 1000);
    const prompt = promptText();
    const bias = utf8FragmentBias();
    const benchDir = join(repoRoot, "build/bench");
    mkdirSync(benchDir, { recursive: true });
    writeFileSync(join(benchDir, "race.html"), PAGE);
    const server = await serveStatic(repoRoot, true);
    mkdirSync(join(benchDir, "race"), { recursive: true });
    try {
      for (const model of models) {
        const fileBytes = Number(execFileSync("stat", ["-c", "%s", model], { encoding: "utf8" }));
        const entry = { date: new Date().toISOString(), model: basename(model), fileBytes, runs: [] as Run[] };
        for (const threads of threadCounts) {
          for (let run = 0; run < runs; ++run) {
            // Alternate which engine goes first, so neither always meets a warmer machine.
            const order: BrowserEngine[] =
              run % 2 === 0 ? ["kvlite", "wllama", "kvlite simd128"] : ["kvlite simd128", "wllama", "kvlite"];
            for (const engine of order) {
              const r = await browserRun(browser, `${server.url}build/bench/race.html`, model, engine, threads, prompt, bias);
              entry.runs.push({ ...r, run });
              console.log(`race ${entry.model} ${engine} t${threads} #${run}: ` + JSON.stringify(r));
            }
            const n = nativeRun(model, threads, prompt);
            entry.runs.push({ ...n, run });
            console.log(`race ${entry.model} native t${threads} #${run}: ` + JSON.stringify(n));
            // One file per model, so a rerun of one model keeps the others' results; written after every
            // run so that a stopped benchmark keeps what it measured.
            writeFileSync(join(benchDir, "race", `${entry.model}.json`), JSON.stringify(entry, null, 1));
          }
        }
      }
    } finally {
      await server.close();
    }
  });
});
