// Builds what a web developer would: `npm pack` the kvlite package, install
// the tarball and vite@7 into a fresh app in a temporary folder, and
// `vite build` a page that uses `import { Engine } from "kvlite"`.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const repoRoot = join(import.meta.dirname, "../..");

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
}

const MAIN_JS = `
import { Engine, KvliteError } from "kvlite";

const out = document.querySelector("#out");

// The test drives the page through this one function and inspects what it returns.
window.runKvlite = async ({ source, flavour, threads, prompt, maxTokens }) => {
  const engine = await Engine.create({ flavour, threads });
  try {
    const model = source === "file" ? document.querySelector("#file").files[0] : source;
    let progressEvents = 0;
    const t0 = performance.now();
    const info = await engine.load(model, { onProgress: () => progressEvents++ });
    const loadMs = performance.now() - t0;
    const pieces = [];
    for await (const piece of engine.generate(prompt, { maxTokens, temperature: 0 })) {
      pieces.push(piece);
      out.textContent += piece;
    }
    const stats = await engine.stats();

    const controller = new AbortController();
    let seen = 0, abortName = "";
    try {
      for await (const _ of engine.generate(" Then", { maxTokens: 200, temperature: 0, signal: controller.signal })) {
        if (++seen === 2) controller.abort();
      }
    } catch (e) {
      abortName = e.name;
    }
    const afterAbort = await engine.stats();

    let badError = null;
    try {
      await engine.load(new Uint8Array(1000), { name: "broken.gguf" });
    } catch (e) {
      badError = { isKvlite: e instanceof KvliteError, code: e.code, message: e.message };
    }
    await engine.load(model);
    const again = [];
    for await (const piece of engine.generate(prompt, { maxTokens: 8, temperature: 0 })) again.push(piece);

    return {
      isolated: globalThis.crossOriginIsolated === true,
      flavour: engine.flavour,
      threads: engine.threads,
      nLayer: info.nLayer,
      loadMs,
      progressEvents,
      text: pieces.join(""),
      pieces: pieces.length,
      generated: stats.generation.generatedTokens,
      tokensPerSecond: stats.generation.generateTokensPerSecond,
      abortName,
      abortedGenerated: afterAbort.generation.generatedTokens,
      abortedFlag: afterAbort.generation.cancelled,
      badError,
      again: again.join(""),
    };
  } finally {
    engine.terminate();
  }
};
`;

const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>kvlite in a fresh Vite app</title></head>
<body><input type="file" id="file"><pre id="out"></pre><script type="module" src="/main.js"></script></body></html>
`;

/** Returns the folder of the built app (its dist/), with `modelFile` in it as model.gguf. */
export function buildThrowawayApp(modelFile: string): string {
  const work = mkdtempSync(join(tmpdir(), "kvlite-vite-"));
  const packDir = join(work, "pack");
  mkdirSync(packDir);
  run("npm", ["pack", "--pack-destination", packDir], join(repoRoot, "wasm"));
  const tarball = readdirSync(packDir).find((f) => f.endsWith(".tgz"));
  if (!tarball) throw new Error("npm pack produced no tarball");

  const app = join(work, "app");
  mkdirSync(join(app, "public"), { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "kvlite-throwaway", private: true, type: "module" }));
  writeFileSync(join(app, "index.html"), INDEX_HTML);
  writeFileSync(join(app, "main.js"), MAIN_JS);
  copyFileSync(modelFile, join(app, "public", "model.gguf"));
  run("npm", ["install", "--no-audit", "--no-fund", "vite@7", join(packDir, tarball)], app);
  run("npx", ["vite", "build"], app);
  return join(app, "dist");
}
