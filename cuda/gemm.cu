// sotr::cuda::gemm: argument checks, device info and the dispatch of the
// GEMM core kernels (cuda/gemm.cuh) over operand layouts, precision and tile.
#include "gemm.cuh"

#include <algorithm>
#include <climits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace sotr {
namespace cuda {

using gemm_core::GemmEpilogueOp;
using gemm_core::StridedOperand;

namespace {

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("sotr::cuda::gemm: " + what);
}

// Probe kernel used to learn whether this build carries sm_80+ device code.
template <int>
__global__ void gemm_arch_probe_kernel() {}

std::mutex g_infoMutex;
std::vector<GemmDeviceInfo*> g_info;  // leaked on purpose (process lifetime)

template <bool AKC, bool BKC>
void dispatch_layouts(const StridedOperand<AKC>& a, const StridedOperand<BKC>& b,
                      const GemmEpilogueOp& epi, int M, int N, int K, int batch, Precision p,
                      GemmTile tile, cudaStream_t stream) {
  gemm_core::launch_gemm(a, b, epi, M, N, K, batch, p, tile, stream);
}

}  // namespace

const GemmDeviceInfo& gemm_device_info(int device) {
  std::lock_guard<std::mutex> lock(g_infoMutex);
  if (device < 0) bad("negative device ordinal");
  if (static_cast<size_t>(device) >= g_info.size()) g_info.resize(device + 1, nullptr);
  if (!g_info[device]) {
    GemmDeviceInfo info;
    SOTR_CUDA_CHECK(cudaDeviceGetAttribute(&info.major, cudaDevAttrComputeCapabilityMajor, device));
    SOTR_CUDA_CHECK(cudaDeviceGetAttribute(&info.minor, cudaDevAttrComputeCapabilityMinor, device));
    SOTR_CUDA_CHECK(cudaDeviceGetAttribute(&info.smCount, cudaDevAttrMultiProcessorCount, device));
    SOTR_CUDA_CHECK(cudaDeviceGetAttribute(&info.maxSmemOptin,
                                           cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    info.tensorCores = false;
    if (info.major >= 8) {
      // The device code that runs must have been compiled for sm_80+ (a build
      // carrying only compute_75 PTX would JIT kernels without mma.sync).
      int cur = 0;
      SOTR_CUDA_CHECK(cudaGetDevice(&cur));
      if (cur != device) SOTR_CUDA_CHECK(cudaSetDevice(device));
      cudaFuncAttributes attr{};
      const cudaError_t e = cudaFuncGetAttributes(&attr, gemm_arch_probe_kernel<0>);
      if (cur != device) SOTR_CUDA_CHECK(cudaSetDevice(cur));
      SOTR_CUDA_CHECK(e);
      info.tensorCores = attr.ptxVersion >= 80 || attr.binaryVersion >= 80;
      if (attr.ptxVersion > 0 && attr.ptxVersion < 80) info.tensorCores = false;
    }
    g_info[device] = new GemmDeviceInfo(info);
  }
  return *g_info[device];
}

namespace {
struct SplitKBuffer {
  int device = -1;
  cudaStream_t stream = nullptr;
  float* ptr = nullptr;
  int64_t floats = 0;
};
std::mutex g_splitMutex;
std::vector<SplitKBuffer> g_split;  // leaked on purpose (kernels may run during exit)
}  // namespace

float* split_k_workspace(int64_t floats, cudaStream_t stream) {
  int dev = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(g_splitMutex);
  SplitKBuffer* buf = nullptr;
  for (auto& b : g_split)
    if (b.device == dev && b.stream == stream) buf = &b;
  if (!buf) {
    g_split.push_back(SplitKBuffer{dev, stream, nullptr, 0});
    buf = &g_split.back();
  }
  if (buf->floats < floats) {
    // Kernels queued on this stream may still read the old buffer.
    if (buf->ptr) {
      SOTR_CUDA_CHECK(cudaStreamSynchronize(stream));
      SOTR_CUDA_CHECK(cudaFree(buf->ptr));
      buf->ptr = nullptr;
      buf->floats = 0;
    }
    // Grow in steps so a slowly rising size does not reallocate every call.
    const int64_t want = std::max<int64_t>(floats, std::min<int64_t>(2 * floats, kSplitKWorkspaceFloats));
    void* p = nullptr;
    SOTR_CUDA_CHECK(cudaMalloc(&p, static_cast<size_t>(want) * sizeof(float)));
    buf->ptr = static_cast<float*>(p);
    buf->floats = want;
  }
  return buf->ptr;
}

void validate_gemm_args(const GemmArgs& a) {
  if (a.M < 0 || a.N < 0 || a.K < 0) bad("M, N, K must be >= 0");
  if (a.M > INT_MAX || a.N > INT_MAX || a.K > INT_MAX) bad("M, N, K must fit in int32");
  if (a.batch < 0 || a.batch > INT_MAX) bad("batch must be in [0, 2^31)");
  if (a.M == 0 || a.N == 0 || a.batch == 0) return;
  if (!a.C) bad("C is null");
  if (a.ldc < a.N) bad("ldc < N");
  if (a.strideA < 0 || a.strideB < 0 || a.strideC < 0) bad("negative batch stride");
  if (a.batch > 1 && a.strideC == 0) bad("strideC == 0 with batch > 1 (outputs would overlap)");
  if (a.K > 0) {
    if (!a.A || !a.B) bad("A or B is null");
    if (a.lda < (a.transA ? a.M : a.K)) bad(a.transA ? "lda < M (transA)" : "lda < K");
    if (a.ldb < (a.transB ? a.K : a.N)) bad(a.transB ? "ldb < K (transB)" : "ldb < N");
  }
  const GemmEpilogue& e = a.ep;
  if (e.channelAxis != 0 && e.channelAxis != 1) bad("channelAxis must be 0 or 1");
  if (static_cast<int>(e.act) < 0 || static_cast<int>(e.act) > 3) bad("unknown activation");
  if (e.residual) {
    if (e.ldr < a.N) bad("ldr < N");
    if (e.strideR < 0) bad("negative strideR");
  }
}

void gemm(const GemmArgs& args, Precision p, cudaStream_t stream) {
  gemm(args, p, stream, GemmTile::Auto);
}

void gemm(const GemmArgs& args, Precision p, cudaStream_t stream, GemmTile tile) {
  validate_gemm_args(args);
  const int pi = static_cast<int>(p);
  if (pi < 0 || pi > 3) bad("unknown precision");
  const int ti = static_cast<int>(tile);
  if (ti < 0 || ti > 2) bad("unknown tile");
  if (args.M == 0 || args.N == 0 || args.batch == 0) return;

  const int M = static_cast<int>(args.M), N = static_cast<int>(args.N),
            K = static_cast<int>(args.K), batch = static_cast<int>(args.batch);

  auto vec16 = [&](const float* ptr, int64_t ld, int64_t stride) {
    return is_aligned(ptr, 16) && (ld % 4) == 0 && (batch == 1 || (stride % 4) == 0);
  };

  GemmEpilogueOp epi;
  epi.C = args.C;
  epi.ldc = args.ldc;
  epi.strideC = args.strideC;
  epi.bias = args.ep.bias;
  epi.scale = args.ep.scale;
  epi.shift = args.ep.shift;
  epi.channelAxis = args.ep.channelAxis;
  epi.alpha = args.ep.alpha;
  epi.residual = args.ep.residual;
  epi.ldr = args.ep.ldr;
  epi.strideR = args.ep.strideR;
  epi.beta = args.ep.beta;
  epi.act = static_cast<int>(args.ep.act);
  epi.slope = args.ep.slope;
  epi.vecC = is_aligned(args.C, 16) && (args.ldc % 4) == 0 && (batch == 1 || args.strideC % 4 == 0);
  epi.vecR = args.ep.residual && is_aligned(args.ep.residual, 16) && (args.ep.ldr % 4) == 0 &&
             (batch == 1 || args.ep.strideR % 4 == 0);

  // A as X[m][k]: k contiguous unless transA. B as X[n][k]: k contiguous iff transB.
  const bool aKC = !args.transA, bKC = args.transB;
  auto fill = [&](auto& op, const float* ptr, int64_t ld, int64_t stride, int rows) {
    op.ptr = ptr;
    op.ld = ld;
    op.batchStride = stride;
    op.rows = rows;
    op.depth = K;
    op.vec16 = ptr && vec16(ptr, ld, stride);
  };
  // f(std::true_type / std::false_type): the layout as a compile-time flag.
  auto withLayout = [](bool kc, auto&& f) {
    if (kc) f(std::true_type{});
    else f(std::false_type{});
  };
  withLayout(aKC, [&](auto aFlag) {
    withLayout(bKC, [&](auto bFlag) {
      StridedOperand<decltype(aFlag)::value> a;
      StridedOperand<decltype(bFlag)::value> b;
      fill(a, args.A, args.lda, args.strideA, M);
      fill(b, args.B, args.ldb, args.strideB, N);
      dispatch_layouts(a, b, epi, M, N, K, batch, p, tile, stream);
    });
  });
}

}  // namespace cuda
}  // namespace sotr
