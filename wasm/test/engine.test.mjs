// The package's API under Node, on the real trained model in ../shared:
// greedy text identical to the native CLI, cancel within a token, errors that
// leave the engine usable, and no wasm memory growth over load/unload cycles.
// Run: npm run build && node --test test/   (from wasm/)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { Engine, KvliteError } from "kvlite";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const modelPath = join(root, "../shared/models/stories260K.gguf");
const cli = join(root, "build/native/bin/kvlite");
const haveModel = existsSync(modelPath);
const skip = haveModel ? false : `needs ${modelPath} (../shared absent)`;
const PROMPT = "Once upon a time";

let engine;
let modelBytes;

before(async () => {
  engine = await Engine.create();
  if (haveModel) modelBytes = readFileSync(modelPath);
});
after(() => engine?.terminate());

async function collect(iterable) {
  const pieces = [];
  for await (const piece of iterable) pieces.push(piece);
  return pieces;
}

test("greedy generation matches the native CLI", { skip }, async (t) => {
  const info = await engine.load(new Uint8Array(modelBytes), { name: "stories260K.gguf" });
  assert.equal(info.architecture, "llama");
  assert.equal(info.nLayer, 5);
  const pieces = await collect(engine.generate(PROMPT, { maxTokens: 64, temperature: 0 }));
  assert.ok(pieces.length > 10, "streams piece by piece");
  const text = pieces.join("");
  assert.match(text, /^, there was a little girl named Lily/);
  if (!existsSync(cli)) return t.diagnostic(`no ${cli}: compared with the reference prefix only`);
  const native = execFileSync(cli, ["generate", "-m", modelPath, "-p", PROMPT, "-n", "64", "--temp", "0"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  assert.equal(text, native.replace(/\n$/, ""), "the CLI ends its output with one newline");
});

test("stats report speed, context and the KV cache per layer", { skip }, async () => {
  await engine.load(new Uint8Array(modelBytes));
  await collect(engine.generate(PROMPT, { maxTokens: 8, temperature: 0 }));
  const stats = await engine.stats();
  assert.equal(stats.flavour, "st");
  assert.equal(stats.kernels, "simd128", "node 20 runs the SIMD128 build");
  assert.ok(stats.generation.generatedTokens > 0);
  assert.ok(stats.generation.generateTokensPerSecond > 0);
  assert.equal(stats.kv.layers.length, 5);
  assert.ok(stats.kv.bytes > 0);
  assert.equal(stats.nPast, stats.generation.promptTokens + stats.generation.generatedTokens);
});

test("generate continues the conversation; reset starts it again", { skip }, async () => {
  await engine.load(new Uint8Array(modelBytes));
  const first = (await collect(engine.generate(PROMPT, { maxTokens: 12, temperature: 0 }))).join("");
  const afterFirst = (await engine.stats()).nPast;
  await collect(engine.generate(" Then", { maxTokens: 12, temperature: 0 }));
  const afterSecond = await engine.stats();
  assert.equal(afterSecond.nPast, afterFirst + afterSecond.generation.promptTokens + afterSecond.generation.generatedTokens);
  await engine.reset();
  assert.equal((await engine.stats()).nPast, 0);
  const again = (await collect(engine.generate(PROMPT, { maxTokens: 12, temperature: 0 }))).join("");
  assert.equal(again, first);
});

test("sampling with a seed is reproducible", { skip }, async () => {
  await engine.load(new Uint8Array(modelBytes));
  const opts = { maxTokens: 24, temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, seed: 7 };
  const a = (await collect(engine.generate(PROMPT, opts))).join("");
  await engine.reset();
  const b = (await collect(engine.generate(PROMPT, opts))).join("");
  assert.equal(a, b);
});

test("an AbortSignal stops generation within one token, and the engine goes on", { skip }, async () => {
  await engine.load(new Uint8Array(modelBytes));
  const controller = new AbortController();
  const pieces = [];
  await assert.rejects(async () => {
    for await (const piece of engine.generate(PROMPT, { maxTokens: 200, temperature: 0, signal: controller.signal })) {
      pieces.push(piece);
      if (pieces.length === 3) controller.abort();
    }
  }, { name: "AbortError" });
  assert.equal(pieces.length, 3, "nothing is handed out after the abort");
  // The worker runs at most PIECES_AHEAD (4) pieces ahead of the reader and
  // stops at the next token boundary.
  const stats = await engine.stats();
  assert.equal(stats.generation.cancelled, true);
  assert.ok(stats.generation.generatedTokens <= 3 + 4 + 1, `generated ${stats.generation.generatedTokens}`);
  const more = await collect(engine.generate(" The end.", { maxTokens: 4, temperature: 0 }));
  assert.ok(more.length > 0);
});

test("breaking out of the loop stops generation", { skip }, async () => {
  await engine.load(new Uint8Array(modelBytes));
  let n = 0;
  for await (const _ of engine.generate(PROMPT, { maxTokens: 200, temperature: 0 })) if (++n === 2) break;
  const stats = await engine.stats();
  assert.equal(stats.generation.cancelled, true);
  assert.ok(stats.generation.generatedTokens <= 2 + 4 + 1, `generated ${stats.generation.generatedTokens}`);
});

test("a bad file is refused with the core's message, then a good file loads", { skip }, async () => {
  const garbage = new Uint8Array(4096).fill(7);
  await assert.rejects(engine.load(garbage, { name: "garbage.gguf" }), (e) => {
    assert.ok(e instanceof KvliteError);
    assert.equal(e.code, "bad-model");
    assert.match(e.message, /garbage\.gguf/);
    return true;
  });
  const truncated = modelBytes.subarray(0, modelBytes.length - 1000);
  await assert.rejects(engine.load(new Uint8Array(truncated), { name: "truncated.gguf" }), (e) => {
    assert.equal(e.code, "bad-model");
    return true;
  });
  await assert.rejects(collect(engine.generate(PROMPT)), (e) => e.code === "no-model");
  await engine.load(new Blob([modelBytes]), { name: "good.gguf" });
  const text = (await collect(engine.generate(PROMPT, { maxTokens: 8, temperature: 0 }))).join("");
  assert.match(text, /^, there was/);
});

test("a model too large is refused before reading, with the bytes it needs", { skip }, async () => {
  const progress = [];
  await assert.rejects(
    engine.load(new Uint8Array(modelBytes), { maxWeightBytes: 100_000, onProgress: (p) => progress.push(p) }),
    (e) => {
      assert.equal(e.code, "too-large");
      assert.ok(e.bytesNeeded > 100_000, `bytesNeeded ${e.bytesNeeded}`);
      assert.match(e.message, /needs \d+ bytes/);
      return true;
    },
  );
  assert.equal(progress.length, 0, "no tensor was read");
});

test("load reports progress up to the total", { skip }, async () => {
  const progress = [];
  await engine.load(new Uint8Array(modelBytes), { onProgress: (p) => progress.push(p) });
  assert.ok(progress.length > 1);
  const last = progress.at(-1);
  assert.equal(last.phase, "weights");
  assert.equal(last.loaded, last.total);
});

test("unload and reload 20 times without wasm memory growth", { skip }, async () => {
  const sizes = [];
  for (let i = 0; i < 20; ++i) {
    await engine.load(new Uint8Array(modelBytes));
    await collect(engine.generate(PROMPT, { maxTokens: 4, temperature: 0 }));
    await engine.unload();
    const stats = await engine.stats();
    sizes.push({ heap: stats.heapBytes, malloc: stats.mallocBytes });
  }
  // The heap may grow on the first cycles while malloc settles, never after.
  const settled = sizes.slice(2);
  assert.ok(settled.every((s) => s.heap === settled[0].heap), `heap sizes ${settled.map((s) => s.heap)}`);
  assert.ok(settled.every((s) => s.malloc === settled[0].malloc), `malloc in use ${settled.map((s) => s.malloc)}`);
});

test("KV options rebuild the cache and show in the stats", { skip }, async () => {
  await engine.load(new Uint8Array(modelBytes));
  const kv = { kType: "q8", vType: "f16", window: 16 };
  await collect(engine.generate(PROMPT, { maxTokens: 32, temperature: 0, kv }));
  const stats = await engine.stats();
  assert.equal(stats.kv.kType, "q8");
  assert.equal(stats.kv.vType, "f16");
  await assert.rejects(collect(engine.generate(PROMPT, { kv: { kType: "q9" } })), (e) => e.code === "bad-argument");
});

test("aborting a load stops it at the next tensor; the next load works", { skip }, async () => {
  const controller = new AbortController();
  await assert.rejects(
    engine.load(new Uint8Array(modelBytes), { signal: controller.signal, onProgress: () => controller.abort() }),
    { name: "AbortError" },
  );
  assert.equal(engine.model, null);
  await engine.load(new Uint8Array(modelBytes));
  const text = (await collect(engine.generate(PROMPT, { maxTokens: 4, temperature: 0 }))).join("");
  assert.match(text, /^, there/);
});

test("a URL is fetched (streamed when the server has no Range support)", { skip }, async () => {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => res.end(req.url === "/model.gguf" ? modelBytes : "missing"));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${server.address().port}/model.gguf`;
    const phases = new Set();
    const info = await engine.load(url, { onProgress: (p) => phases.add(p.phase) });
    assert.equal(info.nLayer, 5);
    assert.deepEqual([...phases].sort(), ["download", "weights"]);
    const text = (await collect(engine.generate(PROMPT, { maxTokens: 4, temperature: 0 }))).join("");
    assert.match(text, /^, there/);
  } finally {
    server.close();
  }
});

test("chat formats the conversation and streams a reply from a fresh context", { skip }, async () => {
  const info = await engine.load(new Uint8Array(modelBytes));
  assert.equal(info.chatTemplate, null, "stories260K has no chat template: a plain transcript is used");
  const messages = [{ role: "user", content: "Tell me a story." }];
  const a = (await collect(engine.chat(messages, { maxTokens: 8, temperature: 0 }))).join("");
  const b = (await collect(engine.chat(messages, { maxTokens: 8, temperature: 0 }))).join("");
  assert.ok(a.length > 0);
  assert.equal(a, b, "each chat call starts from a fresh context");
  const stats = await engine.stats();
  const prompt = await engine.tokenize("user: Tell me a story.\nassistant:");
  assert.equal(stats.generation.promptTokens, prompt.length);
});

test("asking for relaxed SIMD under Node fails clearly", async () => {
  await assert.rejects(Engine.create({ simd: "relaxed" }), (e) => {
    assert.ok(e instanceof KvliteError);
    assert.equal(e.code, "bad-argument");
    assert.match(e.message, /relaxed SIMD runs only in browsers/);
    return true;
  });
});
