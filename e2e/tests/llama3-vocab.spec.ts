// The benchmark models carry Llama 3's real tokenizer (scripts/gen-models):
// a tiny model written by `kvlite gen-model` with the vocabulary exported
// from the pinned llama3-tokenizer-js must tokenize text exactly as that
// package does. Runs the native CLI (no browser); steps aside when it is
// not built.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect, test } from "@playwright/test";
import llama3Tokenizer from "llama3-tokenizer-js";

import { repoRoot } from "../support/throwaway-app.ts";

const kvlite = join(repoRoot, "build/native/bin/kvlite");

// Contractions, digit runs, runs of spaces and newlines, accents, CJK, emoji
// (multi-byte pieces) and special tokens in the text.
const TEXTS = [
  "Hello world!",
  "The quick brown fox doesn't jump; it's 12345678 metres away.",
  "  leading spaces,\ttabs\n\nand blank lines\r\n  end  ",
  "Ünïcödé façade — naïve café, 東京タワー, 🦙🦙 llamas!",
  "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
  "def f(x):\n    return x ** 2  # squares\n",
];

test.describe("Llama 3 vocabulary in generated models", () => {
  test("kvlite tokenizes as llama3-tokenizer-js", () => {
    // scripts/test builds the CLI before e2e; a missing one is a failure, not a skip.
    expect(existsSync(kvlite), "build/native/bin/kvlite is not built (scripts/build)").toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "kvlite-llama3-"));
    try {
      execFileSync("node", [join(import.meta.dirname, "../bench/export-llama3-vocab.mjs"), dir]);
      const model = join(dir, "tiny.gguf");
      execFileSync(kvlite, ["gen-model", "--shape", "tiny", "--type", "Q8_0", "--vocab", dir, "-o", model]);
      for (const text of TEXTS) {
        const ids = execFileSync(kvlite, ["tokenize", "-m", model, "-p", text], { encoding: "utf8" })
          .trim()
          .split(" ")
          .map(Number);
        expect(ids, text).toEqual(llama3Tokenizer.encode(text, { bos: true, eos: false }));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
