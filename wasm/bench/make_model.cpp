// Writes a random-weight model of any llama shape with the core's generator,
// for the browser load benchmark (speed and memory do not depend on values).
//   make-model OUT.gguf [n_layer n_embd n_head n_head_kv n_ff n_vocab TYPE TIED]
// Defaults: Llama-3.2-1B's shape in Q8_0 with tied embeddings (about 1.3 GB).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kvlite/kvlite.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 10) {
    std::fprintf(stderr, "usage: make-model OUT.gguf [n_layer n_embd n_head n_head_kv n_ff n_vocab TYPE TIED(0|1)]\n");
    return 2;
  }
  kvlite::RandomModelSpec spec;
  spec.n_layer = 16, spec.n_embd = 2048, spec.n_head = 32, spec.n_head_kv = 8, spec.n_ff = 8192;
  spec.n_vocab = 128256, spec.n_ctx = 4096, spec.rope_theta = 500000.0f;
  spec.weight_type = "Q8_0", spec.tied_embeddings = true;
  if (argc == 10) {
    spec.n_layer = std::atoi(argv[2]), spec.n_embd = std::atoi(argv[3]), spec.n_head = std::atoi(argv[4]);
    spec.n_head_kv = std::atoi(argv[5]), spec.n_ff = std::atoi(argv[6]), spec.n_vocab = std::atoi(argv[7]);
    spec.weight_type = argv[8], spec.tied_embeddings = std::atoi(argv[9]) != 0;
  }
  kvlite::Status st = kvlite::write_random_model(spec, argv[1]);
  if (!st) {
    std::fprintf(stderr, "make-model: error: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}
