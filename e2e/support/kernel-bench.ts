// Runs kvlite-bench (the kernel benchmark, built for the web as
// kvlite-bench-web by the wasm build trees) in a Chromium page and returns
// the lines it printed. The threaded build needs a cross-origin-isolated page,
// so everything is served from build/ with COOP/COEP.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { Page } from "@playwright/test";

import { serveStatic } from "./static-server.ts";
import { repoRoot } from "./throwaway-app.ts";

export type BenchFlavour = "wasm" | "wasm-mt";

// relaxed: the build with the relaxed-SIMD kernel set added (kvlite-bench-web-relaxed).
export function benchScript(flavour: BenchFlavour, relaxed = false): string {
  return join(repoRoot, "build", flavour, "bin", relaxed ? "kvlite-bench-web-relaxed.js" : "kvlite-bench-web.js");
}

export async function runKernelBench(
  page: Page,
  flavour: BenchFlavour,
  args: string[],
  timeoutMs: number,
  relaxed = false,
) {
  const name = relaxed ? `${flavour}-relaxed` : flavour;
  const buildDir = join(repoRoot, "build");
  const pageDir = join(buildDir, "e2e", "kernel-bench");
  mkdirSync(pageDir, { recursive: true });
  writeFileSync(
    join(pageDir, `${name}.html`),
    `<!doctype html><meta charset="utf-8"><title>kvlite-bench</title>
<script>
  window.benchLines = [];
  var Module = {
    arguments: ${JSON.stringify(args)},
    print: (line) => window.benchLines.push(line),
    printErr: (line) => window.benchLines.push(line),
    onExit: (code) => { window.benchExit = code; },
    onAbort: (what) => { window.benchExit = "abort: " + what; },
  };
</script>
<script src="../../${flavour}/bin/${relaxed ? "kvlite-bench-web-relaxed" : "kvlite-bench-web"}.js"></script>
`,
  );
  const server = await serveStatic(buildDir, true);
  try {
    await page.goto(`${server.url}e2e/kernel-bench/${name}.html`);
    await page.waitForFunction(() => (window as unknown as { benchExit?: unknown }).benchExit !== undefined, null, {
      timeout: timeoutMs,
      polling: 500,
    });
    const exit = await page.evaluate(() => (window as unknown as { benchExit: unknown }).benchExit);
    const lines = await page.evaluate(() => (window as unknown as { benchLines: string[] }).benchLines);
    return { exit, lines };
  } finally {
    await server.close();
  }
}

export function benchAvailable(flavour: BenchFlavour, relaxed = false): boolean {
  return existsSync(benchScript(flavour, relaxed));
}
