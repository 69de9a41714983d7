// CPU float32 GEMM core: packed, cache-blocked, SIMD microkernels (scalar /
// AVX2+FMA / AVX-512) chosen at run time, multithreaded over sotr::ThreadPool,
// with the GemmEpilogue fused into the last K block. See docs/gemm.md.
//
// Precision::BF16 on a CPU with AVX512-BF16 (Zen 4, Cooper Lake, Sapphire
// Rapids and later) rounds the operands to bfloat16 when they are packed and
// multiplies them with VDPBF16PS (products exact, float32 accumulation, twice
// the float32 FMA rate); everywhere else, and for TF32 / FP16, the CPU computes
// in float32 (at least as accurate). cpuGemmPrecision() says which.
//
// Semantics are those of gemm_args.h. C is overwritten (never read, so it may
// hold garbage/NaN). C must not overlap A or B; the residual may alias C.
// Results depend only on the shape and SIMD level, not on the thread count.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "gemm/gemm_args.h"
#include "runtime/cpu_features.h"

namespace sotr {

class ThreadPool;

// C = epilogue(op(A) * op(B)), batched. pool == nullptr runs on the caller's
// thread only (lowest overhead, for many small calls). Throws
// std::invalid_argument on bad dimensions / leading dims / strides / pointers.
void gemmF32(const GemmArgs& args, ThreadPool* pool, Precision precision = Precision::FP32);
// Same with an explicit kernel level (capped at maxSimdLevel()); for tests/benchmarks.
void gemmF32(const GemmArgs& args, ThreadPool* pool, SimdLevel level, Precision precision = Precision::FP32);

// The products' precision the CPU core gives for `requested` at `level`: BF16
// where the bfloat16 kernels can run (AVX-512 level, AVX512-BF16 CPU, compiled
// in), else FP32.
Precision cpuGemmPrecision(Precision requested, SimdLevel level);
inline Precision cpuGemmPrecision(Precision requested) { return cpuGemmPrecision(requested, activeSimdLevel()); }

// The kernels a packed operand made with (level, precision) is valid for, as a
// weight-cache tag suffix ("/simd2", "/simd2/bf16"): ops that cache packed
// weights append it, so entries never mix kernels.
std::string packedKernelsTag(SimdLevel level, Precision precision);

// An operand packed once into the microkernel layout, for weights reused
// across calls (conv weights as A, linear weights as B). The layout depends on
// the SIMD level and the precision (bfloat16 pairs take half the bytes), so a
// packed matrix is only valid with the kernels it was made for.
class PackedMatrix {
 public:
  enum class Role : int { A = 0, B = 1 };
  PackedMatrix() = default;
  bool empty() const { return !data_; }
  Role role() const { return role_; }
  SimdLevel level() const { return level_; }
  Precision precision() const { return precision_; }  // FP32 or BF16: cpuGemmPrecision of the request
  int64_t rows() const { return rows_; }  // A: M, B: K
  int64_t cols() const { return cols_; }  // A: K, B: N
  int64_t bytes() const { return size_ * static_cast<int64_t>(sizeof(float)); }
  const float* data() const { return data_.get(); }

 private:
  friend PackedMatrix packA(const float*, int64_t, bool, int64_t, int64_t, SimdLevel, ThreadPool*, Precision);
  friend PackedMatrix packB(const float*, int64_t, bool, int64_t, int64_t, SimdLevel, ThreadPool*, Precision);
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> data_;
  int64_t size_ = 0;
  Role role_ = Role::A;
  SimdLevel level_ = SimdLevel::Scalar;
  Precision precision_ = Precision::FP32;
  int64_t rows_ = 0, cols_ = 0;
};

// Packs op(A) (M x K; transA: A stored K x M) / op(B) (K x N; transB: B stored
// N x K). pool may be nullptr. precision: as gemmF32's (BF16 packs bfloat16
// pairs where the CPU can use them).
PackedMatrix packA(const float* A, int64_t lda, bool transA, int64_t M, int64_t K,
                   SimdLevel level, ThreadPool* pool = nullptr, Precision precision = Precision::FP32);
PackedMatrix packB(const float* B, int64_t ldb, bool transB, int64_t K, int64_t N,
                   SimdLevel level, ThreadPool* pool = nullptr, Precision precision = Precision::FP32);
inline PackedMatrix packA(const float* A, int64_t lda, bool transA, int64_t M, int64_t K) {
  return packA(A, lda, transA, M, K, activeSimdLevel(), nullptr);
}
inline PackedMatrix packB(const float* B, int64_t ldb, bool transB, int64_t K, int64_t N) {
  return packB(B, ldb, transB, K, N, activeSimdLevel(), nullptr);
}

// gemmF32 with either operand (or both) pre-packed: args.A / lda / transA /
// strideA are ignored when packedA is given (it is broadcast over the batch;
// its M, K must match args), likewise for B. The kernels (level and
// precision) are the packed operand's (both must agree).
void gemmF32Packed(const GemmArgs& args, const PackedMatrix* packedA,
                   const PackedMatrix* packedB, ThreadPool* pool);

// ---------------------------------------------------------------------------
// Internal interface between the driver (gemm_cpu.cpp, baseline ISA) and the
// per-ISA kernel sources. Not part of the public API.
namespace gemm_detail {

// Epilogue resolved for one batch item; channel arrays are indexed by global
// row/col, residual by global (row, col) via ldr.
struct EpiCtx {
  const float* bias = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  int axis = 0;
  float alpha = 1.f;
  const float* res = nullptr;
  int64_t ldr = 0;
  float beta = 1.f;
  int act = 0;  // Activation
  float slope = 0.f;
};

// One macro-kernel call: C[0:mcount, 0:ncount] (+)= op(A) * op(B) over kc.
// A is either packed (aPacked: ceil(mcount/mr) panels of mr x kc, k-major) or
// op(A) read in place at its (row0, k0) element with lda / transA. B is either
// packed (ceil(ncount/nr) panels of kc x nr) or, only when not transposed, read
// in place at its (k0, col0) element with ldb. ep != nullptr: this is the last
// K block and the epilogue is applied; row0/col0 are C's global coordinates.
struct MacroArgs {
  int64_t kc;
  const float* A;
  bool aPacked;
  bool transA;
  int64_t lda;
  int64_t mcount;
  const float* B;
  bool bPacked;
  int64_t ldb;
  int64_t ncount;
  float* C;
  int64_t ldc;
  bool accumulate;  // add to C (later K blocks) instead of overwriting
  const EpiCtx* ep;
  int64_t row0, col0;
  float* scratch;  // KernelSet::scratchFloats floats of this thread's scratch (nullptr if 0)
};

struct KernelSet {
  SimdLevel level;
  int mr, nr;  // microtile
  int kc, nc;  // cache blocking: K block, N block (multiple of nr)
  // FP32, or BF16: packed panels hold bfloat16 pairs (k even in the low half),
  // one 32-bit slot per two k, so a panel of kc is kSlots(kc) = ceil(kc/2)
  // slots deep; operands read in place are converted by the macro-kernel.
  Precision precision;
  int64_t scratchFloats;  // per-thread scratch the macro-kernel needs
  int64_t kSlots(int64_t k) const { return precision == Precision::BF16 ? (k + 1) / 2 : k; }
  // Packs rows [m0, m0+mcount) x k [k0, k0+kc) of op(A) into ceil(mcount/mr)
  // zero-padded panels of mr * kSlots(kc) slots at dst.
  void (*packA)(const float* A, int64_t lda, bool transA, int64_t m0, int64_t mcount, int64_t k0,
                int64_t kc, float* dst);
  // Packs k [k0, k0+kc) x cols [n0, n0+ncount) of op(B) into ceil(ncount/nr) panels.
  void (*packB)(const float* B, int64_t ldb, bool transB, int64_t k0, int64_t kc, int64_t n0,
                int64_t ncount, float* dst);
  void (*macro)(const MacroArgs& m);
};

// The row panel a macro-kernel's microkernel reads for C rows [i, i + mr): the packed
// panel; the partial last panel of in-place A, packed beforehand into `edge` by
// packEdgePanel (reading past row mcount is not allowed); A^T in place (k-major like a
// packed panel, lda apart); or row-major A in place (rows: a(r, k) = a[r*stride + k]).
// static: the ISA sources include these, and no copy compiled with their flags may
// become a shared (weak) symbol that a baseline caller could bind to.
struct APanel {
  const float* a;
  int64_t stride;
  bool rows;
};
static inline APanel aPanel(const MacroArgs& m, int64_t i, int mr, int MR, int64_t kc, const float* edge) {
  if (m.aPacked) return {m.A + i * kc, MR, false};  // panel i/MR starts at (i/MR)*MR*kc
  if (mr < MR) return {edge, MR, false};
  if (m.transA) return {m.A + i, m.lda, false};
  return {m.A + i * m.lda, m.lda, true};
}
// Packs the partial last row panel of in-place A (MR * kc floats at edge), once per call.
static inline void packEdgePanel(const MacroArgs& m, int MR, int64_t kc, float* edge,
                                 void (*packA)(const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, float*)) {
  const int64_t mfull = m.mcount / MR * MR;
  if (!m.aPacked && mfull < m.mcount)
    packA(m.A + (m.transA ? mfull : mfull * m.lda), m.lda, m.transA, 0, m.mcount - mfull, 0, kc, edge);
}

const KernelSet* kernelsScalar();
const KernelSet* kernelsAvx2();    // nullptr when not compiled in
const KernelSet* kernelsAvx512();  // nullptr when not compiled in
const KernelSet* kernelsAvx512Bf16();  // nullptr when not compiled in (the CPU check is the caller's)

}  // namespace gemm_detail
}  // namespace sotr
