// CUDA side of dynamic_conv / dynamic_conv_masks (see dynamic_conv.cuh).
#include "cuda/dynamic_conv.cuh"

#include <climits>

#include "cuda/gemm.cuh"
#include "ops/bitmask.h"
#include "runtime/backend.h"

namespace sotr {
namespace cuda {

using gemm_core::EpilogueTile;
using gemm_core::StridedOperand;

namespace {

// Implicit im2col of a [C, H, W] map for a k x k kernel (zero padding k/2):
// X[n = pixel y*W + x][kk = (c*k + dy)*k + dx] = F[c, y + dy - pad, x + dx - pad].
struct Im2colOperand {
  static constexpr bool kKContig = false;  // pixels contiguous
  const float* f = nullptr;
  int C = 0, H = 0, W = 0, k = 1;
  int rows = 0;   // H * W
  int depth = 0;  // C * k * k

  template <class Smem, int NT>
  struct Iter {
    const float* f;
    int C, H, W, k, rows, depth, mn0, tid;
    __device__ __forceinline__ Iter(const Im2colOperand& o, int, int mn0_, int tid_)
        : f(o.f), C(o.C), H(o.H), W(o.W), k(o.k), rows(o.rows), depth(o.depth), mn0(mn0_), tid(tid_) {}
    __device__ __forceinline__ void load(float* stage, int k0) const {
      constexpr int TOTAL = Smem::kRows * Smem::kDepth;
      const int kk2 = k * k, pad = k / 2;
#pragma unroll 1
      for (int id = tid; id < TOTAL; id += NT) {
        const int r = id % Smem::kRows, kk = id / Smem::kRows;  // pixels fastest: coalesced
        const int pix = mn0 + r, kidx = k0 + kk;
        bool ok = pix < rows && kidx < depth;
        const float* src = f;
        if (ok) {
          const int c = kidx / kk2, rem = kidx - c * kk2, dy = rem / k, dx = rem - dy * k;
          const int y = pix / W + dy - pad, x = pix % W + dx - pad;
          ok = y >= 0 && y < H && x >= 0 && x < W;
          if (ok) src = f + (static_cast<int64_t>(c) * H + y) * W + x;
        }
        gemm_core::cp_async_4(stage + Smem::offset(r, kk), src, ok ? 4 : 0);
      }
    }
  };
};

// Float output: C = logits or sigmoid(logits), [N, ldc].
struct StoreEpilogue {
  float* C = nullptr;
  int64_t ldc = 0;
  bool sigmoid = true;
  bool vec4 = false;  // float4 stores allowed
  __device__ __forceinline__ void operator()(const EpilogueTile& t) const {
    t.for_each_vec4([&](int row, int col, float4 v4, int n) {
      float v[4] = {v4.x, v4.y, v4.z, v4.w};
      if (sigmoid) {
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = 1.f / (1.f + expf(-v[j]));
      }
      float* cp = C + static_cast<int64_t>(row) * ldc + col;
      if (n == 4 && vec4) {
        *reinterpret_cast<float4*>(cp) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
        for (int j = 0; j < n; ++j) cp[j] = v[j];
      }
    });
  }
};

// The fused masks epilogue. Rows of C are masks, columns flattened pixels.
struct MaskEpilogue {
  uint32_t* bits = nullptr;  // [N][H][wpr32], zeroed before the GEMM
  int* areas = nullptr;      // zeroed
  double* soft = nullptr;    // zeroed
  int* box = nullptr;        // [N][4]: xmin, ymin (INT_MAX), xmax, ymax (-1), inclusive
  int P = 0, W = 0, H = 0, wpr32 = 0;
  float thr = 0.f;           // logit threshold x*

  // ORs the set bits of a 32-pixel chunk of the flattened pixel axis (starting
  // at pixel p0, a multiple of 32) into mask `row`, one image-row segment at a
  // time (one division per chunk); updates count and box.
  __device__ __forceinline__ void flush(uint32_t word, int row, int p0, int& cnt, int& xmin, int& xmax,
                                        int& ymin, int& ymax) const {
    if (!word) return;
    int y = p0 / W, x = p0 - y * W, off = 0;
    while (off < 32) {
      const int len = min(32 - off, W - x);
      const uint32_t segMask = len >= 32 ? 0xffffffffu : ((1u << len) - 1u);
      const uint32_t seg = (word >> off) & segMask;
      if (seg) {
        uint32_t* rp = bits + (static_cast<int64_t>(row) * H + y) * wpr32;
        const int wi = x >> 5, sh = x & 31;
        atomicOr(rp + wi, seg << sh);
        if (sh != 0 && sh + len > 32) atomicOr(rp + wi + 1, seg >> (32 - sh));
        cnt += __popc(seg);
        ymin = min(ymin, y);
        ymax = max(ymax, y);
        xmin = min(xmin, x + __ffs(seg) - 1);
        xmax = max(xmax, x + 31 - __clz(seg));
      }
      off += len;
      x = 0;
      ++y;
      if ((word >> (off & 31)) == 0 || off >= 32) break;
    }
  }

  // A warp takes 8 tile rows x 128 columns at a time: 32 ballots (one per row
  // and 32-pixel chunk) give the words, lane 4q + c keeps row q's chunk c and
  // flushes it, so the 32 lanes write in parallel; then one set of atomics
  // per row for area, soft sum and box.
  __device__ __forceinline__ void operator()(const EpilogueTile& t) const {
    const int warp = t.tid >> 5, lane = t.tid & 31, nw = t.nthreads >> 5;
    const int myQ = lane >> 2, myC = lane & 3;
    const int chunks = (t.cols + 31) >> 5;
#pragma unroll 1
    for (int rg = warp * 8; rg < t.rows; rg += nw * 8) {
      const int myRow = rg + myQ;
      int cnt = 0, xmin = INT_MAX, xmax = -1, ymin = INT_MAX, ymax = -1;
      float mySoft = 0.f;
#pragma unroll 1
      for (int cg = 0; cg < chunks; cg += 4) {
        uint32_t myWord = 0;
#pragma unroll 1
        for (int q = 0; q < 8; ++q) {
          const int r = rg + q;
          float sacc = 0.f;
#pragma unroll
          for (int cc = 0; cc < 4; ++cc) {
            const int col = 32 * (cg + cc) + lane;
            const bool valid = r < t.rows && col < t.cols;
            const float v = valid ? t.s[r * t.ld + col] : 0.f;
            const bool on = valid && v > thr;
            const uint32_t w = __ballot_sync(0xffffffffu, on);
            if (on) sacc += 1.f / (1.f + expf(-v));
            if (lane == 4 * q + cc) myWord = w;
          }
#pragma unroll
          for (int o = 16; o > 0; o >>= 1) sacc += __shfl_xor_sync(0xffffffffu, sacc, o);
          if (lane == 4 * q) mySoft += sacc;
        }
        if (myRow < t.rows) flush(myWord, t.row0 + myRow, t.col0 + 32 * (cg + myC), cnt, xmin, xmax, ymin, ymax);
      }
      // Combine the 4 lanes of each row.
#pragma unroll
      for (int o = 1; o <= 2; o <<= 1) {
        cnt += __shfl_xor_sync(0xffffffffu, cnt, o);
        mySoft += __shfl_xor_sync(0xffffffffu, mySoft, o);
        xmin = min(xmin, __shfl_xor_sync(0xffffffffu, xmin, o));
        ymin = min(ymin, __shfl_xor_sync(0xffffffffu, ymin, o));
        xmax = max(xmax, __shfl_xor_sync(0xffffffffu, xmax, o));
        ymax = max(ymax, __shfl_xor_sync(0xffffffffu, ymax, o));
      }
      if (myC == 0 && myRow < t.rows && cnt > 0) {
        const int row = t.row0 + myRow;
        atomicAdd(areas + row, cnt);
        atomicAdd(soft + row, static_cast<double>(mySoft));
        int* b = box + 4 * row;
        atomicMin(b + 0, xmin);
        atomicMin(b + 1, ymin);
        atomicMax(b + 2, xmax);
        atomicMax(b + 3, ymax);
      }
    }
  }
};

__global__ void masks_init_kernel(int n, int* areas, double* soft, int* box) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  areas[i] = 0;
  soft[i] = 0.0;
  box[4 * i + 0] = INT_MAX;
  box[4 * i + 1] = INT_MAX;
  box[4 * i + 2] = -1;
  box[4 * i + 3] = -1;
}

__global__ void masks_finish_kernel(int n, const int* areas, const double* soft, float* softOut, int* box) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  softOut[i] = static_cast<float>(soft[i]);
  int* b = box + 4 * i;
  if (areas[i] == 0) {
    b[0] = b[1] = b[2] = b[3] = 0;
  } else {
    b[2] += 1;
    b[3] += 1;
  }
}

// All pixels set (K = 0 and sigmoid(0) > threshold): full rows, area H*W,
// soft sum 0.5 per pixel, box = the whole map (inclusive ends here).
__global__ void masks_all_set_kernel(int64_t words, int wpr32, int W, int H, int n, uint32_t* bits, int* areas,
                                     double* soft, int* box) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < words) {
    const int x0 = static_cast<int>(i % wpr32) * 32;
    const int len = min(32, max(0, W - x0));
    bits[i] = len >= 32 ? 0xffffffffu : ((1u << len) - 1u);
  }
  if (i < n) {
    areas[i] = H * W;
    soft[i] = 0.5 * H * W;
    box[4 * i + 0] = 0;
    box[4 * i + 1] = 0;
    box[4 * i + 2] = W - 1;
    box[4 * i + 3] = H - 1;
  }
}

__global__ void fill_kernel(float* p, int64_t n, float v) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}

// One kernel per precision, large tiles (SOTR's 500 x 67,200 problem fills
// any GPU with them); keeps the instantiations at 4 per (B loader, epilogue).
template <class BOp, class Epi>
void launch(const StridedOperand<true>& a, const BOp& b, const Epi& epi, int M, int N, int K, Precision p,
            cudaStream_t stream) {
  int dev = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  const GemmDeviceInfo& info = gemm_device_info(dev);
  if (p != Precision::FP32 && info.tensorCores && info.maxSmemOptin >= gemm_core::TcLarge::kSmemBytes) {
    switch (p) {
      case Precision::TF32:
        return gemm_core::launch_tc_gemm<gemm_core::TcLarge, Precision::TF32>(a, b, epi, M, N, K, 1, stream);
      case Precision::BF16:
        return gemm_core::launch_tc_gemm<gemm_core::TcLarge, Precision::BF16>(a, b, epi, M, N, K, 1, stream);
      default:
        return gemm_core::launch_tc_gemm<gemm_core::TcLarge, Precision::FP16>(a, b, epi, M, N, K, 1, stream);
    }
  }
  gemm_core::launch_simt_gemm<gemm_core::SimtLarge>(a, b, epi, M, N, K, 1, stream);
}

StridedOperand<true> kernelsOperand(const DynamicConvPlan& p, const float* kernels) {
  StridedOperand<true> a;
  a.ptr = kernels;
  a.ld = p.K();
  a.rows = static_cast<int>(p.N);
  a.depth = static_cast<int>(p.K());
  a.vec16 = is_aligned(kernels, 16) && p.K() % 4 == 0;
  return a;
}

StridedOperand<false> featuresOperand(const DynamicConvPlan& p, const float* features) {
  StridedOperand<false> b;  // X[pixel][c] = F[c * HW + pixel]
  b.ptr = features;
  b.ld = p.pixels();
  b.rows = static_cast<int>(p.pixels());
  b.depth = static_cast<int>(p.C);
  b.vec16 = is_aligned(features, 16) && p.pixels() % 4 == 0;
  return b;
}

Im2colOperand im2colOperand(const DynamicConvPlan& p, const float* features) {
  Im2colOperand b;
  b.f = features;
  b.C = static_cast<int>(p.C);
  b.H = static_cast<int>(p.H);
  b.W = static_cast<int>(p.W);
  b.k = static_cast<int>(p.k);
  b.rows = static_cast<int>(p.pixels());
  b.depth = static_cast<int>(p.K());
  return b;
}

}  // namespace

void dynamic_conv(const DynamicConvPlan& p, const float* features, const float* kernels, float* out,
                  Precision precision, cudaStream_t stream) {
  const int64_t HW = p.pixels();
  if (p.N == 0 || HW == 0) return;
  if (p.K() == 0) {
    const int64_t n = p.N * HW;
    fill_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(out, n, p.sigmoid ? 0.5f : 0.f);
    SOTR_CUDA_CHECK_LAUNCH();
    return;
  }
  if (p.k == 1) {
    GemmArgs g;
    g.M = p.N;
    g.N = HW;
    g.K = p.C;
    g.A = kernels;
    g.lda = p.C;
    g.B = features;
    g.ldb = HW;
    g.C = out;
    g.ldc = HW;
    g.ep.act = p.sigmoid ? Activation::Sigmoid : Activation::None;
    gemm(g, precision, stream);
    return;
  }
  StoreEpilogue epi;
  epi.C = out;
  epi.ldc = HW;
  epi.sigmoid = p.sigmoid;
  epi.vec4 = is_aligned(out, 16) && HW % 4 == 0;
  launch(kernelsOperand(p, kernels), im2colOperand(p, features), epi, static_cast<int>(p.N),
         static_cast<int>(HW), static_cast<int>(p.K()), precision, stream);
}

void dynamic_conv_masks(const DynamicConvPlan& p, const float* features, const float* kernels,
                        uint32_t* bits, int32_t* areas, float* softSums, int32_t* boxes,
                        double* softScratch, Precision precision, cudaStream_t stream) {
  const int N = static_cast<int>(p.N);
  if (N == 0) return;
  const int64_t HW = p.pixels();
  if (HW > 0) SOTR_CUDA_CHECK(cudaMemsetAsync(bits, 0, sizeof(uint32_t) * N * p.H * 2 * p.wpr, stream));
  const unsigned blocks = static_cast<unsigned>((N + 255) / 256);
  masks_init_kernel<<<blocks, 256, 0, stream>>>(N, areas, softScratch, boxes);
  SOTR_CUDA_CHECK_LAUNCH();
  if (HW > 0) {
    MaskEpilogue epi;
    epi.bits = bits;
    epi.areas = areas;
    epi.soft = softScratch;
    epi.box = boxes;
    epi.P = static_cast<int>(HW);
    epi.W = static_cast<int>(p.W);
    epi.H = static_cast<int>(p.H);
    epi.wpr32 = static_cast<int>(2 * p.wpr);
    epi.thr = p.logitThr;
    if (p.K() == 0) {
      // No channels: every logit is 0, so every mask is empty or full.
      if (0.f > p.logitThr) {
        const int64_t words = static_cast<int64_t>(N) * p.H * 2 * p.wpr;
        masks_all_set_kernel<<<static_cast<unsigned>((words + 255) / 256), 256, 0, stream>>>(
            words, static_cast<int>(2 * p.wpr), static_cast<int>(p.W), static_cast<int>(p.H), N, bits, areas,
            softScratch, boxes);
        SOTR_CUDA_CHECK_LAUNCH();
      }
    } else if (p.k == 1) {
      launch(kernelsOperand(p, kernels), featuresOperand(p, features), epi, N, static_cast<int>(HW),
             static_cast<int>(p.K()), precision, stream);
    } else {
      launch(kernelsOperand(p, kernels), im2colOperand(p, features), epi, N, static_cast<int>(HW),
             static_cast<int>(p.K()), precision, stream);
    }
  }
  masks_finish_kernel<<<blocks, 256, 0, stream>>>(N, areas, softScratch, softSums, boxes);
  SOTR_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------
// Op registration.
// ---------------------------------------------------------------------------

static CudaRegistrar regConv("dynamic_conv", [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const DynamicConvPlan p = planDynamicConv(call, false);
  dynamic_conv(p, call.inputs[0].data<float>(), call.inputs[1].data<float>(), out[0].data<float>(),
               call.precision, static_cast<cudaStream_t>(ctx.stream));
});

static CudaRegistrar regMasks("dynamic_conv_masks", [](const OpCall& call, std::vector<Tensor>& out,
                                                       ExecContext& ctx) {
  const DynamicConvPlan p = planDynamicConv(call, true);
  if (p.N == 0) return;
  // Scratch for the soft sums (double atomics). Freed to the device's caching
  // allocator when this returns: later work on the same stream is ordered after.
  std::shared_ptr<Storage> scratch = ctx.backend->allocate(sizeof(double) * p.N);
  dynamic_conv_masks(p, call.inputs[0].data<float>(), call.inputs[1].data<float>(),
                     reinterpret_cast<uint32_t*>(out[0].raw()), out[1].data<int32_t>(), out[2].data<float>(),
                     out[3].data<int32_t>(), static_cast<double*>(scratch->ptr), call.precision,
                     static_cast<cudaStream_t>(ctx.stream));
});

}  // namespace cuda
}  // namespace sotr
