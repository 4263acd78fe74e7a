// Quantizer, GGUF writer and llama-quantize mixtures: round trips per type, the writer's output
// through the reader, preset type choices on named tensors, and whole files against the
// llama-quantize outputs in the fixtures.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sys/stat.h>

#include "../tests/check.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "platform.h"
#include "quant/kernels.h"
#include "quantize.h"

// Printable enums for CHECK_EQ (internal linkage: other test files may define their own).
namespace hb {
static std::ostream& operator<<(std::ostream& os, GgmlType t) {
  const char* n = ggml_type_name(t);
  return os << (n ? n : "type " + std::to_string(static_cast<uint32_t>(t)));
}
static std::ostream& operator<<(std::ostream& os, GgufValueType t) { return os << static_cast<uint32_t>(t); }
}  // namespace hb

namespace {

using hb::GgmlType;

bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::string temp_dir() { return hb::platform::temp_dir(); }

// Gaussian rows with a few outliers per block, like real weight matrices.
std::vector<float> weight_like(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = g(rng);
  for (int64_t i = 0; i < n; i += 97) x[static_cast<size_t>(i)] *= 6.0f;
  return x;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s / a.size());
}

double rms(const std::vector<float>& a) {
  double s = 0;
  for (float v : a) s += double(v) * v;
  return std::sqrt(s / a.size());
}

std::vector<float> round_trip(GgmlType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(hb::quant_row_bytes(t, n));
  hb::quantize_row(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  hb::kernels_for(t)->dequantize_row(q.data(), y.data(), n);
  return y;
}

// Plain round-to-nearest with unrounded float scales and the same levels and groups as a
// k-quant: what the k-quants' scale searches have to beat.
std::vector<float> naive(const std::vector<float>& x, int group, int nmax, bool affine) {
  std::vector<float> y(x.size());
  for (size_t g0 = 0; g0 < x.size(); g0 += group) {
    const float* xg = x.data() + g0;
    if (affine) {
      float lo = std::min(0.0f, *std::min_element(xg, xg + group)), hi = *std::max_element(xg, xg + group);
      const float d = (hi - lo) / nmax;
      for (int i = 0; i < group; i++) {
        const float l = d > 0 ? std::min<float>(nmax, std::max(0.0f, std::nearbyint((xg[i] - lo) / d))) : 0;
        y[g0 + i] = lo + d * l;
      }
    } else {
      float max = 0;
      for (int i = 0; i < group; i++)
        if (std::fabs(xg[i]) > std::fabs(max)) max = xg[i];
      const float d = max / -nmax;
      for (int i = 0; i < group; i++) {
        const float l = d != 0 ? std::min<float>(nmax - 1, std::max<float>(-nmax, std::nearbyint(xg[i] / d))) : 0;
        y[g0 + i] = d * l;
      }
    }
  }
  return y;
}

struct Bound {
  GgmlType type;
  double max_rel_rmse;  // RMSE / RMS(x) on weight_like rows
};

// Relative error bounds: about 10% above what these quantizers reach on weight_like rows (the
// same as llama.cpp's, see quant_file_matches_llama_quantize), so a regression shows.
const Bound kBounds[] = {
    {GgmlType::F32, 0.0},       {GgmlType::F16, 0.00025},   {GgmlType::BF16, 0.0019},   {GgmlType::Q8_0, 0.0086},
    {GgmlType::Q6_K, 0.026},    {GgmlType::Q5_1, 0.048},    {GgmlType::Q5_0, 0.068},    {GgmlType::Q5_K, 0.047},
    {GgmlType::Q4_1, 0.100},    {GgmlType::Q4_0, 0.137},    {GgmlType::Q4_K, 0.093},    {GgmlType::IQ4_NL, 0.108},
    {GgmlType::IQ4_XS, 0.110},  {GgmlType::Q3_K, 0.202},    {GgmlType::Q2_K, 0.358},
};

}  // namespace

TEST(quant_round_trip_error_per_type) {
  const std::vector<float> x = weight_like(256 * 64, 1);
  const double r = rms(x);
  for (const Bound& b : kBounds) {
    const double rel = rmse(x, round_trip(b.type, x)) / r;
    if (std::getenv("HB_PRINT_RMSE")) std::printf("  %s %.5f\n", hb::ggml_type_name(b.type), rel);
    if (!(rel <= b.max_rel_rmse)) {
      std::ostringstream os;
      os << hb::ggml_type_name(b.type) << " relative RMSE " << rel << " above " << b.max_rel_rmse;
      hbtest::report(__FILE__, __LINE__, os.str());
    }
  }
  // More bits, less error.
  CHECK(rmse(x, round_trip(GgmlType::Q6_K, x)) < rmse(x, round_trip(GgmlType::Q5_K, x)));
  CHECK(rmse(x, round_trip(GgmlType::Q5_K, x)) < rmse(x, round_trip(GgmlType::Q4_K, x)));
  CHECK(rmse(x, round_trip(GgmlType::Q4_K, x)) < rmse(x, round_trip(GgmlType::Q3_K, x)));
  CHECK(rmse(x, round_trip(GgmlType::Q3_K, x)) < rmse(x, round_trip(GgmlType::Q2_K, x)));
}

TEST(quant_k_quants_beat_naive_rounding) {
  const std::vector<float> x = weight_like(256 * 64, 2);
  struct Case {
    GgmlType type;
    int group, nmax;
    bool affine;
  } cases[] = {
      {GgmlType::Q2_K, 16, 3, true},  {GgmlType::Q3_K, 16, 4, false}, {GgmlType::Q4_K, 32, 15, true},
      {GgmlType::Q5_K, 32, 31, true}, {GgmlType::Q6_K, 16, 32, false},
  };
  for (const Case& c : cases) {
    const double ours = rmse(x, round_trip(c.type, x)), plain = rmse(x, naive(x, c.group, c.nmax, c.affine));
    if (!(ours < plain)) {
      std::ostringstream os;
      os << hb::ggml_type_name(c.type) << " RMSE " << ours << " not below naive rounding's " << plain;
      hbtest::report(__FILE__, __LINE__, os.str());
    }
  }
}

TEST(quant_edge_rows) {
  // All zeros, one spike, constant and tiny rows: every type gives finite output that
  // dequantizes close to the input.
  std::vector<std::vector<float>> rows;
  rows.push_back(std::vector<float>(256, 0.0f));
  std::vector<float> spike(256, 0.0f);
  spike[77] = -3.0f;
  rows.push_back(spike);
  rows.push_back(std::vector<float>(256, 0.5f));
  rows.push_back(std::vector<float>(256, -1e-20f));
  std::vector<float> ramp(256);
  for (int i = 0; i < 256; i++) ramp[i] = (i - 128) * 8.0f;  // up to 1024: within every scale's range
  rows.push_back(ramp);
  for (const Bound& b : kBounds) {
    for (const auto& x : rows) {
      const std::vector<float> y = round_trip(b.type, x);
      double amax = 0;
      for (float v : x) amax = std::max(amax, double(std::fabs(v)));
      for (size_t i = 0; i < x.size(); i++) {
        if (!std::isfinite(y[i]) || std::fabs(y[i] - x[i]) > std::max(0.5 * amax, 1e-15)) {
          std::ostringstream os;
          os << hb::ggml_type_name(b.type) << " element " << i << ": " << x[i] << " -> " << y[i];
          hbtest::report(__FILE__, __LINE__, os.str());
          break;
        }
      }
    }
  }
  // Zero rows stay exactly zero.
  for (const Bound& b : kBounds)
    for (float v : round_trip(b.type, rows[0])) CHECK(v == 0.0f);
}

TEST(quant_row_rejects_bad_lengths) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> y(4096);
  CHECK_THROWS_CODE(hb::quantize_row(GgmlType::Q4_K, x.data(), y.data(), 288), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(hb::quantize_row(GgmlType::Q4_0, x.data(), y.data(), 33), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(hb::quantize_row(GgmlType::IQ2_XXS, x.data(), y.data(), 256), "UNSUPPORTED_TENSOR_TYPE");
  CHECK(hb::can_quantize_to(GgmlType::IQ4_XS));
  CHECK(!hb::can_quantize_to(GgmlType::Q8_K));
}

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

hb::GgufValue scalar(hb::GgufValueType t, int64_t i, uint64_t u, double f) {
  hb::GgufValue v;
  v.type = t;
  v.i = i;
  v.u = u;
  v.f = f;
  return v;
}

hb::GgufValue array(hb::GgufValueType et, std::vector<double> nums) {
  hb::GgufValue v;
  v.type = hb::GgufValueType::ARRAY;
  v.array_type = et;
  v.nums = std::move(nums);
  return v;
}

}  // namespace

TEST(quant_writer_round_trips_every_value_type) {
  using T = hb::GgufValueType;
  hb::GgufWriter w;
  w.add("u8", scalar(T::UINT8, 0, 200, 0));
  w.add("i8", scalar(T::INT8, -100, 0, 0));
  w.add("u16", scalar(T::UINT16, 0, 65535, 0));
  w.add("i16", scalar(T::INT16, -32768, 0, 0));
  w.add("u32", scalar(T::UINT32, 0, 4000000000u, 0));
  w.add("i32", scalar(T::INT32, -2000000000, 0, 0));
  w.add("u64", scalar(T::UINT64, 0, 18446744073709551615ull, 0));
  w.add("i64", scalar(T::INT64, -9223372036854775807ll, 0, 0));
  w.add("f32", scalar(T::FLOAT32, 0, 0, 0.15625));
  w.add("f64", scalar(T::FLOAT64, 0, 0, 1.0 / 3.0));
  hb::GgufValue b;
  b.type = T::BOOL;
  b.b = true;
  w.add("bool", b);
  hb::GgufValue s;
  s.type = T::STRING;
  s.s = std::string("h\xc3\xa9llo\0world", 12);
  w.add("str", s);
  w.add("arr.u8", array(T::UINT8, {0, 1, 255}));
  w.add("arr.i8", array(T::INT8, {-128, 127}));
  w.add("arr.u16", array(T::UINT16, {65535}));
  w.add("arr.i16", array(T::INT16, {-5, 5}));
  w.add("arr.u32", array(T::UINT32, {4294967295.0, 7}));
  w.add("arr.i32", array(T::INT32, {-2147483648.0, 3}));
  w.add("arr.u64", array(T::UINT64, {9007199254740992.0}));
  w.add("arr.i64", array(T::INT64, {-9007199254740992.0}));
  w.add("arr.f32", array(T::FLOAT32, {0.5, -2.25}));
  w.add("arr.f64", array(T::FLOAT64, {1e300}));
  w.add("arr.bool", array(T::BOOL, {1, 0, 1}));
  w.add("arr.empty", array(T::FLOAT32, {}));
  hb::GgufValue strs;
  strs.type = T::ARRAY;
  strs.array_type = T::STRING;
  strs.strs = {"a", "", "ccc"};
  w.add("arr.str", strs);

  const int64_t ne_a[4] = {64, 3, 1, 1}, ne_b[4] = {256, 2, 1, 1}, ne_c[4] = {5, 1, 1, 1};
  w.add_tensor("a.weight", 2, ne_a, GgmlType::Q4_0);
  w.add_tensor("b.weight", 2, ne_b, GgmlType::Q6_K);
  w.add_tensor("c", 1, ne_c, GgmlType::F32);
  CHECK_EQ(w.tensor_bytes(0), uint64_t(6 * 18));
  CHECK_EQ(w.tensor_offset(1), uint64_t(128));  // 108 padded to 32
  CHECK_EQ(w.tensor_bytes(1), uint64_t(2 * 210));

  hb::MemorySink sink;
  w.begin(sink);
  std::vector<uint8_t> data;
  for (size_t t = 0; t < 3; t++)
    for (uint64_t i = 0; i < w.tensor_bytes(t); i++) data.push_back(static_cast<uint8_t>(t * 50 + i * 7));
  // Uneven pieces, across tensor boundaries.
  size_t pos = 0;
  for (size_t piece : {1, 100, 3, 500}) {
    piece = std::min(piece, data.size() - pos);
    w.write_data(data.data() + pos, piece);
    pos += piece;
  }
  w.write_data(data.data() + pos, data.size() - pos);
  w.finish();
  CHECK_EQ(sink.bytes.size(), static_cast<size_t>(w.file_size()));
  CHECK_EQ(sink.bytes.size() % 32, size_t(0));

  auto g = hb::GgufFile::parse(sink.bytes.data(), sink.bytes.size());
  CHECK_EQ(g->version, 3u);
  CHECK_EQ(g->metadata.size(), size_t(25));
  CHECK_EQ(g->find("u8")->u, 200u);
  CHECK_EQ(g->find("i8")->i, -100);
  CHECK_EQ(g->find("u16")->u, 65535u);
  CHECK_EQ(g->find("i16")->i, -32768);
  CHECK_EQ(g->find("u32")->u, 4000000000u);
  CHECK_EQ(g->find("i32")->i, -2000000000);
  CHECK_EQ(g->find("u64")->u, 18446744073709551615ull);
  CHECK_EQ(g->find("i64")->i, -9223372036854775807ll);
  CHECK_EQ(g->find("f32")->f, 0.15625);
  CHECK_EQ(g->find("f32")->type, T::FLOAT32);
  CHECK_EQ(g->find("f64")->f, 1.0 / 3.0);
  CHECK(g->find("bool")->b);
  CHECK(g->find("str")->s == std::string("h\xc3\xa9llo\0world", 12));
  CHECK(g->find("arr.u8")->nums == std::vector<double>({0, 1, 255}));
  CHECK(g->find("arr.i8")->nums == std::vector<double>({-128, 127}));
  CHECK(g->find("arr.u16")->nums == std::vector<double>({65535}));
  CHECK(g->find("arr.i16")->nums == std::vector<double>({-5, 5}));
  CHECK(g->find("arr.u32")->nums == std::vector<double>({4294967295.0, 7}));
  CHECK(g->find("arr.i32")->nums == std::vector<double>({-2147483648.0, 3}));
  CHECK(g->find("arr.u64")->nums == std::vector<double>({9007199254740992.0}));
  CHECK(g->find("arr.i64")->nums == std::vector<double>({-9007199254740992.0}));
  CHECK(g->find("arr.f32")->nums == std::vector<double>({0.5, -2.25}));
  CHECK(g->find("arr.f64")->nums == std::vector<double>({1e300}));
  CHECK(g->find("arr.bool")->nums == std::vector<double>({1, 0, 1}));
  CHECK_EQ(g->find("arr.empty")->array_size(), size_t(0));
  CHECK(g->find("arr.str")->strs == std::vector<std::string>({"a", "", "ccc"}));
  CHECK_EQ(g->find("arr.i16")->array_type, T::INT16);
  CHECK_EQ(g->find("arr.u64")->array_type, T::UINT64);
  CHECK_EQ(g->find("arr.bool")->array_type, T::BOOL);
  CHECK_EQ(g->find("arr.str")->array_type, T::STRING);

  CHECK_EQ(g->tensors.size(), size_t(3));
  CHECK(g->tensors[1].name == "b.weight");
  CHECK_EQ(g->tensors[1].type(), GgmlType::Q6_K);
  CHECK_EQ(g->tensors[1].ne[0], int64_t(256));
  CHECK_EQ(g->tensors[2].n_dims, 1u);
  size_t off = 0;
  for (size_t t = 0; t < 3; t++) {
    CHECK(std::memcmp(g->tensors[t].data, data.data() + off, g->tensors[t].nbytes) == 0);
    off += g->tensors[t].nbytes;
  }

  // Raw copies are exact, 64-bit arrays included.
  hb::GgufWriter w2;
  std::vector<uint8_t> raw;
  uint32_t et = static_cast<uint32_t>(T::UINT64);
  uint64_t cnt = 2, v0 = 18446744073709551615ull, v1 = 9007199254740993ull;
  raw.insert(raw.end(), reinterpret_cast<uint8_t*>(&et), reinterpret_cast<uint8_t*>(&et) + 4);
  raw.insert(raw.end(), reinterpret_cast<uint8_t*>(&cnt), reinterpret_cast<uint8_t*>(&cnt) + 8);
  raw.insert(raw.end(), reinterpret_cast<uint8_t*>(&v0), reinterpret_cast<uint8_t*>(&v0) + 8);
  raw.insert(raw.end(), reinterpret_cast<uint8_t*>(&v1), reinterpret_cast<uint8_t*>(&v1) + 8);
  w2.add_raw("big", T::ARRAY, raw.data(), raw.size());
  for (const hb::RawKv& kv : hb::read_raw_metadata(sink.bytes.data(), sink.bytes.size()))
    w2.add_raw(kv.key, kv.type, kv.value, kv.size);
  hb::MemorySink sink2;
  w2.begin(sink2);
  w2.finish();
  auto rk = hb::read_raw_metadata(sink2.bytes.data(), sink2.bytes.size());
  CHECK_EQ(rk.size(), size_t(26));
  CHECK(rk[0].size == raw.size() && std::memcmp(rk[0].value, raw.data(), raw.size()) == 0);
  auto g2 = hb::GgufFile::parse(sink2.bytes.data(), sink2.bytes.size());
  CHECK(g2->find("str")->s == g->find("str")->s);
  CHECK_EQ(g2->find("u64")->u, 18446744073709551615ull);
}

TEST(quant_writer_alignment_and_errors) {
  using T = hb::GgufValueType;
  hb::GgufWriter w;
  w.add("general.alignment", scalar(T::UINT32, 0, 64, 0));
  const int64_t ne[4] = {32, 1, 1, 1};
  w.add_tensor("x", 1, ne, GgmlType::F32);
  w.add_tensor("y", 1, ne, GgmlType::Q8_0);
  CHECK_EQ(w.tensor_offset(1), uint64_t(128));
  hb::MemorySink sink;
  w.begin(sink);
  std::vector<uint8_t> zeros(200, 0);
  w.write_data(zeros.data(), 128 + 34);
  w.finish();
  auto g = hb::GgufFile::parse(sink.bytes.data(), sink.bytes.size());
  CHECK_EQ(g->alignment, uint64_t(64));
  CHECK_EQ(g->data_offset % 64, uint64_t(0));
  CHECK_EQ(g->tensors[1].offset, uint64_t(128));

  hb::GgufWriter e;
  e.add("k", scalar(T::UINT32, 0, 1, 0));
  CHECK_THROWS_CODE(e.add("k", scalar(T::UINT32, 0, 1, 0)), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add("", scalar(T::UINT32, 0, 1, 0)), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add("u8", scalar(T::UINT8, 0, 256, 0)), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add("i8", scalar(T::INT8, 128, 0, 0)), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add("nested", array(T::ARRAY, {})), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add("frac", array(T::INT32, {0.5})), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add("general.alignment", scalar(T::UINT32, 0, 48, 0)), "INVALID_ARGUMENT");
  const uint8_t bad_bool = 2;
  CHECK_THROWS_CODE(e.add_raw("b", T::BOOL, &bad_bool, 1), "INVALID_ARGUMENT");
  const uint8_t short_str[4] = {9, 0, 0, 0};
  CHECK_THROWS_CODE(e.add_raw("s", T::STRING, short_str, 4), "INVALID_ARGUMENT");
  const int64_t bad_row[4] = {33, 1, 1, 1};
  CHECK_THROWS_CODE(e.add_tensor("t", 1, bad_row, GgmlType::Q4_0), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add_tensor("t", 5, ne, GgmlType::F32), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(e.add_tensor(std::string(64, 'n'), 1, ne, GgmlType::F32), "INVALID_ARGUMENT");
  e.add_tensor("t", 1, ne, GgmlType::F32);
  CHECK_THROWS_CODE(e.add_tensor("t", 1, ne, GgmlType::F32), "INVALID_ARGUMENT");
  hb::MemorySink s;
  e.begin(s);
  CHECK_THROWS_CODE(e.write_data(zeros.data(), 129), "INTERNAL");
  hb::GgufWriter f;
  f.add_tensor("t", 1, ne, GgmlType::F32);
  hb::MemorySink s2;
  f.begin(s2);
  f.write_data(zeros.data(), 100);
  CHECK_THROWS_CODE(f.finish(), "INTERNAL");
}

// ---------------------------------------------------------------------------------------------
// Mixtures

namespace {

// A Llama-shaped model: n_layer layers, GQA factor n_head / n_head_kv.
hb::PlanModel llama_model(int n_layer, int n_head, int n_head_kv, bool tied = false, int64_t ffn = 11008) {
  hb::PlanModel m;
  m.arch = "llama";
  m.n_layer = n_layer;
  m.n_head = n_head;
  m.n_head_kv = n_head_kv;
  auto add = [&](const std::string& name, int64_t ne0, int64_t ne1) {
    hb::PlanTensor t;
    t.name = name;
    t.n_dims = ne1 > 1 ? 2 : 1;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    m.tensors.push_back(t);
  };
  add("token_embd.weight", 4096, 32000);
  for (int l = 0; l < n_layer; l++) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", 4096, 1);
    add(p + "attn_q.weight", 4096, 4096);
    add(p + "attn_k.weight", 4096, 4096 / (n_head / n_head_kv));
    add(p + "attn_v.weight", 4096, 4096 / (n_head / n_head_kv));
    add(p + "attn_output.weight", 4096, 4096);
    add(p + "ffn_norm.weight", 4096, 1);
    add(p + "ffn_gate.weight", 4096, ffn);
    add(p + "ffn_up.weight", 4096, ffn);
    add(p + "ffn_down.weight", ffn, 4096);
  }
  add("output_norm.weight", 4096, 1);
  if (!tied) add("output.weight", 4096, 32000);
  return m;
}

std::map<std::string, GgmlType> plan_types(const hb::PlanModel& m, const char* preset, bool pure = false) {
  std::map<std::string, GgmlType> out;
  for (const hb::PlanEntry& e : hb::plan_quantization(m, *hb::find_quant_preset(preset), pure)) out[e.name] = e.to;
  return out;
}

bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

std::string blk(int l, const char* t) { return "blk." + std::to_string(l) + "." + t; }

}  // namespace

TEST(quant_preset_q4_k_m_mixture) {
  const hb::PlanModel m = llama_model(32, 32, 32);
  auto t = plan_types(m, "Q4_K_M");
  CHECK_EQ(t["output.weight"], GgmlType::Q6_K);
  CHECK_EQ(t["token_embd.weight"], GgmlType::Q4_K);
  CHECK_EQ(t["output_norm.weight"], GgmlType::F32);
  int q6_v = 0;
  for (int l = 0; l < 32; l++) {
    const GgmlType want = more_bits(l, 32) ? GgmlType::Q6_K : GgmlType::Q4_K;
    CHECK_EQ(t[blk(l, "attn_v.weight")], want);
    CHECK_EQ(t[blk(l, "ffn_down.weight")], want);
    CHECK_EQ(t[blk(l, "attn_q.weight")], GgmlType::Q4_K);
    CHECK_EQ(t[blk(l, "attn_k.weight")], GgmlType::Q4_K);
    CHECK_EQ(t[blk(l, "attn_output.weight")], GgmlType::Q4_K);
    CHECK_EQ(t[blk(l, "ffn_gate.weight")], GgmlType::Q4_K);
    CHECK_EQ(t[blk(l, "ffn_up.weight")], GgmlType::Q4_K);
    CHECK_EQ(t[blk(l, "attn_norm.weight")], GgmlType::F32);
    q6_v += want == GgmlType::Q6_K;
  }
  // Layers 0-3, 28-31 and every third from 6: 16 of 32.
  CHECK_EQ(q6_v, 16);
  CHECK_EQ(t[blk(6, "attn_v.weight")], GgmlType::Q6_K);
  CHECK_EQ(t[blk(7, "ffn_down.weight")], GgmlType::Q4_K);

  // Output order: outside the layers first (by name), then layer by layer (by name), numerically.
  auto plan = hb::plan_quantization(m, *hb::find_quant_preset("Q4_K_M"), false);
  CHECK(plan[0].name == "output.weight");
  CHECK(plan[1].name == "output_norm.weight");
  CHECK(plan[2].name == "token_embd.weight");
  CHECK(plan[3].name == "blk.0.attn_k.weight");
  CHECK(plan[3 + 9].name == "blk.1.attn_k.weight");
  CHECK(plan[3 + 9 * 10].name == "blk.10.attn_k.weight");
}

TEST(quant_preset_other_mixtures) {
  const hb::PlanModel m = llama_model(32, 32, 32);
  auto q3m = plan_types(m, "Q3_K_M");
  CHECK_EQ(q3m["blk.0.attn_v.weight"], GgmlType::Q5_K);
  CHECK_EQ(q3m["blk.1.attn_v.weight"], GgmlType::Q5_K);
  CHECK_EQ(q3m["blk.2.attn_v.weight"], GgmlType::Q4_K);
  CHECK_EQ(q3m["blk.1.ffn_down.weight"], GgmlType::Q5_K);  // first 32/16 layers
  CHECK_EQ(q3m["blk.2.ffn_down.weight"], GgmlType::Q4_K);
  CHECK_EQ(q3m["blk.5.attn_output.weight"], GgmlType::Q4_K);
  CHECK_EQ(q3m["blk.5.attn_q.weight"], GgmlType::Q3_K);
  CHECK_EQ(q3m["output.weight"], GgmlType::Q6_K);

  auto q3l = plan_types(m, "Q3_K_L");
  CHECK_EQ(q3l["blk.9.attn_v.weight"], GgmlType::Q5_K);
  CHECK_EQ(q3l["blk.9.ffn_down.weight"], GgmlType::Q5_K);
  CHECK_EQ(q3l["blk.9.attn_output.weight"], GgmlType::Q5_K);
  auto q3s = plan_types(m, "Q3_K_S");
  CHECK_EQ(q3s["blk.0.attn_v.weight"], GgmlType::Q3_K);
  CHECK_EQ(q3s["blk.0.ffn_down.weight"], GgmlType::Q3_K);

  auto q2 = plan_types(m, "Q2_K");
  CHECK_EQ(q2["blk.3.attn_v.weight"], GgmlType::Q3_K);  // GQA 1
  CHECK_EQ(q2["blk.3.ffn_down.weight"], GgmlType::Q3_K);
  CHECK_EQ(q2["blk.3.attn_output.weight"], GgmlType::Q3_K);
  CHECK_EQ(q2["blk.3.attn_q.weight"], GgmlType::Q2_K);
  CHECK_EQ(plan_types(llama_model(32, 32, 8), "Q2_K")["blk.3.attn_v.weight"], GgmlType::Q4_K);  // GQA 4

  auto q4s = plan_types(m, "Q4_K_S");
  CHECK_EQ(q4s["blk.3.attn_v.weight"], GgmlType::Q5_K);
  CHECK_EQ(q4s["blk.4.attn_v.weight"], GgmlType::Q4_K);
  CHECK_EQ(q4s["blk.3.ffn_down.weight"], GgmlType::Q5_K);  // first 32/8 layers
  CHECK_EQ(q4s["blk.4.ffn_down.weight"], GgmlType::Q4_K);

  auto q5m = plan_types(m, "Q5_K_M");
  CHECK_EQ(q5m["blk.0.attn_v.weight"], GgmlType::Q6_K);
  CHECK_EQ(q5m["blk.4.ffn_down.weight"], GgmlType::Q5_K);
  CHECK_EQ(q5m["blk.31.ffn_down.weight"], GgmlType::Q6_K);
  CHECK_EQ(plan_types(m, "Q5_K_S")["blk.0.attn_v.weight"], GgmlType::Q5_K);

  auto iq4 = plan_types(m, "IQ4_XS");
  CHECK_EQ(iq4["blk.0.ffn_down.weight"], GgmlType::Q5_K);
  CHECK_EQ(iq4["blk.4.ffn_down.weight"], GgmlType::IQ4_XS);
  CHECK_EQ(iq4["blk.0.attn_v.weight"], GgmlType::IQ4_XS);
  CHECK_EQ(plan_types(llama_model(32, 32, 8), "IQ4_NL")["blk.7.attn_v.weight"], GgmlType::Q5_K);
  CHECK_EQ(iq4["output.weight"], GgmlType::Q6_K);

  auto q8 = plan_types(m, "Q8_0");
  CHECK_EQ(q8["output.weight"], GgmlType::Q8_0);
  CHECK_EQ(q8["blk.0.attn_v.weight"], GgmlType::Q8_0);
  auto q40 = plan_types(m, "Q4_0");
  CHECK_EQ(q40["output.weight"], GgmlType::Q6_K);
  CHECK_EQ(q40["blk.0.ffn_down.weight"], GgmlType::Q4_0);

  // Float presets: every matrix in that type, norms stay F32.
  auto f16 = plan_types(m, "F16");
  CHECK_EQ(f16["output.weight"], GgmlType::F16);
  CHECK_EQ(f16["blk.0.attn_v.weight"], GgmlType::F16);
  CHECK_EQ(f16["blk.0.ffn_norm.weight"], GgmlType::F32);
  CHECK_EQ(plan_types(m, "BF16")["token_embd.weight"], GgmlType::BF16);

  // --pure: one type for every matrix, the output included.
  auto pure = plan_types(m, "Q4_K_M", true);
  for (const auto& kv : pure)
    CHECK_EQ(kv.second, kv.first.find("norm") != std::string::npos ? GgmlType::F32 : GgmlType::Q4_K);

  // Tied embeddings: token_embd is the output matrix and gets its type.
  CHECK_EQ(plan_types(llama_model(4, 8, 8, true), "Q4_K_M")["token_embd.weight"], GgmlType::Q6_K);
  // 70B (80 layers, GQA): attn_v gets at least Q5_K.
  CHECK_EQ(plan_types(llama_model(80, 64, 8), "Q4_K_M")["blk.11.attn_v.weight"], GgmlType::Q5_K);
}

TEST(quant_preset_fallbacks) {
  // Rows of 288 (not a multiple of 256): 256-element types fall back to 32-element ones.
  const hb::PlanModel m = llama_model(8, 8, 8, false, 288);
  auto q4km = plan_types(m, "Q4_K_M");
  CHECK_EQ(q4km["blk.1.ffn_down.weight"], GgmlType::Q5_0);  // Q4_K -> Q5_0
  CHECK_EQ(q4km["blk.0.ffn_down.weight"], GgmlType::Q8_0);  // Q6_K -> Q8_0
  CHECK_EQ(plan_types(m, "Q5_K_S")["blk.1.ffn_down.weight"], GgmlType::Q5_1);
  CHECK_EQ(plan_types(m, "Q3_K_S")["blk.1.ffn_down.weight"], GgmlType::Q4_0);
  CHECK_EQ(plan_types(m, "Q2_K")["blk.1.ffn_down.weight"], GgmlType::Q4_0);
  CHECK_EQ(plan_types(m, "IQ4_XS")["blk.4.ffn_down.weight"], GgmlType::IQ4_NL);
  CHECK_EQ(q4km["blk.1.ffn_up.weight"], GgmlType::Q4_K);  // rows of 4096 are fine
  // Rows that fit no block at all: F16. The output tensor falls to Q8_0 first.
  hb::PlanModel odd = llama_model(2, 8, 8);
  odd.tensors[0].ne[0] = 100;  // token_embd
  hb::PlanTensor out;
  out.name = "output.weight";
  out.n_dims = 2;
  out.ne[0] = 96;
  out.ne[1] = 10;
  odd.tensors.back() = out;
  auto t = plan_types(odd, "Q4_K_M");
  CHECK_EQ(t["token_embd.weight"], GgmlType::F16);
  CHECK_EQ(t["output.weight"], GgmlType::Q8_0);
  auto plan = hb::plan_quantization(odd, *hb::find_quant_preset("Q4_K_M"), false);
  for (const auto& e : plan)
    if (e.name == "token_embd.weight") CHECK(e.fallback);
}

// ---------------------------------------------------------------------------------------------
// Files

namespace {

const char* const kFixturePresets[] = {"Q8_0", "Q4_0", "Q4_1",   "Q5_0",   "Q5_1", "Q2_K", "Q3_K_M",
                                       "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "F16", "BF16"};

std::string model_path(const std::string& name) { return hbtest::fixtures_dir() + "/models/" + name; }

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(quant_file_matches_llama_quantize) {
  // tiny-llama-<TYPE>.gguf were made from tiny-llama-F32.gguf by llama-quantize: the same
  // algorithms in the same arithmetic order give the same bytes, header included.
  const std::string out = temp_dir() + "/hb-quant-test-" + std::to_string(hb::platform::process_id()) + ".gguf";
  for (const char* preset : kFixturePresets) {
    hb::QuantizeOptions o;
    o.preset = preset;
    o.threads = 2;
    const hb::QuantizeResult r = hb::quantize_file(model_path("tiny-llama-F32.gguf"), out, o);
    const std::vector<uint8_t> ours = read_all(out), ref = read_all(model_path(std::string("tiny-llama-") + preset + ".gguf"));
    CHECK_EQ(r.tensors, size_t(21));
    CHECK_EQ(r.output_bytes, uint64_t(ours.size()));
    if (ours != ref) {
      hbtest::report(__FILE__, __LINE__, std::string(preset) + ": output differs from llama-quantize's");
      auto a = hb::GgufFile::parse(ours.data(), ours.size());
      auto b = hb::GgufFile::parse(ref.data(), ref.size());
      for (size_t i = 0; i < std::min(a->tensors.size(), b->tensors.size()); i++)
        if (a->tensors[i].type_id != b->tensors[i].type_id || a->tensors[i].nbytes != b->tensors[i].nbytes ||
            std::memcmp(a->tensors[i].data, b->tensors[i].data, a->tensors[i].nbytes) != 0)
          std::fprintf(stderr, "    %s differs\n", a->tensors[i].name.c_str());
    }
  }
  // Qwen2: tied embeddings (token_embd takes the output's Q6_K), biases stay F32.
  for (const char* preset : {"Q8_0", "Q4_K_M"}) {
    hb::QuantizeOptions o;
    o.preset = preset;
    hb::quantize_file(model_path("tiny-qwen2-F32.gguf"), out, o);
    if (read_all(out) != read_all(model_path(std::string("tiny-qwen2-") + preset + ".gguf")))
      hbtest::report(__FILE__, __LINE__, std::string("tiny-qwen2 ") + preset + ": output differs from llama-quantize's");
  }
  hb::QuantizeOptions pure;
  pure.preset = "Q4_0";
  pure.pure = true;
  hb::quantize_file(model_path("tiny-llama-F32.gguf"), out, pure);
  CHECK(read_all(out) == read_all(model_path("tiny-llama-Q4_0-pure.gguf")));
  std::remove(out.c_str());
}

TEST(quant_file_progress_and_metadata) {
  const std::string out = temp_dir() + "/hb-quant-meta-" + std::to_string(hb::platform::process_id()) + ".gguf";
  hb::QuantizeOptions o;
  o.preset = "Q5_K_S";
  std::vector<size_t> indices;
  uint64_t last_done = 0, total = 0;
  bool monotonic = true;
  o.progress = [&](const hb::QuantizeProgress& p) {
    indices.push_back(p.index);
    monotonic = monotonic && p.bytes_done >= last_done && p.count == 21;
    last_done = p.bytes_done;
    total = p.bytes_total;
    return true;
  };
  hb::quantize_file(model_path("tiny-llama-F16.gguf"), out, o);  // an F16 source
  CHECK(monotonic);
  CHECK_EQ(last_done, total);
  CHECK(indices.size() >= 21 && indices.front() == 0 && indices.back() == 20);
  auto src = hb::GgufFile::open(model_path("tiny-llama-F16.gguf"));
  auto g = hb::GgufFile::open(out);
  CHECK_EQ(g->get_u32("general.file_type"), 16u);
  CHECK_EQ(g->get_u32("general.quantization_version"), 2u);
  // Every other key is copied unchanged, in order.
  size_t k = 0;
  for (const auto& kv : src->metadata) {
    if (kv.first == "general.file_type" || kv.first == "general.quantization_version") continue;
    CHECK(g->metadata[k].first == kv.first);
    CHECK(g->metadata[k].second.strs == kv.second.strs && g->metadata[k].second.nums == kv.second.nums &&
          g->metadata[k].second.s == kv.second.s && g->metadata[k].second.u == kv.second.u);
    ++k;
  }
  CHECK_EQ(g->find_tensor("blk.0.attn_q.weight")->type(), GgmlType::Q5_K);
  CHECK_EQ(g->find_tensor("output.weight")->type(), GgmlType::Q6_K);
  CHECK_EQ(g->find_tensor("output_norm.weight")->type(), GgmlType::F32);
  std::remove(out.c_str());
}

TEST(quant_file_errors_leave_no_output) {
  const std::string out = temp_dir() + "/hb-quant-err-" + std::to_string(hb::platform::process_id()) + ".gguf";
  std::remove(out.c_str());
  hb::QuantizeOptions o;
  o.preset = "Q4_K_M";
  // A quantized source is refused, naming the tensor and its type.
  try {
    hb::quantize_file(model_path("tiny-llama-Q8_0.gguf"), out, o);
    hbtest::report(__FILE__, __LINE__, "expected UNSUPPORTED_SOURCE");
  } catch (const hb::Error& e) {
    CHECK_EQ(e.code(), std::string("UNSUPPORTED_SOURCE"));
    CHECK(std::string(e.what()).find("Q8_0") != std::string::npos);
    CHECK(std::string(e.what()).find(".weight") != std::string::npos);
  }
  CHECK(!file_exists(out));
  // ... unless requantizing is allowed.
  o.allow_requantize = true;
  hb::quantize_file(model_path("tiny-llama-Q8_0.gguf"), out, o);
  CHECK_EQ(hb::GgufFile::open(out)->find_tensor("blk.0.attn_q.weight")->type(), GgmlType::Q4_K);
  std::remove(out.c_str());
  o.allow_requantize = false;

  o.preset = "Q4_K_X";
  CHECK_THROWS_CODE(hb::quantize_file(model_path("tiny-llama-F32.gguf"), out, o), "INVALID_ARGUMENT");
  o.preset = "Q4_K_M";
  CHECK_THROWS_CODE(hb::quantize_file(model_path("no-such.gguf"), out, o), "FILE_NOT_FOUND");
  CHECK_THROWS_CODE(hb::quantize_file(model_path("tiny-llama-F32.gguf"), temp_dir() + "/no-such-dir/x.gguf", o),
                    "FILE_WRITE_ERROR");

  // Abort half-way: ABORTED, and neither the output nor its temporary file remains; an existing
  // file at the output path is left as it was.
  {
    std::ofstream keep(out);
    keep << "previous";
  }
  int calls = 0;
  o.progress = [&](const hb::QuantizeProgress& p) { return ++calls < 10; };
  CHECK_THROWS_CODE(hb::quantize_file(model_path("tiny-llama-F32.gguf"), out, o), "ABORTED");
  CHECK_EQ(calls, 10);
  std::vector<uint8_t> kept = read_all(out);
  CHECK(std::string(kept.begin(), kept.end()) == "previous");
  std::remove(out.c_str());
  o.progress = nullptr;

  // NaN weights are refused.
  hb::GgufWriter w;
  hb::GgufValue arch;
  arch.type = hb::GgufValueType::STRING;
  arch.s = "llama";
  w.add("general.architecture", arch);
  const int64_t ne[4] = {256, 2, 1, 1};
  w.add_tensor("blk.0.ffn_up.weight", 2, ne, GgmlType::F32);
  std::vector<float> x(512, 0.25f);
  x[300] = std::nanf("");
  const std::string nan_src = temp_dir() + "/hb-quant-nan-" + std::to_string(hb::platform::process_id()) + ".gguf";
  {
    hb::FileSink s(nan_src);
    w.begin(s);
    w.write_data(x.data(), x.size() * 4);
    w.finish();
    s.commit();
  }
  try {
    hb::quantize_file(nan_src, out, o);
    hbtest::report(__FILE__, __LINE__, "expected BAD_TENSOR_DATA");
  } catch (const hb::Error& e) {
    CHECK_EQ(e.code(), std::string("BAD_TENSOR_DATA"));
    CHECK(std::string(e.what()).find("element 300 is NaN") != std::string::npos);
  }
  CHECK(!file_exists(out));
  std::remove(nan_src.c_str());
}
