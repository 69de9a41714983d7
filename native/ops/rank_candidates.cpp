// rankCandidates: see rank_candidates.h.
#include "ops/rank_candidates.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/thread_pool.h"

namespace sotr {
namespace {

struct Plan {
  int64_t n = 0, m = 0, H = 0, W2 = 0, maskInts = 0;  // the masks' rows and ints a row (0, 0: none), H * W2
  int64_t nmsPre = 0;
};

Plan plan(const OpCall& call) {
  const std::string& op = call.op;
  Plan p;
  const char* names[] = {"scores", "strides", "labels", "areas", "softSums", "masks", "boxes"};
  for (int i = 0; i < 7; ++i)
    if (i != 5) expectDefined(op, names[i], call.inputs[i]);  // masks is optional
  const Tensor& scores = call.inputs[0];
  expectDType(op, "scores", scores, DType::F32);
  expectRank(op, "scores", scores, 1);
  p.n = scores.size(0);
  expectDType(op, "strides", call.inputs[1], DType::F32);
  expectShape(op, "strides", call.inputs[1], {p.n});
  expectDType(op, "labels", call.inputs[2], DType::I32);
  expectShape(op, "labels", call.inputs[2], {p.n});
  expectDType(op, "areas", call.inputs[3], DType::I32);
  expectShape(op, "areas", call.inputs[3], {p.n});
  expectDType(op, "softSums", call.inputs[4], DType::F32);
  expectShape(op, "softSums", call.inputs[4], {p.n});
  const Tensor& masks = call.inputs[5];
  if (masks.defined()) {
    expectDType(op, "masks", masks, DType::I32);
    expectRank(op, "masks", masks, 3);
    if (masks.size(0) != p.n)
      fail(ErrorKind::Shape, op + ": masks must be [" + std::to_string(p.n) + ", H, W2] (one per score), received " + shapeStr(masks.shape));
    p.H = masks.size(1);
    p.W2 = masks.size(2);
  }
  p.maskInts = p.H * p.W2;
  expectDType(op, "boxes", call.inputs[6], DType::I32);
  expectShape(op, "boxes", call.inputs[6], {p.n, 4});
  const double pre = call.attrs.number(op, "nmsPre", 9007199254740991.0);
  if (!(pre >= 1) || pre != std::floor(pre)) fail(ErrorKind::Range, op + ": nmsPre must be a positive integer, received " + std::to_string(pre));
  p.nmsPre = pre > 9.2e18 ? INT64_MAX : static_cast<int64_t>(pre);
  p.m = std::min(p.n, p.nmsPre);
  return p;
}

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = plan(call);
  const float* scores = call.inputs[0].data<float>();
  const float* strides = call.inputs[1].data<float>();
  const int32_t* labels = call.inputs[2].data<int32_t>();
  const int32_t* areas = call.inputs[3].data<int32_t>();
  const float* softSums = call.inputs[4].data<float>();
  const int32_t* masks = p.maskInts ? call.inputs[5].data<int32_t>() : nullptr;
  const int32_t* boxes = call.inputs[6].data<int32_t>();

  // Steps 7-8: area filter, maskness rescoring.
  std::vector<int32_t> keep;
  std::vector<float> score1(static_cast<size_t>(p.n), 0.f);
  for (int64_t i = 0; i < p.n; ++i) {
    const float area = static_cast<float>(areas[i]);
    if (!(area > strides[i])) continue;
    keep.push_back(static_cast<int32_t>(i));
    const float maskness = static_cast<float>(static_cast<double>(softSums[i]) / static_cast<double>(area));
    score1[i] = static_cast<float>(static_cast<double>(scores[i]) * static_cast<double>(maskness));
  }
  // Step 9: score descending (NaN last), candidate index ascending; keep nmsPre.
  const int64_t kept = std::min<int64_t>(static_cast<int64_t>(keep.size()), p.nmsPre);
  auto before = [&](int32_t a, int32_t b) {
    const float sa = score1[a], sb = score1[b];
    const bool na = std::isnan(sa), nb = std::isnan(sb);
    if (na != nb) return nb;
    if (!na && sa != sb) return sa > sb;
    return a < b;
  };
  if (kept < static_cast<int64_t>(keep.size())) std::partial_sort(keep.begin(), keep.begin() + kept, keep.end(), before);
  else std::sort(keep.begin(), keep.end(), before);

  out[0].data<int32_t>()[0] = static_cast<int32_t>(keep.size());
  out[0].data<int32_t>()[1] = static_cast<int32_t>(kept);
  int32_t* order = out[1].data<int32_t>();
  float* oScores = out[2].data<float>();
  int32_t* oLabels = out[3].data<int32_t>();
  int32_t* oAreas = out[4].data<int32_t>();
  float* oSoft = out[5].data<float>();
  int32_t* oMasks = out[6].data<int32_t>();
  int32_t* oBoxes = out[7].data<int32_t>();
  for (int64_t k = 0; k < kept; ++k) {
    const int32_t i = keep[k];
    order[k] = i;
    oScores[k] = score1[i];
    oLabels[k] = labels[i];
    oAreas[k] = areas[i];
    oSoft[k] = softSums[i];
    std::memcpy(oBoxes + 4 * k, boxes + 4 * i, 4 * sizeof(int32_t));
  }
  const size_t tail = static_cast<size_t>(p.m - kept);
  std::memset(order + kept, 0, tail * sizeof(int32_t));
  std::memset(oScores + kept, 0, tail * sizeof(float));
  std::memset(oLabels + kept, 0, tail * sizeof(int32_t));
  std::memset(oAreas + kept, 0, tail * sizeof(int32_t));
  std::memset(oSoft + kept, 0, tail * sizeof(float));
  std::memset(oBoxes + 4 * kept, 0, 4 * tail * sizeof(int32_t));
  if (p.maskInts == 0) return;  // no masks: the caller gathers them
  const size_t per = static_cast<size_t>(p.maskInts) * sizeof(int32_t);
  auto copy = [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int32_t* dst = oMasks + k * p.maskInts;
      if (k < kept) std::memcpy(dst, masks + static_cast<int64_t>(keep[k]) * p.maskInts, per);
      else std::memset(dst, 0, per);
    }
  };
  if (ctx.pool && ctx.pool->size() > 1 && p.m * p.maskInts > (int64_t(1) << 18))
    ctx.pool->parallelFor(p.m, std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, p.maskInts)), copy);
  else copy(0, p.m);
}

OpRegistrar reg(OpDef{"rankCandidates", 7, 7,
                      [](const OpCall& call) {
                        const Plan p = plan(call);
                        return std::vector<TensorSpec>{{DType::I32, {2}},
                                                       {DType::I32, {p.m}},
                                                       {DType::F32, {p.m}},
                                                       {DType::I32, {p.m}},
                                                       {DType::I32, {p.m}},
                                                       {DType::F32, {p.m}},
                                                       {DType::I32, {p.m, p.H, p.W2}},
                                                       {DType::I32, {p.m, 4}}};
                      },
                      runCpu, nullptr});

}  // namespace
}  // namespace sotr
