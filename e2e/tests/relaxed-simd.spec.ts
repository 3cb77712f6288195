// Relaxed SIMD in Chromium, where it runs (node 20 cannot): the kernel tests
// built with the relaxed-SIMD set pass in a page, and the npm package picks
// the -relaxed module by itself and writes exactly the tokens the SIMD128
// module writes (single-thread build, and the threaded one with 2 threads,
// from a URL and from a File read by two readers).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { expect, test } from "@playwright/test";

import { serveStatic } from "../support/static-server.ts";
import { repoRoot } from "../support/throwaway-app.ts";

const buildDir = join(repoRoot, "build");
const pageDir = join(buildDir, "e2e", "relaxed");
const testScript = join(buildDir, "wasm", "bin", "test_kernels_simd_relaxed_web.js");
const cli = join(buildDir, "native", "bin", "kvlite");
const model = join(pageDir, "tiny-q8_0.gguf");

test("kernel tests with the relaxed-SIMD set pass in Chromium", async ({ page }) => {
  test.setTimeout(5 * 60 * 1000);
  expect(existsSync(testScript), `${testScript} (scripts/build --wasm, with clang-19 from scripts/install-deps)`).toBe(
    true,
  );
  mkdirSync(pageDir, { recursive: true });
  writeFileSync(
    join(pageDir, "tests.html"),
    `<!doctype html><meta charset="utf-8"><script>
  window.lines = [];
  var Module = {
    print: (l) => window.lines.push(l), printErr: (l) => window.lines.push(l),
    onExit: (code) => { window.exitCode = code; }, onAbort: (what) => { window.exitCode = "abort: " + what; },
  };
</script><script src="../../wasm/bin/test_kernels_simd_relaxed_web.js"></script>`,
  );
  const server = await serveStatic(buildDir, false);
  try {
    await page.goto(`${server.url}e2e/relaxed/tests.html`);
    await page.waitForFunction(() => (window as any).exitCode !== undefined, null, { timeout: 4 * 60 * 1000 });
    const exit = await page.evaluate(() => (window as any).exitCode);
    const output = (await page.evaluate(() => (window as any).lines as string[])).join("\n");
    expect(exit, output).toBe(0);
    expect(output).toMatch(/^\[ {7}OK \] KernelsSimd\.RelaxedDotsEqualSimd128BitForBit/m);
    expect(output).toMatch(/^\[ {7}OK \] KernelsSimd\.RowDotProductsMatchScalar/m);
    expect(output).not.toMatch(/SKIPPED/);
  } finally {
    await server.close();
  }
});

const PAGE = `<!doctype html><meta charset="utf-8"><input type="file" id="file"><script type="module">
import { Engine } from "/wasm/dist/index.js";
window.run = async ({ simd, flavour, threads, fromFile }) => {
  const engine = await Engine.create({ simd, flavour, threads });
  const source = fromFile ? document.querySelector("#file").files[0]
                          : new URL("/build/e2e/relaxed/tiny-q8_0.gguf", location.href).href;
  await engine.load(source, { contextLength: 256 });
  let text = "";
  for await (const piece of engine.generate("Once upon a time", { maxTokens: 24, temperature: 0 })) text += piece;
  const stats = await engine.stats();
  engine.terminate();
  return { text, kernels: stats.kernels, flavour: stats.flavour, threads: stats.threads };
};
</script>`;

test("the package runs the relaxed-SIMD module by default, with the SIMD128 module's tokens", async ({ page }) => {
  test.setTimeout(5 * 60 * 1000);
  expect(existsSync(cli), `${cli} (scripts/build)`).toBe(true);
  mkdirSync(pageDir, { recursive: true });
  // Random weights of a small Llama shape in Q8_0: the relaxed kernels carry its matmuls.
  if (!existsSync(model)) execFileSync(cli, ["gen-model", "--shape", "tiny", "--type", "Q8_0", "-o", model]);
  writeFileSync(join(pageDir, "index.html"), PAGE);
  const server = await serveStatic(repoRoot, true);
  try {
    await page.goto(`${server.url}build/e2e/relaxed/index.html`);
    const run = (args: object) => page.evaluate((a) => (window as any).run(a), args);
    const baseline = await run({ simd: "simd128", flavour: "st" });
    expect(baseline.kernels).toBe("simd128");
    expect(baseline.text.length).toBeGreaterThan(0);
    const relaxed = await run({ flavour: "st" });
    expect(relaxed.kernels).toBe("simd128-relaxed");
    expect(relaxed.text).toBe(baseline.text);
    const threaded = await run({ flavour: "mt", threads: 2 });
    expect(threaded).toEqual({ text: baseline.text, kernels: "simd128-relaxed", flavour: "mt", threads: 2 });
    // From a File, the threaded build reads tensors of 8 MiB or more with two
    // readers (this model's embedding is one): the same weights, the same text.
    await page.setInputFiles("#file", model);
    const fromFile = await run({ flavour: "mt", threads: 2, fromFile: true });
    expect(fromFile).toEqual(threaded);
  } finally {
    await server.close();
  }
});
