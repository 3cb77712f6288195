// Builds the npm package into dist/: bundles the API and worker entries with
// esbuild, emits .d.ts with tsc, and copies the Emscripten outputs (glue,
// .wasm, pthread worker) from the CMake build next to them, since the worker
// finds them by `new URL("./file", import.meta.url)`.
// Usage: node build.mjs [WASM_DIR]  (default: $KVLITE_WASM_DIR, else the newer
// of ../build/wasm/wasm (scripts/build --wasm) and ../build/web/wasm)
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const given = process.argv[2] ?? process.env.KVLITE_WASM_DIR;
const candidates = (given ? [given] : ["../build/wasm/wasm", "../build/web/wasm"]).map((d) => join(here, d));
const wasmFiles = ["kvlite-st.js", "kvlite-st.wasm", "kvlite-mt.js", "kvlite-mt.wasm", "kvlite-mt.worker.js"].flatMap(
  // Each build again with relaxed-SIMD kernels (made where clang-19 is installed: scripts/install-deps).
  (f) => (f.endsWith(".worker.js") ? [f] : [f, f.replace(/^(kvlite-[sm]t)/, "$1-relaxed")]),
);
// A folder counts once both flavours are there; its age is its oldest file's.
const built = (d) =>
  wasmFiles.every((f) => existsSync(join(d, f))) ? Math.min(...wasmFiles.map((f) => statSync(join(d, f)).mtimeMs)) : 0;
const wasmDir = candidates.filter(built).sort((a, b) => built(b) - built(a))[0];
if (!wasmDir) {
  console.error(
    `build.mjs: no complete wasm build (${wasmFiles.join(", ")}) in ${candidates.join(", ")}; ` +
      "run scripts/install-deps (clang-19 builds the -relaxed modules) and scripts/build --wasm first",
  );
  process.exit(1);
}

const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);

for (const f of wasmFiles) copyFileSync(join(wasmDir, f), join(dist, f));

const common = { bundle: true, format: "esm", target: "es2022", sourcemap: false, logLevel: "warning" };
await build({ ...common, entryPoints: ["src/index.ts", "src/worker.ts"], outdir: dist, platform: "browser" });
await build({ ...common, entryPoints: ["src/node.ts", "src/worker-node.ts"], outdir: dist, platform: "node" });

execFileSync(join(here, "node_modules/.bin/tsc"), ["-p", join(here, "tsconfig.json")], { stdio: "inherit" });
console.log(`build.mjs: dist/ built from ${wasmDir}`);
