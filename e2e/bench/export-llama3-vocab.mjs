// Writes Llama 3's vocabulary and merges, as the pinned llama3-tokenizer-js
// package ships them, into DIR/tokens.txt and DIR/merges.txt for
// `kvlite gen-model --vocab DIR` (the repository does not carry them).
//   node bench/export-llama3-vocab.mjs DIR
// Tokens are in GPT-2's byte-to-unicode spelling, so none holds a newline or
// a space; merges come out in rank order (the package's Map keeps insertion
// order, and its values are the ranks).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import llama3Tokenizer from "llama3-tokenizer-js";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node bench/export-llama3-vocab.mjs DIR");
  process.exit(2);
}
const tokens = llama3Tokenizer.vocabById;
const merges = [...llama3Tokenizer.merges.entries()].sort((a, b) => a[1] - b[1]).map(([pair]) => pair);
for (const t of tokens) {
  if (t.length === 0 || /[\n]/.test(t)) throw new Error(`token ${JSON.stringify(t)} cannot be written one per line`);
}
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "tokens.txt"), tokens.join("\n") + "\n");
writeFileSync(join(dir, "merges.txt"), merges.join("\n") + "\n");
console.log(`export-llama3-vocab: ${tokens.length} tokens, ${merges.length} merges into ${dir}`);
