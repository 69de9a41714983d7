// The tensor-core warp tiles of the CUDA GEMM core (cuda/gemm.cuh): the mma /
// conversion / ldmatrix instruction wrappers, the shared-memory layouts of the
// operand tiles, the tile configurations and the per-warp fragment loads and
// mma loops. Plain C++ as well as CUDA: nvcc sees __host__ __device__
// functions, and a host build with SOTR_GEMM_HOST_EMULATION routes the
// warp-collective instructions (mma, ldmatrix) and the conversions to emu::
// hooks, so CPU tests (tests/native/test_gemm_tc_ldmatrix_emu.cpp) run the
// very same index math without a GPU and without the CUDA headers.
//
// Include gemm.cuh in CUDA code; this header holds only what CPU tests need.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../native/gemm/gemm_args.h"

#if defined(__CUDACC__)
#define SOTR_TC_HD __host__ __device__ __forceinline__
#else
#define SOTR_TC_HD inline
#endif

// Full unrolling in device code only (some functions here are also compiled
// for the host, where the pragma is unknown to the host compiler).
#if defined(__CUDA_ARCH__)
#define SOTR_UNROLL _Pragma("unroll")
#else
#define SOTR_UNROLL
#endif

#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 800)
#define SOTR_GEMM_SM80 1
#else
#define SOTR_GEMM_SM80 0
#endif

namespace sotr {
namespace cuda {
namespace gemm_core {

// A 16-byte vector of 4 floats (float4 in CUDA code).
#if defined(__CUDACC__)
using TcVec4 = float4;
#else
struct alignas(16) TcVec4 {
  float x, y, z, w;
};
#endif

#if defined(SOTR_GEMM_HOST_EMULATION) && !defined(__CUDA_ARCH__)
// Test-only: a host build (tests emulating the kernels' index math on the CPU)
// routes the warp-collective instructions to these hooks.
namespace emu {
uint32_t to_tf32(float x);
uint32_t pack_bf16x2(float lo, float hi);
uint32_t pack_f16x2(float lo, float hi);
void mma(int kind, float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
         uint32_t b1);  // kind: 1 tf32 m16n8k8, 2 bf16 m16n8k16, 3 f16 m16n8k16
// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16; `row` = this lane's row address.
void ldmatrix_x4(uint32_t (&r)[4], const uint16_t* row, bool trans);
}  // namespace emu
#define SOTR_GEMM_EMU 1
#else
#define SOTR_GEMM_EMU 0
#endif

// ---------------------------------------------------------------------------
// Tensor-core instructions (sm_80+). Operand registers as the PTX ISA gives
// them; g = lane / 4, t = lane % 4. Accumulators: d0 (g, 2t), d1 (g, 2t+1),
// d2 (g+8, 2t), d3 (g+8, 2t+1).
// ---------------------------------------------------------------------------

SOTR_TC_HD uint32_t to_tf32(float x) {
  uint32_t r;
#if SOTR_GEMM_SM80
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
#elif SOTR_GEMM_EMU
  r = emu::to_tf32(x);
#elif defined(__CUDA_ARCH__)
  r = __float_as_uint(x);
#else
  std::memcpy(&r, &x, 4);
#endif
  return r;
}

// Packs two floats into bf16x2 / f16x2 with `lo` in the low half.
SOTR_TC_HD uint32_t pack_bf16x2(float lo, float hi) {
  uint32_t r = 0;
#if SOTR_GEMM_SM80
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
#elif SOTR_GEMM_EMU
  r = emu::pack_bf16x2(lo, hi);
#else
  (void)lo;
  (void)hi;
#endif
  return r;
}
SOTR_TC_HD uint32_t pack_f16x2(float lo, float hi) {
  uint32_t r = 0;
#if SOTR_GEMM_SM80
  asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
#elif SOTR_GEMM_EMU
  r = emu::pack_f16x2(lo, hi);
#else
  (void)lo;
  (void)hi;
#endif
  return r;
}

// m16n8k8 tf32: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4);
//               b0 (k=t, n=g), b1 (k=t+4, n=g).
SOTR_TC_HD void mma_tf32_m16n8k8(float (&d)[4], uint32_t a0, uint32_t a1,
                                                 uint32_t a2, uint32_t a3, uint32_t b0,
                                                 uint32_t b1) {
#if SOTR_GEMM_SM80
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#elif SOTR_GEMM_EMU
  emu::mma(1, d, a0, a1, a2, a3, b0, b1);
#else
  (void)d, (void)a0, (void)a1, (void)a2, (void)a3, (void)b0, (void)b1;
#endif
}

// m16n8k16 bf16 / f16: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..),
// a3 (g+8, 2t+8..); b0 (k=2t..2t+1, n=g), b1 (k=2t+8..2t+9, n=g). Lower k in
// the low half of each register.
SOTR_TC_HD void mma_bf16_m16n8k16(float (&d)[4], uint32_t a0, uint32_t a1,
                                                  uint32_t a2, uint32_t a3, uint32_t b0,
                                                  uint32_t b1) {
#if SOTR_GEMM_SM80
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#elif SOTR_GEMM_EMU
  emu::mma(2, d, a0, a1, a2, a3, b0, b1);
#else
  (void)d, (void)a0, (void)a1, (void)a2, (void)a3, (void)b0, (void)b1;
#endif
}
SOTR_TC_HD void mma_f16_m16n8k16(float (&d)[4], uint32_t a0, uint32_t a1,
                                                 uint32_t a2, uint32_t a3, uint32_t b0,
                                                 uint32_t b1) {
#if SOTR_GEMM_SM80
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#elif SOTR_GEMM_EMU
  emu::mma(3, d, a0, a1, a2, a3, b0, b1);
#else
  (void)d, (void)a0, (void)a1, (void)a2, (void)a3, (void)b0, (void)b1;
#endif
}

// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16 (sm_75+; used from the
// sm_80 kernels only). Lane i gives the address of row i % 8 of matrix i / 8:
// 8 contiguous 16-bit elements, 16-byte aligned. r[j] receives elements
// (g, 2t) (low half) and (g, 2t + 1) of matrix j, or with TRANS those of its
// transpose, i.e. (2t, g) and (2t + 1, g).
template <bool TRANS>
SOTR_TC_HD void ldmatrix_x4(uint32_t (&r)[4], const uint16_t* row) {
#if SOTR_GEMM_SM80
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
#elif SOTR_GEMM_EMU
  emu::ldmatrix_x4(r, row, TRANS);
#else
  (void)row;
  r[0] = r[1] = r[2] = r[3] = 0;
#endif
}

// 16-byte shared load and 8-byte shared store (plain accesses in device code;
// memcpy on the host, where the buffers are of another type).
SOTR_TC_HD TcVec4 load_vec4(const float* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const TcVec4*>(p);
#else
  TcVec4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
#endif
}
SOTR_TC_HD void store_u32x2(uint16_t* p, uint32_t lo, uint32_t hi) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<uint2*>(p) = make_uint2(lo, hi);
#else
  const uint32_t v[2] = {lo, hi};
  std::memcpy(p, v, sizeof v);
#endif
}

// ---------------------------------------------------------------------------
// Shared-memory tile layouts of one operand tile X[kRows][kDepth] (float32).
// offset(r, k) keeps every aligned group of 4 elements along the contiguous
// dimension contiguous and 16-byte aligned (so 16-byte cp.async works).
// ---------------------------------------------------------------------------

// k contiguous, rows of kDepth floats; 16-byte chunk c of row r is stored at
// chunk c ^ 4 on odd rows, so the tensor-core fragment reads (one 16-byte
// read per row, rows r and r+1 in the same quarter warp) are conflict free.
template <int ROWS, int DEPTH>
struct SmemKMajor {
  static_assert(DEPTH % 32 == 0, "SmemKMajor needs a depth multiple of 32");
  static constexpr bool kKContig = true;
  static constexpr int kRows = ROWS, kDepth = DEPTH, kElems = ROWS * DEPTH;
  SOTR_TC_HD static int offset(int r, int k) {
    return r * DEPTH + ((((k >> 2) ^ ((r & 1) << 2))) << 2) + (k & 3);
  }
  // Tensor-core fragment reads of a warp whose rows start at r0 (a multiple of
  // 32): lane (g, t) reads k = 16*kc + 4t .. +3 of row r0 + 8*rb + g.
  struct FragReader {
    int base[2];  // by kc parity
    SOTR_TC_HD FragReader(int r0, int lane) {
      const int g = lane >> 2, t = lane & 3;
SOTR_UNROLL
      for (int p = 0; p < 2; ++p) base[p] = (r0 + g) * DEPTH + (((p ^ (g & 1)) * 4 + t) << 2);
    }
    template <int RB, int KC>
    SOTR_TC_HD void load4(const float* s, float* out) const {
      const TcVec4 v = load_vec4(s + base[KC & 1] + RB * 8 * DEPTH + (KC >> 1) * 32);
      out[0] = v.x;
      out[1] = v.y;
      out[2] = v.z;
      out[3] = v.w;
    }
  };
};

// mn contiguous, rows of kRows floats per k; bits 3..4 of r are XORed with
// bits 2..3 of k, so the scalar fragment reads (k = 4t + j across t,
// r = base + g) hit 32 distinct banks.
template <int ROWS, int DEPTH>
struct SmemMNMajor {
  static_assert(ROWS % 32 == 0, "SmemMNMajor needs a row count multiple of 32");
  static constexpr bool kKContig = false;
  static constexpr int kRows = ROWS, kDepth = DEPTH, kElems = ROWS * DEPTH;
  SOTR_TC_HD static int offset(int r, int k) {
    return k * ROWS + (r ^ (((k >> 2) & 3) << 3));
  }
  // As SmemKMajor::FragReader. With r = r0 + 8*rb + g (r0 % 32 == 0) and
  // k = 16*kc + 4t + j: offset = (16*kc + j)*ROWS + 4t*ROWS + r0 + 32*(rb/4)
  // + (((rb%4) ^ t) << 3) + g, i.e. one of 4 per-thread bases + a constant.
  struct FragReader {
    int base[4];  // by rb % 4
    SOTR_TC_HD FragReader(int r0, int lane) {
      const int g = lane >> 2, t = lane & 3;
SOTR_UNROLL
      for (int q = 0; q < 4; ++q) base[q] = 4 * t * ROWS + r0 + ((q ^ t) << 3) + g;
    }
    template <int RB, int KC>
    SOTR_TC_HD void load4(const float* s, float* out) const {
SOTR_UNROLL
      for (int j = 0; j < 4; ++j) out[j] = s[base[RB & 3] + (RB >> 2) * 32 + (16 * KC + j) * ROWS];
    }
  };
};

// ---------------------------------------------------------------------------
// 16-bit operand tiles for ldmatrix (SOTR_GEMM_TC_VARIANT=ldmatrix), laid out
// along the same contiguous dimension as the float32 stage they are converted
// from: lines of L 16-bit elements (k rows of SmemKMajor, or k lines of mn for
// SmemMNMajor). 16-byte chunk c of line l is stored at chunk c ^ s(l), with
// s(l) = l & 7 when a line has 8 or more chunks, (l >> 1) & 3 when it has 4
// (two lines per 128-byte bank row). So the 8 rows of one ldmatrix matrix (8
// consecutive lines, one chunk each) hit 8 distinct 16-byte bank groups, and
// the conversion's 8-byte stores (16 lanes: 64 consecutive elements of one
// line, or 32 of each of two consecutive lines) hit 32 distinct banks.
// ---------------------------------------------------------------------------
template <int L>
SOTR_TC_HD int swizzle16(int line, int e) {
  constexpr int kChunks = L / 8;
  static_assert(kChunks >= 4 && (kChunks & (kChunks - 1)) == 0,
                "16-bit tile lines must have 4, 8, 16, ... chunks of 16 bytes");
  const int s = kChunks >= 8 ? (line & 7) : ((line >> 1) & 3);
  return line * L + (((e >> 3) ^ s) << 3) + (e & 7);
}

// k contiguous: element (r, k) in line r (ldmatrix without .trans).
template <int ROWS, int DEPTH>
struct Smem16KMajor {
  static constexpr bool kKContig = true;
  static constexpr int kRows = ROWS, kDepth = DEPTH, kElems = ROWS * DEPTH;
  SOTR_TC_HD static int offset(int r, int k) { return swizzle16<DEPTH>(r, k); }
};

// mn contiguous: element (r, k) in line k (ldmatrix .trans).
template <int ROWS, int DEPTH>
struct Smem16MNMajor {
  static constexpr bool kKContig = false;
  static constexpr int kRows = ROWS, kDepth = DEPTH, kElems = ROWS * DEPTH;
  SOTR_TC_HD static int offset(int r, int k) { return swizzle16<ROWS>(k, r); }
};

// The 16-bit tile type for a float32 stage layout.
template <class SmemF>
using Smem16For = std::conditional_t<SmemF::kKContig, Smem16KMajor<SmemF::kRows, SmemF::kDepth>,
                                     Smem16MNMajor<SmemF::kRows, SmemF::kDepth>>;

// ---------------------------------------------------------------------------
// Tensor-core tile configurations.
// ---------------------------------------------------------------------------
template <int BM_, int BN_, int BK_, int WM_, int WN_, int STAGES_, int MINB_>
struct TcConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_, STAGES = STAGES_;
  static constexpr int kMinBlocks = MINB_;  // __launch_bounds__ min blocks per SM
  static constexpr int kWarpsM = BM / WM, kWarpsN = BN / WN;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int MI = WM / 16, NI = WN / 8;
  static constexpr int kPipeBytes = STAGES * (BM + BN) * BK * 4;
  static constexpr int kEpiLd = BN + 8;  // staged C tile: float2 stores conflict free
  static constexpr int kEpiBytes = BM * kEpiLd * 4;
  static constexpr int kSmemBytes = kPipeBytes > kEpiBytes ? kPipeBytes : kEpiBytes;
  // SOTR_GEMM_TC_VARIANT=ldmatrix: one 16-bit copy of the current k-tile of A
  // and B after the float32 stages (Large: 96 + 16 KB, Small: 64 + 8 KB).
  static constexpr int kTile16Bytes = (BM + BN) * BK * 2;
  static constexpr int kPipeBytesLdsm = kPipeBytes + kTile16Bytes;
  static constexpr int kSmemBytesLdsm = kPipeBytesLdsm > kEpiBytes ? kPipeBytesLdsm : kEpiBytes;
  static_assert(BM % WM == 0 && BN % WN == 0 && WM % 32 == 0 && WN % 32 == 0, "tile shape");
  static_assert(BK % 32 == 0 && BM % 32 == 0 && BN % 32 == 0 && STAGES >= 2, "tile shape");
};
// Tuning hooks (a build may override them with -D...; the defaults were
// measured on an H200, see cuda/README.md).
#ifndef SOTR_GEMM_TC_LARGE
#define SOTR_GEMM_TC_LARGE 128, 128, 32, 64, 64, 3, 2
#endif
#ifndef SOTR_GEMM_TC_SMALL
#define SOTR_GEMM_TC_SMALL 64, 64, 32, 32, 32, 4, 3
#endif
using TcLarge = TcConfig<SOTR_GEMM_TC_LARGE>;
using TcSmall = TcConfig<SOTR_GEMM_TC_SMALL>;

// ---------------------------------------------------------------------------
// Warp tiles.
// ---------------------------------------------------------------------------

// One k-tile (Smem depth) of a warp tile WM x WN. The k order inside each
// 16-wide k block is permuted identically for A and B (a sum is order free):
// lane (g, t) reads the 4 consecutive k = 16*kc + 4t .. 4t+3 of its rows, and
//   tf32 : mma #s (s = 0, 1) takes mma-k t <- 4t + 2s, t + 4 <- 4t + 2s + 1
//   16bit: mma-k 2t, 2t+1 <- 4t, 4t+1 and 2t+8, 2t+9 <- 4t+2, 4t+3.
template <int I, int N, class F>
SOTR_TC_HD void static_for(F&& f) {
  if constexpr (I < N) {
    f(std::integral_constant<int, I>{});
    static_for<I + 1, N>(f);
  }
}

template <Precision P, int WM, int WN, class SmemA, class SmemB>
SOTR_TC_HD void tc_warp_tile(const float* sA, const float* sB,
                                             float (&acc)[WM / 16][WN / 8][4],
                                             const typename SmemA::FragReader& ra,
                                             const typename SmemB::FragReader& rb) {
  constexpr int MI = WM / 16, NI = WN / 8;
  constexpr bool kTf32 = (P == Precision::TF32), kBf16 = (P == Precision::BF16);
  static_for<0, SmemA::kDepth / 16>([&](auto kcI) {
    constexpr int kc = decltype(kcI)::value;
    // B fragments of the whole warp tile for this k block, converted.
    uint32_t b[NI][4];
    static_for<0, NI>([&](auto niI) {
      constexpr int ni = decltype(niI)::value;
      float f[4];
      rb.template load4<ni, kc>(sB, f);
      if constexpr (kTf32) {
SOTR_UNROLL
        for (int j = 0; j < 4; ++j) b[ni][j] = to_tf32(f[j]);
      } else {
        b[ni][0] = kBf16 ? pack_bf16x2(f[0], f[1]) : pack_f16x2(f[0], f[1]);
        b[ni][1] = kBf16 ? pack_bf16x2(f[2], f[3]) : pack_f16x2(f[2], f[3]);
      }
    });
    // A fragments one m16 block at a time.
    static_for<0, MI>([&](auto miI) {
      constexpr int mi = decltype(miI)::value;
      float f[8];
      ra.template load4<2 * mi, kc>(sA, &f[0]);      // row g
      ra.template load4<2 * mi + 1, kc>(sA, &f[4]);  // row g + 8
      if constexpr (kTf32) {
        uint32_t a[8];
SOTR_UNROLL
        for (int j = 0; j < 8; ++j) a[j] = to_tf32(f[j]);
SOTR_UNROLL
        for (int s = 0; s < 2; ++s)
SOTR_UNROLL
          for (int ni = 0; ni < NI; ++ni)
            mma_tf32_m16n8k8(acc[mi][ni], a[2 * s], a[4 + 2 * s], a[2 * s + 1], a[4 + 2 * s + 1],
                             b[ni][2 * s], b[ni][2 * s + 1]);
      } else {
        uint32_t a[4];
        a[0] = kBf16 ? pack_bf16x2(f[0], f[1]) : pack_f16x2(f[0], f[1]);
        a[1] = kBf16 ? pack_bf16x2(f[4], f[5]) : pack_f16x2(f[4], f[5]);
        a[2] = kBf16 ? pack_bf16x2(f[2], f[3]) : pack_f16x2(f[2], f[3]);
        a[3] = kBf16 ? pack_bf16x2(f[6], f[7]) : pack_f16x2(f[6], f[7]);
SOTR_UNROLL
        for (int ni = 0; ni < NI; ++ni) {
          if constexpr (kBf16)
            mma_bf16_m16n8k16(acc[mi][ni], a[0], a[1], a[2], a[3], b[ni][0], b[ni][1]);
          else
            mma_f16_m16n8k16(acc[mi][ni], a[0], a[1], a[2], a[3], b[ni][0], b[ni][1]);
        }
      }
    });
  });
}

// ---------------------------------------------------------------------------
// SOTR_GEMM_TC_VARIANT=ldmatrix (bf16 / fp16 only): the CTA converts each
// float32 k-tile once into a 16-bit copy (TcConvert), and the warps load their
// fragments from it with ldmatrix.x4 (tc_warp_tile_ldsm) in natural k order.
// Same operand rounding as tc_warp_tile (cvt.rn, round to nearest even), half
// the conversions and fewer shared-memory instructions per mma; the sums are
// the same up to the order of the products.
// ---------------------------------------------------------------------------

// All NT threads of the CTA turn a float32 stage (SmemF) into its 16-bit copy
// (Smem16For<SmemF>). A unit is 4 consecutive elements along the contiguous
// dimension: one 16-byte shared load, two cvt.rn.{bf16x2,f16x2}.f32, one
// 8-byte shared store. Unit u = tid + i * NT is quad u % Q of line u / Q
// (Q = quads per line): 8 lanes read 128 consecutive bytes of one float row
// (SmemKMajor / SmemMNMajor only permute 16-byte chunks within such a row)
// and 16 lanes store 128 bytes of 16-bit lines: no bank conflicts.
//
// Offsets: both layouts put (line l, element e) at l * L + (e ^ X(l)), with
// X a bit field of l (L a power of two, X(l) < L). Thread tid's lines are
// l0 + i * LS (LS = NT / Q, a power of two, l0 < LS: the bits do not
// overlap), so unit i is at (offset(l0, e) ^ X(i * LS)) + i * LS * L: one
// per-thread base per layout, and compile-time constants.
template <class SmemF, int NT>
struct TcConvert {
  using S16 = Smem16For<SmemF>;
  static constexpr bool kKC = SmemF::kKContig;
  static constexpr int kLine = kKC ? SmemF::kDepth : SmemF::kRows;  // elements per line (both tiles)
  static constexpr int kQuads = kLine / 4;
  static constexpr int kUnits = SmemF::kElems / 4;
  static constexpr int kIters = kUnits / NT;
  static constexpr int kLineStep = NT / kQuads;
  static_assert(kUnits % NT == 0 && kQuads % 8 == 0 && NT % kQuads == 0, "tile too small for the conversion");
  static_assert((kLine & (kLine - 1)) == 0 && (kLineStep & (kLineStep - 1)) == 0, "powers of two");

  template <class S>
  SOTR_TC_HD static int at(int line, int e) {
    return kKC ? S::offset(line, e) : S::offset(e, line);
  }
  // Per-thread bases: offsets of unit 0 (in floats, in 16-bit elements).
  struct Base {
    int f, h;
    SOTR_TC_HD explicit Base(int tid) {
      const int l0 = tid / kQuads, e = (tid % kQuads) * 4;
      f = at<SmemF>(l0, e);
      h = at<S16>(l0, e);
    }
  };
  // Offsets of unit i.
  SOTR_TC_HD static void unit(const Base& b, int i, int& fo, int& ho) {
    const int l = i * kLineStep;
    fo = (b.f ^ (at<SmemF>(l, 0) - l * kLine)) + l * kLine;
    ho = (b.h ^ (at<S16>(l, 0) - l * kLine)) + l * kLine;
  }

  template <Precision P>
  SOTR_TC_HD static void run(const float* s, uint16_t* h, const Base& b) {
    static_assert(P == Precision::BF16 || P == Precision::FP16, "16-bit precisions only");
SOTR_UNROLL
    for (int i = 0; i < kIters; ++i) {
      int fo, ho;
      unit(b, i, fo, ho);
      const TcVec4 v = load_vec4(s + fo);
      if constexpr (P == Precision::BF16)
        store_u32x2(h + ho, pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w));
      else
        store_u32x2(h + ho, pack_f16x2(v.x, v.y), pack_f16x2(v.z, v.w));
    }
  }
};

// Per-lane ldmatrix.x4 addresses of a warp's operand, mn rows from mn0 (a
// multiple of 32). One x4 covers 16 mn x 16 k (block `blk` = mn0 + 16*blk,
// k block kc). For A (KB = false) matrix j is (mn + 8*(j&1), k + 8*(j>>1)):
// registers a0..a3 of mma m16n8k16. For B (KB = true) it is
// (mn + 8*(j>>1), k + 8*(j&1)): b0, b1 of n-block 2*blk, then of 2*blk + 1.
// Lane i addresses row i % 8 of matrix i / 8: for a k-contiguous tile the row
// is an mn (ldmatrix), for an mn-contiguous one a k (ldmatrix .trans).
//   k-contiguous:  offset(blk, kc) = base[kc] + 16*blk*kDepth (the swizzle
//                  of line r + 16*blk is that of line r);
//   mn-contiguous: offset(blk, kc) = base[blk % 4] + 64*(blk / 4)
//                  + 16*kc*kRows (the swizzle, below 8 chunks, depends on
//                  the line k = 16*kc + 8*kb + i % 8 only through i % 8).
template <class S16, bool KB>
struct LdsmReader {
  static constexpr bool kTrans = !S16::kKContig;
  static constexpr int kBases = S16::kKContig ? S16::kDepth / 16 : 4;
  int base[kBases];
  SOTR_TC_HD LdsmReader(int mn0, int lane) {
    const int j = lane >> 3, i8 = lane & 7;
    const int mnb = KB ? (j >> 1) : (j & 1), kb = KB ? (j & 1) : (j >> 1);
SOTR_UNROLL
    for (int q = 0; q < kBases; ++q)
      base[q] = S16::kKContig ? S16::offset(mn0 + 8 * mnb + i8, 16 * q + 8 * kb)
                              : S16::offset(mn0 + 16 * q + 8 * mnb, 8 * kb + i8);
  }
  template <int BLK, int KC>
  SOTR_TC_HD int offset() const {
    if constexpr (S16::kKContig)
      return base[KC] + 16 * BLK * S16::kDepth;
    else
      return base[BLK & 3] + 64 * (BLK >> 2) + 16 * KC * S16::kRows;
  }
  template <int BLK, int KC>
  SOTR_TC_HD void load(const uint16_t* h, uint32_t (&r)[4]) const {
    ldmatrix_x4<kTrans>(r, h + offset<BLK, KC>());
  }
};

// One k-tile of a warp tile WM x WN from the 16-bit tiles hA / hB (bf16 or
// fp16 as P). Same mma order as tc_warp_tile (k block, then mi, then ni), k in
// natural order inside each mma; accumulator layout as tc_warp_tile's.
template <Precision P, int WM, int WN, class S16A, class S16B>
SOTR_TC_HD void tc_warp_tile_ldsm(const uint16_t* hA, const uint16_t* hB,
                                  float (&acc)[WM / 16][WN / 8][4],
                                  const LdsmReader<S16A, false>& ra,
                                  const LdsmReader<S16B, true>& rb) {
  static_assert(P == Precision::BF16 || P == Precision::FP16, "16-bit precisions only");
  static_assert(S16A::kDepth == S16B::kDepth && S16A::kDepth % 16 == 0, "k-tile depth");
  constexpr int MI = WM / 16, NI = WN / 8;
  static_for<0, S16A::kDepth / 16>([&](auto kcI) {
    constexpr int kc = decltype(kcI)::value;
    uint32_t b[NI][2];
    static_for<0, NI / 2>([&](auto nbI) {
      constexpr int nb = decltype(nbI)::value;
      uint32_t r[4];
      rb.template load<nb, kc>(hB, r);
      b[2 * nb][0] = r[0];
      b[2 * nb][1] = r[1];
      b[2 * nb + 1][0] = r[2];
      b[2 * nb + 1][1] = r[3];
    });
    static_for<0, MI>([&](auto miI) {
      constexpr int mi = decltype(miI)::value;
      uint32_t a[4];
      ra.template load<mi, kc>(hA, a);
SOTR_UNROLL
      for (int ni = 0; ni < NI; ++ni) {
        if constexpr (P == Precision::BF16)
          mma_bf16_m16n8k16(acc[mi][ni], a[0], a[1], a[2], a[3], b[ni][0], b[ni][1]);
        else
          mma_f16_m16n8k16(acc[mi][ni], a[0], a[1], a[2], a[3], b[ni][0], b[ni][1]);
      }
    });
  });
}

}  // namespace gemm_core
}  // namespace cuda
}  // namespace sotr
