// CUDA side of matrix_nms (see matrix_nms.cuh for the design).
#include "cuda/matrix_nms.cuh"

#include <climits>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#include "runtime/backend.h"

namespace sotr {
namespace cuda {

namespace {

constexpr int kTile = 64;    // masks per tile side
constexpr int kKw = 32;      // 32-bit words per shared-memory chunk
constexpr int kThreads = 256;  // popcount path: 16 x 16 threads, 4 x 4 pairs each
// What 'auto' picks on sm_80+ (from the measurements in docs/masks.md).
constexpr MatrixNmsPlan::Algorithm kAuto = MatrixNmsPlan::Algorithm::Bmma;

__global__ void pack_kernel(const uint8_t* __restrict__ src, int64_t rows, int W, int wpr32, uint32_t* dst) {
  const int64_t gw = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (gw >= rows * wpr32) return;  // uniform per warp
  const int64_t r = gw / wpr32;
  const int x = static_cast<int>(gw - r * wpr32) * 32 + lane;
  const bool v = x < W && src[r * W + x] != 0;
  const uint32_t word = __ballot_sync(0xffffffffu, v);
  if (lane == 0) dst[gw] = word;
}

__global__ void stats_kernel(const uint32_t* __restrict__ bits, int H, int wpr32, int32_t* areas, int32_t* boxes) {
  __shared__ int s[5];
  if (threadIdx.x == 0) {
    s[0] = 0;
    s[1] = INT_MAX;
    s[2] = INT_MAX;
    s[3] = -1;
    s[4] = -1;
  }
  __syncthreads();
  const int m = blockIdx.x;
  const int64_t words = static_cast<int64_t>(H) * wpr32;
  const uint32_t* p = bits + m * words;
  int cnt = 0, xmin = INT_MAX, ymin = INT_MAX, xmax = -1, ymax = -1;
  for (int64_t i = threadIdx.x; i < words; i += blockDim.x) {
    const uint32_t v = p[i];
    if (!v) continue;
    const int y = static_cast<int>(i / wpr32), w = static_cast<int>(i - static_cast<int64_t>(y) * wpr32);
    cnt += __popc(v);
    xmin = min(xmin, 32 * w + __ffs(v) - 1);
    xmax = max(xmax, 32 * w + 31 - __clz(v));
    ymin = min(ymin, y);
    ymax = max(ymax, y);
  }
  if (cnt) {
    atomicAdd(&s[0], cnt);
    atomicMin(&s[1], xmin);
    atomicMin(&s[2], ymin);
    atomicMax(&s[3], xmax);
    atomicMax(&s[4], ymax);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    areas[m] = s[0];
    int32_t* b = boxes + 4 * m;
    if (s[0] == 0) {
      b[0] = b[1] = b[2] = b[3] = 0;
    } else {
      b[0] = s[1];
      b[1] = s[2];
      b[2] = s[3] + 1;
      b[3] = s[4] + 1;
    }
  }
}

// Decodes this block's upper-triangle tile (ti <= tj) and finds the rows
// [ys, ye) of its split that any pair i < j of one class with overlapping
// boxes needs (ys >= ye: nothing to do). Every thread calls it.
__device__ __forceinline__ void tile_setup(int n, int H, const int32_t* __restrict__ labels,
                                           const int32_t* __restrict__ boxes, int tilesPerSide, int rowsPerSplit,
                                           int* sRows, int& i0, int& j0, int& ys, int& ye) {
  int t = blockIdx.x, ti = 0;
  while (t >= tilesPerSide - ti) {
    t -= tilesPerSide - ti;
    ++ti;
  }
  i0 = ti * kTile;
  j0 = (ti + t) * kTile;
  const int split0 = blockIdx.y * rowsPerSplit, split1 = min(H, split0 + rowsPerSplit);
  if (threadIdx.x == 0) {
    sRows[0] = INT_MAX;
    sRows[1] = INT_MIN;
  }
  __syncthreads();
  int lo = INT_MAX, hi = INT_MIN;
  for (int q = threadIdx.x; q < kTile * kTile; q += blockDim.x) {
    const int i = i0 + (q >> 6), j = j0 + (q & 63);
    if (!(i < j && j < n) || labels[i] != labels[j]) continue;
    const int4 bi = reinterpret_cast<const int4*>(boxes)[i];
    const int4 bj = reinterpret_cast<const int4*>(boxes)[j];
    const int y0 = max(max(bi.y, bj.y), split0), y1 = min(min(bi.w, bj.w), split1);
    if (max(bi.x, bj.x) >= min(bi.z, bj.z) || y0 >= y1) continue;
    lo = min(lo, y0);
    hi = max(hi, y1);
  }
  if (lo < hi) {
    atomicMin(&sRows[0], lo);
    atomicMax(&sRows[1], hi);
  }
  __syncthreads();
  ys = sRows[0];
  ye = sRows[1];
}

// Loads words [k0, k0 + kKw) (clipped at ke) of masks i0.. and j0.. into
// sA / sB [kw][mask]; 0 outside.
__device__ __forceinline__ void load_chunk(const uint32_t* __restrict__ bits, int n, int64_t Kw, int i0, int j0,
                                           int k0, int ke, uint32_t (*sA)[kTile + 1], uint32_t (*sB)[kTile + 1]) {
  for (int idx = threadIdx.x; idx < kTile * kKw; idx += blockDim.x) {
    const int r = idx >> 5, kw = idx & 31, kk = k0 + kw;
    const int i = i0 + r, j = j0 + r;
    sA[kw][r] = (i < n && kk < ke) ? __ldg(bits + i * Kw + kk) : 0u;
    sB[kw][r] = (j < n && kk < ke) ? __ldg(bits + j * Kw + kk) : 0u;
  }
}

// Adds a partial count of pair (i, j) when it is one the decay needs.
__device__ __forceinline__ void add_count(int n, int i, int j, int c, const int32_t* __restrict__ labels,
                                          int32_t* interT) {
  if (c && i < j && j < n && labels[i] == labels[j]) atomicAdd(interT + static_cast<int64_t>(j) * n + i, c);
}

// add_count for a warp's 32 x 32 tile of mma.sync accumulators (m16n8 fragments,
// g = lane / 4, t = lane % 4), rows from i0, columns from j0.
__device__ __forceinline__ void add_warp_tile_counts(int n, int i0, int j0, int g, int t, const int (&acc)[2][4][4],
                                                     const int32_t* __restrict__ labels, int32_t* interT) {
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int i = i0 + 16 * mi + g, j = j0 + 8 * ni + 2 * t;
      add_count(n, i, j, acc[mi][ni][0], labels, interT);
      add_count(n, i, j + 1, acc[mi][ni][1], labels, interT);
      add_count(n, i + 8, j, acc[mi][ni][2], labels, interT);
      add_count(n, i + 8, j + 1, acc[mi][ni][3], labels, interT);
    }
}

// Popcount path: 16 x 16 threads, 4 x 4 pairs each, AND + __popc per word.
__global__ void __launch_bounds__(kThreads)
    inter_popc_kernel(const uint32_t* __restrict__ bits, int n, int H, int wpr32, const int32_t* __restrict__ labels,
                      const int32_t* __restrict__ boxes, int tilesPerSide, int rowsPerSplit, int32_t* interT) {
  __shared__ uint32_t sA[kKw][kTile + 1];
  __shared__ uint32_t sB[kKw][kTile + 1];
  __shared__ int sRows[2];
  int i0, j0, ys, ye;
  tile_setup(n, H, labels, boxes, tilesPerSide, rowsPerSplit, sRows, i0, j0, ys, ye);
  if (ys >= ye) return;  // block-uniform
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const int64_t Kw = static_cast<int64_t>(H) * wpr32;
  const int kb = ys * wpr32, ke = ye * wpr32;
  int acc[4][4] = {};
#pragma unroll 1
  for (int k0 = kb; k0 < ke; k0 += kKw) {
    load_chunk(bits, n, Kw, i0, j0, k0, ke, sA, sB);
    __syncthreads();
#pragma unroll 8
    for (int kw = 0; kw < kKw; ++kw) {
      uint32_t a[4], b[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        a[q] = sA[kw][ty + 16 * q];
        b[q] = sB[kw][tx + 16 * q];
      }
#pragma unroll
      for (int x = 0; x < 4; ++x)
#pragma unroll
        for (int y = 0; y < 4; ++y) acc[x][y] += __popc(a[x] & b[y]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int a = 0; a < 4; ++a)
#pragma unroll
    for (int b = 0; b < 4; ++b) add_count(n, i0 + ty + 16 * a, j0 + tx + 16 * b, acc[a][b], labels, interT);
}

// 4 bits -> 4 bytes (0 or 1), bit q to byte q.
__device__ __forceinline__ uint32_t expand_nibble(uint32_t w, int shift) {
  return (((w >> shift) & 0xFu) * 0x00204081u) & 0x01010101u;
}

// Tensor-core path: the words expanded to bytes in registers and fed to
// mma.sync m16n8k32 u8 x u8 -> s32 (0/1 products: exact counts). Bit q of a
// word is mma-k q for both operands. 4 warps, 32 x 32 pairs each.
__global__ void __launch_bounds__(128)
    inter_mma_kernel(const uint32_t* __restrict__ bits, int n, int H, int wpr32, const int32_t* __restrict__ labels,
                     const int32_t* __restrict__ boxes, int tilesPerSide, int rowsPerSplit, int32_t* interT) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  __shared__ uint32_t sA[kKw][kTile + 1];
  __shared__ uint32_t sB[kKw][kTile + 1];
  __shared__ int sRows[2];
  int i0, j0, ys, ye;
  tile_setup(n, H, labels, boxes, tilesPerSide, rowsPerSplit, sRows, i0, j0, ys, ye);
  if (ys >= ye) return;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wm0 = (warp & 1) * 32, wn0 = (warp >> 1) * 32;
  const int64_t Kw = static_cast<int64_t>(H) * wpr32;
  const int kb = ys * wpr32, ke = ye * wpr32;
  int acc[2][4][4] = {};
#pragma unroll 1
  for (int k0 = kb; k0 < ke; k0 += kKw) {
    load_chunk(bits, n, Kw, i0, j0, k0, ke, sA, sB);
    __syncthreads();
    const int kwEnd = min(kKw, ke - k0);
#pragma unroll 2
    for (int kw = 0; kw < kwEnd; ++kw) {
      uint32_t a[2][4], b[4][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        const uint32_t w0 = sA[kw][wm0 + 16 * mi + g], w1 = sA[kw][wm0 + 16 * mi + g + 8];
        a[mi][0] = expand_nibble(w0, 4 * t);
        a[mi][1] = expand_nibble(w1, 4 * t);
        a[mi][2] = expand_nibble(w0, 16 + 4 * t);
        a[mi][3] = expand_nibble(w1, 16 + 4 * t);
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const uint32_t w = sB[kw][wn0 + 8 * ni + g];
        b[ni][0] = expand_nibble(w, 4 * t);
        b[ni][1] = expand_nibble(w, 16 + 4 * t);
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
          asm volatile(
              "mma.sync.aligned.m16n8k32.row.col.s32.u8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
              "{%0,%1,%2,%3};\n"
              : "+r"(acc[mi][ni][0]), "+r"(acc[mi][ni][1]), "+r"(acc[mi][ni][2]), "+r"(acc[mi][ni][3])
              : "r"(a[mi][0]), "r"(a[mi][1]), "r"(a[mi][2]), "r"(a[mi][3]), "r"(b[ni][0]), "r"(b[ni][1]));
    }
    __syncthreads();
  }
  add_warp_tile_counts(n, i0 + wm0, j0 + wn0, g, t, acc, labels, interT);
#else
  __trap();  // needs sm_80+ code; the host never launches it then
#endif
}

// Binary tensor-core path: mma.sync m16n8k256 b1 with .and.popc, i.e. the
// AND + popcount of 256-bit slices done by the tensor cores on the packed
// words themselves (no expansion). Word w of a 256-bit step is mma-k 32w..+31
// for both operands. 4 warps, 32 x 32 pairs each; masks row-major in shared
// memory with a pitch of 36 words (fragment reads conflict free).
constexpr int kBPitch = kKw + 4;
__global__ void __launch_bounds__(128)
    inter_bmma_kernel(const uint32_t* __restrict__ bits, int n, int H, int wpr32, const int32_t* __restrict__ labels,
                      const int32_t* __restrict__ boxes, int tilesPerSide, int rowsPerSplit, int32_t* interT) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  __shared__ uint32_t sA[kTile][kBPitch];
  __shared__ uint32_t sB[kTile][kBPitch];
  __shared__ int sRows[2];
  int i0, j0, ys, ye;
  tile_setup(n, H, labels, boxes, tilesPerSide, rowsPerSplit, sRows, i0, j0, ys, ye);
  if (ys >= ye) return;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wm0 = (warp & 1) * 32, wn0 = (warp >> 1) * 32;
  const int64_t Kw = static_cast<int64_t>(H) * wpr32;
  const int kb = ys * wpr32, ke = ye * wpr32;
  int acc[2][4][4] = {};
#pragma unroll 1
  for (int k0 = kb; k0 < ke; k0 += kKw) {
    for (int idx = threadIdx.x; idx < kTile * kKw; idx += blockDim.x) {
      const int r = idx >> 5, kw = idx & 31, kk = k0 + kw;
      const int i = i0 + r, j = j0 + r;
      sA[r][kw] = (i < n && kk < ke) ? __ldg(bits + i * Kw + kk) : 0u;
      sB[r][kw] = (j < n && kk < ke) ? __ldg(bits + j * Kw + kk) : 0u;
    }
    __syncthreads();
    const int steps = (min(kKw, ke - k0) + 7) >> 3;
#pragma unroll 1
    for (int st = 0; st < steps; ++st) {
      const int w0 = 8 * st + t, w1 = 8 * st + 4 + t;
      uint32_t a[2][4], b[4][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        const int r = wm0 + 16 * mi + g;
        a[mi][0] = sA[r][w0];
        a[mi][1] = sA[r + 8][w0];
        a[mi][2] = sA[r][w1];
        a[mi][3] = sA[r + 8][w1];
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int c = wn0 + 8 * ni + g;
        b[ni][0] = sB[c][w0];
        b[ni][1] = sB[c][w1];
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
          asm volatile(
              "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
              "{%8,%9}, {%0,%1,%2,%3};\n"
              : "+r"(acc[mi][ni][0]), "+r"(acc[mi][ni][1]), "+r"(acc[mi][ni][2]), "+r"(acc[mi][ni][3])
              : "r"(a[mi][0]), "r"(a[mi][1]), "r"(a[mi][2]), "r"(a[mi][3]), "r"(b[ni][0]), "r"(b[ni][1]));
    }
    __syncthreads();
  }
  add_warp_tile_counts(n, i0 + wm0, j0 + wn0, g, t, acc, labels, interT);
#else
  __trap();
#endif
}

// IoU exactly as the CPU twin rounds it: float32 counts, one division.
__device__ __forceinline__ float pair_iou(int c, int ai, int aj) {
  const int u = ai + aj - c;
  return u > 0 ? __fdiv_rn(static_cast<float>(c), static_cast<float>(u)) : 0.f;
}

__global__ void comp_kernel(int n, const int32_t* __restrict__ interT, const int32_t* __restrict__ areas,
                            const int32_t* __restrict__ labels, float* comp) {
  const int j = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
  if (j >= n) return;  // uniform per warp
  const int lj = labels[j], aj = areas[j];
  const int32_t* col = interT + static_cast<int64_t>(j) * n;
  float m = 0.f;
  for (int i = lane; i < j; i += 32)
    if (labels[i] == lj) m = fmaxf(m, pair_iou(col[i], areas[i], aj));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (lane == 0) comp[j] = m;
}

__global__ void decay_kernel(int n, const int32_t* __restrict__ interT, const int32_t* __restrict__ areas,
                             const int32_t* __restrict__ labels, const float* __restrict__ comp,
                             const float* __restrict__ scores, bool gaussian, float sigma, float* out) {
  const int j = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
  if (j >= n) return;
  const int lj = labels[j], aj = areas[j];
  const int32_t* col = interT + static_cast<int64_t>(j) * n;
  float m = gaussian ? 0.f : 1.f;
  for (int i = lane; i < j; i += 32) {
    if (labels[i] != lj) continue;
    const float v = pair_iou(col[i], areas[i], aj), c = comp[i];
    if (gaussian) {
      m = fminf(m, __fsub_rn(__fmul_rn(c, c), __fmul_rn(v, v)));
    } else if (c < 1.f) {
      m = fminf(m, __fdiv_rn(__fsub_rn(1.f, v), __fsub_rn(1.f, c)));
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) m = fminf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (lane == 0) {
    const float decay = gaussian ? (m < 0.f ? expf(__fmul_rn(sigma, m)) : 1.f) : m;
    out[j] = __fmul_rn(scores[j], decay);
  }
}

__global__ void transpose_kernel(int n, const int32_t* __restrict__ interT, int32_t* inter) {
  __shared__ int32_t tile[32][33];
  const int bx = blockIdx.x * 32, by = blockIdx.y * 32;
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int j = by + r, i = bx + threadIdx.x;
    if (i < n && j < n) tile[r][threadIdx.x] = interT[static_cast<int64_t>(j) * n + i];
  }
  __syncthreads();
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int i = bx + r, j = by + threadIdx.x;
    if (i < n && j < n) inter[static_cast<int64_t>(i) * n + j] = tile[threadIdx.x][r];
  }
}

// The tensor-core paths need sm_80+ device code (as the GEMM core's).
MatrixNmsPlan::Algorithm pick_algorithm(MatrixNmsPlan::Algorithm a) {
  if (a == MatrixNmsPlan::Algorithm::Popcount) return a;
  int dev = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  if (!gemm_device_info(dev).tensorCores) return MatrixNmsPlan::Algorithm::Popcount;
  return a == MatrixNmsPlan::Algorithm::Auto ? kAuto : a;
}

int sm_count() {
  int dev = 0, sms = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  SOTR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  return sms;
}

}  // namespace

void matrix_nms(const MatrixNmsPlan& p, const MatrixNmsBuffers& b, cudaStream_t stream) {
  const int n = static_cast<int>(p.n);
  if (n == 0) return;
  const int H = static_cast<int>(p.height), W = static_cast<int>(p.width), wpr32 = static_cast<int>(2 * p.wpr);
  const uint32_t* bits = b.bits;
  if (b.dense) {
    const int64_t words = static_cast<int64_t>(n) * H * wpr32;
    if (words > 0) {
      pack_kernel<<<static_cast<unsigned>((words * 32 + 255) / 256), 256, 0, stream>>>(
          b.dense, static_cast<int64_t>(n) * H, W, wpr32, b.packed);
      SOTR_CUDA_CHECK_LAUNCH();
    }
    bits = b.packed;
  }
  const int32_t* areas = b.areas;
  const int32_t* boxes = b.boxes;
  if (!areas) {
    stats_kernel<<<n, 256, 0, stream>>>(bits, H, wpr32, b.areaScratch, b.boxScratch);
    SOTR_CUDA_CHECK_LAUNCH();
    areas = b.areaScratch;
    boxes = b.boxScratch;
  }
  SOTR_CUDA_CHECK(cudaMemsetAsync(b.interT, 0, sizeof(int32_t) * static_cast<size_t>(n) * n, stream));
  const int tiles = ceil_div(n, kTile);
  const int tilePairs = tiles * (tiles + 1) / 2;
  if (H > 0 && wpr32 > 0) {
    // Splits along the rows so that about 4 blocks per SM are in flight.
    const int want = ceil_div(4 * sm_count(), tilePairs);
    const int splits = max(1, min(min(want, H), 65535));
    const int rowsPerSplit = ceil_div(H, splits);
    dim3 grid(static_cast<unsigned>(tilePairs), static_cast<unsigned>(ceil_div(H, rowsPerSplit)));
    const MatrixNmsPlan::Algorithm algo = pick_algorithm(p.algorithm);
    if (algo == MatrixNmsPlan::Algorithm::Mma)
      inter_mma_kernel<<<grid, 128, 0, stream>>>(bits, n, H, wpr32, b.labels, boxes, tiles, rowsPerSplit, b.interT);
    else if (algo == MatrixNmsPlan::Algorithm::Bmma)
      inter_bmma_kernel<<<grid, 128, 0, stream>>>(bits, n, H, wpr32, b.labels, boxes, tiles, rowsPerSplit, b.interT);
    else
      inter_popc_kernel<<<grid, kThreads, 0, stream>>>(bits, n, H, wpr32, b.labels, boxes, tiles, rowsPerSplit,
                                                       b.interT);
    SOTR_CUDA_CHECK_LAUNCH();
  }
  const unsigned warpsBlocks = static_cast<unsigned>(ceil_div(n * 32, 256));
  comp_kernel<<<warpsBlocks, 256, 0, stream>>>(n, b.interT, areas, b.labels, b.comp);
  SOTR_CUDA_CHECK_LAUNCH();
  decay_kernel<<<warpsBlocks, 256, 0, stream>>>(n, b.interT, areas, b.labels, b.comp, b.scores, p.gaussian, p.sigma,
                                                b.decayed);
  SOTR_CUDA_CHECK_LAUNCH();
  if (b.inter) {
    dim3 grid(static_cast<unsigned>(ceil_div(n, 32)), static_cast<unsigned>(ceil_div(n, 32)));
    transpose_kernel<<<grid, dim3(32, 8), 0, stream>>>(n, b.interT, b.inter);
    SOTR_CUDA_CHECK_LAUNCH();
  }
}

static CudaRegistrar reg("matrix_nms", [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const MatrixNmsPlan p = planMatrixNms(call);
  const int64_t n = p.n;
  if (n == 0) return;
  const int64_t words = n * p.height * 2 * p.wpr;
  // One scratch allocation: packed bits, areas, boxes, transposed counts, comp.
  auto align = [](int64_t v) { return (v + 255) / 256 * 256; };
  const int64_t oPacked = 0;
  const int64_t oAreas = oPacked + align(p.dense ? 4 * words : 0);
  // The tiles read boxes as int4: given boxes that are a view at an offset not
  // a multiple of 16 bytes are copied to the (aligned) scratch first.
  const bool boxesAligned = !p.hasStats || reinterpret_cast<uintptr_t>(call.inputs[4].raw()) % 16 == 0;
  const int64_t oBoxes = oAreas + align(p.hasStats ? 0 : 4 * n);
  const int64_t oInter = oBoxes + align(p.hasStats && boxesAligned ? 0 : 16 * n);
  const int64_t oComp = oInter + align(4 * n * n);
  const int64_t total = oComp + align(4 * n);
  std::shared_ptr<Storage> scratch = ctx.backend->allocate(static_cast<size_t>(total));
  char* base = static_cast<char*>(scratch->ptr);
  MatrixNmsBuffers b;
  if (p.dense) {
    b.dense = call.inputs[0].data<uint8_t>();
    b.packed = reinterpret_cast<uint32_t*>(base + oPacked);
  } else {
    b.bits = reinterpret_cast<const uint32_t*>(call.inputs[0].raw());
  }
  b.labels = call.inputs[1].data<int32_t>();
  b.scores = call.inputs[2].data<float>();
  if (p.hasStats) {
    b.areas = call.inputs[3].data<int32_t>();
    b.boxes = call.inputs[4].data<int32_t>();
    if (!boxesAligned) {
      b.boxScratch = reinterpret_cast<int32_t*>(base + oBoxes);
      SOTR_CUDA_CHECK(cudaMemcpyAsync(b.boxScratch, b.boxes, static_cast<size_t>(16 * n), cudaMemcpyDeviceToDevice,
                                      static_cast<cudaStream_t>(ctx.stream)));
      b.boxes = b.boxScratch;
    }
  } else {
    b.areaScratch = reinterpret_cast<int32_t*>(base + oAreas);
    b.boxScratch = reinterpret_cast<int32_t*>(base + oBoxes);
  }
  b.interT = reinterpret_cast<int32_t*>(base + oInter);
  b.comp = reinterpret_cast<float*>(base + oComp);
  b.decayed = out[0].data<float>();
  if (p.intersections) b.inter = out[1].data<int32_t>();
  matrix_nms(p, b, static_cast<cudaStream_t>(ctx.stream));
});

}  // namespace cuda
}  // namespace sotr
