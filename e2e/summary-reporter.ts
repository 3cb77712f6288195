// Prints one plain line "N passed, N failed, N skipped" at the end: the form
// CI recognises (Playwright's own summary is not). A test counts once, by its
// final outcome after retries.
import type { Reporter, TestCase, TestResult } from "@playwright/test/reporter";

export default class SummaryReporter implements Reporter {
  private outcomes = new Map<string, string>();

  onTestEnd(test: TestCase, result: TestResult): void {
    this.outcomes.set(test.id, result.status === "skipped" ? "skipped" : test.outcome());
  }

  onEnd(): void {
    let passed = 0, failed = 0, skipped = 0;
    for (const outcome of this.outcomes.values()) {
      if (outcome === "expected" || outcome === "flaky") passed++;
      else if (outcome === "skipped") skipped++;
      else failed++;
    }
    console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  }

  printsToStdio(): boolean {
    return false;
  }
}
