// Options and results shared by the converters (llama2c.h, hf.h) and
// quantize_model.h.
//
// Contract: plain value types. A null `pool` makes the converter create its own
// pool of ThreadPool::default_threads() threads for the duration of the call.
// With `verbose`, progress and notes (type fall-backs, ignored keys) are
// printed to stderr; the notes are returned in the report either way.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/base/thread_pool.h"
#include "tandem/convert/target_type.h"
#include "tandem/gguf/writer.h"

namespace tandem::convert {

struct ConvertOptions {
  TargetType type = TargetType::of(DType::F32);  // weight type of 2-D tensors
  ThreadPool* pool = nullptr;
  bool verbose = false;
};

struct ConvertReport {
  std::vector<std::string> notes;
  std::map<std::string, DType> tensor_types;  // stored type of every tensor written
  uint64_t file_bytes = 0;
};

// Internal helpers shared by the converters.
namespace detail {

// Returns `opts.pool`, or a new pool held in `owned`.
ThreadPool& pool_for(const ConvertOptions& opts, std::unique_ptr<ThreadPool>& owned);
// Adds `note` to the report and prints it when verbose.
void add_note(ConvertReport& r, const ConvertOptions& opts, std::string note);
// Writes the file (with a progress line when verbose) and fills r.file_bytes.
void write_file(const gguf::Writer& w, const std::string& path, const ConvertOptions& opts,
                ConvertReport& r);

}  // namespace detail
}  // namespace tandem::convert
