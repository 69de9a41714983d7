// The CUDA Winograd F(2x2, 3x3) path of conv2d (cuda/conv2d_winograd.cu)
// emulated on the CPU: its kernels' bodies are the host + device functions
// of native/ops/conv2d_winograd_cuda_math.h, run here without a GPU.
//   1. the transforms against the CPU Winograd's (conv2d_winograd_transforms.h):
//      V and y (with every epilogue piece) bit for bit, over whole maps
//      (odd sizes, padding 0, 1, 2, batches);
//   2. the weight transform against G g G^T in float64, and the Winograd
//      identity (A^T [(G g G^T) . (B^T d B)] A = the 3x3 correlation);
//   3. the whole pipeline (weight, input passes, 16 GEMMs on the host, output
//      with the epilogue) against a float64 direct conv, NMSE <= 1e-10 (the
//      op test's fp32 bound), with small passes to take that branch too;
//   3b. the same with the operands rounded as the tensor cores round them
//      (tf32, bf16, fp16), against the op test's bounds for those precisions;
//   4. which algorithm values select the path.
// Prints "N checks, N failures" (tests/run.mjs counts it as one test).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda/gemm_epilogue.h"
#include "ops/conv2d_winograd_cuda_math.h"
#include "ops/conv2d_winograd_transforms.h"
#include "check.h"
#include "uniform.h"

using namespace sotr;
using wino_cuda::F2Geom;

namespace {

std::mt19937 g_rng(1234);
float uni(float lo = -1.f, float hi = 1.f) { return uniformFloat(g_rng, lo, hi); }
std::vector<float> rnd(int64_t n, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = uni(lo, hi);
  return v;
}

bool sameBits(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return a == b;  // -0 == +0: the CPU's branch-free epilogue may turn -0 into +0
}

// The device epilogue's own values and formula (cuda/gemm_epilogue.h), bound as
// conv_detail::convEpilogue binds them for out [N, O, P] (r0 = 0).
using HostEpi = cuda::gemm_core::GemmEpilogueValues;
HostEpi bindEpi(const GemmEpilogue& ep, float* out, int64_t O, int64_t P, int64_t N) {
  return cuda::conv_detail::convEpilogueValues(ep, out, O, P, 0, static_cast<int>(N));
}

struct Case {
  int64_t N, C, H, W, O, ph, pw;
  bool bias, bn, residual;
  Activation act;
};

std::string name(const Case& c) {
  char b[160];
  std::snprintf(b, sizeof b, "%lldx%lldx%lldx%lld ->%lld pad %lld,%lld%s%s%s act %d", (long long)c.N, (long long)c.C,
                (long long)c.H, (long long)c.W, (long long)c.O, (long long)c.ph, (long long)c.pw, c.bias ? " b" : "",
                c.bn ? " bn" : "", c.residual ? " res" : "", static_cast<int>(c.act));
  return b;
}

ConvGeom geomOf(const Case& c) {
  ConvGeom g;
  g.N = c.N;
  g.C = c.C;
  g.H = c.H;
  g.W = c.W;
  g.O = c.O;
  g.kh = g.kw = 3;
  g.ph = c.ph;
  g.pw = c.pw;
  g.Ho = c.H + 2 * c.ph - 2;
  g.Wo = c.W + 2 * c.pw - 2;
  return g;
}

struct Inputs {
  std::vector<float> x, w, bias, scale, shift, res;
  GemmEpilogue ep;
};

Inputs makeInputs(const Case& c, const ConvGeom& g) {
  Inputs in;
  in.x = rnd(c.N * c.C * c.H * c.W);
  const float wb = 1.f / std::sqrt(float(c.C * 9));
  in.w = rnd(c.O * c.C * 9, -wb, wb);
  if (c.bias) in.bias = rnd(c.O);
  if (c.bn) {
    in.scale = rnd(c.O, 0.5f, 1.5f);
    in.shift = rnd(c.O);
  }
  if (c.residual) in.res = rnd(c.N * c.O * g.Ho * g.Wo);
  in.ep.bias = c.bias ? in.bias.data() : nullptr;
  in.ep.scale = c.bn ? in.scale.data() : nullptr;
  in.ep.shift = c.bn ? in.shift.data() : nullptr;
  in.ep.residual = c.residual ? in.res.data() : nullptr;
  in.ep.ldr = g.Ho * g.Wo;
  in.ep.strideR = c.O * g.Ho * g.Wo;
  if (c.residual) {
    in.ep.alpha = 0.75f;
    in.ep.beta = 1.25f;
  }
  in.ep.act = c.act;
  in.ep.slope = 0.1f;
  return in;
}

// 1. The input and output transforms against the CPU Winograd's, bit for bit,
// over every tile of the map (chunks of up to 16 tiles within a tile row).
void checkTransforms(const Case& c) {
  const ConvGeom g = geomOf(c);
  const F2Geom f = wino_cuda::f2Geom(g);
  const Inputs in = makeInputs(c, g);
  const int64_t P = g.Ho * g.Wo;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> outCpu(c.N * c.O * P, nan), outGpu(c.N * c.O * P, nan);
  const HostEpi epi = bindEpi(in.ep, outGpu.data(), c.O, P, c.N);
  int64_t vBad = 0, tiles = 0;
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t th = 0; th < f.TH; ++th)
      for (int64_t tw = 0; tw < f.TW; tw += 16) {
        const int cnt = static_cast<int>(std::min<int64_t>(16, f.TW - tw));
        const wino::Chunk ch{0, n, 2 * th, 2 * tw, cnt};
        const wino::TaskLayout L{cnt, c.C * cnt + 16, c.O * cnt + 16};
        const int64_t t0 = (n * f.TH + th) * f.TW + tw, ldT = wino_cuda::f2Ld(cnt);
        // V
        std::vector<float> vCpu(16 * L.vPlane, nan), vGpu(16 * c.C * ldT, nan);
        wino::inputChunk(g, in.x.data(), ch, L, vCpu.data());
        for (int64_t cc = 0; cc < c.C; ++cc)
          for (int l = 0; l < cnt; ++l) wino_cuda::inputElement(f, in.x.data(), vGpu.data(), t0, ldT, cc, l);
        for (int k = 0; k < 16; ++k)
          for (int64_t cc = 0; cc < c.C; ++cc)
            for (int l = 0; l < cnt; ++l)
              if (!sameBits(vCpu[k * L.vPlane + cc * cnt + l], vGpu[(k * c.C + cc) * ldT + l])) ++vBad;
        // M (random) -> y
        std::vector<float> mCpu(16 * L.mPlane, nan), mGpu(16 * c.O * ldT, nan);
        for (int k = 0; k < 16; ++k)
          for (int64_t o = 0; o < c.O; ++o)
            for (int l = 0; l < cnt; ++l) mCpu[k * L.mPlane + o * cnt + l] = mGpu[(k * c.O + o) * ldT + l] = uni(-3, 3);
        wino::outputChunk(g, mCpu.data(), ch, L, in.ep, outCpu.data());
        for (int64_t o = 0; o < c.O; ++o)
          for (int l = 0; l < cnt; ++l) wino_cuda::outputElement(f, mGpu.data(), t0, ldT, o, l, epi);
        tiles += cnt;
      }
  check(tiles == wino_cuda::f2Tiles(f), "tile count " + name(c));
  check(vBad == 0, "input transform == CPU's (" + std::to_string(vBad) + " differ) " + name(c));
  int64_t yBad = 0, unwritten = 0;
  for (size_t i = 0; i < outCpu.size(); ++i) {
    if (!sameBits(outCpu[i], outGpu[i])) ++yBad;
    if (std::isnan(outGpu[i])) ++unwritten;
  }
  check(yBad == 0, "output transform + epilogue == CPU's (" + std::to_string(yBad) + " differ) " + name(c));
  check(unwritten == 0, "every output written (" + std::to_string(unwritten) + " not) " + name(c));
}

// 2. Weight transform and the Winograd identity.
void checkWeightAndIdentity() {
  const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  double worstU = 0, worstY = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    float gk[9];
    for (float& v : gk) v = uni();
    float u[16];
    wino_cuda::weightTile(gk, u);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        double s = 0;
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) s += G[i][a] * gk[a * 3 + b] * G[j][b];
        worstU = std::max(worstU, std::fabs(s - u[i * 4 + j]) / (std::fabs(s) + 1e-30));
      }
    float d[4][4];
    for (auto& r : d)
      for (float& v : r) v = uni();
    float v[16], m[16], y[2][2];
    wino_cuda::inputTile(d, v);
    for (int k = 0; k < 16; ++k) m[k] = u[k] * v[k];
    wino_cuda::outputTile(m, y);
    for (int r = 0; r < 2; ++r)
      for (int s = 0; s < 2; ++s) {
        double ref = 0;
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j) ref += double(d[r + i][s + j]) * gk[i * 3 + j];
        worstY = std::max(worstY, std::fabs(ref - y[r][s]));
      }
  }
  check(worstU <= 6e-8, "U = G g G^T rounded once (worst relative error " + std::to_string(worstU) + ")");
  check(worstY <= 1e-5, "A^T [U . V] A = 3x3 correlation (worst error " + std::to_string(worstY) + ")");
}

// Float64 direct conv with the epilogue (as the op test's convRef).
std::vector<double> directConv(const Case& c, const ConvGeom& g, const Inputs& in) {
  const int64_t Ho = g.Ho, Wo = g.Wo;
  std::vector<double> ref(c.N * c.O * Ho * Wo);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double s = 0;
          for (int64_t cc = 0; cc < c.C; ++cc)
            for (int i = 0; i < 3; ++i)
              for (int j = 0; j < 3; ++j) {
                const int64_t ih = oh - c.ph + i, iw = ow - c.pw + j;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                s += double(in.x[((n * c.C + cc) * c.H + ih) * c.W + iw]) * in.w[((o * c.C + cc) * 3 + i) * 3 + j];
              }
          if (c.bias) s += in.bias[o];
          if (c.bn) s = s * in.scale[o] + in.shift[o];
          s *= in.ep.alpha;
          const int64_t idx = ((n * c.O + o) * Ho + oh) * Wo + ow;
          if (c.residual) s += double(in.ep.beta) * in.res[idx];
          if (c.act == Activation::Relu) s = s > 0 ? s : 0;
          if (c.act == Activation::LeakyRelu) s = s > 0 ? s : s * in.ep.slope;
          if (c.act == Activation::Sigmoid) s = 1 / (1 + std::exp(-s));
          ref[idx] = s;
        }
  return ref;
}

// The tensor-core kernels' operand rounding (cuda/gemm.cuh): tf32
// cvt.rna (10 mantissa bits, ties away from zero), bf16 / fp16 cvt.rn (ties
// to even; fp16 without its narrower range, which these values never leave).
float roundMantissa(float v, int bits, bool tiesAway) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  const int drop = 23 - bits;
  const uint32_t half = 1u << (drop - 1), mask = (1u << drop) - 1;
  if (tiesAway) u += half;
  else u += half - 1 + ((u >> drop) & 1);
  u &= ~mask;
  std::memcpy(&v, &u, 4);
  return v;
}

enum class Prec { FP32, TF32, BF16, FP16 };
float roundOperand(float v, Prec p) {
  switch (p) {
    case Prec::TF32: return roundMantissa(v, 10, true);
    case Prec::BF16: return roundMantissa(v, 7, false);
    case Prec::FP16: return roundMantissa(v, 10, false);
    default: return v;
  }
}

// 3. The pipeline of runConv2dWinogradCuda, the GEMMs done on the host
// (float32 products summed in k order, as the fp32 kernel does; for the
// reduced precisions the operands rounded as the tensor cores do, checked
// against the op test's bounds for them).
void checkPipeline(const Case& c, int64_t capFloats, Prec prec = Prec::FP32) {
  const ConvGeom g = geomOf(c);
  const F2Geom f = wino_cuda::f2Geom(g);
  const Inputs in = makeInputs(c, g);
  const int64_t P = g.Ho * g.Wo, T = wino_cuda::f2Tiles(f);
  const int64_t tc = wino_cuda::f2TilesPerPass(f, capFloats), ldT = wino_cuda::f2Ld(tc);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> U(16 * c.O * f.ldC, nan), V(16 * c.C * ldT, nan), M(16 * c.O * ldT, nan);
  std::vector<float> out(c.N * c.O * P, nan);
  for (int64_t o = 0; o < c.O; ++o)
    for (int64_t cc = 0; cc < c.C; ++cc) wino_cuda::weightElement(f, in.w.data(), U.data(), o, cc);
  const HostEpi epi = bindEpi(in.ep, out.data(), c.O, P, c.N);
  int passes = 0;
  for (int64_t t0 = 0; t0 < T; t0 += tc, ++passes) {
    const int64_t n = std::min(tc, T - t0);
    for (int64_t cc = 0; cc < c.C; ++cc)
      for (int64_t j = 0; j < n; ++j) wino_cuda::inputElement(f, in.x.data(), V.data(), t0, ldT, cc, j);
    for (int k = 0; k < 16; ++k)
      for (int64_t o = 0; o < c.O; ++o)
        for (int64_t j = 0; j < n; ++j) {
          float s = 0.f;
          for (int64_t cc = 0; cc < c.C; ++cc)
            s += roundOperand(U[(k * c.O + o) * f.ldC + cc], prec) * roundOperand(V[(k * c.C + cc) * ldT + j], prec);
          M[(k * c.O + o) * ldT + j] = s;
        }
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t j = 0; j < n; ++j) wino_cuda::outputElement(f, M.data(), t0, ldT, o, j, epi);
  }
  const std::vector<double> ref = directConv(c, g, in);
  double num = 0, den = 0;
  int64_t unwritten = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i])) ++unwritten;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  const double nmse = num / (den > 0 ? den : 1);
  const char* precName[] = {"fp32", "tf32", "bf16", "fp16"};
  const double bound[] = {1e-10, 1e-6, 1e-4, 1e-4};  // tests/native/op_test.h Bounds
  char b[96];
  std::snprintf(b, sizeof b, " %s (%d passes, nmse %.2e)", precName[int(prec)], passes, nmse);
  check(unwritten == 0 && nmse <= bound[int(prec)], "pipeline vs float64 direct conv " + name(c) + b);
  std::printf("pipeline %s%s\n", name(c).c_str(), b);
  if (capFloats < (int64_t(1) << 40)) check(passes > 1, "several passes taken " + name(c));
}

void checkSelection() {
  using A = Conv2dPlan::Algorithm;
  const A all[] = {A::Auto, A::Direct, A::Winograd, A::Winograd2, A::Winograd4};
  for (A a : all)
    for (int geo = 0; geo < 2; ++geo)
      for (int env = 0; env < 2; ++env) {
        const bool want = a == A::Winograd2 || (a == A::Auto && geo && env);
        check(wino_cuda::f2Selected(a, geo, env) == want,
              "selection algo " + std::to_string(int(a)) + " geometry " + std::to_string(geo) + " env " +
                  std::to_string(env));
      }
  // Passes: one for the SOTR shapes, multiples of 4 tiles otherwise.
  Case big{1, 256, 40, 80, 256, 1, 1, false, false, false, Activation::None};
  const F2Geom f = wino_cuda::f2Geom(geomOf(big));
  check(wino_cuda::f2TilesPerPass(f, int64_t(1) << 25) == 800, "40x80: one pass of 800 tiles");
  check(wino_cuda::f2TilesPerPass(f, 16 * 256 * 100) == 100, "small cap: 100 tiles per pass");
  check(wino_cuda::f2TilesPerPass(f, 16 * 256 * 6) == 4, "smallest pass: 4 tiles");
}

}  // namespace

int main() {
  using Act = Activation;
  // N, C, H, W, O, ph, pw, bias, bn, residual, act
  const Case cases[] = {
      {1, 16, 4, 4, 16, 0, 0, true, false, false, Act::None},            // one tile
      {2, 33, 13, 71, 18, 1, 1, true, true, true, Act::LeakyRelu},       // odd map, batch, every piece
      {1, 20, 9, 40, 47, 0, 0, false, false, true, Act::Relu},           // padding 0, odd rows
      {3, 24, 7, 5, 17, 2, 2, true, false, false, Act::Sigmoid},         // padding 2
      {2, 17, 6, 35, 19, 1, 2, false, true, false, Act::None},           // asymmetric padding
      {1, 31, 25, 84, 29, 1, 1, true, false, true, Act::Relu},           // the 25x84 level (odd tiles)
      {2, 16, 2, 3, 16, 1, 0, false, false, false, Act::LeakyRelu},      // 2x1 output -> partial tiles
  };
  for (const Case& c : cases) checkTransforms(c);
  checkWeightAndIdentity();
  for (const Case& c : cases) checkPipeline(c, int64_t(1) << 40);
  checkPipeline(cases[1], 16 * 33 * 40);  // passes of 40 tiles (a pass crossing images)
  checkPipeline(cases[3], 16 * 24 * 5);   // passes of 4 tiles
  for (Prec p : {Prec::TF32, Prec::BF16, Prec::FP16}) {
    checkPipeline(cases[1], int64_t(1) << 40, p);
    checkPipeline(Case{1, 256, 12, 24, 256, 1, 1, true, false, false, Act::LeakyRelu}, int64_t(1) << 40, p);
  }
  checkSelection();
  return checksSummary();
}
