// Builds a copy of the package (wasm/dist, which must be built) whose browser
// worker reads Files and URLs in slices of another size: the same sources
// bundled the way wasm/build.mjs does, with only worker-core.ts's CHUNK line
// changed. For the slice-size sweep of scripts/bench-load; the package itself
// is not touched.
//   node bench/load-variant.mjs MIB   -> build/bench/load/dist-chunkMIB/
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const mib = Number(process.argv[2]);
if (!Number.isInteger(mib) || mib < 1) {
  console.error("usage: node bench/load-variant.mjs MIB");
  process.exit(2);
}
const { build } = createRequire(join(root, "wasm/package.json"))("esbuild");

const dist = join(root, "wasm/dist");
const out = join(root, `build/bench/load/dist-chunk${mib}`);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of readdirSync(dist)) if (statSync(join(dist, f)).isFile()) copyFileSync(join(dist, f), join(out, f));

const LINE = /^const CHUNK = \d+ \* 1024 \*\* 2;$/m;
const swapChunk = {
  name: "chunk",
  setup(b) {
    b.onLoad({ filter: /worker-core\.ts$/ }, (args) => {
      const src = readFileSync(args.path, "utf8");
      if (!LINE.test(src)) throw new Error(`${args.path}: no \`const CHUNK = N * 1024 ** 2;\` line`);
      return { contents: src.replace(LINE, `const CHUNK = ${mib} * 1024 ** 2;`), loader: "ts" };
    });
  },
};
await build({
  bundle: true, format: "esm", target: "es2022", sourcemap: false, logLevel: "warning", platform: "browser",
  entryPoints: [join(root, "wasm/src/worker.ts")], outfile: join(out, "worker.js"), plugins: [swapChunk],
});
console.log(`load-variant: ${out} reads in ${mib} MiB slices`);
