// The hidden gen-model subcommand (see gen_model.cpp).
#pragma once

#include <string>

#include "args.h"
#include "kvlite/kvlite.h"

namespace kvlite::cli {

int fail(const std::string& message);
int cmd_gen_model(Args& args);

}  // namespace kvlite::cli
