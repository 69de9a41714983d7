// The CUDA GEMM core of sotr-node.
//
//   C[b] = epilogue( op(A[b]) * op(B[b]) )       (see native/gemm/gemm_args.h)
//
// Host API (any translation unit, also plain C++ with the CUDA include path):
//
//   sotr::cuda::gemm(args, precision, stream);          // auto tile choice
//   sotr::cuda::gemm(args, precision, stream, tile);    // forced tile (tests, tuning)
//
// Inputs and outputs are float32 in device memory. Precision::FP32 runs a
// strict SIMT kernel (fp32 FMA). TF32 / BF16 / FP16 run tensor-core kernels
// (mma.sync m16n8k8 tf32, m16n8k16 bf16 / fp16): operands are rounded to the
// reduced type when they go from shared memory into registers, accumulation is
// float32. On devices (or builds) without sm_80 tensor-core code the reduced
// precisions fall back to the FP32 kernel. SOTR_GEMM_TC_VARIANT=ldmatrix
// (opt-in, in builds with SOTR_GEMM_TC_LDMATRIX) converts each bf16 / fp16
// k-tile once to 16 bits in shared memory instead and loads fragments with
// ldmatrix. Errors: std::invalid_argument for
// bad arguments, sotr::cuda::CudaError for CUDA failures. Launches are
// asynchronous on `stream`.
//
// Reusing the mainloop (CUDA translation units only, i.e. under __CUDACC__):
// the kernels are templates over an A operand loader, a B operand loader and
// an epilogue functor; see the "Extension points" comment further down and
// cuda/README.md. Implicit-GEMM convolution supplies an im2col B loader,
// dynamic convolution a bit-packing epilogue, attention strided loaders.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../native/gemm/gemm_args.h"
#include "common.cuh"
#include "gemm_epilogue.h"
#include "gemm_split_k.h"

namespace sotr {
namespace cuda {

// Tile configuration: Auto picks by problem size and SM count.
//   tensor cores: Large = 128x128x32 (4 warps, 64x64 warp tiles, 3 stages),
//                 Small = 64x64x32 (4 warps, 32x32 warp tiles, 4 stages)
//   FP32 SIMT:    Large = 128x128x8 (256 threads, 8x8 per thread),
//                 Small = 64x64x8 (256 threads, 4x4 per thread)
enum class GemmTile : int { Auto = 0, Large = 1, Small = 2 };

void gemm(const GemmArgs& args, Precision p, cudaStream_t stream);
void gemm(const GemmArgs& args, Precision p, cudaStream_t stream, GemmTile tile);

// Checks the arguments as gemm() does; throws std::invalid_argument.
void validate_gemm_args(const GemmArgs& args);

// What the GEMM dispatch knows of a device (cached per device ordinal).
struct GemmDeviceInfo {
  int major = 0, minor = 0;
  int smCount = 0;
  int maxSmemOptin = 0;     // bytes of dynamic shared memory a block may opt into
  bool tensorCores = false; // sm_80+ device and this build carries sm_80+ code
};
const GemmDeviceInfo& gemm_device_info(int device);

// Device workspace for split-K partial sums (gemm_split_k.h): one buffer per
// (device, stream), grown on demand and kept for the process. Kernels on one
// stream use it in stream order, so consecutive GEMMs may share it.
float* split_k_workspace(int64_t floats, cudaStream_t stream);
constexpr int64_t kSplitKWorkspaceFloats = int64_t(8) << 20;  // 32 MiB

}  // namespace cuda
}  // namespace sotr

#if defined(__CUDACC__)

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <type_traits>

// Instruction wrappers, tile layouts, TcConfig and the warp tiles (plain C++
// too, for the CPU emulation tests).
#include "gemm_tc_tile.h"

// ===========================================================================
// Extension points (device side)
// ===========================================================================
//
// A GEMM here is three parts plugged into one of two mainloops:
//
// 1) Operand loaders. An operand is seen as a logical matrix X[mn][k]: for A,
//    mn = row m of C; for B, mn = column n of C (so B is read as B^T). A loader
//    type L provides
//
//      static constexpr bool kKContig;   // preferred shared-memory layout for
//                                        // the tensor-core mainloop: true =
//                                        // k contiguous, false = mn contiguous
//      template <class Smem, int NT> struct Iter {
//        __device__ Iter(const L& params, int batch, int mn0, int tid);
//        // Issue the copies of the tile X[mn0 .. mn0+Smem::kRows) x
//        // [k0 .. k0+Smem::kDepth) into `stage`, element (r, k) (tile-local)
//        // at stage[Smem::offset(r, k)], zeros outside the matrix (K tail and
//        // mn tail!). Use cp_async_16 / cp_async_4 (asynchronous, zero-fill)
//        // or plain shared stores; all NT threads call load() together.
//        __device__ void load(float* stage, int k0);
//      };
//
//    Iter is constructed once per CTA tile (precompute per-thread state there,
//    e.g. im2col pixel coordinates) and load() is called once per k-tile. The
//    mainloop owns commit/wait and barriers. The kernel chooses Smem: for the
//    tensor-core kernels SmemKMajor or SmemMNMajor (per L::kKContig), for the
//    SIMT kernel always SmemMNMajorPadded; a loader must handle whichever it
//    is given (StridedOperand shows how: 16-byte copies when the source's
//    contiguous dimension matches Smem's and alignment allows, else 4-byte).
//
// 2) Epilogue functor E:
//
//      __device__ void operator()(const EpilogueTile& t) const;
//
//    Called by all threads of the CTA after the accumulators of the tile (the
//    SIMT kernel: of a band of its rows) were staged in shared memory:
//    t.s[r * t.ld + c] holds C(t.row0 + r, t.col0 + c) of batch t.batch, for
//    r < t.rows, c < t.cols (already clipped to M / N). t.for_each_vec4(f)
//    walks it in coalesced float4 column groups (one rolled loop, so the
//    functor body is compiled once); a functor may also read the tile freely,
//    e.g. 32 consecutive columns per thread to bit-pack a mask row, or a whole
//    row for a softmax. Do not write t.s. GemmEpilogueOp implements the
//    GemmEpilogue of gemm_args.h.
//
// 3) Launchers: launch_tc_gemm<Cfg, P>(a, b, epi, M, N, K, batch, stream),
//    launch_simt_gemm<Cfg>(...), or launch_gemm(a, b, epi, ..., precision,
//    tile, stream) which dispatches like sotr::cuda::gemm. A kernel that needs
//    its own tile scheduling can call tc_mainloop / simt_mainloop (and
//    tc_stage_accumulators) directly; the accumulator fragment layout is
//    given at tc_warp_tile / tc_stage_accumulators.
//
// Opt-in variants (read once from the environment): SOTR_GEMM_SIMT_VARIANT
// (the FP32 small tile) and SOTR_GEMM_TC_VARIANT=ldmatrix (bf16 / fp16: the
// CTA converts each float32 k-tile once to a 16-bit tile and the warps load
// fragments with ldmatrix; tc_mainloop_ldsm). The loaders are the same for
// every variant.

namespace sotr {
namespace cuda {
namespace gemm_core {

// ---------------------------------------------------------------------------
// Asynchronous copies (cp.async on sm_80+, synchronous copies before).
// ---------------------------------------------------------------------------

// Copies src_bytes (0, 4, 8, 12 or 16) from 16-byte aligned global `src` to
// 16-byte aligned shared `dst` and zero-fills the rest of the 16 bytes.
__host__ __device__ __forceinline__ void cp_async_16(float* dst, const float* src, int src_bytes) {
#if SOTR_GEMM_SM80
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src),
               "r"(src_bytes)
               : "memory");
#else
  if (src_bytes == 16) {
    *reinterpret_cast<float4*>(dst) = *reinterpret_cast<const float4*>(src);
  } else {
    for (int j = 0; j < 4; ++j) dst[j] = (4 * j < src_bytes) ? src[j] : 0.f;
  }
#endif
}

// Copies one float (src_bytes 4) or writes 0 (src_bytes 0).
__host__ __device__ __forceinline__ void cp_async_4(float* dst, const float* src, int src_bytes) {
#if SOTR_GEMM_SM80
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src),
               "r"(src_bytes)
               : "memory");
#else
  *dst = src_bytes ? *src : 0.f;
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if SOTR_GEMM_SM80
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most N of this thread's committed groups are pending.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if SOTR_GEMM_SM80
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

template <int ROWS, int DEPTH>
struct SmemMNMajorPadded {
  static constexpr bool kKContig = false;
  static constexpr int kRows = ROWS, kDepth = DEPTH, kLd = ROWS + 4, kElems = kLd * DEPTH;
  __host__ __device__ __forceinline__ static int offset(int r, int k) { return k * kLd + r; }
};

// Return x through an empty volatile asm (device code), so that the compiler
// treats the value as unknown at each use: nothing derived from it can be
// hoisted out of a loop or unswitched. Loaders use this to keep per-element
// indices from being kept live across the whole k loop.
__host__ __device__ __forceinline__ int opaque_int(int x) {
#if defined(__CUDA_ARCH__)
  asm volatile("" : "+r"(x));
#endif
  return x;
}

__host__ __device__ __forceinline__ int64_t opaque_i64(int64_t x) {
#if defined(__CUDA_ARCH__)
  asm volatile("" : "+l"(x));
#endif
  return x;
}
__host__ __device__ __forceinline__ const float* opaque_ptr(const float* p) {
  return reinterpret_cast<const float*>(opaque_i64(reinterpret_cast<int64_t>(p)));
}

// ---------------------------------------------------------------------------
// The standard operand loader: a (batched) strided row-major matrix.
// KC = true : element (mn, k) at ptr[b*batchStride + mn*ld + k]
// KC = false: element (mn, k) at ptr[b*batchStride + k*ld + mn]
// vec16 (host-checked): ptr 16-byte aligned, ld and batchStride multiples of 4.
// ---------------------------------------------------------------------------
template <bool KC>
struct StridedOperand {
  static constexpr bool kKContig = KC;
  const float* ptr = nullptr;
  int64_t ld = 0;
  int64_t batchStride = 0;
  int rows = 0;   // extent along mn
  int depth = 0;  // extent along k (K)
  bool vec16 = false;

  template <class Smem, int NT>
  struct Iter {
    // Tile geometry along the source's contiguous dimension (L) and the other (O).
    static constexpr int L = KC ? Smem::kDepth : Smem::kRows;
    static constexpr int O = KC ? Smem::kRows : Smem::kDepth;
    // 16-byte path: CPL chunks per line, each thread keeps one chunk column
    // (c4) and walks lines line0, line0 + LS, ...
    static constexpr bool kVecLayout = (Smem::kKContig == KC) && (NT % (L / 4) == 0);
    static constexpr int CPL = L / 4, LS = NT / CPL > 0 ? NT / CPL : 1;
    static constexpr int VITERS = (O + LS - 1) / LS;
    static_assert(VITERS <= 32, "too many 16-byte copies per thread");

    const float* base;  // element (mn0, 0) of this batch
    const float* safe;  // a valid address for zero-fill copies
    int64_t ld;
    int rowsLeft, depth, tid;
    int c4, line0;
    uint32_t rowMask;   // KC 16-byte path: bit i = line line0 + i*LS inside the matrix
    int mnValid;        // !KC 16-byte path: valid floats of this thread's chunk (0..4)
    bool vec;

    __host__ __device__ __forceinline__ Iter(const StridedOperand& op, int batch, int mn0,
                                             int tid_) {
      safe = op.ptr + static_cast<int64_t>(batch) * op.batchStride;
      base = safe + (KC ? static_cast<int64_t>(mn0) * op.ld : static_cast<int64_t>(mn0));
      ld = op.ld;
      rowsLeft = op.rows - mn0;
      depth = op.depth;
      tid = tid_;
      vec = kVecLayout && op.vec16;
      c4 = (tid_ % CPL) * 4;
      line0 = tid_ / CPL;
      rowMask = 0;
      mnValid = 0;
      if (KC) {
SOTR_UNROLL
        for (int i = 0; i < VITERS; ++i)
          if (line0 + i * LS < rowsLeft) rowMask |= 1u << i;
      } else {
        mnValid = min_of(max_of(rowsLeft - c4, 0), 4);
      }
    }

    __host__ __device__ __forceinline__ void load(float* stage, int k0) const {
      if (kVecLayout && vec) {
        if (KC) {
          const int kv = min_of(max_of(depth - k0 - c4, 0), 4) * 4;
          const float* p = base + static_cast<int64_t>(line0) * ld + (k0 + c4);
SOTR_UNROLL
          for (int i = 0; i < VITERS; ++i) {
            if ((O % LS) != 0 && line0 + i * LS >= O) break;
            const int bytes = ((rowMask >> i) & 1u) ? kv : 0;
            cp_async_16(stage + Smem::offset(line0 + i * LS, c4),
                        bytes ? p + static_cast<int64_t>(i * LS) * ld : safe, bytes);
          }
        } else {
          const int kLeft = depth - k0;
          const float* p = base + static_cast<int64_t>(k0 + line0) * ld + c4;
SOTR_UNROLL
          for (int i = 0; i < VITERS; ++i) {
            const int line = line0 + i * LS;
            if ((O % LS) != 0 && line >= O) break;
            const int bytes = line < kLeft ? mnValid * 4 : 0;
            cp_async_16(stage + Smem::offset(c4, line),
                        bytes ? p + static_cast<int64_t>(i * LS) * ld : safe, bytes);
          }
        }
      } else {
        // 4-byte path (unaligned operands, or a layout change for the SIMT
        // kernel). Opaque copies stop the compiler from hoisting every
        // per-element index out of the k loop (~3 registers per element).
        const float* b0 = opaque_ptr(base);
        const int64_t ldv = opaque_i64(ld);
        const int t0 = opaque_int(tid);
        const int kLeft = depth - k0;
        constexpr int TOTAL = O * L, ITERS = (TOTAL + NT - 1) / NT;
SOTR_UNROLL
        for (int i = 0; i < ITERS; ++i) {
          const int id = t0 + i * NT;
          if ((TOTAL % NT) != 0 && id >= TOTAL) break;
          const int line = id / L, pos = id % L;
          const int r = KC ? line : pos, k = KC ? pos : line;
          const bool ok = r < rowsLeft && k < kLeft;
          const float* src = KC ? b0 + static_cast<int64_t>(r) * ldv + (k0 + k)
                                : b0 + static_cast<int64_t>(k0 + k) * ldv + r;
          cp_async_4(stage + Smem::offset(r, k), ok ? src : safe, ok ? 4 : 0);
        }
      }
    }
  };
};

// ---------------------------------------------------------------------------
// Epilogue tile: the accumulators of a CTA tile (or of a band of its rows),
// staged in shared memory, handed to the epilogue functor.
// ---------------------------------------------------------------------------
struct EpilogueTile {
  const float* s;  // s[r * ld + c] = accumulator of C row row0 + r, column col0 + c
  int ld;
  int row0, col0;  // absolute position of s[0] in C (this batch)
  int rows, cols;  // valid extent (already clipped to M / N); cols <= width
  int width;       // allocated columns (a multiple of 4)
  int batch;
  int tid, nthreads;
  int split = 0;   // split-K index of these partial sums (SplitKPartialOp only)

  // Calls f(row, col, v, n) for every group of 4 columns holding valid
  // elements: v = elements (row, col .. col + 3) (absolute), of which the
  // first n (1..4) are inside C. The loop is deliberately not unrolled (one
  // copy of the epilogue body); consecutive threads take consecutive groups of
  // a row, so global accesses coalesce.
  template <class F>
  __device__ __forceinline__ void for_each_vec4(F&& f) const {
    const int groups = width >> 2;
    const int total = rows * groups;
#pragma unroll 1
    for (int i = tid; i < total; i += nthreads) {
      const int r = i / groups, c = (i - r * groups) * 4;
      if (c >= cols) continue;
      const float4 v = *reinterpret_cast<const float4*>(s + r * ld + c);
      f(row0 + r, col0 + c, v, min(cols - c, 4));
    }
  }
};

// The standard epilogue (GemmEpilogue of gemm_args.h) storing into C: the
// values and formula of gemm_epilogue.h, applied to a staged tile.
struct GemmEpilogueOp : GemmEpilogueValues {
  __device__ __forceinline__ void operator()(const EpilogueTile& t) const {
    float* Cb = C + static_cast<int64_t>(t.batch) * strideC;
    const float* Rb = residual ? residual + static_cast<int64_t>(t.batch) * strideR : nullptr;
    t.for_each_vec4([&](int row, int col, float4 v4, int n) {
      float v[4] = {v4.x, v4.y, v4.z, v4.w};
      float r[4] = {0.f, 0.f, 0.f, 0.f};
      if (Rb) {
        const float* rp = Rb + static_cast<int64_t>(row) * ldr + col;
        if (n == 4 && vecR) {
          const float4 q = *reinterpret_cast<const float4*>(rp);
          r[0] = q.x;
          r[1] = q.y;
          r[2] = q.z;
          r[3] = q.w;
        } else {
SOTR_UNROLL
          for (int j = 0; j < 4; ++j)
            if (j < n) r[j] = rp[j];
        }
      }
SOTR_UNROLL
      for (int j = 0; j < 4; ++j)
        if (j < n) v[j] = apply(v[j], channelAxis == 0 ? row : col + j, r[j]);
      float* cp = Cb + static_cast<int64_t>(row) * ldc + col;
      if (n == 4 && vecC) {
        *reinterpret_cast<float4*>(cp) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
SOTR_UNROLL
        for (int j = 0; j < 4; ++j)
          if (j < n) cp[j] = v[j];
      }
    });
  }
};

// ---------------------------------------------------------------------------
// Configurations.
// ---------------------------------------------------------------------------
template <int BM_, int BN_, int BK_, int TM_, int TN_, int STAGES_, int MINB_>
struct SimtConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_, STAGES = STAGES_;
  static constexpr int kMinBlocks = MINB_;
  static constexpr int TX = BN / TN, TY = BM / TM;
  static constexpr int kThreads = TX * TY;
  static constexpr int kPipeBytes = STAGES * ((BM + 4) + (BN + 4)) * BK * 4;
  static constexpr int kEpiLd = BN + 8;
  static constexpr int kEpiBytes = TY * 4 * kEpiLd * 4;  // one band of TY*4 rows at a time
  static constexpr int kSmemBytes = kPipeBytes > kEpiBytes ? kPipeBytes : kEpiBytes;
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BM % TM == 0 && BN % TN == 0, "tile shape");
};
using SimtLarge = SimtConfig<128, 128, 8, 8, 8, 3, 2>;
using SimtSmall = SimtConfig<64, 64, 8, 4, 4, 3, 3>;
// Candidates for the small tile, opt-in by SOTR_GEMM_SIMT_VARIANT until an
// H100 run says which wins (the small tile's convs ran at ~11 TFLOP/s where
// cuDNN did ~19): 'k16' = 16-deep k-tiles (half the barriers per FLOP),
// 'medium' = 128x64 with 8x4 per thread (fewer shared loads per FMA).
using SimtSmallK16 = SimtConfig<64, 64, 16, 4, 4, 3, 3>;
using SimtMedium = SimtConfig<128, 64, 8, 8, 4, 3, 2>;

// SOTR_GEMM_SIMT_VARIANT: unset = the small tile above, 'k16', 'medium' (read once).
inline int simt_variant() {
  static const int v = env::choice("SOTR_GEMM_SIMT_VARIANT", {"k16", "medium"});
  return v;
}

// The ldmatrix variant's kernels are compiled in only with
// -DSOTR_GEMM_TC_LDMATRIX=1 (CMake option SOTR_GEMM_TC_LDMATRIX, default off;
// scripts/build-gpu-artifacts.sh turns it on): they double the bf16 / fp16
// kernels, +24 % of the addon (the npm package would pass its 20 MB limit),
// for a candidate that has not been measured yet. Without it the environment
// variable below is ignored.
#ifndef SOTR_GEMM_TC_LDMATRIX
#define SOTR_GEMM_TC_LDMATRIX 0
#endif
constexpr bool kTcLdsmBuilt = SOTR_GEMM_TC_LDMATRIX != 0;

// SOTR_GEMM_TC_VARIANT: unset = float32 fragments (tc_mainloop), 'ldmatrix' =
// 16-bit staging + ldmatrix for BF16 / FP16 (tc_mainloop_ldsm; TF32 keeps
// tc_mainloop), where built in (kTcLdsmBuilt). Read once.
inline int tc_variant() {
  static const int v = env::choice("SOTR_GEMM_TC_VARIANT", {"ldmatrix"});
  return v;
}

// For logs: which tensor-core mainloop bf16 / fp16 launches take.
inline const char* tc_variant_name() {
  if (tc_variant() != 1) return "default (float32 fragments)";
  return kTcLdsmBuilt ? "ldmatrix" : "default (SOTR_GEMM_TC_VARIANT=ldmatrix ignored: not built in)";
}

struct GemmProblem {
  int M, N, K, batch, tilesM, tilesN;
  int kTilesPerSplit;  // k-tiles of split blockIdx.z: [z * kTilesPerSplit, ...) clipped to K
};

// The k-tiles [kt0, kt0 + count) of this CTA's split.
__device__ __forceinline__ void split_k_range(const GemmProblem& p, int BK, int& kt0, int& count) {
  const int total = (p.K + BK - 1) / BK;
  kt0 = static_cast<int>(blockIdx.z) * p.kTilesPerSplit;
  count = max(0, min(p.kTilesPerSplit, total - kt0));
}

// Maps a linear CTA index to (tile row, tile column), walking 8 tile rows at a
// time so that CTAs running together share A and B panels in L2.
__device__ __forceinline__ void tile_coords(int pid, int tilesM, int tilesN, int& tm, int& tn) {
  constexpr int G = 8;
  const int perGroup = G * tilesN;
  const int group = pid / perGroup;
  const int firstM = group * G;
  const int gsize = min(tilesM - firstM, G);
  const int local = pid - group * perGroup;
  tm = firstM + local % gsize;
  tn = local / gsize;
}

// ---------------------------------------------------------------------------
// Tensor-core mainloop.
// ---------------------------------------------------------------------------

// The multi-stage cp.async pipeline under every mainloop, over the k-tiles
// [kt0, kt0 + kTiles) of one CTA tile: sA / sB hold S stages of SmemA::kElems /
// SmemB::kElems floats, S - 1 k-tiles are in flight; once k-tile kt has landed
// and a barrier has made it visible to all (and the stage the next load
// overwrites is no longer read), the next load is issued and
// consume(A stage, B stage) runs on k-tile kt. Ends with all copies complete
// but WITHOUT a trailing barrier: __syncthreads() before reusing the smem.
template <int S, int BK, class SmemA, class SmemB, class ItA, class ItB, class Consume>
__device__ __forceinline__ void cp_async_pipeline(const ItA& ia, const ItB& ib, float* sA, float* sB, int kt0,
                                                  int kTiles, Consume&& consume) {
SOTR_UNROLL
  for (int s = 0; s < S - 1; ++s) {
    if (s < kTiles) {
      ia.load(sA + s * SmemA::kElems, (kt0 + s) * BK);
      ib.load(sB + s * SmemB::kElems, (kt0 + s) * BK);
    }
    cp_async_commit();
  }
  int readStage = 0, writeStage = S - 1;
#pragma unroll 1
  for (int kt = 0; kt < kTiles; ++kt) {
    cp_async_wait<S - 2>();
    __syncthreads();  // tile kt visible to all; stage writeStage no longer read
    const int nk = kt + S - 1;
    if (nk < kTiles) {
      ia.load(sA + writeStage * SmemA::kElems, (kt0 + nk) * BK);
      ib.load(sB + writeStage * SmemB::kElems, (kt0 + nk) * BK);
    }
    cp_async_commit();
    consume(static_cast<const float*>(sA + readStage * SmemA::kElems),
            static_cast<const float*>(sB + readStage * SmemB::kElems));
    readStage = (readStage + 1 == S) ? 0 : readStage + 1;
    writeStage = (writeStage + 1 == S) ? 0 : writeStage + 1;
  }
  cp_async_wait<0>();
}

// The tensor-core mainloop: the pipeline above, each k-tile's fragments read
// from the float32 stages and converted per fragment (tc_warp_tile). acc must
// be zeroed by the caller (or hold a partial sum).
template <class Cfg, Precision P, class SmemA, class SmemB, class ItA, class ItB>
__device__ __forceinline__ void tc_mainloop(const ItA& ia, const ItB& ib, float* sA, float* sB,
                                            int kt0, int kTiles, float (&acc)[Cfg::MI][Cfg::NI][4],
                                            int wm0, int wn0, int lane) {
  static_assert(Cfg::WM % 32 == 0 && Cfg::WN % 32 == 0, "warp tiles must be multiples of 32");
  const typename SmemA::FragReader ra(wm0, lane);
  const typename SmemB::FragReader rb(wn0, lane);
  cp_async_pipeline<Cfg::STAGES, Cfg::BK, SmemA, SmemB>(ia, ib, sA, sB, kt0, kTiles,
                                                        [&](const float* a, const float* b) {
    tc_warp_tile<P, Cfg::WM, Cfg::WN, SmemA, SmemB>(a, b, acc, ra, rb);
  });
}

// tc_mainloop for SOTR_GEMM_TC_VARIANT=ldmatrix (BF16 / FP16): the same float32
// stages and loaders; after a stage has landed the CTA converts it once into
// the 16-bit tiles hA / hB (Smem16For<SmemA> / <SmemB>, Cfg::BM / BN x BK
// elements each), and the warps take their fragments from there by ldmatrix.
//
// One 16-bit buffer, two barriers per k-tile: (1) the float stage is visible,
// and every warp is done with the previous k-tile's 16-bit tile; (2) the
// conversion is visible. A second buffer would need only barrier (1) and
// would let the conversion of tile k+1 overlap the mma of tile k, but it costs
// another (BM + BN) * BK * 2 bytes: the Large tile would go from 112 KB to
// 128 KB and lose its second CTA per SM on an H100 (228 KB per SM) and the
// Small tile from 72 to 80 KB and lose its third; with 2-3 CTAs per SM the
// other CTAs cover one CTA's conversion phase instead.
template <class Cfg, Precision P, class SmemA, class SmemB, class ItA, class ItB>
__device__ __forceinline__ void tc_mainloop_ldsm(const ItA& ia, const ItB& ib, float* sA, float* sB,
                                                 uint16_t* hA, uint16_t* hB, int kt0, int kTiles,
                                                 float (&acc)[Cfg::MI][Cfg::NI][4], int wm0, int wn0,
                                                 int lane, int tid) {
  static_assert(P == Precision::BF16 || P == Precision::FP16, "the ldmatrix variant is 16-bit only");
  constexpr int S = Cfg::STAGES, BK = Cfg::BK;
  using S16A = Smem16For<SmemA>;
  using S16B = Smem16For<SmemB>;
  const LdsmReader<S16A, false> ra(wm0, lane);
  const LdsmReader<S16B, true> rb(wn0, lane);
  using CvA = TcConvert<SmemA, Cfg::kThreads>;
  using CvB = TcConvert<SmemB, Cfg::kThreads>;
  const typename CvA::Base cva(tid);
  const typename CvB::Base cvb(tid);
  cp_async_pipeline<S, BK, SmemA, SmemB>(ia, ib, sA, sB, kt0, kTiles, [&](const float* a, const float* b) {
    // (1), the pipeline's barrier: k-tile kt visible; hA / hB no longer read.
    CvA::template run<P>(a, hA, cva);
    CvB::template run<P>(b, hB, cvb);
    __syncthreads();  // (2) the 16-bit tiles of k-tile kt visible
    tc_warp_tile_ldsm<P, Cfg::WM, Cfg::WN, S16A, S16B>(hA, hB, acc, ra, rb);
  });
}

// Writes a warp's accumulators to the staged C tile s[r * kEpiLd + c].
// Fragment layout (g = lane / 4, t = lane % 4): acc[mi][ni][0..3] are the tile
// elements (wm0 + mi*16 + g, wn0 + ni*8 + 2t), (same row, +1), (row + 8, 2t),
// (row + 8, 2t + 1).
template <class Cfg>
__host__ __device__ __forceinline__ void tc_stage_accumulators(float* s,
                                                      const float (&acc)[Cfg::MI][Cfg::NI][4],
                                                      int wm0, int wn0, int lane) {
  const int g = lane >> 2, t = lane & 3;
SOTR_UNROLL
  for (int mi = 0; mi < Cfg::MI; ++mi)
SOTR_UNROLL
    for (int ni = 0; ni < Cfg::NI; ++ni) {
      float* p = s + (wm0 + mi * 16 + g) * Cfg::kEpiLd + wn0 + ni * 8 + 2 * t;
      *reinterpret_cast<float2*>(p) = make_float2(acc[mi][ni][0], acc[mi][ni][1]);
      *reinterpret_cast<float2*>(p + 8 * Cfg::kEpiLd) = make_float2(acc[mi][ni][2], acc[mi][ni][3]);
    }
}

extern __shared__ float4 sotr_gemm_smem[];

// LDSM: the SOTR_GEMM_TC_VARIANT=ldmatrix mainloop (BF16 / FP16; dynamic shared
// memory Cfg::kSmemBytesLdsm instead of Cfg::kSmemBytes).
template <class Cfg, Precision P, class AOp, class BOp, class Epi, bool LDSM = false>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks)
    tc_gemm_kernel(const AOp aOp, const BOp bOp, const Epi epi, const GemmProblem prob) {
#if SOTR_GEMM_SM80
  using SmemA = std::conditional_t<AOp::kKContig, SmemKMajor<Cfg::BM, Cfg::BK>,
                                   SmemMNMajor<Cfg::BM, Cfg::BK>>;
  using SmemB = std::conditional_t<BOp::kKContig, SmemKMajor<Cfg::BN, Cfg::BK>,
                                   SmemMNMajor<Cfg::BN, Cfg::BK>>;
  float* smem = reinterpret_cast<float*>(sotr_gemm_smem);
  float* sA = smem;
  float* sB = smem + Cfg::STAGES * SmemA::kElems;
  int tm, tn;
  tile_coords(blockIdx.x, prob.tilesM, prob.tilesN, tm, tn);
  const int m0 = tm * Cfg::BM, n0 = tn * Cfg::BN;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm0 = (warp % Cfg::kWarpsM) * Cfg::WM, wn0 = (warp / Cfg::kWarpsM) * Cfg::WN;
#pragma unroll 1
  for (int b = blockIdx.y; b < prob.batch; b += gridDim.y) {
    const typename AOp::template Iter<SmemA, Cfg::kThreads> ia(aOp, b, m0, threadIdx.x);
    const typename BOp::template Iter<SmemB, Cfg::kThreads> ib(bOp, b, n0, threadIdx.x);
    float acc[Cfg::MI][Cfg::NI][4];
SOTR_UNROLL
    for (int mi = 0; mi < Cfg::MI; ++mi)
SOTR_UNROLL
      for (int ni = 0; ni < Cfg::NI; ++ni)
SOTR_UNROLL
        for (int j = 0; j < 4; ++j) acc[mi][ni][j] = 0.f;
    int kt0, kTiles;
    split_k_range(prob, Cfg::BK, kt0, kTiles);
    if constexpr (LDSM) {
      uint16_t* hA = reinterpret_cast<uint16_t*>(sB + Cfg::STAGES * SmemB::kElems);
      uint16_t* hB = hA + SmemA::kElems;
      tc_mainloop_ldsm<Cfg, P, SmemA, SmemB>(ia, ib, sA, sB, hA, hB, kt0, kTiles, acc, wm0, wn0, lane,
                                             threadIdx.x);
    } else {
      tc_mainloop<Cfg, P, SmemA, SmemB>(ia, ib, sA, sB, kt0, kTiles, acc, wm0, wn0, lane);
    }
    // Stage the C tile in shared memory (reusing the pipeline buffers).
    __syncthreads();
    tc_stage_accumulators<Cfg>(smem, acc, wm0, wn0, lane);
    __syncthreads();
    EpilogueTile t;
    t.s = smem;
    t.ld = Cfg::kEpiLd;
    t.row0 = m0;
    t.col0 = n0;
    t.rows = min(Cfg::BM, prob.M - m0);
    t.cols = min(Cfg::BN, prob.N - n0);
    t.width = Cfg::BN;
    t.batch = b;
    t.tid = threadIdx.x;
    t.nthreads = Cfg::kThreads;
    t.split = static_cast<int>(blockIdx.z);
    epi(t);
    __syncthreads();
  }
#else
  __trap();  // tensor-core kernels need sm_80+ code; the host never launches this
#endif
}

// ---------------------------------------------------------------------------
// SIMT (strict FP32) mainloop.
// ---------------------------------------------------------------------------

template <class Cfg, class SmemA, class SmemB, class ItA, class ItB>
__device__ __forceinline__ void simt_mainloop(const ItA& ia, const ItB& ib, float* sA, float* sB,
                                              int kt0, int kTiles, float (&acc)[Cfg::TM][Cfg::TN],
                                              int tx, int ty) {
  constexpr int BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  cp_async_pipeline<Cfg::STAGES, BK, SmemA, SmemB>(ia, ib, sA, sB, kt0, kTiles,
                                                   [&](const float* a_s, const float* b_s) {
SOTR_UNROLL
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
SOTR_UNROLL
      for (int gi = 0; gi < TM / 4; ++gi) {
        const float4 v = *reinterpret_cast<const float4*>(
            a_s + SmemA::offset(gi * Cfg::TY * 4 + ty * 4, k));
        a[gi * 4 + 0] = v.x;
        a[gi * 4 + 1] = v.y;
        a[gi * 4 + 2] = v.z;
        a[gi * 4 + 3] = v.w;
      }
SOTR_UNROLL
      for (int gj = 0; gj < TN / 4; ++gj) {
        const float4 v = *reinterpret_cast<const float4*>(
            b_s + SmemB::offset(gj * Cfg::TX * 4 + tx * 4, k));
        b[gj * 4 + 0] = v.x;
        b[gj * 4 + 1] = v.y;
        b[gj * 4 + 2] = v.z;
        b[gj * 4 + 3] = v.w;
      }
SOTR_UNROLL
      for (int i = 0; i < TM; ++i)
SOTR_UNROLL
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  });
}

template <class Cfg, class AOp, class BOp, class Epi>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks)
    simt_gemm_kernel(const AOp aOp, const BOp bOp, const Epi epi, const GemmProblem prob) {
  using SmemA = SmemMNMajorPadded<Cfg::BM, Cfg::BK>;
  using SmemB = SmemMNMajorPadded<Cfg::BN, Cfg::BK>;
  float* smem = reinterpret_cast<float*>(sotr_gemm_smem);
  float* sA = smem;
  float* sB = smem + Cfg::STAGES * SmemA::kElems;
  int tm, tn;
  tile_coords(blockIdx.x, prob.tilesM, prob.tilesN, tm, tn);
  const int m0 = tm * Cfg::BM, n0 = tn * Cfg::BN;
  const int tx = threadIdx.x % Cfg::TX, ty = threadIdx.x / Cfg::TX;
#pragma unroll 1
  for (int b = blockIdx.y; b < prob.batch; b += gridDim.y) {
    const typename AOp::template Iter<SmemA, Cfg::kThreads> ia(aOp, b, m0, threadIdx.x);
    const typename BOp::template Iter<SmemB, Cfg::kThreads> ib(bOp, b, n0, threadIdx.x);
    float acc[Cfg::TM][Cfg::TN];
SOTR_UNROLL
    for (int i = 0; i < Cfg::TM; ++i)
SOTR_UNROLL
      for (int j = 0; j < Cfg::TN; ++j) acc[i][j] = 0.f;
    int kt0, kTiles;
    split_k_range(prob, Cfg::BK, kt0, kTiles);
    simt_mainloop<Cfg, SmemA, SmemB>(ia, ib, sA, sB, kt0, kTiles, acc, tx, ty);
    // Epilogue in bands of TY*4 rows: thread rows gi*TY*4 + ty*4 + r.
SOTR_UNROLL
    for (int gi = 0; gi < Cfg::TM / 4; ++gi) {
      __syncthreads();
SOTR_UNROLL
      for (int r = 0; r < 4; ++r)
SOTR_UNROLL
        for (int gj = 0; gj < Cfg::TN / 4; ++gj)
          *reinterpret_cast<float4*>(smem + (ty * 4 + r) * Cfg::kEpiLd + gj * Cfg::TX * 4 +
                                     tx * 4) =
              make_float4(acc[gi * 4 + r][gj * 4 + 0], acc[gi * 4 + r][gj * 4 + 1],
                          acc[gi * 4 + r][gj * 4 + 2], acc[gi * 4 + r][gj * 4 + 3]);
      __syncthreads();
      EpilogueTile t;
      t.s = smem;
      t.ld = Cfg::kEpiLd;
      t.row0 = m0 + gi * Cfg::TY * 4;
      t.col0 = n0;
      t.rows = max(0, min(Cfg::TY * 4, prob.M - t.row0));
      t.cols = min(Cfg::BN, prob.N - n0);
      t.width = Cfg::BN;
      t.batch = b;
      t.tid = threadIdx.x;
      t.nthreads = Cfg::kThreads;
      t.split = static_cast<int>(blockIdx.z);
      epi(t);
    }
    __syncthreads();
  }
}

// ---------------------------------------------------------------------------
// Host-side launchers (templates; usable from any .cu that includes this).
// ---------------------------------------------------------------------------

// Raises the kernel's dynamic shared-memory limit once per device.
template <class KernelPtr>
inline void ensure_dynamic_smem(KernelPtr kernel, int bytes,
                                std::atomic<unsigned long long>& doneMask) {
  if (bytes <= 48 * 1024) return;
  int dev = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  const unsigned long long bit = 1ull << (dev & 63);
  if (doneMask.load(std::memory_order_acquire) & bit) return;
  SOTR_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  doneMask.fetch_or(bit, std::memory_order_acq_rel);
}

inline GemmProblem make_problem(int M, int N, int K, int batch, int BM, int BN) {
  GemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.batch = batch;
  p.tilesM = ceil_div(M, BM);
  p.tilesN = ceil_div(N, BN);
  p.kTilesPerSplit = INT_MAX;  // one split: the whole K
  return p;
}

inline dim3 make_grid(const GemmProblem& p, int splits = 1) {
  return dim3(static_cast<unsigned>(p.tilesM) * static_cast<unsigned>(p.tilesN),
              static_cast<unsigned>(min_of(p.batch, 65535)), static_cast<unsigned>(splits));
}

// True when tensor-core launches of Cfg at precision P take the ldmatrix
// variant: SOTR_GEMM_TC_VARIANT=ldmatrix, BF16 / FP16, and Cfg::kSmemBytesLdsm
// fits the device (the Large tile's 112 KB does not on sm_86 / sm_89, 99 KB:
// those keep tc_mainloop).
template <class Cfg, Precision P>
inline bool tc_use_ldsm() {
  if constexpr (!kTcLdsmBuilt || P == Precision::TF32 || P == Precision::FP32) {
    return false;
  } else {
    if (tc_variant() != 1) return false;
    int dev = 0;
    SOTR_CUDA_CHECK(cudaGetDevice(&dev));
    return gemm_device_info(dev).maxSmemOptin >= Cfg::kSmemBytesLdsm;
  }
}

template <class Cfg, Precision P, class AOp, class BOp, class Epi>
void launch_tc_gemm(const AOp& a, const BOp& b, const Epi& epi, int M, int N, int K, int batch,
                    cudaStream_t stream) {
  static_assert(P != Precision::FP32, "tensor-core kernels take TF32, BF16 or FP16");
  if (M <= 0 || N <= 0 || batch <= 0) return;
  if constexpr (kTcLdsmBuilt && P != Precision::TF32) {
    if (tc_use_ldsm<Cfg, P>()) {
      static std::atomic<unsigned long long> smemDoneLdsm{0};
      auto kernel = tc_gemm_kernel<Cfg, P, AOp, BOp, Epi, true>;
      ensure_dynamic_smem(kernel, Cfg::kSmemBytesLdsm, smemDoneLdsm);
      const GemmProblem prob = make_problem(M, N, K, batch, Cfg::BM, Cfg::BN);
      kernel<<<make_grid(prob), Cfg::kThreads, Cfg::kSmemBytesLdsm, stream>>>(a, b, epi, prob);
      SOTR_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  static std::atomic<unsigned long long> smemDone{0};
  auto kernel = tc_gemm_kernel<Cfg, P, AOp, BOp, Epi>;
  ensure_dynamic_smem(kernel, Cfg::kSmemBytes, smemDone);
  const GemmProblem prob = make_problem(M, N, K, batch, Cfg::BM, Cfg::BN);
  kernel<<<make_grid(prob), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(a, b, epi, prob);
  SOTR_CUDA_CHECK_LAUNCH();
}

template <class Cfg, class AOp, class BOp, class Epi>
void launch_simt_gemm(const AOp& a, const BOp& b, const Epi& epi, int M, int N, int K,
                      int batch, cudaStream_t stream) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  static std::atomic<unsigned long long> smemDone{0};
  auto kernel = simt_gemm_kernel<Cfg, AOp, BOp, Epi>;
  ensure_dynamic_smem(kernel, Cfg::kSmemBytes, smemDone);
  const GemmProblem prob = make_problem(M, N, K, batch, Cfg::BM, Cfg::BN);
  kernel<<<make_grid(prob), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(a, b, epi, prob);
  SOTR_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------
// Split-K (gemm_split_k.h): the mainloop kernels write each split's partial
// sums raw, then splitk_reduce_kernel adds them in split order and hands the
// sums to the real epilogue as an EpilogueTile, so any for_each_vec4-style
// epilogue works unchanged. Only epilogues listed below are split: those that
// read the tile by geometry (bit-packing, row softmax) keep one split.
// ---------------------------------------------------------------------------

// Partial sums of split t.split: ws[split][batch][row][col], rows of ldw = N
// rounded up to 4 (float4 stores; the pad columns are never read).
struct SplitKPartialOp {
  float* ws = nullptr;
  int64_t ldw = 0, batchStride = 0, splitStride = 0;

  __device__ __forceinline__ void operator()(const EpilogueTile& t) const {
    float* base = ws + t.split * splitStride + t.batch * batchStride;
    const int64_t ld = ldw;
    t.for_each_vec4([&](int row, int col, float4 v, int) {
      *reinterpret_cast<float4*>(base + row * ld + col) = v;
    });
  }
};

template <class Epi>
struct split_k_epilogue_ok : std::false_type {};
template <>
struct split_k_epilogue_ok<GemmEpilogueOp> : std::true_type {};

constexpr int kSplitReduceRows = 32, kSplitReduceWidth = 64, kSplitReduceThreads = 256;

template <class Epi>
__global__ void __launch_bounds__(kSplitReduceThreads)
    splitk_reduce_kernel(const SplitKPartialOp part, int splits, const Epi epi, int M, int N, int batch) {
  constexpr int R = kSplitReduceRows, W = kSplitReduceWidth, LD = W + 4;
  __shared__ __align__(16) float s[R * LD];
  const int tilesN = (N + W - 1) / W;
  const int tm = static_cast<int>(blockIdx.x) / tilesN, tn = static_cast<int>(blockIdx.x) - tm * tilesN;
  const int row0 = tm * R, col0 = tn * W;
  const int rows = min(R, M - row0), cols = min(W, N - col0);
#pragma unroll 1
  for (int b = blockIdx.y; b < batch; b += gridDim.y) {
#pragma unroll 1
    for (int i = threadIdx.x; i < R * (W / 4); i += blockDim.x) {
      const int r = i / (W / 4), c = (i - r * (W / 4)) * 4;
      if (r >= rows || c >= cols) continue;
      const float* p = part.ws + b * part.batchStride + static_cast<int64_t>(row0 + r) * part.ldw + col0 + c;
      float4 acc = *reinterpret_cast<const float4*>(p);
#pragma unroll 1
      for (int z = 1; z < splits; ++z) {
        const float4 v = *reinterpret_cast<const float4*>(p + z * part.splitStride);
        acc.x += v.x;
        acc.y += v.y;
        acc.z += v.z;
        acc.w += v.w;
      }
      *reinterpret_cast<float4*>(s + r * LD + c) = acc;
    }
    __syncthreads();
    EpilogueTile t;
    t.s = s;
    t.ld = LD;
    t.row0 = row0;
    t.col0 = col0;
    t.rows = rows;
    t.cols = cols;
    t.width = W;
    t.batch = b;
    t.tid = threadIdx.x;
    t.nthreads = blockDim.x;
    epi(t);
    __syncthreads();
  }
}

inline SplitKPartialOp split_k_partials(int M, int N, int batch, int splits, cudaStream_t stream) {
  SplitKPartialOp part;
  part.ldw = round_up<int64_t>(N, 4);
  part.batchStride = static_cast<int64_t>(M) * part.ldw;
  part.splitStride = static_cast<int64_t>(batch) * part.batchStride;
  part.ws = split_k_workspace(part.splitStride * splits, stream);
  return part;
}

template <class Epi>
void launch_split_k_reduce(const SplitKPartialOp& part, int splits, const Epi& epi, int M, int N, int batch,
                           cudaStream_t stream) {
  const unsigned tiles = static_cast<unsigned>(ceil_div(M, kSplitReduceRows)) *
                         static_cast<unsigned>(ceil_div(N, kSplitReduceWidth));
  splitk_reduce_kernel<Epi><<<dim3(tiles, static_cast<unsigned>(min_of(batch, 65535)), 1), kSplitReduceThreads, 0,
                              stream>>>(part, splits, epi, M, N, batch);
  SOTR_CUDA_CHECK_LAUNCH();
}

// CTAs of `kernel` one SM holds (registers, shared memory, threads), asked of
// the runtime once per kernel: the launch bounds only give a lower bound.
template <class KernelPtr>
int resident_ctas(KernelPtr kernel, int threads, int smemBytes, std::atomic<int>& cache) {
  int n = cache.load(std::memory_order_relaxed);
  if (n > 0) return n;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, threads, smemBytes) != cudaSuccess || n < 1) {
    cudaGetLastError();
    n = 1;
  }
  cache.store(n, std::memory_order_relaxed);
  return n;
}

// The split for tile config Cfg given how many CTAs the device holds at once.
template <class Cfg>
SplitKChoice split_k_for(int M, int N, int K, int batch, int64_t slots) {
  const int64_t tiles = static_cast<int64_t>(ceil_div(M, Cfg::BM)) * ceil_div(N, Cfg::BN) * batch;
  const int64_t out = static_cast<int64_t>(batch) * M * round_up<int64_t>(N, 4);
  const int minKTiles = ceil_div(128, Cfg::BK);  // at least 128 of K per split
  return choose_split_k(tiles, ceil_div(K, Cfg::BK), slots, minKTiles, out, kSplitKWorkspaceFloats,
                        split_k_override());
}

// Launches split-K (partials by `kernel`, then the reduction into epi) when
// the choice for this problem has at least two splits; false when it has one
// (nothing launched). smemBytes: the kernel's dynamic shared memory;
// smemDone / perSm: the caller's per-kernel statics.
template <class Cfg, class KernelPtr, class AOp, class BOp, class Epi>
bool launch_split_k_if_worth(KernelPtr kernel, int smemBytes, std::atomic<unsigned long long>& smemDone,
                             std::atomic<int>& perSm, const AOp& a, const BOp& b, const Epi& epi, int M, int N,
                             int K, int batch, const GemmDeviceInfo& info, cudaStream_t stream) {
  ensure_dynamic_smem(kernel, smemBytes, smemDone);
  const int64_t slots = static_cast<int64_t>(info.smCount) * resident_ctas(kernel, Cfg::kThreads, smemBytes, perSm);
  const SplitKChoice c = split_k_for<Cfg>(M, N, K, batch, slots);
  if (c.splits < 2) return false;
  const SplitKPartialOp part = split_k_partials(M, N, batch, c.splits, stream);
  GemmProblem prob = make_problem(M, N, K, batch, Cfg::BM, Cfg::BN);
  prob.kTilesPerSplit = c.kTilesPerSplit;
  kernel<<<make_grid(prob, c.splits), Cfg::kThreads, smemBytes, stream>>>(a, b, part, prob);
  SOTR_CUDA_CHECK_LAUNCH();
  launch_split_k_reduce(part, c.splits, epi, M, N, batch, stream);
  return true;
}

template <class Cfg, Precision P, class AOp, class BOp, class Epi>
bool try_tc_gemm_split(const AOp& a, const BOp& b, const Epi& epi, int M, int N, int K, int batch,
                       const GemmDeviceInfo& info, cudaStream_t stream) {
  if constexpr (kTcLdsmBuilt && P != Precision::TF32) {
    if (tc_use_ldsm<Cfg, P>()) {
      static std::atomic<unsigned long long> smemDoneLdsm{0};
      static std::atomic<int> perSmLdsm{0};
      return launch_split_k_if_worth<Cfg>(tc_gemm_kernel<Cfg, P, AOp, BOp, SplitKPartialOp, true>,
                                          Cfg::kSmemBytesLdsm, smemDoneLdsm, perSmLdsm, a, b, epi, M, N, K, batch,
                                          info, stream);
    }
  }
  static std::atomic<unsigned long long> smemDone{0};
  static std::atomic<int> perSm{0};
  return launch_split_k_if_worth<Cfg>(tc_gemm_kernel<Cfg, P, AOp, BOp, SplitKPartialOp>, Cfg::kSmemBytes, smemDone,
                                      perSm, a, b, epi, M, N, K, batch, info, stream);
}

template <class Cfg, class AOp, class BOp, class Epi>
bool try_simt_gemm_split(const AOp& a, const BOp& b, const Epi& epi, int M, int N, int K, int batch,
                         const GemmDeviceInfo& info, cudaStream_t stream) {
  static std::atomic<unsigned long long> smemDone{0};
  static std::atomic<int> perSm{0};
  return launch_split_k_if_worth<Cfg>(simt_gemm_kernel<Cfg, AOp, BOp, SplitKPartialOp>, Cfg::kSmemBytes, smemDone,
                                      perSm, a, b, epi, M, N, K, batch, info, stream);
}

// The small-tile SIMT launch: split-K where it pays (and Epi allows), else one pass.
template <class Cfg, class AOp, class BOp, class Epi>
void launch_simt_small(const AOp& a, const BOp& b, const Epi& epi, int M, int N, int K, int batch,
                       const GemmDeviceInfo& info, cudaStream_t stream) {
  if constexpr (split_k_epilogue_ok<Epi>::value) {
    if (try_simt_gemm_split<Cfg>(a, b, epi, M, N, K, batch, info, stream)) return;
  }
  launch_simt_gemm<Cfg>(a, b, epi, M, N, K, batch, stream);
}

// Auto tile choice: the large tile when it alone gives at least two CTAs per
// SM, else the small one.
inline bool prefer_large_tile(int M, int N, int batch, int BM, int BN, int smCount) {
  const long long tiles = static_cast<long long>(ceil_div(M, BM)) * ceil_div(N, BN) * batch;
  return tiles >= 2LL * smCount;
}

// Dispatch like sotr::cuda::gemm for any loaders / epilogue: instantiates for
// (AOp, BOp, Epi) 6 tensor-core kernels (+ 4 of the bf16 / fp16 ldmatrix
// variant where built in) and 4 SIMT kernels, plus the split-K partial-sum variants of the
// small ones and the reduction.
template <class AOp, class BOp, class Epi>
void launch_gemm(const AOp& a, const BOp& b, const Epi& epi, int M, int N, int K, int batch,
                 Precision p, GemmTile tile, cudaStream_t stream) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  int dev = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  const GemmDeviceInfo& info = gemm_device_info(dev);
  if (p != Precision::FP32 && info.tensorCores) {
    bool large = tile == GemmTile::Large;
    if (tile == GemmTile::Auto)
      large = prefer_large_tile(M, N, batch, TcLarge::BM, TcLarge::BN, info.smCount);
    if (large && info.maxSmemOptin < TcLarge::kSmemBytes) large = false;
    if constexpr (split_k_epilogue_ok<Epi>::value) {
      if (!large) {
        bool done;
        switch (p) {
          case Precision::TF32:
            done = try_tc_gemm_split<TcSmall, Precision::TF32>(a, b, epi, M, N, K, batch, info, stream);
            break;
          case Precision::BF16:
            done = try_tc_gemm_split<TcSmall, Precision::BF16>(a, b, epi, M, N, K, batch, info, stream);
            break;
          default:
            done = try_tc_gemm_split<TcSmall, Precision::FP16>(a, b, epi, M, N, K, batch, info, stream);
        }
        if (done) return;
      }
    }
    switch (p) {
      case Precision::TF32:
        return large ? launch_tc_gemm<TcLarge, Precision::TF32>(a, b, epi, M, N, K, batch, stream)
                     : launch_tc_gemm<TcSmall, Precision::TF32>(a, b, epi, M, N, K, batch, stream);
      case Precision::BF16:
        return large ? launch_tc_gemm<TcLarge, Precision::BF16>(a, b, epi, M, N, K, batch, stream)
                     : launch_tc_gemm<TcSmall, Precision::BF16>(a, b, epi, M, N, K, batch, stream);
      default:
        return large ? launch_tc_gemm<TcLarge, Precision::FP16>(a, b, epi, M, N, K, batch, stream)
                     : launch_tc_gemm<TcSmall, Precision::FP16>(a, b, epi, M, N, K, batch, stream);
    }
  }
  bool large = tile == GemmTile::Large;
  if (tile == GemmTile::Auto)
    large = prefer_large_tile(M, N, batch, SimtLarge::BM, SimtLarge::BN, info.smCount);
  if (large) return launch_simt_gemm<SimtLarge>(a, b, epi, M, N, K, batch, stream);
  switch (simt_variant()) {
    case 1:
      return launch_simt_small<SimtSmallK16>(a, b, epi, M, N, K, batch, info, stream);
    case 2:
      return launch_simt_small<SimtMedium>(a, b, epi, M, N, K, batch, info, stream);
    default:
      return launch_simt_small<SimtSmall>(a, b, epi, M, N, K, batch, info, stream);
  }
}

}  // namespace gemm_core
}  // namespace cuda
}  // namespace sotr

#endif  // __CUDACC__
