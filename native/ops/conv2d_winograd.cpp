#include "ops/conv2d_winograd.h"
#include "ops/conv2d_winograd_transforms.h"
#include "ops/conv2d_winograd4_transforms.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gemm/gemm_cpu.h"
#include "core/int_math.h"
#include "runtime/cpu_features.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"
#include "runtime/weight_cache.h"
#include "runtime/env.h"

namespace sotr {

namespace {

// Tiles per task (tuning hooks SOTR_CONV_WINOGRAD_TILES / SOTR_CONV_WINOGRAD4_TILES).
int64_t tileBlock(WinogradTile t) {
  static const int64_t f2 = env::integer("SOTR_CONV_WINOGRAD_TILES", 64, 1, 1 << 20);
  static const int64_t f4 = env::integer("SOTR_CONV_WINOGRAD4_TILES", 32, 1, 1 << 20);
  return t == WinogradTile::F4 ? f4 : f2;
}

// U[pos] blocks packed for the GEMM core: rows [b*mb, ...) of U[pos] (O x C).
struct WinoWeights {
  int64_t O = 0, C = 0, mb = 0, nmb = 0;
  std::vector<PackedMatrix> blocks;  // [pos * nmb + b], n * n positions
  int64_t bytes = 0;
  int64_t rows(int64_t b) const { return std::min(O, (b + 1) * mb) - b * mb; }
};

// M[pos] rows of U's row block b = U[pos] (block b) x V[pos], for one tile block's buffers (layout L).
void winoProduct(const WinoWeights& ww, int64_t pos, int64_t b, int64_t nb, int64_t vPlane, int64_t mPlane,
                 const float* V, float* M) {
  GemmArgs a;
  a.M = ww.rows(b);
  a.N = nb;
  a.K = ww.C;
  a.B = V + pos * vPlane;
  a.ldb = nb;
  a.C = M + pos * mPlane + b * ww.mb * nb;
  a.ldc = nb;
  gemmF32Packed(a, &ww.blocks[pos * ww.nmb + b], nullptr, nullptr);
}

// G of F(2x2, 3x3) and of F(4x4, 3x3) (points 0, -1, 1, 1/2, -2, infinity;
// see conv2d_winograd4_transforms.h).
constexpr double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kG4[6][3] = {{1, 0, 0},
                              {-1. / 3, 1. / 3, -1. / 3},
                              {1. / 3, 1. / 3, 1. / 3},
                              {-16. / 15, -8. / 15, -4. / 15},
                              {1. / 15, -2. / 15, 4. / 15},
                              {0, 0, 1}};

std::shared_ptr<WinoWeights> makeWinoWeights(const float* w, int64_t O, int64_t C, int n, SimdLevel level,
                                             Precision precision, ThreadPool* pool) {
  // U = G g G^T in double, n x n positions (n = 4 or 6).
  const double* G = n == 4 ? &kG2[0][0] : &kG4[0][0];
  const int kPos = n * n;
  std::vector<float> U(static_cast<size_t>(kPos * O * C));
  // One output channel at a time, its C filters laid out tap-major (g[k][c]) so that every loop below runs over c
  // contiguously and vectorises: the same operations in the same order per element as G g G^T written per filter
  // (bit-identical U), ~5x faster than that (the transforms of a model's weights were most of its first prediction).
  auto rowOf = [&](int64_t o) {
    thread_local std::vector<double> gs, ts;
    gs.resize(static_cast<size_t>(9 * C));
    ts.resize(static_cast<size_t>(n * 3 * C));
    double* g = gs.data();
    double* t = ts.data();
    for (int64_t c = 0; c < C; ++c)
      for (int k = 0; k < 9; ++k) g[k * C + c] = w[(o * C + c) * 9 + k];
    // t = G g: t[i][j][c] = sum_k G[i][k] g[k * 3 + j][c].
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < 3; ++j) {
        const double a = G[i * 3], b = G[i * 3 + 1], d = G[i * 3 + 2];
        const double *g0 = g + j * C, *g1 = g + (3 + j) * C, *g2 = g + (6 + j) * C;
        double* tij = t + (i * 3 + j) * C;
        for (int64_t c = 0; c < C; ++c) tij[c] = a * g0[c] + b * g1[c] + d * g2[c];
      }
    // U = t G^T: U[i][j][c] = sum_k t[i][k][c] G[j][k].
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        const double a = G[j * 3], b = G[j * 3 + 1], d = G[j * 3 + 2];
        const double *t0 = t + (i * 3) * C, *t1 = t0 + C, *t2 = t1 + C;
        float* u = U.data() + ((i * n + j) * O + o) * C;
        for (int64_t c = 0; c < C; ++c) u[c] = static_cast<float>(t0[c] * a + t1[c] * b + t2[c] * d);
      }
  };
  // Once per weight tensor: 4-7 ms for a 256->256 F(4x4) weight on 2 threads, packing included.
  if (pool && pool->size() > 1) pool->parallelTasks(O, rowOf);
  else
    for (int64_t o = 0; o < O; ++o) rowOf(o);
  auto ww = std::make_shared<WinoWeights>();
  ww->O = O;
  ww->C = C;
  ww->mb = convBlockRows(level);
  ww->nmb = ceilDiv(O, ww->mb);
  ww->blocks.resize(kPos * ww->nmb);
  auto one = [&](int64_t t) {
    const int64_t pos = t / ww->nmb, b = t % ww->nmb;
    ww->blocks[t] = packA(U.data() + (pos * O + b * ww->mb) * C, C, false, ww->rows(b), C, level, nullptr, precision);
  };
  const int64_t tasks = kPos * ww->nmb;
  if (pool && pool->size() > 1) pool->parallelTasks(tasks, one);
  else
    for (int64_t t = 0; t < tasks; ++t) one(t);
  for (const auto& b : ww->blocks) ww->bytes += b.bytes();
  return ww;
}

using wino::Chunk;
using wino::TaskLayout;

thread_local Scratch t_v, t_m;
thread_local Scratch t_vAll, t_mAll;  // convWinogradSplit's buffers of every block, shared by the pool's tasks

void inputTransform(WinogradTile t, const ConvGeom& g, const float* x, const std::vector<Chunk>& ch,
                    const TaskLayout& L, float* V) {
  static const bool avx512 = maxSimdLevel() >= SimdLevel::AVX512;
  const int64_t n = static_cast<int64_t>(ch.size());
  const SimdLevel level = activeSimdLevel();
  if (level == SimdLevel::AVX2 && conv_detail::winogradInputAvx2(t, g, x, ch.data(), n, L, V)) return;
  if (t == WinogradTile::F4) {
    if (avx512 && level >= SimdLevel::AVX512 && conv_detail::winograd4InputAvx512(g, x, ch.data(), n, L, V))
      return;
    wino4::inputTransformAll(g, x, ch.data(), n, L, V);
    return;
  }
  if (avx512 && level >= SimdLevel::AVX512 && conv_detail::winogradInputAvx512(g, x, ch.data(), n, L, V))
    return;
  wino::inputTransformAll(g, x, ch.data(), n, L, V);
}

void outputTransform(WinogradTile t, const ConvGeom& g, const float* M, const std::vector<Chunk>& ch,
                     const TaskLayout& L, const GemmEpilogue& ep, float* out) {
  static const bool avx512 = maxSimdLevel() >= SimdLevel::AVX512;
  const int64_t n = static_cast<int64_t>(ch.size());
  const SimdLevel level = activeSimdLevel();
  if (level == SimdLevel::AVX2 && conv_detail::winogradOutputAvx2(t, g, M, ch.data(), n, L, ep, out)) return;
  if (t == WinogradTile::F4) {
    if (avx512 && level >= SimdLevel::AVX512 &&
        conv_detail::winograd4OutputAvx512(g, M, ch.data(), n, L, ep, out))
      return;
    wino4::outputTransformAll(g, M, ch.data(), n, L, ep, out);
    return;
  }
  if (avx512 && level >= SimdLevel::AVX512 &&
      conv_detail::winogradOutputAvx512(g, M, ch.data(), n, L, ep, out))
    return;
  wino::outputTransformAll(g, M, ch.data(), n, L, ep, out);
}

// convWinogradCpu for one image whose tile blocks are too few for the threads: three regions, each with enough
// tasks for every thread. (1) input transforms, a task per (block, channel group); (2) the products, a task per
// (block, row block of U, group of positions); (3) output transforms and epilogue, a task per (block, group of
// output channels). The buffers of every block are shared between the regions instead of a task's own. Each
// value is computed by the same operations in the same order as in the one-region path (the GEMM core's sums do
// not depend on how the columns are blocked): bit-identical outputs (tests/ops/thread_count.test.mjs).
template <class ChunksOf>
void convWinogradSplit(WinogradTile tile, const ConvGeom& g, const float* x, const WinoWeights& ww,
                       const GemmEpilogue& ep, float* out, ThreadPool& pool, int64_t nbMax, int64_t blocks,
                       const ChunksOf& chunksOf) {
  const int64_t C = g.C, O = g.O, HW = g.H * g.W, P = g.Ho * g.Wo;
  const int m = tile == WinogradTile::F4 ? 4 : 2, n = m + 2, kPos = n * n;
  const int64_t T = ceilDiv(g.Ho, m) * ceilDiv(g.Wo, m);
  std::vector<std::vector<Chunk>> chunks(static_cast<size_t>(blocks));
  std::vector<TaskLayout> lay(static_cast<size_t>(blocks));
  std::vector<int64_t> vOff(static_cast<size_t>(blocks)), mOff(static_cast<size_t>(blocks));
  int64_t vTotal = 0, mTotal = 0;
  for (int64_t k = 0; k < blocks; ++k) {
    const int64_t nb = std::min(nbMax, T - k * nbMax);
    chunks[k] = chunksOf(k, nb);
    lay[k] = TaskLayout{nb, C * nb + 16, O * nb + 16};
    vOff[k] = vTotal;
    mOff[k] = mTotal;
    vTotal += roundUp(kPos * lay[k].vPlane, 16);  // each block's buffer on a cache line of its own
    mTotal += roundUp(kPos * lay[k].mPlane, 16);
  }
  float* V = t_vAll.get(vTotal);
  float* M = t_mAll.get(mTotal);

  // Groups of channels (a multiple of 16 each), as many as keep the threads busy over the blocks.
  auto groups = [&](int64_t channels, int64_t& size) {
    const int64_t count = piecesPerUnit(blocks, pool.size(), ceilDiv(channels, int64_t(16)));
    size = roundUp(ceilDiv(channels, count), 16);
    return ceilDiv(channels, size);
  };
  int64_t cSize = 0;
  const int64_t cGroups = groups(C, cSize);
  pool.parallelTasks(blocks * cGroups, [&](int64_t t) {
    const int64_t k = t / cGroups, c0 = (t % cGroups) * cSize, c1 = std::min(C, c0 + cSize);
    ConvGeom gc = g;
    gc.C = c1 - c0;
    inputTransform(tile, gc, x + c0 * HW, chunks[k], lay[k], V + vOff[k] + c0 * lay[k].nb);
  });

  const int64_t posSize = ceilDiv(int64_t(kPos), piecesPerUnit(blocks * ww.nmb, pool.size(), kPos));
  const int64_t posGroups = ceilDiv(int64_t(kPos), posSize);
  const int64_t perBlock = ww.nmb * posGroups;
  pool.parallelTasks(blocks * perBlock, [&](int64_t t) {
    const int64_t k = t / perBlock, b = (t % perBlock) / posGroups, p0 = (t % posGroups) * posSize;
    const TaskLayout& L = lay[k];
    for (int64_t pos = p0; pos < std::min<int64_t>(kPos, p0 + posSize); ++pos)
      winoProduct(ww, pos, b, L.nb, L.vPlane, L.mPlane, V + vOff[k], M + mOff[k]);
  });

  int64_t oSize = 0;
  const int64_t oGroups = groups(O, oSize);
  pool.parallelTasks(blocks * oGroups, [&](int64_t t) {
    const int64_t k = t / oGroups, o0 = (t % oGroups) * oSize, o1 = std::min(O, o0 + oSize);
    // The outputs [o0, o1) as a conv of their own: per-channel epilogue terms and the residual from o0 on.
    ConvGeom go = g;
    go.O = o1 - o0;
    GemmEpilogue e = ep;
    if (e.bias) e.bias += o0;
    if (e.scale) e.scale += o0;
    if (e.shift) e.shift += o0;
    if (e.residual) e.residual += o0 * e.ldr;
    outputTransform(tile, go, M + mOff[k] + o0 * lay[k].nb, chunks[k], lay[k], e, out + o0 * P);
  });
  // Blocks x positions x channels can reach ~150 MB (512 channels on 64 threads): not kept past the call.
  constexpr int64_t kKeepFloats = int64_t(16) << 20;
  t_vAll.trim(kKeepFloats);
  t_mAll.trim(kKeepFloats);
}

}  // namespace

bool winogradEnabled() {
  static const bool on = !env::is("SOTR_CONV_WINOGRAD", "0");
  return on;
}

bool winograd4Enabled() {
  static const bool on = !env::is("SOTR_CONV_WINOGRAD4", "0");
  return on;
}

// The weight cache's tag of a transformed weight.
static std::string winogradTag(WinogradTile tile, int64_t O, int64_t C, SimdLevel level, Precision precision) {
  return std::string(tile == WinogradTile::F4 ? "conv-winograd4x4" : "conv-winograd2x2") + "/o" + std::to_string(O) +
         "/c" + std::to_string(C) + packedKernelsTag(level, precision);
}

// F(4x4) where it does at least 1.25x less GEMM work than F(2x2) (partial
// tiles count whole: small or odd maps may not gain). Measured 2026-11-26,
// 1 thread, CPU time, interleaved medians: F(4x4) 1.30-1.58x faster on every
// SOTR 3x3 shape (64->64 at 200x336 ... 512->512 at 25x42, the transformer's
// 16x32 to 40x80), a tie on its smallest map 12x24 (18 tiles: one narrow
// GEMM).
// But an F(4x4) weight holds 36/9 floats per weight, F(2x2) 16/9, and the
// time it saves grows with the pixels of the calls: below kF4MinPixels
// output pixels per image F(2x2) is taken, where the memory is worth more
// (R50 at 1333x800: res5's 3x3 convs and the FPN's P5 output, 25x42, keep
// 68 MB less of transformed weights for ~5 ms of a 4 s prediction;
// benchmarks/RESULTS.md, host memory).
// A weight whose transformed copy for the other tile is already cached runs
// with that one: the transformer runs the same weights on grids of 40x80
// down to 12x24 (its largest first), and one tile for all keeps one copy.
static constexpr int64_t kF4MinPixels = 2048;

// In bfloat16, F(4x4)'s transforms amplify the operands' rounding: NMSE
// against float32 2e-5..3e-4 per conv (F(2x2) ~4e-6, direct ~1e-6; native
// op test, tests/ops/cpu_bf16.test.mjs), over the 1e-4 bound the bf16 GPU
// path meets. So bf16 takes F(2x2) unless SOTR_CONV_WINOGRAD4_BF16=1 (faster:
// R50 at 1067x800 2.24 s against 2.52 s, benchmarks/RESULTS.md).
bool winograd4Bf16Enabled() {
  static const bool on = env::is("SOTR_CONV_WINOGRAD4_BF16", "1");
  return on;
}

WinogradTile winogradPick(const ConvGeom& g, const Tensor& weightKey, Precision precision) {
  if (!winograd4Enabled()) return WinogradTile::F2;
  const SimdLevel level = activeSimdLevel();
  const Precision prec = cpuGemmPrecision(precision, level);
  if (prec == Precision::BF16 && !winograd4Bf16Enabled()) return WinogradTile::F2;
  const int64_t t4 = g.N * ceilDiv(g.Ho, 4) * ceilDiv(g.Wo, 4), t2 = g.N * ceilDiv(g.Ho, 2) * ceilDiv(g.Wo, 2);
  const WinogradTile pick =
      36 * t4 * 5 <= 16 * t2 * 4 && g.Ho * g.Wo >= kF4MinPixels ? WinogradTile::F4 : WinogradTile::F2;
  const WinogradTile other = pick == WinogradTile::F4 ? WinogradTile::F2 : WinogradTile::F4;
  if (!weightCache().contains({&weightKey}, winogradTag(pick, g.O, g.C, level, prec)) &&
      weightCache().contains({&weightKey}, winogradTag(other, g.O, g.C, level, prec)))
    return other;
  return pick;
}

bool winogradGeometry(const ConvGeom& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         g.groups == 1 && g.C >= 16 && g.O >= 16 && g.Ho >= 2 && g.Wo >= 2;
}

void convWinogradCpu(const ConvGeom& g, const float* x, const Tensor& weightKey, const float* weight,
                     const GemmEpilogue& ep, float* out, ThreadPool* pool, WinogradTile tile, Precision precision) {
  const int64_t C = g.C, O = g.O;
  const int m = tile == WinogradTile::F4 ? 4 : 2, n = m + 2, kPos = n * n;
  const int64_t TH = ceilDiv(g.Ho, m), TW = ceilDiv(g.Wo, m), perImage = TH * TW, T = g.N * perImage;
  if (T == 0 || O == 0) return;
  const SimdLevel level = activeSimdLevel();
  const Precision prec = cpuGemmPrecision(precision, level);
  // The weight cache makes a fresh payload when weightKey is undefined.
  const std::shared_ptr<WinoWeights> ww =
      weightCache().get<WinoWeights>({&weightKey}, winogradTag(tile, O, C, level, prec), [&](int64_t& bytes) {
        auto w = makeWinoWeights(weight, O, C, n, level, prec, pool);
        bytes = w->bytes;
        return w;
      });

  // Tasks: blocks of tiles, a multiple of the thread count when there are
  // few, each a multiple of 16 tiles (the narrowest full microkernel tile).
  const int threads = pool ? pool->size() : 1;
  int64_t tasks = ceilDiv(T, tileBlock(tile));
  if (threads > 1 && tasks < 4 * threads) tasks = roundUp(std::max<int64_t>(tasks, 2 * threads), threads);
  int64_t nbMax = std::max<int64_t>(16, roundUp(ceilDiv(T, tasks), 16));
  tasks = ceilDiv(T, nbMax);

  // Chunks of up to 16 tiles that never cross a tile row: those of tile block k (nb tiles from k * nbMax).
  auto chunksOf = [&](int64_t k, int64_t nb) {
    const int64_t j0 = k * nbMax;
    std::vector<Chunk> chunks;
    for (int64_t j = 0; j < nb;) {
      const int64_t tt = j0 + j, img = tt / perImage, r = tt % perImage, th = r / TW, tw = r % TW;
      const int64_t cnt = std::min<int64_t>({int64_t(16), TW - tw, nb - j});
      chunks.push_back(Chunk{j, img, m * th, m * tw, static_cast<int>(cnt)});
      j += cnt;
    }
    return chunks;
  };
  // Too few tile blocks for the threads (a small map on many cores: the transformer's 16x32 grid makes 2 blocks
  // of 16 tiles, 14 of 16 threads idle): each block's transforms and products split over channels instead. That
  // costs 20-35% more CPU time (2 threads here, the transformer's maps: the blocks' buffers are shared between
  // regions instead of staying in one core's cache), so only where one region would keep fewer than 70% of the
  // threads busy (13 blocks on 16 threads stay one region: 81%).
  // Tuning hook SOTR_CONV_WINOGRAD_SPLIT: '0' never, 'always' whenever there are 2 threads and one image, a
  // number in (0, 1] the busy fraction below which it splits (default 0.7).
  static const int split = env::is("SOTR_CONV_WINOGRAD_SPLIT", "0") ? 0 : env::is("SOTR_CONV_WINOGRAD_SPLIT", "always") ? 2 : 1;
  static const double splitBelow = split == 1 ? env::number("SOTR_CONV_WINOGRAD_SPLIT", 0.7, 1e-9, 1.0) : 0.7;
  const double busy = static_cast<double>(tasks) / static_cast<double>(threads * ceilDiv(tasks, int64_t(threads)));
  if (threads >= 2 && g.N == 1 && (split == 2 || (split == 1 && threads >= 4 && busy < splitBelow))) {
    convWinogradSplit(tile, g, x, *ww, ep, out, *pool, nbMax, tasks, chunksOf);
    return;
  }

  auto task = [&](int64_t k) {
    const int64_t nb = std::min(nbMax, T - k * nbMax);
    const std::vector<Chunk> chunks = chunksOf(k, nb);
    const TaskLayout L{nb, C * nb + 16, O * nb + 16};
    float* V = t_v.get(kPos * L.vPlane);
    float* M = t_m.get(kPos * L.mPlane);
    inputTransform(tile, g, x, chunks, L, V);
    for (int pos = 0; pos < kPos; ++pos)
      for (int64_t b = 0; b < ww->nmb; ++b) winoProduct(*ww, pos, b, nb, L.vPlane, L.mPlane, V, M);
    outputTransform(tile, g, M, chunks, L, ep, out);
  };
  if (threads > 1 && tasks > 1) pool->parallelTasks(tasks, task);
  else
    for (int64_t k = 0; k < tasks; ++k) task(k);
}

}  // namespace sotr
