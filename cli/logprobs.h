// Per-token next-token distributions for comparing KV cache settings:
// `perplexity --dump-logprobs FILE` writes every scored position's log
// probabilities (FP32 run), `perplexity --kl-base FILE` reads them back and
// reports the mean KL divergence from them and how often the top-1 token
// agrees. Used by scripts/kv-quality.
#pragma once

#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "args.h"

namespace kvlite::cli {

class LogprobFile {
 public:
  ~LogprobFile();
  // Opens the file named by --dump-logprobs or --kl-base, if any.
  std::optional<std::string> open(Args& args);
  bool active() const { return file_ != nullptr; }
  void add(std::span<const float> logits, int32_t next);
  // Closes the file; with --kl-base prints the comparison to stderr.
  std::optional<std::string> finish();

 private:
  std::FILE* file_ = nullptr;
  bool writing_ = false;
  std::string path_, error_;
  std::vector<float> logp_, base_;
  double kl_sum_ = 0;
  int64_t count_ = 0, top1_same_ = 0;
};

}  // namespace kvlite::cli
