// CUDA side of resizeMasks (see mask_resize.cuh). Every float / double
// operation that the CPU twin rounds is written as an explicitly rounded
// intrinsic in the CPU's order, so nvcc cannot contract or reorder it.
#include "cuda/mask_resize.cuh"

#include <algorithm>
#include <climits>
#include <memory>

#include "ops/interpolate.h"
#include "ops/mask_resize.h"
#include "runtime/backend.h"

namespace sotr {
namespace cuda {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarps = 8;     // warps per block (box and resize kernels)
constexpr int kTileRows = 16;  // output rows per block of the resize kernel

// ops/interpolate.h LinearTap with int indices.
struct Tap {
  int i0, i1;
  float l0, l1;
};
// A tap of the second resize, plus the source span [lo, hi] its output reaches through both resizes
// (Axis::lo / Axis::hi of mask_resize.cpp).
struct OutTap {
  Tap t;
  int lo, hi;
};

// One axis: in (fh / fw) -> in * ratio, of which `kept` (ch / cw) are kept -> out (H0 / W0).
struct AxisArgs {
  int in, kept, out;
  float scale1, scale2;  // interpAxisScale of each resize, from the host as the CPU computes them
  int same1, same2;      // the resize keeps the size: linearTap's copy taps
};

// Per mask: the source box (pixels above boxThr; bx1 < 0: none) and the accumulators of the set outputs.
struct MaskState {
  unsigned long long area;
  int bx0, bx1, by0, by1;
  int x0, y0, x1, y1;  // inclusive
};

// linearTap (align_corners = false): the index in double, the weights in float.
__device__ __forceinline__ Tap linear_tap(int dst, int in, float scale, int same) {
  Tap t;
  if (same) {
    t.i0 = t.i1 = dst;
    t.l0 = 1.f;
    t.l1 = 0.f;
    return t;
  }
  double src = __dsub_rn(__dmul_rn(static_cast<double>(scale), __dadd_rn(static_cast<double>(dst), 0.5)), 0.5);
  if (src < 0) src = 0;
  t.i0 = static_cast<int>(src);
  t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
  t.l1 = __double2float_rn(__dsub_rn(src, static_cast<double>(t.i0)));
  t.l0 = __fsub_rn(1.f, t.l1);
  return t;
}

__device__ __forceinline__ OutTap out_tap(int o, const AxisArgs& a) {
  OutTap r;
  r.t = linear_tap(o, a.kept, a.scale2, a.same2);
  r.lo = linear_tap(r.t.i0, a.in, a.scale1, a.same1).i0;
  r.hi = linear_tap(r.t.i1, a.in, a.scale1, a.same1).i1;
  return r;
}

// x00 x01 / x10 x11: rows h.i0 / h.i1, columns w.i0 / w.i1.
template <bool CL>
__device__ __forceinline__ float blend(float x00, float x01, float x10, float x11, const Tap& h, const Tap& w) {
  if (CL) {  // interp_detail::bilinearChannelsLast: float weights, exact products summed in double left to right
    double v = __dmul_rn(static_cast<double>(x00), static_cast<double>(__fmul_rn(h.l0, w.l0)));
    v = __dadd_rn(v, __dmul_rn(static_cast<double>(x01), static_cast<double>(__fmul_rn(h.l0, w.l1))));
    v = __dadd_rn(v, __dmul_rn(static_cast<double>(x10), static_cast<double>(__fmul_rn(h.l1, w.l0))));
    v = __dadd_rn(v, __dmul_rn(static_cast<double>(x11), static_cast<double>(__fmul_rn(h.l1, w.l1))));
    return __double2float_rn(v);
  }
  // interp_detail::bilinearWindow: each row fma(x0, l0, x1 * l1), then the rows the same way.
  const float t0 = __fmaf_rn(x00, w.l0, __fmul_rn(x01, w.l1));
  const float t1 = __fmaf_rn(x10, w.l0, __fmul_rn(x11, w.l1));
  return __fmaf_rn(t0, h.l0, __fmul_rn(t1, h.l1));
}

// The four tap tables and the mask states, one thread per entry.
__global__ void prepare_kernel(AxisArgs ay, AxisArgs ax, int n, Tap* fy, OutTap* sy, Tap* fx, OutTap* sx,
                               MaskState* st) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < ay.kept) {
    fy[k] = linear_tap(static_cast<int>(k), ay.in, ay.scale1, ay.same1);
    return;
  }
  k -= ay.kept;
  if (k < ay.out) {
    sy[k] = out_tap(static_cast<int>(k), ay);
    return;
  }
  k -= ay.out;
  if (k < ax.kept) {
    fx[k] = linear_tap(static_cast<int>(k), ax.in, ax.scale1, ax.same1);
    return;
  }
  k -= ax.kept;
  if (k < ax.out) {
    sx[k] = out_tap(static_cast<int>(k), ax);
    return;
  }
  k -= ax.out;
  if (k < n) {
    MaskState s;
    s.area = 0;
    s.bx0 = s.by0 = s.x0 = s.y0 = INT_MAX;
    s.bx1 = s.by1 = s.x1 = s.y1 = -1;
    st[k] = s;
  }
}

// The box of each mask's source pixels above boxThr: a warp per source row, kWarps rows per block.
__global__ void __launch_bounds__(32 * kWarps) box_kernel(const float* __restrict__ soft, int n, int fh, int fw,
                                                          float boxThr, MaskState* st) {
  __shared__ int sh[4][kWarps];
  const int lane = threadIdx.x, warp = threadIdx.y;
  const int y = blockIdx.x * kWarps + warp;
  for (int m = blockIdx.y; m < n; m += gridDim.y) {
    int x0 = INT_MAX, x1 = -1;
    if (y < fh) {
      const float* row = soft + (static_cast<int64_t>(m) * fh + y) * fw;
#pragma unroll 4
      for (int x = lane; x < fw; x += 32)
        if (row[x] > boxThr) {
          x0 = min(x0, x);
          x1 = x;
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      x0 = min(x0, __shfl_xor_sync(kFull, x0, o));
      x1 = max(x1, __shfl_xor_sync(kFull, x1, o));
    }
    if (lane == 0) {
      sh[0][warp] = x0;
      sh[1][warp] = x1;
      sh[2][warp] = x1 >= 0 ? y : INT_MAX;
      sh[3][warp] = x1 >= 0 ? y : -1;
    }
    __syncthreads();
    if (warp == 0 && lane == 0) {
      int bx0 = INT_MAX, bx1 = -1, by0 = INT_MAX, by1 = -1;
      for (int w = 0; w < kWarps; ++w) {
        bx0 = min(bx0, sh[0][w]);
        bx1 = max(bx1, sh[1][w]);
        by0 = min(by0, sh[2][w]);
        by1 = max(by1, sh[3][w]);
      }
      if (bx1 >= 0) {
        MaskState& s = st[m];
        atomicMin(&s.bx0, bx0);
        atomicMax(&s.bx1, bx1);
        atomicMin(&s.by0, by0);
        atomicMax(&s.by1, by1);
      }
    }
    __syncthreads();
  }
}

// The fused resizes, threshold and packing. Block: 8 warps, warp w owns word blockIdx.x * 8 + w (32 columns,
// lane = column & 31), for kTileRows rows. An output is computed only where the CPU computes it: inside the
// window of outputs whose span meets the source box (the spans are monotone, so the CPU's window [X0, X1) is
// exactly the columns with hi >= bx0 and lo <= bx1, and likewise for rows); every other word is written as 0.
template <bool CL1, bool CL2>
__global__ void __launch_bounds__(32 * kWarps) resize_kernel(const float* __restrict__ soft, int n, int fh, int fw,
                                                             int H0, int W0, int words, float thr,
                                                             const Tap* __restrict__ fy, const OutTap* __restrict__ sy,
                                                             const Tap* __restrict__ fx, const OutTap* __restrict__ sx,
                                                             MaskState* st, uint32_t* __restrict__ bits) {
  __shared__ int sh[5][kWarps];
  const int lane = threadIdx.x, warp = threadIdx.y;
  const int word = blockIdx.x * kWarps + warp;
  const int x = word * 32 + lane;
  const int c0 = blockIdx.x * kWarps * 32, c1 = min(c0 + kWarps * 32, W0);
  const int r0 = blockIdx.y * kTileRows, r1 = min(r0 + kTileRows, H0);
  // Lanes past W0 compute on the last column (never set): the warp stays converged for the ballots.
  const OutTap tx = sx[min(x, W0 - 1)];
  const Tap f0 = fx[tx.t.i0], f1 = fx[tx.t.i1];
  for (int m = blockIdx.z; m < n; m += gridDim.z) {
    const int bx0 = st[m].bx0, bx1 = st[m].bx1, by0 = st[m].by0, by1 = st[m].by1;
    const bool tile = bx1 >= 0 && c0 < W0 && sx[c0].lo <= bx1 && sx[c1 - 1].hi >= bx0 && sy[r0].lo <= by1 &&
                      sy[r1 - 1].hi >= by0;
    const bool colIn = tile && x < W0 && tx.hi >= bx0 && tx.lo <= bx1;
    const bool warpIn = __any_sync(kFull, colIn);
    const float* src = soft + static_cast<int64_t>(m) * fh * fw;
    uint32_t* out = bits + static_cast<int64_t>(m) * H0 * words + word;
    int area = 0, ox0 = INT_MAX, ox1 = -1, oy0 = INT_MAX, oy1 = -1;
    // The middle-image values at this lane's two columns for the last two middle rows used: consecutive output
    // rows often read the same ones (the values do not depend on where they are computed). Rows only increase.
    int rowA = -1, rowB = -1;
    float A0 = 0.f, A1 = 0.f, B0 = 0.f, B1 = 0.f;
    auto mid = [&](int my, float& v0, float& v1) {
      const Tap t = fy[my];
      const float* ra = src + static_cast<int64_t>(t.i0) * fw;
      const float* rb = src + static_cast<int64_t>(t.i1) * fw;
      v0 = blend<CL1>(ra[f0.i0], ra[f0.i1], rb[f0.i0], rb[f0.i1], t, f0);
      v1 = blend<CL1>(ra[f1.i0], ra[f1.i1], rb[f1.i0], rb[f1.i1], t, f1);
    };
    for (int y = r0; y < r1; ++y) {
      uint32_t b = 0;
      if (warpIn) {
        const OutTap ty = sy[y];
        if (ty.hi >= by0 && ty.lo <= by1) {  // warp-uniform
          const int m0 = ty.t.i0, m1 = ty.t.i1;
          float a0, a1, b0, b1;
          if (m0 == rowA) a0 = A0, a1 = A1;
          else if (m0 == rowB) a0 = B0, a1 = B1;
          else mid(m0, a0, a1);
          if (m1 == m0) b0 = a0, b1 = a1;
          else if (m1 == rowB) b0 = B0, b1 = B1;
          else mid(m1, b0, b1);
          rowA = m0, A0 = a0, A1 = a1;
          rowB = m1, B0 = b0, B1 = b1;
          const float v = blend<CL2>(a0, a1, b0, b1, ty.t, tx.t);
          b = __ballot_sync(kFull, colIn && v > thr);
        }
      }
      if (lane == 0 && word < words) out[static_cast<int64_t>(y) * words] = b;
      if (b) {
        area += __popc(b);
        ox0 = min(ox0, word * 32 + __ffs(b) - 1);
        ox1 = max(ox1, word * 32 + 31 - __clz(b));
        oy0 = min(oy0, y);
        oy1 = y;
      }
    }
    if (lane == 0) {
      sh[0][warp] = area;
      sh[1][warp] = ox0;
      sh[2][warp] = ox1;
      sh[3][warp] = oy0;
      sh[4][warp] = oy1;
    }
    __syncthreads();
    if (warp == 0 && lane == 0) {
      int a = 0, bx = INT_MAX, ex = -1, by = INT_MAX, ey = -1;
      for (int w = 0; w < kWarps; ++w) {
        a += sh[0][w];
        bx = min(bx, sh[1][w]);
        ex = max(ex, sh[2][w]);
        by = min(by, sh[3][w]);
        ey = max(ey, sh[4][w]);
      }
      if (a > 0) {
        MaskState& s = st[m];
        atomicAdd(&s.area, static_cast<unsigned long long>(a));
        atomicMin(&s.x0, bx);
        atomicMax(&s.x1, ex);
        atomicMin(&s.y0, by);
        atomicMax(&s.y1, ey);
      }
    }
    __syncthreads();
  }
}

// [area, x0, y0, x1, y1] with exclusive ends, all 0 for an empty mask (area capped as the CPU caps it).
__global__ void stats_kernel(int n, const MaskState* st, int32_t* stats) {
  const int m = blockIdx.x * blockDim.x + threadIdx.x;
  if (m >= n) return;
  const MaskState s = st[m];
  int32_t* o = stats + static_cast<int64_t>(m) * 5;
  if (s.area == 0) {
    o[0] = o[1] = o[2] = o[3] = o[4] = 0;
    return;
  }
  o[0] = static_cast<int32_t>(s.area < static_cast<unsigned long long>(INT_MAX) ? s.area : INT_MAX);
  o[1] = s.x0;
  o[2] = s.y0;
  o[3] = s.x1 + 1;
  o[4] = s.y1 + 1;
}

template <bool CL1, bool CL2>
void launchResize(dim3 grid, cudaStream_t s, const float* soft, int n, int fh, int fw, int H0, int W0, int words,
                  float thr, const Tap* fy, const OutTap* sy, const Tap* fx, const OutTap* sx, MaskState* st,
                  uint32_t* bits) {
  resize_kernel<CL1, CL2><<<grid, dim3(32, kWarps), 0, s>>>(soft, n, fh, fw, H0, W0, words, thr, fy, sy, fx, sx, st,
                                                           bits);
}

size_t align16(size_t b) { return (b + 15) & ~static_cast<size_t>(15); }

void runResizeMasksCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const ResizeMasksPlan p = planResizeMasks(call);
  if (p.n == 0) return;
  if (p.n > INT_MAX || p.fh > INT_MAX || p.fw > INT_MAX)
    fail(ErrorKind::Range, call.op + ": soft " + shapeStr(call.inputs[0].shape) + " is too large for the CUDA kernel");
  const int n = static_cast<int>(p.n), fh = static_cast<int>(p.fh), fw = static_cast<int>(p.fw);
  const int ch = static_cast<int>(p.ch), cw = static_cast<int>(p.cw);
  const int H0 = static_cast<int>(p.H0), W0 = static_cast<int>(p.W0), words = static_cast<int>(p.words);
  const AxisArgs ay{fh, ch, H0, interpAxisScale(p.fh, p.fh * p.ratio, 0, false), interpAxisScale(p.ch, p.H0, 0, false),
                    p.ratio == 1, p.ch == p.H0};
  const AxisArgs ax{fw, cw, W0, interpAxisScale(p.fw, p.fw * p.ratio, 0, false), interpAxisScale(p.cw, p.W0, 0, false),
                    p.ratio == 1, p.cw == p.W0};
  // Scratch: mask states, then the tap tables. Back to the device's caching allocator on return; later work on
  // the stream is ordered after these kernels.
  const size_t bState = align16(sizeof(MaskState) * n), bFy = align16(sizeof(Tap) * ch),
               bSy = align16(sizeof(OutTap) * H0), bFx = align16(sizeof(Tap) * cw), bSx = align16(sizeof(OutTap) * W0);
  std::shared_ptr<Storage> scratch = ctx.backend->allocate(bState + bFy + bSy + bFx + bSx);
  char* base = static_cast<char*>(scratch->ptr);
  MaskState* st = reinterpret_cast<MaskState*>(base);
  Tap* fy = reinterpret_cast<Tap*>(base + bState);
  OutTap* sy = reinterpret_cast<OutTap*>(base + bState + bFy);
  Tap* fx = reinterpret_cast<Tap*>(base + bState + bFy + bSy);
  OutTap* sx = reinterpret_cast<OutTap*>(base + bState + bFy + bSy + bFx);
  const float* soft = call.inputs[0].data<float>();
  uint32_t* bits = reinterpret_cast<uint32_t*>(out[0].data<int32_t>());
  cudaStream_t s = static_cast<cudaStream_t>(ctx.stream);

  const int64_t entries = static_cast<int64_t>(ch) + H0 + cw + W0 + n;
  prepare_kernel<<<static_cast<unsigned>((entries + 255) / 256), 256, 0, s>>>(ay, ax, n, fy, sy, fx, sx, st);
  SOTR_CUDA_CHECK_LAUNCH();
  const unsigned zs = static_cast<unsigned>(std::min(n, 65535));
  box_kernel<<<dim3(static_cast<unsigned>((static_cast<int64_t>(fh) + kWarps - 1) / kWarps), zs), dim3(32, kWarps), 0, s>>>(
      soft, n, fh, fw, p.boxThr, st);
  SOTR_CUDA_CHECK_LAUNCH();
  const dim3 grid(static_cast<unsigned>((words + kWarps - 1) / kWarps),
                  static_cast<unsigned>((H0 + kTileRows - 1) / kTileRows), zs);
  if (p.cl1 && p.cl2) launchResize<true, true>(grid, s, soft, n, fh, fw, H0, W0, words, p.thr, fy, sy, fx, sx, st, bits);
  else if (p.cl1) launchResize<true, false>(grid, s, soft, n, fh, fw, H0, W0, words, p.thr, fy, sy, fx, sx, st, bits);
  else if (p.cl2) launchResize<false, true>(grid, s, soft, n, fh, fw, H0, W0, words, p.thr, fy, sy, fx, sx, st, bits);
  else launchResize<false, false>(grid, s, soft, n, fh, fw, H0, W0, words, p.thr, fy, sy, fx, sx, st, bits);
  SOTR_CUDA_CHECK_LAUNCH();
  stats_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, s>>>(n, st, out[1].data<int32_t>());
  SOTR_CUDA_CHECK_LAUNCH();
}

CudaRegistrar reg("resizeMasks", runResizeMasksCuda);

}  // namespace
}  // namespace cuda
}  // namespace sotr
