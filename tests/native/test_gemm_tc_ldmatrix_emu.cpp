// The SOTR_GEMM_TC_VARIANT=ldmatrix mainloop of the CUDA GEMM core
// (cuda/gemm_tc_tile.h: TcConvert, LdsmReader, tc_warp_tile_ldsm) emulated on
// the CPU: the very same index math, with the warp-collective instructions
// (ldmatrix.x4 [.trans], mma.sync m16n8k16) and the conversions routed to the
// emu:: hooks defined here. No GPU and no CUDA headers needed.
//
// For the Large and Small tile configurations, bf16 and fp16, and A / B each
// k-contiguous or mn-contiguous, over two k-tiles of a whole CTA tile:
//   1. float32 stages filled through the real layouts (SmemKMajor /
//      SmemMNMajor) with random data (plus rounding ties, fp16 subnormals,
//      signed zeros); TcConvert run for every thread: each element of the
//      16-bit tile is the round-to-nearest-even of its float, at
//      Smem16For<>::offset, and the offsets are a bijection onto the tile;
//   2. every warp's tc_warp_tile_ldsm, all 32 lanes, then the emulated mma:
//      the CTA tile against a float64 product of the rounded operands
//      (NMSE <= 1e-12: exact products, fp32 accumulation only);
//   3. the same through the current path (tc_warp_tile on the float stages):
//      its mma fragments equal the ldmatrix path's element for element once
//      its k permutation (2t,2t+1 <- 4t,4t+1; 2t+8,2t+9 <- 4t+2,4t+3) is
//      undone, and its result matches the same reference;
//   4. shared-memory bank conflicts: every ldmatrix phase (8 rows of 16 bytes),
//      every conversion LDS.128 phase (8 lanes) and STS.64 phase (16 lanes)
//      touches each of the 32 banks at most once (1 wavefront per phase).
// Also a check of the ldmatrix emulation itself against the PTX ISA's fragment
// description. Prints "N checks, N failures" (tests/run.mjs counts one test).
#define SOTR_GEMM_HOST_EMULATION 1

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cuda/gemm_tc_tile.h"
#include "check.h"
#include "uniform.h"

using namespace sotr;
namespace gc = sotr::cuda::gemm_core;

namespace {

uint32_t bitsOf(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float floatOf(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// float -> bf16 / fp16, round to nearest even (cvt.rn), and back.
uint16_t toBf16(float x) {
  uint32_t u = bitsOf(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float fromBf16(uint16_t h) { return floatOf(static_cast<uint32_t>(h) << 16); }

uint16_t toF16(float x) {
  uint32_t u = bitsOf(x);
  const uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u >= 0x7f800000u) return static_cast<uint16_t>(sign | (u > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (u >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (u < 0x38800000u) {                                              // below 2^-14: subnormal
    const double scaled = static_cast<double>(floatOf(u)) * 16777216.0;  // units of 2^-24, exact
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  const uint32_t mant = u & 0x7fffffu;
  uint32_t h = ((((u >> 23) - 127u + 15u)) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}
float fromF16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const int e = (h >> 10) & 0x1f;
  const uint32_t m = h & 0x3ffu;
  float v;
  if (e == 0) v = std::ldexp(static_cast<float>(m), -24);
  else if (e == 31) v = m ? std::nanf("") : INFINITY;
  else v = std::ldexp(static_cast<float>(m | 0x400u), e - 25);
  return floatOf(bitsOf(v) | sign);
}

bool g_bf16 = true;  // the 16-bit type being emulated
uint16_t round16(float x) { return g_bf16 ? toBf16(x) : toF16(x); }
float dec16(uint16_t h) { return g_bf16 ? fromBf16(h) : fromF16(h); }

// ---------------------------------------------------------------------------
// Warp-collective emulation. A warp runs lane by lane, twice: pass 1 records
// each ldmatrix call's row addresses (addresses never depend on loaded data);
// pass 2 answers every ldmatrix from the 32 recorded addresses and records
// every mma's fragments and accumulator pointers; then the mmas are replayed
// in program order over the whole warp.
// ---------------------------------------------------------------------------
struct LdsmCall {
  const uint16_t* row[32];
  bool trans;
};
struct MmaCall {
  int kind;
  float* d[32];
  uint32_t a[32][4], b[32][2];
};
struct Emu {
  int pass = 0, lane = 0;
  size_t ldsmIdx = 0, mmaIdx = 0;
  std::vector<LdsmCall> ldsm;
  std::vector<MmaCall> mma;
  int addressMismatch = 0;
} g_emu;

}  // namespace

namespace sotr {
namespace cuda {
namespace gemm_core {
namespace emu {

uint32_t to_tf32(float x) {
  uint32_t u = bitsOf(x);
  if ((u & 0x7f800000u) != 0x7f800000u) u += 0x1000u;  // cvt.rna: ties away from zero
  return u & 0xffffe000u;
}
uint32_t pack_bf16x2(float lo, float hi) { return toBf16(lo) | (static_cast<uint32_t>(toBf16(hi)) << 16); }
uint32_t pack_f16x2(float lo, float hi) { return toF16(lo) | (static_cast<uint32_t>(toF16(hi)) << 16); }

void mma(int kind, float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  if (g_emu.pass != 2) return;  // pass 1: addresses only
  const size_t i = g_emu.mmaIdx++;
  if (g_emu.lane == 0) g_emu.mma.resize(i + 1);
  MmaCall& c = g_emu.mma[i];
  c.kind = kind;
  c.d[g_emu.lane] = d;
  const uint32_t a[4] = {a0, a1, a2, a3};
  for (int j = 0; j < 4; ++j) c.a[g_emu.lane][j] = a[j];
  c.b[g_emu.lane][0] = b0;
  c.b[g_emu.lane][1] = b1;
}

void ldmatrix_x4(uint32_t (&r)[4], const uint16_t* row, bool trans) {
  const size_t i = g_emu.ldsmIdx++;
  const int lane = g_emu.lane;
  if (g_emu.pass == 1) {
    if (lane == 0) g_emu.ldsm.resize(i + 1);
    g_emu.ldsm[i].row[lane] = row;
    g_emu.ldsm[i].trans = trans;
    r[0] = r[1] = r[2] = r[3] = 0;
    return;
  }
  const LdsmCall& c = g_emu.ldsm[i];
  if (c.row[lane] != row || c.trans != trans) ++g_emu.addressMismatch;
  const int g = lane >> 2, t = lane & 3;
  for (int j = 0; j < 4; ++j) {
    const uint16_t* const* m = &c.row[8 * j];  // matrix j: rows from lanes 8j .. 8j+7
    uint16_t lo, hi;
    if (!trans) {
      lo = m[g][2 * t];
      hi = m[g][2 * t + 1];
    } else {
      lo = m[2 * t][g];
      hi = m[2 * t + 1][g];
    }
    r[j] = lo | (static_cast<uint32_t>(hi) << 16);
  }
}

}  // namespace emu
}  // namespace gemm_core
}  // namespace cuda
}  // namespace sotr

namespace {

// Decoded operands of an m16n8k16 mma from the 32 lanes' registers (PTX ISA
// fragment layout): A[m][k] 16 x 16, B[k][n] 16 x 8, as 16-bit patterns.
void fragments16(const MmaCall& c, uint16_t (&A)[16][16], uint16_t (&B)[16][8]) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    const uint32_t* a = c.a[lane];
    const int am[4] = {g, g + 8, g, g + 8}, ak[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
    for (int j = 0; j < 4; ++j) {
      A[am[j]][ak[j]] = static_cast<uint16_t>(a[j]);
      A[am[j]][ak[j] + 1] = static_cast<uint16_t>(a[j] >> 16);
    }
    B[2 * t][g] = static_cast<uint16_t>(c.b[lane][0]);
    B[2 * t + 1][g] = static_cast<uint16_t>(c.b[lane][0] >> 16);
    B[2 * t + 8][g] = static_cast<uint16_t>(c.b[lane][1]);
    B[2 * t + 9][g] = static_cast<uint16_t>(c.b[lane][1] >> 16);
  }
}

// The current path's fragments as logical operands: its k permutation undone
// (lane (g, t) holds k = 4t, 4t+1 in a0 / a1 / b0 and 4t+2, 4t+3 in a2 / a3 / b1).
void fragments16Permuted(const MmaCall& c, uint16_t (&A)[16][16], uint16_t (&B)[16][8]) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    const uint32_t* a = c.a[lane];
    const int am[4] = {g, g + 8, g, g + 8}, ak[4] = {4 * t, 4 * t, 4 * t + 2, 4 * t + 2};
    for (int j = 0; j < 4; ++j) {
      A[am[j]][ak[j]] = static_cast<uint16_t>(a[j]);
      A[am[j]][ak[j] + 1] = static_cast<uint16_t>(a[j] >> 16);
    }
    B[4 * t][g] = static_cast<uint16_t>(c.b[lane][0]);
    B[4 * t + 1][g] = static_cast<uint16_t>(c.b[lane][0] >> 16);
    B[4 * t + 2][g] = static_cast<uint16_t>(c.b[lane][1]);
    B[4 * t + 3][g] = static_cast<uint16_t>(c.b[lane][1] >> 16);
  }
}

// d += A * B for the whole warp: exact products, summed in float64, one fp32
// rounding per mma (the hardware's internal order and rounding differ; the
// reference bound below allows for fp32 accumulation).
void replayMmas() {
  for (const MmaCall& c : g_emu.mma) {
    if (c.kind != 2 && c.kind != 3) {
      check(false, "unexpected mma kind");
      continue;
    }
    uint16_t A[16][16], B[16][8];
    fragments16(c, A, B);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2, t = lane & 3;
      const int dm[4] = {g, g, g + 8, g + 8}, dn[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
      for (int j = 0; j < 4; ++j) {
        double s = c.d[lane][j];
        for (int k = 0; k < 16; ++k) s += static_cast<double>(dec16(A[dm[j]][k])) * dec16(B[k][dn[j]]);
        c.d[lane][j] = static_cast<float>(s);
      }
    }
  }
}

template <class F>
void runWarp(F&& laneBody) {
  g_emu.ldsm.clear();
  g_emu.mma.clear();
  for (int pass = 1; pass <= 2; ++pass)
    for (int lane = 0; lane < 32; ++lane) {
      g_emu.pass = pass;
      g_emu.lane = lane;
      g_emu.ldsmIdx = g_emu.mmaIdx = 0;
      laneBody(lane);
    }
  g_emu.pass = 0;
}

// Wavefronts of one shared-memory phase: the most distinct 4-byte words that
// any one bank is asked for (1 = conflict free). Byte offsets from the base
// of shared memory (the kernel's dynamic shared memory starts bank aligned).
int wavefronts(const std::vector<int64_t>& byteOffsets, int bytesEach) {
  std::map<int, std::set<int64_t>> perBank;
  for (int64_t b : byteOffsets)
    for (int w = 0; w < bytesEach / 4; ++w) {
      const int64_t word = b / 4 + w;
      perBank[static_cast<int>(word % 32)].insert(word);
    }
  size_t worst = 0;
  for (auto& kv : perBank) worst = std::max(worst, kv.second.size());
  return static_cast<int>(worst);
}

std::mt19937 g_rng(4321);

// Random operand values: uniform [-1, 1], with rounding ties of the emulated
// type, fp16 subnormals and signed zeros mixed in.
float randomValue() {
  const int kind = static_cast<int>(g_rng() % 20);
  float x = uniformFloat(g_rng);
  if (kind == 0) return (g_rng() & 1) ? 0.f : -0.f;
  if (kind == 1) return x * 1e-5f;  // fp16 subnormal range
  if (kind <= 4) {                  // an exact tie: the dropped bits are 100...0
    uint32_t u = bitsOf(x);
    u = g_bf16 ? ((u & 0xffff0000u) | 0x8000u) : ((u & 0xffffe000u) | 0x1000u);
    return floatOf(u);
  }
  return x;
}

template <class Cfg, Precision P, bool AKC, bool BKC>
void checkCta() {
  using SmemA = std::conditional_t<AKC, gc::SmemKMajor<Cfg::BM, Cfg::BK>, gc::SmemMNMajor<Cfg::BM, Cfg::BK>>;
  using SmemB = std::conditional_t<BKC, gc::SmemKMajor<Cfg::BN, Cfg::BK>, gc::SmemMNMajor<Cfg::BN, Cfg::BK>>;
  using S16A = gc::Smem16For<SmemA>;
  using S16B = gc::Smem16For<SmemB>;
  using CvA = gc::TcConvert<SmemA, Cfg::kThreads>;
  using CvB = gc::TcConvert<SmemB, Cfg::kThreads>;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, NT = Cfg::kThreads, MI = Cfg::MI, NI = Cfg::NI;
  constexpr int KT = 2;  // k-tiles
  g_bf16 = P == Precision::BF16;
  char nameBuf[160];
  std::snprintf(nameBuf, sizeof nameBuf, "%dx%dx%d %s A %s B %s", BM, BN, BK, g_bf16 ? "bf16" : "fp16",
                AKC ? "k-contig" : "mn-contig", BKC ? "k-contig" : "mn-contig");
  const std::string name = nameBuf;

  // The kernel's dynamic shared memory: float stages, then hA, then hB.
  static_assert(Cfg::kSmemBytesLdsm >= Cfg::kPipeBytes + (BM + BN) * BK * 2, "smem budget");
  std::vector<uint64_t> arena(Cfg::kSmemBytesLdsm / 8 + 16);
  unsigned char* base = reinterpret_cast<unsigned char*>(arena.data());
  float* sA = reinterpret_cast<float*>(base);
  float* sB = sA + Cfg::STAGES * SmemA::kElems;
  uint16_t* hA = reinterpret_cast<uint16_t*>(sB + Cfg::STAGES * SmemB::kElems);
  uint16_t* hB = hA + SmemA::kElems;
  check(reinterpret_cast<unsigned char*>(hB + SmemB::kElems) <= base + Cfg::kSmemBytesLdsm,
        "16-bit tiles inside kSmemBytesLdsm " + name);
  auto byteOff = [&](const void* p) { return static_cast<int64_t>(static_cast<const unsigned char*>(p) - base); };

  // Operands X[mn][k] over KT k-tiles, and the float64 reference of the rounded values.
  std::vector<float> xa(BM * BK * KT), xb(BN * BK * KT);
  for (float& v : xa) v = randomValue();
  for (float& v : xb) v = randomValue();
  std::vector<double> ref(BM * BN, 0.0);
  for (int m = 0; m < BM; ++m)
    for (int n = 0; n < BN; ++n) {
      double s = 0;
      for (int k = 0; k < BK * KT; ++k)
        s += static_cast<double>(dec16(round16(xa[m * BK * KT + k]))) * dec16(round16(xb[n * BK * KT + k]));
      ref[m * BN + n] = s;
    }

  // Per lane accumulators of every warp, for both paths.
  struct Acc {
    float v[MI][NI][4];
  };
  constexpr int kWarps = NT / 32;
  std::vector<Acc> accNew(kWarps * 32), accOld(kWarps * 32);
  for (Acc& a : accNew) std::memset(a.v, 0, sizeof a.v);
  for (Acc& a : accOld) std::memset(a.v, 0, sizeof a.v);

  int64_t badConvert = 0, badFrag = 0, badCover = 0;
  int worstLdsm = 0, worstLds = 0, worstSts = 0, ldsmPhases = 0;
  for (int kt = 0; kt < KT; ++kt) {
    const int stage = (kt + 1) % Cfg::STAGES;  // any stage: the offsets of the real kernel
    float* fa = sA + stage * SmemA::kElems;
    float* fb = sB + stage * SmemB::kElems;
    for (int i = 0; i < SmemA::kElems; ++i) fa[i] = std::nanf("");
    for (int i = 0; i < SmemB::kElems; ++i) fb[i] = std::nanf("");
    for (int r = 0; r < BM; ++r)
      for (int k = 0; k < BK; ++k) fa[SmemA::offset(r, k)] = xa[r * BK * KT + kt * BK + k];
    for (int r = 0; r < BN; ++r)
      for (int k = 0; k < BK; ++k) fb[SmemB::offset(r, k)] = xb[r * BK * KT + kt * BK + k];

    // 1. The conversion, every thread (no order between threads matters).
    std::memset(hA, 0xff, SmemA::kElems * 2);
    std::memset(hB, 0xff, SmemB::kElems * 2);
    for (int tid = 0; tid < NT; ++tid) {
      CvA::template run<P>(fa, hA, typename CvA::Base(tid));
      CvB::template run<P>(fb, hB, typename CvB::Base(tid));
    }
    auto checkTile = [&](const std::vector<float>& x, int rows, const uint16_t* h, auto s16) {
      using S = decltype(s16);
      std::set<int> offs;
      for (int r = 0; r < rows; ++r)
        for (int k = 0; k < BK; ++k) {
          const int o = S::offset(r, k);
          offs.insert(o);
          if (o < 0 || o >= S::kElems || h[o] != round16(x[r * BK * KT + kt * BK + k])) ++badConvert;
        }
      if (static_cast<int>(offs.size()) != S::kElems || *offs.begin() != 0 || *offs.rbegin() != S::kElems - 1)
        ++badCover;
    };
    checkTile(xa, BM, hA, S16A{});
    checkTile(xb, BN, hB, S16B{});

    // Conversion bank conflicts: per warp and unit, LDS.128 in 4 phases of 8
    // lanes, STS.64 in 2 phases of 16.
    auto convBanks = [&](auto cv, const float* f, const uint16_t* h, int iters) {
      using Cv = decltype(cv);
      for (int w = 0; w < kWarps; ++w)
        for (int i = 0; i < iters; ++i) {
          std::vector<int64_t> ld[4], st[2];
          for (int lane = 0; lane < 32; ++lane) {
            int fo, ho;
            Cv::unit(typename Cv::Base(32 * w + lane), i, fo, ho);
            if (fo % 4 != 0 || ho % 4 != 0) ++badCover;  // 16- / 8-byte alignment
            ld[lane / 8].push_back(byteOff(f + fo));
            st[lane / 16].push_back(byteOff(h + ho));
          }
          for (auto& p : ld) worstLds = std::max(worstLds, wavefronts(p, 16));
          for (auto& p : st) worstSts = std::max(worstSts, wavefronts(p, 8));
        }
    };
    convBanks(CvA{}, fa, hA, CvA::kIters);
    convBanks(CvB{}, fb, hB, CvB::kIters);

    // 2. / 3. Every warp: the ldmatrix path and the current path.
    for (int w = 0; w < kWarps; ++w) {
      const int wm0 = (w % Cfg::kWarpsM) * Cfg::WM, wn0 = (w / Cfg::kWarpsM) * Cfg::WN;
      runWarp([&](int lane) {
        const gc::LdsmReader<S16A, false> ra(wm0, lane);
        const gc::LdsmReader<S16B, true> rb(wn0, lane);
        gc::tc_warp_tile_ldsm<P, Cfg::WM, Cfg::WN, S16A, S16B>(hA, hB, accNew[w * 32 + lane].v, ra, rb);
      });
      check(g_emu.addressMismatch == 0, "ldmatrix addresses repeatable " + name);
      // ldmatrix bank conflicts and alignment: each matrix (8 rows of 16 bytes) is one phase.
      for (const LdsmCall& c : g_emu.ldsm)
        for (int j = 0; j < 4; ++j) {
          std::vector<int64_t> rows;
          for (int r = 0; r < 8; ++r) {
            rows.push_back(byteOff(c.row[8 * j + r]));
            if (byteOff(c.row[8 * j + r]) % 16 != 0) ++badCover;
          }
          worstLdsm = std::max(worstLdsm, wavefronts(rows, 16));
          ++ldsmPhases;
        }
      check(static_cast<int>(g_emu.ldsm.size()) == (BK / 16) * (MI + NI / 2),
            "ldmatrix.x4 count per warp k-tile " + name);
      const std::vector<MmaCall> newCalls = g_emu.mma;
      replayMmas();

      runWarp([&](int lane) {
        const typename SmemA::FragReader ra(wm0, lane);
        const typename SmemB::FragReader rb(wn0, lane);
        gc::tc_warp_tile<P, Cfg::WM, Cfg::WN, SmemA, SmemB>(fa, fb, accOld[w * 32 + lane].v, ra, rb);
      });
      check(g_emu.mma.size() == newCalls.size(), "same mma count " + name);
      for (size_t i = 0; i < std::min(g_emu.mma.size(), newCalls.size()); ++i) {
        uint16_t an[16][16], bn[16][8], ao[16][16], bo[16][8];
        fragments16(newCalls[i], an, bn);
        fragments16Permuted(g_emu.mma[i], ao, bo);
        for (int m = 0; m < 16; ++m)
          for (int k = 0; k < 16; ++k) badFrag += an[m][k] != ao[m][k];
        for (int k = 0; k < 16; ++k)
          for (int n = 0; n < 8; ++n) badFrag += bn[k][n] != bo[k][n];
        for (int lane = 0; lane < 32; ++lane)  // and the same accumulator for the same mma
          badFrag += (newCalls[i].d[lane] - accNew[w * 32 + lane].v[0][0]) !=
                     (g_emu.mma[i].d[lane] - accOld[w * 32 + lane].v[0][0]);
      }
      replayMmas();
    }
  }
  check(badCover == 0, "16-bit tile offsets a bijection, accesses aligned " + name);
  check(badConvert == 0, "conversion = round to nearest even at Smem16::offset (" + std::to_string(badConvert) +
                             " differ) " + name);
  check(badFrag == 0, "ldmatrix fragments = current path's fragments, k permutation undone (" +
                          std::to_string(badFrag) + " differ) " + name);
  check(worstLdsm == 1, "ldmatrix conflict free (worst phase " + std::to_string(worstLdsm) + " wavefronts) " + name);
  check(worstLds == 1, "conversion LDS.128 conflict free (worst " + std::to_string(worstLds) + ") " + name);
  check(worstSts == 1, "conversion STS.64 conflict free (worst " + std::to_string(worstSts) + ") " + name);

  // The CTA tile from the accumulator fragments (tc_stage_accumulators' layout).
  auto nmse = [&](const std::vector<Acc>& acc) {
    double num = 0, den = 0;
    int64_t seen = 0;
    for (int w = 0; w < kWarps; ++w) {
      const int wm0 = (w % Cfg::kWarpsM) * Cfg::WM, wn0 = (w / Cfg::kWarpsM) * Cfg::WN;
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int mi = 0; mi < MI; ++mi)
          for (int ni = 0; ni < NI; ++ni)
            for (int j = 0; j < 4; ++j) {
              const int m = wm0 + mi * 16 + g + 8 * (j >> 1), n = wn0 + ni * 8 + 2 * t + (j & 1);
              const double r = ref[m * BN + n], d = acc[w * 32 + lane].v[mi][ni][j] - r;
              num += d * d;
              den += r * r;
              ++seen;
            }
      }
    }
    return seen == static_cast<int64_t>(BM) * BN ? num / den : 1.0;
  };
  const double eNew = nmse(accNew), eOld = nmse(accOld);
  char buf[96];
  std::snprintf(buf, sizeof buf, " (NMSE %.2e)", eNew);
  check(eNew <= 1e-12, "ldmatrix path = float64 product of the rounded operands" + std::string(buf) + " " + name);
  std::snprintf(buf, sizeof buf, " (NMSE %.2e)", eOld);
  check(eOld <= 1e-12, "current path = float64 product of the rounded operands" + std::string(buf) + " " + name);
  std::printf("  %-44s NMSE ldmatrix %.2e, current %.2e; ldmatrix phases %d\n", name.c_str(), eNew, eOld,
              ldsmPhases);
}

// The ldmatrix emulation against the PTX ISA's description: matrix j's rows
// come from lanes 8j .. 8j+7; lane (g, t) receives (g, 2t), (g, 2t+1), or with
// .trans (2t, g), (2t+1, g).
void checkLdmatrixEmu() {
  uint16_t mats[4][8][8];
  for (int j = 0; j < 4; ++j)
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) mats[j][r][c] = static_cast<uint16_t>(256 * j + 16 * r + c);
  for (int trans = 0; trans < 2; ++trans) {
    uint32_t out[32][4];
    runWarp([&](int lane) {
      const uint16_t* row = mats[lane / 8][lane % 8];
      if (trans) gc::ldmatrix_x4<true>(out[lane], row);
      else gc::ldmatrix_x4<false>(out[lane], row);
    });
    int bad = 0;
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2, t = lane & 3;
      for (int j = 0; j < 4; ++j) {
        const uint16_t lo = trans ? mats[j][2 * t][g] : mats[j][g][2 * t];
        const uint16_t hi = trans ? mats[j][2 * t + 1][g] : mats[j][g][2 * t + 1];
        bad += out[lane][j] != (lo | (static_cast<uint32_t>(hi) << 16));
      }
    }
    check(bad == 0, std::string("ldmatrix emulation follows the PTX fragment layout") + (trans ? " (.trans)" : ""));
  }
}

// The rounding helpers of this test against known values.
void checkRounding() {
  check(toBf16(1.f) == 0x3f80 && toBf16(floatOf(0x3f808000u)) == 0x3f80 && toBf16(floatOf(0x3f818000u)) == 0x3f82 &&
            toBf16(floatOf(0x3f808001u)) == 0x3f81,
        "bf16 round to nearest even");
  check(toF16(1.f) == 0x3c00 && toF16(floatOf(0x3f801000u)) == 0x3c00 && toF16(floatOf(0x3f803000u)) == 0x3c02 &&
            toF16(65504.f) == 0x7bff && toF16(65520.f) == 0x7c00 && toF16(std::ldexp(1.f, -24)) == 0x0001 &&
            toF16(std::ldexp(1.f, -25)) == 0x0000 && toF16(std::ldexp(3.f, -25)) == 0x0002 && toF16(-0.f) == 0x8000,
        "fp16 round to nearest even, subnormals, overflow");
  int bad = 0;
  for (uint32_t h = 0; h < 0x7c00u; ++h) {
    bad += toF16(fromF16(static_cast<uint16_t>(h))) != h;
    bad += toBf16(fromBf16(static_cast<uint16_t>(h))) != h;
  }
  check(bad == 0, "fp16 / bf16 round trips");
}

}  // namespace

int main() {
  checkRounding();
  checkLdmatrixEmu();
  checkCta<gc::TcLarge, Precision::BF16, true, true>();
  checkCta<gc::TcLarge, Precision::BF16, true, false>();
  checkCta<gc::TcLarge, Precision::BF16, false, true>();
  checkCta<gc::TcLarge, Precision::BF16, false, false>();
  checkCta<gc::TcLarge, Precision::FP16, true, false>();
  checkCta<gc::TcLarge, Precision::FP16, false, true>();
  checkCta<gc::TcSmall, Precision::BF16, true, true>();
  checkCta<gc::TcSmall, Precision::BF16, true, false>();
  checkCta<gc::TcSmall, Precision::BF16, false, true>();
  checkCta<gc::TcSmall, Precision::BF16, false, false>();
  checkCta<gc::TcSmall, Precision::FP16, true, true>();
  checkCta<gc::TcSmall, Precision::FP16, false, false>();
  return checksSummary();
}
