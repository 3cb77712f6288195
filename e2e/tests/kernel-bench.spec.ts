// The kernel benchmark in Chromium, quick mode: the SIMD128 kernels run in the
// browser they are built for, are faster than their scalar twins there, and
// the threaded build runs its pool on a cross-origin-isolated page. The
// figures themselves come from a full run (scripts/bench-kernels).
import { expect, test } from "@playwright/test";

import { benchAvailable, runKernelBench, type BenchFlavour } from "../support/kernel-bench.ts";

// "2048x2048 attn q/o  simd128  0.395  11.28  42%" -> GB/s per kernel set and shape.
function gbsByShape(lines: string[]): Map<string, Map<string, number>> {
  const table = new Map<string, Map<string, number>>();
  for (const line of lines) {
    const m = /^(\d+x\d+) .*?\s(scalar|simd128|simd128-relaxed)\s+[\d.]+\s+([\d.]+)\s+\d+%$/.exec(line);
    if (!m) continue;
    if (!table.has(m[1])) table.set(m[1], new Map());
    table.get(m[1])!.set(m[2], Number(m[3]));
  }
  return table;
}

for (const flavour of ["wasm", "wasm-mt"] as BenchFlavour[]) {
  test(`kernel benchmark in Chromium (${flavour})`, async ({ page }) => {
    expect(benchAvailable(flavour), `build/${flavour}/bin/kvlite-bench-web.js (scripts/build --wasm)`).toBe(true);
    const { exit, lines } = await runKernelBench(page, flavour, ["--quick"], 5 * 60 * 1000);
    const output = lines.join("\n");
    expect(exit, output).toBe(0);
    expect(output).toMatch(/^kvlite-bench \(wasm, Chrom[a-z]*\/\d+/m);
    expect(output).toMatch(/memory bandwidth probe .*: [\d.]+ GB\/s/);
    const table = gbsByShape(lines);
    expect(table.size, output).toBeGreaterThanOrEqual(3);
    for (const [shape, sets] of table) {
      expect(sets.get("simd128")!, `${shape}: SIMD128 against scalar\n${output}`).toBeGreaterThan(sets.get("scalar")!);
    }
    if (flavour === "wasm-mt") {
      expect(output).toMatch(/threads available/);
      expect(output).toMatch(/^prefill tokens\/s .*\d+\.\d+x$/m);
      expect(output).toMatch(/^decode tokens\/s .*\d+\.\d+x$/m);
    }
  });
}

// The relaxed-SIMD builds list the extra kernel set, make it the active one,
// and measure it on every shape (its speed against SIMD128 is in
// docs/kernel-bench.md, from a full run: a quick run on a shared machine is
// too noisy to compare two fast kernels).
for (const flavour of ["wasm", "wasm-mt"] as BenchFlavour[]) {
  test(`kernel benchmark with relaxed SIMD in Chromium (${flavour})`, async ({ page }) => {
    expect(benchAvailable(flavour, true), `build/${flavour}/bin/kvlite-bench-web-relaxed.js (scripts/build --wasm)`).toBe(
      true,
    );
    const { exit, lines } = await runKernelBench(page, flavour, ["--quick"], 5 * 60 * 1000, true);
    const output = lines.join("\n");
    expect(exit, output).toBe(0);
    expect(output).toMatch(/kernel sets: scalar simd128 simd128-relaxed; active: simd128-relaxed/);
    const table = gbsByShape(lines);
    expect(table.size, output).toBeGreaterThanOrEqual(3);
    for (const [shape, sets] of table) {
      expect(sets.get("simd128-relaxed")!, `${shape}: relaxed against scalar\n${output}`).toBeGreaterThan(
        sets.get("scalar")!,
      );
    }
  });
}
