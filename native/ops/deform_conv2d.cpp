#include "ops/deform_conv2d.h"

#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace sotr {

DeformPlan planDeformConv2d(const OpCall& call) {
  const std::string& op = call.op;
  DeformPlan d;
  Conv2dPlan& p = d.conv;
  const Tensor& off = call.inputs[1];
  expectDType(op, "offset", off, DType::F32);
  planConvGeom(op, call.attrs, call.inputs[0], call.inputs[3], p.g);
  const ConvGeom& g = p.g;
  d.deformGroups = call.attrs.integer(op, "deformGroups", 1);
  if (d.deformGroups < 1 || g.C % d.deformGroups != 0)
    fail(ErrorKind::Shape, op + ": input channels (" + std::to_string(g.C) + ") must be divisible by deformGroups (" +
                               std::to_string(d.deformGroups) + ")");
  const int64_t taps = g.kh * g.kw;
  expectShape(op, "offset", off, {g.N, 2 * d.deformGroups * taps, g.Ho, g.Wo});
  if (call.inputs[2].defined()) {
    expectDType(op, "mask", call.inputs[2], DType::F32);
    expectShape(op, "mask", call.inputs[2], {g.N, d.deformGroups * taps, g.Ho, g.Wo});
    d.hasMask = true;
  }
  if (g.H * g.W >= (int64_t(1) << 31)) fail(ErrorKind::Range, op + ": input planes beyond 2^31 elements");
  checkConvEpilogue(op, call, 4, g, p);
  p.outShape = {g.N, g.O, g.Ho, g.Wo};
  return d;
}

namespace {

// Samples of the current deformable group, structure of arrays:
// [taps][nc] each.
struct SampleBuffers {
  std::vector<int32_t> idx[4];
  std::vector<float> w[4];
  std::vector<float> m;
  void resize(size_t n) {
    for (int k = 0; k < 4; ++k) {
      idx[k].resize(n);
      w[k].resize(n);
    }
    m.resize(n);
  }
};
thread_local SampleBuffers t_samples;

// Columns in the weight's (c, i, j) order for pixels [p0, p0 + nc).
void deformColumns(const DeformPlan& d, const float* x, const float* off, const float* mask, int64_t n, int64_t grp,
                   int64_t p0, int64_t nc, float* col, int64_t ld) {
  const ConvGeom& g = d.conv.g;
  const int64_t taps = g.kh * g.kw, P = g.P(), HW = g.H * g.W, DG = d.deformGroups, cpdg = g.C / DG;
  SampleBuffers& sb = t_samples;
  sb.resize(static_cast<size_t>(taps * nc));
  static const bool avx512 = maxSimdLevel() >= SimdLevel::AVX512;
  const bool vec = avx512 && activeSimdLevel() >= SimdLevel::AVX512;
  int64_t lastDg = -1;
  for (int64_t c = 0; c < g.Cg(); ++c) {
    const int64_t cg = grp * g.Cg() + c;
    const int64_t dg = cg / cpdg;
    if (dg != lastDg) {
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t i = t / g.kw, j = t - i * g.kw;
        const float* dy = off + ((n * DG + dg) * taps + t) * 2 * P;
        const float* dx = dy + P;
        const float* m = mask ? mask + ((n * DG + dg) * taps + t) * P : nullptr;
        for (int64_t q = 0; q < nc; ++q) {
          const int64_t p = p0 + q, oy = p / g.Wo, ox = p - oy * g.Wo;
          const float h = static_cast<float>(oy * g.sh - g.ph + i * g.dh) + dy[p];
          const float w = static_cast<float>(ox * g.sw - g.pw + j * g.dw) + dx[p];
          const DeformSample s = deformSample(h, w, g.H, g.W, m ? m[p] : 1.f);
          const int64_t e = t * nc + q;
          for (int k = 0; k < 4; ++k) {
            sb.idx[k][e] = s.idx[k];
            sb.w[k][e] = s.w[k];
          }
          sb.m[e] = s.m;
        }
      }
      lastDg = dg;
    }
    const float* plane = x + (n * g.C + cg) * HW;
    for (int64_t t = 0; t < taps; ++t) {
      float* dst = col + (c * taps + t) * ld;
      const int64_t e0 = t * nc;
      DeformSamples s{{sb.idx[0].data() + e0, sb.idx[1].data() + e0, sb.idx[2].data() + e0, sb.idx[3].data() + e0},
                      {sb.w[0].data() + e0, sb.w[1].data() + e0, sb.w[2].data() + e0, sb.w[3].data() + e0},
                      sb.m.data() + e0};
      if (vec && deform_detail::deformRowAvx512(s, nc, plane, dst)) continue;
      for (int64_t q = 0; q < nc; ++q) {
        const float v1 = s.idx[0][q] >= 0 ? plane[s.idx[0][q]] : 0.f;
        const float v2 = s.idx[1][q] >= 0 ? plane[s.idx[1][q]] : 0.f;
        const float v3 = s.idx[2][q] >= 0 ? plane[s.idx[2][q]] : 0.f;
        const float v4 = s.idx[3][q] >= 0 ? plane[s.idx[3][q]] : 0.f;
        dst[q] = (s.w[0][q] * v1 + s.w[1][q] * v2 + s.w[2][q] * v3 + s.w[3][q] * v4) * s.m[q];
      }
    }
  }
}

OpRegistrar reg(OpDef{
    "deformConv2d", 4, 8,
    [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planDeformConv2d(call).conv.outShape}}; },
    [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
      const DeformPlan d = planDeformConv2d(call);
      if (out[0].numel() == 0) return;
      const GemmEpilogue ep = bindConvEpilogue(d.conv, call, 4);
      const float* x = call.inputs[0].data<float>();
      const float* off = call.inputs[1].data<float>();
      const float* mask = d.hasMask ? call.inputs[2].data<float>() : nullptr;
      const Tensor& w = call.inputs[3];
      const ColumnFn cols = [&](int64_t n, int64_t grp, int64_t p0, int64_t nc, float* col, int64_t ld) {
        deformColumns(d, x, off, mask, n, grp, p0, nc, col, ld);
      };
      convGemmCpu(d.conv.g, x, w, w.data<float>(), ep, out[0].data<float>(), &cols, ctx.pool, call.precision);
    },
    nullptr});

}  // namespace
}  // namespace sotr
