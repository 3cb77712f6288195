// The full kernel benchmark in Chromium, single-threaded and threaded builds,
// each also with the relaxed-SIMD kernel set
// (scripts/bench-kernels runs this and writes docs/kernel-bench.md). Each
// run's output goes to build/bench/kernels-<flavour>-chromium.txt.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { expect, test } from "@playwright/test";

import { benchAvailable, runKernelBench } from "../support/kernel-bench.ts";
import { repoRoot } from "../support/throwaway-app.ts";

const args = (process.env.KVLITE_BENCH_ARGS ?? "").split(" ").filter(Boolean);

for (const [flavour, relaxed] of [["wasm", false], ["wasm-mt", false], ["wasm", true], ["wasm-mt", true]] as const) {
  const name = relaxed ? `${flavour}-relaxed` : flavour;
  test(`kvlite-bench in Chromium (${name})`, async ({ page }) => {
    expect(benchAvailable(flavour, relaxed)).toBe(true);
    const { exit, lines } = await runKernelBench(page, flavour, args, 15 * 60 * 1000, relaxed);
    const output = lines.join("\n") + "\n";
    process.stdout.write(output);
    const dir = join(repoRoot, "build", "bench");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `kernels-${name}-chromium.txt`), output);
    expect(exit, output).toBe(0);
  });
}
