// Bad inputs to the converters give tandem::Error messages that name the file
// and the problem, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"
#include "tandem/convert/hf.h"
#include "tandem/convert/safetensors.h"
#include "test_util.h"

namespace tandem {
namespace {
using namespace tandem::testing;
namespace fs = std::filesystem;

template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << parts[0] << "'";
  } catch (const tandem::Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message: " << e.what() << "\nexpected to contain: " << p;
  }
}

std::string fresh_folder(const std::string& name) {
  const std::string dir = temp_dir() + "/" + name;
  fs::remove_all(dir);
  write_hf_folder(dir, HfSpec{});
  return dir;
}

TEST(SafetensorsErrors, TruncatedAndBadHeaders) {
  const std::string d = temp_dir();
  const std::vector<StEntry> ts = {{"a", {2, 3}, std::vector<float>(6, 1.0f)},
                                   {"b", {4}, std::vector<float>(4, 2.0f)}};
  const std::string good = d + "/good.safetensors";
  write_safetensors(good, ts);
  auto f = convert::SafetensorsFile::open(good);
  ASSERT_NE(f->find("b"), nullptr);
  float x[4];
  f->find("b")->read_f32(0, 4, x);
  EXPECT_EQ(x[3], 2.0f);

  const std::string tiny = d + "/tiny.safetensors";
  write_text(tiny, "abc");
  expect_error([&] { convert::SafetensorsFile::open(tiny); }, {tiny, "truncated"});

  // Cut the data section: b's offsets now lie past the end.
  const std::string cut = d + "/cut.safetensors";
  fs::copy_file(good, cut, fs::copy_options::overwrite_existing);
  fs::resize_file(cut, fs::file_size(good) - 8);
  expect_error([&] { convert::SafetensorsFile::open(cut); }, {cut, "'b'", "truncated"});

  // Header length past EOF.
  const std::string longhdr = d + "/longhdr.safetensors";
  {
    std::string s(8, '\0');
    s[0] = '\xff', s[1] = '\xff';
    write_text(longhdr, s + "{}");
  }
  expect_error([&] { convert::SafetensorsFile::open(longhdr); }, {longhdr, "past the end"});

  // Offsets outside the data / inconsistent with the shape / bad JSON / unknown dtype.
  auto with_header = [&](const std::string& name, const std::string& header) {
    const std::string p = d + "/" + name;
    write_safetensors(p, ts, header);
    return p;
  };
  const std::string outside = with_header(
      "outside.safetensors",
      R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[4],"data_offsets":[100,116]}})");
  expect_error([&] { convert::SafetensorsFile::open(outside); },
               {outside, "'b'", "outside the data section"});
  const std::string mismatch = with_header(
      "mismatch.safetensors", R"({"a":{"dtype":"F32","shape":[3,3],"data_offsets":[0,24]}})");
  expect_error([&] { convert::SafetensorsFile::open(mismatch); }, {"'a'", "needs 36"});
  const std::string badjson = with_header("badjson.safetensors", R"({"a":)");
  expect_error([&] { convert::SafetensorsFile::open(badjson); }, {badjson, "not valid JSON"});
  const std::string baddtype = with_header(
      "baddtype.safetensors", R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,2]}})");
  expect_error([&] { convert::SafetensorsFile::open(baddtype); }, {"unknown dtype 'Q9'"});
  const std::string negshape = with_header(
      "negshape.safetensors", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})");
  expect_error([&] { convert::SafetensorsFile::open(negshape); }, {"negative"});
  expect_error([&] { convert::SafetensorsFile::open(d + "/nope.safetensors"); },
               {"nope.safetensors", "cannot open"});
}

TEST(HfErrors, ConfigAndTensorProblems) {
  const std::string out = temp_dir() + "/err.gguf";
  // Missing config key.
  {
    const std::string dir = fresh_folder("missing_key");
    auto cfg = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
    cfg.erase("hidden_size");
    write_text(dir + "/config.json", cfg.dump());
    expect_error([&] { convert::convert_hf(dir, out); },
                 {dir + "/config.json", "'hidden_size' is missing"});
  }
  // Unknown architecture.
  {
    const std::string dir = fresh_folder("unknown_arch");
    auto cfg = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
    cfg["architectures"] = {"GPTNeoXForCausalLM"};
    cfg["model_type"] = "gpt_neox";
    write_text(dir + "/config.json", cfg.dump());
    expect_error([&] { convert::convert_hf(dir, out); },
                 {"config.json", "'GPTNeoXForCausalLM'", "not supported"});
  }
  // Unsupported rope scaling.
  {
    const std::string dir = fresh_folder("rope");
    auto cfg = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
    cfg["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
    write_text(dir + "/config.json", cfg.dump());
    expect_error([&] { convert::convert_hf(dir, out); }, {"config.json", "rope_scaling"});
  }
  // Wrong shape (config says 4 kv heads, file holds 2).
  {
    const std::string dir = fresh_folder("shape");
    auto cfg = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
    cfg["num_key_value_heads"] = 4;
    write_text(dir + "/config.json", cfg.dump());
    expect_error([&] { convert::convert_hf(dir, out); },
                 {"model.safetensors", "k_proj.weight", "expected [64, 64]"});
  }
  // No weights at all; a truncated model.safetensors.
  {
    const std::string dir = fresh_folder("noweights");
    fs::remove(dir + "/model.safetensors");
    expect_error([&] { convert::convert_hf(dir, out); },
                 {dir, "neither model.safetensors nor model.safetensors.index.json"});
    const std::string dir2 = fresh_folder("truncated");
    fs::resize_file(dir2 + "/model.safetensors", fs::file_size(dir2 + "/model.safetensors") / 2);
    expect_error([&] { convert::convert_hf(dir2, out); }, {"model.safetensors", "truncated"});
  }
  // Missing tokenizer.json; a Unigram tokenizer.
  {
    const std::string dir = fresh_folder("notok");
    fs::remove(dir + "/tokenizer.json");
    expect_error([&] { convert::convert_hf(dir, out); }, {"tokenizer.json", "missing"});
    write_text(dir + "/tokenizer.json", R"({"model":{"type":"Unigram","vocab":[]}})");
    expect_error([&] { convert::convert_hf(dir, out); }, {"tokenizer.json", "'Unigram'"});
  }
  // Sharded index naming a tensor its shard lacks.
  {
    const std::string dir = fresh_folder("sharded");
    fs::rename(dir + "/model.safetensors", dir + "/model-00001-of-00001.safetensors");
    write_text(dir + "/model.safetensors.index.json",
               R"({"weight_map":{"model.norm.weight":"model-00001-of-00001.safetensors",
                   "model.extra.weight":"model-00001-of-00001.safetensors"}})");
    expect_error([&] { convert::convert_hf(dir, out); },
                 {"model-00001-of-00001.safetensors", "'model.extra.weight'", "not in the shard"});
    // A correct index converts.
    write_text(dir + "/model.safetensors.index.json",
               R"({"weight_map":{"model.norm.weight":"model-00001-of-00001.safetensors"}})");
    EXPECT_NO_THROW(convert::convert_hf(dir, out));
  }
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

}  // namespace
}  // namespace tandem
