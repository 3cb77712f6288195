// The browser load benchmark (scripts/bench-load): not part of the test
// suite (it loads a 1.3 GB model). Same Chromium setup as the tests.
import { defineConfig } from "@playwright/test";

import base from "./playwright.config.ts";

export default defineConfig({
  ...base,
  testDir: "bench",
  testMatch: "*.bench.ts",
  timeout: 20 * 60 * 1000,
  reporter: [["list"]],
});
