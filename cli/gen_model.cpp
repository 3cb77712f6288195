// kvlite gen-model: random-weight llama models of real shapes for the speed
// and memory benchmarks (scripts/gen-models). Hidden from the usage text: it
// is a tool of this repository, not of the runtime.
//   kvlite gen-model --shape llama-3.2-1b|170m|tiny --type Q8_0|F16|Q4_K_M [--vocab DIR] -o OUT.gguf
// DIR holds tokens.txt (one token per line, the line number is the id) and
// merges.txt (one "left right" merge per line, in rank order), as
// e2e/bench/export-llama3-vocab.mjs writes them from llama3-tokenizer-js.
#include "commands.h"

#include <fstream>

namespace kvlite::cli {
namespace {

Result<std::vector<std::string>> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("cannot open '" + path + "'");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Result<RandomModelSpec> shape(const std::string& name) {
  RandomModelSpec spec;
  spec.tied_embeddings = true;
  spec.n_vocab = 128256;
  spec.rope_theta = 500000.0f;
  spec.n_ctx = 131072;
  if (name == "llama-3.2-1b") {
    spec.n_layer = 16, spec.n_embd = 2048, spec.n_head = 32, spec.n_head_kv = 8, spec.n_ff = 8192;
  } else if (name == "170m") {
    // With Llama 3's vocabulary the tied embedding is 98M of the 183M parameters.
    spec.n_layer = 12, spec.n_embd = 768, spec.n_head = 12, spec.n_head_kv = 4, spec.n_ff = 2048;
  } else if (name == "tiny") {
    // For tests of the vocabulary: small and quick to write.
    spec.n_layer = 1, spec.n_embd = 256, spec.n_head = 4, spec.n_head_kv = 2, spec.n_ff = 512;
  } else {
    return Status::Error("unknown shape '" + name + "' (llama-3.2-1b, 170m, tiny)");
  }
  return spec;
}

// Llama 3's special ids: <|begin_of_text|>, <|end_of_text|>, <|eot_id|>.
Status add_llama3_vocab(RandomModelSpec& spec, const std::string& dir) {
  auto tokens = read_lines(dir + "/tokens.txt");
  if (!tokens) return tokens.status();
  auto merges = read_lines(dir + "/merges.txt");
  if (!merges) return merges.status();
  const auto id = [&](const std::string& text) -> int32_t {
    for (size_t i = 0; i < tokens->size(); ++i) {
      if ((*tokens)[i] == text) return int32_t(i);
    }
    return -1;
  };
  spec.bpe_bos = id("<|begin_of_text|>"), spec.bpe_eos = id("<|end_of_text|>"), spec.bpe_eot = id("<|eot_id|>");
  if (spec.bpe_bos < 0 || spec.bpe_eos < 0) {
    return Status::Error(dir + "/tokens.txt: no <|begin_of_text|> or <|end_of_text|>: not a Llama 3 vocabulary");
  }
  spec.bpe_tokens = std::move(*tokens);
  spec.bpe_merges = std::move(*merges);
  spec.bpe_pre = "llama-bpe";
  return Status::Ok();
}

}  // namespace

int cmd_gen_model(Args& args) {
  if (!args.has("--output")) return fail("missing -o OUT.gguf");
  auto spec = shape(args.get("--shape", "llama-3.2-1b"));
  if (!spec) return fail(spec.message());
  spec->weight_type = args.get("--type", "Q8_0");
  if (args.has("--vocab")) {
    if (Status st = add_llama3_vocab(*spec, args.get("--vocab")); !st) return fail(st.message());
  }
  if (Status st = write_random_model(*spec, args.get("--output")); !st) return fail(st.message());
  return 0;
}

}  // namespace kvlite::cli
