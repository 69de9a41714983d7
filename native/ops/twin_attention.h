// twinAttention: one twin-attention sub-layer of SOTR's transformer
// (docs/twin-attention.md, sotr-architecture.md §6):
//
//   parallel   (official code): y = x + gCol·ColMHA(x) + gRow·RowMHA(x)
//   sequential (paper's text) : t = x + gCol·ColMHA(x),  y = t + gRow·RowMHA(t)
//
// x is float32 [B, C, H, W]. ColMHA treats each column (b, w) as a sequence of
// H tokens of C channels, RowMHA each row (b, h) as a sequence of W tokens.
// Each MHA is torch's nn.Linear to_q [C, C] / to_kv [2C, C] (rows 0..C-1 give
// K, C..2C-1 give V) / to_out [C, C] + bias [C], heads split channels as
// c = head·d + e (d = C / heads), scale 1/sqrt(d), softmax over the keys.
//
// Inputs (in this order): x, colQ, colKV, colOut, colOutBias, rowQ, rowKV,
// rowOut, rowOutBias. Attributes: heads (default 8), mode ('parallel' |
// 'sequential', default 'parallel'), gCol, gRow (the ReZero gates, required).
//
// Both backends run the same three stages (the CPU per group of images):
//   1. projections on the shared GEMM core, token-major:
//        QKV[b] (HW x 3C per direction) = x[b]^T · [Wq; Wkv]^T
//   2. a per-sequence attention core (scores of a whole sequence on chip),
//      the gate folded into the softmax normalisation: O = g · softmax(QK^T/√d) V
//   3. the output projection on the GEMM core back to NCHW, with the bias and
//      the residual in its epilogue:  y[b] = Wout · O[b]^T + g·bias + x[b]
//      (parallel: one GEMM with K = 2C, Wout = [WoutCol | WoutRow]).
//
// Weight reuse: the weights are concatenated (and on the CPU packed for the
// GEMM microkernels) once per weight set and kept in a small LRU cache keyed by
// the identity of the weight tensors' storages (std::weak_ptr, not raw
// addresses: a freed allocation whose address is reused never hits) with each
// view's offset and size (views of one storage are told apart). The cache
// assumes weight tensors are not modified in place, which holds for every
// tensor the public API creates (tensors are immutable; ops write fresh
// outputs). It holds at most kTwinCacheEntries weight sets per backend.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <typeinfo>
#include <vector>

#include "ops/registry.h"
#include "runtime/weight_cache.h"

namespace sotr {

enum TwinInput : int {
  kTwinX = 0,
  kTwinColQ,
  kTwinColKV,
  kTwinColOut,
  kTwinColOutBias,
  kTwinRowQ,
  kTwinRowKV,
  kTwinRowOut,
  kTwinRowOutBias,
  kTwinInputCount
};

enum class TwinMode : int { Parallel = 0, Sequential = 1 };

struct TwinPlan {
  int64_t B = 0, C = 0, H = 0, W = 0;
  int64_t heads = 8, d = 0;
  float gCol = 0.f, gRow = 0.f;
  float scale = 1.f;  // 1/sqrt(d)
  TwinMode mode = TwinMode::Parallel;
  Shape outShape;
};

// Validates inputs and attributes (typed errors naming the op and argument).
TwinPlan planTwinAttention(const OpCall& call);

// ---------------------------------------------------------------------------
// Attention core over one sequence (CPU). Element (sequence s, token t,
// channel c) of Q is at q[s*inSeq + t*inTok + c], likewise K and V; the output
// O (same channel order) at o[s*outSeq + t*outTok + c]. For every head:
//   O_h = gate · softmax_j(scale · Q_h K_h^T) · V_h
// scratch holds twinCoreScratchFloats(L, C) floats (64-byte aligned).
struct TwinCoreArgs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t inSeq = 0, inTok = 0;
  float* o = nullptr;
  int64_t outSeq = 0, outTok = 0;
  int64_t L = 0, C = 0, heads = 1, d = 0;
  float scale = 1.f, gate = 1.f;
};
int64_t twinCoreScratchFloats(int64_t L, int64_t C);
void twinCoreScalar(const TwinCoreArgs& a, int64_t s, float* scratch);
// nullptr when the AVX-512 / AVX2+FMA variant is not compiled in.
using TwinCoreFn = void (*)(const TwinCoreArgs& a, int64_t s, float* scratch);
TwinCoreFn twinCoreAvx512();
TwinCoreFn twinCoreAvx2();

// ---------------------------------------------------------------------------
// Derived weights of one weight set (Payload: packed or concatenated copies),
// kept in the process-wide weight cache (runtime/weight_cache.h), keyed by the
// 8 weight inputs of a call. The payload is created empty and filled by the
// caller under its own mutex (its host bytes are not counted by the budget).
template <class Payload>
class TwinWeightCache {
 public:
  // `extra` distinguishes variants of the same weights (e.g. SIMD level).
  std::shared_ptr<Payload> get(const OpCall& call, int64_t extra) {
    std::vector<const Tensor*> sources;
    for (int i = 0; i < kTwinInputCount - 1; ++i) sources.push_back(&call.inputs[1 + i]);
    // The payload type is part of the tag: a tag must never name two types.
    const std::string tag = std::string("twin/") + typeid(Payload).name() + "/" + std::to_string(extra);
    return weightCache().get<Payload>(sources, tag, [](int64_t& bytes) {
      bytes = 0;
      return std::make_shared<Payload>();
    });
  }
};

}  // namespace sotr
