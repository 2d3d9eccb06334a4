// emit — adds a tensor to a gguf::Writer whose rows are produced on demand as
// f32 and quantised to the stored type while the file is written.
//
// Contract: add_rows_tensor() registers a lazy tensor of GGUF shape `shape`
// (shape[0] = row length; rows = product of the rest). During Writer::write()
// the rows are produced by `row(r, out)` (which must write shape[0] floats and
// be safe to call concurrently for different rows) and quantised with
// quantize_row() in parallel over `pool`; only one tensor's output buffer and a
// row per thread are ever in memory. Throws tandem::Error at add time when the
// row length does not fit the type's block size.
// Ownership: `row` and `pool` must stay valid until Writer::write() returns.
// Thread safety: call from the thread that owns the Writer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tandem/base/thread_pool.h"
#include "tandem/gguf/writer.h"
#include "tandem/tensor/dtype.h"

namespace tandem::convert {

using RowFn = std::function<void(int64_t row, float* out)>;

void add_rows_tensor(gguf::Writer& w, std::string name, DType type, std::vector<int64_t> shape,
                     RowFn row, ThreadPool& pool);

}  // namespace tandem::convert
