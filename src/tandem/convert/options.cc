#include "tandem/convert/options.h"

#include <fmt/format.h>

#include "tandem/base/progress.h"

namespace tandem::convert::detail {

ThreadPool& pool_for(const ConvertOptions& opts, std::unique_ptr<ThreadPool>& owned) {
  if (opts.pool) return *opts.pool;
  owned = std::make_unique<ThreadPool>(ThreadPool::default_threads());
  return *owned;
}

void add_note(ConvertReport& r, const ConvertOptions& opts, std::string note) {
  if (opts.verbose) fmt::print(stderr, "note: {}\n", note);
  r.notes.push_back(std::move(note));
}

void write_file(const gguf::Writer& w, const std::string& path, const ConvertOptions& opts,
                ConvertReport& r) {
  std::unique_ptr<Progress> progress;
  if (opts.verbose) progress = std::make_unique<Progress>("writing " + path, 100);
  w.write(path, [&](uint64_t done, uint64_t total) {
    if (progress) progress->update(total ? static_cast<int64_t>(100 * done / total) : 100);
  });
  if (progress) progress->finish();
  r.file_bytes = w.file_size();
}

}  // namespace tandem::convert::detail
