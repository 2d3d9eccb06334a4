#include "tandem/convert/emit.h"

#include "tandem/base/error.h"
#include "tandem/tensor/quantize.h"

namespace tandem::convert {

void add_rows_tensor(gguf::Writer& w, std::string name, DType type, std::vector<int64_t> shape,
                     RowFn row, ThreadPool& pool) {
  TANDEM_CHECK(!shape.empty(), "tensor {} has no dimensions", name);
  const int64_t cols = shape[0];
  int64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= shape[i];
  if (cols % dtype_info(type).block_elems != 0)
    fail("tensor '{}': row length {} is not a multiple of {}'s block of {}", name, cols,
         dtype_name(type), dtype_info(type).block_elems);
  const std::string label = name;
  w.add_tensor(std::move(name), type, std::move(shape),
               [=, &pool, row = std::move(row)](uint8_t* dst, size_t nbytes) {
                 const int64_t rb = row_bytes(type, cols);
                 TANDEM_CHECK(static_cast<int64_t>(nbytes) == rb * rows,
                              "size mismatch for {}: {} != {}", label, nbytes, rb * rows);
                 const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, cols));
                 pool.parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
                   std::vector<float> buf(cols);
                   for (int64_t r = begin; r < end; ++r) {
                     row(r, buf.data());
                     quantize_row(type, buf.data(), dst + r * rb, cols);
                   }
                 });
               });
}

}  // namespace tandem::convert
