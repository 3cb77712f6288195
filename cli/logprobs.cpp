#include "logprobs.h"

#include <cmath>
#include <cstdint>

namespace kvlite::cli {

namespace {

constexpr char kMagic[4] = {'K', 'V', 'L', 'P'};

void log_softmax(std::span<const float> logits, std::vector<float>& out) {
  float max = logits[0];
  for (float v : logits) max = v > max ? v : max;
  double sum = 0;
  for (float v : logits) sum += std::exp(double(v) - max);
  const double log_sum = std::log(sum) + max;
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = float(double(logits[i]) - log_sum);
}

size_t argmax(const std::vector<float>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) best = v[i] > v[best] ? i : best;
  return best;
}

}  // namespace

LogprobFile::~LogprobFile() {
  if (file_) std::fclose(file_);
}

std::optional<std::string> LogprobFile::open(Args& args) {
  writing_ = args.has("--dump-logprobs");
  if (!writing_ && !args.has("--kl-base")) return std::nullopt;
  path_ = args.get(writing_ ? "--dump-logprobs" : "--kl-base");
  file_ = std::fopen(path_.c_str(), writing_ ? "wb" : "rb");
  if (!file_) return "cannot open logprob file '" + path_ + "'";
  char magic[4];
  if (writing_) {
    std::fwrite(kMagic, 1, 4, file_);
  } else if (std::fread(magic, 1, 4, file_) != 4 || std::string(magic, 4) != std::string(kMagic, 4)) {
    return "'" + path_ + "' is not a logprob file written by --dump-logprobs";
  }
  return std::nullopt;
}

void LogprobFile::add(std::span<const float> logits, int32_t) {
  if (!error_.empty()) return;
  log_softmax(logits, logp_);
  if (writing_) {
    if (std::fwrite(logp_.data(), sizeof(float), logp_.size(), file_) != logp_.size()) error_ = "write failed";
    return;
  }
  base_.resize(logp_.size());
  if (std::fread(base_.data(), sizeof(float), base_.size(), file_) != base_.size()) {
    error_ = "'" + path_ + "' has fewer positions or a smaller vocabulary than this run";
    return;
  }
  double kl = 0;  // KL(base || this): the base distribution weighs the log ratio
  for (size_t i = 0; i < base_.size(); ++i) kl += std::exp(double(base_[i])) * (double(base_[i]) - logp_[i]);
  kl_sum_ += kl;
  top1_same_ += argmax(base_) == argmax(logp_);
  ++count_;
}

std::optional<std::string> LogprobFile::finish() {
  if (!file_) return std::nullopt;
  if (!writing_ && error_.empty() && std::fgetc(file_) != EOF) error_ = "'" + path_ + "' has more positions than this run";
  std::fclose(file_);
  file_ = nullptr;
  if (!error_.empty()) return "logprob file: " + error_;
  if (!writing_ && count_ > 0) {
    std::fprintf(stderr, "kl-divergence: mean %.4e, top-1 agreement %.4f over %lld positions\n",
                 kl_sum_ / double(count_), double(top1_same_) / double(count_), static_cast<long long>(count_));
  }
  return std::nullopt;
}

}  // namespace kvlite::cli
