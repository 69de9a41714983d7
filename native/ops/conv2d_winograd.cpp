#include "ops/conv2d_winograd.h"
#include "ops/conv2d_winograd_transforms.h"

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

namespace sotr {

namespace {

constexpr int kPos = 16;  // 4x4 transformed positions


bool enabledByEnv() {
  static const bool on = [] {
    const char* e = std::getenv("SOTR_CONV_WINOGRAD");
    return !(e && e[0] == '0' && e[1] == 0);
  }();
  return on;
}

// Tiles per task (tuning hook SOTR_CONV_WINOGRAD_TILES; default 64).
int64_t tileBlock() {
  static const int64_t v = [] {
    const char* e = std::getenv("SOTR_CONV_WINOGRAD_TILES");
    const long n = e ? std::strtol(e, nullptr, 10) : 0;
    return n > 0 ? int64_t(n) : int64_t(64);
  }();
  return v;
}

// U[pos] blocks packed for the GEMM core: rows [b*mb, ...) of U[pos] (O x C).
struct WinoWeights {
  int64_t O = 0, C = 0, mb = 0, nmb = 0;
  std::vector<PackedMatrix> blocks;  // [pos * nmb + b]
  int64_t bytes = 0;
  int64_t rows(int64_t b) const { return std::min(O, (b + 1) * mb) - b * mb; }
};

std::shared_ptr<WinoWeights> makeWinoWeights(const float* w, int64_t O, int64_t C, SimdLevel level,
                                             ThreadPool* pool) {
  // U = G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], in double.
  std::vector<float> U(static_cast<size_t>(kPos * O * C));
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t c = 0; c < C; ++c) {
      const float* g = w + (o * C + c) * 9;
      double t[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        const double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        t[0][j] = g0;
        t[1][j] = 0.5 * (g0 + g1 + g2);
        t[2][j] = 0.5 * (g0 - g1 + g2);
        t[3][j] = g2;
      }
      for (int i = 0; i < 4; ++i) {
        const double r0 = t[i][0], r1 = t[i][1], r2 = t[i][2];
        const double u[4] = {r0, 0.5 * (r0 + r1 + r2), 0.5 * (r0 - r1 + r2), r2};
        for (int j = 0; j < 4; ++j) U[static_cast<size_t>(((i * 4 + j) * O + o) * C + c)] = static_cast<float>(u[j]);
      }
    }
  }
  auto ww = std::make_shared<WinoWeights>();
  ww->O = O;
  ww->C = C;
  ww->mb = convBlockRows(level);
  ww->nmb = ceilDiv(O, ww->mb);
  ww->blocks.resize(kPos * ww->nmb);
  auto one = [&](int64_t t) {
    const int64_t pos = t / ww->nmb, b = t % ww->nmb;
    ww->blocks[t] = packA(U.data() + (pos * O + b * ww->mb) * C, C, false, ww->rows(b), C, level, nullptr);
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

void inputTransform(const ConvGeom& g, const float* x, const std::vector<Chunk>& ch, const TaskLayout& L, float* V) {
  static const bool avx512 = maxSimdLevel() >= SimdLevel::AVX512;
  const int64_t n = static_cast<int64_t>(ch.size());
  if (avx512 && activeSimdLevel() >= SimdLevel::AVX512 && conv_detail::winogradInputAvx512(g, x, ch.data(), n, L, V))
    return;
  wino::inputTransformAll(g, x, ch.data(), n, L, V);
}

void outputTransform(const ConvGeom& g, const float* M, const std::vector<Chunk>& ch, const TaskLayout& L,
                     const GemmEpilogue& ep, float* out) {
  static const bool avx512 = maxSimdLevel() >= SimdLevel::AVX512;
  const int64_t n = static_cast<int64_t>(ch.size());
  if (avx512 && activeSimdLevel() >= SimdLevel::AVX512 &&
      conv_detail::winogradOutputAvx512(g, M, ch.data(), n, L, ep, out))
    return;
  wino::outputTransformAll(g, M, ch.data(), n, L, ep, out);
}

}  // namespace

bool winogradEnabled() { return enabledByEnv(); }

bool winogradGeometry(const ConvGeom& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         g.groups == 1 && g.C >= 16 && g.O >= 16 && g.Ho >= 2 && g.Wo >= 2;
}

void convWinogradCpu(const ConvGeom& g, const float* x, const Tensor& weightKey, const float* weight,
                     const GemmEpilogue& ep, float* out, ThreadPool* pool) {
  const int64_t C = g.C, O = g.O;
  const int64_t TH = ceilDiv(g.Ho, 2), TW = ceilDiv(g.Wo, 2), perImage = TH * TW, T = g.N * perImage;
  if (T == 0 || O == 0) return;
  const SimdLevel level = activeSimdLevel();
  // The weight cache makes a fresh payload when weightKey is undefined.
  const std::string tag = "conv-winograd2x2/o" + std::to_string(O) + "/c" + std::to_string(C) + "/simd" +
                          std::to_string(static_cast<int>(level));
  const std::shared_ptr<WinoWeights> ww = weightCache().get<WinoWeights>({&weightKey}, tag, [&](int64_t& bytes) {
    auto w = makeWinoWeights(weight, O, C, level, pool);
    bytes = w->bytes;
    return w;
  });

  // Tasks: blocks of tiles, a multiple of the thread count when there are
  // few, each a multiple of 16 tiles (the narrowest full microkernel tile).
  const int threads = pool ? pool->size() : 1;
  int64_t tasks = ceilDiv(T, tileBlock());
  if (threads > 1 && tasks < 4 * threads) tasks = roundUp(std::max<int64_t>(tasks, 2 * threads), threads);
  int64_t nbMax = std::max<int64_t>(16, roundUp(ceilDiv(T, tasks), 16));
  tasks = ceilDiv(T, nbMax);

  auto task = [&](int64_t k) {
    const int64_t j0 = k * nbMax, nb = std::min(nbMax, T - j0);
    // Chunks of up to 16 tiles that never cross a tile row.
    std::vector<Chunk> chunks;
    for (int64_t j = 0; j < nb;) {
      const int64_t tt = j0 + j, n = tt / perImage, r = tt % perImage, th = r / TW, tw = r % TW;
      const int64_t cnt = std::min<int64_t>({int64_t(16), TW - tw, nb - j});
      chunks.push_back(Chunk{j, n, 2 * th, 2 * tw, static_cast<int>(cnt)});
      j += cnt;
    }
    const TaskLayout L{nb, C * nb + 16, O * nb + 16};
    float* V = t_v.get(kPos * L.vPlane);
    float* M = t_m.get(kPos * L.mPlane);
    inputTransform(g, x, chunks, L, V);
    for (int pos = 0; pos < kPos; ++pos) {
      for (int64_t b = 0; b < ww->nmb; ++b) {
        GemmArgs a;
        a.M = ww->rows(b);
        a.N = nb;
        a.K = C;
        a.B = V + pos * L.vPlane;
        a.ldb = nb;
        a.C = M + pos * L.mPlane + b * ww->mb * nb;
        a.ldc = nb;
        gemmF32Packed(a, &ww->blocks[pos * ww->nmb + b], nullptr, nullptr);
      }
    }
    outputTransform(g, M, chunks, L, ep, out);
  };
  if (threads > 1 && tasks > 1) pool->parallelTasks(tasks, task);
  else
    for (int64_t k = 0; k < tasks; ++k) task(k);
}

}  // namespace sotr
