// Bad models and bad requests get errors that name the problem; none crashes.
#include <gtest/gtest.h>

#include <functional>

#include "tandem/base/error.h"
#include "tandem/gguf/reader.h"
#include "tandem/gguf/writer.h"
#include "tandem/model/model.h"
#include "test_models.h"

namespace tandem {
namespace {
using testing::temp_dir;
using testing::tiny_spec;
using testing::write_model;

// Copies a valid tiny model, letting `edit` drop or alter tensors and metadata.
std::string variant(const std::string& name,
                    const std::function<bool(gguf::Writer&, const gguf::TensorInfo&)>& keep_tensor,
                    const std::function<void(gguf::Writer&)>& edit_meta = {}) {
  SynthSpec s = tiny_spec();
  auto src = gguf::File::open(write_model(s, "errors_base.gguf"));
  gguf::Writer w;
  w.copy_metadata(*src, [](std::string_view) { return true; });
  if (edit_meta) edit_meta(w);
  for (const auto& t : src->tensors())
    if (keep_tensor(w, t))
      w.add_tensor(t.name, t.type, t.shape, std::span<const uint8_t>(t.data, t.nbytes));
  const std::string path = temp_dir() + "/" + name;
  w.write(path);
  return path;
}

std::string load_error(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ModelErrors, MissingTensorIsNamed) {
  auto path = variant("missing.gguf", [](gguf::Writer&, const gguf::TensorInfo& t) {
    return t.name != "blk.1.ffn_up.weight";
  });
  const std::string e = load_error(path);
  EXPECT_NE(e.find("'blk.1.ffn_up.weight' is missing"), std::string::npos) << e;
}

TEST(ModelErrors, WrongShapeIsNamedWithBothShapes) {
  auto path = variant("shape.gguf", [](gguf::Writer& w, const gguf::TensorInfo& t) {
    if (t.name != "blk.0.attn_k.weight") return true;
    // 64 x 64 where 64 x 64 is expected would pass: give it 64 x 32 rows instead.
    std::vector<uint8_t> half(t.data, t.data + t.nbytes / 2);
    w.add_tensor(t.name, t.type, {64, 32}, half);
    return false;
  });
  const std::string e = load_error(path);
  EXPECT_NE(e.find("blk.0.attn_k.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("has shape 64x32, expected 64x64"), std::string::npos) << e;
}

TEST(ModelErrors, InconsistentHeadCountsAreRejected) {
  auto path = variant(
      "heads.gguf", [](gguf::Writer&, const gguf::TensorInfo&) { return true; },
      [](gguf::Writer& w) { w.set("llama.attention.head_count_kv", gguf::Value::u32(3)); });
  const std::string e = load_error(path);
  EXPECT_NE(e.find("not a multiple of attention.head_count_kv (3)"), std::string::npos) << e;
}

TEST(ModelErrors, MissingHyperParameterIsNamed) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::str("llama"));
  const std::string path = temp_dir() + "/nometa.gguf";
  w.write(path);
  const std::string e = load_error(path);
  EXPECT_NE(e.find("llama.embedding_length"), std::string::npos) << e;
}

TEST(ModelErrors, UnsupportedArchitectureIsNamed) {
  auto path = variant(
      "arch.gguf", [](gguf::Writer&, const gguf::TensorInfo&) { return true; },
      [](gguf::Writer& w) { w.set("general.architecture", gguf::Value::str("mamba")); });
  const std::string e = load_error(path);
  EXPECT_NE(e.find("architecture 'mamba' is not supported"), std::string::npos) << e;
}

TEST(ModelErrors, BadRequestsAreRefusedAndLeaveTheCacheIntact) {
  auto model = Model::load(write_model(tiny_spec(), "errors_base.gguf"));
  ThreadPool pool(2);
  KvCache cache = model->make_cache(8, 2);
  model->forward_last(0, std::vector<int32_t>{1, 2, 3}, cache, pool);
  EXPECT_THROW(model->forward_last(0, std::vector<int32_t>{1, 2, 3, 4, 5, 6}, cache, pool), Error);
  EXPECT_THROW(model->forward_last(0, std::vector<int32_t>{256}, cache, pool), Error);
  EXPECT_THROW(model->forward_last(0, std::vector<int32_t>{-1}, cache, pool), Error);
  EXPECT_THROW(model->forward_last(2, std::vector<int32_t>{1}, cache, pool), Error);
  EXPECT_THROW(model->forward_last(0, std::vector<int32_t>{}, cache, pool), Error);
  EXPECT_EQ(cache.length(0), 3);
  try {
    model->forward_last(0, std::vector<int32_t>{1, 2, 3, 4, 5, 6}, cache, pool);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceed the context size 8"), std::string::npos);
  }
  std::vector<SequenceInput> dup = {{1, {1}, {}}, {1, {2}, {}}};
  ForwardOutput out;
  EXPECT_THROW(model->forward(dup, cache, ForwardOptions{}, out, pool), Error);
}

}  // namespace
}  // namespace tandem
