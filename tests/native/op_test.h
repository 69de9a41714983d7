// The Node-free native op test (in the style of ggml's test-backend-ops):
// every registered case runs on every available backend against the CPU twin,
// on random inputs with outputs poisoned (NaN) before each run, compared by
// NMSE = mse(out, ref) / mse(ref, 0) with bounds per precision; each op is
// also timed. Cases live in tests/native/ops/<op>_cases.cpp and register
// themselves with OP_TEST_CASE.
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ops/registry.h"
#include "uniform.h"

namespace sotr_test {

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  float uniform(float lo = -1.f, float hi = 1.f) { return uniformFloat(gen, lo, hi); }
  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen); }
};

// Host (CPU) tensors for inputs.
sotr::Tensor cpuTensor(sotr::DType dt, const sotr::Shape& shape);
sotr::Tensor randomTensor(Rng& rng, const sotr::Shape& shape, float lo = -1.f, float hi = 1.f);

struct Bounds {
  double fp32 = 1e-10, tf32 = 1e-6, bf16 = 1e-4, fp16 = 1e-4;
};

struct OpCase {
  std::string name;  // shown in reports, e.g. "matmul 33x65x17 tA"
  // Builds the call (inputs on the CPU); the harness moves them per backend.
  std::function<sotr::OpCall(Rng&)> make;
  Bounds bounds;
  bool reducedPrecision = false;  // also run tf32/bf16/fp16 on CUDA
  // Optional check of the CPU result against an independent reference
  // (returns NMSE); empty when the PyTorch goldens cover the CPU twin.
  std::function<double(const sotr::OpCall&, const std::vector<sotr::Tensor>&)> cpuReference;
  double cpuBound = 1e-10;
  bool timed = false;  // include in the timing table
  bool exact = false;  // outputs must match bit for bit (integer results)
  bool cpuOnly = false;  // a host op with no CUDA kernel (preprocessing): CPU checks only
};

// A host op's case (CPU only, no CUDA kernel), its outputs checked by `check`
// (0 = exact agreement, anything else fails: INFINITY by convention).
inline void hostOpCheck(OpCase& c, bool timed,
                        std::function<double(const sotr::OpCall&, const std::vector<sotr::Tensor>&)> check) {
  c.cpuOnly = true;
  c.exact = true;
  c.timed = timed;
  c.cpuReference = std::move(check);
  c.cpuBound = 0;
}

void registerCase(OpCase c);
struct CaseRegistrar {
  explicit CaseRegistrar(OpCase c) { registerCase(std::move(c)); }
};

double nmse(const float* out, const float* ref, int64_t n);

}  // namespace sotr_test

#define OP_TEST_CONCAT2(a, b) a##b
#define OP_TEST_CONCAT(a, b) OP_TEST_CONCAT2(a, b)
#define OP_TEST_CASE static sotr_test::CaseRegistrar OP_TEST_CONCAT(op_case_, __COUNTER__)
