#include "tandem/convert/quantize_model.h"

#include <filesystem>
#include <memory>

#include "tandem/base/error.h"
#include "tandem/convert/emit.h"
#include "tandem/gguf/reader.h"
#include "tandem/gguf/writer.h"
#include "tandem/tensor/quantize.h"

namespace tandem::convert {

ConvertReport quantize_model(const std::string& in, const std::string& out, const TargetType& type,
                             ThreadPool& pool, bool verbose) {
  std::error_code ec;
  if (std::filesystem::equivalent(in, out, ec)) fail("{}: input and output are the same file", out);
  ConvertOptions opts;
  opts.type = type;
  opts.pool = &pool;
  opts.verbose = verbose;
  ConvertReport report;
  std::shared_ptr<gguf::File> src = gguf::File::open(in);
  gguf::Writer w;
  w.copy_metadata(*src, {});
  w.set("general.file_type", gguf::Value::u32(type.llama_file_type()));
  const bool tied = src->find_tensor("output.weight") == nullptr;

  for (const gguf::TensorInfo& t : src->tensors()) {
    const DTypeInfo& in_info = dtype_info(t.type);
    const bool float_like = in_info.computable || t.type == DType::Q8_K;
    if (!float_like) {
      detail::add_note(
          report, opts,
          fmt::format("{}: type {} cannot be re-encoded; copied unchanged", t.name, in_info.name));
      report.tensor_types[t.name] = t.type;
      w.add_tensor(t.name, t.type, t.shape,
                   [src, &t](uint8_t* dst, size_t n) { std::memcpy(dst, t.data, n); });
      continue;
    }
    std::string note;
    const DType to = choose_type(type, t.name, t.shape, tied, &note);
    if (!note.empty()) detail::add_note(report, opts, note);
    report.tensor_types[t.name] = to;
    if (to == t.type) {
      w.add_tensor(t.name, t.type, t.shape,
                   [src, &t](uint8_t* dst, size_t n) { std::memcpy(dst, t.data, n); });
      continue;
    }
    const int64_t cols = t.shape.empty() ? 1 : t.shape[0];
    const int64_t in_rb = row_bytes(t.type, cols);
    const uint8_t* data = t.data;
    const DType from = t.type;
    add_rows_tensor(
        w, t.name, to, t.shape,
        [src, data, from, cols, in_rb](int64_t r, float* o) {
          dequantize_row(from, data + r * in_rb, o, cols);
        },
        pool);
  }
  detail::write_file(w, out, opts, report);
  return report;
}

}  // namespace tandem::convert
