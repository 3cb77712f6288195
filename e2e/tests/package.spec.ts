// The packed npm package in a fresh Vite app, in headless Chromium: load the
// shared model from a URL (Range requests) and from a file input, generate
// greedily (the native CLI's text), stop with an AbortSignal, survive a bad
// file. Runs the threaded build on a cross-origin-isolated page and the
// single-threaded build on a plain one.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

import { expect, test } from "@playwright/test";

import { serveStatic, type StaticServer } from "../support/static-server.ts";
import { buildThrowawayApp, repoRoot } from "../support/throwaway-app.ts";

const modelPath = join(repoRoot, "../shared/models/stories260K.gguf");
const cli = join(repoRoot, "build/native/bin/kvlite");
const PROMPT = "Once upon a time";

test.describe("kvlite package in a fresh Vite app", () => {
  test.skip(!existsSync(modelPath), `needs ${modelPath} (../shared absent)`);

  let isolated: StaticServer;
  let plain: StaticServer;
  let expected = "";

  test.beforeAll(async () => {
    test.setTimeout(8 * 60 * 1000);
    const dist = buildThrowawayApp(modelPath);
    isolated = await serveStatic(dist, true);
    plain = await serveStatic(dist, false);
    if (existsSync(cli)) {
      expected = execFileSync(cli, ["generate", "-m", modelPath, "-p", PROMPT, "-n", "48", "--temp", "0"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
    }
  });

  test.afterAll(async () => {
    await isolated?.close();
    await plain?.close();
  });

  const cases = [
    { name: "threaded build, isolated page, model from a URL", server: () => isolated, flavour: "mt", threads: 2, source: "url" },
    { name: "single-thread build, plain page, model from a file input", server: () => plain, flavour: undefined, threads: undefined, source: "file" },
    // The threaded build reads a File with a helper worker beside its own reads.
    { name: "threaded build, isolated page, model from a file input", server: () => isolated, flavour: "mt", threads: 2, source: "file" },
  ] as const;

  for (const c of cases) {
    test(c.name, async ({ page }) => {
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(c.server().url);
      if (c.source === "file") await page.setInputFiles("#file", modelPath);
      const source = c.source === "file" ? "file" : new URL("model.gguf", c.server().url).href;
      const r = await page.evaluate(
        (args) => (window as unknown as { runKvlite(a: unknown): Promise<Record<string, any>> }).runKvlite(args),
        { source, flavour: c.flavour, threads: c.threads, prompt: PROMPT, maxTokens: 48 },
      );
      console.log(`${c.name}: ${JSON.stringify({ ...r, text: r.text.slice(0, 60) })}`);
      expect(errors).toEqual([]);
      expect(r.isolated).toBe(c.flavour === "mt");
      expect(r.flavour).toBe(c.flavour ?? "st");
      expect(r.nLayer).toBe(5);
      expect(r.progressEvents).toBeGreaterThan(0);
      expect(r.pieces).toBeGreaterThan(10);
      expect(r.text).toMatch(/^, there was a little girl named Lily/);
      // The CLI ends its output with one newline.
      if (expected) expect(r.text).toBe(expected.replace(/\n$/, ""));
      expect(r.abortName).toBe("AbortError");
      expect(r.abortedFlag).toBe(true);
      // Aborted at the 2nd piece; the worker runs at most 4 pieces ahead of the reader.
      expect(r.abortedGenerated).toBeLessThanOrEqual(2 + 4 + 1);
      expect(r.badError).toMatchObject({ isKvlite: true, code: "bad-model" });
      expect(r.badError.message).toContain("broken.gguf");
      expect(r.again).toBe(r.text.slice(0, r.again.length));
      await expect(page.locator("#out")).toContainText("little girl");
    });
  }
});
