// Helpers for model tests: small random models written with synth_model into a
// per-process temporary directory, and the NumPy float64 reference forward
// (tests/reference/llama_ref.py run by Debian's /usr/bin/python3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/model/synth.h"

namespace tandem::testing {

// Directory for this test process's files (removed at exit).
std::string temp_dir();

// Writes `spec` to a GGUF under temp_dir() (cached by file name) and returns its path.
std::string write_model(const SynthSpec& spec, const std::string& file_name);

// A small llama spec with the given overrides applied by the caller.
SynthSpec tiny_spec();

// True when /usr/bin/python3 has NumPy; sets `why` otherwise.
bool reference_available(std::string* why);

// All-token logits (or, with hidden_layer >= 0, the hidden state after that
// layer) from the NumPy reference: row-major (tokens, width), float64.
std::vector<double> reference_forward(const std::string& model, const std::vector<int32_t>& tokens,
                                      int hidden_layer = -1);

}  // namespace tandem::testing
