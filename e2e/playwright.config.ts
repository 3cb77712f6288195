// Playwright with Debian's Chromium (Playwright cannot download browsers
// here), flags that keep it off the closed network, and a reporter that ends
// with the plain "N passed, N failed, N skipped" line CI reads.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests",
  timeout: 10 * 60 * 1000,
  workers: 1,
  reporter: [["list"], ["./summary-reporter.ts"]],
  outputDir: "../build/e2e/test-results",
  use: {
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.KVLITE_CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
