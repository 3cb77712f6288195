// What the CLI's command files share: the error line, model loading and the
// KV flags (main.cpp), and the hidden measuring commands (gen_model.cpp,
// bench_context.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "kvlite/kvlite.h"

namespace kvlite::cli {

// Prints "kvlite: error: MESSAGE" and returns the exit status 1.
int fail(const std::string& message);
Result<std::shared_ptr<Model>> load_model(const Args& args);
// The KV-cache flags (--kv-k, --evict, ...) added to a command's flags, and read back.
std::vector<FlagSpec> with_kv_flags(std::vector<FlagSpec> flags);
Result<KvConfig> kv_config(Args& args);

int cmd_gen_model(Args& args);
int cmd_bench_context(Args& args);

}  // namespace kvlite::cli
